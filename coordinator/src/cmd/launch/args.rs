//! The flags of `coordinator launch`, as clap parses them: storage class and restore tier are
//! typed here already, so a bad name is a usage error before anything else runs.

use std::path::PathBuf;

use thaw_common::leave_out::{Age, ByteSize};
use thaw_common::storage::{RestoreTier, StorageClass};

use crate::keylist::source::ListFormat;

/// `--restore-rate` unless given: AWS's documented account rate. At 500/s a 100M-key job took
/// twice the 27.8 h the account allows (`coordinator estimate --timeline --keys 100000000`).
pub const DEFAULT_RESTORE_RATE: f64 = 1000.0;

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
    /// Send `x-amz-request-payer: requester` with every request about the source objects: the
    /// source is a requester-pays bucket of another account (its requests and transfer are
    /// billed to this account).
    #[arg(long, env = "THAW_REQUEST_PAYER")]
    pub request_payer: bool,
    /// KMS key (id, alias or ARN) that encrypts copies into other buckets than the source
    /// [default: the destination bucket's default encryption]. Copies within the source bucket
    /// keep each object's own encryption.
    #[arg(long, env = "THAW_DEST_KMS_KEY")]
    pub dest_kms_key: Option<String>,
    /// When a destination bucket has no Object Lock (S3 refuses retention and legal hold
    /// there), copy the source's locked objects into it without their lock settings, with a
    /// warning, instead of refusing the job.
    #[arg(long, env = "THAW_DROP_OBJECT_LOCK")]
    pub drop_object_lock: bool,
    /// With --from: keep only objects in these classes, comma-separated (e.g.
    /// `GLACIER,DEEP_ARCHIVE`).
    #[arg(
        long,
        env = "THAW_STORAGE_CLASS_FILTER",
        value_delimiter = ',',
        requires = "from"
    )]
    pub storage_class_filter: Vec<StorageClass>,
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
    pub storage_class: StorageClass,
    /// Restore tier for archived objects: bulk, standard or expedited.
    #[arg(long, env = "THAW_RESTORE_TIER", default_value = "bulk")]
    pub restore_tier: RestoreTier,
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
    /// With --launcher local: the folder of the workers' log files, one per lot under
    /// `<dir>/<job-id>/` (`lot-00003.log`).
    #[arg(long, env = "THAW_LOG_DIR", default_value = "thaw-logs")]
    pub log_dir: PathBuf,
    /// With --launcher local: also stream the workers' log lines here, each prefixed with
    /// `[lot N]`, instead of only the live view (they always are when stderr is not a terminal).
    #[arg(long, env = "THAW_VERBOSE")]
    pub verbose: bool,
    /// Lots with a live worker at once (the window): `launch` starts this many, `follow`
    /// starts the next as lots finish, fail or go WAITING [default: as many as the restore rate
    /// keeps busy, see README "The window"; with --launcher local, --parallel].
    #[arg(long, env = "THAW_MAX_TASKS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tasks: Option<u32>,
    /// Local workers running at once (with --max-tasks, the lower of the two).
    #[arg(long, env = "THAW_PARALLEL", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub parallel: u64,
    /// Keys in flight per worker.
    #[arg(long, env = "THAW_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// Restore requests per second for the whole job, shared by the workers running at once
    /// [default: the account's documented 1,000/s, which jobs of the same Region share].
    #[arg(long, env = "THAW_RESTORE_RATE", default_value_t = DEFAULT_RESTORE_RATE)]
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
    /// Part size in bytes for multipart copies (5 MiB to 1 GiB: each part is one request with
    /// its own timeout; parts grow by themselves to stay within 10,000).
    #[arg(long, env = "THAW_PART_SIZE", default_value_t = 256 * 1024 * 1024)]
    pub part_size: u64,
    /// Leave objects smaller than this where they are (e.g. `128KiB`): below 128 KB, IA and
    /// Glacier Instant Retrieval bill 128 KB, and GLACIER/DEEP_ARCHIVE add 40 KB per object.
    /// Left out of the lots when the list tells sizes (an inventory), else skipped by the
    /// worker after its HeadObject, with the reason in the report.
    #[arg(long, env = "THAW_MIN_SIZE")]
    pub min_size: Option<ByteSize>,
    /// Leave objects last modified less than this long ago where they are (e.g. `90d`, `12h`,
    /// `2w`): moving them before their class's minimum duration bills the rest of it.
    /// Left out at planning with an inventory's dates, else skipped after HeadObject.
    #[arg(long, env = "THAW_MIN_AGE")]
    pub min_age: Option<Age>,
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
