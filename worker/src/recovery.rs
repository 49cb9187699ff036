//! What a crashed (or killed) run of the lot left in its `uploads` map, dealt with before any
//! key is processed: multipart uploads it had open or was creating are aborted, and source
//! versions it recorded to delete after their copies are deleted when the copy is shown
//! ([`recover_pending_delete`]) or forgotten when no copy was made. A failure leaves the record
//! for the next run; it never blocks the lot.

use anyhow::Result;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{recover_pending_delete, PendingDeleteFacts, Recovery};
use thaw_common::progress::LotItem;
use thaw_common::upload_record::{self, UploadEntry, UploadRecord, UploadSlot};
use thaw_common::verify::MISMATCH_CODE;

use crate::copy::{self, Copied};
use crate::delete::delete_source_version;
use crate::manifest::Manifest;
use crate::object::{self, ObjectInfo};
use crate::Ctx;

/// Cleans up after the run that wrote `item`: stale uploads first, then pending deletes.
pub async fn recover(ctx: &Ctx, item: &LotItem, manifest: &Manifest) -> Result<()> {
    let entries = upload_record::entries(&item.uploads);
    for e in entries
        .iter()
        .filter(|e| matches!(e.slot(), UploadSlot::Upload(_)))
    {
        abort_stale_upload(ctx, e, manifest).await?;
    }
    for e in &entries {
        if let UploadRecord::PendingDelete {
            recorded_at,
            version,
        } = &e.record
        {
            finish_pending_delete(ctx, e.index, *recorded_at, version, manifest).await?;
        }
    }
    Ok(())
}

/// Aborts a multipart upload an earlier run of this lot left open or was creating.
async fn abort_stale_upload(ctx: &Ctx, e: &UploadEntry, manifest: &Manifest) -> Result<()> {
    let i = e.index;
    if let Some(entry) = manifest.entry_at(i)? {
        let (bucket, key) = ctx.target_of(&entry);
        match &e.record {
            UploadRecord::Creating { since } => {
                // The earlier run died while creating the upload: find it by key. A failure
                // here must not block the lot: the entry stays for the next run.
                match copy::abort_uploads_of(ctx, &bucket, &key, *since).await {
                    Ok(n) => tracing::info!(
                        key,
                        aborted = n,
                        "aborted uploads an earlier run was creating"
                    ),
                    Err(e) => {
                        tracing::warn!(key, error = %e, "could not look for the upload an earlier run was creating; the next run tries again");
                        return Ok(());
                    }
                }
            }
            UploadRecord::Open { upload_id } => {
                tracing::info!(
                    key,
                    upload_id,
                    "aborting a multipart upload left by an earlier run"
                );
                copy::abort(ctx, &bucket, &key, upload_id).await;
            }
            UploadRecord::PendingDelete { .. } => return Ok(()), // not an upload
        }
    }
    ctx.forget(UploadSlot::Upload(i)).await;
    Ok(())
}

/// Finishes a delete an earlier run recorded before its copy and did not get to: looks at the
/// copy's target and at the recorded source version, then deletes the version (only when the
/// copy is not proved other than its source: see [`delete_source_version`]; never for a key an
/// earlier run found mismatched) and counts the key copied, or counts it copied when the version is already gone, or drops the record (no
/// copy: the key is processed as usual). A failure leaves the record for the next run.
async fn finish_pending_delete(
    ctx: &Ctx,
    i: usize,
    recorded_at: Option<i64>,
    version: &str,
    manifest: &Manifest,
) -> Result<()> {
    let Some(entry) = manifest.entry_at(i)? else {
        ctx.forget(UploadSlot::PendingDelete(i)).await;
        return Ok(());
    };
    if ctx.tracker.is_mismatched(i) {
        // An earlier run found this copy is not its source: its source version stays.
        tracing::warn!(
            key = entry.key,
            version,
            "a pending delete of a mismatched copy dropped: the source version stays"
        );
        ctx.forget(UploadSlot::PendingDelete(i)).await;
        return Ok(());
    }
    let (bucket, key) = ctx.target_of(&entry);
    let target = match object::head_at(ctx, &bucket, &key, None).await {
        Ok(c) => Some(c),
        Err(e) if e.code == "NoSuchKey" => None,
        Err(e) => {
            tracing::warn!(key = entry.key, error = %e, "could not look at a copy whose source is left to delete; the next run tries again");
            return Ok(());
        }
    };
    let source = match object::head(ctx, &entry.key, Some(version)).await {
        Ok(s) => Some(s),
        Err(e) if e.code == "NoSuchVersion" => None,
        Err(e) => {
            tracing::warn!(key = entry.key, error = %e, "could not look at a source version left to delete; the next run tries again");
            return Ok(());
        }
    };
    let facts = PendingDeleteFacts {
        recorded_at,
        version,
        target: target.as_ref().map(|t| &t.facts),
        source: source.as_ref().map(|s| &s.facts),
        multipart_threshold: ctx.settings.multipart_threshold,
    };
    match recover_pending_delete(ctx.spec.target_class, &facts) {
        // Deleted before the record was dropped: done, its copy is there.
        Recovery::Copied { bytes } => ctx.tracker.copied(i, bytes, false),
        Recovery::DeleteSource => {
            let (Some(target), Some(source)) = (&target, &source) else {
                return Ok(()); // the verdict is only given with both
            };
            if !delete_copied_version(ctx, i, &entry, version, target, source).await {
                return Ok(());
            }
        }
        Recovery::Drop => {}
    }
    ctx.forget(UploadSlot::PendingDelete(i)).await;
    Ok(())
}

/// Deletes source version `version`, whose copy `target` an earlier run made, and counts the key
/// copied. False when the delete or its checks fail: the record kept for the next run, or,
/// when the copy is proved other than its source, the key failed `CopyMismatch` and the
/// record dropped (the source version stays).
async fn delete_copied_version(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    version: &str,
    target: &ObjectInfo,
    source: &ObjectInfo,
) -> bool {
    let done = Copied {
        bytes: target.size(),
        version_id: target.facts.version_id.clone(),
        proof: None,
    };
    let pinned = KeyLine {
        version_id: Some(version.to_owned()),
        ..entry.clone()
    };
    match delete_source_version(ctx, &pinned, source, &done).await {
        Ok(()) => {
            tracing::info!(
                key = entry.key,
                version,
                "deleted the source version an earlier run copied"
            );
            ctx.tracker
                .copied(i, target.size(), source.facts.head.is_archived());
            true
        }
        Err(e) if e.code == MISMATCH_CODE => {
            // The copy is not its source: the key fails for good, its source version stays.
            tracing::error!(key = entry.key, version, error = %e, "the copy an earlier run made is not its source");
            ctx.tracker.failed(i, &e.code, &e.message);
            ctx.forget_mismatched(i).await;
            false
        }
        Err(e) => {
            tracing::warn!(key = entry.key, error = %e, "could not delete a source version an earlier run copied; the next run tries again");
            false
        }
    }
}
