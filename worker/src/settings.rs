//! The settings a worker run uses: the job's worker settings (chosen at launch, in `job.json`),
//! each overridden by the worker's own flag when given.

use std::time::Duration;

use thaw_common::aws::attempt_timeout;
use thaw_common::logging::LogFormat;
use thaw_common::spec::WorkerSettings;

use crate::Args;

/// Effective worker settings: the job's, overridden by the worker's own flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Keys in flight.
    pub concurrency: usize,
    /// UploadPartCopy calls in flight per multipart object.
    pub part_concurrency: usize,
    /// Restore requests per second for this worker.
    pub restore_rate: f64,
    /// How long to wait for restores before exiting as WAITING.
    pub max_wait: Duration,
    /// Poll delay override (otherwise from class and tier).
    pub poll_interval: Option<u64>,
    /// Multipart copy above this size.
    pub multipart_threshold: u64,
    /// Requested part size.
    pub part_size: u64,
    /// How often the checkpoint is written when it changed.
    pub checkpoint_interval: Duration,
    /// Longest time between two writes (heartbeat), even when nothing changed.
    pub heartbeat: Duration,
    /// How long in-flight keys may finish after SIGTERM before they are abandoned.
    pub shutdown_grace: Duration,
    /// How long one attempt of a small request may take (the AWS clients' attempt timeout).
    pub attempt_timeout: Duration,
    /// The slowest server-side copy rate waited for, in bytes per second.
    pub min_copy_rate: u64,
    /// How long a key may go without progress before the watchdog abandons it.
    pub key_timeout: Duration,
    /// How long a worker with keys in flight may go without progress on any before it stops
    /// heartbeating.
    pub stall_timeout: Duration,
    /// How often a running worker writes a CloudWatch metric document (EMF) on stderr: only
    /// with JSON log lines (`None` with human ones).
    pub emf_interval: Option<Duration>,
}

/// How many times a CompleteMultipartUpload attempt may take a small request's attempt: S3
/// answers it when the object is assembled, which can take minutes.
const COMPLETE_FACTOR: u32 = 10;

impl Settings {
    /// The attempt timeout of a server-side copy of `bytes` bytes (a CopyObject, or one
    /// UploadPartCopy of a part that size): the small-request timeout plus the bytes at the
    /// slowest copy rate waited for.
    pub fn copy_attempt(&self, bytes: u64) -> Duration {
        copy_attempt(self.attempt_timeout, self.min_copy_rate, bytes)
    }

    /// The attempt timeout of a CompleteMultipartUpload.
    pub fn complete_attempt(&self) -> Duration {
        self.attempt_timeout.saturating_mul(COMPLETE_FACTOR)
    }
}

fn copy_attempt(base: Duration, rate: u64, bytes: u64) -> Duration {
    let secs = bytes.div_ceil(rate.max(1));
    base.saturating_add(Duration::from_secs(secs))
}

/// The default key timeout: twice the longest attempt a copy of this job may make (a
/// CopyObject of an object at the multipart threshold, or a CompleteMultipartUpload), so the
/// watchdog never abandons a key the SDK's own timeouts still watch over.
fn default_key_timeout(base: Duration, rate: u64, multipart_threshold: u64) -> Duration {
    copy_attempt(base, rate, multipart_threshold)
        .max(base.saturating_mul(COMPLETE_FACTOR))
        .saturating_mul(2)
}

impl Settings {
    /// The job's settings `job`, with every flag of `args` that was given in their place.
    /// Concurrencies are at least 1, and so are the checkpoint and heartbeat intervals.
    pub fn merge(args: &Args, job: &WorkerSettings) -> Self {
        let multipart_threshold = args.multipart_threshold.unwrap_or(job.multipart_threshold);
        let attempt_timeout = attempt_timeout(&args.aws);
        let min_copy_rate = args.min_copy_rate.max(1).saturating_mul(1024 * 1024);
        let key_timeout = match args.key_timeout {
            Some(s) => Duration::from_secs(s.max(1)),
            None => default_key_timeout(attempt_timeout, min_copy_rate, multipart_threshold),
        };
        Self {
            concurrency: args.concurrency.unwrap_or(job.concurrency).max(1),
            part_concurrency: args.part_concurrency.max(1),
            restore_rate: args.restore_rate.unwrap_or(job.restore_rate),
            max_wait: Duration::from_secs(args.max_wait.unwrap_or(job.max_wait_secs)),
            poll_interval: args.poll_interval.or(job.poll_interval_secs),
            multipart_threshold,
            part_size: args.part_size.unwrap_or(job.part_size),
            checkpoint_interval: Duration::from_secs(args.checkpoint_interval.max(1)),
            heartbeat: Duration::from_secs(args.heartbeat.max(1)),
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
            attempt_timeout,
            min_copy_rate,
            key_timeout,
            stall_timeout: args
                .stall_timeout
                .map_or(key_timeout, |s| Duration::from_secs(s.max(1))),
            emf_interval: (args.log_format == LogFormat::Json)
                .then(|| Duration::from_secs(args.emf_interval.max(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use thaw_common::aws::AwsArgs;

    use super::*;

    /// Flags as a worker started without any of its tuning flags has them.
    fn bare_args() -> Args {
        Args {
            job_id: "j".into(),
            lot: 0,
            attempt: None,
            table: "t".into(),
            control: "s3://c/p/".into(),
            task_id: None,
            concurrency: None,
            restore_rate: None,
            max_wait: None,
            poll_interval: None,
            multipart_threshold: None,
            part_size: None,
            part_concurrency: 8,
            checkpoint_interval: 5,
            heartbeat: 30,
            shutdown_grace: 10,
            min_copy_rate: 8,
            key_timeout: None,
            stall_timeout: None,
            emf_interval: 60,
            log_format: LogFormat::Human,
            aws: AwsArgs::default(),
        }
    }

    fn job() -> WorkerSettings {
        WorkerSettings {
            concurrency: 16,
            restore_rate: 25.0,
            max_wait_secs: 900,
            poll_interval_secs: Some(120),
            multipart_threshold: 1 << 30,
            part_size: 1 << 27,
        }
    }

    #[test]
    fn the_job_settings_apply_without_flags() {
        let s = Settings::merge(&bare_args(), &job());
        assert_eq!(
            s,
            Settings {
                concurrency: 16,
                part_concurrency: 8,
                restore_rate: 25.0,
                max_wait: Duration::from_secs(900),
                poll_interval: Some(120),
                multipart_threshold: 1 << 30,
                part_size: 1 << 27,
                checkpoint_interval: Duration::from_secs(5),
                heartbeat: Duration::from_secs(30),
                shutdown_grace: Duration::from_secs(10),
                attempt_timeout: Duration::from_secs(60),
                min_copy_rate: 8 << 20,
                // twice the longest attempt: a CompleteMultipartUpload's 600 s (a 1 GiB
                // CopyObject's is 60 s + 128 s at 8 MiB/s)
                key_timeout: Duration::from_secs(2 * 600),
                stall_timeout: Duration::from_secs(2 * 600),
                emf_interval: None,
            }
        );
    }

    #[test]
    fn metric_documents_only_with_json_logs() {
        assert_eq!(Settings::merge(&bare_args(), &job()).emf_interval, None);
        let json = Args {
            log_format: LogFormat::Json,
            ..bare_args()
        };
        assert_eq!(
            Settings::merge(&json, &job()).emf_interval,
            Some(Duration::from_secs(60))
        );
        let zero = Args {
            emf_interval: 0,
            ..json
        };
        assert_eq!(
            Settings::merge(&zero, &job()).emf_interval,
            Some(Duration::from_secs(1)),
            "an interval of 0 is raised to one second"
        );
    }

    #[test]
    fn flags_override_the_job_settings() {
        let args = Args {
            concurrency: Some(3),
            restore_rate: Some(1.5),
            max_wait: Some(7),
            poll_interval: Some(2),
            multipart_threshold: Some(100),
            part_size: Some(50),
            ..bare_args()
        };
        let s = Settings::merge(&args, &job());
        assert_eq!(s.concurrency, 3);
        assert_eq!(s.restore_rate, 1.5);
        assert_eq!(s.max_wait, Duration::from_secs(7));
        assert_eq!(s.poll_interval, Some(2));
        assert_eq!((s.multipart_threshold, s.part_size), (100, 50));
        // Without the flag nor a job setting, the poll interval comes from class and tier.
        let no_poll = WorkerSettings {
            poll_interval_secs: None,
            ..job()
        };
        assert_eq!(Settings::merge(&bare_args(), &no_poll).poll_interval, None);
    }

    #[test]
    fn zero_concurrencies_and_intervals_are_raised_to_one() {
        let args = Args {
            concurrency: Some(0),
            part_concurrency: 0,
            checkpoint_interval: 0,
            heartbeat: 0,
            shutdown_grace: 0,
            ..bare_args()
        };
        let s = Settings::merge(&args, &job());
        assert_eq!((s.concurrency, s.part_concurrency), (1, 1));
        assert_eq!(s.checkpoint_interval, Duration::from_secs(1));
        assert_eq!(s.heartbeat, Duration::from_secs(1));
        // The grace period may be zero: abandon in-flight keys at once.
        assert_eq!(s.shutdown_grace, Duration::ZERO);
        let zero_job = WorkerSettings {
            concurrency: 0,
            ..job()
        };
        assert_eq!(Settings::merge(&bare_args(), &zero_job).concurrency, 1);
    }

    #[test]
    fn copy_attempts_are_sized_from_their_bytes() {
        let s = Settings::merge(&bare_args(), &job());
        const MIB: u64 = 1 << 20;
        // A small copy gets the small-request timeout (and a second for its bytes).
        assert_eq!(s.copy_attempt(1), Duration::from_secs(61));
        // 5 GiB at 8 MiB/s: 640 s more.
        assert_eq!(s.copy_attempt(5 * 1024 * MIB), Duration::from_secs(700));
        // A 256 MiB part: 32 s more.
        assert_eq!(s.copy_attempt(256 * MIB), Duration::from_secs(92));
        assert_eq!(s.complete_attempt(), Duration::from_secs(600));
        // Tests shrink them all with the attempt timeout and the rate.
        let args = Args {
            min_copy_rate: 1,
            aws: AwsArgs {
                attempt_timeout: 2,
                ..AwsArgs::default()
            },
            ..bare_args()
        };
        let small = Settings::merge(&args, &job());
        assert_eq!(small.copy_attempt(3 * MIB), Duration::from_secs(5));
        assert_eq!(small.complete_attempt(), Duration::from_secs(20));
    }

    #[test]
    fn the_key_timeout_outlasts_every_attempt_unless_set() {
        let s = Settings::merge(&bare_args(), &job());
        let threshold = s.multipart_threshold;
        assert!(s.key_timeout >= s.copy_attempt(threshold) * 2);
        assert!(s.key_timeout >= s.complete_attempt() * 2);
        // With the default 5 GiB threshold: twice the 700 s of a 5 GiB CopyObject.
        let default_job = WorkerSettings::default();
        let d = Settings::merge(&bare_args(), &default_job);
        assert_eq!(d.key_timeout, Duration::from_secs(1400));
        let args = Args {
            key_timeout: Some(3),
            ..bare_args()
        };
        let s = Settings::merge(&args, &job());
        assert_eq!(
            (s.key_timeout, s.stall_timeout),
            (Duration::from_secs(3), Duration::from_secs(3))
        );
        let args = Args {
            key_timeout: Some(30),
            stall_timeout: Some(2),
            ..bare_args()
        };
        let s = Settings::merge(&args, &job());
        assert_eq!(
            (s.key_timeout, s.stall_timeout),
            (Duration::from_secs(30), Duration::from_secs(2))
        );
    }
}
