//! The worker's configuration: flags, each also read from the environment the coordinator sets
//! in the RunTask overrides (`THAW_JOB_ID`, `THAW_LOT`, `THAW_ATTEMPT`, `THAW_TABLE`,
//! `THAW_CONTROL`, `THAW_REGION`, `THAW_ENDPOINT_URL`, ...).

use clap::Parser;
use thaw_common::aws::AwsArgs;
use thaw_common::logging::LogFormat;

/// Restores and re-copies the objects of one lot of a thaw job into the job's storage class.
#[derive(Debug, Parser)]
#[command(name = "worker", version, about)]
pub struct Args {
    /// Job id.
    #[arg(long, env = "THAW_JOB_ID")]
    pub job_id: String,
    /// Lot number to process.
    #[arg(long, env = "THAW_LOT")]
    pub lot: u32,
    /// Attempt number given by the coordinator; without it the worker claims the next attempt.
    #[arg(long, env = "THAW_ATTEMPT")]
    pub attempt: Option<u64>,
    /// DynamoDB progress table.
    #[arg(long, env = "THAW_TABLE", default_value = "thaw-progress")]
    pub table: String,
    /// Control location of the job (`s3://bucket/prefix/<job-id>/`), holding job.json and lots/.
    #[arg(long, env = "THAW_CONTROL")]
    pub control: String,
    /// Identity of this run recorded on the lot (default: `local:<host>:<pid>`, or left as the
    /// coordinator recorded it when running on ECS).
    #[arg(long, env = "THAW_TASK_ID")]
    pub task_id: Option<String>,
    /// Keys in flight (default: the job's setting).
    #[arg(long, env = "THAW_CONCURRENCY")]
    pub concurrency: Option<usize>,
    /// Restore requests per second for this worker (default: the job's share).
    #[arg(long, env = "THAW_RESTORE_RATE")]
    pub restore_rate: Option<f64>,
    /// Seconds to wait for restores before checkpointing as WAITING and exiting.
    #[arg(long, env = "THAW_MAX_WAIT")]
    pub max_wait: Option<u64>,
    /// Seconds between restore polls (default: from the storage class and tier).
    #[arg(long, env = "THAW_POLL_INTERVAL")]
    pub poll_interval: Option<u64>,
    /// Objects larger than this many bytes are copied with multipart UploadPartCopy.
    #[arg(long, env = "THAW_MULTIPART_THRESHOLD")]
    pub multipart_threshold: Option<u64>,
    /// Part size in bytes for multipart copies (raised to stay within 10,000 parts).
    #[arg(long, env = "THAW_PART_SIZE")]
    pub part_size: Option<u64>,
    /// UploadPartCopy calls in flight per multipart object.
    #[arg(long, env = "THAW_PART_CONCURRENCY", default_value_t = 8)]
    pub part_concurrency: usize,
    /// Seconds between checkpoint writes (only when something changed).
    #[arg(long, env = "THAW_CHECKPOINT_INTERVAL", default_value_t = 5)]
    pub checkpoint_interval: u64,
    /// Seconds between heartbeats when nothing changed.
    #[arg(long, env = "THAW_HEARTBEAT", default_value_t = 30)]
    pub heartbeat: u64,
    /// Seconds in-flight keys may take to finish after SIGTERM before they are abandoned.
    #[arg(long, env = "THAW_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace: u64,
    /// The slowest server-side copy rate (MiB/s) thaw waits for: one attempt of a CopyObject or
    /// UploadPartCopy may take the AWS attempt timeout plus its bytes at this rate.
    #[arg(long, env = "THAW_MIN_COPY_RATE", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_copy_rate: u64,
    /// Seconds a key may go without progress (a copy request answered, the key finished)
    /// before the watchdog abandons it and takes it again [default: twice the longest attempt a
    /// copy may take].
    #[arg(long, env = "THAW_KEY_TIMEOUT")]
    pub key_timeout: Option<u64>,
    /// Seconds without progress on any key in flight after which the worker stops heartbeating,
    /// so the coordinator finds its lot stale [default: the key timeout].
    #[arg(long, env = "THAW_STALL_TIMEOUT")]
    pub stall_timeout: Option<u64>,
    /// Seconds between two CloudWatch metric documents (EMF) of a running worker; with
    /// `--log-format json` only (see `thaw_common::emf`).
    #[arg(long, env = "THAW_EMF_INTERVAL", default_value_t = thaw_common::emf::EMIT_EVERY_SECS)]
    pub emf_interval: u64,
    /// Log format.
    #[arg(long, env = "THAW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// AWS connection.
    #[command(flatten)]
    pub aws: AwsArgs,
}
