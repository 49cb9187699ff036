//! Writing the lot's checkpoint: while the run goes, only when it changed (every
//! `checkpoint_interval`) plus a heartbeat at least every `heartbeat`, never once per key; and
//! once at the end, retried harder, with the lot's final state. Every write is fenced by the
//! run's attempt: a refusal means a newer attempt owns the lot, and the run stops. A worker whose
//! keys stopped making progress (see [`crate::watchdog`]) writes no heartbeat. Every tick also
//! rereads the worker's share of the restore budget ([`crate::budget`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use thaw_common::checkpoint::{LotCheckpoint, LotState};
use thaw_common::progress::ProgressError;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::Ctx;

/// Writes the checkpoint when it changed (every `checkpoint_interval`) and a heartbeat at
/// least every `heartbeat`, until `finish` is notified.
pub async fn flush_loop(ctx: Arc<Ctx>, finish: Arc<Notify>) {
    let mut last_write = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ctx.settings.checkpoint_interval) => {}
            _ = finish.notified() => return,
        }
        crate::budget::apply_share(&ctx).await;
        // A worker whose keys all stopped moving says nothing: the coordinator then finds the
        // lot stale. Real progress is still written (it is progress, and fencing is learnt so).
        let force = last_write.elapsed() >= ctx.settings.heartbeat && !stalled(&ctx);
        let Some(cp) = ctx.tracker.take_if_dirty(force) else {
            continue;
        };
        let cp = ctx.with_requests(cp);
        Metrics::inc(&ctx.metrics.ddb_write);
        match ctx
            .table
            .write_checkpoint(
                &ctx.spec.job_id,
                ctx.lot,
                ctx.attempt,
                &cp,
                LotState::Running,
                None,
            )
            .await
        {
            Ok(()) => last_write = Instant::now(),
            Err(ProgressError::Fenced { .. }) => {
                ctx.fence();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint write failed; retrying at the next interval");
                ctx.tracker.mark_dirty();
            }
        }
    }
}

/// True (and said once per stall) when keys are in flight and none made progress for the stall
/// timeout.
fn stalled(ctx: &Ctx) -> bool {
    let stalled = ctx.liveness.stalled(ctx.settings.stall_timeout);
    if stalled {
        tracing::warn!(
            lot = ctx.lot,
            stall_timeout_s = ctx.settings.stall_timeout.as_secs(),
            "no key made progress within the stall timeout: no heartbeat"
        );
    }
    stalled
}

/// The last checkpoint of a run, retried with backoff beyond the SDK's own retries: losing it
/// would turn a finished lot into a failed one. A fenced refusal is final at once.
pub async fn final_write(
    ctx: &Ctx,
    cp: &LotCheckpoint,
    state: LotState,
    next_check_at: Option<i64>,
) -> Result<(), ProgressError> {
    let write = || async {
        Metrics::inc(&ctx.metrics.ddb_write);
        ctx.table
            .write_checkpoint(
                &ctx.spec.job_id,
                ctx.lot,
                ctx.attempt,
                cp,
                state,
                next_check_at,
            )
            .await
    };
    write
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(Duration::from_secs(20))
                .with_max_times(6)
                .with_jitter(),
        )
        .when(|e| !matches!(e, ProgressError::Fenced { .. }))
        .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "final checkpoint write failed"))
        .await
}
