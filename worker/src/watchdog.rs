//! The watchdog: no key waits for ever, and a worker that stopped making progress stops saying
//! it is alive.
//!
//! Every AWS request has an attempt timeout (`--aws-attempt-timeout`, longer for copies), so a
//! connection that never answers costs one attempt, which the SDK retries. The watchdog is the
//! backstop for everything else that could hold a key (an SDK retrying a hung request again and
//! again, a bug, a lock): a key that made no progress for `key_timeout` is abandoned (the
//! multipart upload it had open is aborted, its record dropped) and taken again from the
//! start, at most [`KEY_TRIES`] times in a run; then it fails with `KeyTimeout` for this run
//! (every run tries failed keys again).
//!
//! Progress is a key finished (whatever its result) or a copy request answered (each part of a
//! multipart copy): a 5 TB object copied in 10,000 parts is never abandoned while its parts come
//! back. The worker-wide [`Liveness`] sees the same progress: while keys are in flight and none
//! made progress for `stall_timeout`, the checkpointer writes no heartbeat, so the coordinator
//! finds the lot stale and relaunches it (the stalled run is fenced off at its next write).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use thaw_common::keys::KeyLine;
use thaw_common::upload_record::UploadSlot;

use crate::copy;
use crate::key::Step;
use crate::Ctx;

/// How many times a run takes a key that the watchdog abandoned, before it fails the key.
pub const KEY_TRIES: u32 = 3;

/// The failure code of a key the watchdog abandoned [`KEY_TRIES`] times.
pub const KEY_TIMEOUT_CODE: &str = "KeyTimeout";

/// Milliseconds since `start`, saturating.
fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// True when a worker with `in_flight` keys whose last progress was `since_progress` ago is
/// stalled: it has work, and none of it moved for longer than `limit`. A worker with no key in
/// flight (waiting between passes for restores) is idle, not stalled.
pub fn is_stalled(in_flight: usize, since_progress: Duration, limit: Duration) -> bool {
    in_flight > 0 && since_progress > limit
}

/// The worker-wide view: keys in flight, and when any of them last made progress.
#[derive(Debug)]
pub struct Liveness {
    start: Instant,
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Default for Liveness {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }
}

impl Liveness {
    /// Something moved: a key finished or a request of it was answered.
    pub fn progress(&self) {
        self.last_ms
            .fetch_max(millis_since(self.start), Ordering::Relaxed);
    }

    /// True when keys are in flight and none made progress for longer than `limit`.
    pub fn stalled(&self, limit: Duration) -> bool {
        let since = millis_since(self.start).saturating_sub(self.last_ms.load(Ordering::Relaxed));
        is_stalled(
            self.in_flight.load(Ordering::Relaxed),
            Duration::from_millis(since),
            limit,
        )
    }

    fn enter(&self) {
        // A pass starting after an idle wait counts from the key's start, not the wait's.
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            self.progress();
        }
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A multipart upload a key has under way, for the clean-up when the key is abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Upload {
    /// CreateMultipartUpload was sent at `since` (epoch seconds) for `bucket`/`key`.
    Creating {
        bucket: String,
        key: String,
        since: i64,
    },
    /// An open upload.
    Open {
        bucket: String,
        key: String,
        upload_id: String,
    },
}

/// One try of one key: when it last made progress, and the upload it has under way.
#[derive(Debug)]
struct KeyClock {
    start: Instant,
    last_ms: AtomicU64,
    upload: Mutex<Option<Upload>>,
}

impl KeyClock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            upload: Mutex::new(None),
        }
    }

    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            millis_since(self.start).saturating_sub(self.last_ms.load(Ordering::Relaxed)),
        )
    }

    fn set_upload(&self, upload: Option<Upload>) {
        *self.upload.lock().unwrap_or_else(|e| e.into_inner()) = upload;
    }

    fn take_upload(&self) -> Option<Upload> {
        self.upload.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

tokio::task_local! {
    /// The clock of the key whose future is being polled (set by [`watched`]).
    static KEY: Arc<KeyClock>;
}

fn with_key(f: impl FnOnce(&KeyClock)) {
    let _ = KEY.try_with(|k| f(k));
}

/// A request of the key being processed was answered: progress for the key and the worker.
pub fn answered(ctx: &Ctx) {
    with_key(|k| {
        k.last_ms
            .fetch_max(millis_since(k.start), Ordering::Relaxed);
    });
    ctx.liveness.progress();
}

/// The key being processed is creating a multipart upload of `bucket`/`key` (at `since`).
pub fn upload_creating(bucket: &str, key: &str, since: i64) {
    with_key(|k| {
        k.set_upload(Some(Upload::Creating {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            since,
        }))
    });
}

/// The key being processed has multipart upload `upload_id` open.
pub fn upload_open(bucket: &str, key: &str, upload_id: &str) {
    with_key(|k| {
        k.set_upload(Some(Upload::Open {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
        }))
    });
}

/// The key being processed completed, aborted or never created its upload.
pub fn upload_closed() {
    with_key(|k| k.set_upload(None));
}

/// Runs `process` (one key, manifest position `i`) under the watchdog: a try that makes no
/// progress for `key_timeout` is abandoned, cleaned up and started again, at most
/// [`KEY_TRIES`] times; then the key fails with [`KEY_TIMEOUT_CODE`] for this run.
pub async fn watched<F, Fut>(ctx: &Ctx, i: usize, entry: &KeyLine, process: F) -> Step
where
    F: Fn() -> Fut,
    Fut: Future<Output = Step>,
{
    let limit = ctx.settings.key_timeout;
    for try_no in 1..=KEY_TRIES {
        let clock = Arc::new(KeyClock::new());
        ctx.liveness.enter();
        let step = tokio::select! {
            step = KEY.scope(clock.clone(), process()) => Some(step),
            _ = idle_past(&clock, limit) => None,
        };
        ctx.liveness.leave();
        if let Some(step) = step {
            ctx.liveness.progress();
            return step;
        }
        tracing::warn!(
            key = entry.key,
            try_no,
            limit_s = limit.as_secs_f64(),
            "key made no progress within the key timeout: abandoned"
        );
        if let Some(upload) = clock.take_upload() {
            clean_up(ctx, i, upload).await;
        }
    }
    let message = format!(
        "no progress within {} s, {KEY_TRIES} times: abandoned for this run",
        limit.as_secs()
    );
    ctx.tracker.failed(i, KEY_TIMEOUT_CODE, &message);
    Step::Finished
}

/// Resolves once `clock` has gone `limit` without progress.
async fn idle_past(clock: &KeyClock, limit: Duration) {
    loop {
        let idle = clock.idle_for();
        if idle >= limit {
            return;
        }
        tokio::time::sleep(limit - idle).await;
    }
}

/// Aborts the upload an abandoned try had under way and drops its record, so the next try's
/// record does not hide it.
async fn clean_up(ctx: &Ctx, i: usize, upload: Upload) {
    match upload {
        Upload::Open {
            bucket,
            key,
            upload_id,
        } => copy::abort(ctx, &bucket, &key, &upload_id).await,
        Upload::Creating { bucket, key, since } => {
            if let Err(e) = copy::abort_uploads_of(ctx, &bucket, &key, since).await {
                // The record stays: the next run looks for the upload again.
                tracing::warn!(key, error = %e, "could not look for the upload of an abandoned key");
                return;
            }
        }
    }
    ctx.forget(UploadSlot::Upload(i)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_worker_with_keys_in_flight_can_stall() {
        let limit = Duration::from_secs(10);
        assert!(!is_stalled(0, Duration::from_secs(3600), limit));
        assert!(!is_stalled(5, Duration::from_secs(10), limit));
        assert!(is_stalled(5, Duration::from_secs(11), limit));
    }

    #[test]
    fn liveness_counts_from_the_last_progress_with_keys_in_flight() {
        let l = Liveness::default();
        assert!(!l.stalled(Duration::ZERO), "no key in flight");
        l.enter();
        std::thread::sleep(Duration::from_millis(20));
        assert!(l.stalled(Duration::from_millis(5)));
        l.progress();
        assert!(!l.stalled(Duration::from_millis(15)));
        l.leave();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!l.stalled(Duration::from_millis(5)), "idle, not stalled");
    }

    #[tokio::test]
    async fn a_key_clock_counts_progress_only_inside_its_scope() {
        let clock = Arc::new(KeyClock::new());
        // Outside any key: nothing to touch, nothing breaks.
        upload_creating("b", "k", 1);
        KEY.scope(clock.clone(), async {
            upload_creating("b", "k", 7);
            upload_open("b", "k", "u1");
        })
        .await;
        assert_eq!(
            clock.take_upload(),
            Some(Upload::Open {
                bucket: "b".into(),
                key: "k".into(),
                upload_id: "u1".into()
            })
        );
        KEY.scope(clock.clone(), async {
            upload_open("b", "k", "u2");
            upload_closed();
        })
        .await;
        assert_eq!(clock.take_upload(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_without_progress_runs_out() {
        let clock = KeyClock::new();
        let limit = Duration::from_secs(30);
        idle_past(&clock, limit).await;
        assert!(clock.idle_for() >= limit);
    }
}
