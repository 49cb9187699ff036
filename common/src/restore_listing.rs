//! Restore status by listing: ListObjectsV2 with `OptionalObjectAttributes=RestoreStatus` tells,
//! for up to 1,000 objects a page, whether each one's restore is still in progress and when its
//! restored copy expires. Given waiting keys in S3's key order, [`look`] reads only the pages that
//! hold them: each request starts just before the first key no page has covered yet, so runs of
//! keys that are not waiting are skipped, never paged through.
//!
//! A listing shows the current version only, and says nothing an object's copy needs (its
//! encryption, metadata, checksums): it only tells which keys are still being restored. Every
//! other key is looked at with HeadObject before anything is done with it.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_s3::types::{OptionalObjectAttributes, RequestPayer};

use crate::aws::AwsError;

/// Objects a ListObjectsV2 page holds at most.
pub const PAGE_KEYS: u64 = 1000;

/// What a LIST request costs in HEAD requests: $0.005 against $0.0004 per 1,000 (S3 Standard,
/// us-east-1; the ratio is the same in every Region).
pub const LIST_PRICE_IN_HEADS: f64 = 12.5;

/// What a listing says about one object's restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// `IsRestoreInProgress` true: still being restored (`deep`: a DEEP_ARCHIVE object, slower).
    InProgress {
        /// Listed in class DEEP_ARCHIVE.
        deep: bool,
    },
    /// Restored; its copy expires then (epoch seconds) when the listing says.
    Restored {
        /// `RestoreExpiryDate`.
        expires_at: Option<i64>,
    },
    /// No restore status: not archived, its restore never asked or expired.
    NoRestore,
    /// Not in the listing: deleted, or beyond what the lot's order let the pages cover.
    Absent,
}

impl Listed {
    /// The state of a listed object of `class` from its `RestoreStatus`.
    pub fn of(class: Option<&str>, in_progress: Option<bool>, expires_at: Option<i64>) -> Self {
        match (in_progress, expires_at) {
            (Some(true), _) => Self::InProgress {
                deep: class == Some("DEEP_ARCHIVE"),
            },
            (Some(false), e) | (None, e @ Some(_)) => Self::Restored { expires_at: e },
            (None, None) => Self::NoRestore,
        }
    }
}

/// Where a page that must show `key` starts (its `StartAfter`): `key` without its last
/// character sorts just before it, with few keys in between; `cursor` (where the previous page
/// ended, before `key`) when that is later. `None`: from the bucket's first key.
pub fn start_after(key: &str, cursor: Option<&str>) -> Option<String> {
    let mut chars = key.chars();
    chars.next_back();
    let before = chars.as_str();
    match cursor {
        Some(c) if c.as_bytes() > before.as_bytes() => Some(c.to_owned()),
        _ if before.is_empty() => None,
        _ => Some(before.to_owned()),
    }
}

/// How many of `keys` (sorted) a page ending at `last` (the last key it holds) covers:
/// every one when the page is the listing's last, else those up to `last`.
pub fn covered(keys: &[&str], last: Option<&str>, truncated: bool) -> usize {
    match (truncated, last) {
        (false, _) => keys.len(),
        (true, None) => 0,
        (true, Some(l)) => keys.partition_point(|k| k.as_bytes() <= l.as_bytes()),
    }
}

/// Whether looking at `waiting` keys that lie within `span` manifest positions (a sorted lot) by
/// listing costs no more than a HEAD each (in dollars: a LIST request is priced as 12.5 HEADs).
pub fn worth_listing(waiting: u64, span: u64) -> bool {
    let pages = span.div_ceil(PAGE_KEYS).max(1);
    waiting > 0 && pages as f64 * LIST_PRICE_IN_HEADS <= waiting as f64
}

/// What a listing of some keys saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// For each key asked (in the order asked), what the listing says.
    pub seen: Vec<Listed>,
    /// ListObjectsV2 requests made.
    pub pages: u64,
}

/// Looks at the restores of `keys` (sorted in S3's order, no duplicates) in `bucket` with
/// ListObjectsV2 pages; `before_page` runs before every request (pacing, counting). An error
/// ends the look: the caller looks at the keys another way.
pub async fn look<F, Fut>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    payer: Option<RequestPayer>,
    keys: &[&str],
    mut before_page: F,
) -> Result<Lookup, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut seen = Vec::with_capacity(keys.len());
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    while seen.len() < keys.len() {
        let rest = &keys[seen.len()..];
        before_page().await;
        pages += 1;
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_start_after(start_after(rest[0], cursor.as_deref()))
            .max_keys(PAGE_KEYS as i32)
            .optional_object_attributes(OptionalObjectAttributes::RestoreStatus)
            .set_request_payer(payer.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", &e))?;
        let page: HashMap<&str, Listed> = out
            .contents()
            .iter()
            .filter_map(|o| {
                let status = o.restore_status();
                let listed = Listed::of(
                    o.storage_class().map(|c| c.as_str()),
                    status.and_then(|s| s.is_restore_in_progress()),
                    status
                        .and_then(|s| s.restore_expiry_date())
                        .map(|d| d.secs()),
                );
                Some((o.key()?, listed))
            })
            .collect();
        let last = out.contents().last().and_then(|o| o.key());
        let truncated = out.is_truncated().unwrap_or(false);
        let n = covered(rest, last, truncated);
        seen.extend(
            rest[..n]
                .iter()
                .map(|k| page.get(k).copied().unwrap_or(Listed::Absent)),
        );
        cursor = last.map(str::to_owned);
    }
    Ok(Lookup { seen, pages })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_status_reads_as_s3_means_it() {
        assert_eq!(
            Listed::of(Some("GLACIER"), Some(true), None),
            Listed::InProgress { deep: false }
        );
        assert_eq!(
            Listed::of(Some("DEEP_ARCHIVE"), Some(true), None),
            Listed::InProgress { deep: true }
        );
        assert_eq!(
            Listed::of(Some("GLACIER"), Some(false), Some(7)),
            Listed::Restored {
                expires_at: Some(7)
            }
        );
        assert_eq!(
            Listed::of(None, None, Some(7)),
            Listed::Restored {
                expires_at: Some(7)
            }
        );
        assert_eq!(Listed::of(Some("STANDARD"), None, None), Listed::NoRestore);
    }

    #[test]
    fn a_page_starts_just_before_the_key_it_must_show() {
        assert_eq!(start_after("a/0500", None).as_deref(), Some("a/050"));
        assert_eq!(start_after("a", None), None);
        // a multi-byte last character is dropped whole
        assert_eq!(start_after("a/é", None).as_deref(), Some("a/"));
        // after a page that ended before the key: from where it ended
        assert_eq!(
            start_after("a/0500", Some("a/050-x")).as_deref(),
            Some("a/050-x")
        );
        assert_eq!(
            start_after("a/0500", Some("a/04")).as_deref(),
            Some("a/050")
        );
    }

    #[test]
    fn a_page_covers_the_keys_up_to_its_last() {
        let keys = ["a/1", "a/2", "a/3"];
        assert_eq!(covered(&keys, Some("a/2"), true), 2);
        assert_eq!(covered(&keys, Some("a/0"), true), 0);
        assert_eq!(covered(&keys, Some("a/25"), true), 2);
        assert_eq!(covered(&keys, Some("a/2"), false), 3);
        assert_eq!(covered(&keys, None, false), 3);
        assert_eq!(covered(&keys, None, true), 0);
    }

    #[test]
    fn listing_when_it_costs_no_more_than_the_heads() {
        // one page replaces 13 HEADs or more
        assert!(worth_listing(13, 13));
        assert!(!worth_listing(12, 12));
        // 5,000 waiting keys of a 5,000-key lot: 5 pages
        assert!(worth_listing(5000, 5000));
        // 20 waiting keys spread over 5,000 positions: 5 pages cost more than 20 HEADs
        assert!(!worth_listing(20, 5000));
        assert!(!worth_listing(0, 0));
    }
}
