//! What a person watching a local job sees: the lots' items summed into a few numbers (lots by
//! state, keys done of total, copied / skipped / failed / throttled, the last error), a rate and
//! an ETA, and the text of them. This file is pure (items and times in, numbers and text out)
//! so all of it is unit-tested; [`view`] draws it (a live display on a terminal, one plain line
//! per interval otherwise) and [`console`] keeps other lines from breaking the display.

pub mod console;
pub mod view;

use std::collections::VecDeque;

use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;

/// The job's numbers at one moment, from its lot items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Lots in each state that has any, in lifecycle order.
    pub states: Vec<(LotState, usize)>,
    /// Lots in the job.
    pub lots: usize,
    /// Keys in the job.
    pub keys_total: u64,
    /// Keys copied.
    pub copied: u64,
    /// Keys found already in the class.
    pub skipped: u64,
    /// Keys that failed.
    pub failed: u64,
    /// Keys sent back for a later pass because S3 pushed back.
    pub throttled: u64,
    /// The error of the lot written last among those with one: `lot N: why`.
    pub last_error: Option<String>,
}

impl Snapshot {
    /// The numbers of a job whose lots are `items`.
    pub fn of(items: &[LotItem]) -> Self {
        let mut s = Snapshot {
            lots: items.len(),
            ..Snapshot::default()
        };
        for state in LotState::ALL {
            let n = items.iter().filter(|i| i.state == state).count();
            if n > 0 {
                s.states.push((state, n));
            }
        }
        for c in items.iter().map(|i| &i.counters) {
            s.keys_total += c.keys_total;
            s.copied += c.copied;
            s.skipped += c.skipped;
            s.failed += c.failed;
            s.throttled += c.throttled;
        }
        s.last_error = items
            .iter()
            .filter_map(|i| error_of(i).map(|e| (i.updated_at.unwrap_or(0), i.lot, e)))
            .max_by_key(|(at, lot, _)| (*at, *lot))
            .map(|(_, lot, e)| format!("lot {lot}: {e}"));
        s
    }

    /// Keys finished one way or another.
    pub fn done(&self) -> u64 {
        self.copied + self.skipped + self.failed
    }

    /// Whole percent of the keys done: 100 only when every key is.
    pub fn percent(&self) -> u64 {
        if self.keys_total == 0 {
            return 100;
        }
        let done = self.done().min(self.keys_total);
        done * 100 / self.keys_total
    }

    /// `lots 4: RUNNING 2, SUCCEEDED 2`.
    pub fn lots_text(&self) -> String {
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        format!("lots {}: {}", self.lots, states.join(", "))
    }

    /// `keys 250/400 (62%)`.
    pub fn keys_text(&self) -> String {
        format!(
            "keys {}/{} ({}%)",
            self.done(),
            self.keys_total,
            self.percent()
        )
    }

    /// `copied 240, skipped 10, failed 0, throttled 3`.
    pub fn counts_text(&self) -> String {
        format!(
            "copied {}, skipped {}, failed {}, throttled {}",
            self.copied, self.skipped, self.failed, self.throttled
        )
    }
}

/// Why a lot last failed: its recorded error, else its most frequent failure code and message.
fn error_of(item: &LotItem) -> Option<String> {
    if let Some(e) = &item.last_error {
        return Some(e.clone());
    }
    item.checkpoint
        .failed
        .iter()
        .max_by_key(|(_, g)| g.keys.count())
        .map(|(code, g)| format!("{code}: {}", g.message))
}

/// Keys per second over a sliding window of samples (seconds since the view started, keys
/// done), and the time left at that pace.
#[derive(Debug, Clone)]
pub struct Rate {
    window: f64,
    samples: VecDeque<(f64, u64)>,
}

impl Rate {
    /// A rate over the last `window_secs` seconds of samples.
    pub fn new(window_secs: f64) -> Self {
        Self {
            window: window_secs,
            samples: VecDeque::new(),
        }
    }

    /// Records that `done` keys were done at `at` seconds (non-decreasing); samples older than
    /// the window are dropped, but the newest older one is kept as the window's start.
    pub fn add(&mut self, at: f64, done: u64) {
        self.samples.push_back((at, done));
        while self.samples.len() > 2 && at - self.samples[1].0 >= self.window {
            self.samples.pop_front();
        }
    }

    /// Keys per second; `None` before two samples apart in time.
    pub fn per_sec(&self) -> Option<f64> {
        let (t0, d0) = *self.samples.front()?;
        let (t1, d1) = *self.samples.back()?;
        let dt = t1 - t0;
        (dt > 0.0).then(|| d1.saturating_sub(d0) as f64 / dt)
    }

    /// Seconds until `remaining` keys are done at the current rate; `None` while no key moves.
    pub fn eta_secs(&self, remaining: u64) -> Option<f64> {
        if remaining == 0 {
            return Some(0.0);
        }
        match self.per_sec() {
            Some(r) if r > 0.0 => Some(remaining as f64 / r),
            _ => None,
        }
    }

    /// `41.2 keys/s, ETA 4m05s` (or `-` for what is not known yet).
    pub fn text(&self, remaining: u64) -> String {
        let rate = self
            .per_sec()
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        let eta = self
            .eta_secs(remaining)
            .map_or_else(|| "-".to_owned(), duration_text);
        format!("{rate} keys/s, ETA {eta}")
    }
}

/// `12s`, `4m05s`, `3h07m`.
pub fn duration_text(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The one plain line of the view: lots by state, keys done, counts, rate and ETA, the last
/// error.
pub fn line(s: &Snapshot, rate: &Rate) -> String {
    let mut text = format!(
        "{} | {} | {} | {}",
        s.lots_text(),
        s.keys_text(),
        s.counts_text(),
        rate.text(s.keys_total.saturating_sub(s.done()))
    );
    if let Some(e) = &s.last_error {
        text.push_str(" | last error: ");
        text.push_str(e);
    }
    text
}

#[cfg(test)]
mod tests {
    use thaw_common::checkpoint::{Counters, FailedGroup};
    use thaw_common::fixtures::LotItemBuilder;

    use super::*;

    fn item(lot: u32, state: LotState, copied: u64, skipped: u64, failed: u64) -> LotItem {
        LotItemBuilder::new(lot, 10)
            .state(state)
            .counters(Counters {
                keys_total: 10,
                copied,
                skipped,
                failed,
                throttled: lot.into(),
                ..Counters::default()
            })
            .build()
    }

    #[test]
    fn a_snapshot_sums_the_lots() {
        let items = [
            item(0, LotState::Succeeded, 9, 1, 0),
            item(1, LotState::Running, 3, 0, 1),
            item(2, LotState::Pending, 0, 0, 0),
            item(3, LotState::Running, 2, 2, 0),
        ];
        let s = Snapshot::of(&items);
        assert_eq!(
            s.states,
            [
                (LotState::Pending, 1),
                (LotState::Running, 2),
                (LotState::Succeeded, 1)
            ]
        );
        assert_eq!((s.lots, s.keys_total), (4, 40));
        assert_eq!((s.copied, s.skipped, s.failed, s.throttled), (14, 3, 1, 6));
        assert_eq!(s.done(), 18);
        assert_eq!(s.percent(), 45);
        assert_eq!(s.last_error, None);
        assert_eq!(s.lots_text(), "lots 4: PENDING 1, RUNNING 2, SUCCEEDED 1");
        assert_eq!(s.keys_text(), "keys 18/40 (45%)");
        assert_eq!(
            s.counts_text(),
            "copied 14, skipped 3, failed 1, throttled 6"
        );
    }

    #[test]
    fn a_hundred_percent_only_when_every_key_is_done() {
        let mut s = Snapshot {
            keys_total: 1000,
            copied: 999,
            ..Snapshot::default()
        };
        assert_eq!(s.percent(), 99);
        s.failed = 1;
        assert_eq!(s.percent(), 100);
        assert_eq!(Snapshot::default().percent(), 100, "an empty job is done");
    }

    #[test]
    fn the_last_error_is_of_the_lot_written_last() {
        let mut a = item(0, LotState::Failed, 0, 0, 10);
        a.last_error = Some("worker exited (exit status: 1)".into());
        a.updated_at = Some(100);
        let mut b = item(1, LotState::Running, 0, 0, 2);
        b.updated_at = Some(200);
        let mut keys = thaw_common::bitmap::Bitmap::new(10);
        keys.set(3, true);
        b.checkpoint.failed.insert(
            "NoSuchKey".into(),
            FailedGroup {
                message: "The specified key does not exist.".into(),
                keys,
            },
        );
        let s = Snapshot::of(&[a.clone(), b.clone()]);
        assert_eq!(
            s.last_error.as_deref(),
            Some("lot 1: NoSuchKey: The specified key does not exist.")
        );
        b.updated_at = Some(50);
        let s = Snapshot::of(&[a, b]);
        assert_eq!(
            s.last_error.as_deref(),
            Some("lot 0: worker exited (exit status: 1)")
        );
    }

    #[test]
    fn the_rate_is_over_the_window() {
        let mut r = Rate::new(10.0);
        assert_eq!(r.per_sec(), None);
        r.add(0.0, 0);
        assert_eq!(r.per_sec(), None, "one sample has no rate");
        assert_eq!(r.eta_secs(10), None);
        r.add(2.0, 100);
        assert_eq!(r.per_sec(), Some(50.0));
        assert_eq!(r.eta_secs(500), Some(10.0));
        assert_eq!(r.eta_secs(0), Some(0.0), "nothing left is done now");
        // Past the window the first samples are dropped: the rate is the recent one (with the
        // first sample it would be 200 / 12).
        r.add(12.0, 200);
        assert_eq!(r.per_sec(), Some(10.0));
        r.add(22.0, 200);
        assert_eq!(r.per_sec(), Some(0.0));
        assert_eq!(r.eta_secs(1), None, "no key moves: no ETA");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration_text(0.4), "0s");
        assert_eq!(duration_text(59.0), "59s");
        assert_eq!(duration_text(245.0), "4m05s");
        assert_eq!(duration_text(11_220.0), "3h07m");
        assert_eq!(duration_text(-3.0), "0s");
    }

    #[test]
    fn the_plain_line_has_everything() {
        let mut s = Snapshot::of(&[item(0, LotState::Running, 5, 0, 0)]);
        let mut r = Rate::new(30.0);
        r.add(0.0, 0);
        r.add(1.0, 5);
        assert_eq!(
            line(&s, &r),
            "lots 1: RUNNING 1 | keys 5/10 (50%) | copied 5, skipped 0, failed 0, throttled 0 | 5.0 keys/s, ETA 1s"
        );
        s.last_error = Some("lot 0: boom".into());
        assert_eq!(
            line(&s, &Rate::new(30.0)),
            "lots 1: RUNNING 1 | keys 5/10 (50%) | copied 5, skipped 0, failed 0, throttled 0 | - keys/s, ETA - | last error: lot 0: boom"
        );
    }
}
