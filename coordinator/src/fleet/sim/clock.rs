//! Virtual time: a priority queue of events, earliest first (ties in the order they were
//! scheduled), so a day of fleet time costs one step per event, not one per second.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// What happens at a point of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `follow` looks at the table.
    Look,
    /// The task of run `run` is up: its worker starts on its lot.
    Started {
        /// Index of the run.
        run: usize,
    },
    /// The pass of run `run` ends, if the run is still at generation `generation` (a pace change
    /// moves the end and bumps the generation).
    PassEnd {
        /// Index of the run.
        run: usize,
        /// The run's generation when this end was scheduled.
        generation: u64,
    },
    /// A worker that sleeps between polls (within `--max-wait`) polls again.
    Poll {
        /// Index of the run.
        run: usize,
    },
}

#[derive(Debug, PartialEq)]
struct Entry {
    at: f64,
    seq: u64,
    event: Event,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops the largest: the earliest time, then the first scheduled, is largest.
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The clock: the current time and the events to come.
#[derive(Debug, Default)]
pub struct Clock {
    now: f64,
    seq: u64,
    queue: BinaryHeap<Entry>,
}

impl Clock {
    /// The current virtual time, seconds from the launch.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Schedules `event` at `at` (never before now).
    pub fn at(&mut self, at: f64, event: Event) {
        self.seq += 1;
        self.queue.push(Entry {
            at: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    /// Moves to the next event and returns it; `None` when nothing is left.
    pub fn next(&mut self) -> Option<Event> {
        let e = self.queue.pop()?;
        self.now = e.at;
        Some(e.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_in_time_order_then_in_order_scheduled() {
        let mut c = Clock::default();
        c.at(5.0, Event::Look);
        c.at(1.0, Event::Started { run: 0 });
        c.at(1.0, Event::Started { run: 1 });
        assert_eq!(c.next(), Some(Event::Started { run: 0 }));
        assert_eq!(c.next(), Some(Event::Started { run: 1 }));
        assert_eq!(c.now(), 1.0);
        c.at(0.0, Event::Poll { run: 2 }); // never in the past
        assert_eq!(c.next(), Some(Event::Poll { run: 2 }));
        assert_eq!(c.now(), 1.0);
        assert_eq!(c.next(), Some(Event::Look));
        assert_eq!(c.next(), None);
    }
}
