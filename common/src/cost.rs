//! What a job will cost before it runs: restore requests and retrieval, copy requests, HEAD
//! polls, early deletion of archived objects, Fargate time and DynamoDB writes, with the price of
//! the same work on S3 Batch Operations for comparison.
//!
//! The request model is the worker's own: an archived object costs HEAD, RESTORE, one HEAD per
//! poll, and COPY; an object in another class HEAD and COPY; an object already in the target
//! class one HEAD; objects above the multipart threshold add CreateMultipartUpload, one
//! UploadPartCopy per part, CompleteMultipartUpload and GetObjectTagging. In a sorted lot
//! ([`SortedLots`]) the first pass is listed instead: archived, waiting and done objects take no
//! first HEAD, and polls are ListObjectsV2 pages. Prices default to a
//! built-in us-east-1 list (see [`Prices::default`]) that a JSON file can override field by field.

use std::collections::BTreeMap;

use crate::recheck::shortest_safe_restore_days;
use crate::restore_listing::{worth_listing, PAGE_KEYS};
use crate::spec::part_size_for;
use crate::storage::{RestoreTier, StorageClass};

/// Unit prices in USD.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Prices {
    /// Restore request price per 1,000, by `CLASS/tier` (e.g. `GLACIER/bulk`).
    pub restore_per_1000: BTreeMap<String, f64>,
    /// Retrieval price per GB, by `CLASS/tier`.
    pub retrieval_per_gb: BTreeMap<String, f64>,
    /// PUT/COPY/POST request price per 1,000, by target class.
    pub put_per_1000: BTreeMap<String, f64>,
    /// GET/HEAD request price per 1,000.
    pub get_per_1000: f64,
    /// Storage price per GB-month, by class (early deletion charges, and the monthly cost of
    /// the selection before and after the move).
    pub storage_gb_month: BTreeMap<String, f64>,
    /// Intelligent-Tiering monitoring and automation, per 1,000 objects of 128 KB or more a
    /// month.
    pub it_monitoring_per_1000: f64,
    /// Minimum storage duration in days, by class.
    pub min_days: BTreeMap<String, f64>,
    /// Fargate price per vCPU-hour.
    pub fargate_vcpu_hour: f64,
    /// Fargate price per GB-hour.
    pub fargate_gb_hour: f64,
    /// Discount of Fargate Spot against on-demand (0.7 = 70% cheaper).
    pub spot_discount: f64,
    /// DynamoDB on-demand price per million write request units.
    pub dynamodb_per_million_writes: f64,
    /// S3 Batch Operations price per job.
    pub batch_per_job: f64,
    /// S3 Batch Operations price per million objects.
    pub batch_per_million_objects: f64,
}

fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

impl Default for Prices {
    /// us-east-1 list prices at the time of writing; treat as defaults, not truth.
    fn default() -> Self {
        Self {
            restore_per_1000: map(&[
                ("GLACIER/expedited", 10.0),
                ("GLACIER/standard", 0.05),
                ("GLACIER/bulk", 0.0),
                ("DEEP_ARCHIVE/standard", 0.10),
                ("DEEP_ARCHIVE/bulk", 0.025),
            ]),
            retrieval_per_gb: map(&[
                ("GLACIER/expedited", 0.03),
                ("GLACIER/standard", 0.01),
                ("GLACIER/bulk", 0.0),
                ("DEEP_ARCHIVE/standard", 0.02),
                ("DEEP_ARCHIVE/bulk", 0.0025),
            ]),
            put_per_1000: map(&[
                ("STANDARD", 0.005),
                ("STANDARD_IA", 0.01),
                ("ONEZONE_IA", 0.01),
                ("INTELLIGENT_TIERING", 0.005),
                ("GLACIER_IR", 0.02),
                ("GLACIER", 0.03),
                ("DEEP_ARCHIVE", 0.05),
            ]),
            get_per_1000: 0.0004,
            storage_gb_month: map(&[
                ("STANDARD", 0.023),
                ("STANDARD_IA", 0.0125),
                ("ONEZONE_IA", 0.01),
                // the Frequent Access tier: what a fresh copy is billed
                ("INTELLIGENT_TIERING", 0.023),
                ("GLACIER_IR", 0.004),
                ("GLACIER", 0.0036),
                ("DEEP_ARCHIVE", 0.00099),
            ]),
            it_monitoring_per_1000: 0.0025,
            min_days: map(&[
                ("STANDARD_IA", 30.0),
                ("ONEZONE_IA", 30.0),
                ("GLACIER_IR", 90.0),
                ("GLACIER", 90.0),
                ("DEEP_ARCHIVE", 180.0),
            ]),
            fargate_vcpu_hour: 0.04048,
            fargate_gb_hour: 0.004445,
            spot_discount: 0.7,
            dynamodb_per_million_writes: 0.625,
            batch_per_job: 0.25,
            batch_per_million_objects: 1.0,
        }
    }
}

/// What the worker will do with an object, as `keystate::decide` says from its HeadObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedAction {
    /// Already in the target class: one HEAD (none in a sorted lot).
    Skip,
    /// Readable now: HEAD, COPY.
    Copy,
    /// Archived: HEAD (none in a sorted lot), RESTORE, HEAD after the wait (plus polls), COPY.
    RestoreThenCopy,
    /// A restore is already running: HEAD (none in a sorted lot), HEAD after the wait (plus
    /// polls), COPY.
    WaitThenCopy,
    /// Missing, SSE-C, refused: one HEAD, then recorded as failed.
    Fail,
}

/// What is known about one object before the job runs (from an inventory or a HEAD sample).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedObject {
    /// The class its restore is priced as (GLACIER or DEEP_ARCHIVE for archived objects,
    /// including Intelligent-Tiering's archive tiers), else its current class.
    pub class: String,
    /// Size in bytes.
    pub size: u64,
    /// Days since it was written (for early deletion), when known.
    pub age_days: Option<f64>,
    /// What the worker will do with it.
    pub action: PlannedAction,
    /// Its restore keeps a temporary copy billed for `--restore-days` (GLACIER, DEEP_ARCHIVE);
    /// Intelligent-Tiering's archive tiers take no days and move the object back instead.
    pub restored_copy: bool,
}

/// The job settings the estimate depends on.
#[derive(Debug, Clone)]
pub struct CostJob {
    /// Target class.
    pub target: StorageClass,
    /// Restore tier.
    pub tier: RestoreTier,
    /// Expected HEAD polls per archived object while its restore runs.
    pub polls_per_restore: f64,
    /// Multipart threshold in bytes.
    pub multipart_threshold: u64,
    /// Requested part size in bytes.
    pub part_size: u64,
    /// Number of lots (one worker each).
    pub lots: u64,
    /// Expected worker run time per lot, in hours (all runs, excluding waits between them).
    pub worker_hours_per_lot: f64,
    /// vCPU and GB of one worker task.
    pub task_vcpu: f64,
    /// Memory of one worker task, GB.
    pub task_gb: f64,
    /// Fargate Spot instead of on-demand.
    pub spot: bool,
    /// DynamoDB writes per 1,000 keys (checkpoints), measured at about 4.
    pub ddb_writes_per_1000: f64,
    /// HeadObject calls per copied object on top of the state machine's: the destination check
    /// of copies elsewhere, the current-version check of pinned in-place copies, and the check
    /// of the new version before `--delete-source-version` deletes the old one.
    pub extra_heads_per_copy: f64,
    /// ListObjectsV2 pages the coordinator reads to build the list (`--from`), priced as LIST.
    pub list_requests: u64,
    /// The lots whose first pass is listed, and their keys.
    pub sorted: SortedLots,
    /// The share of the keys copied in place (0 to 1; 1 without `--dest` or pairs naming other
    /// objects). A listing decides the first step of these only: a copy elsewhere looks at its
    /// destination before anything else (a HEAD), so its source is HEADed first too.
    pub in_place: f64,
    /// The source object is gone after its copy (see [`source_removed`]): only then is an
    /// early deletion charged, and only then does its storage stop.
    pub source_removed: bool,
    /// `--restore-days`: how long each restored copy is kept, and billed (see
    /// [`restored_copies_usd`]).
    pub restore_days: u32,
}

/// Whether a job's copies remove their source: an in-place copy in an unversioned bucket
/// overwrites it, `--delete-source-version` deletes it; a copy elsewhere (`--dest`, a pairs
/// list naming other objects) or in place in a versioned bucket (the old version stays,
/// noncurrent) removes nothing. S3 bills early deletion only for an object deleted, overwritten
/// or transitioned before its minimum duration.
pub fn source_removed(
    delete_source_version: bool,
    copies_elsewhere: bool,
    versioned: bool,
) -> bool {
    delete_source_version || (!copies_elsewhere && !versioned)
}

/// The job's lots whose first pass is listed (worker `first_steps`): sorted lots
/// ([`crate::plan::KeyOrder::Sorted`]) holding enough keys for one listing of them to cost no
/// more than a HEAD each ([`worth_listing`]). Their archived, waiting and done objects take no
/// first HEAD, and their restores are polled by listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SortedLots {
    /// Keys in all the job's lots.
    pub of_keys: u64,
    /// Keys in the lots listed.
    pub keys: u64,
    /// Lots listed.
    pub lots: u64,
    /// ListObjectsV2 pages of their first pass: one per 1,000 keys of each lot. A floor: the
    /// objects between a lot's keys that are not in the job are listed too.
    pub first_pass_pages: u64,
}

impl SortedLots {
    /// One more lot of `keys` keys, sorted or not.
    pub fn add_lot(&mut self, keys: u64, sorted: bool) {
        self.of_keys += keys;
        if sorted && worth_listing(keys, keys) {
            self.keys += keys;
            self.lots += 1;
            self.first_pass_pages += keys.div_ceil(PAGE_KEYS);
        }
    }

    /// The share of the job's keys in lots listed (0 to 1).
    pub fn share(&self) -> f64 {
        if self.of_keys == 0 {
            0.0
        } else {
            self.keys as f64 / self.of_keys as f64
        }
    }

    /// ListObjectsV2 pages of the looks at restores in the lots listed, `share` of whose keys
    /// wait for a restore, each looked at `looks` times: a look pages through every object from
    /// the lot's first waiting key to its last, so a page per 1,000 keys of the lot (lots taken
    /// as equal, the waiting keys spread over them; a floor, as objects between the lot's keys
    /// that are not in the job are listed too); `None` when a look at so few keys is not worth
    /// listing (the worker HEADs them).
    fn poll_pages(&self, share: f64, looks: f64) -> Option<f64> {
        if self.lots == 0 || share <= 0.0 {
            return Some(0.0);
        }
        let per_lot = self.keys as f64 / self.lots as f64;
        let waiting = share * per_lot;
        if !worth_listing(waiting.round() as u64, per_lot.round() as u64) {
            return None;
        }
        Some(self.lots as f64 * looks * (per_lot / PAGE_KEYS as f64).ceil())
    }
}

/// The estimate, line by line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Objects in the job.
    pub objects: u64,
    /// Objects that need a restore.
    pub restores: u64,
    /// Objects already in the target class (one HEAD in a scattered lot, nothing else).
    pub already_in_target: u64,
    /// Objects that will fail (missing, SSE-C, refused): one HEAD each.
    pub failing: u64,
    /// Bytes to restore.
    pub restore_bytes: u64,
    /// Bytes restored into a temporary copy (not Intelligent-Tiering's archive tiers).
    pub restored_copy_bytes: u64,
    /// Bytes to copy.
    pub copy_bytes: u64,
    /// HEAD/GET requests (HEADs, polls, tag reads).
    pub get_requests: u64,
    /// RESTORE requests.
    pub restore_requests: u64,
    /// COPY/PUT-class requests (CopyObject, multipart create/part/complete).
    pub put_requests: u64,
    /// LIST requests (ListObjectsV2 pages of a `--from` listing, of the first pass of sorted
    /// lots and of their restores' looks).
    pub list_requests: u64,
    /// The lots whose first pass is listed.
    pub sorted_lots: SortedLots,
    /// USD: LIST requests.
    pub list_request_usd: f64,
    /// USD: restore requests.
    pub restore_request_usd: f64,
    /// USD: retrieval per GB.
    pub retrieval_usd: f64,
    /// USD: COPY/PUT requests.
    pub copy_request_usd: f64,
    /// USD: HEAD/GET requests.
    pub get_request_usd: f64,
    /// USD: early deletion of archived objects copied before their minimum duration.
    pub early_deletion_usd: f64,
    /// `--restore-days` the restored copies are priced at.
    pub restore_days: u32,
    /// USD: the restored copies' storage, STANDARD from each restore's completion to its expiry
    /// (see [`restored_copy_days`]).
    pub restored_copies_usd: f64,
    /// The fewest `--restore-days` safe for the job's slowest restores
    /// ([`crate::recheck::shortest_safe_restore_days`]): 1 for GLACIER, 3 for DEEP_ARCHIVE Bulk.
    pub shortest_restore_days: u32,
    /// USD: the restored copies' storage at `shortest_restore_days`, for the saving a shorter
    /// restore would make.
    pub restored_copies_shortest_usd: f64,
    /// The copies remove their source ([`CostJob::source_removed`]): a restored copy goes with
    /// its object, so it is billed only until the copy, and the two figures above are upper
    /// bounds (as is the saving between them).
    pub restored_copies_end_at_copy: bool,
    /// USD: Fargate.
    pub fargate_usd: f64,
    /// USD: DynamoDB writes.
    pub dynamodb_usd: f64,
    /// USD: everything above.
    pub total_usd: f64,
    /// USD: the same work with S3 Batch Operations (two jobs, restore then copy, plus the same
    /// S3 requests and retrieval; no Fargate, no DynamoDB).
    pub batch_operations_usd: f64,
}

/// Estimates a job over `objects` (streamed: memory does not grow with the count).
pub fn estimate<'a>(
    objects: impl IntoIterator<Item = &'a PlannedObject>,
    job: &CostJob,
    prices: &Prices,
) -> Estimate {
    estimate_sampled(objects, 1.0, job, prices)
}

/// Estimates a job from a sample of its objects, each standing for `weight` objects (a job of
/// 10M keys estimated from 1,000 HEADs uses a weight of 10,000).
pub fn estimate_sampled<'a>(
    objects: impl IntoIterator<Item = &'a PlannedObject>,
    weight: f64,
    job: &CostJob,
    prices: &Prices,
) -> Estimate {
    // Counts accumulate per sampled object and are scaled once at the end.
    let mut tally = Tally::default();
    let tier = job.tier.to_string();
    for o in objects {
        tally.add(o, job, prices, &tier);
    }
    let shortest = tally.shortest_days.max(1);
    let at_shortest = tally.copy_byte_days_at[shortest as usize - 1];
    let copies = (tally.copy_byte_days, shortest, at_shortest);
    let mut e = tally.scaled(weight, job, prices);
    add_restored_copies(&mut e, copies, weight, job, prices);
    add_fargate_and_dynamodb(&mut e, job, prices);
    add_totals(&mut e, prices);
    e
}

/// What the sampled objects add up to, before scaling by the sample's weight.
#[derive(Debug, Default)]
struct Tally {
    /// Object, request and byte counts.
    e: Estimate,
    restore_requests_usd: f64,
    retrieval_usd: f64,
    early_deletion_usd: f64,
    /// HEAD polls in scattered lots.
    polls: f64,
    /// Polls in sorted lots (LIST pages, or HEADs when a look is not worth listing).
    sorted_polls: f64,
    /// Objects waiting for a restore (asked by the job or running).
    waiting: f64,
    /// First HEADs (fewer than objects when some lots are sorted).
    first_heads: f64,
    extra_heads: f64,
    /// Restored copies' bytes times their days kept at `--restore-days`, and at 1 to
    /// [`MAX_SHORTEST_DAYS`] days.
    copy_byte_days: f64,
    copy_byte_days_at: [f64; MAX_SHORTEST_DAYS as usize],
    /// The most of the restored objects' shortest safe days.
    shortest_days: u32,
}

/// The most [`crate::recheck::shortest_safe_restore_days`] gives for a documented restore
/// (DEEP_ARCHIVE Bulk, 48 h + the margin: 3).
const MAX_SHORTEST_DAYS: u32 = 3;

fn gb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0 * 1024.0)
}

impl Tally {
    /// Counts one object as the worker will treat it. In the share of sorted lots
    /// ([`SortedLots::share`]), the first pass's listing decides an archived object's restore,
    /// a running restore's wait and a done object's skip without a HEAD; a readable object (its
    /// copy needs what a listing does not show), a missing one and an Intelligent-Tiering one
    /// ([`listable`]) are HEADed first as in a scattered lot.
    fn add(&mut self, o: &PlannedObject, job: &CostJob, prices: &Prices, tier: &str) {
        let listed = first_step_listed(job);
        let e = &mut self.e;
        e.objects += 1;
        match o.action {
            PlannedAction::Skip => {
                self.first_heads += if listable(o) { 1.0 - listed } else { 1.0 };
                e.already_in_target += 1;
                return;
            }
            PlannedAction::Fail => {
                self.first_heads += 1.0;
                e.failing += 1;
                return;
            }
            PlannedAction::Copy => self.first_heads += 1.0,
            PlannedAction::WaitThenCopy => {
                e.get_requests += 1; // HEAD after the wait
                self.add_wait(o, job);
            }
            PlannedAction::RestoreThenCopy => {
                self.add_wait(o, job);
                self.add_restore(o, job, prices, tier);
            }
        }
        if job.source_removed {
            self.early_deletion_usd += early_deletion_usd(o, prices);
        }
        self.add_copy(o, job);
    }

    /// The first HEAD and the polls of an object waiting for its restore: in sorted lots the
    /// polls are looks by listing, priced at the end ([`SortedLots::poll_pages`]).
    fn add_wait(&mut self, o: &PlannedObject, job: &CostJob) {
        let listed = job.sorted.share();
        let first_listed = first_step_listed(job);
        self.first_heads += if listable(o) { 1.0 - first_listed } else { 1.0 };
        self.waiting += 1.0;
        self.polls += job.polls_per_restore * (1.0 - listed);
        self.sorted_polls += job.polls_per_restore * listed;
    }

    /// The restore of an archived object: its request, retrieval and the HEAD after the wait.
    fn add_restore(&mut self, o: &PlannedObject, job: &CostJob, prices: &Prices, tier: &str) {
        // DEEP_ARCHIVE has no Expedited tier: the worker asks Standard (`restore_tier_for`).
        let tier = if o.class == "DEEP_ARCHIVE" && tier == "expedited" {
            "standard"
        } else {
            tier
        };
        let key = format!("{}/{tier}", o.class);
        let e = &mut self.e;
        e.restores += 1;
        e.restore_bytes += o.size;
        if o.restored_copy {
            e.restored_copy_bytes += o.size;
            let size = o.size as f64;
            self.copy_byte_days += size * restored_copy_days(job.restore_days, &o.class, job.tier);
            for (d, at) in (1..).zip(self.copy_byte_days_at.iter_mut()) {
                *at += size * restored_copy_days(d, &o.class, job.tier);
            }
            let longest = job.tier.restore_secs(&o.class).1;
            self.shortest_days = self
                .shortest_days
                .max(shortest_safe_restore_days(longest).min(MAX_SHORTEST_DAYS));
        }
        e.restore_requests += 1;
        e.get_requests += 1; // HEAD after the wait
        self.restore_requests_usd +=
            prices.restore_per_1000.get(&key).copied().unwrap_or(0.0) / 1000.0;
        self.retrieval_usd +=
            prices.retrieval_per_gb.get(&key).copied().unwrap_or(0.0) * gb(o.size);
    }

    /// The copy: one CopyObject, or a multipart upload (create, parts, complete) and its
    /// GetObjectTagging; plus the HEADs the job adds per copy.
    fn add_copy(&mut self, o: &PlannedObject, job: &CostJob) {
        let e = &mut self.e;
        e.copy_bytes += o.size;
        self.extra_heads += job.extra_heads_per_copy;
        if o.size > job.multipart_threshold {
            let parts = o.size.div_ceil(part_size_for(o.size, job.part_size));
            e.put_requests += parts + 2;
            e.get_requests += 1; // GetObjectTagging
        } else {
            e.put_requests += 1;
        }
    }

    /// The counts scaled to the whole job, and the S3 request, retrieval and early deletion
    /// dollars.
    fn scaled(self, weight: f64, job: &CostJob, prices: &Prices) -> Estimate {
        let (poll_heads, poll_pages) = self.sorted_looks(job, weight);
        let mut e = self.e;
        let heads = self.polls + self.extra_heads + self.first_heads + poll_heads;
        e.get_requests = ((e.get_requests as f64 + heads) * weight).round() as u64;
        e.list_requests = job.list_requests + job.sorted.first_pass_pages + poll_pages;
        e.sorted_lots = job.sorted;
        let w = |n: u64| (n as f64 * weight).round() as u64;
        e.objects = w(e.objects);
        e.restores = w(e.restores);
        e.already_in_target = w(e.already_in_target);
        e.failing = w(e.failing);
        e.restore_bytes = w(e.restore_bytes);
        e.restored_copy_bytes = w(e.restored_copy_bytes);
        e.copy_bytes = w(e.copy_bytes);
        e.restore_requests = w(e.restore_requests);
        e.put_requests = w(e.put_requests);
        let target = job.target.as_str();
        let put_price = prices.put_per_1000.get(target).copied().unwrap_or(0.005) / 1000.0;
        e.restore_request_usd = self.restore_requests_usd * weight;
        e.retrieval_usd = self.retrieval_usd * weight;
        e.copy_request_usd = e.put_requests as f64 * put_price;
        e.get_request_usd = e.get_requests as f64 * prices.get_per_1000 / 1000.0;
        e.early_deletion_usd = self.early_deletion_usd * weight;
        e
    }

    /// The looks at restores in sorted lots: (HEADs, before scaling, when a look is not worth
    /// listing; LIST pages, for the whole job, when it is). Each of a waiting object's polls and
    /// the look that finds its restore done list first; the HEAD after the wait stays.
    fn sorted_looks(&self, job: &CostJob, weight: f64) -> (f64, u64) {
        let objects = self.e.objects as f64;
        if self.waiting == 0.0 || objects == 0.0 {
            return (0.0, 0);
        }
        // the waiting share of all the job's keys, those left out included (the lots hold them)
        let keys = job.sorted.of_keys as f64;
        let share = if keys > 0.0 {
            (self.waiting * weight / keys).min(1.0)
        } else {
            self.waiting / objects
        };
        let looks = job.polls_per_restore + 1.0;
        match job.sorted.poll_pages(share, looks) {
            Some(pages) => (0.0, pages.round() as u64),
            None => (self.sorted_polls, 0),
        }
    }
}

/// The share of the keys whose first step a listing decides: those in sorted lots copied in
/// place ([`CostJob::in_place`]).
fn first_step_listed(job: &CostJob) -> f64 {
    job.sorted.share() * job.in_place.clamp(0.0, 1.0)
}

/// Whether a listing can decide the first step of `o` (worker `listed_plan::first_step`): not of
/// an Intelligent-Tiering object, whose access tier a listing does not show (in an archive tier
/// it is priced as GLACIER or DEEP_ARCHIVE, with no restored copy).
fn listable(o: &PlannedObject) -> bool {
    o.restored_copy && o.class != "INTELLIGENT_TIERING"
}

/// Below this, STANDARD_IA, ONEZONE_IA and GLACIER_IR bill 128 KB, and the 40 KB each object
/// carries in GLACIER and DEEP_ARCHIVE weighs most.
pub const SMALL: u64 = 128 * 1024;
/// What GLACIER and DEEP_ARCHIVE add to each object: 32 KB at the archive price (its index)...
pub const ARCHIVE_INDEX: u64 = 32 * 1024;
/// ...and 8 KB at the STANDARD price (its name and metadata).
pub const ARCHIVE_NAME: u64 = 8 * 1024;

/// The bytes S3 bills for an object of `size` bytes in `class` each month: at the class's price,
/// and at the STANDARD price.
pub fn billed_bytes(class: &str, size: u64) -> (u64, u64) {
    match class {
        "STANDARD_IA" | "ONEZONE_IA" | "GLACIER_IR" => (size.max(SMALL), 0),
        "GLACIER" | "DEEP_ARCHIVE" => (size + ARCHIVE_INDEX, ARCHIVE_NAME),
        _ => (size, 0),
    }
}

/// The early deletion charge of removing `o` from its class: the rest of the class's minimum
/// storage duration (GLACIER 90 days, DEEP_ARCHIVE 180, GLACIER_IR 90, the IA classes 30) at its
/// storage price, on the bytes billed at that price ([`billed_bytes`]: the 128 KB minimum, the
/// 32 KB archive index), for an object younger than that; 0 when its age is unknown or past it.
/// The age is the time since the object was written (LastModified); S3 counts an object moved
/// by a lifecycle transition from the transition, so such an object may be billed more.
pub fn early_deletion_usd(o: &PlannedObject, prices: &Prices) -> f64 {
    match (
        o.age_days,
        prices.min_days.get(&o.class),
        prices.storage_gb_month.get(&o.class),
    ) {
        (Some(age), Some(min), Some(price)) if age < *min => {
            let (at_class, _) = billed_bytes(&o.class, o.size);
            (min - age) / 30.0 * price * gb(at_class)
        }
        _ => 0.0,
    }
}

/// The days a restored copy of an object restored from `class` at `tier` is billed, on average,
/// at `--restore-days` `days`. S3 dates the expiry from the restore *request*: "Amazon S3 adds
/// the number of days that you specify to the time that you request to restore the object, and
/// then rounds to the next day at midnight UTC" (S3 user guide, "Restoring an archived object"),
/// and bills the copy from the restore's completion to that expiry. A request made a fraction
/// `u` into its day reaches the next midnight `1 - u` after `request + days`, so the copy is kept
/// `days + (1 - u) - d` for a restore taking `d`, and nothing when that is negative (the copy
/// expires as it is made): the mean over requests spread evenly over the day and `d` uniform over
/// the class and tier's documented range ([`RestoreTier::restore_secs`]). About
/// `days + 0.5 - mean restore time`: GLACIER Bulk (5-12 h) 1 day -> 1.15, 3 -> 3.15;
/// DEEP_ARCHIVE Bulk (24-48 h) 1 day -> 0.17 (most copies expire within hours, or before they
/// can be made), 3 -> 2.0.
pub fn restored_copy_days(days: u32, class: &str, tier: RestoreTier) -> f64 {
    let (lo, hi) = tier.restore_secs(class);
    let (lo, hi) = (lo / 86_400.0, hi / 86_400.0);
    // In closed form (it is asked once per planned object: millions of times): the mean of
    // E[max(0, a - d)] (d uniform over lo..hi) for a = days + u, u uniform over 0..1, is
    // K(days + 1) - K(days) with K a primitive of that expectation.
    let k = |a: f64| {
        let w = hi - lo;
        if a <= lo {
            0.0
        } else if w <= f64::EPSILON {
            (a - lo) * (a - lo) / 2.0
        } else if a < hi {
            (a - lo).powi(3) / (6.0 * w)
        } else {
            let m = (lo + hi) / 2.0;
            w * w / 6.0 + ((a - m).powi(2) - (hi - m).powi(2)) / 2.0
        }
    };
    let d = f64::from(days);
    k(d + 1.0) - k(d)
}

/// The STANDARD storage of restored copies kept `byte_days` (bytes times days, see
/// [`restored_copy_days`]), at the STANDARD price per GB-month of 30 days. The copy is kept to
/// its expiry whether the object was copied within the first hour or on the last day, unless the
/// copy removes the source ([`Estimate::restored_copies_end_at_copy`]).
pub fn restored_copies_usd(byte_days: f64, prices: &Prices) -> f64 {
    let standard = prices
        .storage_gb_month
        .get("STANDARD")
        .copied()
        .unwrap_or(0.023);
    byte_days / (1024.0 * 1024.0 * 1024.0) * standard / 30.0
}

/// The restored copies' storage at the days asked and at the shortest safe days, from the
/// byte-days tallied.
fn add_restored_copies(
    e: &mut Estimate,
    (days, shortest, at_shortest): (f64, u32, f64),
    weight: f64,
    job: &CostJob,
    prices: &Prices,
) {
    e.restore_days = job.restore_days;
    e.restored_copies_usd = restored_copies_usd(days * weight, prices);
    e.shortest_restore_days = shortest;
    e.restored_copies_shortest_usd = restored_copies_usd(at_shortest * weight, prices);
    e.restored_copies_end_at_copy = job.source_removed;
}

impl Estimate {
    /// What the shortest safe `--restore-days` would save on the restored copies' storage (0
    /// at those days or fewer).
    pub fn shortest_days_saving_usd(&self) -> f64 {
        (self.restored_copies_usd - self.restored_copies_shortest_usd).max(0.0)
    }
}

/// Fargate time, DynamoDB writes and the price of the LIST requests.
fn add_fargate_and_dynamodb(e: &mut Estimate, job: &CostJob, prices: &Prices) {
    let hours = job.lots as f64 * job.worker_hours_per_lot;
    let fargate =
        hours * (job.task_vcpu * prices.fargate_vcpu_hour + job.task_gb * prices.fargate_gb_hour);
    e.fargate_usd = if job.spot {
        fargate * (1.0 - prices.spot_discount)
    } else {
        fargate
    };
    e.dynamodb_usd = e.objects as f64 * job.ddb_writes_per_1000 / 1000.0
        * prices.dynamodb_per_million_writes
        / 1e6;
    // LIST is billed at the PUT/COPY/POST/LIST rate of S3 Standard, whatever the objects' class.
    e.list_request_usd = e.list_requests as f64
        * prices
            .put_per_1000
            .get("STANDARD")
            .copied()
            .unwrap_or(0.005)
        / 1000.0;
}

/// The total, and the same work on S3 Batch Operations for comparison.
fn add_totals(e: &mut Estimate, prices: &Prices) {
    let s3 = e.restore_request_usd
        + e.retrieval_usd
        + e.copy_request_usd
        + e.get_request_usd
        + e.list_request_usd
        + e.early_deletion_usd
        + e.restored_copies_usd;
    e.total_usd = s3 + e.fargate_usd + e.dynamodb_usd;
    // Batch Operations: a restore job and a copy job, each billed per object; the same S3 work
    // minus thaw's HEADs (Batch Operations does not poll; it never says when restores finish),
    // and the same restored copies (its restore job's ExpirationInDays).
    let jobs = if e.restores > 0 { 2.0 } else { 1.0 };
    let batch_objects = (e.restores + e.objects - e.already_in_target - e.failing) as f64;
    e.batch_operations_usd = jobs * prices.batch_per_job
        + batch_objects / 1e6 * prices.batch_per_million_objects
        + e.restore_request_usd
        + e.retrieval_usd
        + e.copy_request_usd
        + e.early_deletion_usd
        + e.restored_copies_usd;
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    fn job() -> CostJob {
        CostJob {
            target: StorageClass::StandardIa,
            tier: RestoreTier::Bulk,
            polls_per_restore: 0.0,
            multipart_threshold: 5 * GIB,
            part_size: 256 * 1024 * 1024,
            lots: 1,
            worker_hours_per_lot: 1.0,
            task_vcpu: 1.0,
            task_gb: 2.0,
            spot: false,
            ddb_writes_per_1000: 4.0,
            extra_heads_per_copy: 0.0,
            list_requests: 0,
            sorted: SortedLots::default(),
            in_place: 1.0,
            source_removed: true,
            restore_days: 3,
        }
    }

    /// An object as the worker would see it when moving to STANDARD_IA without a restore yet.
    fn obj(class: &str, size: u64, age: Option<f64>) -> PlannedObject {
        let action = match class {
            "STANDARD_IA" => PlannedAction::Skip,
            "GLACIER" | "DEEP_ARCHIVE" => PlannedAction::RestoreThenCopy,
            _ => PlannedAction::Copy,
        };
        PlannedObject {
            class: class.into(),
            size,
            age_days: age,
            action,
            restored_copy: true,
        }
    }

    #[test]
    fn list_pages_and_extra_heads_are_priced() {
        let p = Prices::default();
        let objects = vec![obj("STANDARD", 1, None); 10];
        let base = estimate(&objects, &job(), &p);
        let more = estimate(
            &objects,
            &CostJob {
                list_requests: 1000,
                extra_heads_per_copy: 1.0,
                ..job()
            },
            &p,
        );
        assert_eq!(more.list_requests, 1000);
        assert!((more.list_request_usd - 0.005).abs() < 1e-12);
        assert_eq!(more.get_requests, base.get_requests + 10);
        assert!(more.total_usd > base.total_usd);
    }

    #[test]
    fn request_counts_follow_the_worker() {
        let objs = vec![
            obj("GLACIER", 100, None),
            obj("STANDARD", 100, None),
            obj("STANDARD_IA", 100, None),
        ];
        let e = estimate(&objs, &job(), &Prices::default());
        // GLACIER: HEAD, RESTORE, HEAD, COPY; STANDARD: HEAD, COPY; STANDARD_IA: HEAD
        assert_eq!(
            (e.get_requests, e.restore_requests, e.put_requests),
            (4, 1, 2)
        );
        assert_eq!(e.already_in_target, 1);
        assert_eq!(e.restores, 1);
        let polled = CostJob {
            polls_per_restore: 3.0,
            ..job()
        };
        assert_eq!(estimate(&objs, &polled, &Prices::default()).get_requests, 7);
        // fractional polls add up over objects instead of rounding each
        let glacier: Vec<PlannedObject> = (0..10).map(|_| obj("GLACIER", 1, None)).collect();
        let some = CostJob {
            polls_per_restore: 0.4,
            ..job()
        };
        assert_eq!(
            estimate(&glacier, &some, &Prices::default()).get_requests,
            24
        );
    }

    /// A job of 10 lots of 5,000 keys, `sorted` of them sorted.
    fn lots(sorted: u64) -> SortedLots {
        let mut l = SortedLots::default();
        for i in 0..10 {
            l.add_lot(5000, i < sorted);
        }
        l
    }

    #[test]
    fn sorted_lots_list_their_first_pass_and_tiny_ones_do_not() {
        let l = lots(4);
        assert_eq!((l.of_keys, l.keys, l.lots), (50_000, 20_000, 4));
        assert_eq!(l.first_pass_pages, 4 * 5);
        assert!((l.share() - 0.4).abs() < 1e-12);
        // a lot too small for a page to cost less than its HEADs is HEADed
        let mut tiny = SortedLots::default();
        tiny.add_lot(12, true);
        tiny.add_lot(13, true);
        assert_eq!(
            (tiny.of_keys, tiny.keys, tiny.first_pass_pages),
            (25, 13, 1)
        );
        assert_eq!(SortedLots::default().share(), 0.0);
    }

    #[test]
    fn a_sorted_lot_takes_no_first_head_where_its_listing_decides() {
        let p = Prices::default();
        let mut restored = obj("GLACIER", 100, None);
        restored.action = PlannedAction::Copy;
        let mut waiting = obj("GLACIER", 100, None);
        waiting.action = PlannedAction::WaitThenCopy;
        let mut missing = obj("STANDARD", 0, None);
        missing.action = PlannedAction::Fail;
        let mut tiering = obj("GLACIER", 100, None);
        tiering.restored_copy = false;
        // already in INTELLIGENT_TIERING, the target of the job
        let mut in_tiering = obj("INTELLIGENT_TIERING", 100, None);
        in_tiering.action = PlannedAction::Skip;
        // (object, its HEADs in a scattered lot, in a sorted lot, it waits for a restore)
        let cases = [
            (obj("GLACIER", 100, None), 2, 1, true),
            (obj("DEEP_ARCHIVE", 100, None), 2, 1, true),
            (waiting, 2, 1, true),
            (obj("STANDARD_IA", 100, None), 1, 0, false),
            (obj("STANDARD", 100, None), 1, 1, false),
            (restored, 1, 1, false),
            (missing, 1, 1, false),
            // Intelligent-Tiering: HEADed first, its restore looked at by listing
            (tiering, 2, 2, true),
            (in_tiering, 1, 1, false),
        ];
        for (o, scattered, sorted, waits) in cases {
            // 50,000 keys: the sample of one stands for every key
            let all: Vec<PlannedObject> = vec![o.clone(); 1000];
            let at = |share: u64| {
                let j = CostJob {
                    sorted: lots(share),
                    ..job()
                };
                estimate_sampled(&all, 50.0, &j, &p)
            };
            let (none, half, every) = (at(0), at(5), at(10));
            assert_eq!(none.get_requests, 50_000 * scattered, "{o:?}");
            assert_eq!(every.get_requests, 50_000 * sorted, "{o:?}");
            assert_eq!(half.get_requests, 25_000 * (scattered + sorted), "{o:?}");
            // the rest of the work does not change
            assert_eq!(none.put_requests, every.put_requests, "{o:?}");
            assert_eq!(none.restore_requests, every.restore_requests, "{o:?}");
            // the first pass's pages: 5 per lot of 5,000 keys sorted (and a look at the waiting
            // objects' restores: 5 pages per lot)
            let looks = if waits { 50 } else { 0 };
            assert_eq!(none.list_requests, 0, "{o:?}");
            assert_eq!(every.list_requests, 50 + looks, "{o:?}");
            assert_eq!(half.list_requests, 25 + looks / 2, "{o:?}");
        }
    }

    #[test]
    fn a_copy_elsewhere_is_headed_first_even_in_a_sorted_lot() {
        // the worker looks at the destination before anything else, so the source is HEADed
        // first; the restore is still looked at by listing, and the pass still lists
        let p = Prices::default();
        let all = vec![obj("GLACIER", 100, None); 100];
        let at = |in_place| {
            let j = CostJob {
                sorted: lots(10),
                in_place,
                ..job()
            };
            estimate_sampled(&all, 500.0, &j, &p)
        };
        let (here, elsewhere, half) = (at(1.0), at(0.0), at(0.5));
        assert_eq!(here.get_requests, 50_000);
        assert_eq!(elsewhere.get_requests, 100_000);
        assert_eq!(half.get_requests, 75_000);
        assert_eq!(here.list_requests, elsewhere.list_requests);
    }

    #[test]
    fn a_look_lists_the_whole_lot_when_its_waiting_keys_are_spread() {
        // 1 key in 10 archived: 500 waiting in each 5,000-key lot, spread over it; a look pages
        // through the lot, 5 pages, not 1
        let p = Prices::default();
        let mut some = vec![obj("STANDARD", 100, None); 90];
        some.extend(vec![obj("GLACIER", 100, None); 10]);
        let j = CostJob {
            sorted: lots(10),
            ..job()
        };
        let e = estimate_sampled(&some, 500.0, &j, &p);
        assert_eq!(e.list_requests, 10 * 5 + 10 * 5);
    }

    #[test]
    fn left_out_keys_thin_the_waiting_keys_of_a_lot() {
        // 2 archived objects in a sample of 100 that stands for half the job's 50,000 keys (the
        // other half left out): 500 waiting, 50 a lot, too few for a listing of 5 pages; their
        // look is a HEAD each (none here: no polls), and the only pages are the first pass's
        let p = Prices::default();
        let mut some = vec![obj("STANDARD", 100, None); 98];
        some.extend(vec![obj("GLACIER", 100, None); 2]);
        let j = CostJob {
            sorted: lots(10),
            ..job()
        };
        let e = estimate_sampled(&some, 250.0, &j, &p);
        assert_eq!(e.list_requests, 50);
        assert_eq!(e.get_requests, 100 * 250);
    }

    #[test]
    fn a_sorted_lot_polls_by_listing_unless_too_few_keys_wait() {
        let p = Prices::default();
        let polled = |sorted, polls| CostJob {
            sorted,
            polls_per_restore: polls,
            ..job()
        };
        // 10 lots of 5,000, every key archived, restores polled 3 times: 4 looks of 5 pages a
        // lot, and one HEAD a key (after the wait), against 5 HEADs a key scattered
        let all = vec![obj("GLACIER", 100, None); 100];
        let e = estimate_sampled(&all, 500.0, &polled(lots(10), 3.0), &p);
        assert_eq!((e.get_requests, e.list_requests), (50_000, 50 + 10 * 4 * 5));
        let e = estimate_sampled(&all, 500.0, &polled(lots(0), 3.0), &p);
        assert_eq!((e.get_requests, e.list_requests), (250_000, 0));
        // 1 key in 500 archived: 10 waiting a lot, fewer than a page is worth; their polls are
        // HEADs, their first step still listed
        let mut few = vec![obj("STANDARD", 100, None); 499];
        few.push(obj("GLACIER", 100, None));
        let e = estimate_sampled(&few, 100.0, &polled(lots(10), 3.0), &p);
        // STANDARD: HEAD; GLACIER: 3 polls and the HEAD after the wait
        assert_eq!(e.get_requests, 49_900 + 100 * 4);
        assert_eq!(e.list_requests, 50);
        // the LIST pages are priced as LIST
        let e = estimate_sampled(&all, 500.0, &polled(lots(10), 0.0), &p);
        assert_eq!(e.list_requests, 100);
        assert!((e.list_request_usd - 100.0 * 0.005 / 1000.0).abs() < 1e-12);
        assert_eq!(e.sorted_lots, lots(10));
    }

    #[test]
    fn restored_waiting_and_failing_objects() {
        let mut restored = obj("GLACIER", 100, None);
        restored.action = PlannedAction::Copy;
        let mut waiting = obj("GLACIER", 100, None);
        waiting.action = PlannedAction::WaitThenCopy;
        let mut missing = obj("STANDARD", 0, None);
        missing.action = PlannedAction::Fail;
        let e = estimate(&[restored, waiting, missing], &job(), &Prices::default());
        assert_eq!((e.restore_requests, e.restores, e.failing), (0, 0, 1));
        // restored: HEAD, COPY; waiting: HEAD, HEAD, COPY; missing: HEAD
        assert_eq!((e.get_requests, e.put_requests), (4, 2));
        assert_eq!(e.retrieval_usd, 0.0);
    }

    #[test]
    fn multipart_counts_parts() {
        let big = vec![obj("STANDARD", 6 * GIB, None)];
        let e = estimate(&big, &job(), &Prices::default());
        // 6 GiB / 256 MiB = 24 parts + create + complete; HEAD + GetObjectTagging
        assert_eq!((e.put_requests, e.get_requests), (26, 2));
    }

    #[test]
    fn prices_by_tier_and_early_deletion() {
        let p = Prices::default();
        let objs: Vec<PlannedObject> = (0..1000)
            .map(|_| obj("DEEP_ARCHIVE", GIB, Some(90.0)))
            .collect();
        let std = CostJob {
            tier: RestoreTier::Standard,
            ..job()
        };
        let e = estimate(&objs, &std, &p);
        assert!((e.restore_request_usd - 0.10).abs() < 1e-9, "{e:?}");
        assert!((e.retrieval_usd - 1000.0 * 0.02).abs() < 1e-6, "{e:?}");
        // 90 of 180 days left: 3 months at $0.00099/GB-month for 1,000 GB and their 32 KiB
        // archive indexes
        let billed = 1000.0 * (1.0 + 32.0 / (1024.0 * 1024.0));
        assert!(
            (e.early_deletion_usd - 3.0 * 0.00099 * billed).abs() < 1e-6,
            "{e:?}"
        );
        assert!((e.copy_request_usd - 0.01).abs() < 1e-9, "{e:?}");
        let old: Vec<PlannedObject> = (0..10)
            .map(|_| obj("DEEP_ARCHIVE", GIB, Some(400.0)))
            .collect();
        assert_eq!(estimate(&old, &std, &p).early_deletion_usd, 0.0);
    }

    #[test]
    fn deep_archive_in_an_expedited_job_is_priced_at_standard() {
        // The worker asks Standard for DEEP_ARCHIVE objects of an Expedited job (no Expedited
        // tier there), so the estimate prices them so, not at a missing price of 0.
        let p = Prices::default();
        let objs: Vec<PlannedObject> = (0..1000)
            .map(|_| obj("DEEP_ARCHIVE", GIB, Some(400.0)))
            .collect();
        let expedited = CostJob {
            tier: RestoreTier::Expedited,
            ..job()
        };
        let e = estimate(&objs, &expedited, &p);
        assert!((e.restore_request_usd - 0.10).abs() < 1e-9, "{e:?}");
        assert!((e.retrieval_usd - 1000.0 * 0.02).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn fargate_dynamodb_and_batch_operations() {
        let p = Prices::default();
        let objs: Vec<PlannedObject> = (0..1_000_000).map(|_| obj("GLACIER", 1024, None)).collect();
        let j = CostJob {
            lots: 200,
            worker_hours_per_lot: 0.5,
            ..job()
        };
        let e = estimate(&objs, &j, &p);
        let fargate = 100.0 * (0.04048 + 2.0 * 0.004445);
        assert!((e.fargate_usd - fargate).abs() < 1e-6, "{e:?}");
        let spot = estimate(
            &objs,
            &CostJob {
                spot: true,
                ..j.clone()
            },
            &p,
        );
        assert!((spot.fargate_usd - fargate * 0.3).abs() < 1e-6);
        assert!((e.dynamodb_usd - 4000.0 * 0.625 / 1e6).abs() < 1e-9);
        // Batch Operations: two jobs, 2M object-operations, same S3 work minus HEADs
        let batch = 0.5
            + 2.0
            + e.restore_request_usd
            + e.retrieval_usd
            + e.copy_request_usd
            + e.restored_copies_usd;
        assert!((e.batch_operations_usd - batch).abs() < 1e-6, "{e:?}");
        let sum = e.restore_request_usd
            + e.retrieval_usd
            + e.copy_request_usd
            + e.get_request_usd
            + e.early_deletion_usd
            + e.restored_copies_usd
            + e.fargate_usd
            + e.dynamodb_usd;
        assert!((e.total_usd - sum).abs() < 1e-9);
    }

    #[test]
    fn samples_scale() {
        let objs = vec![obj("GLACIER", GIB, None), obj("STANDARD", GIB, None)];
        let p = Prices::default();
        let full: Vec<PlannedObject> = (0..500).flat_map(|_| objs.clone()).collect();
        let a = estimate(&full, &job(), &p);
        let b = estimate_sampled(&objs, 500.0, &job(), &p);
        assert_eq!(
            (a.objects, a.get_requests, a.put_requests),
            (b.objects, b.get_requests, b.put_requests)
        );
        assert!((a.total_usd - b.total_usd).abs() < 1e-9);
        assert!((a.batch_operations_usd - b.batch_operations_usd).abs() < 1e-9);
    }

    #[test]
    fn prices_override_by_field() {
        let p: Prices = serde_json::from_str(r#"{"get_per_1000": 0.001}"#).expect("json");
        assert_eq!(p.get_per_1000, 0.001);
        assert_eq!(p.fargate_vcpu_hour, Prices::default().fargate_vcpu_hour);
    }

    #[test]
    fn batch_operations_bill_every_object_operation_but_skips_and_failures() {
        // $1 per object-operation, so the dollars count them.
        let p = Prices {
            batch_per_million_objects: 1e6,
            ..Prices::default()
        };
        let mut missing = obj("STANDARD", 1, None);
        missing.action = PlannedAction::Fail;
        let objs = vec![
            obj("GLACIER", 1, None),
            obj("STANDARD", 1, None),
            obj("STANDARD_IA", 1, None),
            missing,
        ];
        let e = estimate(&objs, &job(), &p);
        let s3 = e.restore_request_usd + e.retrieval_usd + e.copy_request_usd;
        // restore job: 1 object; copy job: GLACIER + STANDARD; two jobs
        let batch = 2.0 * p.batch_per_job + 3.0 + s3;
        assert!((e.batch_operations_usd - batch).abs() < 1e-9, "{e:?}");
        // nothing to restore: one job
        let e = estimate(&objs[1..], &job(), &p);
        let batch = p.batch_per_job + 1.0 + e.copy_request_usd;
        assert!((e.batch_operations_usd - batch).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn the_total_is_the_sum_of_every_line() {
        let p = Prices::default();
        let objs: Vec<PlannedObject> = (0..100).map(|_| obj("GLACIER", GIB, Some(10.0))).collect();
        let j = CostJob {
            tier: RestoreTier::Standard,
            list_requests: 5000,
            ..job()
        };
        let e = estimate(&objs, &j, &p);
        let lines = [
            e.restore_request_usd,
            e.retrieval_usd,
            e.copy_request_usd,
            e.get_request_usd,
            e.list_request_usd,
            e.early_deletion_usd,
            e.restored_copies_usd,
            e.fargate_usd,
            e.dynamodb_usd,
        ];
        assert!(lines.iter().all(|&l| l > 0.0), "{e:?}");
        assert!(
            (e.total_usd - lines.iter().sum::<f64>()).abs() < 1e-9,
            "{e:?}"
        );
        // Batch Operations pays the same early deletion, and no LIST, HEAD, Fargate, DynamoDB.
        let batch = 2.0 * p.batch_per_job
            + 200.0 / 1e6 * p.batch_per_million_objects
            + e.restore_request_usd
            + e.retrieval_usd
            + e.copy_request_usd
            + e.early_deletion_usd
            + e.restored_copies_usd;
        assert!((e.batch_operations_usd - batch).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn retrieval_and_early_deletion_scale_with_gigabytes() {
        let p = Prices::default();
        let std = CostJob {
            tier: RestoreTier::Standard,
            ..job()
        };
        // 4 GiB of GLACIER, 30 days old: 60 of its 90 days left, 2 months
        let e = estimate(&[obj("GLACIER", 4 * GIB, Some(30.0))], &std, &p);
        assert!((e.retrieval_usd - 4.0 * 0.01).abs() < 1e-12, "{e:?}");
        let billed = 4.0 + 32.0 / (1024.0 * 1024.0);
        assert!(
            (e.early_deletion_usd - 2.0 * 0.0036 * billed).abs() < 1e-12,
            "{e:?}"
        );
        assert!(
            (e.restore_request_usd - 0.05 / 1000.0).abs() < 1e-12,
            "{e:?}"
        );
        assert_eq!((e.restore_bytes, e.copy_bytes), (4 * GIB, 4 * GIB));
    }

    #[test]
    fn a_sample_scales_every_dollar() {
        let p = Prices::default();
        let std = CostJob {
            tier: RestoreTier::Standard,
            ..job()
        };
        let objs = vec![
            obj("GLACIER", 2 * GIB, Some(10.0)),
            obj("STANDARD", GIB, None),
            obj("STANDARD_IA", GIB, None),
        ];
        let full: Vec<PlannedObject> = (0..300).flat_map(|_| objs.clone()).collect();
        let a = estimate(&full, &std, &p);
        let b = estimate_sampled(&objs, 300.0, &std, &p);
        assert_eq!(
            (a.objects, a.restores, a.already_in_target, a.restore_bytes),
            (b.objects, b.restores, b.already_in_target, b.restore_bytes)
        );
        assert_eq!((a.objects, a.restores), (900, 300));
        for (x, y) in [
            (a.restore_request_usd, b.restore_request_usd),
            (a.retrieval_usd, b.retrieval_usd),
            (a.early_deletion_usd, b.early_deletion_usd),
            (a.copy_request_usd, b.copy_request_usd),
            (a.get_request_usd, b.get_request_usd),
        ] {
            assert!(x > 0.0 && (x - y).abs() < 1e-9, "{a:?} {b:?}");
        }
    }

    #[test]
    fn waits_are_polled_and_requests_priced_per_thousand() {
        let mut waiting = obj("GLACIER", 1, None);
        waiting.action = PlannedAction::WaitThenCopy;
        let polled = CostJob {
            polls_per_restore: 3.0,
            ..job()
        };
        let p = Prices::default();
        let e = estimate(&[waiting], &polled, &p);
        // HEAD, 3 polls, HEAD after the wait; one COPY
        assert_eq!((e.get_requests, e.put_requests), (5, 1));
        assert!(
            (e.get_request_usd - 5.0 * 0.0004 / 1000.0).abs() < 1e-15,
            "{e:?}"
        );
        assert!((e.copy_request_usd - 0.01 / 1000.0).abs() < 1e-15, "{e:?}");
    }

    #[test]
    fn only_deep_archive_falls_back_from_expedited() {
        let p = Prices::default();
        let expedited = CostJob {
            tier: RestoreTier::Expedited,
            ..job()
        };
        let e = estimate(&[obj("GLACIER", GIB, Some(400.0))], &expedited, &p);
        assert!(
            (e.restore_request_usd - 10.0 / 1000.0).abs() < 1e-12,
            "{e:?}"
        );
        assert!((e.retrieval_usd - 0.03).abs() < 1e-12, "{e:?}");
    }

    #[test]
    fn copies_out_of_a_class_with_a_minimum_duration_pay_its_rest() {
        let p = Prices::default();
        // ONEZONE_IA, 10 days old: 20 of its 30 days left at $0.01/GB-month for 3 GiB
        let ia = obj("ONEZONE_IA", 3 * GIB, Some(10.0));
        let e = estimate(std::slice::from_ref(&ia), &job(), &p);
        let want = 20.0 / 30.0 * 0.01 * 3.0;
        assert!((e.early_deletion_usd - want).abs() < 1e-12, "{e:?}");
        assert!((early_deletion_usd(&ia, &p) - want).abs() < 1e-12);
        // past the minimum, or STANDARD (none): nothing
        assert_eq!(
            early_deletion_usd(&obj("ONEZONE_IA", GIB, Some(31.0)), &p),
            0.0
        );
        assert_eq!(
            early_deletion_usd(&obj("STANDARD", GIB, Some(1.0)), &p),
            0.0
        );
    }

    #[test]
    fn an_object_exactly_at_the_threshold_is_copied_in_one_request() {
        let j = job();
        let e = estimate(
            &[obj("STANDARD", j.multipart_threshold, None)],
            &j,
            &Prices::default(),
        );
        assert_eq!((e.put_requests, e.get_requests), (1, 1));
    }

    #[test]
    fn early_deletion_only_when_the_source_is_removed() {
        let p = Prices::default();
        let young = [obj("GLACIER", GIB, Some(30.0))];
        let removed = estimate(&young, &job(), &p);
        assert!(removed.early_deletion_usd > 0.0, "{removed:?}");
        let kept = CostJob {
            source_removed: false,
            ..job()
        };
        let e = estimate(&young, &kept, &p);
        assert_eq!(e.early_deletion_usd, 0.0);
        assert!((removed.total_usd - e.total_usd - removed.early_deletion_usd).abs() < 1e-12);
        // in place in an unversioned bucket, or --delete-source-version: removed
        assert!(source_removed(false, false, false));
        assert!(source_removed(true, true, true));
        // elsewhere, or the old version kept in a versioned bucket: not removed
        assert!(!source_removed(false, true, false));
        assert!(!source_removed(false, false, true));
    }

    #[test]
    fn early_deletion_is_priced_on_billed_bytes() {
        let p = Prices::default();
        // 1 KiB in STANDARD_IA, 10 days old: billed as 128 KiB for the 20 days left
        let ia = obj("STANDARD_IA", 1024, Some(10.0));
        let want = 20.0 / 30.0 * 0.0125 * (128.0 * 1024.0) / GIB as f64;
        assert!((early_deletion_usd(&ia, &p) - want).abs() < 1e-15);
        // 1 KiB in GLACIER, 30 days old: its 32 KiB index too (the 8 KiB at STANDARD's price
        // has no minimum duration)
        let g = obj("GLACIER", 1024, Some(30.0));
        let want = 60.0 / 30.0 * 0.0036 * (33.0 * 1024.0) / GIB as f64;
        assert!((early_deletion_usd(&g, &p) - want).abs() < 1e-15);
    }
    #[test]
    fn a_restored_copy_is_kept_from_its_completion_to_the_request_plus_its_days() {
        let d = |days, class, tier| restored_copy_days(days, class, tier);
        // GLACIER Bulk (5-12 h, 8.5 h on average): the days, + half a day to the midnight,
        // less the restore
        let glacier = 3.0 + 0.5 - 8.5 / 24.0;
        assert!((d(3, "GLACIER", RestoreTier::Bulk) - glacier).abs() < 1e-9);
        assert!((d(1, "GLACIER", RestoreTier::Bulk) - (glacier - 2.0)).abs() < 1e-9);
        // DEEP_ARCHIVE Bulk (24-48 h): 3 days keep 2; at 1 day the copy outlives its completion
        // only when the restore beats the next midnight: E[max(0, v - (d - 1))] = 1/6 day
        assert!((d(3, "DEEP_ARCHIVE", RestoreTier::Bulk) - 2.0).abs() < 1e-9);
        assert!((d(1, "DEEP_ARCHIVE", RestoreTier::Bulk) - 1.0 / 6.0).abs() < 1e-6);
        // never negative, never more than the days + a whole day
        for days in 1..10 {
            for class in ["GLACIER", "DEEP_ARCHIVE"] {
                for tier in [
                    RestoreTier::Bulk,
                    RestoreTier::Standard,
                    RestoreTier::Expedited,
                ] {
                    let kept = d(days, class, tier);
                    assert!(kept >= 0.0 && kept <= f64::from(days) + 1.0, "{kept}");
                }
            }
        }
    }

    #[test]
    fn restored_copies_are_standard_storage_for_their_days_kept() {
        let p = Prices::default();
        // 1,000 GiB restored by GLACIER Bulk at 3 days: kept 3.15 days on average
        let objs: Vec<PlannedObject> = (0..1000).map(|_| obj("GLACIER", GIB, None)).collect();
        let e = estimate(&objs, &job(), &p);
        let kept = |days| restored_copy_days(days, "GLACIER", RestoreTier::Bulk);
        let three = 1000.0 * 0.023 * kept(3) / 30.0;
        let one = 1000.0 * 0.023 * kept(1) / 30.0;
        assert_eq!(e.restore_days, 3);
        assert!((e.restored_copies_usd - three).abs() < 1e-9, "{e:?}");
        assert_eq!(e.shortest_restore_days, 1);
        assert!((e.restored_copies_shortest_usd - one).abs() < 1e-9, "{e:?}");
        assert!((e.shortest_days_saving_usd() - (three - one)).abs() < 1e-9);
        // the job's copies remove their source: the figures are upper bounds
        assert!(e.restored_copies_end_at_copy);
        let kept_source = CostJob {
            source_removed: false,
            ..job()
        };
        assert!(!estimate(&objs, &kept_source, &p).restored_copies_end_at_copy);
        // at 1 day there is nothing to save
        let short = estimate(
            &objs,
            &CostJob {
                restore_days: 1,
                ..job()
            },
            &p,
        );
        assert!((short.restored_copies_usd - one).abs() < 1e-9);
        assert_eq!(short.shortest_days_saving_usd(), 0.0);
        assert!((e.total_usd - short.total_usd - (three - one)).abs() < 1e-9);
        // the STANDARD price of the prices file, whatever the tier or class restored from
        let dear = Prices {
            storage_gb_month: map(&[("STANDARD", 0.03)]),
            ..Prices::default()
        };
        let byte_days = 10.0 * GIB as f64 * 7.5;
        assert!((restored_copies_usd(byte_days, &dear) - 10.0 * 0.03 * 7.5 / 30.0).abs() < 1e-12);
        // DEEP_ARCHIVE Bulk restores take longer: kept 2 days of the 3
        let deep: Vec<PlannedObject> = (0..1000).map(|_| obj("DEEP_ARCHIVE", GIB, None)).collect();
        let d = estimate(&deep, &job(), &p);
        assert!(
            (d.restored_copies_usd - 1000.0 * 0.023 * 2.0 / 30.0).abs() < 1e-9,
            "{d:?}"
        );
        // ... and are safe only at 3 days (48 h + follow's 12 h margin): nothing to save at 3
        assert_eq!(d.shortest_restore_days, 3);
        assert_eq!(d.shortest_days_saving_usd(), 0.0);
        let week = estimate(
            &deep,
            &CostJob {
                restore_days: 7,
                ..job()
            },
            &p,
        );
        let saving =
            1000.0 * 0.023 * (restored_copy_days(7, "DEEP_ARCHIVE", RestoreTier::Bulk) - 2.0)
                / 30.0;
        assert!(
            (week.shortest_days_saving_usd() - saving).abs() < 1e-9,
            "{week:?}"
        );
    }

    #[test]
    fn only_restores_the_job_asks_for_make_restored_copies() {
        let p = Prices::default();
        // readable, already restored, restore running (asked by someone else, with their days),
        // already in the target: no restored copy of the job's
        let mut restored = obj("GLACIER", GIB, None);
        restored.action = PlannedAction::Copy;
        let mut waiting = obj("GLACIER", GIB, None);
        waiting.action = PlannedAction::WaitThenCopy;
        let objs = [
            obj("STANDARD", GIB, None),
            restored,
            waiting,
            obj("STANDARD_IA", GIB, None),
        ];
        let e = estimate(&objs, &job(), &p);
        assert_eq!(
            (e.restored_copies_usd, e.restored_copies_shortest_usd),
            (0.0, 0.0)
        );
        // Intelligent-Tiering's archive tiers: restored, but no temporary copy
        let mut tiering = obj("GLACIER", GIB, None);
        tiering.restored_copy = false;
        let e = estimate(&[tiering], &job(), &p);
        assert_eq!((e.restores, e.restored_copy_bytes), (1, 0));
        assert_eq!(e.restored_copies_usd, 0.0);
        // a sample scales them like the bytes
        let one = [obj("GLACIER", GIB, None)];
        let s = estimate_sampled(&one, 400.0, &job(), &p);
        assert!(
            (s.restored_copies_usd
                - 400.0 * 0.023 * restored_copy_days(3, "GLACIER", RestoreTier::Bulk) / 30.0)
                .abs()
                < 1e-9,
            "{s:?}"
        );
    }
}
