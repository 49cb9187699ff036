//! The window: at most N lots have a live worker at once, and which lots take the free slots.
//!
//! [`plan`] is the one decision `launch`, `follow` and `retry` make (and the simulation drives in
//! virtual time): from the lot items, their workers' [`Liveness`], the time, the window size and
//! the retry limit, the lots to launch now, in order, and why the other due lots wait.
//!
//! A lot is **in the window** while it has a live worker: LAUNCHED or RUNNING, including claimed
//! and not yet confirmed by its worker ([`Liveness::Live`]). A WAITING lot has no worker (its
//! worker exited once every restore was requested): it is outside the window until its restores
//! are due. Free slots go, in this order, to:
//!
//! 1. WAITING lots whose restores are due, earliest due first: restored copies expire after
//!    `--restore-days`, so nothing may expire uncopied because the window is busy with new
//!    restores;
//! 2. lots to resume or retry (stopped, failed, worker gone), in lot order: they hold work
//!    already started (requested restores among it);
//! 3. PENDING lots, in lot order.

use std::collections::{BTreeMap, BTreeSet};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;

use crate::due::{due_lots, launch_failed, launch_refused, Due};
use crate::liveness::Liveness;

/// What [`plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Every lot of the job (the window counts them all, whatever `only` says).
    pub lots: &'a [LotItem],
    /// Each lot's worker, as [`crate::liveness`] judges it.
    pub live: &'a BTreeMap<u32, Liveness>,
    /// Now, on the coordinator's clock (epoch seconds).
    pub now: i64,
    /// The window: lots with a live worker at most (`--max-tasks`, or less after a Fargate
    /// quota refusal); 0 launches nothing.
    pub window: u32,
    /// `follow`: lots that failed this many times are left alone (see [`due_lots`]); `None`:
    /// an explicit `retry`.
    pub max_retries: Option<u64>,
    /// Only these lots may be launched (`retry --lots`).
    pub only: Option<&'a BTreeSet<u32>>,
}

/// Why a lot that is not done and has no live worker is not launched now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Due, but the window is full.
    WindowFull,
    /// WAITING: its restores are worth checking at this time; outside the window until then.
    RestoresDue(i64),
    /// Its last launch failed for a passing reason: relaunched after this time.
    Backoff(i64),
}

/// What [`plan`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The lots to launch now, in launch order, with why each is due.
    pub launch: Vec<(LotItem, Due)>,
    /// Lots with a live worker now (before this launch).
    pub live: u32,
    /// The window this verdict kept to.
    pub window: u32,
    /// The lots that wait, and why, in lot order.
    pub held: Vec<(u32, Held)>,
}

impl Verdict {
    /// Lots due now that the window leaves for later.
    pub fn window_full(&self) -> usize {
        self.held
            .iter()
            .filter(|(_, h)| *h == Held::WindowFull)
            .count()
    }
}

/// Lots with a live worker: the ones that hold a slot of the window.
pub fn live_count(live: &BTreeMap<u32, Liveness>) -> u32 {
    let n = live.values().filter(|l| **l == Liveness::Live).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The lots to launch now within the window, in order (due WAITING lots first, then resumes
/// and retries, then PENDING lots), and why the others wait.
pub fn plan(f: &Facts<'_>) -> Verdict {
    let live = live_count(f.live);
    let mut due = due_lots(f.lots, f.live, f.now, f.max_retries, f.only);
    due.sort_by_key(|(l, d)| priority(l, *d));
    let free = f.window.saturating_sub(live) as usize;
    let rest = if due.len() > free {
        due.split_off(free)
    } else {
        Vec::new()
    };
    let mut held: Vec<(u32, Held)> = rest
        .iter()
        .map(|(l, _)| (l.lot, Held::WindowFull))
        .collect();
    let launching: BTreeSet<u32> = due.iter().chain(&rest).map(|(l, _)| l.lot).collect();
    held.extend(
        f.lots
            .iter()
            .filter(|l| !launching.contains(&l.lot))
            .filter(|l| f.only.is_none_or(|o| o.contains(&l.lot)))
            .filter_map(|l| not_due_yet(l, f.now).map(|h| (l.lot, h))),
    );
    held.sort_by_key(|(lot, _)| *lot);
    Verdict {
        launch: due,
        live,
        window: f.window,
        held,
    }
}

/// The launch order: due WAITING lots (earliest due first), then resumes and retries, then
/// PENDING lots; lot order within each.
fn priority(lot: &LotItem, due: Due) -> (u8, i64, u32) {
    match due {
        Due::Waiting => (0, lot.next_check_at.unwrap_or(i64::MIN), lot.lot),
        Due::Resume | Due::Retry => (1, 0, lot.lot),
        Due::Pending => (2, 0, lot.lot),
    }
}

/// Why a lot that is not due now waits, when it waits for a time: WAITING for its restores,
/// or a passing launch failure's backoff.
fn not_due_yet(lot: &LotItem, now: i64) -> Option<Held> {
    let at = lot.next_check_at.filter(|t| *t > now)?;
    match lot.state {
        LotState::Waiting => Some(Held::RestoresDue(at)),
        LotState::Failed if launch_failed(lot) && !launch_refused(lot) => Some(Held::Backoff(at)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveness::tests::lot;
    use thaw_common::task::LaunchFailure;

    fn waiting(n: u32, due_at: i64) -> LotItem {
        let mut l = lot(n, LotState::Waiting);
        l.next_check_at = Some(due_at);
        l
    }

    fn idle(lots: &[LotItem]) -> BTreeMap<u32, Liveness> {
        lots.iter()
            .map(|l| {
                let v = if l.state.is_active() {
                    Liveness::Live
                } else {
                    Liveness::Idle
                };
                (l.lot, v)
            })
            .collect()
    }

    fn verdict(lots: &[LotItem], live: &BTreeMap<u32, Liveness>, window: u32) -> Verdict {
        plan(&Facts {
            lots,
            live,
            now: 1500,
            window,
            max_retries: Some(2),
            only: None,
        })
    }

    fn order(v: &Verdict) -> Vec<(u32, Due)> {
        v.launch.iter().map(|(l, d)| (l.lot, *d)).collect()
    }

    #[test]
    fn at_most_the_window_is_live() {
        let mut lots: Vec<LotItem> = (0..12).map(|n| lot(n, LotState::Pending)).collect();
        lots[0].state = LotState::Running;
        let live = idle(&lots);
        let v = verdict(&lots, &live, 3);
        assert_eq!(v.live, 1);
        assert_eq!(order(&v), vec![(1, Due::Pending), (2, Due::Pending)]);
        assert_eq!(v.window_full(), 9);
        // a full window launches nothing; a window of 0 neither
        lots[1].state = LotState::Launched;
        lots[2].state = LotState::Running;
        let v = verdict(&lots, &idle(&lots), 3);
        assert!(v.launch.is_empty());
        assert_eq!((v.live, v.window_full()), (3, 9));
        assert!(verdict(&lots, &idle(&lots), 0).launch.is_empty());
        // an over-full window (shrunk below what runs) launches nothing either
        assert!(verdict(&lots, &idle(&lots), 2).launch.is_empty());
        // a wide window launches every due lot
        assert_eq!(verdict(&lots, &idle(&lots), 100).launch.len(), 9);
    }

    #[test]
    fn due_restores_go_first_then_resumes_then_pending() {
        let lots = vec![
            lot(0, LotState::Pending),
            lot(1, LotState::Failed),
            waiting(2, 1400),
            lot(3, LotState::Interrupted),
            waiting(4, 1000),
            lot(5, LotState::Pending),
            waiting(6, 2000), // not due: outside the window
        ];
        let live = idle(&lots);
        let v = verdict(&lots, &live, 10);
        assert_eq!(
            order(&v),
            vec![
                (4, Due::Waiting),
                (2, Due::Waiting),
                (1, Due::Retry),
                (3, Due::Resume),
                (0, Due::Pending),
                (5, Due::Pending)
            ]
        );
        assert_eq!(v.held, vec![(6, Held::RestoresDue(2000))]);
        // one slot: the lot whose restores came due first
        let v = verdict(&lots, &live, 1);
        assert_eq!(order(&v), vec![(4, Due::Waiting)]);
        assert_eq!(
            v.held,
            vec![
                (0, Held::WindowFull),
                (1, Held::WindowFull),
                (2, Held::WindowFull),
                (3, Held::WindowFull),
                (5, Held::WindowFull),
                (6, Held::RestoresDue(2000))
            ]
        );
    }

    #[test]
    fn gone_workers_free_their_slot_and_are_retried_in_it() {
        let lots = vec![
            lot(0, LotState::Running),
            lot(1, LotState::Running),
            lot(2, LotState::Pending),
        ];
        let mut live = idle(&lots);
        live.insert(1, Liveness::Stale("gone".into()));
        let v = verdict(&lots, &live, 2);
        assert_eq!(v.live, 1);
        assert_eq!(order(&v), vec![(1, Due::Retry)]);
        assert_eq!(v.held, vec![(2, Held::WindowFull)]);
    }

    #[test]
    fn backoffs_and_limits_are_kept() {
        let mut backoff = lot(0, LotState::Failed);
        backoff.launch_failure = Some(LaunchFailure::RunTask);
        backoff.next_check_at = Some(1600);
        let mut spent = lot(1, LotState::Failed);
        spent.retries = 2;
        let lots = vec![backoff, spent, lot(2, LotState::Succeeded)];
        let v = verdict(&lots, &idle(&lots), 5);
        assert!(v.launch.is_empty());
        assert_eq!(v.held, vec![(0, Held::Backoff(1600))]);
        // an explicit retry of some lots: only those, within the window
        let only: BTreeSet<u32> = [1].into();
        let v = plan(&Facts {
            lots: &lots,
            live: &idle(&lots),
            now: 1500,
            window: 5,
            max_retries: None,
            only: Some(&only),
        });
        assert_eq!(order(&v), vec![(1, Due::Retry)]);
        assert!(v.held.is_empty());
    }
}
