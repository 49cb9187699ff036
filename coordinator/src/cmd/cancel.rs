//! `coordinator cancel JOB`: stops every live worker of the job and marks its unfinished lots
//! CANCELLED. Each lot's attempt is bumped first, so a worker that is still running is fenced
//! off (its next write is refused and it stops); then its ECS task gets StopTask (SIGTERM) or
//! its local process SIGTERM. Tasks of the job that no lot recorded (ListTasks startedBy) are
//! stopped too. `coordinator retry JOB` resumes a cancelled job from its checkpoints.

use anyhow::Context;
use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotState;

use super::{out, Global};
use crate::launcher::local::hostname;
use crate::ops::load_job;

/// Flags of `coordinator cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
}

/// Runs `coordinator cancel`.
pub async fn run(g: &Global, args: CancelArgs) -> anyhow::Result<()> {
    let aws = g.aws().await?;
    let table = g.progress(&aws);
    let job = load_job(g, &table, &args.job).await?;
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    let ecs = aws.ecs();
    let host = hostname();
    let mut cancelled = 0;
    let mut to_stop: Vec<String> = Vec::new();
    for l in &lots {
        if matches!(l.state, LotState::Succeeded | LotState::Cancelled) {
            continue;
        }
        if table.cancel_lot(&args.job, l.lot, l.attempt).await? {
            cancelled += 1;
            if l.state.is_active() {
                if let Some(t) = &l.task {
                    to_stop.push(t.clone());
                }
            }
        }
    }
    let mut stopped = 0;
    if let Some(cluster) = job.cluster() {
        // Also the job's tasks that no lot recorded (a crash between RunTask and the record).
        let mut next = None;
        loop {
            let page = ecs
                .list_tasks()
                .cluster(cluster)
                .started_by(&args.job)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListTasks", &e))
                .context("listing the job's tasks")?;
            to_stop.extend(page.task_arns().iter().cloned());
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        to_stop.sort();
        to_stop.dedup();
        let mut errors = Vec::new();
        for arn in to_stop.iter().filter(|t| t.starts_with("arn:")) {
            // One refusal must not leave the other tasks running.
            match ecs
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(format!("cancelled by thaw (job {})", args.job))
                .send()
                .await
            {
                Ok(_) => stopped += 1,
                Err(e) => errors.push(format!("{arn}: {}", AwsError::from_sdk("StopTask", &e))),
            }
        }
        if !errors.is_empty() {
            anyhow::bail!(
                "job {}: {cancelled} lots cancelled, {stopped} tasks stopped, {} could not be stopped: {}",
                args.job,
                errors.len(),
                errors.join("; ")
            );
        }
    } else {
        for task in &to_stop {
            if let Some(pid) = local_pid(task, &host) {
                let ok = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                stopped += usize::from(ok);
            }
        }
    }
    out(&format!(
        "job {}: {cancelled} lots cancelled, {stopped} workers stopped; resume with `coordinator retry {}`\n",
        args.job, args.job
    ))
}

/// The pid of a local worker of this host.
fn local_pid(task: &str, host: &str) -> Option<u32> {
    let (h, pid) = task.strip_prefix("local:")?.rsplit_once(':')?;
    (h == host).then(|| pid.parse().ok()).flatten()
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
