//! Passes over the lot's manifest: each pass streams the spooled manifest and takes every key
//! still to do as far as it can go (`concurrency` keys in flight). Keys a pass sends back soon
//! (a request met weather, or the object changed under its copy) get another pass after a short
//! backoff ([`thaw_common::weather`]); keys waiting for their restores are polled after a delay
//! that fits the class and tier, or the run ends as WAITING when that would pass `--max-wait`.
//! In a sorted lot a listing looks at the keys first ([`crate::listing`]): on the first pass it
//! decides each listed key's first step (restore, skip, leave out, wait) without a HEAD; on
//! the polls, those still being restored skip the poll's HEAD.
//! A stop signal ends the current pass after the shutdown grace period.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use thaw_common::bitmap::Bitmap;
use thaw_common::keys::KeyLine;
use thaw_common::listed_plan::FirstStep;
use thaw_common::progress::now_secs;
use thaw_common::recheck::latest_recheck;
use thaw_common::restore_listing::Archive;
use thaw_common::spec::poll_delay;
use thaw_common::storage::RestoreTier;
use thaw_common::weather::{
    after_weather, still_throttled_message, weather_backoff, WeatherVerdict, MAX_WEATHER_TRIES,
    STILL_THROTTLED,
};

use crate::key::{process_key, Again, Step};
use crate::listing::{first_steps, still_restoring, FirstLook, FirstSteps, Restoring};
use crate::manifest::Manifest;
use crate::watchdog::watched;
use crate::Ctx;

/// How the processing of a lot ended.
pub enum LotOutcome {
    /// Every key is finished (copied, skipped or failed).
    Finished,
    /// Restores are still running; worth looking again at `next_check` (epoch seconds).
    Waiting {
        /// Keys still waiting.
        pending: u64,
        /// When to look again.
        next_check: i64,
    },
    /// Stopped by a signal (or fencing) before the end.
    Interrupted,
}

/// What one pass left to do.
struct PassResult {
    /// Keys waiting for their restores.
    pending: Bitmap,
    /// Whether any of them is DEEP_ARCHIVE.
    deep: bool,
    /// Keys to look at again soon.
    again: Bitmap,
}

/// Keys waiting for their restores, and when to poll them.
struct Waits {
    keys: Bitmap,
    deep: bool,
    poll_at: Option<Instant>,
}

/// Processes the lot in passes: the first over every key not done yet, then over the keys sent
/// back soon, and, once their poll delay passed, over the keys waiting for their restores, until
/// none is left, a stop signal comes, or the next poll would pass `max_wait`.
pub async fn process_lot(ctx: &Arc<Ctx>, manifest: &Manifest) -> Result<LotOutcome> {
    let started = Instant::now();
    let tries = Tries::default();
    let mut waits = Waits {
        keys: Bitmap::new(manifest.len),
        deep: false,
        poll_at: None,
    };
    // The first pass: every key not done, each listed one with the first step its listing
    // gave (a sorted lot), else less the restores a listing shows still running (not tried
    // again when the first listing failed); after it, just the keys left.
    let (mut steps, mut only) = match first_steps(ctx, manifest, &not_done(ctx, manifest)).await {
        FirstLook::Decided(steps) => (Some(steps), None),
        FirstLook::Failed => (None, None),
        FirstLook::NotListed => (None, first_pass_keys(ctx, manifest, &mut waits).await),
    };
    let mut soon_passes = 0;
    loop {
        let pass = run_pass(ctx, manifest, only.as_ref(), steps.take().as_ref(), &tries).await?;
        let Some(pass) = pass else {
            return Ok(LotOutcome::Interrupted);
        };
        waits.add(&pass, poll_delay_of(ctx, pass.deep));
        if pass.again.count() > 0 {
            soon_passes += 1;
            let backoff = weather_backoff(soon_passes);
            tracing::info!(
                lot = ctx.lot,
                again = pass.again.count(),
                in_s = backoff.as_secs(),
                "keys sent back for another pass"
            );
            if !pause(ctx, backoff).await {
                return Ok(LotOutcome::Interrupted);
            }
            only = Some(waits.take_if_due(pass.again));
            continue;
        }
        soon_passes = 0;
        let Some(poll_at) = waits.poll_at else {
            return Ok(LotOutcome::Finished);
        };
        let delay = poll_at.saturating_duration_since(Instant::now());
        let waiting = waits.keys.count() as u64;
        if started.elapsed().saturating_add(delay) > ctx.settings.max_wait {
            let delay = delay.max(fallback_delay(ctx, waits.deep));
            return Ok(LotOutcome::Waiting {
                pending: waiting,
                next_check: next_check(now_secs(), delay, ctx.spec.restore_days),
            });
        }
        tracing::info!(
            lot = ctx.lot,
            waiting,
            poll_in_s = delay.as_secs(),
            "waiting for restores"
        );
        if !pause(ctx, delay).await {
            return Ok(LotOutcome::Interrupted);
        }
        only = Some(due_for_heads(ctx, manifest, &mut waits).await);
    }
}

/// The waiting keys now due for a look, less those a listing shows still being restored (a
/// sorted lot, [`crate::listing`]): they stay waiting for the next poll without a HEAD each.
async fn due_for_heads(ctx: &Ctx, manifest: &Manifest, waits: &mut Waits) -> Bitmap {
    let due = waits.take_if_due(Bitmap::new(manifest.len));
    keep_restoring(ctx, manifest, waits, due).await
}

/// The lot's keys not done yet.
fn not_done(ctx: &Ctx, manifest: &Manifest) -> Bitmap {
    let mut todo = Bitmap::new(manifest.len);
    for i in 0..manifest.len {
        todo.set(i, !ctx.tracker.is_settled(i));
    }
    todo
}

/// The keys of a relaunched lot its first pass takes: every key not done, less those whose
/// restore this lot asked for and a listing shows still in progress (a sorted lot): they wait
/// for the first poll without a HEAD each. `None`: every key not done.
async fn first_pass_keys(ctx: &Ctx, manifest: &Manifest, waits: &mut Waits) -> Option<Bitmap> {
    let mut requested = Bitmap::new(manifest.len);
    for i in 0..manifest.len {
        if ctx.tracker.restore_requested_at(i).is_some() && !ctx.tracker.is_settled(i) {
            requested.set(i, true);
        }
    }
    if requested.count() == 0 {
        return None;
    }
    let mut all = Bitmap::new(manifest.len);
    for i in 0..manifest.len {
        all.set(i, !requested.get(i));
    }
    let due = keep_restoring(ctx, manifest, waits, requested).await;
    for i in due.ones() {
        all.set(i, true);
    }
    Some(all)
}

/// `due` less the keys a listing shows still being restored, which go back to `waits` for the
/// next poll.
async fn keep_restoring(ctx: &Ctx, manifest: &Manifest, waits: &mut Waits, due: Bitmap) -> Bitmap {
    let restoring = still_restoring(ctx, manifest, &due).await;
    let deep = restoring.deep;
    waits.keep(due, restoring, poll_delay_of(ctx, deep))
}

/// When a run that ends WAITING `delay` before its next poll (at `now`) has its lot looked at
/// again: then, but never later than a restored copy made now could expire
/// ([`thaw_common::recheck`]).
fn next_check(now: i64, delay: Duration, restore_days: u32) -> i64 {
    now.saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX))
        .min(latest_recheck(now, restore_days))
}

/// The poll delay of restores of this class at the tier they were asked at (DEEP_ARCHIVE has no
/// Expedited tier: Standard).
fn poll_delay_of(ctx: &Ctx, deep: bool) -> Duration {
    let archive = Archive::deep_if(deep);
    let tier = match ctx.spec.restore_tier {
        RestoreTier::Expedited if deep => RestoreTier::Standard,
        t => t,
    };
    poll_delay(archive.class(), tier, ctx.settings.poll_interval)
}

/// The least wait before the next run of a lot whose Expedited restores fell back to Standard
/// (no Expedited capacity): the Standard poll delay, so the lot is not relaunched every minute
/// for the hours a Standard restore takes. Zero when nothing fell back.
fn fallback_delay(ctx: &Ctx, deep: bool) -> Duration {
    if ctx.spec.restore_tier != RestoreTier::Expedited || ctx.tracker.tier_fallbacks() == 0 {
        return Duration::ZERO;
    }
    let archive = Archive::deep_if(deep);
    poll_delay(
        archive.class(),
        RestoreTier::Standard,
        ctx.settings.poll_interval,
    )
}

/// Sleeps `d`; false when a stop signal came first.
async fn pause(ctx: &Ctx, d: Duration) -> bool {
    let mut stop = ctx.stop.subscribe();
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

impl Waits {
    /// Adds a pass's waiting keys; the first ones set the poll time `delay` from now.
    fn add(&mut self, pass: &PassResult, delay: Duration) {
        for i in pass.pending.ones() {
            self.keys.set(i, true);
        }
        self.deep |= pass.deep;
        if self.poll_at.is_none() && pass.pending.count() > 0 {
            self.poll_at = Some(Instant::now() + delay);
        }
    }

    /// `due` less the keys `restoring` (a listing shows them still being restored): those wait
    /// again, polled `delay` from now when nothing waits yet. Their deepness is the listing's,
    /// not that of the keys that waited before.
    fn keep(&mut self, mut due: Bitmap, restoring: Restoring, delay: Duration) -> Bitmap {
        if restoring.keys.count() == 0 {
            return due;
        }
        for i in restoring.keys.ones() {
            due.set(i, false);
        }
        let kept = PassResult {
            pending: restoring.keys,
            deep: restoring.deep,
            again: Bitmap::new(due.len()),
        };
        self.add(&kept, delay);
        due
    }

    /// `again`, plus every waiting key when their poll is due (they leave the waiting set: the
    /// pass puts back those still waiting).
    fn take_if_due(&mut self, mut again: Bitmap) -> Bitmap {
        if self.poll_at.is_some_and(|t| t <= Instant::now()) {
            for i in self.keys.ones() {
                again.set(i, true);
            }
            self.keys = Bitmap::new(self.keys.len());
            self.deep = false;
            self.poll_at = None;
        }
        again
    }
}

/// How many times each key was sent back soon in this run.
#[derive(Default)]
struct Tries(Mutex<HashMap<usize, u32>>);

impl Tries {
    /// Sorts a key sent back: another pass (counted as throttled when it met weather), or, past
    /// [`MAX_WEATHER_TRIES`], a failure. True when it goes back.
    fn send_back(&self, ctx: &Ctx, i: usize, why: &Again) -> bool {
        let n = {
            let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let n = m.entry(i).or_insert(0);
            *n += 1;
            *n
        };
        match (after_weather(n), why) {
            (WeatherVerdict::Again, Again::Weather(_)) => {
                ctx.tracker.throttled();
                true
            }
            (WeatherVerdict::Again, Again::Changed) => true,
            (WeatherVerdict::GiveUp, Again::Weather(f)) => {
                let last = format!("{}: {}", f.code, f.message);
                ctx.tracker
                    .failed(i, STILL_THROTTLED, &still_throttled_message(&last));
                false
            }
            (WeatherVerdict::GiveUp, Again::Changed) => {
                let message = format!("the object changed during each of {MAX_WEATHER_TRIES} copies in this run (or its restored copy kept expiring)");
                ctx.tracker.failed(i, "StillChanging", &message);
                false
            }
        }
    }
}

/// Sorts one key's step into the pass's result.
fn sort_step(ctx: &Ctx, tries: &Tries, result: &Mutex<PassResult>, i: usize, step: Step) {
    let mut r = result.lock().unwrap_or_else(|e| e.into_inner());
    match step {
        Step::Finished => {}
        Step::Pending { deep } => {
            r.pending.set(i, true);
            r.deep |= deep;
        }
        Step::Again(why) => {
            if tries.send_back(ctx, i, &why) {
                r.again.set(i, true);
            }
        }
    }
}

/// One pass over the manifest (`steps`: the first steps a listing decided, the first pass of
/// a sorted lot). Returns the keys still waiting for a restore (and whether any is
/// DEEP_ARCHIVE) and those to look at again soon, or `None` when a stop signal ended the pass
/// early.
async fn run_pass(
    ctx: &Arc<Ctx>,
    manifest: &Manifest,
    only: Option<&Bitmap>,
    steps: Option<&FirstSteps>,
    tries: &Tries,
) -> Result<Option<PassResult>> {
    let result = Mutex::new(PassResult {
        pending: Bitmap::new(manifest.len),
        deep: false,
        again: Bitmap::new(manifest.len),
    });
    let keys = manifest.keys()?;
    let work = futures::stream::iter(keys.enumerate())
        .take_while(|_| futures::future::ready(!ctx.stopping()))
        .filter_map(|(i, line)| {
            let wanted =
                line.is_ok() && !ctx.tracker.is_settled(i) && only.is_none_or(|b| b.get(i));
            futures::future::ready(if wanted {
                line.ok().map(|l| (i, l))
            } else {
                None
            })
        })
        .map(|(i, entry)| {
            let ctx = ctx.clone();
            let first = steps.and_then(|s| s.get(&i)).cloned();
            async move { (i, watched_key(&ctx, i, &entry, first).await) }
        })
        .buffer_unordered(ctx.settings.concurrency)
        .for_each(|(i, step)| {
            sort_step(ctx, tries, &result, i, step);
            futures::future::ready(())
        });

    let mut stop = ctx.stop.subscribe();
    let grace = ctx.settings.shutdown_grace;
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        _ = work => {}
        _ = stopped => {
            tracing::warn!(lot = ctx.lot, "in-flight keys abandoned after the shutdown grace period");
        }
    }
    if ctx.stopping() {
        return Ok(None);
    }
    Ok(Some(result.into_inner().unwrap_or_else(|e| e.into_inner())))
}

/// One key under the watchdog: abandoned and taken again when it makes no progress for the key
/// timeout ([`crate::watchdog`]). `first`: its first step, when a listing decided it.
async fn watched_key(ctx: &Ctx, i: usize, entry: &KeyLine, first: Option<FirstStep>) -> Step {
    watched(ctx, i, entry, || process_key(ctx, i, entry, first.clone())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(len: usize, ones: &[usize]) -> Bitmap {
        let mut b = Bitmap::new(len);
        for &i in ones {
            b.set(i, true);
        }
        b
    }

    #[test]
    fn keys_kept_waiting_take_the_listings_deepness_not_the_last_polls() {
        // a DEEP_ARCHIVE key waited; its poll is due and it is taken
        let mut waits = Waits {
            keys: bits(4, &[0]),
            deep: true,
            poll_at: Some(Instant::now()),
        };
        let due = waits.take_if_due(Bitmap::new(4));
        assert_eq!(due.ones().collect::<Vec<_>>(), vec![0]);
        // the listing shows GLACIER keys 1 and 2 still being restored (key 0 is done)
        let due = bits(4, &[0, 1, 2]);
        let restoring = Restoring {
            keys: bits(4, &[1, 2]),
            deep: false,
        };
        let left = waits.keep(due, restoring, Duration::from_secs(5));
        assert_eq!(left.ones().collect::<Vec<_>>(), vec![0]);
        assert_eq!(waits.keys.ones().collect::<Vec<_>>(), vec![1, 2]);
        assert!(!waits.deep, "GLACIER keys wait at the GLACIER delay");
    }

    #[test]
    fn a_waiting_run_is_looked_at_again_before_copies_expire() {
        // DEEP_ARCHIVE Bulk (48 h poll delay), copies kept 1 day: 12 h
        let bulk = Duration::from_secs(48 * 3600);
        assert_eq!(next_check(1_000, bulk, 1), 1_000 + 12 * 3600);
        // a short delay stays
        assert_eq!(next_check(1_000, Duration::from_secs(60), 1), 1_060);
        assert_eq!(next_check(0, bulk, 30), 48 * 3600);
    }
}
