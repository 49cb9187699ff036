//! Starting workers, one per lot, and the launch protocol around it.
//!
//! For every lot: claim the next attempt in the progress table (a conditional write, so two
//! coordinators never launch the same attempt), start the worker, record its task id. A launch
//! that fails marks the lot FAILED with the reason, its kind (passing: relaunched after a
//! backoff that doubles with every failure in a row; permanent: ECS refuses the task as asked,
//! see [`answer`]) and the count of failures in a row; the other lots go on. The ECS launcher
//! returns once the task is started; the local launcher waits for the worker process to exit.

pub mod answer;
pub mod ecs;
pub mod local;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use thaw_common::aws::Aws;
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::spec::{JobSpec, S3Location};
use thaw_common::task::{LaunchFailure, TaskId};
use tracing::{error, info, warn};

/// How a job's workers are started; stored in the job item (`launch_json`) so a later run can
/// launch the same way.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "launcher", rename_all = "lowercase")]
pub enum LaunchSettings {
    /// ECS Fargate tasks.
    Ecs(ecs::EcsSettings),
    /// Worker processes on this machine.
    Local(local::LocalSettings),
}

impl LaunchSettings {
    /// `ecs` or `local`, as stored in the job item.
    pub fn name(&self) -> &'static str {
        match self {
            LaunchSettings::Ecs(_) => "ecs",
            LaunchSettings::Local(_) => "local",
        }
    }
}

/// What every worker is told through its environment. Never the keys: those are in the lot
/// manifest under `control`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerEnv {
    /// Job id.
    pub job_id: String,
    /// DynamoDB progress table.
    pub table: String,
    /// The job's control location (`s3://bucket/prefix/<job-id>/`).
    pub control: S3Location,
    /// AWS Region the worker must use.
    pub region: String,
    /// Custom AWS endpoint, when one is in use.
    pub endpoint_url: Option<String>,
}

impl WorkerEnv {
    /// What the workers of the job `spec` are told: its progress `table` and the Region and
    /// endpoint of this AWS configuration.
    pub fn new(spec: &JobSpec, table: &str, aws: &Aws) -> Self {
        Self {
            job_id: spec.job_id.clone(),
            table: table.to_owned(),
            control: spec.control.clone(),
            region: aws.region(),
            endpoint_url: aws.endpoint_url(),
        }
    }

    /// The `THAW_*` variables for `attempt` of `lot`, with the worker's log format.
    pub fn vars(&self, lot: u32, attempt: u64, log_format: &str) -> Vec<(String, String)> {
        let mut vars = vec![
            ("THAW_JOB_ID".to_owned(), self.job_id.clone()),
            ("THAW_LOT".to_owned(), lot.to_string()),
            ("THAW_ATTEMPT".to_owned(), attempt.to_string()),
            ("THAW_TABLE".to_owned(), self.table.clone()),
            ("THAW_CONTROL".to_owned(), self.control.to_string()),
            ("THAW_REGION".to_owned(), self.region.clone()),
        ];
        if let Some(e) = &self.endpoint_url {
            vars.push(("THAW_ENDPOINT_URL".to_owned(), e.clone()));
        }
        vars.push(("THAW_LOG_FORMAT".to_owned(), log_format.to_owned()));
        vars
    }
}

/// A ready launcher.
#[derive(Debug)]
pub enum Launcher {
    /// Starts ECS tasks.
    Ecs(ecs::EcsLauncher),
    /// Runs local worker processes.
    Local(local::LocalLauncher),
}

impl Launcher {
    /// A launcher for `settings` whose workers get `env`; a local one stops starting lots at the
    /// first Ctrl-C from now on.
    pub fn new(aws: &Aws, settings: &LaunchSettings, env: WorkerEnv) -> Self {
        match settings {
            LaunchSettings::Ecs(s) => {
                Launcher::Ecs(ecs::EcsLauncher::new(aws.ecs(), s.clone(), env))
            }
            LaunchSettings::Local(s) => {
                let l = local::LocalLauncher::new(s.clone(), env);
                l.watch_interrupts();
                Launcher::Local(l)
            }
        }
    }
}

/// What happened to one lot.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An ECS task was started and runs on.
    Started {
        /// The ECS task.
        task: TaskId,
    },
    /// A local worker ran and exited.
    Exited {
        /// The local worker.
        task: TaskId,
        /// Exit status as text.
        status: String,
        /// True when it exited with 0.
        success: bool,
    },
    /// Another coordinator claimed this attempt first; nothing was done.
    ClaimedElsewhere,
    /// Not started (left as it was): the coordinator was interrupted, or ECS refused an earlier
    /// lot of the same launch (a setup error every lot would meet).
    NotStarted,
    /// The account's Fargate quota is full: no task, and the lot went back to the state it was
    /// claimed from (PENDING, WAITING, ...) for a later launch, without counting a failure.
    Deferred {
        /// What ECS said.
        error: String,
    },
    /// The launch failed (the lot is marked FAILED when its attempt was claimed).
    Failed {
        /// Why.
        error: String,
        /// Why no worker started, when the attempt was claimed and the launcher answered.
        kind: Option<LaunchFailure>,
    },
}

impl Outcome {
    /// True when ECS refused the launch as asked (see [`LaunchFailure::is_permanent`]).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Outcome::Failed { kind: Some(k), .. } if k.is_permanent())
    }
}

/// One lot's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct LotOutcome {
    /// Lot number.
    pub lot: u32,
    /// What happened.
    pub outcome: Outcome,
}

/// Launches `lots` (their current items, whose `attempt` is the one to claim from), with the
/// launcher's concurrency; returns the outcomes in lot order. Lots in `retries` are relaunched
/// after a failure and count one more retry.
pub async fn launch_lots(
    launcher: &Launcher,
    table: &ProgressTable,
    job: &str,
    lots: &[LotItem],
    retries: &BTreeSet<u32>,
) -> Vec<LotOutcome> {
    let concurrency = match launcher {
        Launcher::Ecs(l) => l.settings().launch_concurrency.max(1),
        Launcher::Local(l) => l.settings().parallel.max(1),
    };
    // Once ECS refuses a lot (a setup error: every later lot would meet it too), or the
    // account's Fargate quota is full (it frees up only as tasks end), the lots not claimed yet
    // are left as they are: no 20,000 refused RunTasks for one missing PassRole or a full quota.
    let refused = AtomicBool::new(false);
    let refused = &refused;
    let mut out: Vec<LotOutcome> = futures::stream::iter(lots)
        .map(|item| async move {
            let outcome = if refused.load(Ordering::SeqCst) {
                Outcome::NotStarted
            } else {
                launch_one(launcher, table, job, item, retries.contains(&item.lot)).await
            };
            if outcome.is_refusal() || matches!(outcome, Outcome::Deferred { .. }) {
                refused.store(true, Ordering::SeqCst);
            }
            LotOutcome {
                lot: item.lot,
                outcome,
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    out.sort_by_key(|o| o.lot);
    out
}

async fn launch_one(
    launcher: &Launcher,
    table: &ProgressTable,
    job: &str,
    item: &LotItem,
    is_retry: bool,
) -> Outcome {
    let lot = item.lot;
    if let Launcher::Local(l) = launcher {
        if l.stopping() {
            return Outcome::NotStarted;
        }
    }
    let claim = if is_retry {
        table.claim_retry(job, lot, item.attempt, item.state).await
    } else {
        table.claim_launch(job, lot, item.attempt, item.state).await
    };
    match claim {
        Ok(true) => {}
        Ok(false) => {
            info!(lot, "lot was claimed by another coordinator; skipped");
            return Outcome::ClaimedElsewhere;
        }
        Err(e) => {
            error!(lot, "could not claim the lot: {e}");
            return Outcome::Failed {
                error: format!("claiming the launch: {e}"),
                kind: None,
            };
        }
    }
    let attempt = item.attempt + 1;
    let failed = |kind: LaunchFailure, why: String| Failed {
        table,
        job,
        lot,
        attempt,
        kind,
        why,
        in_a_row: item.launch_failures + 1,
    };
    match launcher {
        Launcher::Ecs(l) => match l.run_task(lot, attempt).await {
            Ok(task) => {
                record_task(table, job, lot, attempt, &task).await;
                info!(lot, attempt, task = %task, "launched");
                Outcome::Started { task }
            }
            Err(e) if e.quota => defer(table, job, item, attempt, &e.message).await,
            Err(e) => failed(e.kind, e.message).record().await,
        },
        Launcher::Local(l) => match l.spawn(lot, attempt) {
            Ok(worker) => run_local(worker, table, job, lot, attempt).await,
            Err(e) => {
                failed(LaunchFailure::Spawn, format!("{e:#}"))
                    .record()
                    .await
            }
        },
    }
}

/// Waits for a started local worker of `attempt` of `lot` to exit; marks the lot FAILED when it
/// exited without recording a final state.
async fn run_local(
    worker: local::LocalWorker,
    table: &ProgressTable,
    job: &str,
    lot: u32,
    attempt: u64,
) -> Outcome {
    let task = worker.task().clone();
    record_task(table, job, lot, attempt, &task).await;
    info!(lot, attempt, task = %task, "worker started");
    let (status, success) = match worker.wait().await {
        Ok(s) => (s.to_string(), s.success()),
        Err(e) => (format!("{e:#}"), false),
    };
    finish_local(table, job, lot, attempt, &status).await;
    if success {
        info!(lot, attempt, "worker exited: {status}");
    } else {
        warn!(lot, attempt, "worker failed: {status}");
    }
    Outcome::Exited {
        task,
        status,
        success,
    }
}

async fn record_task(table: &ProgressTable, job: &str, lot: u32, attempt: u64, task: &TaskId) {
    let task = task.to_string();
    if let Err(e) = table.record_task(job, lot, attempt, &task).await {
        warn!(lot, attempt, task, "could not record the task: {e}");
    }
}

/// A launch of `attempt` of `lot` that could not start its worker: `kind`, because of `why`,
/// the `in_a_row`-th such failure in a row.
struct Failed<'a> {
    table: &'a ProgressTable,
    job: &'a str,
    lot: u32,
    attempt: u64,
    kind: LaunchFailure,
    why: String,
    in_a_row: u64,
}

impl Failed<'_> {
    /// Marks the lot FAILED with it (and, for a passing failure, when to try again).
    async fn record(self) -> Outcome {
        let Failed {
            table,
            job,
            lot,
            attempt,
            kind,
            why,
            in_a_row,
        } = self;
        let error = LaunchFailure::message(&why);
        if kind.is_permanent() {
            error!(
                lot,
                attempt, "{error} (refused: relaunching cannot help until the setup is fixed)"
            );
        } else {
            warn!(
                lot,
                attempt, in_a_row, "{error}; the lot will be relaunched later"
            );
        }
        if let Err(e) = table
            .set_launch_failed(job, lot, attempt, kind, &error, in_a_row)
            .await
        {
            warn!(lot, attempt, "could not mark the lot FAILED: {e}");
        }
        Outcome::Failed {
            error,
            kind: Some(kind),
        }
    }
}

/// A launch of `attempt` of `item`'s lot that the Fargate quota refused: the lot goes back to
/// the state it was claimed from (see [`deferred_state`]), with why, and is launched again when
/// the window has room; no failure is counted.
async fn defer(
    table: &ProgressTable,
    job: &str,
    item: &LotItem,
    attempt: u64,
    why: &str,
) -> Outcome {
    let lot = item.lot;
    let error = format!("launch deferred: {why}");
    warn!(
        lot,
        attempt, "{error}; the window shrinks to the tasks that run"
    );
    let written = match deferred_state(item.state) {
        Some(state) => {
            table
                .set_state(job, lot, attempt, state, Some(&error))
                .await
        }
        None => {
            let in_a_row = item.launch_failures;
            table
                .set_launch_failed(job, lot, attempt, LaunchFailure::RunTask, &error, in_a_row)
                .await
        }
    };
    if let Err(e) = written {
        warn!(lot, attempt, "could not put the lot back: {e}");
    }
    Outcome::Deferred { error }
}

/// The state a lot goes back to when the quota refused its task: the one it was claimed from
/// when that says what to do next (PENDING: not started; WAITING: restores due; INTERRUPTED,
/// CANCELLED: resume); `None` for a lot claimed from FAILED or from a gone worker (LAUNCHED,
/// RUNNING), which is marked as a passing launch failure: resumed later, no retry counted.
pub fn deferred_state(claimed_from: LotState) -> Option<LotState> {
    match claimed_from {
        LotState::Pending | LotState::Waiting | LotState::Interrupted | LotState::Cancelled => {
            Some(claimed_from)
        }
        _ => None,
    }
}

/// A worker that exited while its lot is still LAUNCHED/RUNNING for its attempt did not record
/// a final state (it crashed, was killed or could not start): the lot is marked FAILED.
async fn finish_local(table: &ProgressTable, job: &str, lot: u32, attempt: u64, status: &str) {
    match table.get_lot(job, lot).await {
        Ok(Some(cur)) if cur.attempt == attempt && cur.state.is_active() => {
            let msg = format!("worker exited ({status}) without recording a final state");
            if let Err(e) = table
                .set_state(job, lot, attempt, LotState::Failed, Some(&msg))
                .await
            {
                warn!(lot, attempt, "could not mark the lot FAILED: {e}");
            }
        }
        Ok(_) => {}
        Err(e) => warn!(lot, attempt, "could not read the lot back: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> WorkerEnv {
        WorkerEnv {
            job_id: "j1".into(),
            table: "t".into(),
            control: S3Location::new("ctl", "thaw/").join("j1"),
            region: "eu-west-1".into(),
            endpoint_url: None,
        }
    }

    #[test]
    fn worker_env_vars() {
        let vars = env().vars(3, 2, "json");
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("THAW_JOB_ID"), Some("j1"));
        assert_eq!(get("THAW_LOT"), Some("3"));
        assert_eq!(get("THAW_ATTEMPT"), Some("2"));
        assert_eq!(get("THAW_TABLE"), Some("t"));
        assert_eq!(get("THAW_CONTROL"), Some("s3://ctl/thaw/j1/"));
        assert_eq!(get("THAW_REGION"), Some("eu-west-1"));
        assert_eq!(get("THAW_ENDPOINT_URL"), None);
        assert_eq!(get("THAW_LOG_FORMAT"), Some("json"));
        let mut e = env();
        e.endpoint_url = Some("http://127.0.0.1:5000".into());
        assert!(e
            .vars(0, 1, "human")
            .contains(&("THAW_ENDPOINT_URL".into(), "http://127.0.0.1:5000".into())));
    }

    #[test]
    fn a_quota_deferral_keeps_what_the_lot_was_waiting_for() {
        for s in [
            LotState::Pending,
            LotState::Waiting,
            LotState::Interrupted,
            LotState::Cancelled,
        ] {
            assert_eq!(deferred_state(s), Some(s));
        }
        for s in [LotState::Failed, LotState::Running, LotState::Launched] {
            assert_eq!(deferred_state(s), None);
        }
    }

    #[test]
    fn launch_settings_roundtrip() {
        let s = LaunchSettings::Local(local::LocalSettings {
            worker_bin: "/bin/worker".into(),
            parallel: 3,
        });
        let json = serde_json::to_string(&s).expect("json");
        assert!(json.contains(r#""launcher":"local""#), "{json}");
        assert_eq!(
            serde_json::from_str::<LaunchSettings>(&json).expect("parse"),
            s
        );
        assert_eq!(s.name(), "local");
    }
}
