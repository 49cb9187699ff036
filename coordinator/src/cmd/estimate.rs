//! `coordinator estimate KEYS_FILE --bucket B --storage-class CLASS`: what the job would cost,
//! before anything runs.
//!
//! The key list is streamed once (counted, and a uniform sample kept by reservoir sampling);
//! the sample is looked at with HeadObject (class, size, age) and the cost model of
//! `thaw_common::cost` scales it to the whole list. With `--sample` at least the number of keys,
//! every key is looked at and the request counts are exact.

use anyhow::{bail, Context};
use futures::StreamExt;
use thaw_common::aws::AwsError;
use thaw_common::cost::{
    estimate_sampled, CostJob, Estimate, PlannedAction, PlannedObject, Prices,
};
use thaw_common::sample::Reservoir;

use crate::manifest::{KeyList, ListFields};
use thaw_common::keystate::{decide, parse_restore_header, Goal, Next, ObjectHead};
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::storage::{RestoreTier, StorageClass};

use super::{out, usage, Global};

/// Flags of `coordinator estimate`.
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// The job's list, as `launch` takes it: one S3 key per line (`-`: stdin; `s3://...`), a
    /// Batch Operations CSV or pairs list, or an S3 Inventory `manifest.json` (then classes, sizes
    /// and ages come from the inventory, with no HeadObject).
    #[arg(value_name = "KEYS_FILE")]
    pub keys_file: String,
    /// Format of KEYS_FILE [default: guessed as `launch` does].
    #[arg(long, value_enum, env = "THAW_FORMAT")]
    pub format: Option<super::launch::ListFormat>,
    /// Bucket holding the objects.
    #[arg(long, env = "THAW_BUCKET")]
    pub bucket: String,
    /// Class every object must end in.
    #[arg(long, env = "THAW_STORAGE_CLASS")]
    pub storage_class: String,
    /// Restore tier: bulk, standard or expedited.
    #[arg(long, env = "THAW_RESTORE_TIER", default_value = "bulk")]
    pub restore_tier: String,
    /// Keys looked at with HeadObject to learn classes, sizes and ages.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub sample: u64,
    /// Lots of this many keys (for the Fargate estimate).
    #[arg(long, env = "THAW_LOT_SIZE", default_value_t = 5000)]
    pub lot_size: u64,
    /// Keys per second one worker moves (the benchmark measured 58/s against a one-core
    /// emulator; real S3 is faster).
    #[arg(long, default_value_t = 50.0)]
    pub keys_per_second: f64,
    /// Extra HEAD polls per restore (0: restores are found done at the first look).
    #[arg(long, default_value_t = 0.0)]
    pub polls_per_restore: f64,
    /// Worker task size: vCPU and GB.
    #[arg(long, default_value_t = 1.0)]
    pub task_vcpu: f64,
    /// Worker task memory in GB.
    #[arg(long, default_value_t = 2.0)]
    pub task_gb: f64,
    /// Fargate Spot prices.
    #[arg(long)]
    pub spot: bool,
    /// Multipart threshold in bytes.
    #[arg(long, default_value_t = 5 * 1024 * 1024 * 1024)]
    pub multipart_threshold: u64,
    /// Part size in bytes.
    #[arg(long, default_value_t = 256 * 1024 * 1024)]
    pub part_size: u64,
    /// JSON file overriding built-in prices (any subset of the fields of the price table).
    #[arg(long, env = "THAW_PRICES")]
    pub prices: Option<std::path::PathBuf>,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What a sampled HeadObject found.
enum Looked {
    /// The object, and what the worker will do with it.
    Object(PlannedObject),
    /// 404.
    Missing,
    /// Any other refusal (SSE-C, AccessDenied, ...).
    Refused(String),
}

/// What the worker will do with an object, from its HeadObject, decided by the worker's own
/// state machine so the estimate cannot drift from it.
fn planned(
    h: &aws_sdk_s3::operation::head_object::HeadObjectOutput,
    goal: Goal,
    now: std::time::SystemTime,
) -> PlannedObject {
    let head = ObjectHead {
        storage_class: h
            .storage_class()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_else(|| "STANDARD".into()),
        archive_status: h.archive_status().map(|s| s.as_str().to_owned()),
        restore: parse_restore_header(h.restore()),
        sse_customer: h.sse_customer_algorithm().is_some(),
    };
    let action = match decide(&head, goal, false) {
        Next::Skip => PlannedAction::Skip,
        Next::Copy => PlannedAction::Copy,
        Next::Restore { .. } => PlannedAction::RestoreThenCopy,
        Next::Wait => PlannedAction::WaitThenCopy,
        Next::Fail { .. } => PlannedAction::Fail,
    };
    // Restores are priced by archive: Intelligent-Tiering's archive tiers like their classes.
    let class = if head.is_deep_archive() {
        "DEEP_ARCHIVE".to_owned()
    } else if head.is_archived() {
        "GLACIER".to_owned()
    } else {
        head.storage_class.clone()
    };
    let age_days = if head.storage_class == class {
        h.last_modified().and_then(|m| {
            let then = std::time::SystemTime::try_from(*m).ok()?;
            Some(now.duration_since(then).ok()?.as_secs_f64() / 86_400.0)
        })
    } else {
        None // Intelligent-Tiering has no minimum storage duration
    };
    PlannedObject {
        class,
        size: h.content_length().unwrap_or(0).max(0) as u64,
        age_days,
        action,
    }
}

/// Prices read from `--prices FILE`, or the built-in table.
pub fn load_prices(path: Option<&std::path::Path>) -> anyhow::Result<Prices> {
    match path {
        Some(p) => serde_json::from_slice::<Prices>(
            &std::fs::read(p).with_context(|| format!("reading prices {}", p.display()))?,
        )
        .with_context(|| format!("parsing prices {}", p.display())),
        None => Ok(Prices::default()),
    }
}

/// The job's objects as the worker will find them: a uniform sample, each standing for
/// `weight` keys of the list.
#[derive(Debug)]
pub struct ObjectSample {
    /// Keys in the list.
    pub keys: u64,
    /// Objects in the sample.
    pub objects: Vec<PlannedObject>,
    /// Keys each sampled object stands for.
    pub weight: f64,
    /// Sampled keys that do not exist (HeadObject 404).
    pub missing: u64,
    /// Where the sample came from: `HeadObject` or `inventory`.
    pub source: &'static str,
}

/// Samples `keys` (up to `size` entries, uniformly) and looks at each with HeadObject (the
/// pinned version when there is one), deciding with the worker's own state machine.
pub async fn look_at(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &KeyList,
    spec_in_place: bool,
    target: StorageClass,
    tier: RestoreTier,
    size: usize,
) -> anyhow::Result<ObjectSample> {
    let mut sample = Reservoir::new(size);
    for line in keys.reopen()? {
        sample.offer(line.with_context(|| format!("key list {}", keys.name()))?);
    }
    let now = std::time::SystemTime::now();
    let looked: Vec<Looked> = futures::stream::iter(sample.items().iter())
        .map(|entry| {
            let s3 = s3.clone();
            let bucket = bucket.to_owned();
            let goal = Goal {
                target,
                tier,
                days: 1,
                in_place: spec_in_place && entry.dest.is_none(),
            };
            async move {
                let head = s3
                    .head_object()
                    .bucket(&bucket)
                    .key(&entry.key)
                    .set_version_id(entry.version_id.clone())
                    .send()
                    .await;
                match head {
                    Ok(h) => Looked::Object(planned(&h, goal, now)),
                    Err(e) => {
                        let err = AwsError::from_sdk("HeadObject", &e);
                        if err.status == Some(404) || err.code == "NotFound" {
                            Looked::Missing
                        } else {
                            Looked::Refused(err.to_string())
                        }
                    }
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut objects = Vec::new();
    let (mut missing, mut refused) = (0u64, Vec::new());
    for l in looked {
        // The worker records missing and refused keys as failed, after one HEAD each.
        let failed = PlannedObject {
            class: "STANDARD".into(),
            size: 0,
            age_days: None,
            action: PlannedAction::Fail,
        };
        match l {
            Looked::Object(o) => objects.push(o),
            Looked::Missing => {
                missing += 1;
                objects.push(failed);
            }
            Looked::Refused(e) => {
                refused.push(e);
                objects.push(failed);
            }
        }
    }
    if let Some(first) = refused.first() {
        tracing::warn!(
            "{} sampled keys could not be looked at (counted as failing), e.g. {first}",
            refused.len()
        );
    }
    Ok(ObjectSample {
        keys: sample.seen(),
        weight: sample.weight(),
        objects,
        missing,
        source: "HeadObject",
    })
}

/// What the cost model needs besides the objects.
#[derive(Debug, Clone)]
pub struct CostSettings {
    /// Lots of the job.
    pub lots: u64,
    /// Keys per second one worker moves.
    pub keys_per_second: f64,
    /// Worker task vCPU.
    pub task_vcpu: f64,
    /// Worker task memory in GB.
    pub task_gb: f64,
    /// Fargate Spot.
    pub spot: bool,
    /// Extra HEAD polls per restore.
    pub polls_per_restore: f64,
    /// Multipart threshold in bytes.
    pub multipart_threshold: u64,
    /// Part size in bytes.
    pub part_size: u64,
    /// HeadObject calls per copy beyond the state machine's (see [`extra_heads_per_copy`]).
    pub extra_heads_per_copy: f64,
    /// DynamoDB write units per 1,000 keys: about 4 checkpoints, plus about 6,000 under
    /// `--delete-source-version` (each delete is recorded before its copy and dropped after, each
    /// an UpdateItem billed by the lot item's size).
    pub ddb_writes_per_1000: f64,
    /// ListObjectsV2 pages read to build the list (`--from`).
    pub list_requests: u64,
}

/// The HeadObject calls a copy makes beyond the state machine's, averaged over the list: one
/// destination check per copy elsewhere (`dest_all`: every key, or the pairs that name another
/// object), one current-version check per pinned in-place key (unless `overwrite`), one check of
/// the new version per copy with `delete_source_version`.
pub fn extra_heads_per_copy(
    fields: &ListFields,
    keys: u64,
    dest_all: bool,
    delete_source_version: bool,
    overwrite: bool,
) -> f64 {
    let share = |n: u64| {
        if keys == 0 {
            0.0
        } else {
            n as f64 / keys as f64
        }
    };
    let dest = if dest_all {
        1.0
    } else {
        share(fields.with_dest)
    };
    let pinned = if overwrite || dest_all {
        0.0
    } else {
        share(fields.pinned_in_place)
    };
    dest + pinned + if delete_source_version { 1.0 } else { 0.0 }
}

/// Prices the sampled job.
pub fn price(
    sample: &ObjectSample,
    target: StorageClass,
    tier: RestoreTier,
    s: &CostSettings,
    prices: &Prices,
) -> Estimate {
    let lots = s.lots.max(1);
    let hours = sample.keys as f64 / s.keys_per_second.max(0.001) / 3600.0;
    let job = CostJob {
        target,
        tier,
        polls_per_restore: s.polls_per_restore,
        multipart_threshold: s.multipart_threshold,
        part_size: s.part_size,
        lots,
        worker_hours_per_lot: hours / lots as f64,
        task_vcpu: s.task_vcpu,
        task_gb: s.task_gb,
        spot: s.spot,
        ddb_writes_per_1000: s.ddb_writes_per_1000,
        extra_heads_per_copy: s.extra_heads_per_copy,
        list_requests: s.list_requests,
    };
    estimate_sampled(&sample.objects, sample.weight, &job, prices)
}

/// The sample an inventory gives (no request needed).
pub fn from_inventory(known: &Reservoir<PlannedObject>) -> ObjectSample {
    ObjectSample {
        keys: known.seen(),
        objects: known.items().to_vec(),
        weight: known.weight(),
        missing: 0,
        source: "inventory",
    }
}

/// Runs `coordinator estimate`.
pub async fn run(g: &Global, a: EstimateArgs) -> anyhow::Result<()> {
    let target: StorageClass = a.storage_class.parse().map_err(usage)?;
    let tier: RestoreTier = a.restore_tier.parse().map_err(usage)?;
    let prices = load_prices(a.prices.as_deref())?;
    let keys = super::launch::read_list(g, &a.keys_file, a.format, &a.bucket, target).await?;
    if keys.count == 0 {
        bail!("key list {} holds no keys", a.keys_file);
    }
    let lots = lot_sizes(keys.count, LotSpec::Size(a.lot_size.max(1)))?.len() as u64;
    let sample = match &keys.known_objects {
        Some(known) => from_inventory(known),
        None => {
            let aws = g.aws().await?;
            look_at(
                &aws.s3(),
                &a.bucket,
                &keys,
                true,
                target,
                tier,
                a.sample as usize,
            )
            .await?
        }
    };
    let settings = CostSettings {
        lots,
        keys_per_second: a.keys_per_second,
        task_vcpu: a.task_vcpu,
        task_gb: a.task_gb,
        spot: a.spot,
        polls_per_restore: a.polls_per_restore,
        multipart_threshold: a.multipart_threshold,
        part_size: a.part_size,
        extra_heads_per_copy: extra_heads_per_copy(&keys.fields, keys.count, false, false, false),
        ddb_writes_per_1000: 4.0,
        list_requests: 0,
    };
    let e = price(&sample, target, tier, &settings, &prices);
    if a.json {
        let doc = serde_json::json!({
            "keys": sample.keys,
            "sampled": sample.objects.len(),
            "sample_source": sample.source,
            "missing_in_sample": sample.missing,
            "lots": lots,
            "estimate": e,
        });
        return out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    out(&render(&e, &sample, lots))
}

/// The estimate as the lines `estimate` and `launch --dry-run` print.
pub fn render(e: &Estimate, sample: &ObjectSample, lots: u64) -> String {
    let gib = |b: u64| b as f64 / (1024.0 * 1024.0 * 1024.0);
    let mut o = String::new();
    let looked = if sample.source == "inventory" {
        format!(
            "classes, sizes and ages of {} objects from the inventory",
            sample.objects.len()
        )
    } else {
        format!("{} looked at with HeadObject", sample.objects.len())
    };
    push_line!(
        o,
        "{} keys in {lots} lots; {looked}{}",
        sample.keys,
        if sample.missing > 0 {
            format!(" ({} missing)", sample.missing)
        } else {
            String::new()
        }
    );
    push_line!(
        o,
        "{} restores ({:.1} GiB), {} already in the target class, {:.1} GiB to copy",
        e.restores,
        gib(e.restore_bytes),
        e.already_in_target,
        gib(e.copy_bytes)
    );
    push_line!(
        o,
        "requests: {} HEAD/GET, {} RESTORE, {} COPY/PUT",
        e.get_requests,
        e.restore_requests,
        e.put_requests
    );
    for (what, usd) in [
        ("restore requests", e.restore_request_usd),
        ("retrieval", e.retrieval_usd),
        ("copy requests", e.copy_request_usd),
        ("HEAD/GET requests", e.get_request_usd),
        ("LIST requests", e.list_request_usd),
        ("early deletion", e.early_deletion_usd),
        ("Fargate", e.fargate_usd),
        ("DynamoDB", e.dynamodb_usd),
    ] {
        push_line!(o, "  {what:<20} ${usd:>12.2}");
    }
    push_line!(o, "  {:<20} ${:>12.2}", "total", e.total_usd);
    push_line!(
        o,
        "  {:<20} ${:>12.2}  (restore job + copy job; no polling, no 5 GB+ copies)",
        "S3 Batch Operations",
        e.batch_operations_usd
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_heads_follow_what_the_worker_checks() {
        let none = ListFields::default();
        assert_eq!(extra_heads_per_copy(&none, 100, false, false, false), 0.0);
        // --dest: one destination check per copy; plus the new version's check when deleting
        assert_eq!(extra_heads_per_copy(&none, 100, true, true, false), 2.0);
        // a CSV pinning half its keys in place: the current version is looked at for those
        let half = ListFields {
            pinned_in_place: 50,
            ..ListFields::default()
        };
        assert_eq!(extra_heads_per_copy(&half, 100, false, false, false), 0.5);
        assert_eq!(extra_heads_per_copy(&half, 100, false, false, true), 0.0);
        // a pairs list where a quarter of the pairs copy elsewhere
        let pairs = ListFields {
            with_dest: 25,
            ..ListFields::default()
        };
        assert_eq!(extra_heads_per_copy(&pairs, 100, false, false, false), 0.25);
    }
}
