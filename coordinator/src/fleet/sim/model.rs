//! The model of AWS the simulation runs against: every assumption in one place, with the source
//! it comes from (see `/work/shared/aws-notes.md` and the README's "The 100M-key timeline").
//! Times are seconds of virtual time.

use thaw_common::cost::Prices;
use thaw_common::storage::RestoreTier;

/// Which archive class the job's objects are restored from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// S3 Glacier Flexible Retrieval.
    Glacier,
    /// S3 Glacier Deep Archive.
    Deep,
    /// Readable at once: no restore, copies only.
    None,
}

impl Archive {
    /// The class name `thaw_common::spec::poll_delay` takes.
    pub fn class(self) -> &'static str {
        match self {
            Archive::Deep => "DEEP_ARCHIVE",
            _ => "GLACIER",
        }
    }
}

/// AWS as the simulation sees it. [`AwsModel::default`] holds the documented figures.
#[derive(Debug, Clone)]
pub struct AwsModel {
    /// Restore requests per second for the whole account and Region (S3: about 1,000/s).
    pub account_restore_rate: f64,
    /// Restore completion, from the request, in seconds: uniform over this range. `None`: the
    /// documented range of the class and tier ([`restore_window`]).
    pub restore_window: Option<(f64, f64)>,
    /// COPY requests per second per partitioned prefix (S3: at least 3,500/s).
    pub copy_rate_per_prefix: f64,
    /// Partitioned prefixes the keys spread over (1: every key under one prefix, the worst case).
    pub prefixes: f64,
    /// Seconds from RunTask to a running worker (Fargate: tens of seconds to minutes; billed, as
    /// Fargate bills from the image pull).
    pub task_start_secs: f64,
    /// Tasks the account may run at once (the Fargate vCPU quota divided by the task's vCPU);
    /// RunTask past it is refused.
    pub max_running_tasks: u64,
    /// RunTask: tasks launched per second sustained, after a burst of `launch_burst`.
    pub launch_rate: f64,
    /// RunTask burst.
    pub launch_burst: f64,
    /// Seconds a worker spends before its first key and after its last (spec, manifest, claim,
    /// final checkpoint).
    pub worker_overhead_secs: f64,
    /// HeadObject latency, seconds.
    pub head_secs: f64,
    /// RestoreObject latency, seconds.
    pub restore_secs: f64,
    /// CopyObject latency of an empty object, seconds.
    pub copy_base_secs: f64,
    /// CopyObject throughput inside S3, bytes per second per request.
    pub copy_bytes_per_sec: f64,
    /// Fargate bills at least this many seconds per task.
    pub billing_minimum_secs: f64,
    /// Unit prices (Fargate per vCPU-hour and GB-hour, DynamoDB writes).
    pub prices: Prices,
    /// Bytes of one lot item as `follow` reads it (counters and the bitmaps of a 5,000-key lot).
    pub lot_item_bytes: f64,
}

impl Default for AwsModel {
    fn default() -> Self {
        Self {
            account_restore_rate: 1000.0,
            restore_window: None,
            copy_rate_per_prefix: 3500.0,
            prefixes: 1.0,
            task_start_secs: 60.0,
            max_running_tasks: 1000,
            launch_rate: 20.0,
            launch_burst: 100.0,
            worker_overhead_secs: 5.0,
            head_secs: 0.02,
            restore_secs: 0.03,
            copy_base_secs: 0.05,
            copy_bytes_per_sec: 100e6,
            billing_minimum_secs: 60.0,
            prices: Prices::default(),
            lot_item_bytes: 2048.0,
        }
    }
}

impl AwsModel {
    /// Restore completion range in seconds for `archive` at `tier` (the override when set).
    pub fn restore_range(&self, archive: Archive, tier: RestoreTier) -> (f64, f64) {
        self.restore_window
            .unwrap_or_else(|| restore_window(archive, tier))
    }

    /// Seconds one CopyObject of `size` bytes takes.
    pub fn copy_secs(&self, size: f64) -> f64 {
        self.copy_base_secs + size / self.copy_bytes_per_sec
    }

    /// COPY requests per second the whole fleet may send.
    pub fn fleet_copy_rate(&self) -> f64 {
        self.copy_rate_per_prefix * self.prefixes.max(1.0)
    }

    /// Billed seconds of a task that lived `secs` (from RunTask to its exit).
    pub fn billed_secs(&self, secs: f64) -> f64 {
        secs.max(self.billing_minimum_secs).ceil()
    }

    /// Price of one task-hour of `vcpu` and `gb` (Spot: less the Spot discount).
    pub fn task_hour_price(&self, vcpu: f64, gb: f64, spot: bool) -> f64 {
        let p = &self.prices;
        let on_demand = vcpu * p.fargate_vcpu_hour + gb * p.fargate_gb_hour;
        if spot {
            on_demand * (1.0 - p.spot_discount)
        } else {
            on_demand
        }
    }
}

/// The documented restore times of `archive` at `tier` as a uniform range in seconds
/// ([`RestoreTier::restore_secs`]). No restore: zero.
pub fn restore_window(archive: Archive, tier: RestoreTier) -> (f64, f64) {
    match archive {
        Archive::None => (0.0, 0.0),
        _ => tier.restore_secs(archive.class()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_has_a_one_minute_floor() {
        let m = AwsModel::default();
        assert_eq!(m.billed_secs(5.0), 60.0);
        assert_eq!(m.billed_secs(90.2), 91.0);
    }

    #[test]
    fn deep_archive_has_no_expedited_window() {
        assert_eq!(
            restore_window(Archive::Deep, RestoreTier::Expedited),
            restore_window(Archive::Deep, RestoreTier::Standard)
        );
        let m = AwsModel {
            restore_window: Some((1.0, 2.0)),
            ..AwsModel::default()
        };
        assert_eq!(
            m.restore_range(Archive::Glacier, RestoreTier::Bulk),
            (1.0, 2.0)
        );
    }
}
