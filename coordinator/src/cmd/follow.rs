//! `coordinator follow JOB`: stays attached to a job and drives it to the end: shows the live
//! view, relaunches WAITING lots when their restores are due, INTERRUPTED/CANCELLED/PENDING lots,
//! lots whose launch failed for a passing reason once their backoff is over, and FAILED or stale
//! lots up to `--max-attempts`; exits when every lot is SUCCEEDED or has used its attempts, and
//! at once, non-zero and naming the reason, when ECS refuses a lot's task as asked (a setup
//! error no relaunch can fix). Between looks it remembers each lot's heartbeat and when, on its
//! own clock, it last changed (see [`crate::liveness`]): workers' clocks are never trusted.
//!
//! It keeps the window ([`crate::fleet::window`]): at most `--max-tasks` lots with a live
//! worker, the free slots going first to WAITING lots whose restores are due, then to resumes
//! and retries, then to PENDING lots. When the Fargate quota refuses a task, the window of this
//! session shrinks to the tasks that run and grows back slowly ([`crate::fleet::quota`]).
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
use crate::due::{launch_failed, launch_refused, only_mismatches};
use crate::events::tally::waiting_keys;
use crate::events::{progress_text, Events};
use crate::fleet::budget;
use crate::fleet::pace::{restores_to_pace, started_lately, Pace};
use crate::fleet::pause::pause_secs;
use crate::fleet::quota::{QuotaWindow, GROW_EVERY};
use crate::fleet::window::{plan, Facts, Verdict};
use crate::job::{check_complete, load_job, set_max_tasks, Job};
use crate::launcher::{Launcher, LotOutcome, Outcome};
use crate::liveness::{liveness_with, Heartbeats, Liveness, DEFAULT_STALE_AFTER};
use crate::restore_look::worth_a_task;
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
    #[arg(long, env = "THAW_FOLLOW_INTERVAL", default_value_t = crate::fleet::sizing::FOLLOW_INTERVAL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Seconds without a heartbeat after which a RUNNING lot is relaunched.
    #[arg(long, env = "THAW_STALE_AFTER", default_value_t = DEFAULT_STALE_AFTER, value_parser = clap::value_parser!(i64).range(1..))]
    pub stale_after: i64,
    /// Look once, relaunch what is due, and exit (for cron or a scheduled task).
    #[arg(long)]
    pub once: bool,
    /// Change the job's window (lots with a live worker at once) and keep it: recorded in the
    /// job item for every later `follow`, `retry` and `status`.
    #[arg(long, env = "THAW_MAX_TASKS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tasks: Option<u32>,
    /// Share of a WAITING lot's restores that must be done before it gets a task (always once
    /// the restored copies' expiry or the restores' longest time is near).
    #[arg(long, env = "THAW_READY_FRACTION", default_value_t = crate::readiness::DEFAULT_READY_FRACTION, value_parser = ready_fraction)]
    pub ready_fraction: f64,
    /// SQS queue URL of the job's restore-completed events (`Object Restore Completed`, sent by
    /// S3 through EventBridge): a WAITING lot whose events reach `--ready-fraction` of its
    /// waiting keys is looked at (and launched when the look agrees) before its scheduled check.
    /// One `follow --events` per queue at a time: the events of other buckets or of keys not in
    /// the job are deleted, so jobs on the same bucket at once need a queue each (`events setup
    /// --bucket B --queue NAME`).
    #[arg(
        long = "events",
        value_name = "QUEUE_URL",
        env = "THAW_EVENTS_QUEUE",
        conflicts_with = "once"
    )]
    pub events: Option<String>,
    /// Directory of the on-disk index that maps scattered lots' keys to their lots (12 bytes a
    /// key; default: a directory of the session under the system's temporary directory,
    /// removed when `follow` ends).
    #[arg(long = "events-index-dir", value_name = "DIR", requires = "events")]
    pub events_index_dir: Option<std::path::PathBuf>,
}

fn ready_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1")),
    }
}

/// Runs `coordinator follow`.
pub async fn run(g: &Global, args: FollowArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let mut job = load_job(&table, &args.job).await?;
    if let Some(n) = args.max_tasks {
        set_max_tasks(&table, &mut job, n).await?;
        out(&format!(
            "job {}: window set to {n} tasks at once\n",
            args.job
        ))?;
    }
    // One launcher (and one Ctrl-C watcher) for the whole session.
    let launcher = job.launcher(&g.table, aws);
    let tty = std::io::stdout().is_terminal();
    let mut failures_in_a_row = 0u32;
    let events = match &args.events {
        Some(queue) => Some(start_events(aws, &table, &job, &args, queue).await?),
        None => None,
    };
    let mut session = Session {
        beats: Heartbeats::default(),
        quota: QuotaWindow::new(job.launch_window()),
        pace: None,
        looked: false,
    };
    loop {
        if let Launcher::Local(l) = &launcher {
            if l.stopping() {
                anyhow::bail!("interrupted: resume with `coordinator follow {}`", args.job);
            }
        }
        if events.as_ref().is_some_and(Events::interrupted) {
            anyhow::bail!("interrupted: resume with `coordinator follow {}`", args.job);
        }
        let look = Look {
            aws,
            table: &table,
            job: &job,
            launcher: &launcher,
            args: &args,
            tty,
            events: events.as_ref(),
        };
        match look.step(&mut session).await {
            Ok(Step::Done) => return Ok(()),
            Ok(Step::Again(pause)) => {
                failures_in_a_row = 0;
                if args.once {
                    return Ok(());
                }
                match &events {
                    Some(e) => e.pause(pause).await,
                    None => tokio::time::sleep(pause).await,
                }
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

/// Maps the job's open lots and starts draining the events queue.
async fn start_events(
    aws: &thaw_common::aws::Aws,
    table: &thaw_common::progress::ProgressTable,
    job: &Job,
    args: &FollowArgs,
    queue: &str,
) -> anyhow::Result<Events> {
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    Events::start(
        aws,
        &args.job,
        &job.spec.bucket,
        &lots,
        queue,
        args.events_index_dir.clone(),
        args.ready_fraction,
    )
    .await
    .with_context(|| format!("starting to drain the events of {queue}"))
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

/// What a `follow` session remembers between its looks.
struct Session {
    /// Each lot's heartbeat, and when it last changed on our clock.
    beats: Heartbeats,
    /// The window, shrunk after a Fargate quota refusal.
    quota: QuotaWindow,
    /// The pace of PENDING lots (ECS jobs; local workers are bounded by `--parallel`), from the
    /// session's first look.
    pace: Option<Pace>,
    /// Whether the session made its first look.
    looked: bool,
}

/// PENDING lots of an ECS job start at its restore rate, one look's worth at most at once.
async fn pace(
    table: &thaw_common::progress::ProgressTable,
    job: &Job,
    interval: u64,
) -> Option<Pace> {
    if !matches!(job.settings, crate::launcher::LaunchSettings::Ecs(_)) {
        return None;
    }
    let rate = budget::job_rate(table, job).await;
    let keys_per_lot = job.spec.keys_total as f64 / f64::from(job.spec.lots.max(1));
    Some(Pace::new(rate, keys_per_lot, interval as f64, now_secs()))
}

/// What one look at the job works with.
struct Look<'a> {
    aws: &'a thaw_common::aws::Aws,
    table: &'a thaw_common::progress::ProgressTable,
    job: &'a Job,
    launcher: &'a Launcher,
    args: &'a FollowArgs,
    tty: bool,
    /// `--events`: the session's restore-completed events.
    events: Option<&'a Events>,
}

impl Look<'_> {
    /// One look: read the lots, show progress, stop on a refused launch, relaunch what is due
    /// within the window.
    async fn step(&self, session: &mut Session) -> anyhow::Result<Step> {
        let args = self.args;
        let max_retries = args.lot_attempts - 1;
        let mut lots = self
            .table
            .lots(&args.job)
            .await
            .with_context(|| format!("reading the lots of job {}", args.job))?;
        let brought = self.bring_forward(&mut lots).await;
        check_complete(self.job, &lots).map_err(|e| Finished(format!("{e:#}")))?;
        // The window as recorded now: a `retry --max-tasks` elsewhere takes effect here too.
        let recorded = load_job(self.table, &args.job).await?;
        session.quota.set_max(recorded.launch_window());
        let now = now_secs();
        session.beats.observe(&lots, now);
        let live = liveness_with(
            self.job,
            self.aws,
            &lots,
            now,
            args.stale_after,
            &session.beats,
        )
        .await?;
        let v = plan(&Facts {
            lots: &lots,
            live: &live,
            now,
            window: session.quota.size(now),
            max_retries: Some(max_retries),
            only: None,
        });
        let window = self.window_and_events(&v, recorded.window(), &lots, brought.len());
        out(&progress_line(&args.job, &lots, &live, &window, self.tty))?;
        refused(&args.job, &lots)?;
        if let Some(done) = verdict(args, &lots, &live, max_retries)? {
            // Every lot SUCCEEDED: the job gives its part of the budget back at once.
            budget::reshare(self.table, self.job, &lots, &live).await;
            return Ok(done);
        }
        self.launch(session, &v, &lots, &live, &brought, now)
            .await?;
        let waiting = lots
            .iter()
            .filter(|l| l.state == LotState::Waiting)
            .filter_map(|l| l.next_check_at);
        let pause = pause_secs(waiting, now, args.interval, v.window_full() > 0);
        Ok(Step::Again(Duration::from_secs(pause)))
    }

    /// Starts the tasks of the lots the window plans (PENDING ones at the job's pace, WAITING
    /// ones when their look agrees; `brought`: due early by events) and reshares the budget.
    async fn launch(
        &self,
        session: &mut Session,
        v: &Verdict,
        lots: &[LotItem],
        live: &std::collections::BTreeMap<u32, Liveness>,
        brought: &[u32],
        now: i64,
    ) -> anyhow::Result<()> {
        let args = self.args;
        if !session.looked {
            session.pace = pace(self.table, self.job, args.interval).await;
            if let Some(p) = &mut session.pace {
                p.started(started_lately(lots, now, args.interval));
            }
            session.looked = true;
        }
        let planned = match &mut session.pace {
            Some(p) if restores_to_pace(lots) => p.admit(v.launch.clone(), now),
            _ => v.launch.clone(),
        };
        let launch = worth_a_task(
            self.aws,
            self.table,
            &self.job.spec,
            planned,
            brought,
            args.ready_fraction,
        )
        .await;
        // The workers sending restores now; those starting count from the next look.
        budget::reshare(self.table, self.job, lots, live).await;
        if launch.is_empty() {
            return Ok(());
        }
        let outcomes = relaunch_with(self.launcher, self.table, self.job, &launch).await;
        out(&format!("relaunched {} lots\n", outcomes.len()))?;
        self.quota_refused(&mut session.quota, v, &outcomes, now)?;
        if outcomes
            .iter()
            .any(|o| matches!(o.outcome, Outcome::Failed { .. }))
        {
            // A refusal now ends this follow now, not one interval later.
            refused(&args.job, &self.table.lots(&args.job).await?)?;
        }
        Ok(())
    }

    /// The window as the progress line shows it, and with `--events` what they brought.
    fn window_and_events(&self, v: &Verdict, max: u32, lots: &[LotItem], brought: usize) -> String {
        let window = window_text(v, max);
        match self.events {
            Some(e) => format!("{window}; {}", events_text(e, lots, brought)),
            None => window,
        }
    }

    /// `--events`: makes the WAITING lots whose events reached the fraction due now (in `lots`)
    /// and records the lots' counts for `status`; the lots it brought forward.
    async fn bring_forward(&self, lots: &mut [LotItem]) -> Vec<u32> {
        let Some(e) = self.events else {
            return Vec::new();
        };
        let brought = e.bring_forward(lots, now_secs());
        e.record(self.table, &self.args.job, lots).await;
        brought
    }

    /// When the Fargate quota refused a task of this round: the window of the session becomes
    /// the tasks that run (those live before the round and those it started), and says so.
    fn quota_refused(
        &self,
        quota: &mut QuotaWindow,
        v: &Verdict,
        outcomes: &[LotOutcome],
        now: i64,
    ) -> anyhow::Result<()> {
        if !outcomes
            .iter()
            .any(|o| matches!(o.outcome, Outcome::Deferred { .. }))
        {
            return Ok(());
        }
        let started = outcomes
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Started { .. }))
            .count();
        let running = v
            .live
            .saturating_add(u32::try_from(started).unwrap_or(u32::MAX));
        let size = quota.refused(running, now);
        let line = format!(
            "job {}: the account's Fargate quota is full at {running} tasks of this job: the window is {size} for this session (--max-tasks {}), growing back by a tenth every {} minutes without a refusal",
            self.args.job,
            quota.max(),
            GROW_EVERY / 60
        );
        warn!("{line}");
        out(&format!("{line}\n"))
    }
}

/// The window as the progress line shows it: lots with a live worker of the job's window
/// (`max`, `--max-tasks`), and why it is smaller or full.
fn window_text(v: &Verdict, max: u32) -> String {
    let mut t = format!("window {} live of {}", v.live, v.window.min(max));
    if v.window < max {
        t.push_str(&format!(" (quota; --max-tasks {max})"));
    }
    let full = v.window_full();
    if full > 0 {
        t.push_str(&format!(", {full} lots wait for a slot"));
    }
    t
}

/// The events part of the progress line, with the events counted of each WAITING lot that has
/// some (the first few).
fn events_text(e: &Events, lots: &[LotItem], brought: usize) -> String {
    let mut t = progress_text(&e.totals(), brought);
    let per_lot: Vec<String> = lots
        .iter()
        .filter(|l| l.state == LotState::Waiting)
        .filter_map(|l| {
            let n = e.counted(l.lot);
            (n > 0).then(|| format!("{} {n}/{}", l.lot, waiting_keys(l)))
        })
        .take(5)
        .collect();
    if !per_lot.is_empty() {
        t.push_str(&format!(" (waiting lots: {})", per_lot.join(", ")));
    }
    t
}

/// Stops `follow` when ECS refused a lot's task as asked: every other launch would be refused
/// the same way, and only a person can fix the setup.
fn refused(job: &str, lots: &[LotItem]) -> anyhow::Result<()> {
    let refused: Vec<&LotItem> = lots.iter().filter(|l| launch_refused(l)).collect();
    let Some(first) = refused.first() else {
        return Ok(());
    };
    Err(Finished(format!(
        "job {job}: ECS refused to start the task of {} lots (lot {}: {}); fix the setup, then `coordinator retry {job}`",
        refused.len(),
        first.lot,
        first.last_error.as_deref().unwrap_or("refused")
    ))
    .into())
}

/// `Some(Done)` when every lot SUCCEEDED, an error when nothing is left to run but some lots
/// failed for good or were cancelled, `None` while lots are still open.
fn verdict(
    args: &FollowArgs,
    lots: &[LotItem],
    live: &std::collections::BTreeMap<u32, Liveness>,
    max_retries: u64,
) -> anyhow::Result<Option<Step>> {
    let exhausted: Vec<&LotItem> = lots
        .iter()
        .filter(|l| {
            (l.retries >= max_retries || only_mismatches(l))
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
    if open > 0 {
        return Ok(None);
    }
    if exhausted.is_empty() && cancelled == 0 {
        out(&format!("job {}: every lot SUCCEEDED\n", args.job))?;
        return Ok(Some(Step::Done));
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
    Err(Finished(format!("job {}: {}", args.job, why.join("; "))).into())
}

fn progress_line(
    job: &str,
    lots: &[LotItem],
    live: &std::collections::BTreeMap<u32, Liveness>,
    window: &str,
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
        .filter(|l| matches!(l, Liveness::Stale(_) | Liveness::Interrupted(_)))
        .count();
    let waiting_launch = lots
        .iter()
        .filter(|l| launch_failed(l) && !launch_refused(l))
        .count();
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let pct = if total == 0 {
        0.0
    } else {
        done as f64 * 100.0 / total as f64
    };
    let line = format!(
        "job {job}: {done}/{total} keys ({pct:.1}%), {failed} failed; lots: {}; {window}{}{}",
        states.join(", "),
        if stale > 0 {
            format!("; {stale} stale")
        } else {
            String::new()
        },
        if waiting_launch > 0 {
            format!("; {waiting_launch} waiting to relaunch (no capacity, quota or throttled)")
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

    #[test]
    fn the_window_in_the_progress_line() {
        let v = |live, window, full: u32| Verdict {
            launch: vec![],
            live,
            window,
            held: (0..full)
                .map(|n| (n, crate::fleet::window::Held::WindowFull))
                .collect(),
        };
        assert_eq!(window_text(&v(3, 3, 0), 3), "window 3 live of 3");
        assert_eq!(
            window_text(&v(2, 2, 5), 3),
            "window 2 live of 2 (quota; --max-tasks 3), 5 lots wait for a slot"
        );
        // local jobs: the launcher keeps to the window itself
        assert_eq!(window_text(&v(1, u32::MAX, 0), 4), "window 1 live of 4");
    }
}
