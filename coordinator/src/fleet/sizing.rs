//! The default window (`--max-tasks`): as many workers as the job's restore rate can keep busy,
//! by Little's law: slots = lots started per second x seconds each lot holds a slot.
//!
//! The restore rate feeds `restore_rate / keys_per_lot` lots per second into the fleet (the
//! account's ~1,000 restores/s is the one rate nothing can raise; the copies follow at the same
//! pace, as the restores come due). Each lot holds a slot for:
//!
//! - its restore run: a task start ([`START_SECS`]) and its keys at what one worker sustains,
//!   `concurrency / RESTORE_KEY_SECS` keys per second (HeadObject and RestoreObject per key,
//!   `concurrency` keys in flight); the worker then leaves the window as WAITING when its
//!   restores take longer than `--max-wait` (GLACIER and DEEP_ARCHIVE Bulk and Standard: hours);
//! - its copy run: another task start and its keys at `concurrency / COPY_KEY_SECS` keys per
//!   second (HeadObject and CopyObject).
//!
//! When the restores come back within `--max-wait` (Expedited), one task does both and also
//! holds its slot while it waits. For 100M keys in 20,000 lots of 5,000 at 1,000 restores/s,
//! 64 keys in flight: 0.2 lots/s x (60 + 7.8 + 60 + 15.6 s) = 28.7, a window of 29 tasks.

/// Seconds from RunTask to a worker at work on Fargate (image pull and start), and the least
/// Fargate bills a task anyway (one minute).
pub const START_SECS: f64 = 60.0;
/// Seconds one key holds one of a worker's `concurrency` slots in its restore run (HeadObject,
/// then RestoreObject: two requests of some 50 ms each).
pub const RESTORE_KEY_SECS: f64 = 0.1;
/// Seconds one key holds one of a worker's slots in its copy run (HeadObject, then CopyObject
/// of an object of a few MB).
pub const COPY_KEY_SECS: f64 = 0.2;

/// What the default window is chosen from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// Restore requests per second for the whole job (`--restore-rate`).
    pub restore_rate: f64,
    /// Lots of the job.
    pub lots: u32,
    /// Keys of the job.
    pub keys_total: u64,
    /// Keys in flight per worker (`--concurrency`).
    pub concurrency: u64,
    /// Seconds a worker waits for its restores before it leaves as WAITING (`--max-wait`).
    pub max_wait_secs: u64,
    /// Seconds until the job's restores are worth a first look (from the class and tier, or
    /// `--poll-interval`).
    pub poll_secs: u64,
}

impl Sizing {
    /// Seconds one lot holds a slot of the window, over its restore and copy runs.
    pub fn slot_secs(&self) -> f64 {
        let keys = self.keys_per_lot();
        let in_flight = self.concurrency.max(1) as f64;
        let restore = keys * RESTORE_KEY_SECS / in_flight;
        let copy = keys * COPY_KEY_SECS / in_flight;
        if self.poll_secs <= self.max_wait_secs {
            // one task: restores, waits for them, copies
            START_SECS + restore + self.poll_secs as f64 + copy
        } else {
            // a restore task, and a copy task once the restores are due
            2.0 * START_SECS + restore + copy
        }
    }

    /// Lots per second the restore rate starts.
    pub fn lots_per_sec(&self) -> f64 {
        self.restore_rate.max(0.0) / self.keys_per_lot()
    }

    /// Keys in an average lot (at least 1).
    pub fn keys_per_lot(&self) -> f64 {
        (self.keys_total as f64 / f64::from(self.lots.max(1))).max(1.0)
    }

    /// The default `--max-tasks`: `ceil(lots per second x slot seconds)`, at least 1, at most
    /// the job's lots.
    pub fn default_window(&self) -> u32 {
        let slots = (self.lots_per_sec() * self.slot_secs()).ceil();
        let slots = if slots.is_nan() { 1.0 } else { slots };
        (slots.clamp(1.0, f64::from(u32::MAX)) as u32).clamp(1, self.lots.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100M keys in 20,000 lots at the account's 1,000 restores/s, GLACIER Bulk (first look
    /// after 5 h), the default 64 keys in flight and 600 s of `--max-wait`.
    fn hundred_million() -> Sizing {
        Sizing {
            restore_rate: 1000.0,
            lots: 20_000,
            keys_total: 100_000_000,
            concurrency: 64,
            max_wait_secs: 600,
            poll_secs: 5 * 3600,
        }
    }

    #[test]
    fn the_100m_key_window() {
        let s = hundred_million();
        assert_eq!(s.keys_per_lot(), 5000.0);
        assert!((s.lots_per_sec() - 0.2).abs() < 1e-9);
        // 60 + 5000 x 0.1 / 64 + 60 + 5000 x 0.2 / 64 = 143.44 s
        assert!((s.slot_secs() - 143.4375).abs() < 1e-9, "{}", s.slot_secs());
        assert_eq!(s.default_window(), 29);
        // every lot holds a slot that long: some 797 task-hours, against ~556,000 with every
        // lot started at once
        let task_hours = f64::from(s.lots) * s.slot_secs() / 3600.0;
        assert!((task_hours - 796.875).abs() < 1e-6, "{task_hours}");
    }

    #[test]
    fn the_window_follows_the_rate_and_the_wait() {
        let mut s = hundred_million();
        s.restore_rate = 100.0;
        assert_eq!(s.default_window(), 3); // 0.02 x 143.4 = 2.9
                                           // Expedited: the restores come back within --max-wait, one task waits and copies
        let mut e = hundred_million();
        e.poll_secs = 60;
        // 60 + 7.8 + 60 + 15.6 = 143.4 s, the same as two starts here
        assert_eq!(e.default_window(), 29);
        e.poll_secs = 300;
        assert_eq!(e.default_window(), 77); // 0.2 x (60 + 7.8 + 300 + 15.6) = 76.7
    }

    #[test]
    fn small_and_odd_jobs() {
        let small = Sizing {
            restore_rate: 500.0,
            lots: 12,
            keys_total: 120,
            concurrency: 64,
            max_wait_secs: 600,
            poll_secs: 5 * 3600,
        };
        // 50 lots/s would want thousands of slots: never more than the lots
        assert_eq!(small.default_window(), 12);
        let empty = Sizing {
            lots: 0,
            keys_total: 0,
            concurrency: 0,
            restore_rate: 0.0,
            ..small
        };
        assert_eq!(empty.default_window(), 1);
        assert_eq!(
            Sizing {
                restore_rate: f64::INFINITY,
                ..small
            }
            .default_window(),
            12
        );
    }
}
