//! The default window (`--max-tasks`): as many workers as the job's restore rate can keep busy,
//! by Little's law: slots = lots started per second x seconds each lot holds a slot.
//!
//! The restore rate feeds `restore_rate / keys_per_lot` lots per second into the fleet (the
//! account's ~1,000 restores/s is the one rate nothing can raise; [`crate::fleet::pace`] starts
//! new lots at that pace, and the copies follow at the same pace as the restores come due). A
//! slot is taken at one of `follow`'s looks and can be given again only at a look after the
//! worker left, so each run of a lot holds its slot for:
//!
//! - a task start ([`START_SECS`], also the least Fargate bills) and the worker's own start-up
//!   ([`WORKER_START_SECS`]: job spec, manifest, claim);
//! - its work: in the restore run, its keys at its share of the rate. The rate is shared by the
//!   workers sending restores as `follow` counted them at its last look, about one look's
//!   worth of lots (the pace), so each sends its keys in about one `follow` interval (longer
//!   when the rate is too slow to give a look even one lot, shorter never than what one worker
//!   sustains: `concurrency / RESTORE_KEY_SECS` keys per second); in the copy run, its keys at
//!   `concurrency / COPY_KEY_SECS` keys per second;
//! - half a `follow` interval on average between the worker's exit and the look that gives its
//!   slot to the next lot.
//!
//! A lot runs twice (its worker leaves as WAITING when its restores take longer than
//! `--max-wait`: GLACIER and DEEP_ARCHIVE Bulk and Standard, hours); when they come back within
//! it (Expedited), one task does both and also holds its slot while it waits. For 100M keys in
//! 20,000 lots of 5,000 at 1,000 restores/s, 64 keys in flight, looks every 30 s:
//! 0.2 lots/s x (2 x (60 + 5 + 15) + 30 + 15.6 s) = 41.1, a window of 42 tasks. The fleet
//! simulation of that job ([`crate::fleet::sim`]) uses 98% of the rate with 41 slots and 99.9%
//! with 42.

/// Seconds from RunTask to a worker at work on Fargate (image pull and start), and the least
/// Fargate bills a task anyway (one minute).
pub const START_SECS: f64 = 60.0;
/// Seconds a worker spends starting before its first request (job spec, manifest, claim).
pub const WORKER_START_SECS: f64 = 5.0;
/// Seconds one key holds one of a worker's `concurrency` slots in its restore run (HeadObject,
/// then RestoreObject: two requests of some 50 ms each).
pub const RESTORE_KEY_SECS: f64 = 0.1;
/// Seconds one key holds one of a worker's slots in its copy run (HeadObject, then CopyObject
/// of an object of a few MB).
pub const COPY_KEY_SECS: f64 = 0.2;
/// `follow --interval`'s default: the longest pause between two looks, seconds.
pub const FOLLOW_INTERVAL_SECS: u64 = 30;

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
    /// Seconds between `follow`'s looks (`follow --interval`).
    pub interval_secs: u64,
}

impl Sizing {
    /// Seconds one lot holds a slot of the window, over its restore and copy runs.
    pub fn slot_secs(&self) -> f64 {
        let runs = if self.one_task() { 1.0 } else { 2.0 };
        self.task_secs() + runs * self.interval_secs as f64 / 2.0
    }

    /// Seconds of Fargate one lot is billed, over its restore and copy runs (its slot less the
    /// wait for `follow`'s next look once its worker left).
    pub fn task_secs(&self) -> f64 {
        let keys = self.keys_per_lot();
        let in_flight = self.concurrency.max(1) as f64;
        let copy = keys * COPY_KEY_SECS / in_flight;
        let start = START_SECS + WORKER_START_SECS;
        if self.one_task() {
            // one task: restores, waits for them, copies
            start + self.restore_secs() + self.poll_secs as f64 + copy
        } else {
            // a restore task, and a copy task once the restores are due
            2.0 * start + self.restore_secs() + copy
        }
    }

    /// Seconds a lot's restore requests take at its share: one look's worth of lots share the
    /// rate, so about one interval (the lot's keys at the whole rate when the rate starts less
    /// than a lot a look), and never less than one worker needs for them.
    pub fn restore_secs(&self) -> f64 {
        let keys = self.keys_per_lot();
        let by_worker = keys * RESTORE_KEY_SECS / self.concurrency.max(1) as f64;
        let at_rate = keys / self.restore_rate.max(f64::MIN_POSITIVE);
        by_worker.max(at_rate).max(self.interval_secs as f64)
    }

    /// Whether one task restores and copies (the restores come back within `--max-wait`).
    fn one_task(&self) -> bool {
        self.poll_secs <= self.max_wait_secs
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
    /// after 12 h), the default 64 keys in flight, 600 s of `--max-wait` and looks every 30 s.
    fn hundred_million() -> Sizing {
        Sizing {
            restore_rate: 1000.0,
            lots: 20_000,
            keys_total: 100_000_000,
            concurrency: 64,
            max_wait_secs: 600,
            poll_secs: 12 * 3600,
            interval_secs: 30,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_100m_key_window() {
        let s = hundred_million();
        assert_eq!(s.keys_per_lot(), 5000.0);
        assert!(close(s.lots_per_sec(), 0.2));
        // six lots a look share the rate: 5,000 keys at 1,000/6 a second
        assert!(close(s.restore_secs(), 30.0), "{}", s.restore_secs());
        // 2 x (60 + 5) + 30 + 5000 x 0.2 / 64 = 175.625 s of task, and half a look per run
        assert!(close(s.task_secs(), 175.625), "{}", s.task_secs());
        assert!(close(s.slot_secs(), 205.625), "{}", s.slot_secs());
        assert_eq!(s.default_window(), 42); // 0.2 x 205.6 = 41.1
                                            // some 976 task-hours, against ~556,000 with every lot started at once
        let task_hours = f64::from(s.lots) * s.task_secs() / 3600.0;
        assert!((task_hours - 975.694).abs() < 1e-3, "{task_hours}");
    }

    #[test]
    fn the_window_follows_the_rate_the_looks_and_the_wait() {
        let mut slow = hundred_million();
        slow.restore_rate = 100.0;
        // less than a lot a look: a lot's keys at the whole rate, 50 s
        assert!(close(slow.restore_secs(), 50.0));
        assert_eq!(slow.default_window(), 5); // 0.02 x (130 + 50 + 15.6 + 30) = 4.5
        let mut rare = hundred_million();
        rare.interval_secs = 120;
        assert_eq!(rare.default_window(), 78); // 0.2 x (130 + 120 + 15.6 + 2 x 60) = 77.1
        let mut fast = hundred_million();
        fast.concurrency = 4; // one worker needs 125 s for its restores
        assert!(close(fast.restore_secs(), 125.0));
        // Expedited: the restores come back within --max-wait, one task waits and copies
        let mut e = hundred_million();
        e.poll_secs = 300;
        // 0.2 x (65 + 30 + 300 + 15.6 + 15) = 85.1
        assert_eq!(e.default_window(), 86);
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
            interval_secs: 30,
        };
        // 50 lots/s would want thousands of slots: never more than the lots
        assert_eq!(small.default_window(), 12);
        let empty = Sizing {
            lots: 0,
            keys_total: 0,
            concurrency: 0,
            restore_rate: 0.0,
            interval_secs: 0,
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
