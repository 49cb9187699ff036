//! The objects a job will meet, as the worker will find them: a uniform sample of the key list
//! looked at with HeadObject and decided by the worker's own state machine (so the estimate
//! cannot drift from it), or the sample an inventory's columns give without a request.

use std::collections::BTreeMap;

use anyhow::Context;
use futures::StreamExt;
use thaw_common::aws::AwsError;
use thaw_common::cost::{PlannedAction, PlannedObject, SortedLots};
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{decide, parse_restore_header, Goal, Next, ObjectHead};
use thaw_common::leave_out::{LeaveOut, LeftOutReason};
use thaw_common::sample::Reservoir;
use thaw_common::storage::{RestoreTier, StorageClass};

use super::key_order::{sorted_lots, LotOrders};
use crate::keylist::KeyList;

/// HeadObject calls in flight while sampling.
const HEADS_IN_FLIGHT: usize = 32;

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
    /// Sampled objects `--min-size`/`--min-age` leave where they are (not in `objects`): count
    /// and bytes by reason, before scaling by `weight`.
    pub left_out: BTreeMap<LeftOutReason, (u64, u64)>,
    /// The lots whose first pass is listed (their keys in order, see [`super::key_order`]).
    pub sorted: SortedLots,
}

/// What a sampled HeadObject found.
enum Looked {
    /// The object, and what the worker will do with it.
    Object(PlannedObject),
    /// An object `--min-size`/`--min-age` leaves where it is.
    LeftOut(LeftOutReason, u64),
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
        restored_copy: head.storage_class == class,
        class,
        size: h.content_length().unwrap_or(0).max(0) as u64,
        age_days,
        action,
    }
}

/// How many keys to look at, and what the job leaves where it is (`--min-size`, `--min-age`).
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    /// Keys looked at with HeadObject.
    pub size: usize,
    /// Objects the workers would leave where they are: counted apart, not priced.
    pub leave_out: LeaveOut,
    /// Send `x-amz-request-payer: requester` (`--request-payer`: a requester-pays source).
    pub request_payer: bool,
}

/// Samples `keys` (up to `sampling.size` entries, uniformly) and looks at each with HeadObject (the
/// pinned version when there is one), deciding with the worker's own state machine; the same
/// read of the list tells which of its lots of `sizes` keys are sorted.
#[allow(clippy::too_many_arguments)]
pub async fn look_at(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &KeyList,
    spec_in_place: bool,
    target: StorageClass,
    tier: RestoreTier,
    sizes: &[u64],
    sampling: Sampling,
) -> anyhow::Result<ObjectSample> {
    let leave_out = &sampling.leave_out;
    let payer = sampling
        .request_payer
        .then_some(aws_sdk_s3::types::RequestPayer::Requester);
    let mut sample = Reservoir::new(sampling.size);
    let mut orders = LotOrders::new(sizes);
    for line in keys.reopen()? {
        let line = line.with_context(|| format!("key list {}", keys.name()))?;
        orders.add(&line);
        sample.offer(line);
    }
    let now = std::time::SystemTime::now();
    let looked: Vec<Looked> = futures::stream::iter(sample.items().iter())
        .map(|entry| {
            let goal = Goal {
                target,
                tier,
                days: 1,
                in_place: spec_in_place && entry.dest.is_none(),
            };
            head(s3, bucket, entry, goal, (now, leave_out, payer.clone()))
        })
        .buffer_unordered(HEADS_IN_FLIGHT)
        .collect()
        .await;
    Ok(ObjectSample {
        sorted: orders.finish(),
        ..tally(looked, sample.seen(), sample.weight())
    })
}

/// Looks at one sampled entry.
async fn head(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    entry: &KeyLine,
    goal: Goal,
    (now, leave_out, payer): (
        std::time::SystemTime,
        &LeaveOut,
        Option<aws_sdk_s3::types::RequestPayer>,
    ),
) -> Looked {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(&entry.key)
        .set_version_id(entry.version_id.clone())
        .set_request_payer(payer)
        .send()
        .await;
    match head {
        Ok(h) => {
            let o = planned(&h, goal, now);
            let moved = !matches!(o.action, PlannedAction::Skip | PlannedAction::Fail);
            let modified = h.last_modified().map(|t| t.secs());
            let now_secs = thaw_common::progress::now_secs();
            match leave_out.reason(o.size, modified, now_secs) {
                Some(reason) if moved => Looked::LeftOut(reason, o.size),
                _ => Looked::Object(o),
            }
        }
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

/// The sample from what was looked at: missing and refused keys count as failing (the worker
/// records them as failed, after one HEAD each).
fn tally(looked: Vec<Looked>, keys: u64, weight: f64) -> ObjectSample {
    let mut objects = Vec::new();
    let (mut missing, mut refused) = (0u64, Vec::new());
    let mut left_out = BTreeMap::<LeftOutReason, (u64, u64)>::new();
    for l in looked {
        let failed = PlannedObject {
            class: "STANDARD".into(),
            size: 0,
            age_days: None,
            action: PlannedAction::Fail,
            restored_copy: false,
        };
        match l {
            Looked::Object(o) => objects.push(o),
            Looked::LeftOut(reason, size) => {
                let e = left_out.entry(reason).or_default();
                e.0 += 1;
                e.1 += size;
            }
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
    ObjectSample {
        keys,
        weight,
        objects,
        missing,
        source: "HeadObject",
        left_out,
        sorted: SortedLots::default(),
    }
}

/// The sample an inventory gives (no request needed), and which of the list's lots of `sizes`
/// keys are sorted (its data files are each in key order; a lot may span two).
pub fn from_inventory(
    known: &Reservoir<PlannedObject>,
    keys: &KeyList,
    sizes: &[u64],
) -> anyhow::Result<ObjectSample> {
    Ok(ObjectSample {
        keys: known.seen(),
        objects: known.items().to_vec(),
        weight: known.weight(),
        missing: 0,
        source: "inventory",
        left_out: BTreeMap::new(),
        sorted: sorted_lots(keys, sizes)?,
    })
}
