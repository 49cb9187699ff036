//! Restore polling by listing ([`thaw_common::restore_listing`]): in a sorted lot, the waiting
//! keys due for a look are first looked at with ListObjectsV2 pages. Those the listing shows still
//! being restored stay waiting without a HeadObject each; every other one goes to the pass, which
//! HEADs it as usual before doing anything with it, so no copy is ever made on what a listing
//! said (a listing shows neither the object's encryption nor its metadata, and only its current
//! version).

use thaw_common::bitmap::Bitmap;
use thaw_common::plan::KeyOrder;
use thaw_common::restore_listing::{look, page_budget, worth_listing, Listed};

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
/// look's page budget are HEADed). None when the lot is not sorted, when listing them would cost more than a HEAD each, or when the listing fails
/// (then every key is HEADed, as before).
pub async fn still_restoring(ctx: &Ctx, manifest: &Manifest, due: &Bitmap) -> Restoring {
    let mut restoring = Restoring {
        keys: Bitmap::new(manifest.len),
        deep: false,
    };
    let (Some(first), Some(last)) = (due.ones().next(), due.ones().last()) else {
        return restoring;
    };
    let span = (last - first + 1) as u64;
    if manifest.order != KeyOrder::Sorted || !worth_listing(due.count() as u64, span) {
        return restoring;
    }
    let mut keys = match due_keys(manifest, due) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(lot = ctx.lot, error = %e, "manifest unreadable for a listing; HEAD instead");
            return restoring;
        }
    };
    keys.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
    keys.dedup_by(|a, b| a.1 == b.1);
    let names: Vec<&str> = keys.iter().map(|(_, k)| k.as_str()).collect();
    let bucket = &ctx.spec.bucket;
    let listed = look(
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
    .await;
    match listed {
        Ok(l) => {
            for ((i, _), seen) in keys.iter().zip(&l.seen) {
                if let Listed::InProgress { deep } = seen {
                    restoring.keys.set(*i, true);
                    restoring.deep |= deep;
                }
            }
            tracing::info!(
                lot = ctx.lot,
                looked = names.len(),
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

/// The due keys that pin no version (a listing shows current versions only), with their
/// positions.
fn due_keys(manifest: &Manifest, due: &Bitmap) -> anyhow::Result<Vec<(usize, String)>> {
    let mut keys = Vec::with_capacity(due.count());
    for (i, line) in manifest.keys()?.enumerate() {
        if !due.get(i) {
            continue;
        }
        let line = line?;
        if line.version_id.is_none() {
            keys.push((i, line.key));
        }
    }
    Ok(keys)
}
