//! Which lots `retry` and `follow` relaunch now, and why: a pure verdict from the lot items and
//! their workers' [`Liveness`].

use std::collections::{BTreeMap, BTreeSet};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;

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
/// that failed that many times already, and CANCELLED lots (only `retry` resumes a cancelled
/// job); `only` restricts to the given lot numbers. A lot whose launch failed (e.g. no Fargate
/// capacity) is relaunched without counting a retry.
pub fn due_lots(
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
    now: i64,
    max_retries: Option<u64>,
    only: Option<&BTreeSet<u32>>,
) -> Vec<(LotItem, Due)> {
    let resume_cancelled = max_retries.is_none();
    lots.iter()
        .filter(|l| only.is_none_or(|o| o.contains(&l.lot)))
        .filter_map(|l| {
            let due = match (l.state, live.get(&l.lot)) {
                (_, Some(Liveness::Stale(_))) => Due::Retry,
                (LotState::Pending, _) => Due::Pending,
                (LotState::Waiting, _) if l.next_check_at.is_none_or(|t| t <= now) => Due::Waiting,
                (LotState::Interrupted, _) => Due::Resume,
                (LotState::Cancelled, _) if resume_cancelled => Due::Resume,
                (LotState::Failed, _) if launch_failed(l) => Due::Resume,
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

/// True when the lot failed because its worker could not be started (not because of its keys).
pub fn launch_failed(lot: &LotItem) -> bool {
    lot.state == LotState::Failed && lot.launch_failure.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::Counters;
    use thaw_common::fixtures::LotItemBuilder;
    use thaw_common::task::LaunchFailure;

    fn lot(n: u32, state: LotState) -> LotItem {
        LotItemBuilder::new(n, 1)
            .state(state)
            .counters(Counters::default())
            .task("arn:aws:ecs:task/1")
            .heartbeat_at(1000)
            .updated_at(1000)
            .started_at(990)
            .launched_at(980)
            .build()
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
        let only: BTreeSet<u32> = [1, 3].into();
        assert_eq!(pick(&live, 1500, None, Some(&only)), vec![(3, Due::Retry)]);
        live.insert(1, Liveness::Stale("gone".into()));
        assert_eq!(
            pick(&live, 1500, None, Some(&only)),
            vec![(1, Due::Retry), (3, Due::Retry)]
        );
    }
}
