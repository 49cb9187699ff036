//! The settings a worker run uses: the job's worker settings (chosen at launch, in `job.json`),
//! each overridden by the worker's own flag when given.

use std::time::Duration;

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
}

impl Settings {
    /// The job's settings `job`, with every flag of `args` that was given in their place.
    /// Concurrencies are at least 1, and so are the checkpoint and heartbeat intervals.
    pub fn merge(args: &Args, job: &WorkerSettings) -> Self {
        Self {
            concurrency: args.concurrency.unwrap_or(job.concurrency).max(1),
            part_concurrency: args.part_concurrency.max(1),
            restore_rate: args.restore_rate.unwrap_or(job.restore_rate),
            max_wait: Duration::from_secs(args.max_wait.unwrap_or(job.max_wait_secs)),
            poll_interval: args.poll_interval.or(job.poll_interval_secs),
            multipart_threshold: args.multipart_threshold.unwrap_or(job.multipart_threshold),
            part_size: args.part_size.unwrap_or(job.part_size),
            checkpoint_interval: Duration::from_secs(args.checkpoint_interval.max(1)),
            heartbeat: Duration::from_secs(args.heartbeat.max(1)),
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
        }
    }
}

#[cfg(test)]
mod tests {
    use thaw_common::aws::AwsArgs;
    use thaw_common::logging::LogFormat;

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
            }
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
}
