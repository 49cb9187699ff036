//! `follow`'s look at a WAITING lot's restores in the model, before it starts a task for it:
//! what a listing of the lot's waiting keys would see at that time (every key, as the listing of
//! a sorted lot does), and the facts `follow` would weigh, handed to thaw's own verdict
//! ([`crate::readiness::verdict`]) so the simulation cannot drift from it.

use thaw_common::storage::RestoreTier;

use super::model::Archive;
use super::worker::LotModel;
use crate::readiness::{verdict, Facts, Seen, Verdict};

/// Keys one ListObjectsV2 page returns.
const PAGE_KEYS: f64 = 1000.0;

/// What the job tells the look.
#[derive(Debug, Clone, Copy)]
pub struct LookJob {
    /// The archive restored from.
    pub archive: Archive,
    /// The restore tier.
    pub tier: RestoreTier,
    /// `--restore-days`.
    pub restore_days: u32,
    /// The worker's `--poll-interval`, if set.
    pub poll_interval: Option<u64>,
    /// `follow --ready-fraction`.
    pub ready_fraction: f64,
}

/// The verdict on `lot` looked at `now` (seconds of virtual time), and the LIST pages the look
/// read.
pub fn look(lot: &LotModel, job: &LookJob, now: f64) -> (Verdict, u64) {
    let seen = seen(lot, job, now);
    let r = &lot.restores;
    let facts = Facts {
        now: now as i64,
        first_requested_at: r.first_request().map(|t| t as i64),
        last_requested_at: r.last_request().map(|t| t.ceil() as i64),
        restore_days: job.restore_days,
        tier: job.tier,
        fell_back: false,
        poll_interval: job.poll_interval,
        ready_fraction: job.ready_fraction,
    };
    let pages = (seen.looked as f64 / PAGE_KEYS).ceil().max(1.0) as u64;
    (verdict(&seen, &facts), pages)
}

/// What a listing of the lot's waiting keys (restore asked, not copied) sees at `now`: the
/// restores done, whether any still running is DEEP_ARCHIVE, and the soonest expiry of a
/// restored copy not copied yet: the request of the oldest restore completed since the last
/// copy pass began, plus `--restore-days` (S3 dates the expiry from the request), without S3's
/// rounding up to midnight (the model's copies expire no later than S3's).
fn seen(lot: &LotModel, job: &LookJob, now: f64) -> Seen {
    let r = &lot.restores;
    let waiting = (r.requested() - lot.copied).max(0.0);
    let ready = (r.completed(now) - lot.copied).clamp(0.0, waiting);
    let from = lot.copied_through.unwrap_or(f64::NEG_INFINITY);
    let first_expiry = r
        .oldest_request_completed_between(from, now, 0.5)
        .filter(|_| ready >= 0.5)
        .map(|t| (t + f64::from(job.restore_days) * 86_400.0) as i64);
    Seen {
        looked: waiting.round() as u64,
        ready: ready.round() as u64,
        every_key: true,
        deep: job.archive == Archive::Deep && waiting - ready >= 0.5,
        first_expiry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::Launch;

    const H: f64 = 3600.0;

    fn job(days: u32) -> LookJob {
        LookJob {
            archive: Archive::Glacier,
            tier: RestoreTier::Bulk,
            restore_days: days,
            poll_interval: None,
            ready_fraction: 0.9,
        }
    }

    #[test]
    fn a_lot_is_launched_once_enough_restores_are_done() {
        // 1,000 restores sent at 0, done 5-12 h later
        let mut lot = LotModel::new(1000.0, 5.0 * H, 12.0 * H);
        lot.restores.record(0.0, 0.0, 1000.0);
        // at 6 h a seventh is done: deferred to 12 h before the first copies expire, 1 day
        // after their request (S3 dates the expiry from the request)
        let (v, pages) = look(&lot, &job(1), 6.0 * H);
        assert_eq!(v, Verdict::Defer(12 * 3600));
        // kept 3 days: to the restores' deadline, 12 h + 1 h
        assert_eq!(look(&lot, &job(3), 6.0 * H).0, Verdict::Defer(13 * 3600));
        assert_eq!(pages, 1);
        // at 11.5 h over 90%: launched
        let (v, _) = look(&lot, &job(1), 11.5 * H);
        assert_eq!(v, Verdict::Launch(Launch::Ready));
    }
}
