//! The worker's in-memory view of its lot's progress, shared by every in-flight key and written
//! to DynamoDB by the checkpoint flusher every few seconds (never once per key).

use std::sync::Mutex;

use thaw_common::checkpoint::{LotCheckpoint, LotState};
use thaw_common::progress::now_secs;
use thaw_common::proof_record::KeyProof;
use thaw_common::verify::{By, Proof};

/// Progress of the lot, behind a lock held only for bit flips and counter bumps.
#[derive(Debug)]
pub struct Tracker {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    cp: LotCheckpoint,
    dirty: bool,
    /// The proofs of this run's copies, for the report (written once, at the end of the run).
    proofs: Vec<KeyProof>,
}

impl Tracker {
    /// Starts from a checkpoint read from the table.
    pub fn new(cp: LotCheckpoint) -> Self {
        Self {
            inner: Mutex::new(Inner {
                cp,
                dirty: true,
                proofs: Vec::new(),
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock only means another task panicked mid-update of plain counters.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// True when key `i` is not to be looked at by this run: done, or its copy found not to be
    /// its source by an earlier run (it stays failed: [`LotCheckpoint::is_mismatched`]).
    pub fn is_settled(&self, i: usize) -> bool {
        self.with(|s| s.cp.done.get(i) || s.cp.is_mismatched(i))
    }

    /// True when an earlier run (or this one) found key `i`'s copy is not its source.
    pub fn is_mismatched(&self, i: usize) -> bool {
        self.with(|s| s.cp.is_mismatched(i))
    }

    /// When this lot asked for key `i`'s restore (the lot's first restore request), if it did
    /// and the restore is not known lost: whether it is still valid is the verdict's to say
    /// ([`thaw_common::keystate::restore_still_valid`]).
    pub fn restore_requested_at(&self, i: usize) -> Option<i64> {
        self.with(|s| {
            if s.cp.restore_requested.get(i) {
                s.cp.restore_requested_at
            } else {
                None
            }
        })
    }

    /// Key `i` was copied into the target class.
    pub fn copied(&self, i: usize, bytes: u64, was_archived: bool) {
        self.with(|s| {
            if !s.cp.done.get(i) {
                s.cp.done.set(i, true);
                s.cp.counters.copied += 1;
                s.cp.counters.bytes_copied += bytes;
                if was_archived {
                    s.cp.counters.restored += 1;
                }
            }
            s.dirty = true;
        })
    }

    /// The proof of key `i`'s copy, recorded for the report; a verified or not comparable copy
    /// of a key not done yet is counted (call before [`Tracker::copied`]); a mismatch is
    /// counted as the key's failure.
    pub fn proved(&self, i: usize, proof: &Proof) {
        self.with(|s| {
            s.proofs.push(KeyProof::of(i, proof));
            if !s.cp.done.get(i) {
                let c = &mut s.cp.counters;
                match proof {
                    Proof::Verified { by: By::ETag, .. } => c.verified_etag += 1,
                    Proof::Verified { .. } => c.verified_checksum += 1,
                    Proof::NotComparable(_) => c.not_comparable += 1,
                    Proof::Mismatch { .. } => {}
                }
            }
            s.dirty = true;
        })
    }

    /// The proofs recorded by this run so far.
    pub fn proofs(&self) -> Vec<KeyProof> {
        self.with(|s| s.proofs.clone())
    }

    /// Key `i` already was in the target class.
    pub fn skipped(&self, i: usize) {
        self.with(|s| {
            if !s.cp.done.get(i) {
                s.cp.done.set(i, true);
                s.cp.skipped.set(i, true);
                s.cp.counters.skipped += 1;
            }
            s.dirty = true;
        })
    }

    /// Key `i` is left where it is (`--min-size`, `--min-age`): done, skipped, and why.
    pub fn left_out(&self, i: usize, reason: thaw_common::leave_out::LeftOutReason) {
        self.with(|s| {
            s.cp.record_left_out(i, reason);
            s.dirty = true;
        })
    }

    /// Key `i` failed for this run.
    pub fn failed(&self, i: usize, code: &str, message: &str) {
        self.with(|s| {
            s.cp.record_failure(i, code, message);
            s.dirty = true;
        })
    }

    /// True when a key of the lot failed with `code` (in this run: a new run clears failures).
    pub fn any_failed_with(&self, code: &str) -> bool {
        self.with(|s| s.cp.failed.contains_key(code))
    }

    /// S3 accepted a restore request for key `i` (`accepted` false: one was already running).
    pub fn restore_requested(&self, i: usize, accepted: bool) {
        self.with(|s| {
            s.cp.restore_requested.set(i, true);
            let now = now_secs();
            if accepted {
                s.cp.counters.restore_requested += 1;
                s.cp.restore_last_requested_at = Some(now);
            }
            if s.cp.restore_requested_at.is_none() {
                s.cp.restore_requested_at = Some(now);
            }
            s.dirty = true;
        })
    }

    /// A key went back for a later pass because a request met weather (throttling, a 5xx, a
    /// timeout): counted, not failed.
    pub fn throttled(&self) {
        self.with(|s| {
            s.cp.counters.throttled += 1;
            s.dirty = true;
        })
    }

    /// A restore was asked at Standard instead of the job's Expedited tier.
    pub fn tier_fallback(&self) {
        self.with(|s| {
            s.cp.counters.tier_fallbacks += 1;
            s.dirty = true;
        })
    }

    /// Restores asked at Standard instead of the job's Expedited tier, so far.
    pub fn tier_fallbacks(&self) -> u64 {
        self.with(|s| s.cp.counters.tier_fallbacks)
    }

    /// Key `i`'s restored copy is gone (it expired): the next pass may request it again.
    pub fn restore_lost(&self, i: usize) {
        self.with(|s| {
            s.cp.restore_requested.set(i, false);
            s.dirty = true;
        })
    }

    /// A copy of the checkpoint if it changed since the last call (or `force`).
    pub fn take_if_dirty(&self, force: bool) -> Option<LotCheckpoint> {
        self.with(|s| {
            if s.dirty || force {
                s.dirty = false;
                Some(s.cp.clone())
            } else {
                None
            }
        })
    }

    /// The current checkpoint.
    pub fn snapshot(&self) -> LotCheckpoint {
        self.with(|s| s.cp.clone())
    }

    /// Marks the checkpoint as needing a write (e.g. after a failed write).
    pub fn mark_dirty(&self) {
        self.with(|s| s.dirty = true)
    }
}

/// The one-line summary of a state change, as logged and as shown in the lot item.
pub fn describe(state: LotState, cp: &LotCheckpoint) -> String {
    let c = &cp.counters;
    format!(
        "{state}: {}/{} done ({} copied, {} skipped, {} failed), {} restores requested, {} throttled, copies verified: {} by checksum, {} by ETag, {} not comparable",
        c.done(),
        c.keys_total,
        c.copied,
        c.skipped,
        c.failed,
        c.restore_requested,
        c.throttled,
        c.verified_checksum,
        c.verified_etag,
        c.not_comparable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_bits_once() {
        let t = Tracker::new(LotCheckpoint::new(4));
        t.copied(0, 10, true);
        t.copied(0, 10, true);
        t.skipped(1);
        t.failed(2, "NoSuchKey", "gone");
        let cp = t.take_if_dirty(false).expect("dirty");
        assert_eq!(cp.counters.copied, 1);
        assert_eq!(cp.counters.restored, 1);
        assert_eq!(cp.counters.bytes_copied, 10);
        assert_eq!(cp.counters.skipped, 1);
        assert_eq!(cp.counters.failed, 1);
        assert!(t.take_if_dirty(false).is_none());
        assert!(t.is_settled(0) && t.is_settled(1) && !t.is_settled(2));
    }

    #[test]
    fn proofs_are_recorded_and_counted_once() {
        use thaw_common::verify::{Algorithm, Reason};
        let t = Tracker::new(LotCheckpoint::new(4));
        let etag = Proof::Verified {
            by: By::ETag,
            value: "e".into(),
        };
        t.proved(0, &etag);
        t.copied(0, 1, false);
        // a key done already is not counted again
        t.proved(0, &etag);
        t.proved(
            1,
            &Proof::Verified {
                by: By::Checksum(Algorithm::Crc32C),
                value: "c".into(),
            },
        );
        t.proved(2, &Proof::NotComparable(Reason::SourceKms));
        t.proved(
            3,
            &Proof::Mismatch {
                by: By::ETag,
                source: "a".into(),
                copy: "b".into(),
            },
        );
        let c = t.snapshot().counters;
        assert_eq!(
            (c.verified_etag, c.verified_checksum, c.not_comparable),
            (1, 1, 1)
        );
        let proofs = t.proofs();
        assert_eq!(proofs.len(), 5);
        assert!(matches!(
            proofs[4].record,
            thaw_common::proof_record::ProofRecord::Mismatch { .. }
        ));
        let line = describe(LotState::Running, &t.snapshot());
        assert!(
            line.ends_with("copies verified: 1 by checksum, 1 by ETag, 1 not comparable"),
            "{line}"
        );
    }

    #[test]
    fn restore_validity() {
        use thaw_common::keystate::restore_still_valid;
        let t = Tracker::new(LotCheckpoint::new(2));
        let valid =
            |i: usize, days: u32| restore_still_valid(t.restore_requested_at(i), days, now_secs());
        assert!(!valid(0, 3));
        t.restore_requested(0, true);
        assert!(valid(0, 3));
        assert!(!valid(1, 3));
        assert!(!valid(0, 0));
        t.restore_lost(0);
        assert!(!valid(0, 3));
    }
}
