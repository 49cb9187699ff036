//! Restore expiry: a restored copy of an archived object lives `--restore-days` days after its
//! restore completes (AWS rounds up to the next midnight UTC), then the object is archived
//! again and its copy needs another restore (paid again). A WAITING lot whose restored copies
//! would expire before it can be copied is called out by `status`. Pure: lot facts, now and the
//! estimated copy start in, a verdict out.

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// How long after a WAITING lot is due its copies are counted to start: a relaunch (a Fargate
/// task starts within a minute or two) and a lot's copies (minutes at S3's COPY rates), with
/// room to spare.
pub const COPY_ALLOWANCE_SECS: i64 = 3600;

/// What the verdict is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryFacts {
    /// When the lot last sent restore requests (epoch seconds).
    pub restore_requested_at: Option<i64>,
    /// When the lot is worth looking at again (its restores expected done).
    pub next_check_at: Option<i64>,
    /// `--restore-days` of the job.
    pub restore_days: u32,
    /// Keys whose restore was requested and that are not copied yet.
    pub restored_uncopied: u64,
}

impl ExpiryFacts {
    /// The facts of a lot, `None` unless it is WAITING with restored keys still to copy.
    pub fn of(lot: &LotItem, restore_days: u32) -> Option<Self> {
        if lot.state != LotState::Waiting {
            return None;
        }
        let restored_uncopied = lot.checkpoint.restores_waiting();
        (restored_uncopied > 0).then_some(Self {
            restore_requested_at: lot.checkpoint.restore_requested_at,
            next_check_at: lot.next_check_at,
            restore_days,
            restored_uncopied,
        })
    }

    /// The earliest the restored copies can expire: `restore_days` after the restores were
    /// requested (they complete later, and AWS rounds up to midnight UTC: the real expiry is
    /// later, never earlier). Without a request time, `restore_days` after the next check.
    pub fn expires_at(&self) -> Option<i64> {
        let restored = self.restore_requested_at.or(self.next_check_at)?;
        Some(restored + i64::from(self.restore_days) * DAY)
    }
}

/// Whether a lot's restored copies outlive its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Copied before the restored copies can expire (or nothing to tell).
    Safe,
    /// The restored copies may expire (at `expires_at`) before the copy starts (`copy_start`).
    AtRisk {
        /// The earliest expiry (epoch seconds).
        expires_at: i64,
        /// The estimated copy start (epoch seconds).
        copy_start: i64,
    },
    /// The restored copies may have expired already (since `expires_at`): the next run requests
    /// the restores again.
    Expired {
        /// The earliest expiry (epoch seconds).
        expires_at: i64,
    },
}

/// The verdict for a lot at `now` whose copy is estimated to start at `copy_start`.
pub fn verdict(facts: &ExpiryFacts, now: i64, copy_start: i64) -> Expiry {
    let Some(expires_at) = facts.expires_at() else {
        return Expiry::Safe;
    };
    if expires_at <= now {
        Expiry::Expired { expires_at }
    } else if expires_at <= copy_start {
        Expiry::AtRisk {
            expires_at,
            copy_start,
        }
    } else {
        Expiry::Safe
    }
}

/// The estimated copy start of a WAITING lot: once it is due (not before now), plus
/// [`COPY_ALLOWANCE_SECS`].
pub fn copy_start(facts: &ExpiryFacts, now: i64) -> i64 {
    facts.next_check_at.unwrap_or(now).max(now) + COPY_ALLOWANCE_SECS
}

/// The verdict of every WAITING lot that is not [`Expiry::Safe`], by lot.
pub fn lots_at_risk(lots: &[LotItem], restore_days: u32, now: i64) -> Vec<(u32, Expiry)> {
    lots.iter()
        .filter_map(|l| {
            let facts = ExpiryFacts::of(l, restore_days)?;
            let v = verdict(&facts, now, copy_start(&facts, now));
            (v != Expiry::Safe).then_some((l.lot, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotCheckpoint;
    use thaw_common::fixtures::LotItemBuilder;

    fn facts(requested: Option<i64>, next: Option<i64>, days: u32) -> ExpiryFacts {
        ExpiryFacts {
            restore_requested_at: requested,
            next_check_at: next,
            restore_days: days,
            restored_uncopied: 10,
        }
    }

    #[test]
    fn a_lot_copied_within_its_restore_days_is_safe() {
        let f = facts(Some(0), Some(12 * 3600), 3);
        assert_eq!(verdict(&f, 3600, copy_start(&f, 3600)), Expiry::Safe);
    }

    #[test]
    fn a_lot_due_after_its_expiry_is_at_risk() {
        // Restores requested at 0 for 1 day; due (next check) 30 h later.
        let f = facts(Some(0), Some(30 * 3600), 1);
        assert_eq!(
            verdict(&f, 3600, copy_start(&f, 3600)),
            Expiry::AtRisk {
                expires_at: DAY,
                copy_start: 31 * 3600
            }
        );
        // Within the copy allowance of the expiry is at risk too.
        let f = facts(Some(0), Some(DAY - 600), 1);
        assert!(matches!(
            verdict(&f, 0, copy_start(&f, 0)),
            Expiry::AtRisk { .. }
        ));
    }

    #[test]
    fn a_lot_left_waiting_past_its_expiry_has_expired() {
        let f = facts(Some(0), Some(3600), 2);
        let now = 2 * DAY + 1;
        assert_eq!(
            verdict(&f, now, copy_start(&f, now)),
            Expiry::Expired {
                expires_at: 2 * DAY
            }
        );
    }

    #[test]
    fn without_a_request_time_the_next_check_stands_in() {
        let f = facts(None, Some(100), 1);
        assert_eq!(f.expires_at(), Some(100 + DAY));
        assert_eq!(facts(None, None, 1).expires_at(), None);
        assert_eq!(verdict(&facts(None, None, 1), 0, DAY * 9), Expiry::Safe);
    }

    #[test]
    fn only_waiting_lots_with_restored_keys_to_copy_are_judged() {
        let mut cp = LotCheckpoint::new(3);
        cp.restore_requested.set(0, true);
        cp.restore_requested.set(1, true);
        cp.done.set(1, true);
        cp.restore_requested_at = Some(0);
        let waiting = LotItemBuilder::new(4, 3)
            .state(LotState::Waiting)
            .checkpoint(cp.clone())
            .next_check_at(Some(10))
            .build();
        let f = ExpiryFacts::of(&waiting, 1).expect("judged");
        assert_eq!(f.restored_uncopied, 1);
        let running = LotItemBuilder::new(5, 3)
            .state(LotState::Running)
            .checkpoint(cp.clone())
            .build();
        assert_eq!(ExpiryFacts::of(&running, 1), None);
        let mut all_done = cp;
        all_done.done.set(0, true);
        let copied = LotItemBuilder::new(6, 3)
            .state(LotState::Waiting)
            .checkpoint(all_done)
            .build();
        assert_eq!(ExpiryFacts::of(&copied, 1), None);
        let lots = [waiting, running, copied];
        assert_eq!(lots_at_risk(&lots, 1, 3600), vec![]);
        assert_eq!(
            lots_at_risk(&lots, 1, DAY + 1),
            vec![(4, Expiry::Expired { expires_at: DAY })]
        );
    }
}
