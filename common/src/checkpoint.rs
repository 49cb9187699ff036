//! A lot's progress as it is checkpointed: state, counters, and which keys are finished or failed.
//!
//! One DynamoDB item per lot holds all of it (see [`crate::progress`]); the worker rewrites it every
//! few seconds, so a killed lot re-runs without redoing finished keys.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::bitmap::Bitmap;
use crate::verify::MISMATCH_CODE;

/// Lifecycle of a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LotState {
    /// Recorded, not launched yet.
    Pending,
    /// A task (or local process) was started for it.
    Launched,
    /// Its worker is processing keys.
    Running,
    /// Restores are still under way; relaunch after `next_check_at`.
    Waiting,
    /// Every key is in the target class.
    Succeeded,
    /// Finished, with failed keys recorded (or the worker could not run at all).
    Failed,
    /// Stopped by SIGTERM/SIGINT (e.g. a Spot interruption) with its checkpoint flushed.
    Interrupted,
    /// Stopped by `coordinator cancel`.
    Cancelled,
}

impl LotState {
    /// Every state, in lifecycle order.
    pub const ALL: [LotState; 8] = [
        LotState::Pending,
        LotState::Launched,
        LotState::Running,
        LotState::Waiting,
        LotState::Succeeded,
        LotState::Failed,
        LotState::Interrupted,
        LotState::Cancelled,
    ];

    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            LotState::Pending => "PENDING",
            LotState::Launched => "LAUNCHED",
            LotState::Running => "RUNNING",
            LotState::Waiting => "WAITING",
            LotState::Succeeded => "SUCCEEDED",
            LotState::Failed => "FAILED",
            LotState::Interrupted => "INTERRUPTED",
            LotState::Cancelled => "CANCELLED",
        }
    }

    /// True while a task may be working on the lot.
    pub fn is_active(self) -> bool {
        matches!(self, LotState::Launched | LotState::Running)
    }
}

impl fmt::Display for LotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LotState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LotState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown lot state '{s}'"))
    }
}

/// Per-lot counters, as shown by `status` and summed into job totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Keys in the lot.
    pub keys_total: u64,
    /// Restore requests S3 accepted (202) for this lot.
    pub restore_requested: u64,
    /// Keys copied after a restore.
    pub restored: u64,
    /// Keys copied into the target class (restored or not).
    pub copied: u64,
    /// Keys already in the target class.
    pub skipped: u64,
    /// Keys that failed (codes in the checkpoint).
    pub failed: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Tries of keys sent back for a later pass because AWS throttled them (or answered a 5xx,
    /// timed out, or could not be reached): weather, not failure (see [`crate::weather`]).
    #[serde(default)]
    pub throttled: u64,
    /// Restores asked for at the Standard tier instead of the job's Expedited one (no Expedited
    /// capacity, or a DEEP_ARCHIVE object, which has no Expedited tier).
    #[serde(default)]
    pub tier_fallbacks: u64,
    /// Copies whose ETag was the source's (see [`crate::verify`]).
    #[serde(default)]
    pub verified_etag: u64,
    /// Copies whose full-object checksum was the source's.
    #[serde(default)]
    pub verified_checksum: u64,
    /// Copies nothing S3 said could be compared with their source.
    #[serde(default)]
    pub not_comparable: u64,
}

impl Counters {
    /// Keys finished one way or another.
    pub fn done(&self) -> u64 {
        self.copied + self.skipped + self.failed
    }

    /// Adds another lot's counters (for job totals).
    pub fn add(&mut self, o: &Counters) {
        self.keys_total += o.keys_total;
        self.restore_requested += o.restore_requested;
        self.restored += o.restored;
        self.copied += o.copied;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.bytes_copied += o.bytes_copied;
        self.throttled += o.throttled;
        self.tier_fallbacks += o.tier_fallbacks;
        self.verified_etag += o.verified_etag;
        self.verified_checksum += o.verified_checksum;
        self.not_comparable += o.not_comparable;
    }
}

/// Keys that failed with one error code, and one message to show for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedGroup {
    /// A message S3 (or thaw) gave for this code.
    pub message: String,
    /// Which manifest positions failed with this code.
    pub keys: Bitmap,
}

/// Most distinct error codes kept per lot; further codes are folded into `Other`.
pub const MAX_FAILURE_CODES: usize = 8;
/// Longest message kept per code.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// What a lot has finished so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotCheckpoint {
    /// Keys that reached the target class (copied or skipped): never touched again.
    pub done: Bitmap,
    /// The done keys that needed no copy (already in the target class, or their copy already
    /// at the destination), so reports can tell them from the copied ones.
    pub skipped: Bitmap,
    /// Keys whose restore this lot requested (so it is not requested twice).
    pub restore_requested: Bitmap,
    /// Failed keys grouped by error code; retried by the next run.
    pub failed: BTreeMap<String, FailedGroup>,
    /// Counters matching the bitmaps.
    pub counters: Counters,
    /// When this lot last sent restore requests (epoch seconds): requests are not repeated while
    /// the restored copies are still valid.
    pub restore_requested_at: Option<i64>,
    /// When this lot last had a restore request accepted (epoch seconds): `follow` counts the
    /// longest a restore takes from then.
    pub restore_last_requested_at: Option<i64>,
    /// AWS requests made for this lot by operation, summed over all its runs (for the report).
    pub requests: BTreeMap<String, u64>,
    /// Skipped keys the job left where they are (`--min-size`, `--min-age`), by reason (stored
    /// in the lot item under [`crate::leave_out::LeftOutReason::code`]).
    pub left_out: BTreeMap<crate::leave_out::LeftOutReason, Bitmap>,
}

impl LotCheckpoint {
    /// An empty checkpoint for a lot of `keys` keys.
    pub fn new(keys: usize) -> Self {
        Self {
            done: Bitmap::new(keys),
            skipped: Bitmap::new(keys),
            restore_requested: Bitmap::new(keys),
            failed: BTreeMap::new(),
            counters: Counters {
                keys_total: keys as u64,
                ..Counters::default()
            },
            restore_requested_at: None,
            restore_last_requested_at: None,
            requests: BTreeMap::new(),
            left_out: BTreeMap::new(),
        }
    }

    /// Key `i` is left where it is for `reason`: done, skipped, and why.
    pub fn record_left_out(&mut self, i: usize, reason: crate::leave_out::LeftOutReason) {
        if self.done.get(i) {
            return;
        }
        self.done.set(i, true);
        self.skipped.set(i, true);
        self.counters.skipped += 1;
        let len = self.done.len();
        self.left_out
            .entry(reason)
            .or_insert_with(|| Bitmap::new(len))
            .set(i, true);
    }

    /// Why key `i` was left where it is, if it was.
    pub fn left_out_of(&self, i: usize) -> Option<crate::leave_out::LeftOutReason> {
        self.left_out
            .iter()
            .find(|(_, keys)| keys.get(i))
            .map(|(reason, _)| *reason)
    }

    /// Records a failure of key `i`. A [`MISMATCH_CODE`] failure keeps its own group whatever
    /// the number of codes: it is what keeps the key from ever being judged again.
    pub fn record_failure(&mut self, i: usize, code: &str, message: &str) {
        let code = if code == MISMATCH_CODE
            || self.failed.contains_key(code)
            || self.failed.len() < MAX_FAILURE_CODES
        {
            code
        } else {
            "Other"
        };
        let len = self.done.len();
        let group = self
            .failed
            .entry(code.to_owned())
            .or_insert_with(|| FailedGroup {
                message: message.chars().take(MAX_MESSAGE_CHARS).collect(),
                keys: Bitmap::new(len),
            });
        if !group.keys.get(i) {
            group.keys.set(i, true);
            self.counters.failed += 1;
        }
    }

    /// The failure recorded for key `i`, if any.
    pub fn failure_of(&self, i: usize) -> Option<(&str, &str)> {
        self.failed
            .iter()
            .find(|(_, g)| g.keys.get(i))
            .map(|(c, g)| (c.as_str(), g.message.as_str()))
    }

    /// True when every key of the lot (`keys_total`) is done, failed, or has its restore
    /// requested: the lot sends no more restore requests (it polls and copies).
    pub fn restores_all_requested(&self, keys_total: u64) -> bool {
        let len = self.done.len();
        if (len as u64) < keys_total {
            return false; // no checkpoint written yet
        }
        let failed = |i: usize| self.failed.values().any(|g| g.keys.get(i));
        (0..len).all(|i| self.done.get(i) || self.restore_requested.get(i) || failed(i))
    }

    /// Keys whose restore was requested and that are not done: the lot's waiting keys (what
    /// `follow` weighs events and restore expiry against). Byte by byte: a 5,000-key lot is 625
    /// bytes, and this is asked per lot at every look.
    pub fn restores_waiting(&self) -> u64 {
        let done = self.done.as_bytes();
        self.restore_requested
            .as_bytes()
            .iter()
            .enumerate()
            .map(|(i, r)| u64::from((r & !done.get(i).copied().unwrap_or(0)).count_ones()))
            .sum()
    }

    /// True when key `i`'s copy was found not to be its source ([`MISMATCH_CODE`]): it stays
    /// failed and is never judged again by a later run (in place the bad copy is the current
    /// object in the target class and would be counted skipped; elsewhere the destination is
    /// newer than its source), so the lot cannot end SUCCEEDED over it.
    pub fn is_mismatched(&self, i: usize) -> bool {
        self.failed
            .get(MISMATCH_CODE)
            .is_some_and(|g| g.keys.get(i))
    }

    /// Forgets earlier failures so a new run retries those keys (counters follow), except the
    /// copies found not to be their source: those stay failed ([`Self::is_mismatched`]).
    pub fn clear_failures(&mut self) {
        self.failed.retain(|code, _| code == MISMATCH_CODE);
        self.counters.failed = self.failed.values().map(|g| g.keys.count() as u64).sum();
    }
}

/// The state a lot ends in when its worker stops on its own.
pub fn final_state(c: &Counters, pending: u64) -> LotState {
    if pending > 0 {
        LotState::Waiting
    } else if c.failed > 0 {
        LotState::Failed
    } else {
        LotState::Succeeded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_keys_are_done_skipped_and_say_why() {
        use crate::leave_out::LeftOutReason;
        let mut cp = LotCheckpoint::new(4);
        cp.record_left_out(1, LeftOutReason::MinSize);
        cp.record_left_out(1, LeftOutReason::MinAge);
        cp.record_left_out(2, LeftOutReason::MinAge);
        assert!(cp.done.get(1) && cp.skipped.get(1) && cp.done.get(2));
        assert_eq!(cp.counters.skipped, 2);
        assert_eq!(cp.left_out_of(1), Some(LeftOutReason::MinSize));
        assert_eq!(cp.left_out_of(2), Some(LeftOutReason::MinAge));
        assert_eq!(cp.left_out_of(0), None);
    }

    #[test]
    fn restores_all_requested_once_every_key_is_done_failed_or_requested() {
        let mut cp = LotCheckpoint::new(3);
        assert!(!cp.restores_all_requested(3));
        cp.done.set(0, true);
        cp.restore_requested.set(1, true);
        assert!(!cp.restores_all_requested(3));
        cp.record_failure(2, "AccessDenied", "no");
        assert!(cp.restores_all_requested(3));
        // An item without its bitmaps yet (no checkpoint written) is not done requesting.
        assert!(!LotCheckpoint::new(0).restores_all_requested(3));
    }

    #[test]
    fn states_roundtrip() {
        for s in LotState::ALL {
            assert_eq!(s.as_str().parse::<LotState>(), Ok(s));
        }
        assert!("DONE".parse::<LotState>().is_err());
    }

    #[test]
    fn failures_grouped_and_counted_once() {
        let mut c = LotCheckpoint::new(10);
        c.record_failure(3, "NoSuchKey", "The specified key does not exist.");
        c.record_failure(3, "NoSuchKey", "again");
        c.record_failure(4, "AccessDenied", "denied");
        assert_eq!(c.counters.failed, 2);
        assert_eq!(
            c.failure_of(3),
            Some(("NoSuchKey", "The specified key does not exist."))
        );
        assert_eq!(c.failure_of(5), None);
        c.clear_failures();
        assert_eq!(c.counters.failed, 0);
        assert_eq!(c.failure_of(3), None);
    }

    #[test]
    fn mismatched_copies_stay_failed_through_a_new_run_and_keep_the_lot_failed() {
        let mut c = LotCheckpoint::new(20);
        for i in 0..MAX_FAILURE_CODES {
            c.record_failure(i, &format!("Code{i}"), "m");
        }
        // Even with every code slot taken, a mismatch keeps its own group.
        c.record_failure(12, MISMATCH_CODE, "checksum abc, copy abd");
        assert!(c.is_mismatched(12) && !c.is_mismatched(0));
        assert_eq!(c.counters.failed, MAX_FAILURE_CODES as u64 + 1);
        c.clear_failures();
        assert_eq!(c.failure_of(0), None);
        assert_eq!(
            c.failure_of(12),
            Some((MISMATCH_CODE, "checksum abc, copy abd"))
        );
        assert!(c.is_mismatched(12));
        assert_eq!(c.counters.failed, 1);
        assert_eq!(final_state(&c.counters, 0), LotState::Failed);
    }

    #[test]
    fn codes_are_bounded() {
        let mut c = LotCheckpoint::new(100);
        for i in 0..50 {
            c.record_failure(i, &format!("Code{i}"), &"m".repeat(1000));
        }
        assert_eq!(c.failed.len(), MAX_FAILURE_CODES + 1);
        assert!(c.failed["Code0"].message.len() <= MAX_MESSAGE_CHARS);
        assert_eq!(c.counters.failed, 50);
    }

    #[test]
    fn final_states() {
        let ok = Counters {
            keys_total: 2,
            copied: 2,
            ..Default::default()
        };
        assert_eq!(final_state(&ok, 0), LotState::Succeeded);
        assert_eq!(final_state(&ok, 1), LotState::Waiting);
        let bad = Counters {
            keys_total: 2,
            copied: 1,
            failed: 1,
            ..Default::default()
        };
        assert_eq!(final_state(&bad, 0), LotState::Failed);
    }

    #[test]
    fn active_states_and_display() {
        let active: Vec<_> = LotState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(active, vec![LotState::Launched, LotState::Running]);
        assert_eq!(LotState::Waiting.to_string(), "WAITING");
        assert_eq!(LotState::Cancelled.to_string(), "CANCELLED");
    }

    #[test]
    fn counters_done_and_sum() {
        let a = Counters {
            keys_total: 1,
            restore_requested: 2,
            restored: 3,
            copied: 4,
            skipped: 5,
            failed: 6,
            bytes_copied: 7,
            throttled: 8,
            tier_fallbacks: 9,
            verified_etag: 10,
            verified_checksum: 11,
            not_comparable: 12,
        };
        assert_eq!(a.done(), 4 + 5 + 6);
        let mut sum = a;
        sum.add(&a);
        assert_eq!(
            sum,
            Counters {
                keys_total: 2,
                restore_requested: 4,
                restored: 6,
                copied: 8,
                skipped: 10,
                failed: 12,
                bytes_copied: 14,
                throttled: 16,
                tier_fallbacks: 18,
                verified_etag: 20,
                verified_checksum: 22,
                not_comparable: 24,
            }
        );
    }

    #[test]
    fn the_ninth_code_is_other_and_known_codes_keep_their_group() {
        let mut c = LotCheckpoint::new(20);
        for i in 0..MAX_FAILURE_CODES {
            c.record_failure(i, &format!("Code{i}"), "m");
        }
        assert!(!c.failed.contains_key("Other"));
        // A code already kept keeps its own group even when the table is full.
        c.record_failure(10, "Code0", "m");
        assert_eq!(c.failure_of(10), Some(("Code0", "m")));
        c.record_failure(11, "New", "n");
        assert_eq!(c.failure_of(11), Some(("Other", "n")));
        assert_eq!(c.failed.len(), MAX_FAILURE_CODES + 1);
        // Messages are cut at exactly MAX_MESSAGE_CHARS characters.
        c.record_failure(12, "Code1", "ignored: the group has its message");
        assert_eq!(c.failed["Code1"].message, "m");
        let mut d = LotCheckpoint::new(1);
        d.record_failure(0, "Long", &"é".repeat(MAX_MESSAGE_CHARS + 1));
        assert_eq!(d.failed["Long"].message.chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn counters_add_is_a_sum_not_a_product() {
        // 3 + 3 == 3 * 3 nowhere: a doubled value cannot hide a product.
        let ones = Counters {
            keys_total: 1,
            restore_requested: 1,
            restored: 1,
            copied: 1,
            skipped: 1,
            failed: 1,
            bytes_copied: 1,
            throttled: 1,
            tier_fallbacks: 1,
            verified_etag: 1,
            verified_checksum: 1,
            not_comparable: 1,
        };
        let mut sum = Counters {
            restore_requested: 3,
            ..ones
        };
        sum.add(&ones);
        assert_eq!(sum.restore_requested, 4);
        assert_eq!(sum.keys_total, 2);
    }
}
