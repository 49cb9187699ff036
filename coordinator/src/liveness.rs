//! Whether a lot still has a live worker: what `status` shows as STALE and what `retry` and
//! `follow` relaunch.
//!
//! A lot's worker counts as gone (the lot is **stale**) when its ECS task is STOPPED, when its
//! local process (same host) no longer exists, or when it has not written a heartbeat for longer
//! than the stale threshold. The lots come from one paginated Query; ECS is asked with one
//! DescribeTasks per 100 active ECS lots: no per-lot round trips. [`liveness`] itself is pure.

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
            if let Some(arn) = t.task_arn() {
                stopped.insert(
                    arn.to_owned(),
                    StoppedTask {
                        reason,
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
/// such process exists.
pub fn local_worker_gone(task: &TaskId, this_host: &str) -> bool {
    // Only where /proc tells (Linux); elsewhere the heartbeat decides.
    task.pid_on(this_host).is_some_and(|pid| {
        std::path::Path::new("/proc/self").exists()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
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
    /// No worker is expected (not active).
    Idle,
}

/// Decides a lot's liveness from its item, the stopped tasks, this host and the time.
pub fn liveness(
    lot: &LotItem,
    stopped: &BTreeMap<String, StoppedTask>,
    this_host: &str,
    now: i64,
    stale_after: i64,
) -> Liveness {
    if !lot.state.is_active() {
        return Liveness::Idle;
    }
    let launched = lot.launched_at.or(lot.updated_at).unwrap_or(now);
    if let Some(s) = lot.task.as_ref().and_then(|t| stopped.get(t)) {
        if !(s.missing && now - launched < LAUNCH_GRACE) {
            return Liveness::Stale(format!("ECS task stopped: {}", s.reason));
        }
    }
    let task = task_of(lot);
    if task
        .as_ref()
        .is_some_and(|t| local_worker_gone(t, this_host))
    {
        return Liveness::Stale("local worker process is gone".into());
    }
    match lot.state {
        // A running worker proves it is alive with its heartbeat, whatever its task.
        LotState::Running => match lot.heartbeat_at.or(lot.updated_at) {
            Some(t) if now - t > stale_after => {
                Liveness::Stale(format!("no heartbeat for {}s", now - t))
            }
            _ => Liveness::Live,
        },
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

/// Liveness of every lot of a job (one DescribeTasks per 100 active ECS lots).
pub async fn liveness_of(
    job: &Job,
    aws: &Aws,
    lots: &[LotItem],
    now: i64,
    stale_after: i64,
) -> anyhow::Result<BTreeMap<u32, Liveness>> {
    let stopped = match job.cluster() {
        Some(cluster) => stopped_tasks(&aws.ecs(), cluster, lots).await?,
        None => BTreeMap::new(),
    };
    let host = hostname();
    Ok(lots
        .iter()
        .map(|l| (l.lot, liveness(l, &stopped, host, now, stale_after)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::Counters;
    use thaw_common::fixtures::LotItemBuilder;

    fn lot(n: u32, state: LotState) -> LotItem {
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
}
