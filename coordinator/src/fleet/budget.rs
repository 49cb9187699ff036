//! The restore budget, seen from the coordinator: which of a job's lots are still sending
//! restore requests (pure, from the lot items), and keeping the job's entry in its Region's
//! budget item up to date (`launch` registers it, `follow` refreshes it as the running set
//! changes). The shares themselves are computed by [`thaw_common::budget`], the same function the
//! workers apply.

use std::collections::BTreeMap;

use anyhow::Context;
use thaw_common::budget::{JobDemand, REFRESH_SECS};
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};

use crate::job::Job;
use crate::launcher::LaunchSettings;
use crate::liveness::Liveness;

/// The lots of a job that send restore requests now: RUNNING lots with a live worker that still
/// have keys whose restore is neither requested nor unneeded. A lot whose task is still starting
/// (LAUNCHED) sends nothing yet and holds no share: counted, it would slow the senders for the
/// minute its task takes to start (and, since a lot's requests at its share take about one look
/// while its task takes two to start, counting starting tasks even only when none sends dilutes
/// the shares the same way). A worker that starts between two looks reads a share computed
/// without it (see the README's "The restore budget": S3's `503 SlowDown` and the worker's
/// pacing absorb the overshoot). A lot whose every key is done, failed or has its restore
/// requested only polls and copies: it stops counting.
pub fn restoring_lots(lots: &[LotItem], live: &BTreeMap<u32, Liveness>) -> u32 {
    let counted = lots.iter().filter(|l| {
        l.state == LotState::Running
            && !matches!(
                live.get(&l.lot),
                Some(Liveness::Stale(_) | Liveness::Interrupted(_))
            )
            && !l.checkpoint.restores_all_requested(l.counters.keys_total)
    });
    u32::try_from(counted.count()).unwrap_or(u32::MAX)
}

/// Whether the job's entry needs writing: the count changed, or it is due for a refresh.
pub fn needs_refresh(current: Option<&JobDemand>, restoring: u32, now: i64) -> bool {
    match current {
        None => false, // a job without an entry (launched before the budget) keeps its spec rate
        Some(d) => d.restoring != restoring || now - d.at >= REFRESH_SECS,
    }
}

/// Registers the job in its Region's budget: it asks for `rate` restores per second with
/// `restoring` workers (called by `launch` before the workers start).
pub async fn register(
    table: &ProgressTable,
    region: &str,
    job: &str,
    rate: f64,
    restoring: u32,
) -> anyhow::Result<()> {
    let entry = JobDemand {
        rate,
        restoring,
        at: table.now(),
    };
    table
        .put_budget_entry(region, job, &entry)
        .await
        .with_context(|| format!("registering job {job} in the restore budget of {region}"))
}

/// Re-shares `job`'s restore budget (`follow`'s looks, `retry`): counts its workers sending
/// restores (at most `--parallel` for a local job) and refreshes its entry. A failure is only
/// logged: the workers keep their share.
pub async fn reshare(
    table: &ProgressTable,
    job: &Job,
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
) {
    let Some(region) = &job.spec.restore_budget else {
        return; // launched before the budget: its workers keep their spec's rate
    };
    let mut restoring = restoring_lots(lots, live);
    if let LaunchSettings::Local(s) = &job.settings {
        restoring = restoring.min(u32::try_from(s.parallel).unwrap_or(u32::MAX));
    }
    if let Err(e) = refresh(table, region, &job.spec.job_id, restoring).await {
        tracing::warn!("{e:#}");
    }
}

/// The job's restore rate (`--restore-rate`), as its entry in the budget says, or, for a job
/// without one (launched before the budget, or the entry unreadable), its workers' rate in the
/// spec times the workers `launch` gave it to.
pub async fn job_rate(table: &ProgressTable, job: &Job) -> f64 {
    let from_spec = || {
        let at_once = job.spec.lots.min(job.window()).max(1);
        job.spec.worker.restore_rate * f64::from(at_once)
    };
    let Some(region) = &job.spec.restore_budget else {
        return from_spec();
    };
    match table.get_budget(region).await {
        Ok(b) => b
            .jobs
            .get(&job.spec.job_id)
            .map_or_else(from_spec, |d| d.rate),
        Err(e) => {
            tracing::warn!("reading the restore budget of {region}: {e:#}");
            from_spec()
        }
    }
}

/// Refreshes the job's entry when the number of its restoring workers changed or the entry is
/// getting old; returns the count written (`None`: nothing written).
pub async fn refresh(
    table: &ProgressTable,
    region: &str,
    job: &str,
    restoring: u32,
) -> anyhow::Result<Option<u32>> {
    let budget = table
        .get_budget(region)
        .await
        .with_context(|| format!("reading the restore budget of {region}"))?;
    prune(table, region, &budget.prunable(job, table.now())).await;
    if !needs_refresh(budget.jobs.get(job), restoring, table.now()) {
        return Ok(None);
    }
    table
        .set_budget_restoring(region, job, restoring)
        .await
        .with_context(|| format!("refreshing job {job} in the restore budget of {region}"))?;
    Ok(Some(restoring))
}

/// Removes the entries of jobs whose coordinator has not written for a day (see
/// [`thaw_common::budget::PRUNE_AFTER_SECS`]); a failure is only logged.
async fn prune(table: &ProgressTable, region: &str, old: &[(String, i64)]) {
    for (job, at) in old {
        match table.remove_budget_entry(region, job, *at).await {
            Ok(true) => tracing::info!(
                job,
                region,
                "removed a day-old entry from the restore budget"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(job, region, "removing an old restore budget entry: {e:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotCheckpoint;
    use thaw_common::fixtures::LotItemBuilder;

    fn lot(n: u32, state: LotState, requested: &[usize], done: &[usize]) -> LotItem {
        let mut cp = LotCheckpoint::new(4);
        for i in requested {
            cp.restore_requested.set(*i, true);
        }
        for i in done {
            cp.done.set(*i, true);
        }
        LotItemBuilder::new(n, 4)
            .state(state)
            .checkpoint(cp)
            .build()
    }

    #[test]
    fn only_lots_still_requesting_count() {
        let lots = vec![
            lot(0, LotState::Running, &[0, 1], &[]),     // still sending
            lot(1, LotState::Running, &[0, 1], &[2, 3]), // all requested or done
            lot(2, LotState::Launched, &[], &[]),        // task starting: sends nothing yet
            lot(3, LotState::Waiting, &[0, 1, 2, 3], &[]), // not running
            lot(4, LotState::Pending, &[], &[]),         // not started
            lot(5, LotState::Running, &[], &[]),         // stale worker
            lot(6, LotState::Succeeded, &[], &[0, 1, 2, 3]), // finished
        ];
        let live = BTreeMap::from([(5, Liveness::Stale("gone".into()))]);
        assert_eq!(restoring_lots(&lots, &live), 1);
        // the same worker, once it heartbeats again
        assert_eq!(restoring_lots(&lots, &BTreeMap::new()), 2);
        // Tasks starting hold no share, even while nobody sends yet.
        let starting = vec![
            lot(0, LotState::Launched, &[], &[]),
            lot(1, LotState::Launched, &[0], &[]),
        ];
        assert_eq!(restoring_lots(&starting, &BTreeMap::new()), 0);
    }

    #[test]
    fn failed_keys_are_no_longer_requesting() {
        let mut cp = LotCheckpoint::new(2);
        cp.done.set(0, true);
        cp.record_failure(1, "AccessDenied", "no");
        let l = LotItemBuilder::new(0, 2)
            .state(LotState::Running)
            .checkpoint(cp)
            .build();
        assert_eq!(restoring_lots(&[l], &BTreeMap::new()), 0);
    }

    #[test]
    fn refresh_when_the_count_changes_or_the_entry_ages() {
        let d = JobDemand {
            rate: 100.0,
            restoring: 3,
            at: 1000,
        };
        assert!(!needs_refresh(Some(&d), 3, 1000 + REFRESH_SECS - 1));
        assert!(needs_refresh(Some(&d), 3, 1000 + REFRESH_SECS));
        assert!(needs_refresh(Some(&d), 2, 1001));
        assert!(!needs_refresh(None, 2, 1001));
    }
}
