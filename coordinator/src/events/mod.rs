//! `follow --events QUEUE_URL`: restore-completed events bring WAITING lots forward. S3 sends
//! "Object Restore Completed" to EventBridge, a rule forwards them to an SQS queue, and the
//! drainer ([`drain`]) counts them per lot ([`tally`]), the lot of a key found by
//! [`lot_map`] (sorted lots' key ranges, an on-disk [`key_index`] for the others). A WAITING lot
//! whose events reach `--ready-fraction` of its waiting keys is due at once: `follow` wakes, and
//! its readiness look ([`crate::restore_look`]) confirms before a task starts. Events only ever
//! bring a lot forward: its scheduled check stays.
//!
//! `coordinator events setup` makes that path, one piece per module ([`setup`] names them).

pub mod drain;
pub mod key_index;
pub mod lot_map;
pub mod notification;
pub mod notification_merge;
pub mod queue;
pub mod rule;
pub mod setup;
pub mod tally;

pub use setup::{default_queue_name, rule_name, valid_queue_name, Change};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use thaw_common::aws::Aws;
use thaw_common::progress::{LotItem, ProgressError, ProgressTable};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{info, warn};

use self::lot_map::LotMap;
use self::tally::{Tally, Totals};

/// Lot items written at once when recording events.
const RECORDS: usize = 16;

/// Shortest attempt timeout of the SQS client: a long poll holds a receive for 20 s.
const LONG_POLL_ATTEMPT: Duration = Duration::from_secs(40);

/// A `follow` session's events: the drainer running, and what it counted.
pub struct Events {
    tally: Arc<Mutex<Tally>>,
    wake: Arc<Notify>,
    _drainers: JoinSet<()>,
    /// The index directory this session made (removed when it ends).
    made_dir: Option<PathBuf>,
}

/// Where the session's index goes: `--events-index-dir`, else a directory of its own under the
/// system's temporary directory (removed at the end).
fn index_dir(job: &str, dir: Option<PathBuf>) -> (PathBuf, bool) {
    match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("thaw-events-{job}-{}", std::process::id())),
            true,
        ),
    }
}

impl Events {
    /// Maps the job's open lots (building the index of the scattered ones) and starts draining
    /// `queue_url`.
    pub async fn start(
        aws: &Aws,
        job: &str,
        bucket: &str,
        lots: &[LotItem],
        queue_url: &str,
        dir: Option<PathBuf>,
        fraction: f64,
    ) -> anyhow::Result<Self> {
        let (dir, own) = index_dir(job, dir);
        let map = LotMap::build(&aws.s3(), lots, &dir).await?;
        info!(
            ranges = map.ranges(),
            indexed_keys = map.indexed_keys(),
            queue = queue_url,
            "events: draining restore-completed events"
        );
        let mut tally = Tally::new(fraction);
        tally.observe(lots);
        let tally = Arc::new(Mutex::new(tally));
        let wake = Arc::new(Notify::new());
        let drainers = drain::start(
            sqs(aws),
            drain::Drain {
                queue_url: queue_url.to_owned(),
                bucket: bucket.to_owned(),
                map,
                tally: tally.clone(),
                wake: wake.clone(),
            },
        );
        Ok(Self {
            tally,
            wake,
            _drainers: drainers,
            made_dir: own.then_some(dir),
        })
    }

    fn with_tally<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        let mut t = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut t)
    }

    /// Takes the lots as read, and makes the WAITING lots whose events reached the fraction
    /// due now (their `next_check_at` in `lots`, not in the table); returns those lots.
    pub fn bring_forward(&self, lots: &mut [LotItem], now: i64) -> Vec<u32> {
        let due = self.with_tally(|t| {
            t.observe(lots);
            t.due(lots, now)
        });
        for l in lots.iter_mut().filter(|l| due.contains(&l.lot)) {
            l.next_check_at = Some(now);
        }
        if !due.is_empty() {
            info!(lots = ?due, "events: lots due before their scheduled check");
        }
        due
    }

    /// Records on their items the counts of WAITING lots that moved by a tenth of their waiting
    /// keys (what `status` shows); a lot relaunched meanwhile is left alone.
    pub async fn record(&self, table: &ProgressTable, job: &str, lots: &[LotItem]) {
        let writes = self.with_tally(|t| t.to_record(lots));
        let results: Vec<(u32, Result<(), ProgressError>)> = futures::stream::iter(writes)
            .map(|(lot, attempt, counted)| async move {
                (lot, table.record_events(job, lot, attempt, counted).await)
            })
            .buffer_unordered(RECORDS)
            .collect()
            .await;
        for (lot, r) in results {
            match r {
                Ok(()) | Err(ProgressError::Fenced { .. }) => {}
                Err(e) => warn!(lot, "{e:#}; could not record the lot's events"),
            }
        }
    }

    /// Events counted for each lot's current run.
    pub fn counted(&self, lot: u32) -> u64 {
        self.with_tally(|t| t.counted(lot))
    }

    /// What the drainer counted this session.
    pub fn totals(&self) -> Totals {
        self.with_tally(|t| t.totals)
    }

    /// Sleeps `pause`, or less when an event makes a lot due.
    pub async fn pause(&self, pause: Duration) {
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = self.wake.notified() => {}
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Some(d) = &self.made_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The SQS client: the shared configuration, with an attempt timeout a long poll fits in.
fn sqs(aws: &Aws) -> aws_sdk_sqs::Client {
    let attempt = aws
        .config
        .timeout_config()
        .and_then(|t| t.operation_attempt_timeout())
        .map_or(LONG_POLL_ATTEMPT, |t| t.max(LONG_POLL_ATTEMPT));
    let conf = aws_sdk_sqs::config::Builder::from(&aws.config)
        .timeout_config(
            aws_sdk_sqs::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// The events part of `follow`'s progress line.
pub fn progress_text(t: &Totals, brought: usize) -> String {
    let mut s = format!("events {} counted", t.counted);
    if brought > 0 {
        s.push_str(&format!(", {brought} lots due early"));
    }
    for (n, what) in [
        (t.foreign, "foreign"),
        (t.ignored, "other"),
        (t.malformed, "malformed"),
    ] {
        if n > 0 {
            s.push_str(&format!(", {n} {what}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_in_the_progress_line() {
        let t = Totals {
            counted: 12,
            foreign: 3,
            ignored: 0,
            malformed: 1,
        };
        assert_eq!(
            progress_text(&t, 2),
            "events 12 counted, 2 lots due early, 3 foreign, 1 malformed"
        );
        assert_eq!(progress_text(&Totals::default(), 0), "events 0 counted");
    }

    #[test]
    fn the_index_goes_in_a_directory_of_the_session_unless_given() {
        let (d, own) = index_dir("j1", None);
        assert!(own);
        assert!(d.to_string_lossy().contains("thaw-events-j1-"));
        let (d, own) = index_dir("j1", Some(PathBuf::from("/data/idx")));
        assert!(!own);
        assert_eq!(d, PathBuf::from("/data/idx"));
    }
}
