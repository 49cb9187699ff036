//! The window of one `follow` session when the Fargate quota says no.
//!
//! A RunTask refused for the account's Fargate quota ("You've reached the limit on the number of
//! tasks/vCPUs you can run concurrently") frees up only as tasks end: retrying it every look is a
//! loop that burns RunTask calls and launch backoffs. Instead the refused lot goes back to
//! PENDING and the window of the session shrinks to the tasks that run at that moment (the quota
//! the job really has, other jobs and services taking the rest), then grows back slowly: by a
//! tenth (at least one slot) for every [`GROW_EVERY`] seconds without another refusal, up to
//! `--max-tasks`. Another refusal shrinks it again. Pure: the session keeps a [`QuotaWindow`] and
//! asks it for the size at each look.

/// Seconds without a quota refusal for every step the window grows back.
pub const GROW_EVERY: i64 = 300;

/// The window of a session: `--max-tasks`, or less since a Fargate quota refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    max: u32,
    /// The size the last refusal set, and when.
    shrunk: Option<(u32, i64)>,
}

impl QuotaWindow {
    /// A window of `max` lots (`--max-tasks`), never refused yet.
    pub fn new(max: u32) -> Self {
        Self { max, shrunk: None }
    }

    /// `--max-tasks` as the job item has it now (another coordinator's `--max-tasks` is taken
    /// at the next look); a shrunk window stays shrunk, within the new maximum.
    pub fn set_max(&mut self, max: u32) {
        self.max = max;
    }

    /// `--max-tasks`.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The window at `now`: `--max-tasks`, or since a refusal the size it set, grown by a
    /// tenth (at least 1) for every [`GROW_EVERY`] seconds since, up to `--max-tasks`.
    pub fn size(&self, now: i64) -> u32 {
        let Some((mut size, at)) = self.shrunk else {
            return self.max;
        };
        let steps = now.saturating_sub(at).max(0) / GROW_EVERY;
        for _ in 0..steps {
            if size >= self.max {
                break;
            }
            size = size.saturating_add((size / 10).max(1));
        }
        size.min(self.max)
    }

    /// The quota refused a task at `now` while `running` of the job's tasks ran (the ones
    /// started in the same round included): the window becomes `running`. Returns the new size.
    pub fn refused(&mut self, running: u32, now: i64) -> u32 {
        let size = running.min(self.max);
        self.shrunk = Some((size, now));
        size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_shrinks_the_window_to_what_runs() {
        let mut w = QuotaWindow::new(50);
        assert_eq!(w.size(0), 50);
        assert_eq!(w.refused(20, 1000), 20);
        assert_eq!(w.size(1000), 20);
        // never above --max-tasks, whatever runs
        let mut small = QuotaWindow::new(5);
        assert_eq!(small.refused(9, 0), 5);
    }

    #[test]
    fn it_grows_back_slowly_then_whole() {
        let mut w = QuotaWindow::new(50);
        w.refused(20, 1000);
        assert_eq!(w.size(1000 + GROW_EVERY - 1), 20);
        assert_eq!(w.size(1000 + GROW_EVERY), 22);
        assert_eq!(w.size(1000 + 2 * GROW_EVERY), 24);
        // a window of 0 (nothing of ours ran) comes back one slot at a time
        w.refused(0, 5000);
        assert_eq!(w.size(5000), 0);
        assert_eq!(w.size(5000 + GROW_EVERY), 1);
        assert_eq!(w.size(5000 + 3 * GROW_EVERY), 3);
        // and in the end to --max-tasks, where it stays
        assert_eq!(w.size(5000 + 1000 * GROW_EVERY), 50);
        // a clock that goes back does not grow it
        assert_eq!(w.size(4000), 0);
    }

    #[test]
    fn a_new_max_applies_at_once() {
        let mut w = QuotaWindow::new(10);
        w.refused(8, 0);
        w.set_max(4);
        assert_eq!(w.size(0), 4);
        w.set_max(100);
        assert_eq!((w.size(0), w.max()), (8, 100));
        let mut fresh = QuotaWindow::new(10);
        fresh.set_max(30);
        assert_eq!(fresh.size(0), 30);
    }
}
