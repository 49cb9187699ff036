//! Restore status by listing: ListObjectsV2 with `OptionalObjectAttributes=RestoreStatus` tells,
//! for up to 1,000 objects a page, whether each one's restore is still in progress and when its
//! restored copy expires. Given waiting keys in S3's key order, [`look`] reads only the pages that
//! hold them: each request starts just before the first key no page has covered yet, so runs of
//! keys that are not waiting are skipped, never paged through. A truncated page that holds no
//! key (S3 answers so while it scans past delete markers) is followed with its continuation
//! token, and a look reads at most [`page_budget`] pages: the keys it did not reach are
//! [`Listed::NotLooked`] (the worker HEADs them; `follow` leaves them out of its fraction).
//!
//! A listing shows the current version only, and says nothing an object's copy needs (its
//! encryption, metadata, checksums): it only tells which keys are still being restored. Every
//! other key is looked at with HeadObject before anything is done with it.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_s3::types::{EncodingType, OptionalObjectAttributes, RequestPayer};

use crate::aws::AwsError;

/// Objects a ListObjectsV2 page holds at most.
pub const PAGE_KEYS: u64 = 1000;

/// What a LIST request costs in HEAD requests: $0.005 against $0.0004 per 1,000 (S3 Standard,
/// us-east-1; the ratio is the same in every Region).
pub const LIST_PRICE_IN_HEADS: f64 = 12.5;

/// What a listing says about one object's restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// `IsRestoreInProgress` true: still being restored (`deep`: [`Archive::Deep`], slower).
    InProgress {
        /// Its archive is [`Archive::Deep`].
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
    /// Not reached: the look's page budget ran out first (or S3 gave no way on).
    NotLooked,
}

/// How long an archived object's restore takes: the class `spec::poll_delay` and the restore
/// bounds are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// GLACIER (Flexible Retrieval), or Intelligent-Tiering's Archive Access tier.
    Flexible,
    /// DEEP_ARCHIVE, or Intelligent-Tiering's Deep Archive Access tier: slower.
    Deep,
}

impl Archive {
    /// The archive of an object in `class`, whose `x-amz-archive-status` is `archive_status`
    /// when known. An INTELLIGENT_TIERING object whose tier is unknown (a listing does not
    /// show it) counts as Deep Archive Access: a restore is waited on at the slower pace
    /// rather than its copy expiring uncopied.
    pub fn of(class: Option<&str>, archive_status: Option<&str>) -> Self {
        match (class, archive_status) {
            (Some("DEEP_ARCHIVE"), _) => Self::Deep,
            (Some("INTELLIGENT_TIERING"), Some("ARCHIVE_ACCESS")) => Self::Flexible,
            (Some("INTELLIGENT_TIERING"), _) => Self::Deep,
            _ => Self::Flexible,
        }
    }

    /// Deep when `deep`.
    pub fn deep_if(deep: bool) -> Self {
        if deep {
            Self::Deep
        } else {
            Self::Flexible
        }
    }

    /// The class name `spec::poll_delay` takes.
    pub fn class(self) -> &'static str {
        match self {
            Self::Flexible => "GLACIER",
            Self::Deep => "DEEP_ARCHIVE",
        }
    }
}

impl Listed {
    /// The state of a listed object of `class` from its `RestoreStatus`.
    pub fn of(class: Option<&str>, in_progress: Option<bool>, expires_at: Option<i64>) -> Self {
        match (in_progress, expires_at) {
            (Some(true), _) => Self::InProgress {
                deep: Archive::of(class, None) == Archive::Deep,
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

/// Pages a look at `waiting` keys reads at most: as many as cost what a HEAD of each would
/// (a LIST is priced as 12.5 HEADs), at least one. Bounds a look whatever S3 answers (pages of
/// delete markers, a lot sparse in its bucket).
pub fn page_budget(waiting: usize) -> u64 {
    ((waiting as f64 / LIST_PRICE_IN_HEADS).ceil() as u64).max(1)
}

/// Where the next page of a look starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The last key a page held (the next page starts after it, or later).
    pub after: Option<String>,
    /// The continuation token of a truncated page that held no key: the next page follows it.
    pub token: Option<String>,
    /// S3 gave no way on (truncated, no key, no token): the look ends.
    pub stuck: bool,
}

impl Cursor {
    /// Moves past a page that held `last` as its last key (`truncated`, `token`: its
    /// `IsTruncated` and `NextContinuationToken`). An empty truncated page keeps where the
    /// listing was and follows its token, so the same page is never asked for again.
    pub fn advance(&mut self, last: Option<&str>, truncated: bool, token: Option<&str>) {
        match last {
            Some(l) => {
                self.after = Some(l.to_owned());
                self.token = None;
            }
            None if truncated => match token {
                Some(t) => self.token = Some(t.to_owned()),
                None => self.stuck = true,
            },
            None => self.token = None,
        }
    }
}

/// A listed key as S3 sends it with `encoding-type=url` (percent-encoded, a space as `+`, as
/// botocore's `unquote_plus` reads it), decoded; `None` when it does not decode to UTF-8.
pub fn decode_key(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
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

/// What a listing showed of one object: what its first step is decided from
/// ([`crate::listed_plan`]). A listing has neither the object's encryption, its metadata, its
/// version, nor Intelligent-Tiering's archive tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// `StorageClass` (S3 always names it in a listing; `None` reads as STANDARD).
    pub storage_class: Option<String>,
    /// `Size` (`None`: not shown; the first step is then a HEAD).
    pub size: Option<u64>,
    /// `LastModified`, epoch seconds.
    pub last_modified: Option<i64>,
    /// Its restore: [`Listed::InProgress`], [`Listed::Restored`] or [`Listed::NoRestore`].
    pub restore: Listed,
}

/// What a listing saw of one key asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Listed.
    Object(ListedObject),
    /// Not in the listing ([`Listed::Absent`]).
    Absent,
    /// Not reached ([`Listed::NotLooked`]).
    NotLooked,
}

impl Seen {
    /// What it says about the object's restore.
    pub fn listed(&self) -> Listed {
        match self {
            Self::Object(o) => o.restore,
            Self::Absent => Listed::Absent,
            Self::NotLooked => Listed::NotLooked,
        }
    }
}

/// What a listing of some keys saw of each object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objects {
    /// For each key asked (in the order asked), what the listing saw.
    pub seen: Vec<Seen>,
    /// ListObjectsV2 requests made.
    pub pages: u64,
}

/// Looks at the restores of `keys` (sorted in S3's order, no duplicates) in `bucket` with
/// ListObjectsV2 pages, at most `max_pages` of them ([`page_budget`]): the keys not reached are
/// [`Listed::NotLooked`]. `before_page` runs before every request (pacing, counting). An error
/// ends the look: the caller looks at the keys another way.
pub async fn look<F, Fut>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    payer: Option<RequestPayer>,
    keys: &[&str],
    max_pages: u64,
    before_page: F,
) -> Result<Lookup, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let objects = look_objects(s3, bucket, payer, keys, max_pages, before_page).await?;
    Ok(Lookup {
        seen: objects.seen.iter().map(Seen::listed).collect(),
        pages: objects.pages,
    })
}

/// [`look`], keeping what each page showed of the objects (class, size, last modified).
pub async fn look_objects<F, Fut>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    payer: Option<RequestPayer>,
    keys: &[&str],
    max_pages: u64,
    mut before_page: F,
) -> Result<Objects, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut seen = Vec::with_capacity(keys.len());
    let mut pages = 0;
    let mut cursor = Cursor::default();
    while seen.len() < keys.len() && pages < max_pages && !cursor.stuck {
        let rest = &keys[seen.len()..];
        before_page().await;
        pages += 1;
        let request = s3
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(PAGE_KEYS as i32)
            .encoding_type(EncodingType::Url)
            .optional_object_attributes(OptionalObjectAttributes::RestoreStatus)
            .set_request_payer(payer.clone());
        let request = match &cursor.token {
            Some(t) => request.continuation_token(t),
            None => request.set_start_after(start_after(rest[0], cursor.after.as_deref())),
        };
        let out = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", &e))?;
        let mut listed: Vec<(String, ListedObject)> = out
            .contents()
            .iter()
            .filter_map(|o| Some((decode_key(o.key()?)?, listed_object(o))))
            .collect();
        let last = listed.last().map(|(k, _)| k.clone());
        let truncated = out.is_truncated().unwrap_or(false);
        let n = covered(rest, last.as_deref(), truncated);
        let mut page: HashMap<String, ListedObject> = listed.drain(..).collect();
        seen.extend(rest[..n].iter().map(|k| match page.remove(*k) {
            Some(o) => Seen::Object(o),
            None => Seen::Absent,
        }));
        cursor.advance(last.as_deref(), truncated, out.next_continuation_token());
    }
    seen.resize(keys.len(), Seen::NotLooked);
    Ok(Objects { seen, pages })
}

/// What a page shows of a listed object.
fn listed_object(o: &aws_sdk_s3::types::Object) -> ListedObject {
    ListedObject {
        storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
        size: o.size().and_then(|s| u64::try_from(s).ok()),
        last_modified: o.last_modified().map(|t| t.secs()),
        restore: listed_of(o),
    }
}

/// What a listed object's `RestoreStatus` says.
fn listed_of(o: &aws_sdk_s3::types::Object) -> Listed {
    let status = o.restore_status();
    Listed::of(
        o.storage_class().map(|c| c.as_str()),
        status.and_then(|s| s.is_restore_in_progress()),
        status
            .and_then(|s| s.restore_expiry_date())
            .map(|d| d.secs()),
    )
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
        // a listing does not show Intelligent-Tiering's archive tier: the slower one
        assert_eq!(
            Listed::of(Some("INTELLIGENT_TIERING"), Some(true), None),
            Listed::InProgress { deep: true }
        );
    }

    #[test]
    fn an_archive_is_deep_in_deep_archive_and_its_intelligent_tiering_tier() {
        assert_eq!(Archive::of(Some("GLACIER"), None), Archive::Flexible);
        assert_eq!(Archive::of(Some("DEEP_ARCHIVE"), None), Archive::Deep);
        assert_eq!(
            Archive::of(Some("INTELLIGENT_TIERING"), Some("DEEP_ARCHIVE_ACCESS")),
            Archive::Deep
        );
        assert_eq!(
            Archive::of(Some("INTELLIGENT_TIERING"), Some("ARCHIVE_ACCESS")),
            Archive::Flexible
        );
        assert_eq!(Archive::Deep.class(), "DEEP_ARCHIVE");
        assert_eq!(Archive::deep_if(false).class(), "GLACIER");
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

    #[test]
    fn an_empty_truncated_page_is_followed_by_its_token() {
        let mut c = Cursor::default();
        c.advance(Some("a/1"), true, Some("t0"));
        assert_eq!(
            (c.after.as_deref(), c.token.as_deref()),
            (Some("a/1"), None)
        );
        // S3 scanning past delete markers: no key, truncated, a token. The next page follows
        // the token; where the listing was is kept.
        c.advance(None, true, Some("t1"));
        assert_eq!(c.after.as_deref(), Some("a/1"));
        assert_eq!(c.token.as_deref(), Some("t1"));
        assert!(!c.stuck);
        // a page with keys: back to starting after its last key
        c.advance(Some("a/9"), true, Some("t2"));
        assert_eq!(
            (c.after.as_deref(), c.token.as_deref()),
            (Some("a/9"), None)
        );
        // no key, truncated, no token: no way on
        c.advance(None, true, None);
        assert!(c.stuck);
    }

    #[test]
    fn a_look_reads_no_more_pages_than_heads_would_cost() {
        assert_eq!(page_budget(0), 1);
        assert_eq!(page_budget(12), 1);
        assert_eq!(page_budget(13), 2);
        assert_eq!(page_budget(5000), 400);
    }

    #[test]
    fn listed_keys_are_percent_decoded() {
        assert_eq!(decode_key("a/b").as_deref(), Some("a/b"));
        assert_eq!(decode_key("c%2B%2B").as_deref(), Some("c++"));
        assert_eq!(decode_key("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(decode_key("%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode_key("%41%").as_deref(), None);
        assert_eq!(decode_key("%FF").as_deref(), None);
    }
}
