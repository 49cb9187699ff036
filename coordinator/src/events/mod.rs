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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use thaw_common::aws::Aws;
use thaw_common::progress::{LotItem, ProgressError, ProgressTable};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::{info, warn};

use self::drain::{looks_shared, Health};
use self::lot_map::LotMap;
use self::tally::{Tally, Totals};

/// Lot items written at once when recording events.
const RECORDS: usize = 16;

/// Shortest attempt timeout of the SQS client: a long poll holds a receive for 20 s.
const LONG_POLL_ATTEMPT: Duration = Duration::from_secs(40);

/// A `follow` session's events: the drainer running, and what it counted.
pub struct Events {
    tally: Arc<Mutex<Tally>>,
    health: Arc<Mutex<Health>>,
    wake: Arc<Notify>,
    /// Set by the first Ctrl-C or SIGTERM.
    interrupted: Arc<AtomicBool>,
    _drainers: JoinSet<()>,
    _signals: JoinSet<()>,
    /// The index directory this session made (removed when it ends).
    made_dir: Option<PathBuf>,
}

/// What the drainer saw this session: the counts, and its health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// What it counted.
    pub totals: Totals,
    /// Stale events, receive errors, restarts.
    pub health: Health,
}

/// The prefix of the index directories sessions make under the temporary directory.
const DIR_PREFIX: &str = "thaw-events-";

/// Where the session's index goes: `--events-index-dir`, else a directory of its own under the
/// system's temporary directory (removed at the end).
fn index_dir(job: &str, dir: Option<PathBuf>) -> (PathBuf, bool) {
    match dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("{DIR_PREFIX}{job}-{}", std::process::id())),
            true,
        ),
    }
}

/// Of the directory names `names`, the index directories of `job`'s sessions whose process is
/// gone (`thaw-events-<job>-<pid>`, `alive(pid)` false): what a killed `follow` of the job left
/// behind. Only the job's own: a pid is only known dead in this PID namespace, and another
/// job's `follow` may run in a container with its own namespace sharing the directory (one job
/// has one `follow --events` at a time, its queue's).
fn dead_sessions<'a>(
    names: impl IntoIterator<Item = &'a str>,
    job: &str,
    alive: impl Fn(u32) -> bool,
) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| {
            n.strip_prefix(DIR_PREFIX)
                .and_then(|rest| rest.rsplit_once('-'))
                .and_then(|(j, pid)| (j == job).then_some(pid))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !alive(pid))
        })
        .collect()
}

/// Removes the index directories under `tmp` of `job`'s sessions whose process is gone; only
/// where /proc tells which processes run (Linux), else nothing.
fn remove_dead_sessions(tmp: &Path, job: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
    for name in dead_sessions(names.iter().map(String::as_str), job, alive) {
        match std::fs::remove_dir_all(tmp.join(name)) {
            Ok(()) => info!(
                dir = name,
                "events: removed the index of a session that is gone"
            ),
            Err(e) => warn!(dir = name, "{e}; could not remove a stale events index"),
        }
    }
}

/// Sets `interrupted` and wakes `follow` on the first Ctrl-C or SIGTERM (`follow` then stops
/// and the session's index is removed); removes `dir` and exits on the second.
fn watch_signals(
    interrupted: Arc<AtomicBool>,
    wake: Arc<Notify>,
    dir: Option<PathBuf>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    set.spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        for first in [true, false] {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                _ = term.recv() => {}
            }
            if first {
                warn!("interrupted: follow stops after this look (again to quit now)");
                interrupted.store(true, Ordering::SeqCst);
                wake.notify_one();
            }
        }
        if let Some(d) = dir {
            let _ = std::fs::remove_dir_all(d);
        }
        std::process::exit(130);
    });
    set
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
        let sqs = sqs(aws);
        drain::check(&sqs, queue_url).await?;
        let (dir, own) = index_dir(job, dir);
        if own {
            remove_dead_sessions(&std::env::temp_dir(), job);
        }
        let interrupted = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let signals = watch_signals(interrupted.clone(), wake.clone(), own.then(|| dir.clone()));
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
        let health = Arc::new(Mutex::new(Health::default()));
        let drainers = drain::start(
            sqs,
            drain::Drain {
                queue_url: queue_url.to_owned(),
                bucket: bucket.to_owned(),
                map,
                tally: tally.clone(),
                health: health.clone(),
                wake: wake.clone(),
                warned_shared: AtomicBool::new(false),
            },
        );
        Ok(Self {
            tally,
            health,
            wake,
            interrupted,
            _drainers: drainers,
            _signals: signals,
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

    /// What the drainer counted and how it is doing, this session.
    pub fn totals(&self) -> Summary {
        let health = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        Summary {
            totals: self.with_tally(|t| t.totals),
            health,
        }
    }

    /// True once Ctrl-C or SIGTERM asked `follow` to stop.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
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
pub fn progress_text(s: &Summary, brought: usize) -> String {
    let (t, h) = (&s.totals, &s.health);
    let mut text = format!("events {} counted", t.counted);
    if brought > 0 {
        text.push_str(&format!(", {brought} lots due early"));
    }
    for (n, what) in [
        (t.foreign, "foreign"),
        (h.stale, "stale"),
        (t.ignored, "other"),
        (t.malformed, "malformed"),
        (h.receive_errors, "receive errors"),
        (h.restarts, "receivers restarted"),
    ] {
        if n > 0 {
            text.push_str(&format!(", {n} {what}"));
        }
    }
    if looks_shared(t) {
        text.push_str(" (queue shared? one follow --events per queue)");
    }
    if let Some(e) = &h.last_error {
        text.push_str(&format!("; receiving fails: {e}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_in_the_progress_line() {
        let mut s = Summary {
            totals: Totals {
                counted: 12,
                foreign: 3,
                ignored: 0,
                malformed: 1,
            },
            health: Health::default(),
        };
        assert_eq!(
            progress_text(&s, 2),
            "events 12 counted, 2 lots due early, 3 foreign, 1 malformed"
        );
        assert_eq!(progress_text(&Summary::default(), 0), "events 0 counted");
        s.health = Health {
            stale: 4,
            receive_errors: 2,
            last_error: Some("ReceiveMessage: AccessDenied".into()),
            restarts: 0,
        };
        assert_eq!(
            progress_text(&s, 0),
            "events 12 counted, 3 foreign, 4 stale, 1 malformed, 2 receive errors; \
             receiving fails: ReceiveMessage: AccessDenied"
        );
        s.totals.foreign = 40;
        assert!(progress_text(&s, 0)
            .contains("40 foreign, 4 stale, 1 malformed, 2 receive errors (queue shared?"));
    }

    #[test]
    fn the_index_of_a_session_that_is_gone_is_found() {
        let names = [
            "thaw-events-j1-100",
            "thaw-events-j-2-200",
            "thaw-events-j1-300",
            "thaw-events-j1-x",
            "thaw-events--400",
            "other-500",
        ];
        let alive = |pid: u32| pid == 300;
        assert_eq!(
            dead_sessions(names, "j1", alive),
            vec!["thaw-events-j1-100"]
        );
        assert_eq!(
            dead_sessions(names, "j-2", alive),
            vec!["thaw-events-j-2-200"]
        );
    }

    #[test]
    fn only_dead_sessions_directories_are_removed() {
        let tmp = std::env::temp_dir().join(format!("thaw-evtest-{}", std::process::id()));
        let live = tmp.join(format!("thaw-events-j-{}", std::process::id()));
        // pid_max is at most 4194304 on Linux: this pid runs nowhere
        let dead = tmp.join("thaw-events-j-4294967295");
        // another job's: maybe alive in another PID namespace
        let other = tmp.join("thaw-events-k-4294967295");
        for d in [&live, &dead, &other] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        remove_dead_sessions(&tmp, "j");
        let kept = (live.exists(), dead.exists(), other.exists());
        std::fs::remove_dir_all(&tmp).expect("cleanup");
        assert_eq!(kept, (true, false, true));
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
