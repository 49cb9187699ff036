//! One worker run over a lot: claim the attempt, resume from the checkpoint, process keys in
//! passes (request restores, copy what is ready, poll what is not), checkpoint as it goes, and
//! end as SUCCEEDED, FAILED (with failed keys recorded), WAITING or INTERRUPTED.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use backon::{ExponentialBuilder, Retryable};
use futures::StreamExt;
use thaw_common::aws::{Aws, AwsError};
use thaw_common::bitmap::Bitmap;
use thaw_common::checkpoint::{final_state, LotState};
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{decide, is_not_restored_code, Next};
use thaw_common::progress::{now_secs, LotItem, ProgressError, ProgressTable};
use thaw_common::spec::{poll_delay, S3Location};
use thaw_common::upload_record::{self, UploadEntry, UploadRecord, UploadSlot};
use tokio::sync::{watch, Notify};

use crate::ctx::Settings;
use crate::manifest::{read_spec, Manifest};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::tracker::{describe, Tracker};
use crate::{copy, object, restore, Args, Ctx};

/// Exit code of a worker whose lot was taken over by a newer attempt.
const EXIT_FENCED: u8 = 3;

/// What happened to one key in one pass.
enum Step {
    /// Finished for this run (copied, skipped or failed).
    Finished,
    /// Waiting for its restore; `deep` when it is a DEEP_ARCHIVE object (slower to poll).
    Pending { deep: bool },
}

/// Runs the worker; `Err` only when it could not do its job at all.
pub async fn run(args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    // First thing: on Fargate the worker is PID 1, which ignores a SIGTERM it has no handler for.
    let stop = Arc::new(watch::channel(false).0);
    spawn_signal_handler(stop.clone(), args.lot);
    let aws = Aws::load(&args.aws).await?;
    let s3 = aws.s3();
    let table = ProgressTable::new(aws.dynamodb(), &args.table);
    let metrics = Metrics::default();
    let control = S3Location::parse(&args.control).map_err(|e| anyhow!("--control: {e}"))?;

    Metrics::inc(&metrics.ddb_read);
    let item = table
        .get_lot(&args.job_id, args.lot)
        .await?
        .ok_or_else(|| {
            anyhow!(
                "lot {} of job {} is not in table {}",
                args.lot,
                args.job_id,
                args.table
            )
        })?;

    let attempt = claim(&table, &args, &item, &metrics).await?;
    let Some(attempt) = attempt else {
        eprintln!(
            "error: lot {} of job {} belongs to attempt {}, newer than this worker's: stopping",
            args.lot, args.job_id, item.attempt
        );
        return Ok(ExitCode::from(EXIT_FENCED));
    };

    // A claim made here may race with the previous run's last writes: resume from what is in
    // the table now, not from what was read before the claim.
    let item = if args.attempt.is_none() {
        Metrics::inc(&metrics.ddb_read);
        table
            .get_lot(&args.job_id, args.lot)
            .await?
            .ok_or_else(|| {
                anyhow!(
                    "lot {} of job {} vanished from table {}",
                    args.lot,
                    args.job_id,
                    args.table
                )
            })?
    } else {
        item
    };

    // From here the table is reachable and the attempt ours: a fatal error marks the lot FAILED.
    match prepare_and_process(
        &args,
        &aws,
        s3,
        table.clone(),
        &control,
        item,
        attempt,
        metrics,
        started,
        stop,
    )
    .await
    {
        Ok(code) => Ok(code),
        Err(e) => {
            let reason = format!("{e:#}");
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

/// The attempt this run works under: the coordinator's, or the next one claimed here. `None`
/// when a newer attempt already owns the lot.
async fn claim(
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
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    Some(format!("local:{host}:{}", std::process::id()))
}

#[allow(clippy::too_many_arguments)]
async fn prepare_and_process(
    args: &Args,
    aws: &Aws,
    s3: aws_sdk_s3::Client,
    table: ProgressTable,
    control: &S3Location,
    item: LotItem,
    attempt: u64,
    metrics: Metrics,
    started: Instant,
    stop: Arc<watch::Sender<bool>>,
) -> Result<ExitCode> {
    let spec = read_spec(&s3, control, &metrics).await?;
    if spec.job_id != args.job_id {
        return Err(anyhow!(
            "job spec at {control} is for job {}, not {}",
            spec.job_id,
            args.job_id
        ));
    }
    let w = &spec.worker;
    let settings = Settings {
        concurrency: args.concurrency.unwrap_or(w.concurrency).max(1),
        part_concurrency: args.part_concurrency.max(1),
        restore_rate: args.restore_rate.unwrap_or(w.restore_rate),
        max_wait: Duration::from_secs(args.max_wait.unwrap_or(w.max_wait_secs)),
        poll_interval: args.poll_interval.or(w.poll_interval_secs),
        multipart_threshold: args.multipart_threshold.unwrap_or(w.multipart_threshold),
        part_size: args.part_size.unwrap_or(w.part_size),
        checkpoint_interval: Duration::from_secs(args.checkpoint_interval.max(1)),
        heartbeat: Duration::from_secs(args.heartbeat.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };

    Metrics::inc(&metrics.ddb_write);
    table
        .start_run(&spec.job_id, args.lot, attempt, task_id(args).as_deref())
        .await
        .map_err(|e| fenced_or(e, "recording the run start"))?;

    let manifest = Manifest::fetch(&s3, &item.manifest, item.counters.keys_total, &metrics).await?;

    let mut cp = item.checkpoint.clone();
    cp.clear_failures(); // failed keys are tried again by every run

    let requests_base = std::mem::take(&mut cp.requests);
    let regional_s3 = spec
        .bucket_regions
        .iter()
        .map(|(bucket, region)| (bucket.clone(), aws.s3_in(region)))
        .collect();
    let ctx = Arc::new(Ctx {
        requests_base,
        s3,
        regional_s3,
        table,
        restore_limiter: RateLimiter::new(settings.restore_rate),
        settings,
        lot: args.lot,
        attempt,
        metrics,
        tracker: Tracker::new(cp),
        fenced: AtomicBool::new(false),
        stop,
        spec,
    });

    abort_stale_uploads(&ctx, &item, &manifest).await?;
    finish_pending_deletes(&ctx, &item, &manifest).await?;

    tracing::info!(
        job = %ctx.spec.job_id, lot = ctx.lot, attempt, state = "RUNNING",
        keys_total = manifest.len, "lot started"
    );
    let finish = Arc::new(Notify::new());
    let flusher = tokio::spawn(flush_loop(ctx.clone(), finish.clone()));
    let outcome = process_lot(&ctx, &manifest).await;
    // Stop the flusher and wait for it (a write it has sent completes first), so no RUNNING
    // write can land after the final one.
    finish.notify_one();
    let _ = flusher.await;

    if ctx.is_fenced() {
        return Ok(fenced_exit(&ctx, started));
    }
    let outcome = outcome?;
    let cp = ctx.with_requests(ctx.tracker.snapshot());
    let (state, next_check_at) = match outcome {
        LotOutcome::Interrupted => (LotState::Interrupted, None),
        LotOutcome::Finished => (final_state(&cp.counters, 0), None),
        LotOutcome::Waiting {
            pending,
            next_check,
        } => (final_state(&cp.counters, pending), Some(next_check)),
    };
    if let Err(e) = final_write(&ctx, &cp, state, next_check_at).await {
        if matches!(e, ProgressError::Fenced { .. }) {
            return Ok(fenced_exit(&ctx, started));
        }
        return Err(fenced_or(e, "writing the final checkpoint"));
    }
    tracing::info!(
        job = %ctx.spec.job_id, lot = ctx.lot, attempt, state = state.as_str(),
        keys_total = cp.counters.keys_total, copied = cp.counters.copied,
        skipped = cp.counters.skipped, failed = cp.counters.failed,
        restore_requested = cp.counters.restore_requested, next_check_at,
        "{}", describe(state, &cp)
    );
    print_summary(&ctx, state.as_str(), started);
    Ok(ExitCode::SUCCESS)
}

/// Ends a run whose lot a newer attempt took over: one line, the summary, exit 3, no writes.
fn fenced_exit(ctx: &Ctx, started: Instant) -> ExitCode {
    eprintln!(
        "error: lot {} of job {} was taken over by a newer attempt than {}: stopping",
        ctx.lot, ctx.spec.job_id, ctx.attempt
    );
    print_summary(ctx, "FENCED", started);
    ExitCode::from(EXIT_FENCED)
}

/// The last checkpoint of a run, retried with backoff beyond the SDK's own retries: losing it
/// would turn a finished lot into a failed one. A fenced refusal is final at once.
async fn final_write(
    ctx: &Ctx,
    cp: &thaw_common::checkpoint::LotCheckpoint,
    state: LotState,
    next_check_at: Option<i64>,
) -> Result<(), ProgressError> {
    let write = || async {
        Metrics::inc(&ctx.metrics.ddb_write);
        ctx.table
            .write_checkpoint(
                &ctx.spec.job_id,
                ctx.lot,
                ctx.attempt,
                cp,
                state,
                next_check_at,
            )
            .await
    };
    write
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_delay(Duration::from_secs(20))
                .with_max_times(6)
                .with_jitter(),
        )
        .when(|e| !matches!(e, ProgressError::Fenced { .. }))
        .notify(|e, d| tracing::warn!(error = %e, retry_in = ?d, "final checkpoint write failed"))
        .await
}

fn fenced_or(e: ProgressError, what: &str) -> anyhow::Error {
    anyhow::Error::new(e).context(what.to_owned())
}

/// Aborts the multipart uploads an earlier run of this lot left open (recorded in the item).
async fn abort_stale_uploads(ctx: &Ctx, item: &LotItem, manifest: &Manifest) -> Result<()> {
    for e in upload_record::entries(&item.uploads) {
        let i = e.index;
        let (since, upload_id) = match &e.record {
            UploadRecord::Creating { since } => (Some(*since), ""),
            UploadRecord::Open { upload_id } => (None, upload_id.as_str()),
            UploadRecord::PendingDelete { .. } => continue,
        };
        if let Some(entry) = manifest.entry_at(i)? {
            let (bucket, key) = ctx.target_of(&entry);
            if let Some(since) = since {
                // The earlier run died while creating the upload: find it by key. A failure
                // here must not block the lot: the entry stays for the next run.
                match copy::abort_uploads_of(ctx, &bucket, &key, since).await {
                    Ok(n) => tracing::info!(
                        key,
                        aborted = n,
                        "aborted uploads an earlier run was creating"
                    ),
                    Err(e) => {
                        tracing::warn!(key, error = %e, "could not look for the upload an earlier run was creating; the next run tries again");
                        continue;
                    }
                }
            } else {
                tracing::info!(
                    key,
                    upload_id,
                    "aborting a multipart upload left by an earlier run"
                );
                copy::abort(ctx, &bucket, &key, upload_id).await;
            }
        }
        ctx.forget(UploadSlot::Upload(i)).await;
    }
    Ok(())
}

/// Finishes the deletes an earlier run recorded before its copies and did not get to. The
/// copy counts as made when the target is in the target class with the source version's size,
/// is another version, was written after the record (a minute of clock skew allowed), and has
/// the source's ETag (unless a multipart or SSE-KMS copy, whose ETags differ). Then the source
/// version is deleted and the key counted copied; with no such copy the record is dropped and
/// the key processed as usual. A failure leaves the record for the next run.
async fn finish_pending_deletes(ctx: &Ctx, item: &LotItem, manifest: &Manifest) -> Result<()> {
    for e in upload_record::entries(&item.uploads) {
        let UploadRecord::PendingDelete {
            recorded_at,
            version,
        } = &e.record
        else {
            continue;
        };
        let (i, recorded_at, version) = (e.index, *recorded_at, version.as_str());
        let Some(entry) = manifest.entry_at(i)? else {
            ctx.forget(UploadSlot::PendingDelete(i)).await;
            continue;
        };
        let (bucket, key) = ctx.target_of(&entry);
        let target = match object::head_at(ctx, &bucket, &key, None).await {
            Ok(c) => Some(c),
            Err(e) if e.code == "NoSuchKey" => None,
            Err(e) => {
                tracing::warn!(key = entry.key, error = %e, "could not look at a copy whose source is left to delete; the next run tries again");
                continue;
            }
        };
        let written_after = |c: &object::ObjectInfo| {
            let modified = c.raw.last_modified().map(|t| t.secs());
            match (recorded_at, modified) {
                (Some(r), Some(m)) => m >= r - 60,
                (None, _) => true,
                (Some(_), None) => false,
            }
        };
        let source = match object::head(ctx, &entry.key, Some(version)).await {
            Ok(s) => s,
            Err(e) if e.code == "NoSuchVersion" => {
                // Deleted before the record was dropped: done when its copy is there.
                if let Some(c) = target.filter(|c| {
                    c.head.storage_class == ctx.spec.target_class.as_str() && written_after(c)
                }) {
                    ctx.tracker.copied(i, c.size, false);
                }
                ctx.forget(UploadSlot::PendingDelete(i)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(key = entry.key, error = %e, "could not look at a source version left to delete; the next run tries again");
                continue;
            }
        };
        let etags_comparable = source.size <= ctx.settings.multipart_threshold
            && !matches!(
                source.raw.server_side_encryption(),
                Some(
                    aws_sdk_s3::types::ServerSideEncryption::AwsKms
                        | aws_sdk_s3::types::ServerSideEncryption::AwsKmsDsse
                )
            );
        let copied = target.filter(|c| {
            c.sized_like_copy_of(&source, ctx.spec.target_class.as_str())
                && c.raw.version_id() != Some(version)
                && written_after(c)
                && (!etags_comparable || c.same_etag(&source))
        });
        if let Some(c) = copied {
            let done = copy::Copied {
                bytes: c.size,
                version_id: c.raw.version_id().map(str::to_owned),
            };
            let pinned = KeyLine {
                version_id: Some(version.to_owned()),
                ..entry.clone()
            };
            match copy::delete_source_version(ctx, &pinned, &source, &done).await {
                Ok(()) => {
                    tracing::info!(
                        key = entry.key,
                        version,
                        "deleted the source version an earlier run copied"
                    );
                    ctx.tracker.copied(i, c.size, source.head.is_archived());
                }
                Err(e) => {
                    tracing::warn!(key = entry.key, error = %e, "could not delete a source version an earlier run copied; the next run tries again");
                    continue;
                }
            }
        }
        ctx.forget(UploadSlot::PendingDelete(i)).await;
    }
    Ok(())
}

fn spawn_signal_handler(stop: Arc<watch::Sender<bool>>, lot: u32) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::warn!(
            lot,
            "stop signal: finishing in-flight keys, then checkpointing"
        );
        let _ = stop.send(true);
    });
}

/// Writes the checkpoint when it changed (every `checkpoint_interval`) and a heartbeat at
/// least every `heartbeat`, until `finish` is notified.
async fn flush_loop(ctx: Arc<Ctx>, finish: Arc<Notify>) {
    let mut last_write = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ctx.settings.checkpoint_interval) => {}
            _ = finish.notified() => return,
        }
        let force = last_write.elapsed() >= ctx.settings.heartbeat;
        let Some(cp) = ctx.tracker.take_if_dirty(force) else {
            continue;
        };
        let cp = ctx.with_requests(cp);
        Metrics::inc(&ctx.metrics.ddb_write);
        match ctx
            .table
            .write_checkpoint(
                &ctx.spec.job_id,
                ctx.lot,
                ctx.attempt,
                &cp,
                LotState::Running,
                None,
            )
            .await
        {
            Ok(()) => last_write = Instant::now(),
            Err(ProgressError::Fenced { .. }) => {
                ctx.fence();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint write failed; retrying at the next interval");
                ctx.tracker.mark_dirty();
            }
        }
    }
}

/// How the processing of a lot ended.
enum LotOutcome {
    /// Every key is finished (copied, skipped or failed).
    Finished,
    /// Restores are still running; worth looking again at `next_check` (epoch seconds).
    Waiting { pending: u64, next_check: i64 },
    /// Stopped by a signal (or fencing) before the end.
    Interrupted,
}

async fn process_lot(ctx: &Arc<Ctx>, manifest: &Manifest) -> Result<LotOutcome> {
    let started = Instant::now();
    let mut only: Option<Bitmap> = None; // after the first pass: just the keys still waiting
    loop {
        let Some((pending, deep)) = run_pass(ctx, manifest, only.as_ref()).await? else {
            return Ok(LotOutcome::Interrupted);
        };
        let waiting = pending.count() as u64;
        if waiting == 0 {
            return Ok(LotOutcome::Finished);
        }
        let class = if deep { "DEEP_ARCHIVE" } else { "GLACIER" };
        let delay = poll_delay(class, ctx.spec.restore_tier, ctx.settings.poll_interval);
        if started.elapsed().saturating_add(delay) > ctx.settings.max_wait {
            return Ok(LotOutcome::Waiting {
                pending: waiting,
                next_check: now_secs()
                    .saturating_add(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX)),
            });
        }
        tracing::info!(
            lot = ctx.lot,
            waiting,
            poll_in_s = delay.as_secs(),
            "waiting for restores"
        );
        let mut stop = ctx.stop.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return Ok(LotOutcome::Interrupted),
        }
        only = Some(pending);
    }
}

/// One pass over the manifest. Returns the keys still waiting for a restore (and whether any is
/// DEEP_ARCHIVE), or `None` when a stop signal ended the pass early.
async fn run_pass(
    ctx: &Arc<Ctx>,
    manifest: &Manifest,
    only: Option<&Bitmap>,
) -> Result<Option<(Bitmap, bool)>> {
    let pending = std::sync::Mutex::new((Bitmap::new(manifest.len), false));
    let keys = manifest.keys()?;
    let work = futures::stream::iter(keys.enumerate())
        .take_while(|_| futures::future::ready(!ctx.stopping()))
        .filter_map(|(i, line)| {
            let wanted = line.is_ok() && !ctx.tracker.is_done(i) && only.is_none_or(|b| b.get(i));
            futures::future::ready(if wanted {
                line.ok().map(|l| (i, l))
            } else {
                None
            })
        })
        .map(|(i, entry)| {
            let ctx = ctx.clone();
            async move { (i, process_key(&ctx, i, &entry).await) }
        })
        .buffer_unordered(ctx.settings.concurrency)
        .for_each(|(i, step)| {
            if let Step::Pending { deep } = step {
                let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                p.0.set(i, true);
                p.1 |= deep;
            }
            futures::future::ready(())
        });

    let mut stop = ctx.stop.subscribe();
    let grace = ctx.settings.shutdown_grace;
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        _ = work => {}
        _ = stopped => {
            tracing::warn!(lot = ctx.lot, "in-flight keys abandoned after the shutdown grace period");
        }
    }
    if ctx.stopping() {
        return Ok(None);
    }
    let (bits, deep) = pending.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(Some((bits, deep)))
}

/// Takes one key as far as it can go now, recording the result in the tracker.
async fn process_key(ctx: &Ctx, i: usize, entry: &KeyLine) -> Step {
    let key = entry.key.as_str();
    if let Some(prefix) = &ctx.spec.source_prefix {
        if !key.starts_with(prefix.as_str()) {
            ctx.tracker.failed(
                i,
                "OutsideJobPrefix",
                "the manifest names a key outside the job's --from prefix: refused",
            );
            return Step::Finished;
        }
    }
    if let Some((bucket, _)) = &entry.dest {
        if *bucket != ctx.spec.bucket && !ctx.spec.dest_buckets.contains(bucket) {
            ctx.tracker.failed(
                i,
                "OutsideJobDestinations",
                "the manifest names a destination bucket the job was not launched with: refused",
            );
            return Step::Finished;
        }
    }
    let obj = match object::head(ctx, key, entry.version_id.as_deref()).await {
        Ok(o) => o,
        Err(e)
            if ctx.spec.delete_source_version
                && (e.code == "NoSuchVersion"
                    || (e.code == "NoSuchKey" && !ctx.in_place(entry))) =>
        {
            // An earlier run may have copied and deleted this version (for a copy elsewhere,
            // the only one), then died before its checkpoint: done when the copy is there.
            return copied_before(ctx, i, entry, &e).await;
        }
        Err(e) => {
            ctx.tracker.failed(i, &e.code, &e.message);
            return Step::Finished;
        }
    };
    if let Some(step) = check_destination(ctx, i, entry, &obj).await {
        return step;
    }
    if let Some(step) = check_pinned_in_place(ctx, i, entry, &obj).await {
        return step;
    }
    let deep = obj.head.is_deep_archive();
    let goal = ctx.goal(entry);
    match decide(
        &obj.head,
        goal,
        ctx.tracker.restore_still_valid(i, goal.days),
    ) {
        Next::Skip => {
            ctx.tracker.skipped(i);
            Step::Finished
        }
        Next::Fail { code, message } => {
            ctx.tracker.failed(i, &code, &message);
            Step::Finished
        }
        Next::Wait => Step::Pending { deep },
        Next::Restore { days } => {
            match restore::request(ctx, key, entry.version_id.as_deref(), days).await {
                Ok(answer) => {
                    ctx.tracker
                        .restore_requested(i, answer == restore::RestoreAnswer::Requested);
                    Step::Pending { deep }
                }
                Err(e) => {
                    ctx.tracker.failed(i, &e.code, &e.message);
                    Step::Finished
                }
            }
        }
        Next::Copy => {
            // Under --delete-source-version, say which version is to go before copying: a run
            // that dies between copy and delete leaves the next run a record to finish from.
            let pending = if ctx.spec.delete_source_version {
                copy::source_version(ctx, entry, &obj).map(str::to_owned)
            } else {
                None
            };
            if let Some(v) = &pending {
                if let Err(e) = ctx
                    .record(&UploadEntry::pending_delete(i, now_secs(), v))
                    .await
                {
                    if !ctx.is_fenced() {
                        ctx.tracker.failed(i, &e.code, &e.message);
                    }
                    return Step::Finished;
                }
            }
            let result = copy::copy_object(ctx, i, entry, &obj).await;
            if let (Some(_), Err(e)) = (&pending, &result) {
                // A definite refusal before the object could exist made no copy; after a
                // timeout, a 5xx or a refused CompleteMultipartUpload (perhaps a retry of one
                // that succeeded) the record stays for the next run to check.
                let before_the_object = matches!(
                    e.operation,
                    "GetObjectAcl"
                        | "GetObjectTagging"
                        | "CopyObject"
                        | "CreateMultipartUpload"
                        | "UploadPartCopy"
                );
                if before_the_object && e.status.is_some_and(|s| (400..500).contains(&s)) {
                    ctx.forget(UploadSlot::PendingDelete(i)).await;
                }
            }
            copied_or_not(ctx, i, entry, &obj, pending.is_some(), result).await
        }
    }
}

/// The end of a copy: the source version deleted when asked (then the record dropped), the key
/// counted, or why not.
async fn copied_or_not(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    obj: &object::ObjectInfo,
    pending: bool,
    result: Result<copy::Copied, AwsError>,
) -> Step {
    let key = entry.key.as_str();
    let deep = obj.head.is_deep_archive();
    match result {
        Ok(copied) => {
            if ctx.spec.delete_source_version {
                if let Err(e) = copy::delete_source_version(ctx, entry, obj, &copied).await {
                    let message = format!("copied, but the source version was kept: {}", e.message);
                    ctx.tracker.failed(i, &e.code, &message);
                    return Step::Finished;
                }
                if pending {
                    ctx.forget(UploadSlot::PendingDelete(i)).await;
                }
            }
            ctx.tracker.copied(i, copied.bytes, obj.head.is_archived());
            Step::Finished
        }
        Err(e) if is_not_restored_code(&e.code) => {
            // The restored copy expired between HEAD and copy: restore again next pass.
            ctx.tracker.restore_lost(i);
            Step::Pending { deep }
        }
        Err(e) if e.code == "PreconditionFailed" => {
            // The object was overwritten after HEAD: look at the new one next pass.
            tracing::info!(key, "object changed during its copy; it is looked at again");
            Step::Pending { deep }
        }
        Err(e) => {
            if !ctx.is_fenced() {
                ctx.tracker.failed(i, &e.code, &e.message);
            }
            Step::Finished
        }
    }
}

/// A source version (or, copied elsewhere, the whole key) is gone under
/// `--delete-source-version`: skipped when its copy is in the target class (an earlier run
/// finished it), failed otherwise.
async fn copied_before(ctx: &Ctx, i: usize, entry: &KeyLine, gone: &AwsError) -> Step {
    let (bucket, to_key) = ctx.target_of(entry);
    match object::head_at(ctx, &bucket, &to_key, None).await {
        Ok(d) if d.head.storage_class == ctx.spec.target_class.as_str() => ctx.tracker.skipped(i),
        Ok(_) => ctx.tracker.failed(i, &gone.code, &gone.message),
        Err(e) if e.code == "NoSuchKey" => ctx.tracker.failed(i, &gone.code, &gone.message),
        Err(e) => ctx.tracker.failed(i, &e.code, &e.message),
    }
    Step::Finished
}

/// In place, a pinned version is copied only while it is the current one: copying an older
/// version on top would hide newer data (`--overwrite` allows it). When the current version is
/// already the copy of the pinned one (same size and ETag, target class), the key is done (and,
/// under `--delete-source-version`, the pinned version is deleted).
async fn check_pinned_in_place(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    src: &object::ObjectInfo,
) -> Option<Step> {
    let pinned = entry.version_id.as_deref()?;
    if !ctx.in_place(entry) || ctx.overwrite() {
        return None;
    }
    let current = match object::head_at(ctx, &ctx.spec.bucket, &entry.key, None).await {
        Ok(c) => c,
        Err(e) => {
            ctx.tracker.failed(i, &e.code, &e.message);
            return Some(Step::Finished);
        }
    };
    // S3 reports no version id for an object written before versioning: its id is "null".
    if current.raw.version_id().unwrap_or("null") == pinned {
        return None;
    }
    let is_copy =
        current.sized_like_copy_of(src, ctx.spec.target_class.as_str()) && current.same_etag(src);
    if !is_copy {
        ctx.tracker.failed(
            i,
            "NotCurrentVersion",
            "the pinned version is no longer the current one: copying it in place would hide newer data (use --overwrite to copy it anyway)",
        );
        return Some(Step::Finished);
    }
    if ctx.spec.delete_source_version {
        let copied = copy::Copied {
            bytes: src.size,
            version_id: current.raw.version_id().map(str::to_owned),
        };
        if let Err(e) = copy::delete_source_version(ctx, entry, src, &copied).await {
            ctx.tracker.failed(i, &e.code, &e.message);
            return Some(Step::Finished);
        }
    }
    ctx.tracker.skipped(i);
    Some(Step::Finished)
}

/// For copies to another bucket or key: is the destination already done, or newer than the
/// source (never overwritten without `--overwrite`)? `None`: go on with the source.
async fn check_destination(
    ctx: &Ctx,
    i: usize,
    entry: &KeyLine,
    src: &object::ObjectInfo,
) -> Option<Step> {
    if ctx.in_place(entry) {
        return None;
    }
    let (bucket, to_key) = ctx.target_of(entry);
    match object::head_at(ctx, &bucket, &to_key, None).await {
        Ok(d) => {
            let newer = match (d.raw.last_modified(), src.raw.last_modified()) {
                (Some(a), Some(b)) => a.secs() > b.secs(),
                _ => false,
            };
            if d.sized_like_copy_of(src, ctx.spec.target_class.as_str())
                && (d.same_etag(src) || newer)
            {
                ctx.tracker.skipped(i);
                return Some(Step::Finished);
            }
            if newer && !ctx.overwrite() {
                ctx.tracker.failed(
                    i,
                    "DestinationNewer",
                    "the destination object is newer than the source: not overwritten without --overwrite",
                );
                return Some(Step::Finished);
            }
            None
        }
        Err(e) if e.code == "NoSuchKey" => None,
        Err(e) => {
            ctx.tracker.failed(i, &e.code, &e.message);
            Some(Step::Finished)
        }
    }
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
    });
    println!("{summary}");
}
