//! The job spec (`job.json`): everything a worker needs to know about its job, written once by the
//! coordinator beside the lot manifests.

use std::fmt;
use std::time::Duration;

use crate::storage::{RestoreTier, StorageClass};

/// An `s3://bucket/prefix` location.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix, empty or ending in `/`.
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://bucket[/prefix]`; the prefix is normalised to end in `/`.
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{uri}' is not an s3:// URI"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("'{uri}' names no bucket"));
        }
        Ok(Self::new(bucket, prefix))
    }

    /// A location from a bucket and prefix; the prefix is normalised to end in `/`.
    pub fn new(bucket: &str, prefix: &str) -> Self {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_owned()
        } else {
            format!("{prefix}/")
        };
        Self {
            bucket: bucket.to_owned(),
            prefix,
        }
    }

    /// The location of `name` under this one.
    pub fn join(&self, name: &str) -> S3Location {
        Self::new(&self.bucket, &format!("{}{name}", self.prefix))
    }

    /// The key of object `name` under this location.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The `s3://bucket/key` URI of object `name` under this location (what [`object_uri`]
    /// reads back).
    pub fn uri(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// The bucket and key of an `s3://bucket/key` object URI; `None` unless it is one, with a
/// bucket and a key. Keys are taken as written (a space at either end is part of the key).
pub fn object_uri(uri: &str) -> Option<(&str, &str)> {
    uri.strip_prefix("s3://")?
        .split_once('/')
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
}

/// Name of the job spec object under a job's control location.
pub const JOB_SPEC_NAME: &str = "job.json";

/// Name of lot `lot`'s manifest under a job's control location.
pub fn lot_manifest_name(lot: u32) -> String {
    format!("lots/{lot:05}.txt")
}

/// What a job asks for; serialised as `job.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobSpec {
    /// Job id (also the ECS `startedBy`).
    pub job_id: String,
    /// Bucket holding the objects.
    pub bucket: String,
    /// Class every object must end in.
    pub target_class: StorageClass,
    /// Restore tier for archived objects.
    pub restore_tier: RestoreTier,
    /// Days a restored copy lives.
    pub restore_days: u32,
    /// Total keys in the job.
    pub keys_total: u64,
    /// Number of lots.
    pub lots: u32,
    /// Where manifests and this spec live (`s3://bucket/prefix/<job-id>/`).
    pub control: S3Location,
    /// DynamoDB progress table.
    pub table: String,
    /// When the job was created (RFC 3339, UTC).
    pub created_at: String,
    /// thaw version that wrote the spec.
    pub tool_version: String,
    /// Fingerprint of the key list, so a re-launch with the same id and another list is refused.
    pub input_fingerprint: String,
    /// Worker settings chosen at launch.
    pub worker: WorkerSettings,
    /// Where copies go; `None`: in place (same bucket and key).
    #[serde(default)]
    pub destination: Option<Destination>,
    /// For `--from` jobs, the prefix every key must be under: a worker refuses (fails) any
    /// manifest key outside it, so a tampered manifest cannot reach other objects.
    #[serde(default)]
    pub source_prefix: Option<String>,
    /// Replace destination objects that are newer than the copy (and, in place, copy a pinned
    /// version that is no longer the current one). Off: such keys fail and nothing is replaced.
    #[serde(default)]
    pub overwrite: bool,
    /// After a verified copy, delete exactly the source version that was copied (versioned
    /// buckets only; the coordinator refuses it otherwise).
    #[serde(default)]
    pub delete_source_version: bool,
    /// Region of each destination bucket that is not in the job's Region: copies into it are
    /// sent to that Region (CopyObject runs in the destination's Region).
    #[serde(default)]
    pub bucket_regions: std::collections::BTreeMap<String, String>,
    /// Buckets other than the source that the job's pairs list names as destinations: a worker
    /// refuses (fails) a manifest line naming any other, so an edited manifest cannot write
    /// elsewhere.
    #[serde(default)]
    pub dest_buckets: Vec<String>,
    /// Carry each object's ACL grants to its copy (buckets that still use ACLs: S3 never copies
    /// them, and a copy without them is private to the bucket owner).
    #[serde(default)]
    pub copy_acls: bool,
    /// The kind of list the job was launched from (`keys`, `csv`, `pairs`, `inventory`), so
    /// failed keys are exported in a format `launch` reads back with the same versions and
    /// destinations.
    #[serde(default = "default_input_format")]
    pub input_format: String,
    /// Send `x-amz-request-payer: requester` with every S3 request the workers make about the
    /// objects (`--request-payer`): a requester-pays bucket of another account refuses them
    /// with 403 otherwise.
    #[serde(default)]
    pub request_payer: bool,
    /// The KMS key copies into other buckets than the source are encrypted with
    /// (`--dest-kms-key`); `None`: they take the destination bucket's default encryption.
    /// Copies within the source bucket keep each object's own encryption.
    #[serde(default)]
    pub dest_kms_key: Option<String>,
    /// Destination buckets without Object Lock whose copies are sent without the source's
    /// retention and legal hold (`--drop-object-lock`): S3 refuses those headers there.
    #[serde(default)]
    pub drop_object_lock_at: Vec<String>,
    /// Objects the workers leave where they are (`--min-size`, `--min-age`), with the reason in
    /// the report; an inventory's are left out of the lots already.
    #[serde(default)]
    pub leave_out: crate::leave_out::LeaveOut,
    /// The Region whose restore budget the job draws from (see [`crate::budget`]): its workers
    /// read their share there. `None` for jobs launched before the budget existed: their
    /// workers keep `worker.restore_rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_budget: Option<String>,
    /// The window: lots with a live worker at once (`--max-tasks`; `follow --max-tasks` and
    /// `retry --max-tasks` change it in the job item). `None` for jobs launched before the
    /// window existed: every lot at once.
    #[serde(default)]
    pub max_tasks: Option<u32>,
}

fn default_input_format() -> String {
    "keys".into()
}

/// Copies to another bucket and/or prefix instead of in place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    /// Destination bucket.
    pub bucket: String,
    /// Prefix put in front of each key (after `strip_prefix` is taken off).
    pub prefix: String,
    /// Source prefix replaced by `prefix` (the `--from` prefix; empty for key lists).
    pub strip_prefix: String,
    /// Replace destination objects that are newer than their source.
    pub overwrite: bool,
}

impl Destination {
    /// The destination key of source key `key`.
    pub fn key_for(&self, key: &str) -> String {
        format!(
            "{}{}",
            self.prefix,
            key.strip_prefix(self.strip_prefix.as_str()).unwrap_or(key)
        )
    }
}

/// Tuning that every worker of a job uses; flags on the worker override it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkerSettings {
    /// Keys in flight per worker.
    pub concurrency: usize,
    /// Restore requests per second per worker (its share of the account's ~1,000/s).
    pub restore_rate: f64,
    /// Seconds a worker waits for restores before it checkpoints as WAITING and exits.
    pub max_wait_secs: u64,
    /// First poll after requesting restores, and the interval after it; `None`: from the tier.
    pub poll_interval_secs: Option<u64>,
    /// Objects larger than this are copied with multipart UploadPartCopy.
    pub multipart_threshold: u64,
    /// Part size for multipart copies (raised when needed to stay within 10,000 parts).
    pub part_size: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            restore_rate: 50.0,
            max_wait_secs: 600,
            poll_interval_secs: None,
            multipart_threshold: 5 * 1024 * 1024 * 1024,
            part_size: 256 * 1024 * 1024,
        }
    }
}

/// The smallest part S3 accepts (except the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// The largest part UploadPartCopy accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// The most parts a multipart upload can have.
pub const MAX_PARTS: u64 = 10_000;
/// The largest part size thaw asks for: each part is one UploadPartCopy with an attempt
/// timeout sized from it, and what a failed part costs to send again; 1 GiB parts already copy
/// S3's largest object (5 TB) in under 10,000 parts.
pub const MAX_REQUESTED_PART_SIZE: u64 = 1024 * 1024 * 1024;

/// The part size for an object of `size` bytes: the requested size (at most
/// [`MAX_REQUESTED_PART_SIZE`]), raised so there are at most 10,000 parts and rounded up to a
/// whole MiB, within S3's 5 MiB to 5 GiB part limits.
pub fn part_size_for(size: u64, requested: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    let needed = size.div_ceil(MAX_PARTS);
    requested
        .min(MAX_REQUESTED_PART_SIZE)
        .max(needed)
        .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
        .div_ceil(MIB)
        * MIB
}

/// How long to wait before looking at a requested restore again, from the class and tier, unless
/// the job overrides it: the end of AWS's published restore time (Expedited 1-5 min: a minute,
/// the worker polls within its run; Standard 3-5 h / within 12 h, Bulk 5-12 h / within 48 h for
/// GLACIER / DEEP_ARCHIVE). A look sooner relaunches the lot for a Fargate task (a minute billed
/// at least) that finds most restores still running and comes back later: the fleet simulation
/// (`coordinator estimate --timeline`) shows a 100M-key GLACIER Bulk job needing three copy runs
/// per lot with a 5 h delay and one with 12 h (1,673 task-hours against 931), and finishing
/// sooner.
pub fn poll_delay(class: &str, tier: RestoreTier, override_secs: Option<u64>) -> Duration {
    if let Some(s) = override_secs {
        return Duration::from_secs(s.max(1));
    }
    let deep = class == "DEEP_ARCHIVE";
    let mins = match (tier, deep) {
        (RestoreTier::Expedited, _) => 1,
        (RestoreTier::Standard, false) => 5 * 60,
        (RestoreTier::Standard, true) => 12 * 60,
        (RestoreTier::Bulk, false) => 12 * 60,
        (RestoreTier::Bulk, true) => 48 * 60,
    };
    Duration::from_secs(mins * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations() {
        let l = S3Location::parse("s3://b/x/y").expect("parse");
        assert_eq!(l.prefix, "x/y/");
        assert_eq!(l.join("job1").key("job.json"), "x/y/job1/job.json");
        assert_eq!(S3Location::parse("s3://b").unwrap().prefix, "");
        assert!(S3Location::parse("b/x").is_err());
        assert!(S3Location::parse("s3:///x").is_err());
        assert_eq!(S3Location::new("b", "p").to_string(), "s3://b/p/");
    }

    #[test]
    fn object_uris_round_trip() {
        let job = S3Location::new("ctl", "thaw/").join("j1");
        let uri = job.uri(&lot_manifest_name(3));
        assert_eq!(uri, "s3://ctl/thaw/j1/lots/00003.txt");
        assert_eq!(object_uri(&uri), Some(("ctl", "thaw/j1/lots/00003.txt")));
    }

    #[test]
    fn object_uris() {
        assert_eq!(object_uri("s3://b/k/ x "), Some(("b", "k/ x ")));
        for bad in ["b/k", "s3://b", "s3://b/", "s3:///k", "S3://b/k"] {
            assert_eq!(object_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn part_sizes() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(part_size_for(10 * MIB, MIB), 5 * MIB);
        assert_eq!(part_size_for(6 * 1024 * MIB, 256 * MIB), 256 * MIB);
        // 5 TB needs parts of at least ~525 MiB
        let five_tb = 5 * 1024 * 1024 * MIB;
        let p = part_size_for(five_tb, 256 * MIB);
        assert!(five_tb.div_ceil(p) <= MAX_PARTS);
        assert_eq!(p % MIB, 0);
        // a requested size above the 5 GiB part limit is lowered, to thaw's 1 GiB cap (a
        // stricter bound than S3's 5 GiB, which it stays within)
        assert_eq!(
            part_size_for(10 * MIB, 8 * 1024 * MIB),
            MAX_REQUESTED_PART_SIZE
        );
        const { assert!(MAX_REQUESTED_PART_SIZE <= MAX_PART_SIZE) };
        // and so is one between the cap and 5 GiB (an older job's 5 GiB setting)
        assert_eq!(
            part_size_for(100 * 1024 * MIB, 5 * 1024 * MIB),
            MAX_REQUESTED_PART_SIZE
        );
        // the cap never stops an object: the largest (5 TB) needs less in 10,000 parts
        assert!(part_size_for(five_tb, MAX_REQUESTED_PART_SIZE) <= MAX_REQUESTED_PART_SIZE);
        assert!(five_tb.div_ceil(MAX_REQUESTED_PART_SIZE) <= MAX_PARTS);
    }

    #[test]
    fn poll_delays() {
        assert_eq!(
            poll_delay("GLACIER", RestoreTier::Expedited, None),
            Duration::from_secs(60)
        );
        assert!(
            poll_delay("DEEP_ARCHIVE", RestoreTier::Bulk, None)
                > poll_delay("GLACIER", RestoreTier::Bulk, None)
        );
        assert_eq!(
            poll_delay("GLACIER", RestoreTier::Bulk, None),
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(
            poll_delay("GLACIER", RestoreTier::Bulk, Some(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn destination_keys() {
        let d = Destination {
            bucket: "dst".into(),
            prefix: "copy/".into(),
            strip_prefix: "logs/2026/".into(),
            overwrite: false,
        };
        assert_eq!(d.key_for("logs/2026/a.gz"), "copy/a.gz");
        assert_eq!(d.key_for("other/a.gz"), "copy/other/a.gz");
    }

    #[test]
    fn manifest_names_sort() {
        assert_eq!(lot_manifest_name(7), "lots/00007.txt");
    }
}
