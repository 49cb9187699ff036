//! Passes over the lot's manifest: each pass streams the spooled manifest and takes every key
//! still to do as far as it can go (`concurrency` keys in flight); between passes the worker
//! waits for restores, or ends the run as WAITING when the wait would pass `--max-wait`. A stop
//! signal ends the current pass after the shutdown grace period.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use futures::StreamExt;
use thaw_common::bitmap::Bitmap;
use thaw_common::keys::KeyLine;
use thaw_common::progress::now_secs;
use thaw_common::spec::poll_delay;

use crate::key::{process_key, Step};
use crate::manifest::Manifest;
use crate::watchdog::watched;
use crate::Ctx;

/// How the processing of a lot ended.
pub enum LotOutcome {
    /// Every key is finished (copied, skipped or failed).
    Finished,
    /// Restores are still running; worth looking again at `next_check` (epoch seconds).
    Waiting {
        /// Keys still waiting.
        pending: u64,
        /// When to look again.
        next_check: i64,
    },
    /// Stopped by a signal (or fencing) before the end.
    Interrupted,
}

/// Processes the lot in passes: the first over every key not done yet, then, after a poll delay
/// that fits the class and tier, over the keys still waiting for their restores, until none waits,
/// a stop signal comes, or the next poll would pass `max_wait`.
pub async fn process_lot(ctx: &Arc<Ctx>, manifest: &Manifest) -> Result<LotOutcome> {
    let started = Instant::now();
    let mut only: Option<Bitmap> = None; // after the first pass: just the keys still waiting
    loop {
        let Some((pending, deep)) = run_pass(ctx, manifest, only.as_ref()).await? else {
            return Ok(LotOutcome::Interrupted);
        };
        let waiting = pending.count() as u64;
        if waiting == 0 {
            return Ok(LotOutcome::Finished);
        }
        let class = if deep { "DEEP_ARCHIVE" } else { "GLACIER" };
        let delay = poll_delay(class, ctx.spec.restore_tier, ctx.settings.poll_interval);
        if started.elapsed().saturating_add(delay) > ctx.settings.max_wait {
            return Ok(LotOutcome::Waiting {
                pending: waiting,
                next_check: now_secs()
                    .saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX)),
            });
        }
        tracing::info!(
            lot = ctx.lot,
            waiting,
            poll_in_s = delay.as_secs(),
            "waiting for restores"
        );
        let mut stop = ctx.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return Ok(LotOutcome::Interrupted),
        }
        only = Some(pending);
    }
}

/// One pass over the manifest. Returns the keys still waiting for a restore (and whether any is
/// DEEP_ARCHIVE), or `None` when a stop signal ended the pass early.
async fn run_pass(
    ctx: &Arc<Ctx>,
    manifest: &Manifest,
    only: Option<&Bitmap>,
) -> Result<Option<(Bitmap, bool)>> {
    let pending = std::sync::Mutex::new((Bitmap::new(manifest.len), false));
    let keys = manifest.keys()?;
    let work = futures::stream::iter(keys.enumerate())
        .take_while(|_| futures::future::ready(!ctx.stopping()))
        .filter_map(|(i, line)| {
            let wanted = line.is_ok() && !ctx.tracker.is_done(i) && only.is_none_or(|b| b.get(i));
            futures::future::ready(if wanted {
                line.ok().map(|l| (i, l))
            } else {
                None
            })
        })
        .map(|(i, entry)| {
            let ctx = ctx.clone();
            async move { (i, watched_key(&ctx, i, &entry).await) }
        })
        .buffer_unordered(ctx.settings.concurrency)
        .for_each(|(i, step)| {
            if let Step::Pending { deep } = step {
                let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                p.0.set(i, true);
                p.1 |= deep;
            }
            futures::future::ready(())
        });

    let mut stop = ctx.stop.subscribe();
    let grace = ctx.settings.shutdown_grace;
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        _ = work => {}
        _ = stopped => {
            tracing::warn!(lot = ctx.lot, "in-flight keys abandoned after the shutdown grace period");
        }
    }
    if ctx.stopping() {
        return Ok(None);
    }
    let (bits, deep) = pending.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Some((bits, deep)))
}

/// One key under the watchdog: abandoned and taken again when it makes no progress for the key
/// timeout ([`crate::watchdog`]).
async fn watched_key(ctx: &Ctx, i: usize, entry: &KeyLine) -> Step {
    watched(ctx, i, entry, || process_key(ctx, i, entry)).await
}
