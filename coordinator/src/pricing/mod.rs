//! What a job will cost, shared by `estimate` and `launch --dry-run`: the settings the cost model
//! needs besides the objects, the request counts a job adds on top of the state machine's, the
//! pricing itself (`thaw_common::cost`) and the lines both commands print. The objects come from
//! [`sample`]: an inventory's own columns, or a sample looked at with HeadObject.

pub mod key_order;
pub mod restore_days;
pub mod sample;
pub mod source;

use anyhow::Context;
use thaw_common::cost::{estimate_sampled, CostJob, Estimate, Prices};
use thaw_common::storage::{RestoreTier, StorageClass};

use crate::keylist::ListFields;
pub use sample::{from_inventory, look_at, ObjectSample, Sampling};

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
    /// The share of the keys copied in place (see [`in_place_share`]).
    pub in_place: f64,
    /// The copies remove their source (see [`source::SourceFate`]).
    pub source_removed: bool,
    /// `--restore-days`: the restored copies' storage is billed for them.
    pub restore_days: u32,
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

/// The share of the keys copied in place: none with `--dest` (`dest_all`), else those not
/// paired with another object.
pub fn in_place_share(fields: &ListFields, keys: u64, dest_all: bool) -> f64 {
    if dest_all {
        0.0
    } else if keys == 0 {
        1.0
    } else {
        1.0 - (fields.with_dest as f64 / keys as f64).min(1.0)
    }
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
        sorted: sample.sorted,
        in_place: s.in_place,
        source_removed: s.source_removed,
        restore_days: s.restore_days,
    };
    let mut e = estimate_sampled(&sample.objects, sample.weight, &job, prices);
    add_left_out_heads(&mut e, sample, prices);
    e
}

/// The HeadObject of every object the workers will leave where they are (`--min-size`,
/// `--min-age` decided after the HEAD: lists that tell no sizes): not in the sample's objects,
/// but looked at all the same, but in sorted lots, whose listing shows sizes and dates.
fn add_left_out_heads(e: &mut Estimate, sample: &ObjectSample, prices: &Prices) {
    let sampled: u64 = sample.left_out.values().map(|(n, _)| n).sum();
    let scattered = 1.0 - sample.sorted.share();
    let heads = (sampled as f64 * sample.weight * scattered).round() as u64;
    let usd = heads as f64 * prices.get_per_1000 / 1000.0;
    e.get_requests += heads;
    e.get_request_usd += usd;
    e.total_usd += usd;
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
        "first pass by listing: {} of {} keys in sorted lots ({} of {lots} lots)",
        e.sorted_lots.keys,
        e.sorted_lots.of_keys,
        e.sorted_lots.lots
    );
    push_line!(
        o,
        "requests: {} HEAD/GET, {} RESTORE, {} COPY/PUT, {} LIST",
        e.get_requests,
        e.restore_requests,
        e.put_requests,
        e.list_requests
    );
    for (what, usd) in [
        ("restore requests", e.restore_request_usd),
        ("retrieval", e.retrieval_usd),
        ("copy requests", e.copy_request_usd),
        ("HEAD/GET requests", e.get_request_usd),
        ("LIST requests", e.list_request_usd),
        ("early deletion", e.early_deletion_usd),
        ("restored copies", e.restored_copies_usd),
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
    fn objects_left_out_after_their_head_cost_that_head() {
        use thaw_common::cost::SortedLots;
        use thaw_common::leave_out::LeftOutReason;
        let sample = ObjectSample {
            keys: 40,
            objects: Vec::new(),
            weight: 10.0,
            missing: 0,
            source: "HeadObject",
            left_out: [
                (LeftOutReason::MinSize, (3, 300)),
                (LeftOutReason::MinAge, (1, 5)),
            ]
            .into_iter()
            .collect(),
            sorted: SortedLots::default(),
        };
        let settings = CostSettings {
            lots: 1,
            keys_per_second: 50.0,
            task_vcpu: 1.0,
            task_gb: 2.0,
            spot: false,
            polls_per_restore: 0.0,
            multipart_threshold: 5 << 30,
            part_size: 256 << 20,
            extra_heads_per_copy: 0.0,
            ddb_writes_per_1000: 0.0,
            list_requests: 0,
            in_place: 1.0,
            source_removed: true,
            restore_days: 3,
        };
        let p = Prices::default();
        let e = price(
            &sample,
            StorageClass::Standard,
            RestoreTier::Bulk,
            &settings,
            &p,
        );
        assert_eq!(e.get_requests, 40, "{e:?}");
        assert!(
            (e.get_request_usd - 40.0 * 0.0004 / 1000.0).abs() < 1e-15,
            "{e:?}"
        );
        let fargate = e.fargate_usd + e.dynamodb_usd;
        assert!(
            (e.total_usd - e.get_request_usd - fargate).abs() < 1e-12,
            "{e:?}"
        );
        // in sorted lots the listing shows sizes and dates: half the keys there, half the HEADs
        let mut sorted = SortedLots::default();
        sorted.add_lot(20, true);
        sorted.add_lot(20, false);
        let half = ObjectSample { sorted, ..sample };
        let e = price(
            &half,
            StorageClass::Standard,
            RestoreTier::Bulk,
            &settings,
            &p,
        );
        assert_eq!(e.get_requests, 20, "{e:?}");
    }

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

    #[test]
    fn copies_elsewhere_are_not_copied_in_place() {
        let none = ListFields::default();
        assert_eq!(in_place_share(&none, 100, false), 1.0);
        assert_eq!(in_place_share(&none, 100, true), 0.0);
        assert_eq!(in_place_share(&none, 0, false), 1.0);
        let pairs = ListFields {
            with_dest: 25,
            ..ListFields::default()
        };
        assert_eq!(in_place_share(&pairs, 100, false), 0.75);
    }
}
