//! One key of the lot, taken as far as it can go now: gather the facts a verdict needs
//! (HeadObject of the source, then, when the verdict asks, of the target), let the pure
//! [`judge`] decide, carry the verdict out (restore request, copy, delete of the copied source
//! version) and record the result in the tracker. A key whose first step a listing decided
//! ([`thaw_common::listed_plan`]) takes it without a HeadObject.

use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{
    is_not_restored_code, judge, made_no_copy, restore_tier_for, Fact, Failure, KeyFacts,
    ObjectHead, Verdict, SSE_C_CODE,
};
use thaw_common::listed_plan::FirstStep;
use thaw_common::progress::now_secs;
use thaw_common::upload_record::{UploadEntry, UploadSlot};
use thaw_common::verify::MISMATCH_CODE;
use thaw_common::weather::is_weather;

use crate::copy::{self, Copied};
use crate::delete::{delete_source_version, delete_source_version_retried};
use crate::object::{self, ObjectInfo};
use crate::ratelimit::Kind;
use crate::restore::{self, RestoreAnswer};
use crate::Ctx;

/// What happened to one key in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Finished for this run (copied, skipped or failed).
    Finished,
    /// Waiting for its restore; `deep` when it is a DEEP_ARCHIVE object (slower to poll).
    Pending {
        /// A DEEP_ARCHIVE object (or Intelligent-Tiering's Deep Archive Access tier).
        deep: bool,
    },
    /// To be looked at again on the next pass, soon, not after a restore's poll delay.
    Again(Again),
}

/// Why a key goes back for the next pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Again {
    /// A request met weather (throttling, a 5xx, a timeout, a dispatch failure): this error.
    Weather(Failure),
    /// It needs no restore but could not be copied as it was: overwritten during its copy
    /// (412), or its restored copy expired (it is restored again first).
    Changed,
}

/// The objects looked at for a key, as HeadObject described them.
#[derive(Default)]
struct Looked {
    source: Option<ObjectInfo>,
    target: Option<ObjectInfo>,
}

/// Takes one key as far as it can go now, recording the result in the tracker: `first`, its
/// first step when a listing decided it, else what HeadObject shows.
pub async fn process_key(ctx: &Ctx, i: usize, entry: &KeyLine, first: Option<FirstStep>) -> Step {
    if let Some(step) = first {
        if let Some(done) = take_listed_step(ctx, i, entry, step).await {
            return done;
        }
    }
    let mut facts = KeyFacts {
        key: &entry.key,
        pinned: entry.version_id.as_deref(),
        dest_bucket: entry.dest.as_ref().map(|(bucket, _)| bucket.as_str()),
        in_place: ctx.in_place(entry),
        restore_requested_at: ctx.tracker.restore_requested_at(i),
        now: now_secs(),
        source: None,
        target: None,
    };
    let mut looked = Looked::default();
    let verdict = loop {
        let head = match judge(&ctx.rules, &facts) {
            Verdict::Need(Fact::Source) if facts.source.is_none() => {
                let head = object::head(ctx, &entry.key, entry.version_id.as_deref()).await;
                facts.source = Some(object::look(&head));
                looked.source = head.as_ref().ok().cloned();
                head
            }
            Verdict::Need(Fact::Target) if facts.target.is_none() => {
                let (bucket, key) = ctx.target_of(entry);
                let head = object::head_at(ctx, &bucket, &key, None).await;
                facts.target = Some(object::look(&head));
                looked.target = head.as_ref().ok().cloned();
                head
            }
            verdict => break verdict,
        };
        // A HEAD that met weather says nothing about the object: look again next pass.
        if let Err(e) = head {
            if is_weather(&e.code, e.status) {
                return weather(&e);
            }
        }
    };
    carry_out(ctx, i, entry, verdict, &looked).await
}

/// Takes the first step a listing decided; `None` for [`FirstStep::Head`] (judged after a
/// HeadObject as usual), and for a listed restore the key is better HEADed first
/// ([`listed_restore`]).
async fn take_listed_step(ctx: &Ctx, i: usize, entry: &KeyLine, step: FirstStep) -> Option<Step> {
    Some(match step {
        FirstStep::Skip => {
            ctx.tracker.skipped(i);
            Step::Finished
        }
        FirstStep::LeaveOut(reason) => {
            ctx.tracker.left_out(i, reason);
            Step::Finished
        }
        FirstStep::Wait { deep } => Step::Pending { deep },
        FirstStep::Restore { days, head } => {
            return listed_restore(ctx, i, entry, &head, days).await
        }
        FirstStep::Head => return None,
    })
}

/// A restore decided from the listing, without a HeadObject. `None` sends the key to the HEAD
/// path: once an object of the lot turned out SSE-C (a listing does not show it: restoring one
/// pays for a restore thaw cannot copy from), and when the restore is refused for anything but
/// weather (the object changed since the listing, e.g. overwritten in a class that needs no
/// restore: the HEAD path judges the object as it is now).
async fn listed_restore(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    head: &ObjectHead,
    days: Option<u32>,
) -> Option<Step> {
    if ctx.tracker.any_failed_with(SSE_C_CODE) {
        return None;
    }
    match request_restore(ctx, i, entry, head, days).await {
        Ok(step) => Some(step),
        Err(e) if is_weather(&e.code, e.status) => Some(weather(&e)),
        Err(e) => {
            tracing::info!(key = entry.key.as_str(), code = %e.code, "a restore decided by listing was refused; the key is HEADed");
            None
        }
    }
}

/// Does what the verdict says and records it.
async fn carry_out(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    verdict: Verdict,
    looked: &Looked,
) -> Step {
    let deep = looked
        .source
        .as_ref()
        .is_some_and(|s| s.facts.head.is_deep_archive());
    match (verdict, &looked.source) {
        (Verdict::Skip, _) => {
            ctx.tracker.skipped(i);
            Step::Finished
        }
        (Verdict::LeaveOut(reason), _) => {
            ctx.tracker.left_out(i, reason);
            Step::Finished
        }
        (Verdict::Fail(f), _) => fail(ctx, i, &f),
        (Verdict::Wait, _) => Step::Pending { deep },
        (Verdict::Restore { days }, Some(src)) => {
            restore_key(ctx, i, entry, &src.facts.head, days).await
        }
        (Verdict::Copy, Some(src)) => copy_key(ctx, i, entry, src).await,
        (Verdict::DeleteSourceThenSkip, Some(src)) => {
            // The current version is the copy of the pinned one: delete that, count it done.
            let copied = Copied {
                bytes: src.size(),
                version_id: looked
                    .target
                    .as_ref()
                    .and_then(|t| t.facts.version_id.clone()),
                proof: None,
            };
            match delete_source_version(ctx, entry, src, &copied).await {
                Ok(()) => {
                    ctx.tracker.skipped(i);
                    Step::Finished
                }
                Err(e) => fail_with(ctx, i, &e),
            }
        }
        (verdict, _) => {
            let message =
                format!("no verdict to carry out without the facts it needs: {verdict:?}");
            fail(ctx, i, &Failure::new("InternalError", message))
        }
    }
}

fn fail(ctx: &Ctx, i: usize, f: &Failure) -> Step {
    ctx.tracker.failed(i, &f.code, &f.message);
    Step::Finished
}

/// A request of key `i` failed: weather sends the key back for the next pass, anything else
/// fails it (unless the run was fenced: then nothing is recorded).
fn fail_with(ctx: &Ctx, i: usize, e: &AwsError) -> Step {
    if is_weather(&e.code, e.status) {
        return weather(e);
    }
    if !ctx.is_fenced() {
        ctx.tracker.failed(i, &e.code, &e.message);
    }
    Step::Finished
}

/// Back for the next pass: the request met weather.
fn weather(e: &AwsError) -> Step {
    Step::Again(Again::Weather(Failure::new(
        e.code.clone(),
        format!("{}: {}", e.operation, e.message),
    )))
}

/// Requests the restore of the object `head` describes at the tier it can have, and records
/// it: a new request counted as one (not a 200 "already restored"), a fallback to Standard
/// counted as one.
async fn restore_key(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    head: &ObjectHead,
    days: Option<u32>,
) -> Step {
    match request_restore(ctx, i, entry, head, days).await {
        Ok(step) => step,
        Err(e) => fail_with(ctx, i, &e),
    }
}

/// Requests the restore and records it when S3 takes it: the key then waits for it.
async fn request_restore(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    head: &ObjectHead,
    days: Option<u32>,
) -> Result<Step, AwsError> {
    let deep = head.is_deep_archive();
    let tier = restore_tier_for(head, ctx.spec.restore_tier);
    let version = entry.version_id.as_deref();
    let r = restore::request(ctx, &entry.key, version, days, tier).await?;
    ctx.tracker
        .restore_requested(i, r.answer == RestoreAnswer::Requested);
    if r.tier != ctx.spec.restore_tier {
        ctx.tracker.tier_fallback();
    }
    Ok(Step::Pending { deep })
}

/// Copies the key. Under `--delete-source-version` the lot item says first which version is to
/// go: a run that dies between copy and delete leaves the next run a record to finish from.
async fn copy_key(ctx: &Ctx, i: usize, entry: &KeyLine, src: &ObjectInfo) -> Step {
    let pending = if ctx.rules.delete_source_version {
        copy::source_version(ctx, entry, src).map(str::to_owned)
    } else {
        None
    };
    if let Some(v) = &pending {
        if let Err(e) = ctx
            .record(&UploadEntry::pending_delete(i, now_secs(), v))
            .await
        {
            return fail_with(ctx, i, &e);
        }
    }
    ctx.pacing.acquire(Kind::Copy).await;
    let result = copy::copy_object(ctx, i, entry, src).await;
    if let (Some(_), Err(e)) = (&pending, &result) {
        // A definite refusal before the object could exist made no copy; otherwise the record
        // stays for the next run to check.
        if made_no_copy(e.operation, e.status) {
            ctx.forget(UploadSlot::PendingDelete(i)).await;
        }
    }
    copied_or_not(ctx, i, entry, src, pending.is_some(), result).await
}

/// The end of a copy: a copy that is not its source fails the key (its source kept, its
/// pending delete dropped); else the source version deleted when asked (then the record
/// dropped), the key counted with its proof, or why not.
async fn copied_or_not(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
    pending: bool,
    result: Result<Copied, AwsError>,
) -> Step {
    let key = entry.key.as_str();
    match result {
        Ok(copied) => {
            let proof = copied.proof.as_ref();
            if let (Some(p), Some(message)) = (proof, proof.and_then(|p| p.mismatch_message())) {
                tracing::error!(key, %message, "the copy is not its source");
                // Recorded first (the checkpoint keeps it: no later run judges the key again,
                // nor deletes its source), then the pending delete dropped for sure.
                ctx.tracker.proved(i, p);
                ctx.tracker.failed(i, MISMATCH_CODE, &message);
                if pending {
                    ctx.forget_mismatched(i).await;
                }
                return Step::Finished;
            }
            if ctx.rules.delete_source_version {
                if let Err(e) = delete_source_version_retried(ctx, entry, obj, &copied).await {
                    let message = format!("copied, but the source version was kept: {}", e.message);
                    ctx.tracker.failed(i, &e.code, &message);
                    if pending && e.code == MISMATCH_CODE {
                        ctx.forget_mismatched(i).await;
                    }
                    return Step::Finished;
                }
                if pending {
                    ctx.forget(UploadSlot::PendingDelete(i)).await;
                }
            }
            if let Some(p) = proof {
                ctx.tracker.proved(i, p);
            }
            ctx.tracker
                .copied(i, copied.bytes, obj.facts.head.is_archived());
            Step::Finished
        }
        Err(e) if is_not_restored_code(&e.code) => {
            // The restored copy expired between HEAD and copy: restored again on the next pass
            // (then it waits for its restore; not before).
            ctx.tracker.restore_lost(i);
            Step::Again(Again::Changed)
        }
        Err(e) if e.code == "PreconditionFailed" => {
            // The object was overwritten after HEAD: look at the new one next pass.
            tracing::info!(key, "object changed during its copy; it is looked at again");
            Step::Again(Again::Changed)
        }
        Err(e) => fail_with(ctx, i, &e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use thaw_common::keystate::RestoreStatus;

    use super::*;

    #[tokio::test]
    async fn after_an_sse_c_failure_listed_restores_go_to_the_head_first() {
        let ctx = crate::ctx::tests::ctx(None);
        let entry = KeyLine {
            line: 1,
            key: "k".into(),
            version_id: None,
            dest: None,
        };
        let head = ObjectHead {
            storage_class: "GLACIER".into(),
            archive_status: None,
            restore: RestoreStatus::None,
            sse_customer: false,
        };
        ctx.tracker
            .failed(0, SSE_C_CODE, "an SSE-C object of the lot");
        assert_eq!(listed_restore(&ctx, 0, &entry, &head, Some(3)).await, None);
        assert_eq!(
            ctx.metrics.s3_restore.load(Ordering::Relaxed),
            0,
            "no restore asked"
        );
    }
}
