//! The expected timeline of a job, from the fleet simulation ([`crate::fleet::sim`]): the flags
//! `estimate` takes for it (`--timeline`, and `--keys` to ask about a job without its list), and
//! the lines `estimate` and `launch --dry-run` print next to the money.

use thaw_common::cost::{
    restored_copies_usd, restored_copy_days, Estimate, PlannedAction, PlannedObject, Prices,
};
use thaw_common::recheck::shortest_safe_restore_days;
use thaw_common::spec::WorkerSettings;
use thaw_common::storage::RestoreTier;

use super::launch::args::{LaunchArgs, LauncherKind, DEFAULT_RESTORE_RATE};
use crate::fleet::sim::{simulate, Archive, AwsModel, Budget, SimJob, Timeline, WorkerModel};
use crate::fleet::sizing::{Sizing, FOLLOW_INTERVAL_SECS};
use crate::pricing::restore_days;

/// `follow --interval`'s default, seconds.
const FOLLOW_INTERVAL: f64 = FOLLOW_INTERVAL_SECS as f64;
/// `follow --max-attempts`'s default.
const MAX_ATTEMPTS: u64 = 3;

/// Which archive class a job restores from, for `--keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FromClass {
    /// S3 Glacier Flexible Retrieval.
    Glacier,
    /// S3 Glacier Deep Archive.
    DeepArchive,
    /// Readable at once (no restore).
    Readable,
}

/// How the simulated workers share the restore rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Share {
    /// thaw's restore budget: the job's rate shared by the workers sending restores as
    /// `follow` counts them at its looks.
    Budget,
    /// What-if, the budget as first merged: tasks still starting count as restoring too.
    WhatIfStartingCounted,
    /// What-if, before the budget: each worker gets `rate / window` for its whole run.
    WhatIfFixed,
}

impl From<Share> for Budget {
    fn from(s: Share) -> Self {
        match s {
            Share::Budget => Budget::Shared,
            Share::WhatIfStartingCounted => Budget::WhatIfStartingCounted,
            Share::WhatIfFixed => Budget::WhatIfFixed,
        }
    }
}

/// The flags of `estimate` about the timeline.
#[derive(Debug, Clone, clap::Args)]
pub struct TimelineArgs {
    /// Print the whole simulated timeline: restore rate used, runs, requests, and the checks.
    #[arg(long)]
    pub timeline: bool,
    /// Simulate a job of this many keys instead of reading KEYS_FILE (no AWS call; with
    /// --from-class and --object-size).
    #[arg(long, requires = "timeline", conflicts_with = "keys_file", value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: Option<u64>,
    /// With --keys: the class the objects are in.
    #[arg(long, value_enum, default_value = "glacier", requires = "keys")]
    pub from_class: FromClass,
    /// With --keys: mean object size in bytes.
    #[arg(long, default_value_t = 1_000_000, requires = "keys")]
    pub object_size: u64,
    /// The job's restore requests per second, as `launch --restore-rate`.
    #[arg(long, default_value_t = DEFAULT_RESTORE_RATE)]
    pub restore_rate: f64,
    /// Days a restored copy stays, as `launch --restore-days`.
    #[arg(long, default_value_t = 3)]
    pub restore_days: u32,
    /// Seconds a worker waits for restores, as `launch --max-wait`.
    #[arg(long, default_value_t = 600)]
    pub max_wait: u64,
    /// Seconds between restore polls, as `launch --poll-interval` [default: from the class and
    /// tier].
    #[arg(long)]
    pub poll_interval: Option<u64>,
    /// Keys in flight per worker, as `launch --concurrency`.
    #[arg(long, default_value_t = 64)]
    pub concurrency: u64,
    /// The window, as `launch --max-tasks` [default: as `launch` chooses it].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tasks: Option<u32>,
    /// How workers share the restore rate: `budget` (thaw's: the workers sending restores, as
    /// `follow` counts them at its looks), or the what-ifs of older thaw:
    /// `what-if-starting-counted` (tasks still starting counted too) and `what-if-fixed`
    /// (`rate / window` each, for the whole run).
    #[arg(long, value_enum, default_value = "budget")]
    pub restore_share: Share,
    /// Start PENDING lots as the window frees, not at the restore rate (as `follow` did before
    /// pacing).
    #[arg(long)]
    pub unpaced: bool,
    /// `follow --ready-fraction` of the simulated `follow`: a WAITING lot due is launched when
    /// this share of its restores is done (or near their expiry, or past their longest time).
    #[arg(long, default_value_t = crate::readiness::DEFAULT_READY_FRACTION, value_parser = fraction)]
    pub ready_fraction: f64,
    /// Model: the account's restore requests per second.
    #[arg(long, default_value_t = 1000.0)]
    pub account_restore_rate: f64,
    /// Model: seconds from RunTask to a running worker.
    #[arg(long, default_value_t = 60.0)]
    pub task_start_secs: f64,
    /// Model: Fargate tasks the account may run at once.
    #[arg(long, default_value_t = 1000)]
    pub task_quota: u64,
    /// Model: restore completion in hours after the request, `LO-HI` (uniform) [default: AWS's
    /// documented times for the class and tier].
    #[arg(long, value_parser = parse_hours)]
    pub restore_hours: Option<(f64, f64)>,
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1")),
    }
}

fn parse_hours(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("'{s}' is not LO-HI in hours (e.g. 5-12)");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: f64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f64 = hi.trim().parse().map_err(|_| bad())?;
    if !(lo >= 0.0 && hi >= lo && hi.is_finite()) {
        return Err(bad());
    }
    Ok((lo * 3600.0, hi * 3600.0))
}

/// What the estimate learned of the objects: the class restored from and the mean size.
pub fn objects_seen(objects: &[PlannedObject]) -> (Archive, f64) {
    let restored: Vec<&PlannedObject> = objects
        .iter()
        .filter(|o| {
            matches!(
                o.action,
                PlannedAction::RestoreThenCopy | PlannedAction::WaitThenCopy
            )
        })
        .collect();
    let deep = restored
        .iter()
        .filter(|o| o.class == "DEEP_ARCHIVE")
        .count();
    let archive = if restored.len() * 2 < objects.len().max(1) {
        Archive::None
    } else if deep * 2 > restored.len() {
        Archive::Deep
    } else {
        Archive::Glacier
    };
    let mean = if objects.is_empty() {
        0.0
    } else {
        objects.iter().map(|o| o.size as f64).sum::<f64>() / objects.len() as f64
    };
    (archive, mean)
}

/// The job `estimate` describes, with the timeline flags.
pub struct EstimateJob {
    /// Keys.
    pub keys: u64,
    /// Keys per lot.
    pub lot_size: u64,
    /// Restore tier.
    pub tier: RestoreTier,
    /// Archive class and mean object size.
    pub objects: (Archive, f64),
    /// Worker task vCPU, GB and Spot.
    pub task: (f64, f64, bool),
}

/// Simulates the job `estimate` describes.
pub fn for_estimate(t: &TimelineArgs, job: &EstimateJob) -> anyhow::Result<Timeline> {
    let (archive, object_bytes) = job.objects;
    let model = AwsModel {
        account_restore_rate: t.account_restore_rate,
        task_start_secs: t.task_start_secs,
        max_running_tasks: t.task_quota,
        restore_window: t.restore_hours,
        ..AwsModel::default()
    };
    let worker = WorkerModel {
        archive,
        tier: job.tier,
        concurrency: t.concurrency as f64,
        max_wait: t.max_wait as f64,
        poll_interval: t.poll_interval,
        object_bytes,
    };
    let lots = u32::try_from(job.keys.div_ceil(job.lot_size.max(1))).unwrap_or(u32::MAX);
    let sizing = Sizing {
        restore_rate: t.restore_rate,
        lots,
        keys_total: job.keys,
        concurrency: t.concurrency,
        max_wait_secs: t.max_wait,
        poll_secs: worker.poll_delay() as u64,
        interval_secs: FOLLOW_INTERVAL_SECS,
    };
    let sim = SimJob {
        keys: job.keys,
        lot_size: job.lot_size,
        restore_rate: t.restore_rate,
        restore_days: t.restore_days,
        max_tasks: t.max_tasks.unwrap_or_else(|| sizing.default_window()),
        budget: t.restore_share.into(),
        paced: !t.unpaced,
        worker,
        follow_interval: FOLLOW_INTERVAL,
        max_attempts: MAX_ATTEMPTS,
        task_vcpu: job.task.0,
        task_gb: job.task.1,
        spot: job.task.2,
        ready_fraction: Some(t.ready_fraction),
    };
    simulate(&sim, &model)
}

/// The `--keys` job: no list, no AWS call.
pub fn what_if(
    t: &TimelineArgs,
    lot_size: u64,
    tier: RestoreTier,
    task: (f64, f64, bool),
    prices: &Prices,
) -> anyhow::Result<String> {
    let archive = match t.from_class {
        FromClass::Glacier => Archive::Glacier,
        FromClass::DeepArchive => Archive::Deep,
        FromClass::Readable => Archive::None,
    };
    let keys = t.keys.unwrap_or(0);
    let job = EstimateJob {
        keys,
        lot_size,
        tier,
        objects: (archive, t.object_size as f64),
        task,
    };
    let mut report = for_estimate(t, &job)?.long();
    if archive != Archive::None {
        report.push_str(&restored_copies(t, (keys, archive, tier), prices));
    }
    Ok(report)
}

/// The restored copies' lines of a `--keys` job: `keys` objects of `--object-size` restored
/// from `archive` at `tier`, at `prices` (`--prices`).
fn restored_copies(
    t: &TimelineArgs,
    (keys, archive, tier): (u64, Archive, RestoreTier),
    prices: &Prices,
) -> String {
    let bytes = keys.saturating_mul(t.object_size);
    let class = archive.class();
    let shortest = shortest_safe_restore_days(tier.restore_secs(class).1);
    let usd =
        |days| restored_copies_usd(bytes as f64 * restored_copy_days(days, class, tier), prices);
    let e = Estimate {
        restores: keys,
        restore_bytes: bytes,
        restored_copy_bytes: bytes,
        restore_days: t.restore_days,
        restored_copies_usd: usd(t.restore_days),
        shortest_restore_days: shortest,
        restored_copies_shortest_usd: usd(shortest),
        ..Estimate::default()
    };
    restore_days::render(&e)
}

/// The timeline lines of `launch --dry-run`: the job as planned, `launch`'s settings, the
/// default model.
pub fn for_launch(
    a: &LaunchArgs,
    lots: u64,
    keys: u64,
    worker: &WorkerSettings,
    objects: &[PlannedObject],
) -> String {
    let (archive, object_bytes) = objects_seen(objects);
    let model = WorkerModel {
        archive,
        tier: a.restore_tier,
        concurrency: worker.concurrency as f64,
        max_wait: worker.max_wait_secs as f64,
        poll_interval: worker.poll_interval_secs,
        object_bytes,
    };
    let sizing = Sizing {
        restore_rate: a.restore_rate,
        lots: u32::try_from(lots).unwrap_or(u32::MAX),
        keys_total: keys,
        concurrency: worker.concurrency as u64,
        max_wait_secs: worker.max_wait_secs,
        poll_secs: model.poll_delay() as u64,
        interval_secs: FOLLOW_INTERVAL_SECS,
    };
    let max_tasks = match a.launcher {
        LauncherKind::Ecs => sizing.default_window(),
        LauncherKind::Local => u32::try_from(a.parallel).unwrap_or(u32::MAX),
    };
    let sim = SimJob {
        keys,
        lot_size: keys.div_ceil(lots.max(1)),
        restore_rate: a.restore_rate,
        restore_days: a.restore_days,
        max_tasks,
        budget: Budget::Shared,
        paced: true,
        worker: model,
        follow_interval: FOLLOW_INTERVAL,
        max_attempts: MAX_ATTEMPTS,
        task_vcpu: 1.0,
        task_gb: 2.0,
        spot: a.spot,
        ready_fraction: Some(crate::readiness::DEFAULT_READY_FRACTION),
    };
    match simulate(&sim, &AwsModel::default()) {
        Ok(t) => t.short(),
        Err(e) => format!("timeline:       not simulated: {e:#}\n"),
    }
}
