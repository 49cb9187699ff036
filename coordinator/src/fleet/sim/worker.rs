//! The worker in the model: what one run of a lot does, pass by pass, as thaw's worker does it
//! (`worker/src/passes.rs`): the first pass sends the lot's restore requests at the worker's
//! share of the restore rate; each later pass HEADs the keys still waiting and copies those whose
//! restore completed; between passes the worker sleeps the class's poll delay
//! (`thaw_common::spec::poll_delay`) unless that would pass `--max-wait`, and then it checkpoints
//! as WAITING with `next_check_at` one poll delay away and exits.

use std::time::Duration;

use thaw_common::spec::poll_delay;
use thaw_common::storage::RestoreTier;

use super::model::{Archive, AwsModel};
use super::restores::Restores;

/// Keys closer than this to a whole count are that count (expected values are fractions).
pub const EPSILON: f64 = 1e-6;

/// One lot in the model.
#[derive(Debug, Clone)]
pub struct LotModel {
    /// Keys in the lot.
    pub keys: f64,
    /// Its restore requests.
    pub restores: Restores,
    /// Keys copied.
    pub copied: f64,
    /// When the last copy pass began: every restore completed by then is copied.
    pub copied_through: Option<f64>,
    /// The run working on it.
    pub run: Option<usize>,
}

impl LotModel {
    /// A lot of `keys` keys whose restores complete `lo..hi` seconds after their request.
    pub fn new(keys: f64, lo: f64, hi: f64) -> Self {
        Self {
            keys,
            restores: Restores::new(lo, hi),
            copied: 0.0,
            copied_through: None,
            run: None,
        }
    }

    /// Keys whose restore was not requested yet.
    pub fn to_request(&self, archive: Archive) -> f64 {
        if archive == Archive::None {
            return 0.0;
        }
        (self.keys - self.restores.requested()).max(0.0)
    }

    /// Keys copied or not yet.
    pub fn finished(&self) -> bool {
        self.keys - self.copied < EPSILON
    }

    /// Keys readable now and not copied yet.
    pub fn ready(&self, archive: Archive, now: f64) -> f64 {
        let readable = match archive {
            Archive::None => self.keys,
            _ => self.restores.completed(now),
        };
        (readable - self.copied).max(0.0)
    }
}

/// What a run is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Its task is starting.
    Starting,
    /// Sending restore requests at `pace` per second since `since`, `left` still to send.
    Requesting {
        /// When the current pace began.
        since: f64,
        /// Requests per second.
        pace: f64,
        /// Requests left when the current pace began.
        left: f64,
    },
    /// Copying the `ready` keys found restored at the pass's start.
    Copying {
        /// Keys copied by this pass.
        ready: f64,
        /// When it began (the keys restored by then).
        since: f64,
    },
    /// Sleeping until its next poll.
    Sleeping,
    /// Exited.
    Done,
}

/// One run of a lot: a task from RunTask to its exit.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its lot.
    pub lot: usize,
    /// When RunTask was called.
    pub launched: f64,
    /// When the worker started.
    pub started: f64,
    /// What it is doing.
    pub phase: Phase,
    /// Bumped by every pace change (older pass ends are ignored).
    pub generation: u64,
    /// The restore share it last learned.
    pub share: f64,
}

/// The worker's own limits and the job's class, tier and settings.
#[derive(Debug, Clone)]
pub struct WorkerModel {
    /// The archive class restored from.
    pub archive: Archive,
    /// The restore tier.
    pub tier: RestoreTier,
    /// Keys in flight per worker.
    pub concurrency: f64,
    /// `--max-wait` in seconds.
    pub max_wait: f64,
    /// `--poll-interval` override.
    pub poll_interval: Option<u64>,
    /// Mean object size, bytes.
    pub object_bytes: f64,
}

impl WorkerModel {
    /// The poll delay the worker uses (DEEP_ARCHIVE Expedited falls back to Standard).
    pub fn poll_delay(&self) -> f64 {
        let tier = match self.tier {
            RestoreTier::Expedited if self.archive == Archive::Deep => RestoreTier::Standard,
            t => t,
        };
        let d: Duration = poll_delay(self.archive.class(), tier, self.poll_interval);
        d.as_secs_f64()
    }

    /// Restore requests per second one worker can send at most (HEAD then RESTORE per key,
    /// `concurrency` keys in flight).
    pub fn restore_cap(&self, m: &AwsModel) -> f64 {
        self.concurrency / (m.head_secs + m.restore_secs)
    }

    /// Seconds a copy pass takes: HEAD of every waiting key and COPY of the `ready` ones,
    /// `concurrency` at a time, and no faster than `copy_rate` COPYs per second.
    pub fn copy_pass_secs(&self, m: &AwsModel, waiting: f64, ready: f64, copy_rate: f64) -> f64 {
        let by_latency =
            (waiting * m.head_secs + ready * m.copy_secs(self.object_bytes)) / self.concurrency;
        let by_rate = if copy_rate > 0.0 {
            ready / copy_rate
        } else {
            0.0
        };
        by_latency.max(by_rate)
    }

    /// After a pass at `now` of a run that started at `started`, with `waiting` keys still
    /// restoring: `Ok(at)` to poll again at `at` within the run, `Err(next_check)` to exit as
    /// WAITING (the next poll would pass `--max-wait`).
    pub fn after_pass(&self, started: f64, now: f64) -> Result<f64, f64> {
        let delay = self.poll_delay();
        if (now - started) + delay > self.max_wait {
            Err(now + delay)
        } else {
            Ok(now + delay)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glacier_bulk() -> WorkerModel {
        WorkerModel {
            archive: Archive::Glacier,
            tier: RestoreTier::Bulk,
            concurrency: 64.0,
            max_wait: 600.0,
            poll_interval: None,
            object_bytes: 1e6,
        }
    }

    #[test]
    fn bulk_runs_exit_waiting_and_expedited_runs_poll_within_max_wait() {
        let w = glacier_bulk();
        assert_eq!(w.after_pass(0.0, 100.0), Err(100.0 + 12.0 * 3600.0));
        let e = WorkerModel {
            tier: RestoreTier::Expedited,
            ..glacier_bulk()
        };
        assert_eq!(e.after_pass(0.0, 100.0), Ok(160.0));
        assert_eq!(e.after_pass(0.0, 590.0), Err(650.0));
    }

    #[test]
    fn a_copy_pass_is_bounded_by_latency_and_by_the_copy_rate() {
        let m = AwsModel::default();
        let w = glacier_bulk();
        let fast = w.copy_pass_secs(&m, 5000.0, 5000.0, 1e9);
        assert!((fast - 5000.0 * (0.02 + 0.06) / 64.0).abs() < 1e-9);
        assert_eq!(w.copy_pass_secs(&m, 5000.0, 5000.0, 10.0), 500.0);
        let mut lot = LotModel::new(10.0, 1.0, 1.0);
        assert_eq!(lot.to_request(Archive::Glacier), 10.0);
        lot.restores.record(0.0, 0.0, 10.0);
        assert_eq!(lot.ready(Archive::Glacier, 2.0), 10.0);
        assert_eq!(lot.to_request(Archive::None), 0.0);
    }
}
