//! Restore polling by listing ([`thaw_common::restore_listing`]): in a sorted lot, the waiting
//! keys due for a look are first looked at with ListObjectsV2 pages. Those the listing shows still
//! being restored stay waiting without a HeadObject each; every other one goes to the pass, which
//! HEADs it as usual before doing anything with it, so no copy is ever made on what a listing
//! said (a listing shows neither the object's encryption nor its metadata, and only its current
//! version).
//!
//! A sorted lot's first pass is decided the same way ([`first_steps`]): one listing of its keys
//! not done gives each listed object's first step ([`thaw_common::listed_plan`]), so an archived
//! object is restored, a done one skipped, a small or young one left out, without a HeadObject;
//! the HEAD before each copy stays.

use std::collections::HashMap;

use thaw_common::aws::AwsError;
use thaw_common::bitmap::Bitmap;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::KeyFacts;
use thaw_common::listed_plan::{first_step, FirstStep};
use thaw_common::plan::KeyOrder;
use thaw_common::progress::now_secs;
use thaw_common::restore_listing::{look_objects, page_budget, worth_listing, Listed, Objects};

use crate::manifest::Manifest;
use crate::metrics::Metrics;
use crate::ratelimit::Kind;
use crate::Ctx;

/// Keys a listing showed still being restored.
pub struct Restoring {
    /// Their positions.
    pub keys: Bitmap,
    /// Whether any of them is DEEP_ARCHIVE (polled less often).
    pub deep: bool,
}

/// Of the keys `due` for a look, those a listing shows still being restored (keys past the
/// look's page budget are HEADed). None when the lot is not sorted, when listing them would
/// cost more than a HEAD each, or when the listing fails (then every key is HEADed, as before).
pub async fn still_restoring(ctx: &Ctx, manifest: &Manifest, due: &Bitmap) -> Restoring {
    let mut restoring = Restoring {
        keys: Bitmap::new(manifest.len),
        deep: false,
    };
    let Some(keys) = listable_keys(ctx, manifest, due) else {
        return restoring;
    };
    match list(ctx, &keys).await {
        Ok(l) => {
            for ((i, _), seen) in keys.iter().zip(&l.seen) {
                if let Listed::InProgress { deep } = seen.listed() {
                    restoring.keys.set(*i, true);
                    restoring.deep |= deep;
                }
            }
            tracing::info!(
                lot = ctx.lot,
                looked = keys.len(),
                pages = l.pages,
                still_restoring = restoring.keys.count(),
                "restores looked at by listing"
            );
        }
        Err(e) => {
            tracing::warn!(lot = ctx.lot, error = %e.message, code = %e.code, "listing failed; the waiting keys are HEADed instead");
        }
    }
    restoring
}

/// A sorted lot's first steps, by position, for the keys a listing decided (the others are
/// HEADed as usual).
pub type FirstSteps = HashMap<usize, FirstStep>;

/// What the first pass's listing gave.
pub enum FirstLook {
    /// The first steps of the listed keys.
    Decided(FirstSteps),
    /// No listing: the lot is not sorted, or listing would cost more than a HEAD each.
    NotListed,
    /// The listing failed (e.g. AccessDenied without s3:ListBucket): every key is HEADed, and
    /// no other listing is tried for this pass.
    Failed,
}

/// The first steps of the lot's keys `todo` decided from one listing of them
/// ([`thaw_common::listed_plan`]): archived objects restored, done ones skipped, small or young
/// ones left out, restores running waited for, each without a HeadObject; or why there are
/// none (then the first pass goes as before).
pub async fn first_steps(ctx: &Ctx, manifest: &Manifest, todo: &Bitmap) -> FirstLook {
    let Some(keys) = listable_keys(ctx, manifest, todo) else {
        return FirstLook::NotListed;
    };
    let objects = match list(ctx, &keys).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(lot = ctx.lot, error = %e.message, code = %e.code, "listing failed; every key is HEADed first");
            return FirstLook::Failed;
        }
    };
    let now = now_secs();
    let mut steps = FirstSteps::new();
    for ((i, line), seen) in keys.iter().zip(&objects.seen) {
        let facts = KeyFacts {
            key: &line.key,
            pinned: line.version_id.as_deref(),
            dest_bucket: line.dest.as_ref().map(|(b, _)| b.as_str()),
            in_place: ctx.in_place(line),
            restore_requested_at: ctx.tracker.restore_requested_at(*i),
            now,
            source: None,
            target: None,
        };
        match first_step(&ctx.rules, &facts, seen) {
            FirstStep::Head => {}
            step => {
                steps.insert(*i, step);
            }
        }
    }
    tracing::info!(
        lot = ctx.lot,
        looked = keys.len(),
        pages = objects.pages,
        decided = steps.len(),
        "first steps decided by listing"
    );
    FirstLook::Decided(steps)
}

/// One listing of `keys` (in S3's order) in the job's bucket, within a page budget for their
/// count, each page paced as a HEAD and counted.
async fn list(ctx: &Ctx, keys: &[(usize, KeyLine)]) -> Result<Objects, AwsError> {
    let names: Vec<&str> = keys.iter().map(|(_, k)| k.key.as_str()).collect();
    let bucket = &ctx.spec.bucket;
    look_objects(
        ctx.s3_for(bucket),
        bucket,
        ctx.request_payer(),
        &names,
        page_budget(names.len()),
        || async {
            ctx.pacing.acquire(Kind::Head).await;
            Metrics::inc(&ctx.metrics.s3_list);
        },
    )
    .await
}

/// The keys `wanted` a listing can look at, in S3's order, or `None` when the lot is not
/// sorted or listing them would cost more than a HEAD each.
fn listable_keys(ctx: &Ctx, manifest: &Manifest, wanted: &Bitmap) -> Option<Vec<(usize, KeyLine)>> {
    let (first, last) = (wanted.ones().next()?, wanted.ones().last()?);
    let span = (last - first + 1) as u64;
    if manifest.order != KeyOrder::Sorted || !worth_listing(wanted.count() as u64, span) {
        return None;
    }
    let mut keys = match due_keys(manifest, wanted) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(lot = ctx.lot, error = %e, "manifest unreadable for a listing; HEAD instead");
            return None;
        }
    };
    keys.sort_by(|a, b| a.1.key.as_bytes().cmp(b.1.key.as_bytes()));
    keys.dedup_by(|a, b| a.1.key == b.1.key);
    Some(keys)
}

/// The due keys that pin no version (a listing shows current versions only), with their
/// positions.
fn due_keys(manifest: &Manifest, due: &Bitmap) -> anyhow::Result<Vec<(usize, KeyLine)>> {
    let mut keys = Vec::with_capacity(due.count());
    for (i, line) in manifest.keys()?.enumerate() {
        if !due.get(i) {
            continue;
        }
        let line = line?;
        if line.version_id.is_none() {
            keys.push((i, line));
        }
    }
    Ok(keys)
}
