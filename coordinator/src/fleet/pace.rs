//! How fast new lots enter the fleet: no faster than the restore rate can take their keys.
//!
//! A lot that has not started (PENDING) spends its first run sending its restore requests, and
//! the running workers share the job's restore rate, so lots started together finish their
//! requests together. Started all at once (the whole window at the launch, or every slot freed
//! since the last look), they come back in lockstep: every slot ends at the same moment, and the
//! account's restore rate idles while the next cohort's tasks start (a minute or more on
//! Fargate). The fleet simulation shows it: a 10M-key GLACIER job at 1,000 restores/s used 69%
//! of the rate with a window of 29, 77% with 60. Paced at `restore rate / keys per lot` lots a
//! second (a token bucket holding one look's worth), cohorts stay small and overlap, each new
//! lot's requests start as the previous ones end, and the window no longer has to be large to keep
//! the rate busy. WAITING lots whose restores are due (copy runs) are not paced: they send no
//! restore request.

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;

use crate::due::Due;

/// The pace of PENDING lots for one `follow` session (or one simulated job).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: i64,
}

impl Pace {
    /// `restore_rate` requests per second for lots of `keys_per_lot` keys, looked at every
    /// `interval_secs`: `restore_rate / keys_per_lot` lots a second, at most one look's worth
    /// (at least one lot) at once. Full at `now`.
    pub fn new(restore_rate: f64, keys_per_lot: f64, interval_secs: f64, now: i64) -> Self {
        let per_sec = (restore_rate.max(0.0) / keys_per_lot.max(1.0)).max(1e-9);
        let burst = (per_sec * interval_secs.max(1.0)).max(1.0);
        Self {
            per_sec,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// PENDING lots that may start at `now`.
    pub fn allowed(&mut self, now: i64) -> u32 {
        if now > self.at {
            let refill = (now - self.at) as f64 * self.per_sec;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.at = now;
        }
        self.tokens.floor().clamp(0.0, f64::from(u32::MAX)) as u32
    }

    /// `n` PENDING lots were started.
    pub fn started(&mut self, n: u32) {
        self.tokens = (self.tokens - f64::from(n)).max(0.0);
    }

    /// The lots of a window's plan (in its order) that start at `now`: every lot that is not
    /// PENDING, and as many PENDING lots as the pace allows (counted as started).
    pub fn admit(&mut self, launch: Vec<(LotItem, Due)>, now: i64) -> Vec<(LotItem, Due)> {
        let mut fresh = self.allowed(now);
        let mut admitted = Vec::with_capacity(launch.len());
        for (lot, due) in launch {
            if due == Due::Pending {
                if fresh == 0 {
                    continue;
                }
                fresh -= 1;
                self.started(1);
            }
            admitted.push((lot, due));
        }
        admitted
    }
}

/// Lots started within the last `interval_secs` before `now` that will send restores (LAUNCHED
/// or RUNNING, launched since then, restores left to request): a new `follow` session counts
/// them against its first look's worth, so `launch --follow` (or a `follow` restarted at once)
/// does not start two looks' worth together.
pub fn started_lately(lots: &[LotItem], now: i64, interval_secs: u64) -> u32 {
    let since = now.saturating_sub(i64::try_from(interval_secs).unwrap_or(i64::MAX));
    let n = lots
        .iter()
        .filter(|l| matches!(l.state, LotState::Launched | LotState::Running))
        .filter(|l| l.launched_at.is_some_and(|t| t >= since))
        .filter(|l| !l.checkpoint.restores_all_requested(l.counters.keys_total))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whether a job's new lots are paced: unless its runs show it has nothing to restore (a lot
/// SUCCEEDED and no lot ever requested a restore: readable objects, whose lots only copy and
/// hold no share of the restore rate).
pub fn restores_to_pace(lots: &[LotItem]) -> bool {
    let finished = lots.iter().any(|l| l.state == LotState::Succeeded);
    let requested = lots.iter().any(|l| l.counters.restore_requested > 0);
    requested || !finished
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::Counters;
    use thaw_common::fixtures::LotItemBuilder;

    fn item(n: u32, state: LotState, restore_requested: u64) -> LotItem {
        LotItemBuilder::new(n, 10)
            .state(state)
            .counters(Counters {
                keys_total: 10,
                restore_requested,
                ..Counters::default()
            })
            .build()
    }

    #[test]
    fn the_plan_is_admitted_at_the_pace() {
        // 100 restores/s, lots of 100: one lot a second, 5 per 5-second look
        let mut p = Pace::new(100.0, 100.0, 5.0, 0);
        let plan: Vec<(LotItem, Due)> = vec![
            (item(7, LotState::Waiting, 10), Due::Waiting),
            (item(8, LotState::Failed, 3), Due::Retry),
        ]
        .into_iter()
        .chain((0..6).map(|n| (item(n, LotState::Pending, 0), Due::Pending)))
        .collect();
        let lots = |v: &[(LotItem, Due)]| v.iter().map(|(l, _)| l.lot).collect::<Vec<_>>();
        // due copies and retries always go; PENDING lots up to one look's worth, in order
        assert_eq!(lots(&p.admit(plan.clone(), 0)), vec![7, 8, 0, 1, 2, 3, 4]);
        assert_eq!(lots(&p.admit(plan.clone(), 0)), vec![7, 8]);
        assert_eq!(lots(&p.admit(plan, 2)), vec![7, 8, 0, 1]);
    }

    #[test]
    fn lots_started_lately_count_against_the_first_look() {
        let launched = |n, at| {
            let mut l = item(n, LotState::Launched, 0);
            l.launched_at = Some(at);
            l
        };
        let mut copying = launched(3, 990);
        copying.checkpoint = thaw_common::checkpoint::LotCheckpoint::new(10);
        for i in 0..10 {
            copying.checkpoint.restore_requested.set(i, true);
        }
        let lots = vec![
            launched(0, 995),
            launched(1, 950), // before the last interval
            launched(2, 971),
            copying, // a copy run: sends no restore
            item(4, LotState::Pending, 0),
        ];
        assert_eq!(started_lately(&lots, 1000, 30), 2);
        let mut p = Pace::new(1000.0, 5000.0, 30.0, 1000);
        p.started(started_lately(&lots, 1000, 30));
        assert_eq!(p.allowed(1000), 4);
    }

    #[test]
    fn jobs_with_nothing_to_restore_are_not_paced() {
        let fresh = vec![item(0, LotState::Pending, 0), item(1, LotState::Pending, 0)];
        assert!(restores_to_pace(&fresh));
        let readable = vec![
            item(0, LotState::Succeeded, 0),
            item(1, LotState::Pending, 0),
        ];
        assert!(!restores_to_pace(&readable));
        let archived = vec![
            item(0, LotState::Succeeded, 0),
            item(1, LotState::Waiting, 10),
        ];
        assert!(restores_to_pace(&archived));
    }

    #[test]
    fn lots_enter_at_the_restore_rate() {
        // 1,000 restores/s, lots of 5,000: 0.2 lots/s, 6 per 30-second look
        let mut p = Pace::new(1000.0, 5000.0, 30.0, 0);
        assert_eq!(p.allowed(0), 6);
        p.started(6);
        assert_eq!(p.allowed(0), 0);
        assert_eq!(p.allowed(10), 2);
        p.started(2);
        assert_eq!(p.allowed(15), 1);
        // an idle hour does not bank more than one look's worth
        assert_eq!(p.allowed(3600), 6);
        // a slow rate still lets one lot in
        let mut slow = Pace::new(1.0, 5000.0, 30.0, 0);
        assert_eq!(slow.allowed(0), 1);
        slow.started(1);
        assert_eq!(slow.allowed(4999), 0);
        assert_eq!(slow.allowed(5000), 1);
    }
}
