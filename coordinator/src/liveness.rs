//! Whether a lot still has a live worker: what `status` shows as STALE and what `retry` and
//! `follow` relaunch.
//!
//! A lot's worker counts as gone (the lot is **stale**) when its ECS task is STOPPED, when its
//! local process (same host) no longer exists or is a zombie, or when its heartbeat has not
//! changed for longer than the stale threshold. The lots come from one paginated Query; ECS is
//! asked with one DescribeTasks per 100 active ECS lots: no per-lot round trips. [`liveness`]
//! itself is pure.
//!
//! **No clock but our own.** `heartbeat_at` is written on the worker's clock, which may be
//! minutes off ours (a coordinator 90 s ahead once declared every running lot stale and fenced
//! live workers). So the heartbeat's *value* is never compared with our time when there is
//! anything better: a coordinator that looks more than once (`follow`, `status --watch`) keeps
//! [`Heartbeats`], what it saw of each lot's heartbeat and when *on its own clock* it last saw it
//! change; a lot is stale once its heartbeat has not changed for `stale_after` seconds of our
//! time, whatever either clock says. A single look (`status`, `retry`, `follow --once`, the first
//! look of `follow`) has nothing to compare with: it falls back on the two clocks, with
//! [`CLOCK_SLACK`] of tolerance, so only a heartbeat older than `stale_after` + 15 minutes by our
//! clock counts as gone there. A worker whose task was reclaimed by Fargate Spot before it could
//! record INTERRUPTED is [`Liveness::Interrupted`]: gone, but not by its own fault.

use std::collections::BTreeMap;

use anyhow::Context;
use thaw_common::aws::{Aws, AwsError};
use thaw_common::checkpoint::LotState;
use thaw_common::progress::LotItem;
use thaw_common::task::{hostname, TaskId};

use crate::job::Job;

/// What ECS says about a stopped task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedTask {
    /// `stoppedReason`, with the container's exit code and reason when there is one.
    pub reason: String,
    /// ECS stopped it because Fargate Spot took its capacity back (`stopCode`
    /// `SpotInterruption`).
    pub spot: bool,
    /// ECS answered MISSING: it does not know the task (yet: DescribeTasks is eventually
    /// consistent right after RunTask, or any more).
    pub missing: bool,
}

/// The stopped tasks among the active lots' tasks (one DescribeTasks per 100 tasks). A task that
/// ECS no longer knows (MISSING) counts as stopped.
pub async fn stopped_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    lots: &[LotItem],
) -> anyhow::Result<BTreeMap<String, StoppedTask>> {
    let arns: Vec<String> = lots
        .iter()
        .filter(|l| l.state.is_active())
        .filter_map(|l| Some(task_of(l)?.arn()?.to_owned()))
        .collect();
    let mut stopped = BTreeMap::new();
    for chunk in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTasks", &e))
            .context("looking up the job's ECS tasks")?;
        for t in out.tasks() {
            if t.last_status() != Some("STOPPED") {
                continue;
            }
            let mut reason = t.stopped_reason().unwrap_or("stopped").to_owned();
            for c in t.containers() {
                if let Some(code) = c.exit_code() {
                    reason.push_str(&format!("; exit code {code}"));
                }
                if let Some(r) = c.reason() {
                    reason.push_str(&format!("; {r}"));
                }
            }
            let spot = t.stop_code() == Some(&aws_sdk_ecs::types::TaskStopCode::SpotInterruption);
            if let Some(arn) = t.task_arn() {
                stopped.insert(
                    arn.to_owned(),
                    StoppedTask {
                        reason,
                        spot,
                        missing: false,
                    },
                );
            }
        }
        for f in out.failures() {
            if f.reason() == Some("MISSING") {
                if let Some(arn) = f.arn() {
                    stopped.insert(
                        arn.to_owned(),
                        StoppedTask {
                            reason: "task no longer known to ECS".into(),
                            spot: false,
                            missing: true,
                        },
                    );
                }
            }
        }
    }
    Ok(stopped)
}

/// The task id recorded on a lot, when it is one thaw wrote (an ECS ARN or a local worker).
fn task_of(lot: &LotItem) -> Option<TaskId> {
    lot.task.as_deref()?.parse().ok()
}

/// Whether a local worker process is known to be gone: only when it ran on this host and no
/// such process exists, or it is a zombie (exited, never reaped: a coordinator in a container
/// without an init leaves its dead workers so, and their pid stays taken).
pub fn local_worker_gone(task: &TaskId, this_host: &str) -> bool {
    // Only where /proc tells (Linux); elsewhere the heartbeat decides.
    task.pid_on(this_host).is_some_and(|pid| {
        std::path::Path::new("/proc/self").exists()
            && match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Ok(stat) => exited(&stat),
                Err(_) => true,
            }
    })
}

/// Whether a `/proc/<pid>/stat` line is a process that has exited: state `Z` (zombie) or `X`
/// (dead). The state follows the command name, which is in parentheses and may hold anything.
fn exited(stat: &str) -> bool {
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X'))
}

/// How much two clocks (the worker's and ours) are allowed to disagree when one look must
/// compare them (no [`Heartbeats`] history): 15 minutes, past which AWS itself refuses a
/// request's signature (`RequestTimeTooSkewed`).
pub const CLOCK_SLACK: i64 = 900;

/// What a coordinator saw of one lot's heartbeat across its looks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Beat {
    attempt: u64,
    heartbeat: Option<i64>,
    /// When (our clock) this heartbeat value was first seen.
    since: i64,
    /// Whether an earlier look saw this attempt at all.
    seen_before: bool,
}

/// What this coordinator saw of each lot's heartbeat, on its own clock, across its looks at the
/// job: the heartbeat value is only compared with itself, never with our time.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats(BTreeMap<u32, Beat>);

/// What [`Heartbeats`] knows of a lot's heartbeat at this look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First look at this attempt: nothing to compare with.
    FirstLook,
    /// The same value for this many seconds of our clock (0: it changed at this look).
    UnchangedFor(i64),
}

impl Heartbeats {
    /// Records a look at `lots` at `now` (our clock).
    pub fn observe(&mut self, lots: &[LotItem], now: i64) {
        for l in lots {
            let beat = self.0.entry(l.lot).or_insert(Beat {
                attempt: l.attempt,
                heartbeat: l.heartbeat_at,
                since: now,
                seen_before: false,
            });
            if beat.attempt != l.attempt {
                *beat = Beat {
                    attempt: l.attempt,
                    heartbeat: l.heartbeat_at,
                    since: now,
                    seen_before: false,
                };
            } else if beat.since != now {
                beat.seen_before = true;
                if beat.heartbeat != l.heartbeat_at {
                    beat.heartbeat = l.heartbeat_at;
                    beat.since = now;
                }
            }
        }
    }

    /// What was seen of `lot`'s heartbeat, as of `now`.
    pub fn seen(&self, lot: &LotItem, now: i64) -> Seen {
        match self.0.get(&lot.lot) {
            Some(b) if b.attempt == lot.attempt && b.seen_before => {
                Seen::UnchangedFor(now - b.since)
            }
            _ => Seen::FirstLook,
        }
    }
}

/// Seconds without a heartbeat after which a RUNNING lot counts as stale.
pub const DEFAULT_STALE_AFTER: i64 = 120;
/// A LAUNCHED task may take minutes to start (image pull, capacity): it gets longer.
pub const LAUNCH_GRACE: i64 = 600;

/// Where a lot's worker stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// A worker is (as far as we can tell) working on it.
    Live,
    /// It should have a worker, but the worker is gone: why.
    Stale(String),
    /// Its worker is gone because Fargate Spot took the capacity back before the worker could
    /// record INTERRUPTED: resumed without counting a retry.
    Interrupted(String),
    /// No worker is expected (not active).
    Idle,
}

/// The facts a lot's liveness is decided from, besides the lot: the stopped tasks, this host,
/// our time and what we saw of the heartbeats.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The stopped tasks among the job's (by ARN).
    pub stopped: &'a BTreeMap<String, StoppedTask>,
    /// This machine's name.
    pub this_host: &'a str,
    /// Now, on our clock (epoch seconds).
    pub now: i64,
    /// Seconds without a heartbeat change after which a RUNNING lot is stale.
    pub stale_after: i64,
    /// What this coordinator saw of the heartbeats in earlier looks.
    pub beats: &'a Heartbeats,
}

/// Decides a lot's liveness from its item and the [`Facts`].
pub fn liveness(lot: &LotItem, f: &Facts<'_>) -> Liveness {
    if !lot.state.is_active() {
        return Liveness::Idle;
    }
    let now = f.now;
    let launched = lot.launched_at.or(lot.updated_at).unwrap_or(now);
    if let Some(s) = lot.task.as_ref().and_then(|t| f.stopped.get(t)) {
        if s.spot {
            return Liveness::Interrupted(format!("ECS task stopped: {}", s.reason));
        }
        if !(s.missing && now - launched < LAUNCH_GRACE) {
            return Liveness::Stale(format!("ECS task stopped: {}", s.reason));
        }
    }
    let task = task_of(lot);
    if task
        .as_ref()
        .is_some_and(|t| local_worker_gone(t, f.this_host))
    {
        return Liveness::Stale("local worker process is gone".into());
    }
    let stale_after = f.stale_after;
    match lot.state {
        // A running worker proves it is alive with its heartbeat, whatever its task.
        LotState::Running => heartbeat_verdict(lot, f),
        // An ECS task that is not STOPPED may still be provisioning: it is live.
        _ if matches!(task, Some(TaskId::Ecs(_))) => Liveness::Live,
        // Claimed, but no task recorded or a local worker that never started running.
        _ if now - launched > stale_after.max(LAUNCH_GRACE) => Liveness::Stale(format!(
            "launched {}s ago and never started",
            now - launched
        )),
        _ => Liveness::Live,
    }
}

/// A RUNNING lot's heartbeat: changing on our clock is alive; the same value for `stale_after`
/// seconds of our clock is gone; at a first look, only a heartbeat older than `stale_after` +
/// [`CLOCK_SLACK`] by our clock is gone.
fn heartbeat_verdict(lot: &LotItem, f: &Facts<'_>) -> Liveness {
    match f.beats.seen(lot, f.now) {
        Seen::UnchangedFor(d) if d > f.stale_after => {
            Liveness::Stale(format!("heartbeat unchanged for {d}s"))
        }
        Seen::UnchangedFor(_) => Liveness::Live,
        Seen::FirstLook => match lot.heartbeat_at.or(lot.updated_at) {
            Some(t) if f.now - t > f.stale_after + CLOCK_SLACK => Liveness::Stale(format!(
                "no heartbeat for {}s (by this machine's clock)",
                f.now - t
            )),
            _ => Liveness::Live,
        },
    }
}

/// Liveness of every lot of a job at a single look (no heartbeat history; one DescribeTasks
/// per 100 active ECS lots).
pub async fn liveness_of(
    job: &Job,
    aws: &Aws,
    lots: &[LotItem],
    now: i64,
    stale_after: i64,
) -> anyhow::Result<BTreeMap<u32, Liveness>> {
    liveness_with(job, aws, lots, now, stale_after, &Heartbeats::default()).await
}

/// Liveness of every lot of a job, with what earlier looks saw of the heartbeats (`beats`, which
/// the caller updates with [`Heartbeats::observe`] before each look).
pub async fn liveness_with(
    job: &Job,
    aws: &Aws,
    lots: &[LotItem],
    now: i64,
    stale_after: i64,
    beats: &Heartbeats,
) -> anyhow::Result<BTreeMap<u32, Liveness>> {
    let stopped = match job.cluster() {
        Some(cluster) => stopped_tasks(&aws.ecs(), cluster, lots).await?,
        None => BTreeMap::new(),
    };
    let facts = Facts {
        stopped: &stopped,
        this_host: hostname(),
        now,
        stale_after,
        beats,
    };
    Ok(lots.iter().map(|l| (l.lot, liveness(l, &facts))).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use thaw_common::checkpoint::Counters;
    use thaw_common::fixtures::LotItemBuilder;

    /// Lot `n` in `state`, its ECS worker launched at 980, started at 990, last heard of at
    /// 1000 (the due-lot tests use it too).
    pub(crate) fn lot(n: u32, state: LotState) -> LotItem {
        LotItemBuilder::new(n, 1)
            .state(state)
            .counters(Counters::default())
            .task("arn:aws:ecs:task/1")
            .heartbeat_at(1000)
            .updated_at(1000)
            .started_at(990)
            .launched_at(980)
            .build()
    }

    /// What a coordinator that has watched `lots` since `from` (on a clock that agrees with the
    /// workers') knows.
    fn watched(lots: &[LotItem], from: i64) -> Heartbeats {
        let mut b = Heartbeats::default();
        b.observe(lots, from);
        b.observe(lots, from + 1);
        b
    }

    /// The verdict on `lot` for a coordinator that has watched it since its heartbeat.
    fn liveness(
        lot: &LotItem,
        stopped: &BTreeMap<String, StoppedTask>,
        this_host: &str,
        now: i64,
        stale_after: i64,
    ) -> Liveness {
        let beats = watched(std::slice::from_ref(lot), lot.heartbeat_at.unwrap_or(0));
        super::liveness(
            lot,
            &Facts {
                stopped,
                this_host,
                now,
                stale_after,
                beats: &beats,
            },
        )
    }

    /// The verdict on `lot` at a single look (no history).
    fn first_look(lot: &LotItem, now: i64, stale_after: i64) -> Liveness {
        super::liveness(
            lot,
            &Facts {
                stopped: &BTreeMap::new(),
                this_host: "h",
                now,
                stale_after,
                beats: &Heartbeats::default(),
            },
        )
    }

    #[test]
    fn liveness_rules() {
        let none = BTreeMap::new();
        let running = lot(0, LotState::Running);
        assert_eq!(liveness(&running, &none, "h", 1050, 120), Liveness::Live);
        assert!(matches!(
            liveness(&running, &none, "h", 1200, 120),
            Liveness::Stale(_)
        ));
        let mut stopped = BTreeMap::new();
        stopped.insert(
            "arn:aws:ecs:task/1".to_owned(),
            StoppedTask {
                reason: "Essential container exited; exit code 137".into(),
                spot: false,
                missing: false,
            },
        );
        match liveness(&running, &stopped, "h", 1001, 120) {
            Liveness::Stale(r) => assert!(r.contains("exit code 137"), "{r}"),
            other => panic!("{other:?}"),
        }
        // an ECS task that is not STOPPED may still be provisioning: live
        let launched = lot(0, LotState::Launched);
        assert_eq!(liveness(&launched, &none, "h", 5000, 120), Liveness::Live);
        // MISSING right after RunTask is eventual consistency, not a lost task
        let mut missing = BTreeMap::new();
        missing.insert(
            "arn:aws:ecs:task/1".to_owned(),
            StoppedTask {
                reason: "unknown".into(),
                spot: false,
                missing: true,
            },
        );
        assert_eq!(
            liveness(&launched, &missing, "h", 1000, 120),
            Liveness::Live
        );
        assert!(matches!(
            liveness(&launched, &missing, "h", 1700, 120),
            Liveness::Stale(_)
        ));
        // no task recorded: the launch grace period, then stale
        let mut untracked = lot(0, LotState::Launched);
        untracked.task = None;
        assert_eq!(liveness(&untracked, &none, "h", 1300, 120), Liveness::Live);
        assert!(matches!(
            liveness(&untracked, &none, "h", 1700, 120),
            Liveness::Stale(_)
        ));
        // a RUNNING lot with no task recorded (ECS, record failed) lives by its heartbeat
        let mut running_untracked = lot(0, LotState::Running);
        running_untracked.task = None;
        assert_eq!(
            liveness(&running_untracked, &none, "h", 1050, 120),
            Liveness::Live
        );
        assert_eq!(
            liveness(&lot(0, LotState::Failed), &none, "h", 9999, 120),
            Liveness::Idle
        );
    }

    #[test]
    fn dead_local_worker_is_stale_at_once() {
        let mut l = lot(0, LotState::Running);
        l.task = Some("local:thishost:4000000000".into());
        assert!(matches!(
            liveness(&l, &BTreeMap::new(), "thishost", 1001, 120),
            Liveness::Stale(_)
        ));
        // another host: only the heartbeat can tell
        assert_eq!(
            liveness(&l, &BTreeMap::new(), "otherhost", 1001, 120),
            Liveness::Live
        );
        let me: TaskId = format!("local:thishost:{}", std::process::id())
            .parse()
            .expect("task id");
        assert!(!local_worker_gone(&me, "thishost"));
    }

    #[test]
    fn skewed_clocks_never_make_a_beating_worker_stale() {
        // The worker's clock is 5 minutes behind ours, or ahead: its heartbeat values are off by
        // 300 s, but they change, and we only compare them with themselves.
        for skew in [-300_i64, 300, 3600] {
            let mut beats = Heartbeats::default();
            let mut l = lot(0, LotState::Running);
            for look in 0..20_i64 {
                let now = 10_000 + look * 30; // follow looks every 30 s
                l.heartbeat_at = Some(now - 5 + skew); // a beat 5 s ago, on the worker's clock
                beats.observe(std::slice::from_ref(&l), now);
                let f = Facts {
                    stopped: &BTreeMap::new(),
                    this_host: "h",
                    now,
                    stale_after: 120,
                    beats: &beats,
                };
                if skew.abs() <= CLOCK_SLACK || look > 0 {
                    assert_eq!(
                        super::liveness(&l, &f),
                        Liveness::Live,
                        "skew {skew} look {look}"
                    );
                }
            }
        }
        // the first look trusts the clocks only within the slack
        let l = lot(0, LotState::Running); // heartbeat at 1000
        assert_eq!(first_look(&l, 1000 + 90, 120), Liveness::Live);
        assert_eq!(first_look(&l, 1000 - 300, 120), Liveness::Live);
        assert_eq!(first_look(&l, 1000 + 120 + 300, 120), Liveness::Live);
        assert!(matches!(
            first_look(&l, 1000 + 120 + CLOCK_SLACK + 1, 120),
            Liveness::Stale(_)
        ));
    }

    #[test]
    fn a_dead_worker_is_found_by_a_heartbeat_that_stops_changing() {
        // The worker's clock is 5 minutes ahead: at a first look its last heartbeat looks fresh.
        let mut l = lot(0, LotState::Running);
        l.heartbeat_at = Some(10_000 + 300);
        let mut beats = Heartbeats::default();
        let look = |beats: &mut Heartbeats, l: &LotItem, now: i64| {
            beats.observe(std::slice::from_ref(l), now);
            super::liveness(
                l,
                &Facts {
                    stopped: &BTreeMap::new(),
                    this_host: "h",
                    now,
                    stale_after: 120,
                    beats,
                },
            )
        };
        assert_eq!(look(&mut beats, &l, 10_000), Liveness::Live);
        assert_eq!(look(&mut beats, &l, 10_060), Liveness::Live);
        assert_eq!(look(&mut beats, &l, 10_120), Liveness::Live);
        match look(&mut beats, &l, 10_121) {
            Liveness::Stale(r) => assert!(r.contains("unchanged for 121s"), "{r}"),
            other => panic!("{other:?}"),
        }
        // a new attempt starts over
        l.attempt += 1;
        assert_eq!(look(&mut beats, &l, 10_500), Liveness::Live);
    }

    #[test]
    fn a_spot_interruption_is_not_the_workers_fault() {
        let mut stopped = BTreeMap::new();
        stopped.insert(
            "arn:aws:ecs:task/1".to_owned(),
            StoppedTask {
                reason: "Your Spot Task was interrupted.".into(),
                spot: true,
                missing: false,
            },
        );
        for state in [LotState::Launched, LotState::Running] {
            match liveness(&lot(0, state), &stopped, "h", 1001, 120) {
                Liveness::Interrupted(r) => assert!(r.contains("Spot"), "{r}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn proc_stat_states() {
        assert!(exited("123 (worker) Z 1 123 123 0 -1"));
        assert!(exited("123 (a) b) X 1"));
        assert!(!exited("123 (worker) S 1 123"));
        assert!(!exited("123 (wor) Z ker) R 1"));
        assert!(!exited(""));
    }

    #[test]
    fn a_zombie_worker_is_gone() {
        // A child that exited and was never waited for: its pid exists, as a zombie.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let task = TaskId::local(child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !local_worker_gone(&task, hostname()) {
            assert!(std::time::Instant::now() < deadline, "never seen as gone");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            std::path::Path::new(&format!("/proc/{}", child.id())).exists(),
            "still a zombie, not reaped"
        );
        let _ = child.wait();
    }

    #[test]
    fn grace_and_slack_boundaries() {
        let none = BTreeMap::new();
        // launched at 980: a MISSING task is given exactly LAUNCH_GRACE seconds
        let launched = lot(0, LotState::Launched);
        let mut missing = BTreeMap::new();
        missing.insert(
            "arn:aws:ecs:task/1".to_owned(),
            StoppedTask {
                reason: "task no longer known to ECS".into(),
                spot: false,
                missing: true,
            },
        );
        let at = |now| liveness(&launched, &missing, "h", now, 120);
        assert_eq!(at(980 + LAUNCH_GRACE - 1), Liveness::Live);
        assert!(matches!(at(980 + LAUNCH_GRACE), Liveness::Stale(_)));
        // a lot with no task recorded: stale only past the grace
        let mut untracked = lot(0, LotState::Launched);
        untracked.task = None;
        assert_eq!(
            liveness(&untracked, &none, "h", 980 + LAUNCH_GRACE, 120),
            Liveness::Live
        );
        match liveness(&untracked, &none, "h", 980 + LAUNCH_GRACE + 1, 120) {
            Liveness::Stale(r) => assert_eq!(r, "launched 601s ago and never started"),
            other => panic!("{other:?}"),
        }
        // a longer stale threshold than the grace wins
        assert_eq!(
            liveness(&untracked, &none, "h", 980 + 700, 700),
            Liveness::Live
        );
        // without launched_at, updated_at (1000) is the launch time
        untracked.launched_at = None;
        assert_eq!(
            liveness(&untracked, &none, "h", 1000 + LAUNCH_GRACE, 120),
            Liveness::Live
        );
        // a single look: a heartbeat exactly stale_after + CLOCK_SLACK old is still live
        let running = lot(0, LotState::Running);
        assert_eq!(
            first_look(&running, 1000 + 120 + CLOCK_SLACK, 120),
            Liveness::Live
        );
        match first_look(&running, 1000 + 120 + CLOCK_SLACK + 1, 120) {
            Liveness::Stale(r) => assert!(r.contains("1021s"), "{r}"),
            other => panic!("{other:?}"),
        }
        // without a heartbeat, updated_at stands for it
        let mut quiet = lot(0, LotState::Running);
        quiet.heartbeat_at = None;
        quiet.updated_at = Some(5000);
        assert_eq!(
            first_look(&quiet, 5000 + 120 + CLOCK_SLACK, 120),
            Liveness::Live
        );
    }

    #[test]
    fn heartbeats_remember_only_what_changed_and_when() {
        let mut l = lot(0, LotState::Running);
        let mut beats = Heartbeats::default();
        beats.observe(std::slice::from_ref(&l), 100);
        // one look: nothing to compare with, however late we ask
        assert_eq!(beats.seen(&l, 1000), Seen::FirstLook);
        // the same look again (same time) is still the first
        beats.observe(std::slice::from_ref(&l), 100);
        assert_eq!(beats.seen(&l, 1000), Seen::FirstLook);
        // a second look with the same heartbeat: unchanged since the first look
        beats.observe(std::slice::from_ref(&l), 150);
        assert_eq!(beats.seen(&l, 200), Seen::UnchangedFor(100));
        // a new heartbeat value resets the time
        l.heartbeat_at = Some(1001);
        beats.observe(std::slice::from_ref(&l), 180);
        assert_eq!(beats.seen(&l, 200), Seen::UnchangedFor(20));
        // another attempt: a first look again, whatever was seen of the previous one
        let mut next = l.clone();
        next.attempt += 1;
        assert_eq!(beats.seen(&next, 200), Seen::FirstLook);
        beats.observe(std::slice::from_ref(&next), 190);
        assert_eq!(beats.seen(&next, 200), Seen::FirstLook);
        // a lot never seen
        assert_eq!(beats.seen(&lot(7, LotState::Running), 200), Seen::FirstLook);
    }
}
