//! What every in-flight key needs: clients, the job spec and its rules, settings, counters and
//! the lot's progress. One `Arc<Ctx>` per worker run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotCheckpoint;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::Rules;
use thaw_common::progress::{ProgressError, ProgressTable};
use thaw_common::spec::JobSpec;
use thaw_common::upload_record::{UploadChange, UploadEntry, UploadSlot};
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::ratelimit::{Pacing, RateLimiter};
use crate::records::Records;
use crate::settings::Settings;
use crate::tracker::Tracker;
use crate::watchdog::Liveness;

/// Shared state of a worker run.
pub struct Ctx {
    /// S3 client (the job's Region).
    pub s3: aws_sdk_s3::Client,
    /// S3 clients for destination buckets in other Regions, by bucket.
    pub regional_s3: BTreeMap<String, aws_sdk_s3::Client>,
    /// Progress table.
    pub table: ProgressTable,
    /// Group writes of the lot's `uploads` map (see [`Records`]).
    pub records: Records,
    /// The job.
    pub spec: JobSpec,
    /// The job's rules for every key (from `spec`).
    pub rules: Rules,
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
    /// Paces restore requests (at the worker's share of the restore budget).
    pub restore_limiter: RateLimiter,
    /// The Region whose restore budget sets the limiter's rate; `None`: the job has none (an
    /// older job) or the worker was given its own `--restore-rate`.
    pub restore_budget: Option<String>,
    /// Adaptive pacing of HEAD, COPY and RESTORE requests (hears every attempt of `s3`).
    pub pacing: Arc<Pacing>,
    /// The lot's progress.
    pub tracker: Tracker,
    /// Set when a newer attempt took the lot over: stop at once, write nothing more.
    pub fenced: AtomicBool,
    /// Tells every loop to stop taking new work (SIGTERM, SIGINT, or fencing).
    pub stop: Arc<watch::Sender<bool>>,
    /// Keys in flight and their last progress (the watchdog's; the heartbeat stops without it).
    pub liveness: Liveness,
}

impl Ctx {
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
        // `send_replace`: the flag must flip even while no loop is subscribed (between passes).
        self.stop.send_replace(true);
    }

    /// True when the run was fenced off.
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::SeqCst)
    }

    fn table_error(&self, e: &ProgressError) -> AwsError {
        if matches!(e, ProgressError::Fenced { .. }) {
            self.fence();
        }
        match e {
            ProgressError::Aws(a) => a.clone(),
            other => AwsError {
                operation: "UpdateItem",
                code: "ProgressTable".into(),
                message: other.to_string(),
                status: None,
            },
        }
    }

    /// Writes a change of the lot's `uploads` map with the group write of the keys in flight,
    /// counting each UpdateItem once.
    async fn change_uploads(&self, change: UploadChange) -> Result<(), AwsError> {
        let written = self.records.write(change).await;
        if written.counts_the_write {
            Metrics::inc(&self.metrics.ddb_write);
        }
        written.result.map_err(|e| self.table_error(&e))
    }

    /// Records an entry of the lot's `uploads` map (an upload being created or open, or a source
    /// version to delete after its copy) before the step it covers: when this returns Ok, the
    /// entry is in the table.
    pub async fn record(&self, entry: &UploadEntry) -> Result<(), AwsError> {
        self.change_uploads(UploadChange::Put(entry.clone())).await
    }

    /// Forgets an entry of the `uploads` map: a finished or aborted upload, or a pending delete
    /// done or moot. A failure only leaves an entry the next run checks again.
    pub async fn forget(&self, slot: UploadSlot) {
        if let Err(e) = self.change_uploads(UploadChange::Remove(slot)).await {
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

    /// Forgets the pending delete of a key whose copy is not its source, trying again (1 s to
    /// 10 s, 6 more tries) until the table takes it: no later run may delete that source version.
    /// When it still fails, the run stops taking keys (its checkpoint, which records the
    /// mismatch, is flushed on the way out; the next run's recovery sees the mismatch and
    /// drops the record, and compares the copy with its source again before any delete).
    pub async fn forget_mismatched(&self, i: usize) {
        use backon::{ExponentialBuilder, Retryable};
        let slot = UploadSlot::PendingDelete(i);
        let forgotten = (|| self.change_uploads(UploadChange::Remove(slot)))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(std::time::Duration::from_secs(1))
                    .with_max_delay(std::time::Duration::from_secs(10))
                    .with_max_times(6)
                    .with_jitter(),
            )
            .when(|_| !self.is_fenced())
            .await;
        if let Err(e) = forgotten {
            tracing::error!(
                index = i,
                error = %e,
                "could not drop the pending delete of a mismatched copy: stopping the run"
            );
            self.stop.send_replace(true);
        }
    }

    /// `x-amz-request-payer: requester` for every S3 request about the objects, when the job
    /// says the source is a requester-pays bucket (`--request-payer`).
    pub fn request_payer(&self) -> Option<aws_sdk_s3::types::RequestPayer> {
        self.spec
            .request_payer
            .then_some(aws_sdk_s3::types::RequestPayer::Requester)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_sdk_s3::config::{BehaviorVersion, Region};
    use thaw_common::checkpoint::LotCheckpoint;
    use thaw_common::fixtures::JobSpecBuilder;
    use thaw_common::spec::Destination;

    use super::*;

    /// A context for a job on bucket `src` with `destination`, whose clients are never called.
    pub(crate) fn ctx(destination: Option<Destination>) -> Ctx {
        let spec = JobSpecBuilder::new("j", "src")
            .destination(destination)
            .build();
        let s3 = |region: &str| {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .region(Region::new(region.to_owned()))
                    .build(),
            )
        };
        let ddb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .build(),
        );
        let settings = Settings {
            concurrency: 1,
            part_concurrency: 1,
            restore_rate: 1.0,
            max_wait: std::time::Duration::ZERO,
            poll_interval: None,
            multipart_threshold: 1,
            part_size: 1,
            checkpoint_interval: std::time::Duration::from_secs(1),
            heartbeat: std::time::Duration::from_secs(1),
            shutdown_grace: std::time::Duration::ZERO,
            attempt_timeout: std::time::Duration::from_secs(1),
            min_copy_rate: 1,
            key_timeout: std::time::Duration::from_secs(1),
            stall_timeout: std::time::Duration::from_secs(1),
            emf_interval: None,
        };
        Ctx {
            s3: s3("us-east-1"),
            regional_s3: BTreeMap::from([("far".to_owned(), s3("ap-southeast-2"))]),
            records: Records::for_lot(ProgressTable::new(ddb.clone(), "t"), "j".into(), 0, 1),
            table: ProgressTable::new(ddb, "t"),
            rules: Rules::of(&spec),
            spec,
            restore_limiter: RateLimiter::new(settings.restore_rate),
            restore_budget: None,
            pacing: Arc::default(),
            settings,
            lot: 0,
            attempt: 1,
            metrics: Metrics::default(),
            requests_base: BTreeMap::new(),
            tracker: Tracker::new(LotCheckpoint::new(1)),
            fenced: AtomicBool::new(false),
            stop: Arc::new(watch::channel(false).0),
            liveness: Liveness::default(),
        }
    }

    fn dest(bucket: &str, prefix: &str, strip_prefix: &str) -> Destination {
        Destination {
            bucket: bucket.into(),
            prefix: prefix.into(),
            strip_prefix: strip_prefix.into(),
            overwrite: false,
        }
    }

    fn entry(key: &str, dest: Option<(&str, &str)>) -> KeyLine {
        KeyLine {
            key: key.into(),
            dest: dest.map(|(b, k)| (b.to_owned(), k.to_owned())),
            ..KeyLine::default()
        }
    }

    #[test]
    fn in_place_jobs_copy_each_key_onto_itself() {
        let c = ctx(None);
        let e = entry("a/b", None);
        assert_eq!(c.target_of(&e), ("src".to_owned(), "a/b".to_owned()));
        assert!(c.in_place(&e));
    }

    #[test]
    fn dest_jobs_map_keys_below_the_prefix() {
        let c = ctx(Some(dest("dst", "new/", "old/")));
        let e = entry("old/x.txt", None);
        assert_eq!(c.target_of(&e), ("dst".to_owned(), "new/x.txt".to_owned()));
        assert!(!c.in_place(&e));
        // Same bucket, another key is no copy in place either.
        let c = ctx(Some(dest("src", "new/", "")));
        assert!(!c.in_place(&entry("x", None)));
        // A prefix that maps a key onto itself is.
        let c = ctx(Some(dest("src", "", "")));
        assert!(c.in_place(&entry("x", None)));
    }

    #[test]
    fn a_pair_names_its_own_destination() {
        let c = ctx(Some(dest("dst", "", "")));
        let e = entry("k", Some(("other", "k2")));
        assert_eq!(c.target_of(&e), ("other".to_owned(), "k2".to_owned()));
        assert!(!c.in_place(&e));
        assert!(c.in_place(&entry("k", Some(("src", "k")))));
    }

    #[test]
    fn buckets_in_other_regions_get_their_regions_client() {
        let c = ctx(None);
        let region = |b: &str| c.s3_for(b).config().region().map(|r| r.to_string());
        assert_eq!(region("far").as_deref(), Some("ap-southeast-2"));
        assert_eq!(region("src").as_deref(), Some("us-east-1"));
        assert_eq!(region("elsewhere").as_deref(), Some("us-east-1"));
    }

    #[test]
    fn fencing_stops_the_run_once() {
        let c = ctx(None);
        assert!(!c.is_fenced() && !c.stopping());
        c.fence();
        c.fence();
        assert!(c.is_fenced() && c.stopping());
    }

    #[test]
    fn a_checkpoint_carries_the_request_totals_of_every_run() {
        let mut c = ctx(None);
        c.requests_base = BTreeMap::from([("s3_head".to_owned(), 5), ("old_op".to_owned(), 1)]);
        Metrics::inc(&c.metrics.s3_head);
        Metrics::inc(&c.metrics.ddb_write);
        let cp = c.with_requests(LotCheckpoint::new(1));
        assert_eq!(cp.requests.get("s3_head"), Some(&6));
        assert_eq!(cp.requests.get("ddb_write"), Some(&1));
        assert_eq!(cp.requests.get("old_op"), Some(&1));
        assert_eq!(cp.requests.get("s3_copy"), Some(&0));
    }
}
