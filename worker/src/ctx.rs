//! What every in-flight key needs: clients, the job spec, settings, counters and the lot's
//! progress. One `Arc<Ctx>` per worker run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotCheckpoint;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::Goal;
use thaw_common::progress::{ProgressError, ProgressTable};
use thaw_common::spec::JobSpec;
use thaw_common::upload_record::{UploadEntry, UploadSlot};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::tracker::Tracker;

/// Effective worker settings: the job's, overridden by the worker's own flags.
#[derive(Debug, Clone)]
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

/// Shared state of a worker run.
pub struct Ctx {
    /// S3 client (the job's Region).
    pub s3: aws_sdk_s3::Client,
    /// S3 clients for destination buckets in other Regions, by bucket.
    pub regional_s3: BTreeMap<String, aws_sdk_s3::Client>,
    /// Progress table.
    pub table: ProgressTable,
    /// The job.
    pub spec: JobSpec,
    /// Effective settings.
    pub settings: Settings,
    /// Lot number.
    pub lot: u32,
    /// This run's attempt (every table write is conditional on it).
    pub attempt: u64,
    /// Request counters of this run.
    pub metrics: Metrics,
    /// The lot's request totals from earlier runs (the item keeps the sum over all runs).
    pub requests_base: BTreeMap<String, u64>,
    /// Paces restore requests.
    pub restore_limiter: RateLimiter,
    /// The lot's progress.
    pub tracker: Tracker,
    /// Set when a newer attempt took the lot over: stop at once, write nothing more.
    pub fenced: AtomicBool,
    /// Tells every loop to stop taking new work (SIGTERM, SIGINT, or fencing).
    pub stop: Arc<watch::Sender<bool>>,
}

impl Ctx {
    /// The job's goal for the key state machine, for one manifest entry.
    pub fn goal(&self, entry: &KeyLine) -> Goal {
        Goal {
            target: self.spec.target_class,
            tier: self.spec.restore_tier,
            days: self.spec.restore_days,
            in_place: self.in_place(entry),
        }
    }

    /// Where the copy of a manifest entry goes: its own destination (pairs lists), the job's
    /// destination, or the same object.
    pub fn target_of(&self, entry: &KeyLine) -> (String, String) {
        if let Some(d) = &entry.dest {
            return d.clone();
        }
        match &self.spec.destination {
            Some(d) => (d.bucket.clone(), d.key_for(&entry.key)),
            None => (self.spec.bucket.clone(), entry.key.clone()),
        }
    }

    /// True when the entry is copied onto itself.
    pub fn in_place(&self, entry: &KeyLine) -> bool {
        let (b, k) = self.target_of(entry);
        b == self.spec.bucket && k == entry.key
    }

    /// True when newer objects in the way may be replaced.
    pub fn overwrite(&self) -> bool {
        self.spec.overwrite || self.spec.destination.as_ref().is_some_and(|d| d.overwrite)
    }

    /// The S3 client for requests about `bucket` (its Region's).
    pub fn s3_for(&self, bucket: &str) -> &aws_sdk_s3::Client {
        self.regional_s3.get(bucket).unwrap_or(&self.s3)
    }

    /// A checkpoint ready to write: the tracker's state plus the request totals.
    pub fn with_requests(&self, mut cp: LotCheckpoint) -> LotCheckpoint {
        cp.requests = self.metrics.added_to(&self.requests_base);
        cp
    }

    /// True once the worker must stop taking keys.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Notes that a newer attempt owns the lot and stops the run.
    pub fn fence(&self) {
        if !self.fenced.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                job = %self.spec.job_id,
                lot = self.lot,
                attempt = self.attempt,
                "a newer attempt owns this lot: stopping without further writes"
            );
        }
        let _ = self.stop.send(true);
    }

    /// True when the run was fenced off.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::SeqCst)
    }

    fn table_error(&self, e: ProgressError) -> AwsError {
        if matches!(e, ProgressError::Fenced { .. }) {
            self.fence();
        }
        match e {
            ProgressError::Aws(a) => a,
            other => AwsError {
                operation: "UpdateItem",
                code: "ProgressTable".into(),
                message: other.to_string(),
                status: None,
            },
        }
    }

    /// Records an entry of the lot's `uploads` map (an upload being created or open, or a source
    /// version to delete after its copy) before the step it covers.
    pub async fn record(&self, entry: &UploadEntry) -> Result<(), AwsError> {
        Metrics::inc(&self.metrics.ddb_write);
        self.table
            .put_upload_entry(&self.spec.job_id, self.lot, self.attempt, entry)
            .await
            .map_err(|e| self.table_error(e))
    }

    /// Forgets an entry of the `uploads` map: a finished or aborted upload, or a pending delete
    /// done or moot. A failure only leaves an entry the next run checks again.
    pub async fn forget(&self, slot: UploadSlot) {
        Metrics::inc(&self.metrics.ddb_write);
        if let Err(e) = self
            .table
            .remove_upload_entry(&self.spec.job_id, self.lot, self.attempt, slot)
            .await
        {
            let e = self.table_error(e);
            let index = slot.index();
            match slot {
                UploadSlot::Upload(_) => {
                    tracing::warn!(index, error = %e, "could not forget multipart upload")
                }
                UploadSlot::PendingDelete(_) => {
                    tracing::warn!(index, error = %e, "could not forget a pending delete")
                }
            }
        }
    }
}
