//! `coordinator estimate KEYS_FILE --bucket B --storage-class CLASS`: what the job would cost,
//! before anything runs.
//!
//! The key list is streamed once (counted, and a uniform sample kept by reservoir sampling);
//! the sample is looked at with HeadObject (class, size, age) and the cost model of
//! `thaw_common::cost` scales it to the whole list (see `crate::pricing`). With `--sample` at
//! least the number of keys, every key is looked at and the request counts are exact.

use anyhow::bail;
use thaw_common::leave_out::{Age, ByteSize, LeaveOut};
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::storage::{RestoreTier, StorageClass};

use super::timeline::{self, objects_seen, EstimateJob, TimelineArgs};
use super::{out, Global};
use thaw_common::cost::{Estimate, Prices};

use crate::advice::{advise, render as render_advice, Advice, AdviceJob};
use crate::keylist::source::{read_list, ListFormat};
use crate::keylist::KeyList;
use crate::pricing::source::source_fate;
use crate::pricing::{
    extra_heads_per_copy, from_inventory, in_place_share, load_prices, look_at, price, render,
    restore_days, CostSettings, ObjectSample, Sampling,
};

/// Flags of `coordinator estimate`.
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// The job's list, as `launch` takes it: one S3 key per line (`-`: stdin; `s3://...`), a
    /// Batch Operations CSV or pairs list, or an S3 Inventory `manifest.json` (then classes, sizes
    /// and ages come from the inventory, with no HeadObject).
    #[arg(value_name = "KEYS_FILE", required_unless_present = "keys")]
    pub keys_file: Option<String>,
    /// Format of KEYS_FILE [default: guessed as `launch` does].
    #[arg(long, value_enum, env = "THAW_FORMAT")]
    pub format: Option<ListFormat>,
    /// Bucket holding the objects.
    #[arg(long, env = "THAW_BUCKET", required_unless_present = "keys")]
    pub bucket: Option<String>,
    /// Class every object must end in.
    #[arg(long, env = "THAW_STORAGE_CLASS")]
    pub storage_class: StorageClass,
    /// Restore tier: bulk, standard or expedited.
    #[arg(long, env = "THAW_RESTORE_TIER", default_value = "bulk")]
    pub restore_tier: RestoreTier,
    /// Keys looked at with HeadObject to learn classes, sizes and ages.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub sample: u64,
    /// Lots of this many keys (for the Fargate estimate and which lots are sorted).
    #[arg(long, env = "THAW_LOT_SIZE", default_value_t = 5000)]
    pub lot_size: u64,
    /// Split the list into this many lots instead, as `launch --lots N` does.
    #[arg(long, env = "THAW_LOTS", conflicts_with = "lot_size", value_parser = clap::value_parser!(u64).range(1..))]
    pub lots: Option<u64>,
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
    /// Leave objects smaller than this where they are (e.g. `128KiB`), as `launch` would: left
    /// out of the estimate and counted.
    #[arg(long, env = "THAW_MIN_SIZE")]
    pub min_size: Option<ByteSize>,
    /// Leave objects last modified less than this long ago where they are (e.g. `90d`), as
    /// `launch` would.
    #[arg(long, env = "THAW_MIN_AGE")]
    pub min_age: Option<Age>,
    /// The source is a requester-pays bucket of another account: the sample's HeadObject calls
    /// send `x-amz-request-payer: requester`, as `launch --request-payer` does.
    #[arg(long, env = "THAW_REQUEST_PAYER")]
    pub request_payer: bool,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The simulated timeline.
    #[command(flatten)]
    pub timeline: TimelineArgs,
}

/// Runs `coordinator estimate`.
pub async fn run(g: &Global, a: EstimateArgs) -> anyhow::Result<()> {
    let (target, tier) = (a.storage_class, a.restore_tier);
    let task = (a.task_vcpu, a.task_gb, a.spot);
    let prices = load_prices(a.prices.as_deref())?;
    let (Some(keys_file), Some(bucket)) = (&a.keys_file, &a.bucket) else {
        let keys = a.timeline.keys.unwrap_or(0);
        let lot_size = a.lots.map_or(a.lot_size, |n| keys.div_ceil(n).max(1));
        return out(&timeline::what_if(
            &a.timeline,
            lot_size,
            tier,
            task,
            &prices,
        )?);
    };
    let leave_out = LeaveOut {
        min_size: a.min_size.map(|s| s.0),
        min_age_secs: a.min_age.map(|d| d.0),
    };
    let keys = read_list(g.aws(), keys_file, a.format, bucket, target, &leave_out).await?;
    if keys.count == 0 {
        bail!("key list {keys_file} holds no keys");
    }
    let spec = a
        .lots
        .map_or(LotSpec::Size(a.lot_size.max(1)), LotSpec::Count);
    let sizes = lot_sizes(keys.count, spec)?;
    let lots = sizes.len() as u64;
    let sample = match &keys.known_objects {
        Some(known) => from_inventory(known, &keys, &sizes)?,
        None => {
            look_at(
                &g.aws()?.s3(),
                bucket,
                &keys,
                true,
                target,
                tier,
                &sizes,
                Sampling {
                    size: a.sample as usize,
                    leave_out,
                    request_payer: a.request_payer,
                },
            )
            .await?
        }
    };
    let (e, advice) = cost_and_advice(g, &a, bucket, &keys, &sample, lots, &prices).await?;
    let job = EstimateJob {
        keys: keys.count,
        lot_size: sizes.iter().copied().max().unwrap_or(a.lot_size),
        tier,
        objects: objects_seen(&sample.objects),
        task,
    };
    let timeline = timeline::for_estimate(&a.timeline, &job)?;
    if a.json {
        let doc = serde_json::json!({
            "keys": sample.keys,
            "sampled": sample.objects.len(),
            "sample_source": sample.source,
            "missing_in_sample": sample.missing,
            "lots": lots,
            "estimate": e,
            "advice": advice,
            "timeline": timeline,
        });
        return out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    let lines = if a.timeline.timeline {
        timeline.long()
    } else {
        timeline.short()
    };
    out(&format!(
        "{}{}{}{lines}{}",
        keys.left_out.lines(),
        render(&e, &sample, lots),
        restore_days::render(&e),
        render_advice(&advice)
    ))
}

/// The cost and the advice. The estimate takes neither `--dest` nor `--delete-source-version`:
/// its copies are in place (or where a pairs list says), and the bucket's versioning decides
/// whether they remove their source.
async fn cost_and_advice(
    g: &Global,
    a: &EstimateArgs,
    bucket: &str,
    keys: &KeyList,
    sample: &ObjectSample,
    lots: u64,
    prices: &Prices,
) -> anyhow::Result<(Estimate, Advice)> {
    let reader = g.aws().ok().map(|aws| aws.s3());
    let elsewhere = keys.fields.with_dest > 0;
    let fate = source_fate(reader.as_ref(), bucket, false, elsewhere).await;
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
        in_place: in_place_share(&keys.fields, keys.count, false),
        source_removed: fate.removed,
        restore_days: a.timeline.restore_days,
    };
    let e = price(sample, a.storage_class, a.restore_tier, &settings, prices);
    let job = AdviceJob {
        bucket,
        destination: None,
        target: a.storage_class,
        source: &fate,
    };
    let advice = advise(reader.as_ref(), &job, keys, sample, &e, prices).await?;
    Ok((e, advice))
}
