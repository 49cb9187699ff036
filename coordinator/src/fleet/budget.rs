//! The restore budget, seen from the coordinator: which of a job's lots are still sending
//! restore requests (pure, from the lot items), and keeping the job's entry in its Region's
//! budget item up to date (`launch` registers it, `follow` refreshes it as the running set
//! changes). The shares themselves are computed by [`thaw_common::budget`], the same function the
//! workers apply.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use thaw_common::budget::{JobDemand, REFRESH_SECS};
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};

use crate::job::Job;
use crate::launcher::LaunchSettings;
use crate::liveness::Liveness;

/// The lots of a job that send restore requests now: those just launched (`launched`, or
/// LAUNCHED in the table), and RUNNING lots with a live worker that still have keys whose
/// restore is neither requested nor unneeded. A lot whose every key is done, failed or has its
/// restore requested only polls and copies: it stops counting.
pub fn restoring_lots(
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
    launched: &BTreeSet<u32>,
) -> u32 {
    let counted = lots.iter().filter(|l| {
        launched.contains(&l.lot)
            || match l.state {
                LotState::Launched => true,
                LotState::Running => {
                    !matches!(
                        live.get(&l.lot),
                        Some(Liveness::Stale(_) | Liveness::Interrupted(_))
                    ) && !l.checkpoint.restores_all_requested(l.counters.keys_total)
                }
                _ => false,
            }
    });
    let in_table: BTreeSet<u32> = lots.iter().map(|l| l.lot).collect();
    let extra = launched.iter().filter(|n| !in_table.contains(n)).count();
    u32::try_from(counted.count() + extra).unwrap_or(u32::MAX)
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

/// Re-shares `job`'s restore budget before `starting` lots start (`follow`'s looks, `retry`):
/// counts its restoring lots, those about to start included (at most `--parallel` for a local
/// job), and refreshes its entry. A failure is only logged: the workers keep their share.
pub async fn reshare(
    table: &ProgressTable,
    job: &Job,
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
    starting: &BTreeSet<u32>,
) {
    let Some(region) = &job.spec.restore_budget else {
        return; // launched before the budget: its workers keep their spec's rate
    };
    let mut restoring = restoring_lots(lots, live, starting);
    if let LaunchSettings::Local(s) = &job.settings {
        restoring = restoring.min(u32::try_from(s.parallel).unwrap_or(u32::MAX));
    }
    if let Err(e) = refresh(table, region, &job.spec.job_id, restoring).await {
        tracing::warn!("{e:#}");
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
    if !needs_refresh(budget.jobs.get(job), restoring, table.now()) {
        return Ok(None);
    }
    table
        .set_budget_restoring(region, job, restoring)
        .await
        .with_context(|| format!("refreshing job {job} in the restore budget of {region}"))?;
    Ok(Some(restoring))
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
            lot(2, LotState::Launched, &[], &[]),        // about to start
            lot(3, LotState::Waiting, &[0, 1, 2, 3], &[]), // not running
            lot(4, LotState::Pending, &[], &[]),         // not started
            lot(5, LotState::Running, &[], &[]),         // stale worker
            lot(6, LotState::Succeeded, &[], &[0, 1, 2, 3]), // finished
        ];
        let live = BTreeMap::from([(5, Liveness::Stale("gone".into()))]);
        assert_eq!(restoring_lots(&lots, &live, &BTreeSet::new()), 2);
        // Lots launched in this look count at once, even while their items say otherwise.
        let launched = BTreeSet::from([3, 4, 9]);
        assert_eq!(restoring_lots(&lots, &live, &launched), 5);
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
        assert_eq!(restoring_lots(&[l], &BTreeMap::new(), &BTreeSet::new()), 0);
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
