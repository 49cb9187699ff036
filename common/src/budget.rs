//! The restore budget: how the account's RestoreObject rate (about 1,000 requests per second per
//! account and Region) is shared, first between the jobs of a table and Region, then between the
//! workers of a job that are still sending restore requests. Pure: facts in, shares out.
//!
//! Each Region has one budget item in the progress table (see [`crate::progress`]): the account
//! rate and, per live job, what it asks for (`rate`, its `--restore-rate`), how many of its
//! workers are restoring, and when its coordinator last said so. An entry not refreshed within
//! [`STALE_AFTER_SECS`] is ignored: a job whose `follow` stopped gives its share back.

use std::collections::BTreeMap;

/// The account's RestoreObject rate per Region when `init --account-restore-rate` did not set
/// one: AWS documents about 1,000 requests per second.
pub const DEFAULT_ACCOUNT_RATE: f64 = 1000.0;

/// Seconds after which a job's entry no longer counts (its coordinator stopped refreshing it).
pub const STALE_AFTER_SECS: i64 = 600;

/// Seconds after which an entry is removed from the budget item by the next coordinator that
/// refreshes its own (a job whose `follow` ended or was stopped for a day): without it the item
/// would grow by one entry per job forever, towards DynamoDB's 400 KB item limit (~6,000 jobs),
/// and every read of it would cost more.
pub const PRUNE_AFTER_SECS: i64 = 86_400;

/// How often a coordinator refreshes its job's entry when nothing changed (well within
/// [`STALE_AFTER_SECS`]).
pub const REFRESH_SECS: i64 = STALE_AFTER_SECS / 4;

/// One job's entry in its Region's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobDemand {
    /// The job's own cap (`--restore-rate`), restore requests per second.
    pub rate: f64,
    /// Workers of the job that are sending restore requests (running with keys whose restore is
    /// not requested yet; tasks still starting are not counted, except by `launch`, which
    /// registers the workers it starts before any runs).
    pub restoring: u32,
    /// When the job's coordinator last wrote the entry (epoch seconds).
    pub at: i64,
}

impl JobDemand {
    /// True when the entry was refreshed within `stale_after` seconds of `now`.
    pub fn is_fresh(&self, now: i64, stale_after: i64) -> bool {
        now - self.at <= stale_after
    }
}

/// A Region's budget: the account rate and the live jobs' entries, by job id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Budget {
    /// The account's rate, restore requests per second (`None`: [`DEFAULT_ACCOUNT_RATE`]).
    pub account_rate: Option<f64>,
    /// Entries by job id.
    pub jobs: BTreeMap<String, JobDemand>,
}

impl Budget {
    /// The account rate in force.
    pub fn account_rate(&self) -> f64 {
        self.account_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .unwrap_or(DEFAULT_ACCOUNT_RATE)
    }

    /// Each job's part of the account rate at `now`: max-min fair (a job asking less than an
    /// equal part gets what it asks, the rest is shared by the others), counting only fresh
    /// entries with workers restoring. The parts never sum to more than the account rate.
    pub fn allowances(&self, now: i64, stale_after: i64) -> BTreeMap<String, f64> {
        let demands: Vec<(&str, f64)> = self
            .jobs
            .iter()
            .filter(|(_, d)| d.is_fresh(now, stale_after) && d.restoring > 0)
            .map(|(j, d)| (j.as_str(), d.rate.max(0.0)))
            .collect();
        water_fill(self.account_rate(), &demands)
    }

    /// The restore rate of one worker of `job` at `now`: the job's allowance shared by its
    /// restoring workers. `None` when the job has no fresh entry (a job launched before the
    /// budget existed, or whose coordinator stopped refreshing): its workers keep the rate
    /// written in the job spec.
    ///
    /// A worker asks while its job's entry may still say 0 restoring (it started after the
    /// coordinator's last look): it then counts as the one restoring worker of its job.
    pub fn worker_share(&self, job: &str, now: i64, stale_after: i64) -> Option<f64> {
        let mine = self
            .jobs
            .get(job)
            .filter(|d| d.is_fresh(now, stale_after))?;
        let restoring = mine.restoring.max(1);
        let mut facts = self.clone();
        facts
            .jobs
            .insert(job.to_owned(), JobDemand { restoring, ..*mine });
        let allowance = facts
            .allowances(now, stale_after)
            .get(job)
            .copied()
            .unwrap_or(0.0);
        Some(allowance / f64::from(restoring))
    }
}

impl Budget {
    /// The entries other than `me`'s not refreshed for [`PRUNE_AFTER_SECS`] at `now`, with the
    /// time each was last written (a removal is conditional on it: an entry refreshed meanwhile
    /// stays).
    pub fn prunable(&self, me: &str, now: i64) -> Vec<(String, i64)> {
        self.jobs
            .iter()
            .filter(|(j, d)| j.as_str() != me && now - d.at > PRUNE_AFTER_SECS)
            .map(|(j, d)| (j.clone(), d.at))
            .collect()
    }
}

/// Max-min fair shares of `total` between `demands` (name, wanted): in order of what they want,
/// each gets what it wants or an equal part of what is left, whichever is less.
pub fn water_fill(total: f64, demands: &[(&str, f64)]) -> BTreeMap<String, f64> {
    let mut order: Vec<&(&str, f64)> = demands.iter().collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(b.0)));
    let mut left = total.max(0.0);
    let mut out = BTreeMap::new();
    for (i, (name, want)) in order.iter().enumerate() {
        let equal = left / (order.len() - i) as f64;
        let part = want.min(equal);
        left -= part;
        out.insert((*name).to_owned(), part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rate: f64, restoring: u32, at: i64) -> JobDemand {
        JobDemand {
            rate,
            restoring,
            at,
        }
    }

    fn budget(account: Option<f64>, jobs: &[(&str, JobDemand)]) -> Budget {
        Budget {
            account_rate: account,
            jobs: jobs.iter().map(|(j, d)| ((*j).to_owned(), *d)).collect(),
        }
    }

    #[test]
    fn one_job_shares_its_rate_among_its_restoring_workers() {
        let b = budget(None, &[("a", entry(500.0, 20, 100))]);
        assert_eq!(b.worker_share("a", 100, 600), Some(25.0));
        // Fewer workers restoring: each gets more, the job still at most its rate.
        let b = budget(None, &[("a", entry(500.0, 4, 100))]);
        assert_eq!(b.worker_share("a", 100, 600), Some(125.0));
    }

    #[test]
    fn a_job_never_takes_more_than_the_account() {
        let b = budget(Some(1000.0), &[("a", entry(5000.0, 10, 0))]);
        assert_eq!(b.worker_share("a", 0, 600), Some(100.0));
    }

    #[test]
    fn two_jobs_split_the_account_rate() {
        let b = budget(
            None,
            &[("a", entry(1000.0, 10, 50)), ("b", entry(1000.0, 5, 60))],
        );
        let all = b.allowances(60, 600);
        assert_eq!(all["a"], 500.0);
        assert_eq!(all["b"], 500.0);
        assert_eq!(b.worker_share("a", 60, 600), Some(50.0));
        assert_eq!(b.worker_share("b", 60, 600), Some(100.0));
    }

    #[test]
    fn a_modest_job_leaves_the_rest_to_the_others() {
        let b = budget(
            Some(1000.0),
            &[
                ("small", entry(100.0, 1, 0)),
                ("big", entry(1000.0, 9, 0)),
                ("mid", entry(400.0, 2, 0)),
            ],
        );
        let all = b.allowances(0, 600);
        assert_eq!(all["small"], 100.0);
        assert_eq!(all["mid"], 400.0);
        assert_eq!(all["big"], 500.0);
        assert!(all.values().sum::<f64>() <= 1000.0);
    }

    #[test]
    fn entries_a_day_old_are_pruned_but_never_ones_own() {
        let now = 10 * PRUNE_AFTER_SECS;
        let b = budget(
            None,
            &[
                ("gone", entry(10.0, 0, now - PRUNE_AFTER_SECS - 1)),
                ("stopped", entry(10.0, 2, now - PRUNE_AFTER_SECS)),
                ("live", entry(10.0, 1, now)),
                ("me", entry(10.0, 1, 0)),
            ],
        );
        assert_eq!(
            b.prunable("me", now),
            vec![("gone".to_owned(), now - PRUNE_AFTER_SECS - 1)]
        );
    }

    #[test]
    fn stale_entries_do_not_count() {
        let b = budget(
            None,
            &[
                ("a", entry(1000.0, 10, 1000)),
                ("gone", entry(1000.0, 10, 0)),
            ],
        );
        let all = b.allowances(1000, 600);
        assert_eq!(all.get("gone"), None);
        assert_eq!(all["a"], 1000.0);
        // The stale job's own workers keep the spec's rate.
        assert_eq!(b.worker_share("gone", 1000, 600), None);
        // Exactly at the limit still counts.
        assert_eq!(b.allowances(600, 600).len(), 2);
    }

    #[test]
    fn jobs_with_nothing_to_restore_leave_the_budget_to_others() {
        let b = budget(
            None,
            &[("a", entry(1000.0, 0, 0)), ("b", entry(1000.0, 4, 0))],
        );
        assert_eq!(b.allowances(0, 600)["b"], 1000.0);
        // A worker of `a` that starts before its coordinator counted it: one restoring worker.
        assert_eq!(b.worker_share("a", 0, 600), Some(500.0));
    }

    #[test]
    fn unknown_jobs_keep_their_spec_rate() {
        let b = budget(None, &[("a", entry(1000.0, 4, 0))]);
        assert_eq!(b.worker_share("old", 0, 600), None);
    }

    #[test]
    fn a_bad_account_rate_falls_back_to_the_default() {
        for r in [None, Some(0.0), Some(-1.0), Some(f64::NAN)] {
            assert_eq!(budget(r, &[]).account_rate(), DEFAULT_ACCOUNT_RATE);
        }
        assert_eq!(budget(Some(300.0), &[]).account_rate(), 300.0);
    }

    #[test]
    fn water_fill_never_exceeds_the_total() {
        let demands: Vec<(String, f64)> = (0..50)
            .map(|i| (format!("j{i}"), f64::from(i * 37 % 400)))
            .collect();
        let refs: Vec<(&str, f64)> = demands.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let shares = water_fill(1000.0, &refs);
        let sum: f64 = shares.values().sum();
        assert!(sum <= 1000.0 + 1e-9, "{sum}");
        for (n, d) in &refs {
            assert!(shares[*n] <= *d + 1e-9);
        }
        // Demands above the total's equal part all get the same part.
        let wide = water_fill(90.0, &[("x", 100.0), ("y", 100.0), ("z", 10.0)]);
        assert_eq!(wide["z"], 10.0);
        assert_eq!(wide["x"], 40.0);
        assert_eq!(wide["y"], 40.0);
    }
}
