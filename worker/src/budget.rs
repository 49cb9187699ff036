//! The worker's share of the restore budget: read from its Region's budget item when the run
//! starts and at every checkpoint tick (an eventually consistent GetItem of a small item, half a
//! read unit), and applied to the restore limiter. The share is the job's part of the account
//! rate divided by the job's restoring workers ([`thaw_common::budget::Budget::worker_share`]);
//! without a fresh entry for the job, the worker keeps the rate of its job spec.

use thaw_common::budget::{Budget, STALE_AFTER_SECS};

use crate::metrics::Metrics;
use crate::Ctx;

/// The restore rate a worker applies: the budget's share when the job has a fresh entry,
/// otherwise the rate it started with (the job spec's, or the worker's own flag).
pub fn rate_from(budget: &Budget, job: &str, now: i64, fallback: f64) -> f64 {
    budget
        .worker_share(job, now, STALE_AFTER_SECS)
        .filter(|r| r.is_finite() && *r > 0.0)
        .unwrap_or(fallback)
}

/// Reads the budget and applies the share to the restore limiter. A failed read keeps the
/// current rate (the next tick reads again). Does nothing for a job without a budget, a worker
/// given `--restore-rate`, or once every key of the lot is done, failed or has its restore
/// requested (a worker that only polls and copies reads nothing: its coordinator no longer
/// counts it either).
pub async fn apply_share(ctx: &Ctx) {
    let Some(region) = &ctx.restore_budget else {
        return;
    };
    let cp = ctx.tracker.snapshot();
    if cp.restores_all_requested(cp.counters.keys_total) {
        return;
    }
    Metrics::inc(&ctx.metrics.ddb_read);
    match ctx.table.get_budget(region).await {
        Ok(budget) => {
            let rate = rate_from(
                &budget,
                &ctx.spec.job_id,
                ctx.table.now(),
                ctx.settings.restore_rate,
            );
            if ctx.restore_limiter.set_rate(rate) {
                tracing::info!(
                    lot = ctx.lot,
                    restore_rate = (rate * 1000.0).round() / 1000.0,
                    "restore share changed"
                );
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the restore budget failed; keeping the current rate")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::budget::JobDemand;

    #[test]
    fn the_share_or_the_spec_rate() {
        let mut b = Budget::default();
        assert_eq!(rate_from(&b, "j", 100, 2.5), 2.5);
        b.jobs.insert(
            "j".into(),
            JobDemand {
                rate: 100.0,
                restoring: 4,
                at: 100,
            },
        );
        assert_eq!(rate_from(&b, "j", 100, 2.5), 25.0);
        // Stale: back to the spec's rate.
        assert_eq!(rate_from(&b, "j", 100 + STALE_AFTER_SECS + 1, 2.5), 2.5);
        // A zero rate never reaches the limiter (it would mean unlimited).
        b.jobs.get_mut("j").expect("entry").rate = 0.0;
        assert_eq!(rate_from(&b, "j", 100, 2.5), 2.5);
    }
}
