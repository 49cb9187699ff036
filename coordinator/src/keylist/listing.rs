//! `--from s3://bucket/prefix/`: every object under a prefix (ListObjectsV2, page by page),
//! filtered by pattern and storage class, written to a spool as a key list.

use std::io::{BufWriter, Write};

use anyhow::Context;
use thaw_common::aws::AwsError;
use thaw_common::input::{InputFormat, PatternSet};
use thaw_common::leave_out::LeaveOut;
use thaw_common::spec::S3Location;

use super::left_out::LeftOut;
use super::spool::create_spool;
use super::KeyList;

/// Which listed objects `--from` keeps.
#[derive(Debug, Clone, Default)]
pub struct ListingFilter {
    /// Keep only keys matching one of these.
    pub include: Option<PatternSet>,
    /// Drop keys matching one of these.
    pub exclude: Option<PatternSet>,
    /// Keep only these storage classes (empty: all).
    pub classes: Vec<String>,
    /// Objects already in this class (the target) are left out at planning time.
    pub skip_class: String,
    /// `--min-size` and `--min-age`: the listing tells sizes and dates.
    pub leave_out: LeaveOut,
    /// Where thaw keeps its jobs' control objects (specs, manifests) when that is in the listed
    /// bucket: never part of a job (copied in place, an earlier job's manifest would change
    /// class under it). `None` or an empty prefix: nothing to leave out (an empty control prefix
    /// puts them under each job id, which a listing cannot tell from data).
    pub control: Option<String>,
}

impl ListingFilter {
    /// True when an object of `class` at `key` belongs in the job.
    pub fn keeps(&self, key: &str, class: &str) -> bool {
        self.include.as_ref().is_none_or(|p| p.matches(key))
            && !self.exclude.as_ref().is_some_and(|p| p.matches(key))
            && (self.classes.is_empty() || self.classes.iter().any(|c| c == class))
            && class != self.skip_class
    }

    /// True when `key` is one of thaw's control objects (see [`Self::control`]).
    pub fn is_control(&self, key: &str) -> bool {
        self.control
            .as_deref()
            .is_some_and(|p| !p.is_empty() && key.starts_with(p))
    }
}

/// Lists `loc` (ListObjectsV2, 1,000 keys per page) into a key list spool, keeping what
/// `filter` keeps: the listing is streamed to disk, never held in memory.
pub async fn list_prefix(
    s3: &aws_sdk_s3::Client,
    loc: &S3Location,
    filter: &ListingFilter,
    request_payer: bool,
) -> anyhow::Result<KeyList> {
    let name = loc.to_string();
    let (file, spool) = create_spool()?;
    let mut out = BufWriter::new(file);
    let (mut listed, mut kept, mut pages, mut control) = (0u64, 0u64, 0u64, 0u64);
    let mut left_out = LeftOut::default();
    let now = thaw_common::progress::now_secs();
    let mut stream = s3
        .list_objects_v2()
        .bucket(&loc.bucket)
        .prefix(&loc.prefix)
        .set_request_payer(request_payer.then_some(aws_sdk_s3::types::RequestPayer::Requester))
        .into_paginator()
        .send();
    while let Some(page) = stream
        .try_next()
        .await
        .map_err(|e| AwsError::from_sdk("ListObjectsV2", &e))
        .with_context(|| format!("listing {name}"))?
    {
        pages += 1;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            listed += 1;
            if filter.is_control(key) {
                control += 1;
                continue;
            }
            let class = o.storage_class().map(|c| c.as_str()).unwrap_or("STANDARD");
            if filter.keeps(key, class) {
                let size = o.size().and_then(|s| u64::try_from(s).ok());
                let modified = o.last_modified().map(|t| t.secs());
                if left_out.leaves_out(&filter.leave_out, key, size, modified, now) {
                    continue;
                }
                kept += 1;
                out.write_all(key.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .with_context(|| format!("writing {}", spool.path().display()))?;
            }
        }
        if listed > 0 && listed % 100_000 < 1000 {
            tracing::info!("listed {listed} objects under {name}, {kept} kept");
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", spool.path().display()))?;
    tracing::info!("listed {listed} objects under {name}, {kept} kept");
    let mut list = KeyList::from_spool(spool, &name, InputFormat::Keys)?;
    list.list_pages = pages;
    list.left_out = left_out;
    list.control_left_out = control;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_filter() {
        let f = ListingFilter {
            include: Some(PatternSet::parse("*.gz")),
            exclude: Some(PatternSet::parse("*tmp*")),
            classes: vec!["GLACIER".into()],
            skip_class: "STANDARD_IA".into(),
            leave_out: LeaveOut::default(),
            control: None,
        };
        assert!(f.keeps("a/b.gz", "GLACIER"));
        assert!(!f.keeps("a/b.txt", "GLACIER"));
        assert!(!f.keeps("a/tmp.gz", "GLACIER"));
        assert!(!f.keeps("a/b.gz", "STANDARD"));
        let all = ListingFilter {
            skip_class: "STANDARD_IA".into(),
            ..Default::default()
        };
        assert!(all.keeps("x", "STANDARD"));
        assert!(!all.keeps("x", "STANDARD_IA"));
    }

    #[test]
    fn control_objects_are_told_by_their_prefix() {
        let f = ListingFilter {
            control: Some("thaw/".into()),
            ..Default::default()
        };
        assert!(f.is_control("thaw/job-1/spec.json"));
        assert!(f.is_control("thaw/job-2/lots/0.keys"));
        assert!(!f.is_control("thawed/a"));
        assert!(!f.is_control("data/thaw/a"));
        let none = ListingFilter::default();
        assert!(!none.is_control("thaw/job-1/spec.json"));
        let empty = ListingFilter {
            control: Some(String::new()),
            ..Default::default()
        };
        assert!(!empty.is_control("job-1/spec.json"));
    }
}
