//! Which lots `retry` and `follow` relaunch now, and why: a pure verdict from the lot items and
//! their workers' [`Liveness`].

use std::collections::{BTreeMap, BTreeSet};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;
use thaw_common::verify::MISMATCH_CODE;

use crate::liveness::Liveness;

/// Why a lot is relaunched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Never launched (PENDING).
    Pending,
    /// WAITING and its restores are worth checking now.
    Waiting,
    /// Stopped cleanly before the end (INTERRUPTED, CANCELLED).
    Resume,
    /// FAILED, or its worker is gone: counts as a retry.
    Retry,
}

/// The lots due for a relaunch now, with why. `max_retries` (for `follow`) leaves alone the lots
/// that failed that many times already, CANCELLED lots (only `retry` resumes a cancelled job),
/// lots whose launch ECS refused (only `retry`, once the setup is fixed) and lots whose launch
/// failed for a passing reason until their backoff (`next_check_at`) is over; `only` restricts
/// to the given lot numbers. A lot whose launch failed (e.g. no Fargate capacity), or whose
/// Spot task was reclaimed before its worker could say so, is relaunched without counting a
/// retry.
pub fn due_lots(
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
    now: i64,
    max_retries: Option<u64>,
    only: Option<&BTreeSet<u32>>,
) -> Vec<(LotItem, Due)> {
    let explicit = max_retries.is_none();
    lots.iter()
        .filter(|l| only.is_none_or(|o| o.contains(&l.lot)))
        .filter_map(|l| {
            let due = match (l.state, live.get(&l.lot)) {
                (_, Some(Liveness::Stale(_))) => Due::Retry,
                (_, Some(Liveness::Interrupted(_))) => Due::Resume,
                (LotState::Pending, _) => Due::Pending,
                (LotState::Waiting, _) if l.next_check_at.is_none_or(|t| t <= now) => Due::Waiting,
                (LotState::Interrupted, _) => Due::Resume,
                (LotState::Cancelled, _) if explicit => Due::Resume,
                (LotState::Failed, _) if launch_failed(l) => {
                    if !explicit && !launch_due(l, now) {
                        return None;
                    }
                    Due::Resume
                }
                // A rerun cannot help copies found not to be their source: only `retry` reruns.
                (LotState::Failed, _) if !explicit && only_mismatches(l) => return None,
                (LotState::Failed, _) => Due::Retry,
                _ => return None,
            };
            if due == Due::Retry && max_retries.is_some_and(|m| l.retries >= m) {
                return None;
            }
            Some((l.clone(), due))
        })
        .collect()
}

/// True when every failed key of the lot is a copy found not to be its source: a new run skips
/// those keys ([`thaw_common::checkpoint::LotCheckpoint::is_mismatched`]), so relaunching the lot
/// would start a task for nothing; they need a person (see the report).
pub fn only_mismatches(lot: &LotItem) -> bool {
    let failed = &lot.checkpoint.failed;
    !failed.is_empty() && failed.keys().all(|code| code == MISMATCH_CODE)
}

/// True when the lot failed because its worker could not be started (not because of its keys).
pub fn launch_failed(lot: &LotItem) -> bool {
    lot.state == LotState::Failed && lot.launch_failure.is_some()
}

/// True when the lot's launch was refused by ECS as asked: relaunching cannot help until the
/// setup is fixed.
pub fn launch_refused(lot: &LotItem) -> bool {
    launch_failed(lot) && lot.launch_failure.is_some_and(|k| k.is_permanent())
}

/// Whether `follow` relaunches a lot whose launch failed, at `now`: never when refused; when the
/// failure passes, once its backoff is over (`next_check_at`, written on the coordinator's
/// clock).
fn launch_due(lot: &LotItem, now: i64) -> bool {
    !launch_refused(lot) && lot.next_check_at.is_none_or(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::tests::lot;
    use thaw_common::task::LaunchFailure;

    #[test]
    fn lots_failed_only_by_mismatched_copies_are_left_to_a_person() {
        let mut l = lot(3, LotState::Failed);
        l.checkpoint
            .record_failure(0, MISMATCH_CODE, "checksum a, copy b");
        let live = BTreeMap::new();
        assert!(only_mismatches(&l));
        assert!(due_lots(std::slice::from_ref(&l), &live, 0, Some(3), None).is_empty());
        // `retry` asks for it explicitly
        assert_eq!(
            due_lots(std::slice::from_ref(&l), &live, 0, None, None).len(),
            1
        );
        // any other failure is worth a rerun
        l.checkpoint
            .record_failure(1, "SlowDown", "please slow down");
        assert!(!only_mismatches(&l));
        assert_eq!(due_lots(&[l], &live, 0, Some(3), None).len(), 1);
    }

    #[test]
    fn due_selection() {
        let lots = vec![
            lot(0, LotState::Pending),
            lot(1, LotState::Running),
            {
                let mut l = lot(2, LotState::Waiting);
                l.next_check_at = Some(2000);
                l
            },
            lot(3, LotState::Failed),
            lot(4, LotState::Succeeded),
            lot(5, LotState::Interrupted),
            {
                let mut l = lot(6, LotState::Failed);
                l.retries = 2;
                l
            },
        ];
        let mut live: BTreeMap<u32, Liveness> =
            lots.iter().map(|l| (l.lot, Liveness::Idle)).collect();
        live.insert(1, Liveness::Live);
        let pick = |live: &BTreeMap<u32, Liveness>, now, max, only: Option<&BTreeSet<u32>>| {
            due_lots(&lots, live, now, max, only)
                .into_iter()
                .map(|(l, d)| (l.lot, d))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pick(&live, 1500, None, None),
            vec![
                (0, Due::Pending),
                (3, Due::Retry),
                (5, Due::Resume),
                (6, Due::Retry)
            ]
        );
        // follow leaves cancelled lots alone and does not count launch failures as retries
        let mut more = lots.clone();
        more[4].state = LotState::Cancelled;
        more[6].last_error = Some("launch failed: RESOURCE:MEMORY".into());
        more[6].launch_failure = Some(LaunchFailure::RunTask);
        let got: Vec<(u32, Due)> = due_lots(&more, &live, 1500, Some(2), None)
            .into_iter()
            .map(|(l, d)| (l.lot, d))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, Due::Pending),
                (3, Due::Retry),
                (5, Due::Resume),
                (6, Due::Resume)
            ]
        );
        assert_eq!(
            pick(&live, 2000, Some(2), None),
            vec![
                (0, Due::Pending),
                (2, Due::Waiting),
                (3, Due::Retry),
                (5, Due::Resume)
            ]
        );
        // follow waits out a passing launch failure's backoff and never relaunches a refused
        // one; retry relaunches both at once
        let mut backoff = more.clone();
        backoff[6].next_check_at = Some(1600);
        let picked = |lots: &[LotItem], max| -> Vec<(u32, Due)> {
            due_lots(lots, &live, 1500, max, None)
                .into_iter()
                .map(|(l, d)| (l.lot, d))
                .collect()
        };
        assert!(!picked(&backoff, Some(2)).contains(&(6, Due::Resume)));
        assert!(picked(&backoff, None).contains(&(6, Due::Resume)));
        backoff[6].next_check_at = Some(1500);
        assert!(picked(&backoff, Some(2)).contains(&(6, Due::Resume)));
        let mut refused = more.clone();
        refused[6].launch_failure = Some(LaunchFailure::Refused);
        assert!(launch_refused(&refused[6]));
        assert!(!picked(&refused, Some(2)).iter().any(|(l, _)| *l == 6));
        assert!(picked(&refused, None).contains(&(6, Due::Resume)));
        // a Spot task reclaimed before the worker said so: resumed, not a retry, even when the
        // lot has used its retries
        let mut spot = lots.clone();
        spot[1].retries = 5;
        let mut live_spot = live.clone();
        live_spot.insert(1, Liveness::Interrupted("Spot".into()));
        let got: Vec<(u32, Due)> = due_lots(&spot, &live_spot, 1500, Some(2), None)
            .into_iter()
            .map(|(l, d)| (l.lot, d))
            .collect();
        assert!(got.contains(&(1, Due::Resume)), "{got:?}");
        let only: BTreeSet<u32> = [1, 3].into();
        assert_eq!(pick(&live, 1500, None, Some(&only)), vec![(3, Due::Retry)]);
        live.insert(1, Liveness::Stale("gone".into()));
        assert_eq!(
            pick(&live, 1500, None, Some(&only)),
            vec![(1, Due::Retry), (3, Due::Retry)]
        );
    }

    #[test]
    fn only_an_explicit_retry_resumes_a_cancelled_lot() {
        let lots = vec![lot(0, LotState::Cancelled)];
        let live: BTreeMap<u32, Liveness> = [(0, Liveness::Idle)].into();
        let got: Vec<(u32, Due)> = due_lots(&lots, &live, 1500, None, None)
            .into_iter()
            .map(|(l, d)| (l.lot, d))
            .collect();
        assert_eq!(got, vec![(0, Due::Resume)]);
        assert!(due_lots(&lots, &live, 1500, Some(3), None).is_empty());
    }
}
