//! `coordinator launch`: validates a key list, splits it into lots, uploads the lot manifests
//! and `job.json`, records the job and its lots in the progress table and launches one worker
//! per lot.
//!
//! Order matters: everything that can be checked is checked before the first write (names, key
//! list, table, buckets, cluster), so a bad command leaves no partial job. Re-running with the
//! same `--job-id` is safe: the key list must match the recorded one, nothing is reset, and only
//! PENDING lots (and LAUNCHED lots left without a task for ten minutes, from a crash between
//! claim and launch) are launched, each through a conditional claim in the table.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use thaw_common::checkpoint::LotState;
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::progress::{JobItem, LotItem, ProgressTable};
use thaw_common::spec::{JobSpec, S3Location, WorkerSettings, JOB_SPEC_NAME};
use thaw_common::storage::{RestoreTier, StorageClass};
use tracing::info;

use super::{bucket_region, check_bucket_in_region, out, usage, Global};
use crate::ids::{generate_job_id, rfc3339, validate_job_id};
use crate::launcher::ecs::{self, EcsLauncher, EcsSettings};
use crate::launcher::local::{self, LocalLauncher, LocalSettings};
use crate::launcher::{launch_lots, LaunchSettings, Launcher, LotOutcome, Outcome, WorkerEnv};
use crate::manifest::{self, manifest_uri, KeyList};

/// Lot items written at once.
const LOT_WRITES: usize = 16;

/// Default number of keys per lot.
const DEFAULT_LOT_SIZE: u64 = 5000;

/// The list formats `launch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One key per line, exactly as stored.
    Keys,
    /// S3 Batch Operations CSV: `bucket,key[,versionId]` (URL-encoded keys, no header).
    Csv,
    /// S3 Inventory `manifest.json` with gzipped CSV data files.
    Inventory,
    /// Source and destination per line: `s3://src-bucket/key,s3://dst-bucket/key`.
    Pairs,
}

impl From<ListFormat> for thaw_common::input::InputFormat {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::Keys => Self::Keys,
            ListFormat::Csv => Self::BatchCsv,
            ListFormat::Inventory => Self::Inventory,
            ListFormat::Pairs => Self::Pairs,
        }
    }
}

/// Whether copies carry the objects' ACL grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AclMode {
    /// Copy them when the source and every destination bucket still use ACLs.
    Auto,
    /// Copy them; refused when a bucket has ACLs disabled.
    Copy,
    /// Never copy them (copies are private to the bucket owner unless a bucket policy says more).
    Skip,
}

/// Where workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LauncherKind {
    /// One ECS Fargate task per lot.
    Ecs,
    /// Worker processes on this machine.
    Local,
}

/// Flags of `coordinator launch`.
#[derive(Debug, clap::Args)]
pub struct LaunchArgs {
    /// File with one S3 key per line, exactly as stored in S3 (`-`: stdin; `s3://bucket/key`:
    /// a list stored in S3, streamed), an S3 Batch Operations CSV manifest or a pairs list
    /// (`*.csv`), or an S3 Inventory `manifest.json`.
    #[arg(
        value_name = "KEYS_FILE",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub keys_file: Option<String>,
    /// Instead of a list: every object under `s3://bucket/prefix/` (ListObjectsV2). The prefix
    /// may hold `{yesterday:%Y}`/`{today:%m}`-style date placeholders (`%Y`, `%m`, `%d`).
    #[arg(long, env = "THAW_FROM")]
    pub from: Option<String>,
    /// With --from: keep only keys matching one of these `|`-separated patterns (`*` matches
    /// anything), e.g. `*.parquet|*/raw/*`.
    #[arg(long, env = "THAW_INCLUDE", requires = "from")]
    pub include: Option<String>,
    /// With --from: drop keys matching one of these patterns.
    #[arg(long, env = "THAW_EXCLUDE", requires = "from")]
    pub exclude: Option<String>,
    /// Copy to this bucket and prefix instead of in place (`s3://bucket/prefix/`): each key
    /// keeps its path below the --from prefix (or its whole key for lists).
    #[arg(long, env = "THAW_DEST")]
    pub dest: Option<String>,
    /// Replace destination objects that are newer than their source (--dest, pairs lists), and
    /// copy pinned versions in place even when they are no longer the current version.
    #[arg(long, env = "THAW_OVERWRITE")]
    pub overwrite: bool,
    /// ACL grants: S3 never copies them, so a copy in a bucket that still uses ACLs would
    /// lose public-read or cross-account grants. `auto` carries them when the source and every
    /// destination bucket use ACLs (Object Ownership not "bucket owner enforced").
    #[arg(long, value_enum, env = "THAW_ACLS", default_value = "auto")]
    pub acls: AclMode,
    /// After each verified copy, delete exactly the source version that was copied (the
    /// bucket must have versioning enabled). Off by default.
    #[arg(long, env = "THAW_DELETE_SOURCE_VERSION")]
    pub delete_source_version: bool,
    /// With --from: keep only objects in these classes, comma-separated (e.g.
    /// `GLACIER,DEEP_ARCHIVE`).
    #[arg(
        long,
        env = "THAW_STORAGE_CLASS_FILTER",
        value_delimiter = ',',
        requires = "from"
    )]
    pub storage_class_filter: Vec<String>,
    /// Format of KEYS_FILE [default: `manifest.json` is an inventory; a `.csv` is a pairs list
    /// when its first field is an s3:// URI, else a Batch Operations CSV; anything else keys].
    #[arg(long, value_enum, env = "THAW_FORMAT")]
    pub format: Option<ListFormat>,
    /// Split the list into this many lots (sizes differ by at most one key).
    #[arg(long, env = "THAW_LOTS", conflicts_with = "lot_size", value_parser = clap::value_parser!(u64).range(1..))]
    pub lots: Option<u64>,
    /// Split the list into lots of this many keys [default: 5000].
    #[arg(long, env = "THAW_LOT_SIZE", value_parser = clap::value_parser!(u64).range(1..))]
    pub lot_size: Option<u64>,
    /// Bucket holding the objects.
    #[arg(long, env = "THAW_BUCKET")]
    pub bucket: String,
    /// Class every object must end in (STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING,
    /// GLACIER_IR, GLACIER, DEEP_ARCHIVE).
    #[arg(long, env = "THAW_STORAGE_CLASS")]
    pub storage_class: String,
    /// Restore tier for archived objects: bulk, standard or expedited.
    #[arg(long, env = "THAW_RESTORE_TIER", default_value = "bulk")]
    pub restore_tier: String,
    /// Days a restored copy stays available.
    #[arg(long, env = "THAW_RESTORE_DAYS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub restore_days: u32,
    /// Bucket for lot manifests and the job spec [default: --bucket].
    #[arg(long, env = "THAW_CONTROL_BUCKET")]
    pub control_bucket: Option<String>,
    /// Key prefix for control objects; each job gets `<prefix><job-id>/`.
    #[arg(long, env = "THAW_CONTROL_PREFIX", default_value = "thaw/")]
    pub control_prefix: String,
    /// Job id (1-36 of A-Z a-z 0-9 _ -) [default: generated from the time]; reuse it to
    /// resume a job.
    #[arg(long, env = "THAW_JOB_ID")]
    pub job_id: Option<String>,
    /// Where workers run.
    #[arg(long, value_enum, env = "THAW_LAUNCHER", default_value = "ecs")]
    pub launcher: LauncherKind,
    /// ECS cluster.
    #[arg(long, env = "THAW_CLUSTER", default_value = "thaw")]
    pub cluster: String,
    /// ECS task definition of the worker (required with --launcher ecs).
    #[arg(long, env = "THAW_TASK_DEFINITION")]
    pub task_definition: Option<String>,
    /// Name of the worker container in the task definition.
    #[arg(long, env = "THAW_CONTAINER", default_value = "worker")]
    pub container: String,
    /// Subnets for the tasks, comma-separated (required with --launcher ecs).
    #[arg(long, env = "THAW_SUBNETS", value_delimiter = ',')]
    pub subnets: Vec<String>,
    /// Security groups for the tasks, comma-separated [default: the VPC's default group].
    #[arg(long, env = "THAW_SECURITY_GROUPS", value_delimiter = ',')]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (public subnets without a NAT gateway).
    #[arg(long, env = "THAW_ASSIGN_PUBLIC_IP")]
    pub assign_public_ip: bool,
    /// Run tasks on Fargate Spot.
    #[arg(long, env = "THAW_SPOT")]
    pub spot: bool,
    /// RunTask calls in flight.
    #[arg(long, env = "THAW_LAUNCH_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub launch_concurrency: u64,
    /// Worker binary for --launcher local [default: `worker` next to this executable].
    #[arg(long, env = "THAW_WORKER_BIN")]
    pub worker_bin: Option<PathBuf>,
    /// Local workers running at once.
    #[arg(long, env = "THAW_PARALLEL", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub parallel: u64,
    /// Keys in flight per worker.
    #[arg(long, env = "THAW_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Restore requests per second for the whole job, shared by the workers running at once.
    #[arg(long, env = "THAW_RESTORE_RATE", default_value_t = 500.0)]
    pub restore_rate: f64,
    /// Seconds a worker waits for restores before it checkpoints as WAITING and exits.
    #[arg(long, env = "THAW_MAX_WAIT", default_value_t = 600)]
    pub max_wait: u64,
    /// Seconds between restore polls [default: from the class and tier].
    #[arg(long, env = "THAW_POLL_INTERVAL")]
    pub poll_interval: Option<u64>,
    /// Objects larger than this many bytes are copied part by part.
    #[arg(long, env = "THAW_MULTIPART_THRESHOLD", default_value_t = 5 * 1024 * 1024 * 1024)]
    pub multipart_threshold: u64,
    /// Part size in bytes for multipart copies.
    #[arg(long, env = "THAW_PART_SIZE", default_value_t = 256 * 1024 * 1024)]
    pub part_size: u64,
    /// Print the plan and what the job will cost, and stop: nothing is uploaded, recorded or
    /// launched (the estimate reads the inventory, or looks at a sample with HeadObject).
    #[arg(long, env = "THAW_DRY_RUN")]
    pub dry_run: bool,
    /// With --dry-run: keys looked at with HeadObject for the cost estimate.
    #[arg(long, default_value_t = 1000, requires = "dry_run", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub sample: u64,
    /// With --dry-run: JSON file overriding the built-in us-east-1 prices.
    #[arg(long, requires = "dry_run")]
    pub prices: Option<PathBuf>,
    /// Stay attached after the launch, as `coordinator follow` does, until every lot is done.
    #[arg(long, env = "THAW_FOLLOW", conflicts_with = "dry_run")]
    pub follow: bool,
}

/// Everything decided before the first AWS call.
struct Plan {
    spec: JobSpec,
    /// Every bucket copies go to, other than the source (checked, and their Regions recorded).
    dest_buckets: std::collections::BTreeSet<String>,
    /// HeadObject calls per copy beyond the state machine's, for the cost estimate.
    extra_heads: f64,
    sizes: Vec<u64>,
    keys: KeyList,
    settings: LaunchSettings,
}

/// Runs `coordinator launch`.
pub async fn run(g: &Global, a: LaunchArgs) -> anyhow::Result<()> {
    // A key list in S3 is streamed to a private spool first (read-only: nothing is written),
    // after the cheap checks, so a typo does not cost a multi-GB download.
    let inventory = a
        .keys_file
        .as_deref()
        .is_some_and(|k| is_inventory(k, a.format));
    let remote = inventory
        || a.from.is_some()
        || a.keys_file
            .as_deref()
            .is_some_and(|k| k.starts_with("s3://"));
    let fetched = if remote {
        let target: StorageClass = a.storage_class.parse().map_err(usage)?;
        a.restore_tier.parse::<RestoreTier>().map_err(usage)?;
        let aws = g.aws().await?;
        Some(match (&a.from, &a.keys_file) {
            (Some(from), _) => list_from(&aws.s3(), &a, from, target).await?,
            (None, Some(src)) => read_list(g, src, a.format, &a.bucket, target).await?,
            (None, None) => return Err(usage("a KEYS_FILE or --from is required")),
        })
    } else {
        None
    };
    let plan = plan(g, &a, fetched)?;
    if a.dry_run {
        print_dry_run(g, &plan)?;
        return print_cost(g, &a, &plan).await;
    }
    let aws = g.aws().await?;
    let s3 = aws.s3();
    let table = g.progress(&aws);
    let ecs_client = aws.ecs();

    // Pre-flight: nothing is written unless all of it passes.
    table.check_exists().await?;
    let region = aws.region();
    check_bucket_in_region(&s3, &plan.spec.bucket, &region, "bucket").await?;
    if plan.spec.control.bucket != plan.spec.bucket {
        check_bucket_in_region(&s3, &plan.spec.control.bucket, &region, "control bucket").await?;
    }
    if plan.spec.delete_source_version {
        check_versioning(&s3, &plan.spec.bucket).await?;
    }
    let mut plan = plan;
    for bucket in &plan.dest_buckets {
        match bucket_region(&s3, bucket)
            .await
            .with_context(|| format!("checking destination bucket {bucket}"))?
        {
            Some(r) if r != region => {
                info!("destination bucket {bucket} is in {r}: its copies are sent there");
                plan.spec.bucket_regions.insert(bucket.clone(), r);
            }
            _ => {}
        }
    }
    plan.spec.copy_acls = copy_acls(&aws, a.acls, &plan).await?;
    let plan = plan;
    if let LaunchSettings::Ecs(s) = &plan.settings {
        ecs::check_cluster(&ecs_client, &s.cluster).await?;
        ecs::check_task_definition(&ecs_client, &s.task_definition, &s.container).await?;
    }

    let spec = ensure_job(&s3, &table, &plan).await?;
    ensure_lots(&table, &spec, &plan.sizes).await?;

    // The items move into the selection: one copy of each in memory, not two.
    let selection = select(
        table.lots(&spec.job_id).await?,
        thaw_common::progress::now_secs(),
    );
    info!(
        job = spec.job_id.as_str(),
        "{} lots to launch, {} already launched or running, {} succeeded, {} left for a retry",
        selection.launch.len(),
        selection.active,
        selection.succeeded,
        selection.other
    );
    let env = WorkerEnv {
        job_id: spec.job_id.clone(),
        table: g.table.clone(),
        control: spec.control.clone(),
        region: aws.region(),
        endpoint_url: aws.endpoint_url(),
    };
    let launcher = match &plan.settings {
        LaunchSettings::Ecs(s) => Launcher::Ecs(EcsLauncher::new(ecs_client, s.clone(), env)),
        LaunchSettings::Local(s) => {
            let l = LocalLauncher::new(s.clone(), env);
            l.watch_interrupts();
            Launcher::Local(l)
        }
    };
    let outcomes = launch_lots(
        &launcher,
        &table,
        &spec.job_id,
        &selection.launch,
        &Default::default(),
    )
    .await;
    let reported = match &plan.settings {
        LaunchSettings::Ecs(s) => report_ecs(g, &spec, s, &selection, &outcomes),
        LaunchSettings::Local(_) => report_local(g, &table, &spec, &outcomes).await,
    };
    if !a.follow {
        return reported;
    }
    if let Err(e) = reported {
        tracing::warn!("{e:#}; following the job to relaunch what failed");
    }
    super::follow::run(
        g,
        super::follow::FollowArgs {
            job: spec.job_id.clone(),
            lot_attempts: 3,
            interval: 30,
            stale_after: crate::ops::DEFAULT_STALE_AFTER,
            once: false,
        },
    )
    .await
}

/// True when `input` (with `format`) is an S3 Inventory `manifest.json`.
fn is_inventory(input: &str, format: Option<ListFormat>) -> bool {
    format == Some(ListFormat::Inventory)
        || (format.is_none() && input.to_ascii_lowercase().ends_with("manifest.json"))
}

/// Reads a local list (or stdin, `-`), pass 1.
fn read_local(input: &str, format: Option<ListFormat>, bucket: &str) -> anyhow::Result<KeyList> {
    if input == "-" {
        return match format {
            None | Some(ListFormat::Keys) => KeyList::scan("-"),
            Some(_) => Err(usage(
                "a CSV list cannot be read from stdin: pass a file or an s3:// URI",
            )),
        };
    }
    KeyList::open(
        PathBuf::from(input),
        input,
        None,
        format.map(Into::into),
        bucket,
    )
}

/// Reads a job's list from any input `launch` takes but `--from`: a local file or stdin, an
/// `s3://` URI (streamed), or an S3 Inventory `manifest.json` (local or in S3).
pub async fn read_list(
    g: &Global,
    input: &str,
    format: Option<ListFormat>,
    bucket: &str,
    target: StorageClass,
) -> anyhow::Result<KeyList> {
    if is_inventory(input, format) {
        let aws = g.aws().await?;
        return crate::inventory::key_list(&aws.s3(), input, bucket, target.as_str()).await;
    }
    if input.starts_with("s3://") {
        let aws = g.aws().await?;
        return crate::manifest::fetch_key_list(&aws.s3(), input, format.map(Into::into), bucket)
            .await;
    }
    read_local(input, format, bucket)
}

/// `--from s3://bucket/prefix/`: the listing, filtered, as a key list.
async fn list_from(
    s3: &aws_sdk_s3::Client,
    a: &LaunchArgs,
    from: &str,
    target: StorageClass,
) -> anyhow::Result<KeyList> {
    let prefix = thaw_common::input::expand_dates(from, thaw_common::input::Date::today())
        .map_err(|e| usage(format!("--from: {e}")))?;
    let loc = S3Location::parse(&prefix).map_err(|e| usage(format!("--from: {e}")))?;
    if loc.bucket != a.bucket {
        return Err(usage(format!(
            "--from names bucket '{}' but --bucket is '{}'",
            loc.bucket, a.bucket
        )));
    }
    let classes = a
        .storage_class_filter
        .iter()
        .map(|c| c.parse::<StorageClass>().map(|c| c.as_str().to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let filter = crate::manifest::ListingFilter {
        include: a
            .include
            .as_deref()
            .map(thaw_common::input::PatternSet::parse),
        exclude: a
            .exclude
            .as_deref()
            .map(thaw_common::input::PatternSet::parse),
        classes,
        // In place, an object already in the target class is done; copied elsewhere, it is not.
        skip_class: if a.dest.is_none() {
            target.as_str().to_owned()
        } else {
            String::new()
        },
    };
    crate::manifest::list_prefix(s3, &loc, &filter).await
}

/// Validates the flags and reads the key list (pass 1); no AWS call.
fn plan(g: &Global, a: &LaunchArgs, fetched: Option<KeyList>) -> anyhow::Result<Plan> {
    let class: StorageClass = a.storage_class.parse().map_err(usage)?;
    let tier: RestoreTier = a.restore_tier.parse().map_err(usage)?;
    let job_id = match &a.job_id {
        Some(id) => {
            validate_job_id(id).map_err(usage)?;
            id.clone()
        }
        None => generate_job_id(SystemTime::now()),
    };
    if !(a.restore_rate.is_finite() && a.restore_rate > 0.0) {
        return Err(usage(format!(
            "--restore-rate must be a positive number, not {}",
            a.restore_rate
        )));
    }
    const MIB: u64 = 1024 * 1024;
    const MAX_COPY: u64 = 5 * 1024 * MIB; // CopyObject and UploadPartCopy limit: 5 GiB
    if a.multipart_threshold == 0 || a.multipart_threshold > MAX_COPY {
        return Err(usage(format!(
            "--multipart-threshold must be between 1 and {MAX_COPY} bytes (5 GiB, the CopyObject limit), not {}",
            a.multipart_threshold
        )));
    }
    if a.part_size < 5 * MIB || a.part_size > MAX_COPY {
        return Err(usage(format!(
            "--part-size must be between {} (5 MiB) and {MAX_COPY} (5 GiB) bytes, not {}",
            5 * MIB,
            a.part_size
        )));
    }
    if a.bucket.is_empty() {
        return Err(usage("--bucket must not be empty"));
    }
    if a.delete_source_version && a.overwrite {
        // Deleting a current version brings the one before it back; with --overwrite, a re-run
        // after a crash could copy that older data over the copy it just made.
        return Err(usage(
            "--delete-source-version cannot be combined with --overwrite",
        ));
    }
    let settings = match a.launcher {
        LauncherKind::Ecs => {
            let task_definition = a
                .task_definition
                .clone()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| usage("--launcher ecs needs --task-definition"))?;
            let subnets: Vec<String> = nonempty(&a.subnets);
            if subnets.is_empty() {
                return Err(usage("--launcher ecs needs --subnets"));
            }
            LaunchSettings::Ecs(EcsSettings {
                cluster: a.cluster.clone(),
                task_definition,
                container: a.container.clone(),
                subnets,
                security_groups: nonempty(&a.security_groups),
                assign_public_ip: a.assign_public_ip,
                spot: a.spot,
                launch_concurrency: a.launch_concurrency as usize,
            })
        }
        LauncherKind::Local => {
            let bin = match &a.worker_bin {
                Some(p) => p.clone(),
                None => local::default_worker_bin()?,
            };
            local::check_worker_bin(&bin)?;
            LaunchSettings::Local(LocalSettings {
                worker_bin: bin.to_string_lossy().into_owned(),
                parallel: a.parallel as usize,
            })
        }
    };

    let keys = match fetched {
        Some(k) => k,
        None => read_local(
            a.keys_file.as_deref().unwrap_or_default(),
            a.format,
            &a.bucket,
        )?,
    };
    let split = match (a.lots, a.lot_size) {
        (Some(n), _) => LotSpec::Count(n),
        (None, Some(k)) => LotSpec::Size(k),
        (None, None) => LotSpec::Size(DEFAULT_LOT_SIZE),
    };
    let sizes =
        lot_sizes(keys.count, split).with_context(|| format!("key list {}", keys.name()))?;
    let lots = u32::try_from(sizes.len()).context("too many lots")?;
    let at_once = match &settings {
        LaunchSettings::Ecs(_) => u64::from(lots),
        LaunchSettings::Local(s) => u64::from(lots).min(s.parallel as u64),
    }
    .max(1);
    let control_bucket = a.control_bucket.clone().unwrap_or_else(|| a.bucket.clone());
    let source_prefix = a.from.as_ref().and_then(|from| {
        thaw_common::input::expand_dates(from, thaw_common::input::Date::today())
            .ok()
            .and_then(|p| S3Location::parse(&p).ok())
            .map(|l| l.prefix)
    });
    let destination = match &a.dest {
        None => None,
        Some(d) => {
            let loc = S3Location::parse(d).map_err(|e| usage(format!("--dest: {e}")))?;
            let strip_prefix = source_prefix.clone().unwrap_or_default();
            if loc.bucket == a.bucket && loc.prefix == strip_prefix {
                None // the same place: in place
            } else {
                Some(thaw_common::spec::Destination {
                    bucket: loc.bucket,
                    prefix: loc.prefix,
                    strip_prefix,
                    overwrite: a.overwrite,
                })
            }
        }
    };
    let fields = &keys.fields;
    if a.dest.is_some() && keys.format == thaw_common::input::InputFormat::Pairs {
        return Err(usage(
            "--dest cannot be used with a pairs list: the list names each destination",
        ));
    }
    let extra_heads = super::estimate::extra_heads_per_copy(
        fields,
        keys.count,
        destination.is_some(),
        a.delete_source_version,
        a.overwrite,
    );
    let pair_buckets: Vec<String> = fields
        .dest_buckets
        .iter()
        .filter(|b| **b != a.bucket)
        .cloned()
        .collect();
    let mut dest_buckets = fields.dest_buckets.clone();
    if let Some(d) = &destination {
        dest_buckets.insert(d.bucket.clone());
    }
    dest_buckets.remove(&a.bucket);
    let spec = JobSpec {
        job_id: job_id.clone(),
        bucket: a.bucket.clone(),
        target_class: class,
        restore_tier: tier,
        restore_days: a.restore_days,
        keys_total: keys.count,
        lots,
        control: S3Location::new(&control_bucket, &a.control_prefix).join(&job_id),
        table: g.table.clone(),
        created_at: rfc3339(SystemTime::now()),
        tool_version: thaw_common::TOOL_VERSION.to_owned(),
        input_fingerprint: keys.fingerprint.clone(),
        worker: WorkerSettings {
            concurrency: a.concurrency as usize,
            restore_rate: a.restore_rate / at_once as f64,
            max_wait_secs: a.max_wait,
            poll_interval_secs: a.poll_interval,
            multipart_threshold: a.multipart_threshold,
            part_size: a.part_size,
        },
        destination,
        source_prefix,
        overwrite: a.overwrite,
        delete_source_version: a.delete_source_version,
        bucket_regions: Default::default(),
        dest_buckets: pair_buckets,
        copy_acls: false,
        input_format: keys.format.to_string(),
    };
    Ok(Plan {
        spec,
        extra_heads,
        dest_buckets,
        sizes,
        keys,
        settings,
    })
}

/// True when `bucket` still uses ACLs (Object Ownership is not "bucket owner enforced"; a
/// bucket without ownership controls is a pre-2023 bucket with ACLs).
async fn acls_enabled(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<bool> {
    match s3
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(!out
            .ownership_controls()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .any(|r| r.object_ownership().as_str() == "BucketOwnerEnforced")),
        Err(e) => {
            let err = thaw_common::aws::AwsError::from_sdk("GetBucketOwnershipControls", &e);
            if err.code == "OwnershipControlsNotFoundError" {
                Ok(true)
            } else {
                Err(err).with_context(|| format!("checking whether bucket {bucket} uses ACLs"))
            }
        }
    }
}

/// Whether this job's copies carry ACL grants (`--acls`): only for copies within the source
/// bucket (in place or to another prefix), and only when that bucket uses ACLs. Copies into
/// other buckets (perhaps other accounts) are owned by the writing account, whose grants the
/// destination owner would not be in: they take the destination's defaults instead.
async fn copy_acls(
    aws: &thaw_common::aws::Aws,
    mode: AclMode,
    plan: &Plan,
) -> anyhow::Result<bool> {
    if mode == AclMode::Skip {
        return Ok(false);
    }
    let bucket = &plan.spec.bucket;
    if !plan.dest_buckets.is_empty() {
        if mode == AclMode::Copy {
            return Err(usage(
                "--acls copy: ACL grants are carried only for copies within the source bucket",
            ));
        }
        info!("copies go to other buckets: ACL grants are not carried (the destinations' defaults apply)");
        return Ok(false);
    }
    match acls_enabled(&aws.s3(), bucket).await {
        Ok(true) => {
            info!("bucket {bucket} uses ACLs: copies carry each object's ACL grants");
            Ok(true)
        }
        Ok(false) if mode == AclMode::Copy => Err(usage(format!(
            "--acls copy: bucket {bucket} has ACLs disabled (Object Ownership: bucket owner enforced)"
        ))),
        Ok(false) => Ok(false),
        Err(e) if mode == AclMode::Copy => {
            tracing::warn!("{e:#}; carrying ACL grants as --acls copy asks");
            Ok(true)
        }
        Err(e) => Err(e.context("pass --acls copy or --acls skip to decide without it")),
    }
}

/// `--delete-source-version` needs versioning: without it the copy replaces the only version.
async fn check_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    let out = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| thaw_common::aws::AwsError::from_sdk("GetBucketVersioning", &e))
        .with_context(|| format!("checking versioning of bucket {bucket}"))?;
    match out.status().map(|s| s.as_str()) {
        Some("Enabled") => Ok(()),
        other => Err(usage(format!(
            "--delete-source-version needs versioning enabled on bucket {bucket} (it is {}): without versions the copy is the only version, there is nothing separate to delete",
            other.unwrap_or("never enabled")
        ))),
    }
}

fn nonempty(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Returns the job's spec, recording the job first when it is new. An existing job must have
/// the same key list, bucket, class and lot count.
async fn ensure_job(
    s3: &aws_sdk_s3::Client,
    table: &ProgressTable,
    plan: &Plan,
) -> anyhow::Result<JobSpec> {
    let job = plan.spec.job_id.as_str();
    if let Some(existing) = table.get_job(job).await? {
        let spec = same_job(&existing, &plan.spec)?;
        info!(job, "job already recorded; resuming it");
        return Ok(spec);
    }
    info!(
        job,
        "uploading {} lot manifests to {}",
        plan.sizes.len(),
        plan.spec.control
    );
    manifest::upload_manifests(s3, &plan.spec.control, &plan.keys, &plan.sizes).await?;
    manifest::put_job_spec(s3, &plan.spec).await?;
    let item = JobItem {
        job_id: job.to_owned(),
        spec_json: serde_json::to_string(&plan.spec).context("serialising the job spec")?,
        launcher: plan.settings.name().to_owned(),
        launch_json: serde_json::to_string(&plan.settings)
            .context("serialising the launcher settings")?,
    };
    let summary = [
        ("bucket", AttributeValue::S(plan.spec.bucket.clone())),
        (
            "target_class",
            AttributeValue::S(plan.spec.target_class.as_str().to_owned()),
        ),
        ("lots", AttributeValue::N(plan.spec.lots.to_string())),
        (
            "keys_total",
            AttributeValue::N(plan.spec.keys_total.to_string()),
        ),
        ("created", AttributeValue::S(plan.spec.created_at.clone())),
        ("control", AttributeValue::S(plan.spec.control.to_string())),
    ];
    if table.put_job_if_absent(&item, &summary).await? {
        return Ok(plan.spec.clone());
    }
    // Another coordinator recorded the same id in the meantime.
    let existing = table
        .get_job(job)
        .await?
        .with_context(|| format!("job {job} vanished from table {}", table.name()))?;
    same_job(&existing, &plan.spec)
}

/// The recorded spec, when `wanted` describes the same job.
fn same_job(existing: &JobItem, wanted: &JobSpec) -> anyhow::Result<JobSpec> {
    let job = &wanted.job_id;
    let old: JobSpec = serde_json::from_str(&existing.spec_json)
        .with_context(|| format!("job {job} has an unreadable spec in the table"))?;
    if old.input_fingerprint != wanted.input_fingerprint || old.keys_total != wanted.keys_total {
        bail!("job {job} already exists with a different key list");
    }
    if old.bucket != wanted.bucket || old.target_class != wanted.target_class {
        bail!(
            "job {job} already exists for bucket {} and class {}",
            old.bucket,
            old.target_class
        );
    }
    let flags = |s: &JobSpec| {
        (
            s.destination.clone(),
            s.overwrite,
            s.delete_source_version,
            s.source_prefix.clone(),
        )
    };
    // `copy_acls` follows the buckets at launch time: the recorded value stands on resume.
    if flags(&old) != flags(wanted) {
        bail!(
            "job {job} already exists with other --dest/--overwrite/--delete-source-version/--from settings; resume it with the same flags"
        );
    }
    if old.lots != wanted.lots {
        bail!(
            "job {job} already exists with {} lots (this plan has {}); use the same --lots/--lot-size",
            old.lots,
            wanted.lots
        );
    }
    Ok(old)
}

/// Writes the PENDING item of every lot that has none; never touches existing ones, but checks
/// they hold as many keys as this plan.
async fn ensure_lots(table: &ProgressTable, spec: &JobSpec, sizes: &[u64]) -> anyhow::Result<()> {
    let job = spec.job_id.as_str();
    let existing = table.lots(job).await?;
    for item in &existing {
        let planned = sizes.get(item.lot as usize).copied();
        if planned != Some(item.counters.keys_total) {
            bail!(
                "job {job} already exists with other lot sizes (lot {} has {} keys); use the same --lots/--lot-size",
                item.lot,
                item.counters.keys_total
            );
        }
    }
    let have: std::collections::HashSet<u32> = existing.iter().map(|l| l.lot).collect();
    let missing: Vec<(u32, u64)> = (0u32..)
        .zip(sizes.iter().copied())
        .filter(|(lot, _)| !have.contains(lot))
        .collect();
    futures::stream::iter(missing)
        .map(|(lot, keys)| async move {
            table
                .put_lot_if_absent(job, lot, keys, &manifest_uri(&spec.control, lot))
                .await
                .with_context(|| format!("recording lot {lot}"))
                .map(|_| ())
        })
        .buffer_unordered(LOT_WRITES)
        .try_collect::<()>()
        .await
}

/// Which lots `launch` starts, and how many it leaves alone.
#[derive(Debug, Default)]
struct Selection {
    launch: Vec<LotItem>,
    active: usize,
    succeeded: usize,
    other: usize,
}

/// How long a claimed lot may wait for its task before another `launch` takes it over: longer
/// than a coordinator spends retrying one throttled RunTask, so a launch still in progress
/// elsewhere is not doubled.
const CLAIM_GRACE_SECS: i64 = 600;

/// PENDING lots, and LAUNCHED lots with no task claimed over [`CLAIM_GRACE_SECS`] ago (a crash
/// between claim and launch). Lots that are running, finished, waiting, failed, interrupted or
/// cancelled, or claimed moments ago by another launch, are left alone.
fn select(items: Vec<LotItem>, now: i64) -> Selection {
    let mut s = Selection::default();
    for item in items {
        match item.state {
            LotState::Pending => s.launch.push(item),
            LotState::Launched
                if item.task.is_none()
                    && item
                        .launched_at
                        .is_none_or(|t| now.saturating_sub(t) >= CLAIM_GRACE_SECS) =>
            {
                s.launch.push(item)
            }
            LotState::Launched | LotState::Running => s.active += 1,
            LotState::Succeeded => s.succeeded += 1,
            LotState::Waiting | LotState::Failed | LotState::Interrupted | LotState::Cancelled => {
                s.other += 1
            }
        }
    }
    s
}

fn table_flag(g: &Global) -> String {
    if g.table == "thaw-progress" {
        String::new()
    } else {
        format!(" --table {}", g.table)
    }
}

fn failures(outcomes: &[LotOutcome]) -> Vec<(u32, String)> {
    outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed { error } => Some((o.lot, error.clone())),
            Outcome::Exited {
                status,
                success: false,
                ..
            } => Some((o.lot, format!("worker exited with {status}"))),
            _ => None,
        })
        .collect()
}

fn report_ecs(
    g: &Global,
    spec: &JobSpec,
    s: &EcsSettings,
    sel: &Selection,
    outcomes: &[LotOutcome],
) -> anyhow::Result<()> {
    let started = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Started { .. }))
        .count();
    let elsewhere = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::ClaimedElsewhere))
        .count();
    let failed = failures(outcomes);
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(
        o,
        "{} keys in {} lots; manifests and job spec under {}",
        spec.keys_total,
        spec.lots,
        spec.control
    );
    push_line!(
        o,
        "launched {started} lots on ECS cluster {}; {} were already launched or running, {} succeeded, {} left for a retry, {elsewhere} claimed by another coordinator, {} failed to launch",
        s.cluster,
        sel.active,
        sel.succeeded,
        sel.other,
        failed.len()
    );
    push_line!(
        o,
        "next: coordinator status {}{}",
        spec.job_id,
        table_flag(g)
    );
    out(&o)?;
    if let Some((lot, err)) = failed.first() {
        bail!(
            "{} of {} lots failed to launch (lot {lot}: {err})",
            failed.len(),
            outcomes.len()
        );
    }
    Ok(())
}

async fn report_local(
    g: &Global,
    table: &ProgressTable,
    spec: &JobSpec,
    outcomes: &[LotOutcome],
) -> anyhow::Result<()> {
    let lots = table.lots(&spec.job_id).await?;
    let mut states = std::collections::BTreeMap::<&str, usize>::new();
    for l in &lots {
        *states.entry(l.state.as_str()).or_default() += 1;
    }
    let not_started = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::NotStarted))
        .count();
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(
        o,
        "{} keys in {} lots; ran {} local workers",
        spec.keys_total,
        spec.lots,
        outcomes.len() - not_started
    );
    let states_text: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    push_line!(o, "lots: {}", states_text.join(", "));
    if let Some(n) = states.get(LotState::Waiting.as_str()) {
        push_line!(
            o,
            "{n} lots are WAITING for restores; they need another run once the restores complete"
        );
    }
    if not_started > 0 {
        push_line!(o, "{not_started} lots were not started (interrupted); launch again with --job-id {} to start them", spec.job_id);
    }
    push_line!(
        o,
        "next: coordinator status {}{}",
        spec.job_id,
        table_flag(g)
    );
    out(&o)?;
    let failed_lots: Vec<u32> = lots
        .iter()
        .filter(|l| l.state == LotState::Failed)
        .map(|l| l.lot)
        .collect();
    let failed = failures(outcomes);
    if !failed_lots.is_empty() || !failed.is_empty() {
        let detail = failed
            .first()
            .map(|(lot, e)| format!(" (lot {lot}: {e})"))
            .unwrap_or_default();
        bail!(
            "{} lots FAILED, {} workers failed{detail}",
            failed_lots.len(),
            failed.len()
        );
    }
    Ok(())
}

/// `--dry-run`: the plan, without a single AWS call (but reading an `s3://` key list); the cost
/// follows from [`print_cost`].
/// The cost part of `--dry-run`: from the inventory when the input is one, else from a sample
/// looked at with HeadObject. A cost that cannot be estimated is said, and the plan still
/// stands.
async fn print_cost(g: &Global, a: &LaunchArgs, plan: &Plan) -> anyhow::Result<()> {
    use super::estimate::{from_inventory, look_at, price, render, CostSettings};
    let spec = &plan.spec;
    let prices = super::estimate::load_prices(a.prices.as_deref())?;
    // An inventory is priced from its own columns, even without AWS access.
    let aws = g.aws().await;
    let sample = match (&plan.keys.known_objects, &aws) {
        (Some(known), _) => Ok(from_inventory(known)),
        (None, Ok(aws)) => {
            look_at(
                &aws.s3(),
                &spec.bucket,
                &plan.keys,
                spec.destination.is_none(),
                spec.target_class,
                spec.restore_tier,
                a.sample as usize,
            )
            .await
        }
        (None, Err(e)) => Err(anyhow::anyhow!("{e:#}")),
    };
    let sample = match sample {
        Ok(s) => s,
        Err(e) => return out(&format!("cost: not estimated: {e:#}\n")),
    };
    // One GetObjectAcl per copy when the bucket uses ACLs (what launch would decide).
    let acl_reads = match &aws {
        Ok(aws) => match copy_acls(aws, a.acls, plan).await {
            Ok(true) => 1.0,
            _ => 0.0,
        },
        Err(_) => 0.0,
    };
    let settings = CostSettings {
        lots: u64::from(spec.lots),
        keys_per_second: 50.0,
        task_vcpu: 1.0,
        task_gb: 2.0,
        spot: a.spot,
        polls_per_restore: 0.0,
        multipart_threshold: spec.worker.multipart_threshold,
        part_size: spec.worker.part_size,
        extra_heads_per_copy: plan.extra_heads + acl_reads,
        // Each pending-delete record is an UpdateItem of the whole lot item: about 3 write
        // units at 5,000 keys, twice per key.
        ddb_writes_per_1000: if spec.delete_source_version {
            6004.0
        } else {
            4.0
        },
        list_requests: plan.keys.list_pages,
    };
    let e = price(
        &sample,
        spec.target_class,
        spec.restore_tier,
        &settings,
        &prices,
    );
    out(&format!(
        "cost estimate (us-east-1 prices unless --prices; Fargate at 1 vCPU/2 GB and 50 keys/s per task):\n{}",
        render(&e, &sample, u64::from(spec.lots))
    ))
}

fn print_dry_run(g: &Global, plan: &Plan) -> anyhow::Result<()> {
    let spec = &plan.spec;
    let env_var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let env = WorkerEnv {
        job_id: spec.job_id.clone(),
        table: g.table.clone(),
        control: spec.control.clone(),
        region: g
            .aws
            .region
            .clone()
            .or_else(|| env_var("AWS_REGION"))
            .or_else(|| env_var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "<region from the AWS configuration>".into()),
        endpoint_url: g
            .aws
            .endpoint_url
            .clone()
            .or_else(|| env_var("AWS_ENDPOINT_URL")),
    };
    let min = plan.sizes.iter().min().copied().unwrap_or(0);
    let max = plan.sizes.iter().max().copied().unwrap_or(0);
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(o, "dry run: nothing is uploaded, recorded or launched");
    push_line!(
        o,
        "keys: {} from {} ({})",
        spec.keys_total,
        plan.keys.name(),
        spec.input_fingerprint
    );
    push_line!(o, "lots: {} ({min} to {max} keys each)", spec.lots);
    push_line!(
        o,
        "objects: bucket {} -> {}, restore tier {} for {} days",
        spec.bucket,
        spec.target_class,
        spec.restore_tier,
        spec.restore_days
    );
    if let Some(d) = &spec.destination {
        push_line!(
            o,
            "copies to: s3://{}/{} (keys below '{}' keep their path)",
            d.bucket,
            d.prefix,
            d.strip_prefix
        );
    }
    if !plan.dest_buckets.is_empty() {
        let names: Vec<&str> = plan.dest_buckets.iter().map(String::as_str).collect();
        push_line!(o, "destination buckets: {}", names.join(", "));
    }
    if spec.delete_source_version {
        push_line!(
            o,
            "after each verified copy, the copied source version is deleted"
        );
    }
    push_line!(o, "control: {}", spec.control);
    push_line!(o, "manifest of lot 0: {}", manifest_uri(&spec.control, 0));
    push_line!(
        o,
        "job spec: s3://{}/{}",
        spec.control.bucket,
        spec.control.key(JOB_SPEC_NAME)
    );
    push_line!(o, "table: {}", g.table);
    push_line!(
        o,
        "worker settings: {}",
        serde_json::to_string(&spec.worker).unwrap_or_default()
    );
    match &plan.settings {
        LaunchSettings::Ecs(s) => {
            let req = ecs::run_task_request(s, &env, 0, 1);
            push_line!(o, "ECS RunTask request of lot 0:");
            push_line!(
                o,
                "{}",
                serde_json::to_string_pretty(&req).unwrap_or_default()
            );
        }
        LaunchSettings::Local(s) => {
            let vars: Vec<String> = env
                .vars(0, 1, "human")
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            push_line!(
                o,
                "local worker of lot 0 ({} at once): {} {}",
                s.parallel,
                vars.join(" "),
                s.worker_bin
            );
        }
    }
    out(&o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use thaw_common::checkpoint::LotCheckpoint;

    fn item(lot: u32, state: LotState, task: Option<&str>) -> LotItem {
        let cp = LotCheckpoint::new(3);
        LotItem {
            lot,
            state,
            attempt: 1,
            counters: cp.counters,
            task: task.map(str::to_owned),
            heartbeat_at: None,
            updated_at: None,
            next_check_at: None,
            last_error: None,
            manifest: String::new(),
            checkpoint: cp,
            uploads: BTreeMap::new(),
            started_at: None,
            launched_at: None,
            retries: 0,
        }
    }

    #[test]
    fn selection() {
        let items = [
            item(0, LotState::Pending, None),
            item(1, LotState::Launched, None),
            item(2, LotState::Launched, Some("arn:t")),
            item(3, LotState::Running, Some("arn:t")),
            item(4, LotState::Succeeded, Some("arn:t")),
            item(5, LotState::Waiting, Some("arn:t")),
            item(6, LotState::Failed, None),
        ];
        let s = select(items.to_vec(), 10_000);
        let lots: Vec<u32> = s.launch.iter().map(|l| l.lot).collect();
        assert_eq!(lots, vec![0, 1]);
        assert_eq!((s.active, s.succeeded, s.other), (2, 1, 2));
        // claimed moments ago by another launch that may still be inside RunTask: left alone
        let mut fresh = item(1, LotState::Launched, None);
        fresh.launched_at = Some(10_000 - 5);
        let s = select(vec![fresh.clone()], 10_000);
        assert!(s.launch.is_empty());
        assert_eq!(s.active, 1);
        fresh.launched_at = Some(10_000 - CLAIM_GRACE_SECS);
        assert_eq!(select(vec![fresh], 10_000).launch.len(), 1);
    }

    fn spec() -> JobSpec {
        JobSpec {
            job_id: "j".into(),
            bucket: "b".into(),
            target_class: StorageClass::Standard,
            restore_tier: RestoreTier::Bulk,
            restore_days: 3,
            keys_total: 10,
            lots: 2,
            control: S3Location::new("b", "thaw/").join("j"),
            table: "t".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            tool_version: "0".into(),
            input_fingerprint: "fnv1a64:1".into(),
            worker: WorkerSettings::default(),
            destination: None,
            source_prefix: None,
            overwrite: false,
            delete_source_version: false,
            bucket_regions: Default::default(),
            dest_buckets: Vec::new(),
            copy_acls: false,
            input_format: "keys".into(),
        }
    }

    #[test]
    fn same_job_checks() {
        let old = spec();
        let item = JobItem {
            job_id: "j".into(),
            spec_json: serde_json::to_string(&old).expect("json"),
            launcher: "ecs".into(),
            launch_json: "{}".into(),
        };
        let mut wanted = spec();
        wanted.created_at = "2027-01-01T00:00:00Z".into();
        assert_eq!(same_job(&item, &wanted).expect("same"), old);
        let mut other = spec();
        other.input_fingerprint = "fnv1a64:2".into();
        let e = same_job(&item, &other).unwrap_err().to_string();
        assert_eq!(e, "job j already exists with a different key list");
        let mut other = spec();
        other.target_class = StorageClass::Glacier;
        assert!(same_job(&item, &other).is_err());
        let mut other = spec();
        other.lots = 3;
        assert!(same_job(&item, &other).is_err());
    }
}
