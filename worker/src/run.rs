//! One worker run over a lot, start to end: claim the attempt, read the job and the lot's
//! manifest, clean up what a crashed run left ([`crate::recovery`]), process the keys in passes
//! ([`crate::passes`]) while the checkpointer writes progress, then record the final state
//! (SUCCEEDED, FAILED with the failed keys, WAITING or INTERRUPTED) and print the summary line.
//! A run whose lot a newer attempt took over stops at once without writing (fenced, exit 3).
//!
//! Everything from outside comes in through [`run`]: the configuration, the clients, and a
//! shutdown future (SIGTERM/SIGINT in the binary) that stops the run cleanly.

use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use thaw_common::checkpoint::{final_state, LotState};
use thaw_common::keystate::Rules;
use thaw_common::progress::{LotItem, ProgressError, ProgressTable};
use thaw_common::spec::S3Location;
use tokio::sync::{watch, Notify};

use crate::checkpointer::{final_write, flush_loop};
use crate::emf_writer::emf_loop;
use crate::manifest::{read_spec, Manifest};
use crate::metrics::Metrics;
use crate::passes::{process_lot, LotOutcome};
use crate::proofs;
use crate::ratelimit::{Pacing, RateLimiter};
use crate::records::Records;
use crate::recovery::recover;
use crate::settings::Settings;
use crate::tracker::{describe, Tracker};
use crate::{Args, Ctx};

/// Exit code of a worker whose lot was taken over by a newer attempt.
const EXIT_FENCED: u8 = 3;

/// The clients a run talks to.
pub struct Clients {
    /// S3 in the job's Region.
    pub s3: aws_sdk_s3::Client,
    /// An S3 client for another Region (destination buckets outside the job's Region).
    pub s3_in: Box<dyn Fn(&str) -> aws_sdk_s3::Client + Send + Sync>,
    /// The progress table.
    pub table: ProgressTable,
}

/// How a run ended. (An `Err` from [`run`] means it could not do its job at all: exit 1.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The run recorded this final state of the lot (exit 0).
    Ended(LotState),
    /// A newer attempt owns the lot: the run stopped without further writes (exit 3).
    Fenced,
}

impl Outcome {
    /// The process exit code of this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Ended(_) => 0,
            Self::Fenced => EXIT_FENCED,
        }
    }
}

/// Runs the worker over its lot until every key is finished, restores are left to wait for, or
/// `shutdown` resolves (then in-flight keys get the shutdown grace period, the checkpoint is
/// written and the lot is INTERRUPTED). `Err` only when it could not do its job at all; once the
/// attempt is claimed, such an error also marks the lot FAILED.
pub async fn run(
    args: Args,
    clients: Clients,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Outcome> {
    let started = Instant::now();
    let stop = Arc::new(watch::channel(false).0);
    let _stopper = Stopper::spawn(shutdown, stop.clone(), args.lot);
    let control = S3Location::parse(&args.control).map_err(|e| anyhow!("--control: {e}"))?;
    let metrics = Metrics::default();
    let Some((item, attempt)) = claim(&clients.table, &args, &metrics).await? else {
        return Ok(Outcome::Fenced);
    };
    let table = clients.table.clone();
    let claimed = Claimed {
        args: &args,
        clients,
        control,
        item,
        attempt,
        metrics,
        stop,
    };
    // From here the table is reachable and the attempt ours: a fatal error marks the lot FAILED.
    match claimed.process(started).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let reason = format!("{e:#}");
            // A state change like any other: one log line (JSON in containers) with the state.
            tracing::error!(
                job = %args.job_id, lot = args.lot, attempt, state = LotState::Failed.as_str(),
                error = %reason, "lot failed: it cannot run"
            );
            if let Err(w) = table
                .set_state(
                    &args.job_id,
                    args.lot,
                    attempt,
                    LotState::Failed,
                    Some(&reason),
                )
                .await
            {
                tracing::warn!(error = %w, "could not mark the lot FAILED");
            }
            Err(e)
        }
    }
}

/// Turns the shutdown future into the run's stop signal; stops watching when the run ends.
struct Stopper(tokio::task::JoinHandle<()>);

impl Stopper {
    fn spawn(
        shutdown: impl Future<Output = ()> + Send + 'static,
        stop: Arc<watch::Sender<bool>>,
        lot: u32,
    ) -> Self {
        Self(tokio::spawn(async move {
            shutdown.await;
            tracing::warn!(
                lot,
                "stop signal: finishing in-flight keys, then checkpointing"
            );
            // `send_replace`: the flag must flip even while no loop is subscribed (setup, recovery).
            stop.send_replace(true);
        }))
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the lot and the attempt this run works under; `None` (said on stderr) when a newer
/// attempt owns the lot. A claim made here may race with the previous run's last writes: the
/// run resumes from what is in the table after the claim, not from what was read before it.
async fn claim(
    table: &ProgressTable,
    args: &Args,
    metrics: &Metrics,
) -> Result<Option<(LotItem, u64)>> {
    let item = read_lot(table, args, metrics, "is not in").await?;
    let Some(attempt) = attempt_for(table, args, &item, metrics).await? else {
        eprintln!(
            "error: lot {} of job {} belongs to attempt {}, newer than this worker's: stopping",
            args.lot, args.job_id, item.attempt
        );
        return Ok(None);
    };
    let item = if args.attempt.is_none() {
        read_lot(table, args, metrics, "vanished from").await?
    } else {
        item
    };
    Ok(Some((item, attempt)))
}

/// The lot's item; an error saying it `missing` the table when there is none.
async fn read_lot(
    table: &ProgressTable,
    args: &Args,
    metrics: &Metrics,
    missing: &str,
) -> Result<LotItem> {
    Metrics::inc(&metrics.ddb_read);
    table.get_lot(&args.job_id, args.lot).await?.ok_or_else(|| {
        anyhow!(
            "lot {} of job {} {missing} table {}",
            args.lot,
            args.job_id,
            args.table
        )
    })
}

/// The attempt this run works under: the coordinator's, or the next one claimed here. `None`
/// when a newer attempt already owns the lot.
async fn attempt_for(
    table: &ProgressTable,
    args: &Args,
    item: &LotItem,
    metrics: &Metrics,
) -> Result<Option<u64>> {
    match args.attempt {
        Some(a) if a < item.attempt => Ok(None),
        Some(a) if a == item.attempt => Ok(Some(a)),
        Some(a) => Err(anyhow!(
            "attempt {a} was never launched (lot {} is at attempt {})",
            args.lot,
            item.attempt
        )),
        None => {
            Metrics::inc(&metrics.ddb_write);
            if table
                .claim_launch(&args.job_id, args.lot, item.attempt, item.state)
                .await?
            {
                Ok(Some(item.attempt + 1))
            } else {
                Ok(None)
            }
        }
    }
}

fn task_id(args: &Args) -> Option<String> {
    if let Some(t) = &args.task_id {
        return Some(t.clone());
    }
    if std::env::var_os("ECS_CONTAINER_METADATA_URI_V4").is_some() {
        return None; // the coordinator recorded the task ARN
    }
    Some(thaw_common::task::TaskId::this_process().to_string())
}

/// A run whose attempt is claimed: what it needs to set up and process the lot.
struct Claimed<'a> {
    args: &'a Args,
    clients: Clients,
    control: S3Location,
    item: LotItem,
    attempt: u64,
    metrics: Metrics,
    stop: Arc<watch::Sender<bool>>,
}

impl Claimed<'_> {
    /// Sets the run up, cleans up after an earlier run, processes the lot and ends the run.
    async fn process(self, started: Instant) -> Result<Outcome> {
        let (ctx, manifest, item) = self.prepare().await?;
        recover(&ctx, &item, &manifest).await?;
        process_and_end(ctx, &manifest, started).await
    }

    /// Reads the job, records the run's start, fetches the manifest and builds the run's
    /// context, resuming from the lot's checkpoint (failed keys are tried again).
    async fn prepare(self) -> Result<(Arc<Ctx>, Manifest, LotItem)> {
        let Claimed {
            args,
            clients,
            control,
            item,
            attempt,
            metrics,
            stop,
        } = self;
        let spec = read_spec(&clients.s3, &control, &metrics).await?;
        if spec.job_id != args.job_id {
            return Err(anyhow!(
                "job spec at {control} is for job {}, not {}",
                spec.job_id,
                args.job_id
            ));
        }
        let settings = Settings::merge(args, &spec.worker);
        Metrics::inc(&metrics.ddb_write);
        clients
            .table
            .start_run(&spec.job_id, args.lot, attempt, task_id(args).as_deref())
            .await
            .map_err(|e| fenced_or(e, "recording the run start"))?;
        let mut manifest = Manifest::fetch(
            &clients.s3,
            &item.manifest,
            item.counters.keys_total,
            &metrics,
        )
        .await?;
        manifest.order = item.key_order;
        let mut cp = item.checkpoint.clone();
        cp.clear_failures(); // failed keys are tried again by every run
        let requests_base = std::mem::take(&mut cp.requests);
        let pacing = Arc::new(Pacing::default());
        let regional_s3 = spec
            .bucket_regions
            .iter()
            .map(|(bucket, region)| (bucket.clone(), pacing.instrument((clients.s3_in)(region))))
            .collect();
        let ctx = Arc::new(Ctx {
            requests_base,
            s3: pacing.instrument(clients.s3),
            pacing,
            regional_s3,
            records: Records::for_lot(
                clients.table.clone(),
                spec.job_id.clone(),
                args.lot,
                attempt,
            ),
            table: clients.table,
            restore_limiter: RateLimiter::new(settings.restore_rate),
            restore_budget: spec
                .restore_budget
                .clone()
                .filter(|_| args.restore_rate.is_none()),
            settings,
            lot: args.lot,
            attempt,
            metrics,
            tracker: Tracker::new(cp),
            fenced: AtomicBool::new(false),
            stop,
            liveness: Default::default(),
            rules: Rules::of(&spec),
            spec,
        });
        Ok((ctx, manifest, item))
    }
}

/// Processes the lot with the checkpointer writing beside it, then ends the run.
async fn process_and_end(ctx: Arc<Ctx>, manifest: &Manifest, started: Instant) -> Result<Outcome> {
    tracing::info!(
        job = %ctx.spec.job_id, lot = ctx.lot, attempt = ctx.attempt, state = "RUNNING",
        keys_total = manifest.len, "lot started"
    );
    // The share of the restore budget before the first restore request; the flusher rereads it.
    crate::budget::apply_share(&ctx).await;
    let finish = Arc::new(Notify::new());
    let flusher = tokio::spawn(flush_loop(ctx.clone(), finish.clone()));
    let metrics_done = Arc::new(Notify::new());
    let metrics = tokio::spawn(emf_loop(ctx.clone(), metrics_done.clone()));
    let outcome = process_lot(&ctx, manifest).await;
    // Stop the flusher and wait for it (a write it has sent completes first), so no RUNNING
    // write can land after the final one.
    finish.notify_one();
    let _ = flusher.await;
    // The last metric document: what the run did since the previous one.
    metrics_done.notify_one();
    let _ = metrics.await;
    if ctx.is_fenced() {
        return Ok(fenced_exit(&ctx, started));
    }
    end(&ctx, outcome?, started).await
}

/// Records the lot's final state (WAITING with when to look again), logs it and prints the
/// summary.
async fn end(ctx: &Ctx, outcome: LotOutcome, started: Instant) -> Result<Outcome> {
    let cp = ctx.with_requests(ctx.tracker.snapshot());
    let (state, next_check_at) = match outcome {
        LotOutcome::Interrupted => (LotState::Interrupted, None),
        LotOutcome::Finished => (final_state(&cp.counters, 0), None),
        LotOutcome::Waiting {
            pending,
            next_check,
        } => (final_state(&cp.counters, pending), Some(next_check)),
    };
    // The proofs before the checkpoint that counts their keys done.
    proofs::write(ctx).await;
    if let Err(e) = final_write(ctx, &cp, state, next_check_at).await {
        if matches!(e, ProgressError::Fenced { .. }) {
            return Ok(fenced_exit(ctx, started));
        }
        return Err(fenced_or(e, "writing the final checkpoint"));
    }
    tracing::info!(
        job = %ctx.spec.job_id, lot = ctx.lot, attempt = ctx.attempt, state = state.as_str(),
        keys_total = cp.counters.keys_total, copied = cp.counters.copied,
        skipped = cp.counters.skipped, failed = cp.counters.failed,
        restore_requested = cp.counters.restore_requested, next_check_at,
        "{}", describe(state, &cp)
    );
    print_summary(ctx, state.as_str(), started);
    Ok(Outcome::Ended(state))
}

/// Ends a run whose lot a newer attempt took over: one line, the summary, exit 3, no writes.
fn fenced_exit(ctx: &Ctx, started: Instant) -> Outcome {
    eprintln!(
        "error: lot {} of job {} was taken over by a newer attempt than {}: stopping",
        ctx.lot, ctx.spec.job_id, ctx.attempt
    );
    print_summary(ctx, "FENCED", started);
    Outcome::Fenced
}

fn fenced_or(e: ProgressError, what: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(what.to_owned())
}

/// Prints the one-line JSON summary the benchmark and operators read.
fn print_summary(ctx: &Ctx, state: &str, started: Instant) {
    let cp = ctx.tracker.snapshot();
    let summary = serde_json::json!({
        "job_id": ctx.spec.job_id,
        "lot": ctx.lot,
        "attempt": ctx.attempt,
        "state": state,
        "counters": cp.counters,
        "elapsed_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "requests": ctx.metrics.to_json(),
        "pacing": ctx.pacing.to_json(),
        "restore_rate": ctx.restore_limiter.rate(),
    });
    println!("{summary}");
}
