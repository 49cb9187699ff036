//! Whether a WAITING lot that is due is worth a task now: a pure verdict from what a look at its
//! restores saw ([`crate::restore_look`]) and the job's restore settings. A task started when few
//! restores are done pays a Fargate start and a look at every key for little; one started late
//! makes the restored copies' expiry (`--restore-days`, billed) the limit. So a lot is launched
//! when at least `--ready-fraction` of its restores are done, and always once the first restored
//! copies' expiry is near or the restores are past the longest time their class and tier take;
//! otherwise its next check moves later, never later than a copy made now could expire
//! ([`thaw_common::recheck`]).

use std::time::Duration;

use thaw_common::recheck::{latest_recheck, EXPIRY_MARGIN_SECS};
use thaw_common::restore_listing::Archive;
use thaw_common::spec::poll_delay;
use thaw_common::storage::RestoreTier;

/// Default of `follow --ready-fraction`.
pub const DEFAULT_READY_FRACTION: f64 = 0.9;

/// How long past the longest time a restore takes a lot still waits before it is launched
/// anyway (its worker asks again for restores that were lost).
pub const DEADLINE_GRACE_SECS: i64 = 3600;

/// What a look at a WAITING lot's restores saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Waiting keys looked at.
    pub looked: u64,
    /// Of those, the ones a task has work for (restore done, or no restore running).
    pub ready: u64,
    /// Whether every waiting key was looked at (a listing that reached them all): when not (a
    /// HEAD sample, a listing cut by its page budget), none ready among those looked at does
    /// not mean none is.
    pub every_key: bool,
    /// Whether any restore still running is [`Archive::Deep`].
    pub deep: bool,
    /// The soonest expiry of a restored copy seen (epoch seconds), when the look saw one.
    pub first_expiry: Option<i64>,
}

impl Seen {
    /// Whether some restored copy may exist (and may expire): one was seen, or not every key
    /// was looked at.
    fn maybe_ready(&self) -> bool {
        self.ready > 0 || !self.every_key
    }
}

/// What the verdict weighs besides the look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Facts {
    /// Now (epoch seconds).
    pub now: i64,
    /// When the lot first asked for restores (epoch seconds), if recorded: no copy expires
    /// before this + `restore_days`.
    pub first_requested_at: Option<i64>,
    /// When the lot last had a restore request accepted (epoch seconds), if recorded: the
    /// longest a restore takes counts from then.
    pub last_requested_at: Option<i64>,
    /// `--restore-days`.
    pub restore_days: u32,
    /// The tier restores were asked at.
    pub tier: RestoreTier,
    /// Whether some Expedited restores were asked at Standard instead (no Expedited capacity).
    pub fell_back: bool,
    /// The worker's `--poll-interval`, if set (seconds).
    pub poll_interval: Option<u64>,
    /// `--ready-fraction`.
    pub ready_fraction: f64,
}

impl Facts {
    /// The tier the slowest of the lot's restores run at: Standard where Expedited fell back,
    /// and for DEEP_ARCHIVE (no Expedited tier).
    fn slowest_tier(&self, archive: Archive) -> RestoreTier {
        match self.tier {
            RestoreTier::Expedited if self.fell_back || archive == Archive::Deep => {
                RestoreTier::Standard
            }
            t => t,
        }
    }
}

/// Why a lot is launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Enough of its restores are done.
    Ready,
    /// The first restored copies expire soon.
    ExpiryNear,
    /// Its restores are past the longest time they take.
    PastDeadline,
    /// Nothing was seen waiting: only a task can tell what is left.
    NothingSeen,
}

/// The verdict on a WAITING lot that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start a task now.
    Launch(Launch),
    /// Not worth a task yet: look again then (epoch seconds).
    Defer(i64),
}

/// The longest a restore of this kind takes (S3's documented upper bounds).
pub fn longest_restore(archive: Archive, tier: RestoreTier) -> Duration {
    let hours = match (tier, archive) {
        (RestoreTier::Expedited, Archive::Flexible) => 1, // 1-5 minutes
        (RestoreTier::Expedited | RestoreTier::Standard, Archive::Deep) => 12,
        (RestoreTier::Standard, Archive::Flexible) => 5,
        (RestoreTier::Bulk, Archive::Flexible) => 12,
        (RestoreTier::Bulk, Archive::Deep) => 48,
    };
    Duration::from_secs(hours * 3600)
}

/// Launch now, or when to look again.
pub fn verdict(seen: &Seen, f: &Facts) -> Verdict {
    if seen.looked == 0 {
        return Verdict::Launch(Launch::NothingSeen);
    }
    if seen.ready as f64 >= f.ready_fraction * seen.looked as f64 {
        return Verdict::Launch(Launch::Ready);
    }
    // The soonest a restored copy may expire: seen (S3's own date), or a day count after the
    // first request (S3 dates the expiry from the request: the request + the days, rounded up
    // to the next midnight UTC).
    let expiry = seen.first_expiry.or_else(|| {
        f.first_requested_at
            .map(|t| t.saturating_add(i64::from(f.restore_days) * 86_400))
    });
    let launch_by = expiry
        .map(|e| e.saturating_sub(EXPIRY_MARGIN_SECS))
        .filter(|_| seen.maybe_ready());
    if launch_by.is_some_and(|t| f.now >= t) {
        return Verdict::Launch(Launch::ExpiryNear);
    }
    let archive = Archive::deep_if(seen.deep);
    let tier = f.slowest_tier(archive);
    let longest = longest_restore(archive, tier).as_secs() as i64;
    let deadline = f
        .last_requested_at
        .or(f.first_requested_at)
        .map(|t| t.saturating_add(longest + DEADLINE_GRACE_SECS));
    if deadline.is_some_and(|t| f.now >= t) {
        return Verdict::Launch(Launch::PastDeadline);
    }
    let recheck = poll_delay(archive.class(), tier, f.poll_interval).as_secs() as i64;
    let mut next = f
        .now
        .saturating_add(recheck.max(1))
        .min(latest_recheck(f.now, f.restore_days));
    for t in [launch_by, deadline].into_iter().flatten() {
        next = next.min(t);
    }
    Verdict::Defer(next.max(f.now + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn facts() -> Facts {
        Facts {
            now: NOW,
            first_requested_at: Some(NOW - 5 * 3600),
            last_requested_at: Some(NOW - 5 * 3600),
            restore_days: 3,
            tier: RestoreTier::Bulk,
            fell_back: false,
            poll_interval: None,
            ready_fraction: DEFAULT_READY_FRACTION,
        }
    }

    fn seen(looked: u64, ready: u64) -> Seen {
        Seen {
            looked,
            ready,
            every_key: true,
            deep: false,
            first_expiry: None,
        }
    }

    #[test]
    fn launched_when_enough_restores_are_done() {
        assert_eq!(
            verdict(&seen(1000, 900), &facts()),
            Verdict::Launch(Launch::Ready)
        );
        assert_eq!(
            verdict(&seen(20, 20), &facts()),
            Verdict::Launch(Launch::Ready)
        );
        let half = Facts {
            ready_fraction: 0.5,
            ..facts()
        };
        assert_eq!(verdict(&seen(10, 5), &half), Verdict::Launch(Launch::Ready));
        assert_eq!(
            verdict(&seen(0, 0), &facts()),
            Verdict::Launch(Launch::NothingSeen)
        );
    }

    #[test]
    fn deferred_by_a_poll_delay_when_not_enough_are_done() {
        // GLACIER Bulk, asked half an hour ago: looked at again in a poll delay, 12 h (before
        // the 12 h + 1 h deadline, 12.5 h away)
        let fresh = Facts {
            first_requested_at: Some(NOW - 1800),
            last_requested_at: Some(NOW - 1800),
            ..facts()
        };
        assert_eq!(
            verdict(&seen(1000, 899), &fresh),
            Verdict::Defer(NOW + 12 * 3600)
        );
        // asked 5 h ago: the deadline (8 h away) comes before another poll delay
        assert_eq!(
            verdict(&seen(1000, 899), &facts()),
            Verdict::Defer(NOW + 8 * 3600)
        );
        // the deadline comes first: looked at again then, not later
        let late = Facts {
            first_requested_at: Some(NOW - 10 * 3600),
            last_requested_at: Some(NOW - 10 * 3600),
            ..facts()
        };
        assert_eq!(
            verdict(&seen(1000, 0), &late),
            Verdict::Defer(NOW + 3 * 3600)
        );
        // a short --poll-interval (tests, Expedited) looks again that soon
        let short = Facts {
            poll_interval: Some(2),
            ..facts()
        };
        assert_eq!(verdict(&seen(10, 1), &short), Verdict::Defer(NOW + 2));
        // DEEP_ARCHIVE Bulk restores: looked at again in 48 h, deadline 48 h + 1 h
        let deep = Seen {
            deep: true,
            ..seen(10, 1)
        };
        assert_eq!(verdict(&deep, &fresh), Verdict::Defer(NOW + 48 * 3600));
    }

    #[test]
    fn launched_anyway_when_the_expiry_or_the_deadline_is_near() {
        // restores kept 1 day, asked 12.5 h ago: the first copies may expire in 11.5 h
        let short_days = Facts {
            restore_days: 1,
            first_requested_at: Some(NOW - 12 * 3600 - 1800),
            last_requested_at: Some(NOW - 12 * 3600 - 1800),
            ..facts()
        };
        assert_eq!(
            verdict(&seen(100, 10), &short_days),
            Verdict::Launch(Launch::ExpiryNear)
        );
        // ... but with nothing restored yet nothing can expire: wait, until the deadline
        assert_eq!(
            verdict(&seen(100, 0), &short_days),
            Verdict::Defer(NOW + 1800)
        );
        // an expiry seen by the listing counts, whatever the request time
        let expiring = Seen {
            first_expiry: Some(NOW + 6 * 3600),
            ..seen(100, 10)
        };
        assert_eq!(
            verdict(&expiring, &facts()),
            Verdict::Launch(Launch::ExpiryNear)
        );
        // the defer stops at the moment the expiry margin begins
        let later = Seen {
            first_expiry: Some(NOW + 14 * 3600),
            ..seen(100, 10)
        };
        assert_eq!(verdict(&later, &facts()), Verdict::Defer(NOW + 2 * 3600));
        // GLACIER Bulk restores asked 13 h ago are past 12 h + 1 h
        let past = Facts {
            first_requested_at: Some(NOW - 13 * 3600),
            last_requested_at: Some(NOW - 13 * 3600),
            ..facts()
        };
        assert_eq!(
            verdict(&seen(100, 0), &past),
            Verdict::Launch(Launch::PastDeadline)
        );
    }

    #[test]
    fn a_defer_never_outlives_a_copy_made_now() {
        // copies kept 1 day; DEEP_ARCHIVE Bulk restores (poll delay 48 h, deadline 49 h after
        // the request): looked at again within 12 h, before a copy completed now could expire
        let deep_one_day = Facts {
            restore_days: 1,
            first_requested_at: Some(NOW - 3600),
            last_requested_at: Some(NOW - 3600),
            ..facts()
        };
        let deep = Seen {
            deep: true,
            ..seen(1000, 0)
        };
        assert_eq!(
            verdict(&deep, &deep_one_day),
            Verdict::Defer(NOW + 12 * 3600)
        );
        // the same with no request time recorded
        let unrecorded = Facts {
            first_requested_at: None,
            last_requested_at: None,
            ..deep_one_day
        };
        assert_eq!(verdict(&deep, &unrecorded), Verdict::Defer(NOW + 12 * 3600));
    }

    #[test]
    fn none_ready_in_a_sample_is_not_none_ready() {
        // restores kept 1 day, asked 12.5 h ago: some copies may expire in 11.5 h. A HEAD sample
        // that saw none done cannot tell none is: launched.
        let short_days = Facts {
            restore_days: 1,
            first_requested_at: Some(NOW - 12 * 3600 - 1800),
            last_requested_at: Some(NOW - 12 * 3600 - 1800),
            ..facts()
        };
        let sample = Seen {
            every_key: false,
            ..seen(20, 0)
        };
        assert_eq!(
            verdict(&sample, &short_days),
            Verdict::Launch(Launch::ExpiryNear)
        );
        // earlier, the defer stops where the margin begins
        let earlier = Facts {
            first_requested_at: Some(NOW - 10 * 3600),
            last_requested_at: Some(NOW - 10 * 3600),
            ..short_days
        };
        assert_eq!(verdict(&sample, &earlier), Verdict::Defer(NOW + 2 * 3600));
    }

    #[test]
    fn the_deadline_counts_from_the_last_request_and_the_fallen_back_tier() {
        // first asked 13 h ago (past GLACIER Bulk's 12 h + 1 h), but restores asked again 1 h
        // ago (lost, re-requested): not past the deadline, deferred until 12 h after them
        let again = Facts {
            first_requested_at: Some(NOW - 13 * 3600),
            last_requested_at: Some(NOW - 3600),
            restore_days: 30,
            ..facts()
        };
        assert_eq!(
            verdict(&seen(100, 0), &again),
            Verdict::Defer(NOW + 12 * 3600)
        );
        // Expedited restores that fell back to Standard: 5 h + 1 h, not 1 h + 1 h
        let expedited = Facts {
            tier: RestoreTier::Expedited,
            first_requested_at: Some(NOW - 3 * 3600),
            last_requested_at: Some(NOW - 3 * 3600),
            poll_interval: Some(60),
            ..facts()
        };
        assert_eq!(
            verdict(&seen(100, 0), &expedited),
            Verdict::Launch(Launch::PastDeadline)
        );
        let fell_back = Facts {
            fell_back: true,
            ..expedited
        };
        assert_eq!(verdict(&seen(100, 0), &fell_back), Verdict::Defer(NOW + 60));
    }
}
