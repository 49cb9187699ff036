//! `coordinator retry JOB`: relaunches, with the job's own launcher and a new attempt, the lots
//! that need it: FAILED, INTERRUPTED, CANCELLED, stale (worker gone), WAITING whose restores are
//! due, and PENDING. Never a lot with a live worker, and never more than the job's window
//! (`--max-tasks`) of lots with a live worker at once: the lots left wait for `follow`. Finished
//! keys are skipped by the worker; failed keys are tried again.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Context};
use thaw_common::progress::now_secs;

use super::{out, Global};
use crate::due::Due;
use crate::fleet::window::{plan, Facts};
use crate::job::{check_complete, load_job, set_max_tasks, Job};
use crate::launcher::{launch_lots, LotOutcome, Outcome};
use crate::liveness::{liveness_of, Liveness, DEFAULT_STALE_AFTER};

/// Flags of `coordinator retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Only these lots, e.g. `3,7-9`.
    #[arg(long, env = "THAW_RETRY_LOTS")]
    pub lots: Option<String>,
    /// Seconds without a heartbeat after which a RUNNING lot is relaunched.
    #[arg(long, env = "THAW_STALE_AFTER", default_value_t = DEFAULT_STALE_AFTER, value_parser = clap::value_parser!(i64).range(1..))]
    pub stale_after: i64,
    /// Only lots that recorded failed keys (their workers skip finished keys, so only the failed
    /// ones are tried again); WAITING, INTERRUPTED and stale lots are left alone.
    #[arg(long)]
    pub failed_keys_only: bool,
    /// Change the job's window (lots with a live worker at once) and keep it: recorded in the
    /// job item for every later `follow`, `retry` and `status`.
    #[arg(long, env = "THAW_MAX_TASKS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tasks: Option<u32>,
}

/// Runs `coordinator retry`.
pub async fn run(g: &Global, args: RetryArgs) -> anyhow::Result<()> {
    let only = args.lots.as_deref().map(parse_lot_list).transpose()?;
    let aws = g.aws()?;
    let table = g.progress(aws);
    let mut job = load_job(&table, &args.job).await?;
    if let Some(n) = args.max_tasks {
        set_max_tasks(&table, &mut job, n).await?;
    }
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    check_complete(&job, &lots)?;
    if let Some(only) = &only {
        if let Some(missing) = only.iter().find(|n| !lots.iter().any(|l| l.lot == **n)) {
            anyhow::bail!("job {} has no lot {missing}", args.job);
        }
    }
    let now = now_secs();
    let live = liveness_of(&job, aws, &lots, now, args.stale_after).await?;
    // --failed-keys-only: only lots with failed keys (a lot with a live worker is never due)
    let only = if args.failed_keys_only {
        Some(
            lots.iter()
                .filter(|l| l.counters.failed > 0)
                .filter(|l| only.as_ref().is_none_or(|o| o.contains(&l.lot)))
                .map(|l| l.lot)
                .collect(),
        )
    } else {
        only
    };
    let v = plan(&Facts {
        lots: &lots,
        live: &live,
        now,
        window: job.launch_window(),
        max_retries: None,
        only: only.as_ref(),
    });
    let waiting = if v.window_full() > 0 {
        format!(
            "; {} lots wait for a slot of the window ({} tasks at once, --max-tasks): `coordinator follow {}` starts them as lots finish",
            v.window_full(),
            v.window,
            args.job
        )
    } else {
        String::new()
    };
    if v.launch.is_empty() {
        let live_n = live.values().filter(|l| **l == Liveness::Live).count();
        return out(&format!(
            "job {}: nothing to retry now ({live_n} lots have a live worker{waiting}; see `coordinator status {}`)\n",
            args.job, args.job
        ));
    }
    crate::fleet::budget::reshare(&table, &job, &lots, &live).await;
    let outcomes = relaunch(g, aws, &table, &job, &v.launch).await;
    if !waiting.is_empty() {
        out(&format!("job {}{waiting}\n", args.job))?;
    }
    report(&args.job, &v.launch, &outcomes)
}

/// Relaunches `due` lots with a new launcher of the job's kind; retries are counted on the lots.
pub async fn relaunch(
    g: &Global,
    aws: &thaw_common::aws::Aws,
    table: &thaw_common::progress::ProgressTable,
    job: &Job,
    due: &[(thaw_common::progress::LotItem, Due)],
) -> Vec<LotOutcome> {
    relaunch_with(&job.launcher(&g.table, aws), table, job, due).await
}

/// Relaunches `due` lots with `launcher`; retries are counted on the lots.
pub async fn relaunch_with(
    launcher: &crate::launcher::Launcher,
    table: &thaw_common::progress::ProgressTable,
    job: &Job,
    due: &[(thaw_common::progress::LotItem, Due)],
) -> Vec<LotOutcome> {
    let items: Vec<_> = due.iter().map(|(l, _)| l.clone()).collect();
    let retries: BTreeSet<u32> = due
        .iter()
        .filter(|(_, d)| *d == Due::Retry)
        .map(|(l, _)| l.lot)
        .collect();
    launch_lots(launcher, table, &job.spec.job_id, &items, &retries).await
}

fn report(
    job: &str,
    due: &[(thaw_common::progress::LotItem, Due)],
    outcomes: &[LotOutcome],
) -> anyhow::Result<()> {
    let mut o = String::new();
    let mut failed = 0;
    for ((item, why), oc) in due.iter().zip(outcomes) {
        let what = match &oc.outcome {
            Outcome::Started { task } => format!("launched attempt {} ({task})", item.attempt + 1),
            Outcome::Exited {
                status, success, ..
            } => {
                if !success {
                    failed += 1;
                }
                format!("attempt {} ran: {status}", item.attempt + 1)
            }
            Outcome::ClaimedElsewhere => "claimed by another coordinator".into(),
            Outcome::NotStarted => {
                "not started (interrupted, the Fargate quota is full, or ECS refused another lot)"
                    .into()
            }
            Outcome::Deferred { error } => format!("{error}; left for `coordinator follow`"),
            Outcome::Failed { error, .. } => {
                failed += 1;
                error.clone()
            }
        };
        push_line!(o, "lot {} ({}, {why:?}): {what}", item.lot, item.state);
    }
    push_line!(o, "next: coordinator status {job}");
    out(&o)?;
    if failed > 0 {
        anyhow::bail!("{failed} of {} relaunched lots failed", due.len());
    }
    Ok(())
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

    #[test]
    fn lot_lists() {
        assert_eq!(parse_lot_list("3,7-9").unwrap(), [3, 7, 8, 9].into());
        assert!(parse_lot_list("9-7").is_err());
        assert!(parse_lot_list("x").is_err());
        assert!(parse_lot_list("").is_err());
    }
}
