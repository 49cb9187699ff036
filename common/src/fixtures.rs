//! Builders of the two records every test needs, [`LotItem`] and [`JobSpec`], with sane defaults,
//! so a test names only the fields it is about and a new field is added here once instead of in
//! every test that builds one by hand.
//!
//! Compiled for common's own unit tests and, behind the `fixtures` cargo feature, for other
//! crates' tests (the coordinator enables it in its dev-dependencies, so its unit tests and the
//! integration tests have it); never part of a release binary.

use std::collections::BTreeMap;

use crate::checkpoint::{Counters, LotCheckpoint, LotState};
use crate::progress::LotItem;
use crate::spec::{Destination, JobSpec, S3Location, WorkerSettings};
use crate::storage::{RestoreTier, StorageClass};

/// A [`LotItem`]: PENDING, attempt 1, an empty checkpoint of its keys (counters included), no
/// task, times, error, manifest, uploads or retries, until set. The setters of optional fields
/// take a value or an `Option` (`.task("arn:...")`, `.task(None)`, `.next_check_at(next)`).
#[derive(Debug, Clone)]
pub struct LotItemBuilder {
    item: LotItem,
}

impl LotItemBuilder {
    /// Lot `lot` of `keys` keys.
    pub fn new(lot: u32, keys: usize) -> Self {
        Self {
            item: LotItem {
                attempt: 1,
                ..LotItem::pending(lot, keys)
            },
        }
    }

    /// Its state.
    pub fn state(mut self, state: LotState) -> Self {
        self.item.state = state;
        self
    }

    /// Its run number.
    pub fn attempt(mut self, attempt: u64) -> Self {
        self.item.attempt = attempt;
        self
    }

    /// Its checkpoint; the item's counters become the checkpoint's, as a worker writes them.
    pub fn checkpoint(mut self, checkpoint: LotCheckpoint) -> Self {
        self.item.counters = checkpoint.counters;
        self.item.checkpoint = checkpoint;
        self
    }

    /// The item's counters alone (the checkpoint keeps its own), e.g. counters that disagree
    /// with the checkpoint, or none at all.
    pub fn counters(mut self, counters: Counters) -> Self {
        self.item.counters = counters;
        self
    }

    /// Keys copied, in the item's and the checkpoint's counters.
    pub fn copied(mut self, copied: u64) -> Self {
        self.item.counters.copied = copied;
        self.item.checkpoint.counters.copied = copied;
        self
    }

    /// The task (ECS task ARN or `local:<host>:<pid>`) of its latest run.
    pub fn task<'a>(mut self, task: impl Into<Option<&'a str>>) -> Self {
        self.item.task = task.into().map(str::to_owned);
        self
    }

    /// Its last heartbeat (epoch seconds).
    pub fn heartbeat_at(mut self, at: impl Into<Option<i64>>) -> Self {
        self.item.heartbeat_at = at.into();
        self
    }

    /// Its last write (epoch seconds).
    pub fn updated_at(mut self, at: impl Into<Option<i64>>) -> Self {
        self.item.updated_at = at.into();
        self
    }

    /// When a WAITING lot is worth relaunching (epoch seconds).
    pub fn next_check_at(mut self, at: impl Into<Option<i64>>) -> Self {
        self.item.next_check_at = at.into();
        self
    }

    /// Why it last failed or could not launch.
    pub fn last_error<'a>(mut self, error: impl Into<Option<&'a str>>) -> Self {
        self.item.last_error = error.into().map(str::to_owned);
        self
    }

    /// Why its last launch failed, when it did.
    pub fn launch_failure(mut self, kind: impl Into<Option<crate::task::LaunchFailure>>) -> Self {
        self.item.launch_failure = kind.into();
        self
    }

    /// The location of its manifest.
    pub fn manifest(mut self, manifest: &str) -> Self {
        self.item.manifest = manifest.to_owned();
        self
    }

    /// One entry of its `uploads` map (an open upload by position, or a pending delete).
    pub fn upload(mut self, name: &str, value: &str) -> Self {
        self.item.uploads.insert(name.to_owned(), value.to_owned());
        self
    }

    /// When its latest run started processing (epoch seconds).
    pub fn started_at(mut self, at: impl Into<Option<i64>>) -> Self {
        self.item.started_at = at.into();
        self
    }

    /// When its latest attempt was launched (epoch seconds).
    pub fn launched_at(mut self, at: impl Into<Option<i64>>) -> Self {
        self.item.launched_at = at.into();
        self
    }

    /// Relaunches after a failure or a lost worker.
    pub fn retries(mut self, retries: u64) -> Self {
        self.item.retries = retries;
        self
    }

    /// How its keys lie in the bucket's key order.
    pub fn key_order(mut self, order: crate::plan::KeyOrder) -> Self {
        self.item.key_order = order;
        self
    }

    /// What `follow`'s last look at its restores saw.
    pub fn ready_look(mut self, look: impl Into<Option<crate::progress::ReadyLook>>) -> Self {
        self.item.ready_look = look.into();
        self
    }

    /// The item.
    pub fn build(self) -> LotItem {
        self.item
    }
}

/// A [`JobSpec`] as `launch` writes it with its defaults: in place, into STANDARD_IA, Bulk
/// restores kept 3 days, one lot of one key, control objects under `s3://<bucket>/thaw/<job>/`,
/// table `thaw-progress`, default worker settings, a key list (`keys`), created at a fixed time
/// by tool version `test`, until set.
#[derive(Debug, Clone)]
pub struct JobSpecBuilder {
    spec: JobSpec,
}

impl JobSpecBuilder {
    /// Job `job_id` on the objects of `bucket`.
    pub fn new(job_id: &str, bucket: &str) -> Self {
        Self {
            spec: JobSpec {
                job_id: job_id.to_owned(),
                bucket: bucket.to_owned(),
                target_class: StorageClass::StandardIa,
                restore_tier: RestoreTier::Bulk,
                restore_days: 3,
                keys_total: 1,
                lots: 1,
                control: S3Location::new(bucket, "thaw/").join(job_id),
                table: "thaw-progress".to_owned(),
                created_at: "2026-01-01T00:00:00Z".to_owned(),
                tool_version: "test".to_owned(),
                input_fingerprint: "test".to_owned(),
                worker: WorkerSettings::default(),
                destination: None,
                source_prefix: None,
                overwrite: false,
                delete_source_version: false,
                bucket_regions: BTreeMap::new(),
                dest_buckets: Vec::new(),
                copy_acls: false,
                input_format: "keys".to_owned(),
                request_payer: false,
                dest_kms_key: None,
                drop_object_lock_at: Vec::new(),
                leave_out: Default::default(),
                restore_budget: None,
                max_tasks: None,
            },
        }
    }

    /// The window (`--max-tasks`).
    pub fn max_tasks(mut self, max_tasks: impl Into<Option<u32>>) -> Self {
        self.spec.max_tasks = max_tasks.into();
        self
    }

    /// The class every object must end in.
    pub fn target_class(mut self, class: StorageClass) -> Self {
        self.spec.target_class = class;
        self
    }

    /// The restore tier.
    pub fn restore_tier(mut self, tier: RestoreTier) -> Self {
        self.spec.restore_tier = tier;
        self
    }

    /// Days a restored copy lives.
    pub fn restore_days(mut self, days: u32) -> Self {
        self.spec.restore_days = days;
        self
    }

    /// Keys in the job.
    pub fn keys_total(mut self, keys: u64) -> Self {
        self.spec.keys_total = keys;
        self
    }

    /// Number of lots.
    pub fn lots(mut self, lots: u32) -> Self {
        self.spec.lots = lots;
        self
    }

    /// Where its manifests and spec live.
    pub fn control(mut self, control: S3Location) -> Self {
        self.spec.control = control;
        self
    }

    /// The progress table.
    pub fn table(mut self, table: &str) -> Self {
        self.spec.table = table.to_owned();
        self
    }

    /// When it was created (RFC 3339).
    pub fn created_at(mut self, at: &str) -> Self {
        self.spec.created_at = at.to_owned();
        self
    }

    /// The thaw version that wrote it.
    pub fn tool_version(mut self, version: &str) -> Self {
        self.spec.tool_version = version.to_owned();
        self
    }

    /// The fingerprint of its key list.
    pub fn input_fingerprint(mut self, fingerprint: &str) -> Self {
        self.spec.input_fingerprint = fingerprint.to_owned();
        self
    }

    /// Worker settings.
    pub fn worker(mut self, settings: WorkerSettings) -> Self {
        self.spec.worker = settings;
        self
    }

    /// Copies go to another bucket and/or prefix (`None`: in place).
    pub fn destination(mut self, destination: impl Into<Option<Destination>>) -> Self {
        self.spec.destination = destination.into();
        self
    }

    /// The prefix every key must be under (`--from` jobs).
    pub fn source_prefix(mut self, prefix: &str) -> Self {
        self.spec.source_prefix = Some(prefix.to_owned());
        self
    }

    /// Replace newer destinations (and copy pinned non-current versions in place).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.spec.overwrite = overwrite;
        self
    }

    /// Delete the copied source version after a verified copy.
    pub fn delete_source_version(mut self, delete: bool) -> Self {
        self.spec.delete_source_version = delete;
        self
    }

    /// The Region of a destination bucket outside the job's Region.
    pub fn bucket_region(mut self, bucket: &str, region: &str) -> Self {
        self.spec
            .bucket_regions
            .insert(bucket.to_owned(), region.to_owned());
        self
    }

    /// The buckets other than the source that its pairs list names.
    pub fn dest_buckets(mut self, buckets: &[&str]) -> Self {
        self.spec.dest_buckets = buckets.iter().map(|b| (*b).to_owned()).collect();
        self
    }

    /// Carry ACL grants.
    pub fn copy_acls(mut self, copy: bool) -> Self {
        self.spec.copy_acls = copy;
        self
    }

    /// The kind of list it was launched from (`keys`, `csv`, `pairs`, `inventory`).
    pub fn input_format(mut self, format: &str) -> Self {
        self.spec.input_format = format.to_owned();
        self
    }

    /// Objects the workers leave where they are (`--min-size`, `--min-age`).
    pub fn leave_out(mut self, leave_out: crate::leave_out::LeaveOut) -> Self {
        self.spec.leave_out = leave_out;
        self
    }

    /// The spec.
    pub fn build(self) -> JobSpec {
        self.spec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lot_defaults_and_setters() {
        let item = LotItemBuilder::new(3, 10).build();
        assert_eq!(
            (item.lot, item.state, item.attempt),
            (3, LotState::Pending, 1)
        );
        assert_eq!(item.counters.keys_total, 10);
        assert_eq!(item.counters, item.checkpoint.counters);
        assert_eq!(item.checkpoint, LotCheckpoint::new(10));
        assert!(item.task.is_none() && item.uploads.is_empty() && item.manifest.is_empty());

        let mut cp = LotCheckpoint::new(2);
        cp.record_failure(1, "NoSuchKey", "gone");
        let item = LotItemBuilder::new(0, 5)
            .state(LotState::Waiting)
            .attempt(4)
            .checkpoint(cp.clone())
            .copied(1)
            .task("arn:t")
            .heartbeat_at(10)
            .updated_at(11)
            .next_check_at(12)
            .last_error("boom")
            .manifest("s3://b/m")
            .upload("0", "u-1")
            .started_at(9)
            .launched_at(8)
            .retries(2)
            .build();
        assert_eq!(item.state, LotState::Waiting);
        assert_eq!(item.attempt, 4);
        assert_eq!(item.checkpoint.failure_of(1), Some(("NoSuchKey", "gone")));
        assert_eq!(item.counters.failed, 1, "counters follow the checkpoint");
        assert_eq!(
            (item.counters.copied, item.checkpoint.counters.copied),
            (1, 1)
        );
        assert_eq!(item.task.as_deref(), Some("arn:t"));
        assert_eq!(
            (item.heartbeat_at, item.updated_at, item.next_check_at),
            (Some(10), Some(11), Some(12))
        );
        assert_eq!(item.last_error.as_deref(), Some("boom"));
        assert_eq!(item.manifest, "s3://b/m");
        assert_eq!(item.uploads.get("0").map(String::as_str), Some("u-1"));
        assert_eq!((item.started_at, item.launched_at), (Some(9), Some(8)));
        assert_eq!(item.retries, 2);
        let bare = LotItemBuilder::new(0, 5)
            .counters(Counters::default())
            .task(None)
            .next_check_at(Some(7))
            .build();
        assert_eq!((bare.task, bare.next_check_at), (None, Some(7)));
        assert_eq!(bare.counters.keys_total, 0);
        assert_eq!(bare.checkpoint.counters.keys_total, 5);
    }

    #[test]
    fn spec_defaults_are_launch_defaults_and_setters_set() {
        let spec = JobSpecBuilder::new("j", "b").build();
        assert_eq!(spec.control.to_string(), "s3://b/thaw/j/");
        assert_eq!(spec.target_class, StorageClass::StandardIa);
        assert_eq!(
            (spec.restore_tier, spec.restore_days),
            (RestoreTier::Bulk, 3)
        );
        assert_eq!((spec.keys_total, spec.lots), (1, 1));
        assert_eq!(spec.worker, WorkerSettings::default());
        assert_eq!(spec.input_format, "keys");
        // what a job.json without the optional fields reads back as
        let json = serde_json::to_value(&spec).expect("json");
        let mut minimal = json.clone();
        for optional in [
            "destination",
            "source_prefix",
            "overwrite",
            "delete_source_version",
            "bucket_regions",
            "dest_buckets",
            "copy_acls",
            "input_format",
        ] {
            minimal.as_object_mut().expect("object").remove(optional);
        }
        let read: JobSpec = serde_json::from_value(minimal).expect("minimal spec");
        assert_eq!(read, spec);

        let dest = Destination {
            bucket: "d".into(),
            prefix: "p/".into(),
            strip_prefix: String::new(),
            overwrite: true,
        };
        let spec = JobSpecBuilder::new("j", "b")
            .target_class(StorageClass::Standard)
            .restore_tier(RestoreTier::Expedited)
            .restore_days(7)
            .keys_total(10)
            .lots(2)
            .control(S3Location::new("c", "x/"))
            .table("t")
            .created_at("2027-01-01T00:00:00Z")
            .tool_version("0")
            .input_fingerprint("fnv1a64:1")
            .worker(WorkerSettings {
                concurrency: 1,
                ..WorkerSettings::default()
            })
            .destination(dest.clone())
            .source_prefix("in/")
            .overwrite(true)
            .delete_source_version(true)
            .bucket_region("far", "eu-west-1")
            .dest_buckets(&["d"])
            .copy_acls(true)
            .input_format("pairs")
            .build();
        assert_eq!(spec.target_class, StorageClass::Standard);
        assert_eq!(
            (spec.restore_tier, spec.restore_days),
            (RestoreTier::Expedited, 7)
        );
        assert_eq!((spec.keys_total, spec.lots), (10, 2));
        assert_eq!(spec.control.to_string(), "s3://c/x/");
        assert_eq!(
            (spec.table.as_str(), spec.created_at.as_str()),
            ("t", "2027-01-01T00:00:00Z")
        );
        assert_eq!(
            (spec.tool_version.as_str(), spec.input_fingerprint.as_str()),
            ("0", "fnv1a64:1")
        );
        assert_eq!(spec.worker.concurrency, 1);
        assert_eq!(spec.destination, Some(dest));
        assert_eq!(spec.source_prefix.as_deref(), Some("in/"));
        assert!(spec.overwrite && spec.delete_source_version && spec.copy_acls);
        assert_eq!(
            spec.bucket_regions.get("far").map(String::as_str),
            Some("eu-west-1")
        );
        assert_eq!(spec.dest_buckets, vec!["d".to_owned()]);
        assert_eq!(spec.input_format, "pairs");
    }
}
