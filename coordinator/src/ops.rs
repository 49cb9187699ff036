//! What the commands that operate a running job share (`status`, `retry`, `follow`, `cancel`):
//! loading a job and rebuilding its launcher, telling which lots still have a live worker, and
//! choosing the lots that are due for a relaunch.
//!
//! A lot's worker counts as gone (the lot is **stale**) when its ECS task is STOPPED, when its
//! local process (same host) no longer exists, or when it has not written a heartbeat for longer
//! than the stale threshold. Everything else is read from the progress table in one paginated
//! Query, plus one DescribeTasks per 100 active ECS lots: no per-lot round trips.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context};
use thaw_common::aws::{Aws, AwsError};
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::spec::JobSpec;

use crate::cmd::Global;
use crate::launcher::ecs::EcsLauncher;
use crate::launcher::local::{hostname, LocalLauncher};
use crate::launcher::{LaunchSettings, Launcher, WorkerEnv};

/// A job as recorded in the table: its spec and how its workers are launched.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job spec (`job.json`).
    pub spec: JobSpec,
    /// Launcher settings given at launch.
    pub settings: LaunchSettings,
}

/// Reads the job item; a missing job is a clear error.
pub async fn load_job(g: &Global, table: &ProgressTable, job: &str) -> anyhow::Result<Job> {
    let item = table
        .get_job(job)
        .await?
        .ok_or_else(|| anyhow!("job {job} not found in table {}", g.table))?;
    let spec: JobSpec = serde_json::from_str(&item.spec_json)
        .with_context(|| format!("job {job}: unreadable job spec in the table"))?;
    let settings: LaunchSettings = serde_json::from_str(&item.launch_json)
        .with_context(|| format!("job {job}: unreadable launcher settings in the table"))?;
    Ok(Job { spec, settings })
}

impl Job {
    /// A launcher that starts workers the way the job's `launch` did.
    pub fn launcher(&self, g: &Global, aws: &Aws) -> Launcher {
        let env = WorkerEnv {
            job_id: self.spec.job_id.clone(),
            table: g.table.clone(),
            control: self.spec.control.clone(),
            region: aws.region(),
            endpoint_url: aws.endpoint_url(),
        };
        match &self.settings {
            LaunchSettings::Ecs(s) => Launcher::Ecs(EcsLauncher::new(aws.ecs(), s.clone(), env)),
            LaunchSettings::Local(s) => {
                let l = LocalLauncher::new(s.clone(), env);
                l.watch_interrupts();
                Launcher::Local(l)
            }
        }
    }

    /// The ECS cluster, for ECS jobs.
    pub fn cluster(&self) -> Option<&str> {
        match &self.settings {
            LaunchSettings::Ecs(s) => Some(&s.cluster),
            LaunchSettings::Local(_) => None,
        }
    }
}

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
        .filter_map(|l| l.task.clone())
        .filter(|t| t.starts_with("arn:"))
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

/// Whether a local worker process (`local:<host>:<pid>`) is known to be gone: only when it ran
/// on this host and no such process exists.
pub fn local_worker_gone(task: &str, this_host: &str) -> bool {
    let Some(rest) = task.strip_prefix("local:") else {
        return false;
    };
    let Some((host, pid)) = rest.rsplit_once(':') else {
        return false;
    };
    // Only where /proc tells (Linux); elsewhere the heartbeat decides.
    host == this_host
        && std::path::Path::new("/proc/self").exists()
        && pid
            .parse::<u32>()
            .is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
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
    if let Some(task) = &lot.task {
        if let Some(s) = stopped.get(task) {
            if !(s.missing && now - launched < LAUNCH_GRACE) {
                return Liveness::Stale(format!("ECS task stopped: {}", s.reason));
            }
        }
        if local_worker_gone(task, this_host) {
            return Liveness::Stale("local worker process is gone".into());
        }
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
        _ if lot.task.as_deref().is_some_and(|t| t.starts_with("arn:")) => Liveness::Live,
        // Claimed, but no task recorded or a local worker that never started running.
        _ if now - launched > stale_after.max(LAUNCH_GRACE) => Liveness::Stale(format!(
            "launched {}s ago and never started",
            now - launched
        )),
        _ => Liveness::Live,
    }
}

/// Why a lot is relaunched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Never launched (PENDING).
    Pending,
    /// WAITING and its restores are worth checking now.
    Waiting,
    /// Stopped cleanly before the end (INTERRUPTED, CANCELLED).
    Resume,
    /// FAILED, or its worker is gone: counts as a retry.
    Retry,
}

/// The lots due for a relaunch now, with why. `max_retries` (for `follow`) leaves alone the lots
/// that failed that many times already, and CANCELLED lots (only `retry` resumes a cancelled
/// job); `only` restricts to the given lot numbers. A lot whose launch failed (e.g. no Fargate
/// capacity) is relaunched without counting a retry.
pub fn due_lots(
    lots: &[LotItem],
    live: &BTreeMap<u32, Liveness>,
    now: i64,
    max_retries: Option<u64>,
    only: Option<&BTreeSet<u32>>,
) -> Vec<(LotItem, Due)> {
    let resume_cancelled = max_retries.is_none();
    lots.iter()
        .filter(|l| only.is_none_or(|o| o.contains(&l.lot)))
        .filter_map(|l| {
            let due = match (l.state, live.get(&l.lot)) {
                (_, Some(Liveness::Stale(_))) => Due::Retry,
                (LotState::Pending, _) => Due::Pending,
                (LotState::Waiting, _) if l.next_check_at.is_none_or(|t| t <= now) => Due::Waiting,
                (LotState::Interrupted, _) => Due::Resume,
                (LotState::Cancelled, _) if resume_cancelled => Due::Resume,
                (LotState::Failed, _) if launch_failed(l) => Due::Resume,
                (LotState::Failed, _) => Due::Retry,
                _ => return None,
            };
            if due == Due::Retry && max_retries.is_some_and(|m| l.retries >= m) {
                return None;
            }
            Some((l.clone(), due))
        })
        .collect()
}

/// True when the lot failed because its worker could not be started (not because of its keys).
pub fn launch_failed(lot: &LotItem) -> bool {
    lot.state == LotState::Failed
        && lot
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("launch failed"))
}

/// Fails when the job has fewer lot items than its spec says: a `launch` that stopped while
/// recording them. Running the same `launch --job-id` again finishes it.
pub fn check_complete(job: &Job, lots: &[LotItem]) -> anyhow::Result<()> {
    if lots.len() as u64 != u64::from(job.spec.lots) {
        bail!(
            "job {} has {} of its {} lots recorded: run the same `coordinator launch --job-id {}` again to finish recording it",
            job.spec.job_id,
            lots.len(),
            job.spec.lots,
            job.spec.job_id
        );
    }
    Ok(())
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
        .map(|l| (l.lot, liveness(l, &stopped, &host, now, stale_after)))
        .collect())
}

/// Parses `3,7-9` into lot numbers.
pub fn parse_lot_list(text: &str) -> anyhow::Result<BTreeSet<u32>> {
    let mut set = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || anyhow!("bad lot list '{text}': '{part}' is not N or N-M");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                if a > b {
                    bail!("bad lot list '{text}': {a}-{b} is empty");
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(part.parse().map_err(|_| bad())?);
            }
        }
    }
    if set.is_empty() {
        bail!("bad lot list '{text}': no lots");
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotCheckpoint;

    fn lot(n: u32, state: LotState) -> LotItem {
        LotItem {
            lot: n,
            state,
            attempt: 1,
            counters: Default::default(),
            task: Some("arn:aws:ecs:task/1".into()),
            heartbeat_at: Some(1000),
            updated_at: Some(1000),
            next_check_at: None,
            last_error: None,
            manifest: String::new(),
            checkpoint: LotCheckpoint::new(1),
            uploads: Default::default(),
            started_at: Some(990),
            launched_at: Some(980),
            retries: 0,
        }
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
        let me = format!("local:thishost:{}", std::process::id());
        assert!(!local_worker_gone(&me, "thishost"));
    }

    #[test]
    fn due_selection() {
        let lots = vec![
            lot(0, LotState::Pending),
            lot(1, LotState::Running),
            {
                let mut l = lot(2, LotState::Waiting);
                l.next_check_at = Some(2000);
                l
            },
            lot(3, LotState::Failed),
            lot(4, LotState::Succeeded),
            lot(5, LotState::Interrupted),
            {
                let mut l = lot(6, LotState::Failed);
                l.retries = 2;
                l
            },
        ];
        let mut live: BTreeMap<u32, Liveness> =
            lots.iter().map(|l| (l.lot, Liveness::Idle)).collect();
        live.insert(1, Liveness::Live);
        let pick = |live: &BTreeMap<u32, Liveness>, now, max, only: Option<&BTreeSet<u32>>| {
            due_lots(&lots, live, now, max, only)
                .into_iter()
                .map(|(l, d)| (l.lot, d))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            pick(&live, 1500, None, None),
            vec![
                (0, Due::Pending),
                (3, Due::Retry),
                (5, Due::Resume),
                (6, Due::Retry)
            ]
        );
        // follow leaves cancelled lots alone and does not count launch failures as retries
        let mut more = lots.clone();
        more[4].state = LotState::Cancelled;
        more[6].last_error = Some("launch failed: RESOURCE:MEMORY".into());
        let got: Vec<(u32, Due)> = due_lots(&more, &live, 1500, Some(2), None)
            .into_iter()
            .map(|(l, d)| (l.lot, d))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, Due::Pending),
                (3, Due::Retry),
                (5, Due::Resume),
                (6, Due::Resume)
            ]
        );
        assert_eq!(
            pick(&live, 2000, Some(2), None),
            vec![
                (0, Due::Pending),
                (2, Due::Waiting),
                (3, Due::Retry),
                (5, Due::Resume)
            ]
        );
        let only: BTreeSet<u32> = [1, 3].into();
        assert_eq!(pick(&live, 1500, None, Some(&only)), vec![(3, Due::Retry)]);
        live.insert(1, Liveness::Stale("gone".into()));
        assert_eq!(
            pick(&live, 1500, None, Some(&only)),
            vec![(1, Due::Retry), (3, Due::Retry)]
        );
    }

    #[test]
    fn lot_lists() {
        assert_eq!(parse_lot_list("3,7-9").unwrap(), [3, 7, 8, 9].into());
        assert!(parse_lot_list("9-7").is_err());
        assert!(parse_lot_list("x").is_err());
        assert!(parse_lot_list("").is_err());
    }
}
