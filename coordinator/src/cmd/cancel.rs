//! `coordinator cancel JOB`: stops every live worker of the job and marks its unfinished lots
//! CANCELLED. Each lot's attempt is bumped first, so a worker that is still running is fenced
//! off (its next write is refused and it stops); then its ECS task gets StopTask (SIGTERM) or
//! its local process SIGTERM. Tasks of the job that no lot recorded (ListTasks startedBy) are
//! stopped too. `coordinator retry JOB` resumes a cancelled job from its checkpoints.

use anyhow::Context;
use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::task::{hostname, TaskId};

use super::{out, Global};
use crate::job::load_job;

/// Flags of `coordinator cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
}

/// Runs `coordinator cancel`.
pub async fn run(g: &Global, args: CancelArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let job = load_job(&table, &args.job).await?;
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    let (cancelled, to_stop) = cancel_lots(&table, &args.job, &lots).await?;
    let stopped = match job.cluster() {
        Some(cluster) => {
            let ecs = aws.ecs();
            // Also the job's tasks that no lot recorded (a crash between RunTask and the record).
            let mut tasks = to_stop;
            tasks.extend(job_tasks(&ecs, cluster, &args.job).await?);
            let (stopped, errors) = stop_tasks(&ecs, cluster, &args.job, tasks).await;
            if !errors.is_empty() {
                anyhow::bail!(
                    "job {}: {cancelled} lots cancelled, {stopped} tasks stopped, {} could not be stopped: {}",
                    args.job,
                    errors.len(),
                    errors.join("; ")
                );
            }
            stopped
        }
        None => stop_local_workers(&to_stop),
    };
    out(&format!(
        "job {}: {cancelled} lots cancelled, {stopped} workers stopped; resume with `coordinator retry {}`\n",
        args.job, args.job
    ))
}

/// Cancels every lot that is not SUCCEEDED or CANCELLED yet (fencing off its worker); returns how
/// many were cancelled and the tasks of those that had a worker.
async fn cancel_lots(
    table: &ProgressTable,
    job: &str,
    lots: &[LotItem],
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut cancelled = 0;
    let mut to_stop = Vec::new();
    for l in lots {
        if matches!(l.state, LotState::Succeeded | LotState::Cancelled) {
            continue;
        }
        if table.cancel_lot(job, l.lot, l.attempt).await? {
            cancelled += 1;
            if l.state.is_active() {
                to_stop.extend(l.task.clone());
            }
        }
    }
    Ok((cancelled, to_stop))
}

/// The ECS tasks started for `job` (ListTasks startedBy, every page).
async fn job_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    job: &str,
) -> anyhow::Result<Vec<String>> {
    ecs.list_tasks()
        .cluster(cluster)
        .started_by(job)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| AwsError::from_sdk("ListTasks", &e))
        .context("listing the job's tasks")
}

/// Stops the ECS tasks among `tasks` (each once); returns how many were stopped and why the
/// others could not be: one refusal must not leave the other tasks running.
async fn stop_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    job: &str,
    mut tasks: Vec<String>,
) -> (usize, Vec<String>) {
    tasks.sort();
    tasks.dedup();
    let mut stopped = 0;
    let mut errors = Vec::new();
    let arns = tasks
        .iter()
        .filter_map(|t| Some(t.parse::<TaskId>().ok()?.arn()?.to_owned()));
    for arn in arns {
        match ecs
            .stop_task()
            .cluster(cluster)
            .task(&arn)
            .reason(format!("cancelled by thaw (job {job})"))
            .send()
            .await
        {
            Ok(_) => stopped += 1,
            Err(e) => errors.push(format!("{arn}: {}", AwsError::from_sdk("StopTask", &e))),
        }
    }
    (stopped, errors)
}

/// Sends SIGTERM to the local workers among `tasks` that run on this host; returns how many
/// were signalled.
fn stop_local_workers(tasks: &[String]) -> usize {
    tasks
        .iter()
        .filter_map(|task| local_pid(task, hostname()))
        .filter(|pid| {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        })
        .count()
}

/// The pid of a local worker of this host.
fn local_pid(task: &str, host: &str) -> Option<u32> {
    task.parse::<TaskId>().ok()?.pid_on(host)
}

#[cfg(test)]
mod tests {
    #[test]
    fn local_pids() {
        assert_eq!(super::local_pid("local:h:42", "h"), Some(42));
        assert_eq!(super::local_pid("local:other:42", "h"), None);
        assert_eq!(super::local_pid("arn:aws:ecs:x", "h"), None);
    }
}
