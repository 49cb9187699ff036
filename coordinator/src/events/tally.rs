//! Restore-completed events counted per lot, and which WAITING lots they make due before their
//! scheduled check: a lot whose events reach `--ready-fraction` of its waiting keys. Events are
//! at least once and may be lost: a lot brought forward is looked at before any task starts,
//! and when the look says not yet its count becomes what the look saw (repeated events do not
//! bring it forward again and again); a lot whose events were lost keeps its scheduled check.
//! Pure: facts in (events, lots), verdict out (due lots, whether to wake `follow`).

use std::collections::BTreeMap;

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ReadyLook};

/// One lot's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LotTally {
    /// Events counted for the lot's current run (or, after a look, what the look saw done).
    counted: u64,
    /// The run (attempt) the count is about.
    attempt: u64,
    /// The look the count was last set from (its time).
    look_at: Option<i64>,
    /// The lot's waiting keys, when it is WAITING.
    waiting: Option<u64>,
    /// The lot's copies after a restore (`restored`) when first seen not WAITING in this run:
    /// the keys its worker copies afterwards are taken off the count when it goes WAITING.
    restored_before: Option<u64>,
}

/// What the drainer counted since the session started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Restore events mapped to a lot of the job.
    pub counted: u64,
    /// Restore events of another bucket, or of keys of no open lot of the job.
    pub foreign: u64,
    /// Other events (other detail-types or sources).
    pub ignored: u64,
    /// Messages that are not events.
    pub malformed: u64,
}

/// Events per lot.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    lots: BTreeMap<u32, LotTally>,
    fraction: f64,
    /// Session totals.
    pub totals: Totals,
}

/// A WAITING lot's keys still waiting for a restore, from its checkpoint: restore asked by the
/// lot (accepted or already in progress) and not done, as its readiness look counts them.
pub fn waiting_keys(lot: &LotItem) -> u64 {
    lot.checkpoint.restores_waiting()
}

/// What a look saw done, scaled to the lot's waiting keys (a sample, or a listing cut short by
/// its page budget, saw fewer).
fn from_look(look: &ReadyLook, waiting: u64) -> u64 {
    if look.looked == 0 {
        return 0;
    }
    let scaled = u128::from(look.done) * u128::from(waiting) / u128::from(look.looked);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

impl Tally {
    /// A tally bringing lots forward at `fraction` (`--ready-fraction`) of their waiting keys.
    pub fn new(fraction: f64) -> Self {
        Self {
            lots: BTreeMap::new(),
            fraction,
            totals: Totals::default(),
        }
    }

    fn need(&self, waiting: u64) -> u64 {
        ((self.fraction * waiting as f64).ceil() as u64).max(1)
    }

    /// One event for lot `lot`; true when it makes the WAITING lot due (wake `follow`).
    pub fn count(&mut self, lot: u32) -> bool {
        self.totals.counted += 1;
        let t = self.lots.entry(lot).or_default();
        t.counted += 1;
        let t = *t;
        t.waiting
            .is_some_and(|w| w > 0 && t.counted == self.need(w))
    }

    /// The lots as `follow` last read them: the waiting keys of WAITING lots; a lot relaunched
    /// since starts again from nothing; a lot looked at since its count was set gets what the
    /// look saw done (scaled to its waiting keys); a lot first seen in this run starts from the
    /// count recorded on its item when that is more (an earlier session's); a lot that went
    /// WAITING loses the keys its worker copied meanwhile.
    pub fn observe(&mut self, lots: &[LotItem]) {
        for l in lots {
            let fresh = !matches!(self.lots.get(&l.lot), Some(t) if t.attempt == l.attempt);
            let t = self.lots.entry(l.lot).or_default();
            if fresh {
                *t = LotTally {
                    attempt: l.attempt,
                    ..LotTally::default()
                };
            }
            went_waiting(t, l);
            if let Some(look) = l.current_ready_look() {
                if t.look_at != Some(look.at) {
                    t.look_at = Some(look.at);
                    t.counted = from_look(look, t.waiting.unwrap_or(0));
                }
            }
            if fresh {
                t.counted = t.counted.max(l.current_events().unwrap_or(0));
            }
        }
    }

    /// WAITING lots (as last observed) whose events reached the fraction of their waiting keys, among `lots` whose
    /// scheduled check is still to come (`now`).
    pub fn due(&self, lots: &[LotItem], now: i64) -> Vec<u32> {
        lots.iter()
            .filter(|l| l.state == LotState::Waiting && l.next_check_at.is_some_and(|t| t > now))
            .filter(|l| {
                self.lots.get(&l.lot).is_some_and(|t| {
                    let waiting = t.waiting.unwrap_or(0);
                    t.attempt == l.attempt && waiting > 0 && t.counted >= self.need(waiting)
                })
            })
            .map(|l| l.lot)
            .collect()
    }

    /// The WAITING lots whose count is worth recording on their item (for `status`): those
    /// whose count moved to another tenth of their waiting keys than the one recorded, so a lot
    /// is written a dozen times per wait at most, not once per event. (lot, attempt, count).
    pub fn to_record(&self, lots: &[LotItem]) -> Vec<(u32, u64, u64)> {
        let tenth = |n: u64, waiting: u64| (n.saturating_mul(10) / waiting.max(1)).min(10);
        lots.iter()
            .filter(|l| l.state == LotState::Waiting)
            .filter_map(|l| {
                let t = self.lots.get(&l.lot).filter(|t| t.attempt == l.attempt)?;
                let waiting = t.waiting.unwrap_or(0);
                let recorded = l.current_events();
                let moved = match recorded {
                    Some(r) => tenth(r, waiting) != tenth(t.counted, waiting),
                    None => t.counted > 0 && tenth(t.counted, waiting) > 0,
                };
                moved.then_some((l.lot, l.attempt, t.counted))
            })
            .collect()
    }

    /// Events counted for lot `lot`'s current run.
    pub fn counted(&self, lot: u32) -> u64 {
        self.lots.get(&lot).map_or(0, |t| t.counted)
    }
}

/// The lot's waiting keys now, and when it went WAITING since last seen in this run, the keys its
/// worker copied after a restore meanwhile taken off its count: their events came while it ran,
/// and they wait no more.
fn went_waiting(t: &mut LotTally, l: &LotItem) {
    if l.state != LotState::Waiting {
        t.restored_before.get_or_insert(l.counters.restored);
        t.waiting = None;
        return;
    }
    if let Some(before) = t.restored_before.take() {
        let copied = l.counters.restored.saturating_sub(before);
        t.counted = t.counted.saturating_sub(copied);
    }
    t.waiting = Some(waiting_keys(l));
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::progress::{EventsCounted, LookBy};

    const NOW: i64 = 1_800_000_000;

    fn waiting(n: u32, keys: u64) -> LotItem {
        let mut l = LotItem::pending(n, keys as usize);
        l.state = LotState::Waiting;
        l.attempt = 1;
        l.counters.restore_requested = keys;
        for i in 0..keys as usize {
            l.checkpoint.restore_requested.set(i, true);
        }
        l.next_check_at = Some(NOW + 3600);
        l
    }

    fn look(done: u64, looked: u64, by: LookBy, at: i64) -> Option<ReadyLook> {
        Some(ReadyLook {
            done,
            looked,
            by,
            at,
            attempt: 1,
        })
    }

    #[test]
    fn a_lot_is_due_once_its_events_reach_the_fraction() {
        let lots = vec![waiting(0, 10), waiting(1, 10)];
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        let woke: Vec<bool> = (0..10).map(|_| t.count(0)).collect();
        // the 9th event (90% of 10) wakes follow, once
        assert_eq!(woke.iter().filter(|w| **w).count(), 1);
        assert!(woke[8]);
        assert!(!t.count(1));
        assert_eq!(t.due(&lots, NOW), vec![0]);
        // its scheduled check has come anyway: not brought forward, simply due
        let mut later = lots.clone();
        later[0].next_check_at = Some(NOW - 1);
        assert!(t.due(&later, NOW).is_empty());
        assert_eq!(t.totals.counted, 11);
    }

    #[test]
    fn lots_not_waiting_are_never_due_and_relaunches_start_from_nothing() {
        let mut lots = vec![waiting(0, 4)];
        lots[0].state = LotState::Running;
        let mut t = Tally::new(0.5);
        t.observe(&lots);
        for _ in 0..4 {
            assert!(!t.count(0), "a RUNNING lot does not wake follow");
        }
        assert!(t.due(&lots, NOW).is_empty());
        // the run went WAITING: the events counted meanwhile stand
        lots[0].state = LotState::Waiting;
        t.observe(&lots);
        assert_eq!(t.due(&lots, NOW), vec![0]);
        // relaunched: a new run
        lots[0].attempt = 2;
        t.observe(&lots);
        assert_eq!(t.counted(0), 0);
        assert!(t.due(&lots, NOW).is_empty());
    }

    #[test]
    fn a_look_resets_the_count_to_what_it_saw() {
        let mut lots = vec![waiting(0, 100)];
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        for _ in 0..95 {
            t.count(0); // repeated events for a few keys
        }
        assert_eq!(t.due(&lots, NOW), vec![0]);
        lots[0].ready_look = Some(ReadyLook {
            done: 3,
            looked: 100,
            by: LookBy::List,
            at: NOW,
            attempt: 1,
        });
        t.observe(&lots);
        assert_eq!(t.counted(0), 3);
        assert!(t.due(&lots, NOW).is_empty());
        // new events count on top of the look, once
        for _ in 0..87 {
            t.count(0);
        }
        t.observe(&lots);
        assert_eq!(t.counted(0), 90);
        assert_eq!(t.due(&lots, NOW), vec![0]);
        // a HEAD sample scales to the waiting keys
        lots[0].ready_look = Some(ReadyLook {
            done: 5,
            looked: 20,
            by: LookBy::HeadSample,
            at: NOW + 60,
            attempt: 1,
        });
        t.observe(&lots);
        assert_eq!(t.counted(0), 25);
    }

    #[test]
    fn counts_are_recorded_once_per_tenth_of_the_waiting_keys() {
        let mut lots = vec![waiting(0, 100), waiting(1, 100)];
        lots[1].state = LotState::Running;
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        for _ in 0..9 {
            t.count(0);
            t.count(1);
        }
        assert!(t.to_record(&lots).is_empty(), "under a tenth");
        t.count(0);
        t.count(1);
        assert_eq!(t.to_record(&lots), vec![(0, 1, 10)], "WAITING lots only");
        lots[0].events = Some(thaw_common::progress::EventsCounted {
            counted: 10,
            attempt: 1,
        });
        for _ in 0..9 {
            t.count(0);
        }
        assert!(t.to_record(&lots).is_empty(), "same tenth as recorded");
        t.count(0);
        assert_eq!(t.to_record(&lots), vec![(0, 1, 20)]);
        // recorded for an older run: not this run's
        lots[0].events = Some(thaw_common::progress::EventsCounted {
            counted: 20,
            attempt: 0,
        });
        assert_eq!(t.to_record(&lots), vec![(0, 1, 20)]);
    }

    #[test]
    fn a_lot_with_nothing_waiting_is_not_brought_forward() {
        let mut lots = vec![waiting(0, 10)];
        for i in 0..10 {
            lots[0].checkpoint.done.set(i, true);
        }
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        assert!(!t.count(0));
        assert!(t.due(&lots, NOW).is_empty());
    }

    #[test]
    fn waiting_keys_are_the_restores_asked_and_not_done() {
        let mut l = waiting(0, 12);
        // counters say otherwise: 409'd keys are asked but not accepted, restored counts copies
        l.counters.restore_requested = 2;
        l.counters.restored = 9;
        for i in 0..4 {
            l.checkpoint.done.set(i, true);
        }
        l.checkpoint.restore_requested.set(11, false);
        assert_eq!(waiting_keys(&l), 7);
        // every restore 409'd (already in progress): still waiting keys, events still help
        let mut l = waiting(1, 5);
        l.counters.restore_requested = 0;
        let mut t = Tally::new(0.8);
        t.observe(std::slice::from_ref(&l));
        let woke: Vec<bool> = (0..4).map(|_| t.count(1)).collect();
        assert_eq!(woke, vec![false, false, false, true]);
    }

    #[test]
    fn a_listing_cut_short_scales_to_the_waiting_keys() {
        let mut lots = vec![waiting(0, 1000)];
        // its page budget saw 100 of the 1000 waiting keys, 40 done
        lots[0].ready_look = look(40, 100, LookBy::List, NOW);
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        assert_eq!(t.counted(0), 400);
        // a full listing is what it saw
        lots[0].ready_look = look(3, 1000, LookBy::List, NOW + 1);
        t.observe(&lots);
        assert_eq!(t.counted(0), 3);
    }

    #[test]
    fn a_new_session_starts_from_the_recorded_count() {
        let mut lots = vec![waiting(0, 100)];
        lots[0].events = Some(EventsCounted {
            counted: 60,
            attempt: 1,
        });
        // the look before the earlier session's events: the recorded count is more
        lots[0].ready_look = look(10, 100, LookBy::List, NOW);
        let mut t = Tally::new(0.9);
        t.observe(&lots);
        assert_eq!(t.counted(0), 60);
        assert!(t.to_record(&lots).is_empty(), "the lower count not written");
        for _ in 0..30 {
            t.count(0);
        }
        assert_eq!(t.due(&lots, NOW), vec![0]);
        // a later look in this session still resets the count
        lots[0].ready_look = look(5, 100, LookBy::List, NOW + 60);
        t.observe(&lots);
        assert_eq!(t.counted(0), 5);
        // recorded for another run: not taken
        let mut other = vec![waiting(1, 100)];
        other[0].events = Some(EventsCounted {
            counted: 60,
            attempt: 0,
        });
        t.observe(&other);
        assert_eq!(t.counted(1), 0);
    }

    #[test]
    fn keys_copied_by_the_running_worker_are_taken_off_when_it_goes_waiting() {
        let mut lots = vec![waiting(0, 10)];
        lots[0].state = LotState::Running;
        lots[0].counters.restored = 2;
        let mut t = Tally::new(0.75);
        t.observe(&lots);
        for _ in 0..8 {
            t.count(0);
        }
        // the worker copied 6 of the restored keys, then went WAITING for the other 4
        lots[0].state = LotState::Waiting;
        lots[0].counters.restored = 8;
        for i in 0..6 {
            lots[0].checkpoint.done.set(i, true);
        }
        t.observe(&lots);
        assert_eq!(t.counted(0), 2);
        assert!(t.due(&lots, NOW).is_empty(), "2 of 4 waiting keys: under 3");
        // seen again WAITING: not taken off twice
        t.observe(&lots);
        assert_eq!(t.counted(0), 2);
        t.count(0);
        assert_eq!(t.due(&lots, NOW), vec![0]);
    }
}
