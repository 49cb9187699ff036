//! `coordinator follow JOB`: stays attached to a job and drives it to the end: shows the live
//! view, relaunches WAITING lots when their restores are due, INTERRUPTED/CANCELLED/PENDING lots,
//! and FAILED or stale lots up to `--max-attempts`; exits when every lot is SUCCEEDED or has
//! used its attempts.
//!
//! All state is in DynamoDB, so `follow` can be stopped and started at any time, and two
//! `follow` processes never launch the same lot twice (each launch is a conditional claim).

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use thaw_common::checkpoint::LotState;
use thaw_common::progress::{now_secs, LotItem};

use super::retry::relaunch_with;
use super::{out, Global};
use crate::due::{due_lots, launch_failed};
use crate::job::{check_complete, load_job, Job};
use crate::launcher::Launcher;
use crate::liveness::{liveness_of, Liveness, DEFAULT_STALE_AFTER};
use tracing::warn;

/// Flags of `coordinator follow`.
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Runs per lot before a failing lot is given up (the first run counts).
    #[arg(
        long = "max-attempts",
        env = "THAW_MAX_ATTEMPTS",
        default_value_t = 3,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub lot_attempts: u64,
    /// Longest pause between two looks at the table, in seconds.
    #[arg(long, env = "THAW_FOLLOW_INTERVAL", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Seconds without a heartbeat after which a RUNNING lot is relaunched.
    #[arg(long, env = "THAW_STALE_AFTER", default_value_t = DEFAULT_STALE_AFTER, value_parser = clap::value_parser!(i64).range(1..))]
    pub stale_after: i64,
    /// Look once, relaunch what is due, and exit (for cron or a scheduled task).
    #[arg(long)]
    pub once: bool,
}

/// Runs `coordinator follow`.
pub async fn run(g: &Global, args: FollowArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let job = load_job(&table, &args.job).await?;
    // One launcher (and one Ctrl-C watcher) for the whole session.
    let launcher = job.launcher(&g.table, aws);
    let tty = std::io::stdout().is_terminal();
    let mut failures_in_a_row = 0u32;
    loop {
        if let Launcher::Local(l) = &launcher {
            if l.stopping() {
                anyhow::bail!("interrupted: resume with `coordinator follow {}`", args.job);
            }
        }
        match step(aws, &table, &job, &launcher, &args, tty).await {
            Ok(Step::Done) => return Ok(()),
            Ok(Step::Again(pause)) => {
                failures_in_a_row = 0;
                if args.once {
                    return Ok(());
                }
                tokio::time::sleep(pause).await;
            }
            Err(e) if e.is::<Finished>() || args.once => return Err(e),
            Err(e) => {
                // A day-long follow must outlive a throttled Query or a network blip.
                failures_in_a_row += 1;
                if failures_in_a_row >= 10 {
                    return Err(e.context("giving up after 10 failed looks at the job"));
                }
                warn!("{e:#}; looking again in {}s", args.interval);
                tokio::time::sleep(Duration::from_secs(args.interval)).await;
            }
        }
    }
}

/// The job ended with lots that will not succeed: `follow` exits non-zero with this message.
#[derive(Debug)]
struct Finished(String);

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Finished {}

/// What one look at the job decided.
enum Step {
    /// Every lot SUCCEEDED.
    Done,
    /// Look again after this pause.
    Again(Duration),
}

/// One look: read the lots, show progress, relaunch what is due.
async fn step(
    aws: &thaw_common::aws::Aws,
    table: &thaw_common::progress::ProgressTable,
    job: &Job,
    launcher: &Launcher,
    args: &FollowArgs,
    tty: bool,
) -> anyhow::Result<Step> {
    let max_retries = args.lot_attempts - 1;
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    check_complete(job, &lots).map_err(|e| Finished(format!("{e:#}")))?;
    let now = now_secs();
    let live = liveness_of(job, aws, &lots, now, args.stale_after).await?;
    let exhausted: Vec<&LotItem> = lots
        .iter()
        .filter(|l| {
            l.retries >= max_retries
                && !launch_failed(l)
                && (l.state == LotState::Failed
                    || matches!(live.get(&l.lot), Some(Liveness::Stale(_))))
        })
        .collect();
    let cancelled = lots
        .iter()
        .filter(|l| l.state == LotState::Cancelled)
        .count();
    let open = lots
        .iter()
        .filter(|l| {
            !matches!(l.state, LotState::Succeeded | LotState::Cancelled)
                && !exhausted.iter().any(|e| e.lot == l.lot)
        })
        .count();
    out(&progress_line(&args.job, &lots, &live, tty))?;
    if open == 0 {
        if exhausted.is_empty() && cancelled == 0 {
            out(&format!("job {}: every lot SUCCEEDED\n", args.job))?;
            return Ok(Step::Done);
        }
        let mut why = Vec::new();
        if !exhausted.is_empty() {
            let list: Vec<String> = exhausted
                .iter()
                .map(|l| {
                    format!(
                        "{} ({})",
                        l.lot,
                        l.last_error.as_deref().unwrap_or("failed keys")
                    )
                })
                .collect();
            why.push(format!(
                "{} lots still failing after {} attempts: {}; see `coordinator failures {}`",
                exhausted.len(),
                args.lot_attempts,
                list.join(", "),
                args.job
            ));
        }
        if cancelled > 0 {
            why.push(format!(
                "{cancelled} lots cancelled; resume with `coordinator retry {}`",
                args.job
            ));
        }
        return Err(Finished(format!("job {}: {}", args.job, why.join("; "))).into());
    }
    let due = due_lots(&lots, &live, now, Some(max_retries), None);
    if !due.is_empty() {
        let outcomes = relaunch_with(launcher, table, job, &due).await;
        out(&format!("relaunched {} lots\n", outcomes.len()))?;
    }
    Ok(Step::Again(pause(&lots, now, args.interval)))
}

/// Until the earliest WAITING lot is due, within [1 s, interval].
fn pause(lots: &[LotItem], now: i64, interval: u64) -> Duration {
    let next = lots
        .iter()
        .filter(|l| l.state == LotState::Waiting)
        .filter_map(|l| l.next_check_at)
        .min()
        .map(|t| (t - now).max(1) as u64)
        .unwrap_or(interval);
    Duration::from_secs(next.clamp(1, interval))
}

fn progress_line(
    job: &str,
    lots: &[LotItem],
    live: &std::collections::BTreeMap<u32, Liveness>,
    tty: bool,
) -> String {
    let mut states = std::collections::BTreeMap::new();
    let (mut done, mut total, mut failed) = (0, 0, 0);
    for l in lots {
        *states.entry(l.state.as_str()).or_insert(0) += 1;
        done += l.counters.done();
        total += l.counters.keys_total;
        failed += l.counters.failed;
    }
    let stale = live
        .values()
        .filter(|l| matches!(l, Liveness::Stale(_)))
        .count();
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let pct = if total == 0 {
        0.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    let line = format!(
        "job {job}: {done}/{total} keys ({pct:.1}%), {failed} failed; lots: {}{}",
        states.join(", "),
        if stale > 0 {
            format!("; {stale} stale")
        } else {
            String::new()
        }
    );
    if tty {
        format!("\r\x1b[2K{line}\n")
    } else {
        format!("{line}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::Counters;
    use thaw_common::fixtures::LotItemBuilder;

    fn waiting(next: Option<i64>) -> LotItem {
        LotItemBuilder::new(0, 1)
            .state(LotState::Waiting)
            .counters(Counters::default())
            .next_check_at(next)
            .build()
    }

    #[test]
    fn pause_until_due() {
        assert_eq!(
            pause(&[waiting(Some(105))], 100, 30),
            Duration::from_secs(5)
        );
        assert_eq!(pause(&[waiting(Some(90))], 100, 30), Duration::from_secs(1));
        assert_eq!(
            pause(&[waiting(Some(10_000))], 100, 30),
            Duration::from_secs(30)
        );
        assert_eq!(pause(&[], 100, 30), Duration::from_secs(30));
    }
}
