//! What a simulated job came to: the timeline, the fleet and the requests, plus the invariants
//! the simulation checked on the way; and how `estimate` prints it.

use std::fmt::Write;

/// The outcome of one simulated job.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Timeline {
    /// Keys in the job.
    pub keys: u64,
    /// Lots.
    pub lots: u64,
    /// The window (`--max-tasks`): most lots with a live task at once.
    pub window: u64,
    /// The job's restore rate, requests per second.
    pub restore_rate: f64,
    /// The account's restore rate in the model.
    pub account_restore_rate: f64,
    /// Hours until the last restore request (0 without restores).
    pub restores_requested_h: f64,
    /// Restore requests per second over that time, against the account's rate.
    pub restore_utilization: f64,
    /// Hours until the first copy.
    pub first_copy_h: f64,
    /// Hours until every key is copied.
    pub done_h: f64,
    /// Most tasks starting or running at once.
    pub peak_tasks: u64,
    /// RunTask launches.
    pub launches: u64,
    /// Launches refused for the running-task quota.
    pub refused_launches: u64,
    /// Runs that copied nothing and requested nothing (started too early).
    pub idle_runs: u64,
    /// The most launches one lot had.
    pub max_launches_per_lot: u64,
    /// `follow`'s readiness looks at WAITING lots that were due.
    pub readiness_looks: u64,
    /// Of those, the ones that found the lot not worth a task yet.
    pub deferred_looks: u64,
    /// S3 ListObjectsV2 pages of those looks.
    pub s3_lists: u64,
    /// Billed Fargate task-hours.
    pub task_hours: f64,
    /// Their price.
    pub fargate_usd: f64,
    /// S3 HeadObject requests.
    pub s3_heads: u64,
    /// S3 RestoreObject requests.
    pub s3_restores: u64,
    /// S3 CopyObject requests.
    pub s3_copies: u64,
    /// S3 GETs of lot manifests.
    pub s3_manifest_gets: u64,
    /// DynamoDB write requests (claims, checkpoints, final writes).
    pub ddb_writes: u64,
    /// DynamoDB read units of `follow`'s looks.
    pub ddb_read_units: u64,
    /// `follow` looks.
    pub looks: u64,
    /// Checked on the way: most lots with a live task at once.
    pub max_live: u64,
    /// Checked on the way: the most restore requests per second the running workers were
    /// allowed at once (sum of their shares).
    pub max_shares: f64,
    /// Checked on the way: the most restore requests per second the workers sent at once (what
    /// S3 served of their shares: at most the account's rate).
    pub max_sent: f64,
    /// Checked on the way: restored keys copied after their restored copy expired.
    pub expired_uncopied: f64,
    /// Checked on the way: keys copied more than once (a lot copied past its size).
    pub copied_twice: f64,
    /// Keys copied in all.
    pub copied: f64,
}

fn hours(h: f64) -> String {
    if h < 1.0 {
        format!("{:.0} min", h * 60.0)
    } else {
        format!("{h:.1} h")
    }
}

impl Timeline {
    /// The short form `estimate` and `launch --dry-run` print next to the money.
    pub fn short(&self) -> String {
        let mut s = String::new();
        if self.s3_restores > 0 {
            let _ = writeln!(
                s,
                "timeline:       restores requested by {} ({:.0}% of the account's {:.0}/s), first copies at {}, done by {}",
                hours(self.restores_requested_h),
                self.restore_utilization * 100.0,
                self.account_restore_rate,
                hours(self.first_copy_h),
                hours(self.done_h)
            );
        } else {
            let _ = writeln!(
                s,
                "timeline:       first copies at {}, done by {}",
                hours(self.first_copy_h),
                hours(self.done_h)
            );
        }
        let _ = writeln!(
            s,
            "fleet:          {:.0} Fargate task-hours (${:.2}), {} launches, at most {} tasks at once (window {})",
            self.task_hours, self.fargate_usd, self.launches, self.peak_tasks, self.window
        );
        s
    }

    /// The whole report of `estimate --timeline`.
    pub fn long(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simulated job:  {} keys in {} lots, window {} tasks, restore rate {:.0}/s",
            self.keys, self.lots, self.window, self.restore_rate
        );
        s.push_str(&self.short());
        let _ = writeln!(
            s,
            "restores:       {} requested in {:.1} h: {:.0}/s, {:.1}% of the account's {:.0}/s",
            self.s3_restores,
            self.restores_requested_h,
            self.requested_per_sec(),
            self.restore_utilization * 100.0,
            self.account_restore_rate
        );
        let _ = writeln!(
            s,
            "runs:           {} launches ({} refused for the task quota, {} found nothing to do), {} follow looks",
            self.launches, self.refused_launches, self.idle_runs, self.looks
        );
        let _ = writeln!(
            s,
            "readiness:      {} looks at due WAITING lots ({} deferred), at most {} launches for one lot ({:.2} per lot)",
            self.readiness_looks, self.deferred_looks, self.max_launches_per_lot, self.launches_per_lot()
        );
        let _ = writeln!(
            s,
            "S3 requests:    {} HEAD, {} RESTORE, {} COPY, {} LIST, {} manifest GET",
            self.s3_heads, self.s3_restores, self.s3_copies, self.s3_lists, self.s3_manifest_gets
        );
        let _ = writeln!(
            s,
            "DynamoDB:       {} writes, {} read units (follow's looks)",
            self.ddb_writes, self.ddb_read_units
        );
        let _ = writeln!(
            s,
            "checks:         at most {} lots live (window {}), shares summing to at most {:.0} restores/s (rate {:.0}/s), at most {:.0}/s sent, {:.0} keys expired uncopied, {:.0} copied twice",
            self.max_live, self.window, self.max_shares, self.restore_rate, self.max_sent, self.expired_uncopied, self.copied_twice
        );
        s
    }

    /// Launches per lot, on average.
    pub fn launches_per_lot(&self) -> f64 {
        if self.lots > 0 {
            self.launches as f64 / self.lots as f64
        } else {
            0.0
        }
    }

    /// Restore requests per second until the last one.
    pub fn requested_per_sec(&self) -> f64 {
        if self.restores_requested_h > 0.0 {
            self.s3_restores as f64 / (self.restores_requested_h * 3600.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_names_the_timeline_and_the_fleet() {
        let t = Timeline {
            s3_restores: 10,
            restores_requested_h: 2.0,
            first_copy_h: 0.5,
            done_h: 14.0,
            task_hours: 3.0,
            ..Timeline::default()
        };
        let s = t.short();
        assert!(s.contains("restores requested by 2.0 h"), "{s}");
        assert!(s.contains("first copies at 30 min"), "{s}");
        assert!(s.contains("done by 14.0 h"), "{s}");
        assert!(s.contains("3 Fargate task-hours"), "{s}");
        assert_eq!(s.lines().count(), 2);
    }
}
