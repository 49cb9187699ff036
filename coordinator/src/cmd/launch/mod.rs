//! `coordinator launch`: validates a key list, splits it into lots, uploads the lot manifests
//! and `job.json`, records the job and its lots in the progress table and launches one worker
//! per lot.
//!
//! Order matters: everything that can be checked is checked before the first write (flags, key
//! list, table, buckets, cluster), so a bad command leaves no partial job; the flags are checked
//! before a key list in S3 is downloaded, so a typo does not cost a multi-GB download. The steps
//! live beside this file: [`args`] (flags), [`plan`] (pure: lots and spec), [`preflight`] (AWS
//! checks), [`record`] (the job in the table), [`report`] and [`dry_run`] (what is printed).
//!
//! A person sees its phases (read and validate, upload manifests, record lots, start tasks) and,
//! for local workers, the job's numbers while they run: a live display on a terminal, plain
//! lines elsewhere ([`crate::live`]).

pub mod args;
mod dry_run;
mod plan;
mod preflight;
mod record;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::SystemTime;

use thaw_common::aws::Aws;
use thaw_common::input::{Date, PatternSet};
use thaw_common::logging::LogFormat;
use thaw_common::progress::{now_secs, ProgressTable};
use thaw_common::spec::{JobSpec, S3Location};
use tracing::info;

use super::{usage, Global};
use crate::fleet::budget;
use crate::fleet::pace::Pace;
use crate::fleet::sizing::FOLLOW_INTERVAL_SECS;
use crate::keylist::listing::{list_prefix, ListingFilter};
use crate::keylist::source::read_list;
use crate::keylist::KeyList;
use crate::launcher::local::{check_worker_bin, default_worker_bin, WorkerOutput};
use crate::launcher::{launch_lots, LaunchSettings, Launcher, LotOutcome, WorkerEnv};
use crate::live::view::{stream_workers, Display, Mode};
use crate::liveness::DEFAULT_STALE_AFTER;
pub use args::LaunchArgs;
use args::LauncherKind;
use plan::PlanContext;

/// Runs `coordinator launch`; `log_format` is the coordinator's (a live view only with human
/// log lines).
pub async fn run(g: &Global, a: LaunchArgs, log_format: LogFormat) -> anyhow::Result<()> {
    let display = Display::new(Mode::detect(log_format == LogFormat::Human));
    // While the display is drawn, this command's log lines are written above it.
    let _logs = display
        .is_live()
        .then(|| display.console().capture_logs(a.verbose));
    let phase = display.phase("read and validate");
    let cx = PlanContext {
        now: SystemTime::now(),
        today: Date::today(),
        table: &g.table,
        worker_bin: None,
    };
    plan::check_flags(&a, &cx)?;
    let worker_bin = local_worker_bin(&a)?;
    let cx = PlanContext {
        worker_bin: worker_bin.as_deref(),
        ..cx
    };
    let keys = read_keys(g, &a, cx.today).await?;
    if keys.left_out.total() > 0 {
        info!("{}", keys.left_out.lines().trim_end());
    }
    if keys.control_left_out > 0 {
        info!("{}", control_line(keys.control_left_out));
    }
    let mut plan = plan::plan(&a, &keys.facts(), &cx)?;
    let planned = format!("{} keys in {} lots", plan.spec.keys_total, plan.sizes.len());
    if a.dry_run {
        phase.done(&planned);
        dry_run::print_plan(g, &plan, &keys)?;
        return dry_run::print_cost(g.aws(), &a, &plan, &keys).await;
    }
    let aws = g.aws()?;
    let table = g.progress(aws);
    preflight::preflight(aws, &table, &mut plan, a.acls).await?;
    phase.done(&planned);

    let (spec, selection) = record_job(&display, aws, &table, &plan, &keys, a.restore_rate).await?;
    if let Some(region) = &spec.restore_budget {
        let at_once = starting_workers(&plan.settings, &selection);
        budget::register(&table, region, &spec.job_id, a.restore_rate, at_once).await?;
    }
    let launcher = Launcher::new(aws, &plan.settings, WorkerEnv::new(&spec, &g.table, aws));
    let outcomes = start(&display, &a, launcher, &table, &spec, &selection).await;
    if let (LaunchSettings::Local(_), Some(region)) = (&plan.settings, &spec.restore_budget) {
        // The local workers have all exited: the job sends no restores until it runs again
        // (other jobs get its part back now, not once its entry goes stale).
        if let Err(e) = budget::refresh(&table, region, &spec.job_id, 0).await {
            tracing::warn!("{e:#}");
        }
    }
    let reported = match &plan.settings {
        LaunchSettings::Ecs(s) => report::report_ecs(g, &spec, s, &selection, &outcomes),
        LaunchSettings::Local(_) => report::report_local(g, &table, &spec, &outcomes).await,
    };
    if !a.follow {
        return reported;
    }
    if let Err(e) = reported {
        tracing::warn!("{e:#}; following the job to relaunch what failed");
    }
    follow(g, &spec.job_id).await
}

/// Uploads the manifests and `job.json` and records the job (unless it is recorded already),
/// then its lots; returns its spec and the lots this launch starts: on ECS within the window
/// and at the pace of `restore_rate` (one `follow` look's worth, [`crate::fleet::pace`]).
async fn record_job(
    display: &Display,
    aws: &Aws,
    table: &ProgressTable,
    plan: &plan::Plan,
    keys: &KeyList,
    restore_rate: f64,
) -> anyhow::Result<(JobSpec, record::Selection)> {
    let phase = display.phase("upload manifests");
    let (spec, orders) = record::ensure_job(&aws.s3(), table, plan, keys).await?;
    phase.done(&format!("job {} under {}", spec.job_id, spec.control));
    let phase = display.phase("record lots");
    record::ensure_lots(table, &spec, &plan.sizes, &orders).await?;
    // The items move into the selection: one copy of each in memory, not two.
    let mut selection = record::select(table.lots(&spec.job_id).await?, now_secs());
    // Local workers are bounded by the launcher's --parallel, which is the window there.
    if let (LaunchSettings::Ecs(_), Some(window)) = (&plan.settings, spec.max_tasks) {
        selection.keep_to(window);
        selection.pace(first_batch(restore_rate, &spec, now_secs()));
    }
    info!(
        job = spec.job_id.as_str(),
        "{} lots to launch, {} already launched or running, {} succeeded, {} left for a retry, {} waiting for a slot of the window, {} to start at the restore rate",
        selection.launch.len(),
        selection.active,
        selection.succeeded,
        selection.other,
        selection.window_full,
        selection.paced
    );
    phase.done(&format!("{} lots recorded", spec.lots));
    Ok((spec, selection))
}

/// Lots `launch` starts at once: one `follow` look's worth at the job's restore rate
/// ([`Pace`], `follow --interval`'s default); `follow` starts the others at that pace.
fn first_batch(restore_rate: f64, spec: &JobSpec, now: i64) -> u32 {
    let keys_per_lot = spec.keys_total as f64 / f64::from(spec.lots.max(1));
    Pace::new(restore_rate, keys_per_lot, FOLLOW_INTERVAL_SECS as f64, now).allowed(now)
}

/// Workers restoring once this launch started its lots: those it starts and those already
/// running (at most `--parallel` at once locally).
fn starting_workers(settings: &LaunchSettings, selection: &record::Selection) -> u32 {
    let n = (selection.launch.len() + selection.active) as u64;
    let n = match settings {
        LaunchSettings::Ecs(_) => n,
        LaunchSettings::Local(s) => n.min(s.parallel as u64),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Starts the selected lots: ECS tasks (a phase), or local workers watched until they exit,
/// their lines in one log file per lot (and streamed with `--verbose` or off a terminal).
async fn start(
    display: &Display,
    a: &LaunchArgs,
    mut launcher: Launcher,
    table: &ProgressTable,
    spec: &JobSpec,
    selection: &record::Selection,
) -> Vec<LotOutcome> {
    let job = spec.job_id.as_str();
    let lots = &selection.launch;
    let Launcher::Local(local) = &mut launcher else {
        let phase = display.phase("start tasks");
        let outcomes = launch_lots(&launcher, table, job, lots, &Default::default()).await;
        phase.done(&format!("{} lots", outcomes.len()));
        return outcomes;
    };
    let dir = a.log_dir.join(job);
    let stream = stream_workers(a.verbose, std::io::stderr().is_terminal());
    info!(
        job,
        "worker logs: {} (one file per lot{})",
        dir.display(),
        if stream { ", streamed here too" } else { "" }
    );
    local.set_output(WorkerOutput {
        dir: Some(dir),
        stream: stream.then(|| display.console()),
    });
    let watch = display.watch(table.clone(), job);
    let outcomes = launch_lots(&launcher, table, job, lots, &Default::default()).await;
    watch.finish().await;
    outcomes
}

/// `--follow`: stays attached, as `coordinator follow` does with its defaults.
async fn follow(g: &Global, job: &str) -> anyhow::Result<()> {
    super::follow::run(
        g,
        super::follow::FollowArgs {
            job: job.to_owned(),
            lot_attempts: 3,
            interval: FOLLOW_INTERVAL_SECS,
            stale_after: DEFAULT_STALE_AFTER,
            once: false,
            ready_fraction: crate::readiness::DEFAULT_READY_FRACTION,
            max_tasks: None,
            events: None,
            events_index_dir: None,
        },
    )
    .await
}

/// Reads the job's keys (pass 1): the `--from` listing, or KEYS_FILE in any format `launch`
/// takes. AWS is needed only for a list in S3 or a listing.
async fn read_keys(g: &Global, a: &LaunchArgs, today: Date) -> anyhow::Result<KeyList> {
    if let Some(loc) = plan::source_location(a, today)? {
        return list_prefix(&g.aws()?.s3(), &loc, &listing_filter(a), a.request_payer).await;
    }
    let input = a
        .keys_file
        .as_deref()
        .ok_or_else(|| usage("a KEYS_FILE or --from is required"))?;
    read_list(
        g.aws(),
        input,
        a.format,
        &a.bucket,
        a.storage_class,
        &plan::leave_out(a),
    )
    .await
}

/// Which listed objects `--from` keeps.
fn listing_filter(a: &LaunchArgs) -> ListingFilter {
    ListingFilter {
        include: a.include.as_deref().map(PatternSet::parse),
        exclude: a.exclude.as_deref().map(PatternSet::parse),
        classes: a
            .storage_class_filter
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        // In place, an object already in the target class is done; copied elsewhere, it is not.
        skip_class: if a.dest.is_none() {
            a.storage_class.as_str().to_owned()
        } else {
            String::new()
        },
        leave_out: plan::leave_out(a),
        control: (a.control_bucket.as_deref().unwrap_or(&a.bucket) == a.bucket)
            .then(|| S3Location::new(&a.bucket, &a.control_prefix).prefix),
    }
}

/// The launch's line about the control objects a `--from` listing left out.
pub(crate) fn control_line(n: u64) -> String {
    format!(
        "{n} control objects left out (thaw's own specs and manifests under the control prefix)"
    )
}

/// The worker binary of a local launch (`--worker-bin`, or `worker` next to this executable),
/// checked to exist.
fn local_worker_bin(a: &LaunchArgs) -> anyhow::Result<Option<PathBuf>> {
    if a.launcher != LauncherKind::Local {
        return Ok(None);
    }
    let bin = match &a.worker_bin {
        Some(p) => p.clone(),
        None => default_worker_bin()?,
    };
    check_worker_bin(&bin)?;
    Ok(Some(bin))
}
