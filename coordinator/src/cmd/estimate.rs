//! `coordinator estimate KEYS_FILE --bucket B --storage-class CLASS`: what the job would cost,
//! before anything runs.
//!
//! The key list is streamed once (counted, and a uniform sample kept by reservoir sampling);
//! the sample is looked at with HeadObject (class, size, age) and the cost model of
//! `thaw_common::cost` scales it to the whole list. With `--sample` at least the number of keys,
//! every key is looked at and the request counts are exact.

use std::io::BufReader;

use anyhow::{bail, Context};
use futures::StreamExt;
use thaw_common::aws::AwsError;
use thaw_common::cost::{
    estimate_sampled, CostJob, Estimate, PlannedAction, PlannedObject, Prices,
};
use thaw_common::keys::KeyReader;
use thaw_common::keystate::{decide, parse_restore_header, Goal, Next, ObjectHead};
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::storage::{RestoreTier, StorageClass};

use super::{out, usage, Global};

/// Flags of `coordinator estimate`.
#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// File with one S3 key per line (`-`: stdin).
    #[arg(value_name = "KEYS_FILE")]
    pub keys_file: String,
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

/// A uniform sample of a stream (Algorithm R) with a fixed seed, so estimates repeat.
struct Reservoir {
    size: usize,
    seen: u64,
    items: Vec<String>,
    rng: u64,
}

impl Reservoir {
    fn new(size: usize) -> Self {
        Self {
            size,
            seen: 0,
            items: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn offer(&mut self, key: String) {
        self.seen += 1;
        if self.items.len() < self.size {
            self.items.push(key);
        } else {
            let j = self.next_rand() % self.seen;
            if (j as usize) < self.size {
                self.items[j as usize] = key;
            }
        }
    }
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

/// Runs `coordinator estimate`.
pub async fn run(g: &Global, a: EstimateArgs) -> anyhow::Result<()> {
    let target: StorageClass = a.storage_class.parse().map_err(usage)?;
    let tier: RestoreTier = a.restore_tier.parse().map_err(usage)?;
    let prices = match &a.prices {
        Some(p) => serde_json::from_slice::<Prices>(
            &std::fs::read(p).with_context(|| format!("reading prices {}", p.display()))?,
        )
        .with_context(|| format!("parsing prices {}", p.display()))?,
        None => Prices::default(),
    };
    let input: Box<dyn std::io::Read> = if a.keys_file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(&a.keys_file)
                .with_context(|| format!("opening key list {}", a.keys_file))?,
        )
    };
    let mut sample = Reservoir::new(a.sample as usize);
    for line in KeyReader::user_list(BufReader::new(input)) {
        sample.offer(
            line.with_context(|| format!("key list {}", a.keys_file))?
                .key,
        );
    }
    if sample.seen == 0 {
        bail!("key list {} holds no keys", a.keys_file);
    }
    let lots = lot_sizes(sample.seen, LotSpec::Size(a.lot_size.max(1)))?.len() as u64;

    let aws = g.aws().await?;
    let s3 = aws.s3();
    let now = std::time::SystemTime::now();
    let goal = Goal {
        target,
        tier,
        days: 1,
        in_place: true,
    };
    let looked: Vec<Looked> = futures::stream::iter(sample.items.iter())
        .map(|key| {
            let s3 = s3.clone();
            let bucket = a.bucket.clone();
            async move {
                match s3.head_object().bucket(&bucket).key(key).send().await {
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
    let weight = sample.seen as f64 / sample.items.len() as f64;
    let hours = sample.seen as f64 / a.keys_per_second.max(0.001) / 3600.0;
    let job = CostJob {
        target,
        tier,
        polls_per_restore: a.polls_per_restore,
        multipart_threshold: a.multipart_threshold,
        part_size: a.part_size,
        lots,
        worker_hours_per_lot: hours / lots as f64,
        task_vcpu: a.task_vcpu,
        task_gb: a.task_gb,
        spot: a.spot,
        ddb_writes_per_1000: 4.0,
    };
    let e = estimate_sampled(&objects, weight, &job, &prices);
    if a.json {
        let doc = serde_json::json!({
            "keys": sample.seen,
            "sampled": sample.items.len(),
            "missing_in_sample": missing,
            "lots": lots,
            "estimate": e,
        });
        return out(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    out(&render(&e, sample.seen, sample.items.len(), missing, lots))
}

fn render(e: &Estimate, keys: u64, sampled: usize, missing: u64, lots: u64) -> String {
    let gib = |b: u64| b as f64 / (1024.0 * 1024.0 * 1024.0);
    let mut o = String::new();
    push_line!(
        o,
        "{keys} keys in {lots} lots; {sampled} looked at with HeadObject{}",
        if missing > 0 {
            format!(" ({missing} missing)")
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
    fn reservoir_keeps_all_when_small_and_size_when_large() {
        let mut r = Reservoir::new(10);
        for i in 0..5 {
            r.offer(i.to_string());
        }
        assert_eq!(r.items.len(), 5);
        let mut r = Reservoir::new(10);
        for i in 0..10_000 {
            r.offer(i.to_string());
        }
        assert_eq!((r.items.len(), r.seen), (10, 10_000));
        // not just the first ten
        assert!(r.items.iter().any(|k| k.parse::<u32>().unwrap_or(0) >= 10));
    }
}
