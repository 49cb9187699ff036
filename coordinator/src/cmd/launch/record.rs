//! Recording a job in the progress table: its item (after the manifests and `job.json` are
//! uploaded), one PENDING item per lot, and which lots this launch starts.
//!
//! Re-running with the same `--job-id` is safe: the key list must match the recorded one,
//! nothing is reset, and only PENDING lots (and LAUNCHED lots left without a task for ten
//! minutes, from a crash between claim and launch) are launched, each through a conditional
//! claim in the table.

use anyhow::{bail, Context};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::{StreamExt, TryStreamExt};
use thaw_common::checkpoint::LotState;
use thaw_common::plan::LotOrder;
use thaw_common::progress::{JobItem, LotItem, ProgressTable};
use thaw_common::spec::JobSpec;
use tracing::info;

use super::plan::Plan;
use crate::control::{self, manifest_uri};
use crate::keylist::KeyList;

/// Lot items written at once.
const LOT_WRITES: usize = 16;

/// Returns the job's spec, recording the job first when it is new, and the key order of each
/// lot when this launch uploaded the manifests (none when the job was recorded already). An
/// existing job must have the same key list, bucket, class and lot count.
pub async fn ensure_job(
    s3: &aws_sdk_s3::Client,
    table: &ProgressTable,
    plan: &Plan,
    keys: &KeyList,
) -> anyhow::Result<(JobSpec, Vec<LotOrder>)> {
    let job = plan.spec.job_id.as_str();
    if let Some(existing) = table.get_job(job).await? {
        let spec = same_job(&existing, &plan.spec)?;
        info!(job, "job already recorded; resuming it");
        return Ok((spec, Vec::new()));
    }
    info!(
        job,
        "uploading {} lot manifests to {}",
        plan.sizes.len(),
        plan.spec.control
    );
    let orders = control::upload_manifests(s3, &plan.spec.control, keys, &plan.sizes).await?;
    control::put_job_spec(s3, &plan.spec).await?;
    let item = JobItem {
        job_id: job.to_owned(),
        spec_json: serde_json::to_string(&plan.spec).context("serialising the job spec")?,
        launcher: plan.settings.name().to_owned(),
        launch_json: serde_json::to_string(&plan.settings)
            .context("serialising the launcher settings")?,
    };
    if table.put_job_if_absent(&item, &summary(&plan.spec)).await? {
        return Ok((plan.spec.clone(), orders));
    }
    // Another coordinator recorded the same id in the meantime.
    let existing = table
        .get_job(job)
        .await?
        .with_context(|| format!("job {job} vanished from table {}", table.name()))?;
    Ok((same_job(&existing, &plan.spec)?, Vec::new()))
}

/// The job item's summary attributes (what `coordinator jobs` shows without reading the spec).
fn summary(spec: &JobSpec) -> [(&'static str, AttributeValue); 6] {
    [
        ("bucket", AttributeValue::S(spec.bucket.clone())),
        (
            "target_class",
            AttributeValue::S(spec.target_class.as_str().to_owned()),
        ),
        ("lots", AttributeValue::N(spec.lots.to_string())),
        ("keys_total", AttributeValue::N(spec.keys_total.to_string())),
        ("created", AttributeValue::S(spec.created_at.clone())),
        ("control", AttributeValue::S(spec.control.to_string())),
    ]
}

/// The recorded spec, when `wanted` describes the same job.
pub fn same_job(existing: &JobItem, wanted: &JobSpec) -> anyhow::Result<JobSpec> {
    let job = &wanted.job_id;
    let old: JobSpec = serde_json::from_str(&existing.spec_json)
        .with_context(|| format!("job {job} has an unreadable spec in the table"))?;
    if old.input_fingerprint != wanted.input_fingerprint || old.keys_total != wanted.keys_total {
        bail!("job {job} already exists with a different key list");
    }
    if old.bucket != wanted.bucket || old.target_class != wanted.target_class {
        bail!(
            "job {job} already exists for bucket {} and class {}",
            old.bucket,
            old.target_class
        );
    }
    let flags = |s: &JobSpec| {
        (
            s.destination.clone(),
            s.overwrite,
            s.delete_source_version,
            s.source_prefix.clone(),
            s.leave_out,
        )
    };
    // `copy_acls` follows the buckets at launch time: the recorded value stands on resume.
    if flags(&old) != flags(wanted) {
        bail!(
            "job {job} already exists with other --dest/--overwrite/--delete-source-version/--from/--min-size/--min-age settings; resume it with the same flags"
        );
    }
    if old.lots != wanted.lots {
        bail!(
            "job {job} already exists with {} lots (this plan has {}); use the same --lots/--lot-size",
            old.lots,
            wanted.lots
        );
    }
    Ok(old)
}

/// Writes the PENDING item of every lot that has none, with its key order (scattered when not
/// known); never touches existing ones, but checks they hold as many keys as this plan.
pub async fn ensure_lots(
    table: &ProgressTable,
    spec: &JobSpec,
    sizes: &[u64],
    orders: &[LotOrder],
) -> anyhow::Result<()> {
    let job = spec.job_id.as_str();
    let existing = table.lots(job).await?;
    for item in &existing {
        let planned = sizes.get(item.lot as usize).copied();
        if planned != Some(item.counters.keys_total) {
            bail!(
                "job {job} already exists with other lot sizes (lot {} has {} keys); use the same --lots/--lot-size",
                item.lot,
                item.counters.keys_total
            );
        }
    }
    let have: std::collections::HashSet<u32> = existing.iter().map(|l| l.lot).collect();
    let missing: Vec<(u32, u64)> = (0u32..)
        .zip(sizes.iter().copied())
        .filter(|(lot, _)| !have.contains(lot))
        .collect();
    futures::stream::iter(missing)
        .map(|(lot, keys)| async move {
            let order = orders.get(lot as usize).cloned().unwrap_or_default();
            let manifest = manifest_uri(&spec.control, lot);
            table
                .put_lot_in_order_if_absent(job, lot, keys, &manifest, &order)
                .await
                .with_context(|| format!("recording lot {lot}"))
                .map(|_| ())
        })
        .buffer_unordered(LOT_WRITES)
        .try_collect::<()>()
        .await
}

/// Which lots `launch` starts, and how many it leaves alone.
#[derive(Debug, Default)]
pub struct Selection {
    /// The lots to launch, with their current items.
    pub launch: Vec<LotItem>,
    /// Lots launched or running already.
    pub active: usize,
    /// Lots that succeeded.
    pub succeeded: usize,
    /// Lots left for a retry (waiting, failed, interrupted, cancelled).
    pub other: usize,
    /// PENDING lots left for `follow` because the window is full.
    pub window_full: usize,
    /// Lots left PENDING for `follow` to start at the restore rate ([`crate::fleet::pace`]).
    pub paced: usize,
}

impl Selection {
    /// Keeps to the window: at most `window` lots live, those launched or running already
    /// counted; the rest stay PENDING for `follow`, which starts them as lots finish.
    pub fn keep_to(&mut self, window: u32) {
        let free = usize::try_from(window)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.active);
        if self.launch.len() > free {
            self.window_full = self.launch.len() - free;
            self.launch.truncate(free);
        }
    }

    /// Starts at most `first` lots (the pace's first look's worth, [`crate::fleet::pace`]); the
    /// rest stay PENDING for `follow`, which starts them at the restore rate.
    pub fn pace(&mut self, first: u32) {
        let first = usize::try_from(first).unwrap_or(usize::MAX);
        if self.launch.len() > first {
            self.paced = self.launch.len() - first;
            self.launch.truncate(first);
        }
    }
}

/// How long a claimed lot may wait for its task before another `launch` takes it over: longer
/// than a coordinator spends retrying one throttled RunTask, so a launch still in progress
/// elsewhere is not doubled.
const CLAIM_GRACE_SECS: i64 = 600;

/// PENDING lots, and LAUNCHED lots with no task claimed over [`CLAIM_GRACE_SECS`] ago (a crash
/// between claim and launch). Lots that are running, finished, waiting, failed, interrupted or
/// cancelled, or claimed moments ago by another launch, are left alone.
pub fn select(items: Vec<LotItem>, now: i64) -> Selection {
    let mut s = Selection::default();
    for item in items {
        match item.state {
            LotState::Pending => s.launch.push(item),
            LotState::Launched
                if item.task.is_none()
                    && item
                        .launched_at
                        .is_none_or(|t| now.saturating_sub(t) >= CLAIM_GRACE_SECS) =>
            {
                s.launch.push(item)
            }
            LotState::Launched | LotState::Running => s.active += 1,
            LotState::Succeeded => s.succeeded += 1,
            LotState::Waiting | LotState::Failed | LotState::Interrupted | LotState::Cancelled => {
                s.other += 1
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::fixtures::{JobSpecBuilder, LotItemBuilder};
    use thaw_common::storage::StorageClass;

    fn item(lot: u32, state: LotState, task: Option<&str>) -> LotItem {
        LotItemBuilder::new(lot, 3).state(state).task(task).build()
    }

    #[test]
    fn the_first_batch_keeps_to_the_window_and_the_pace() {
        let items: Vec<LotItem> = (0..10).map(|n| item(n, LotState::Pending, None)).collect();
        let mut s = select(items, 1_000_000);
        s.keep_to(8);
        s.pace(3);
        assert_eq!((s.launch.len(), s.window_full, s.paced), (3, 2, 5));
        assert_eq!(
            s.launch.iter().map(|l| l.lot).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // a pace wider than what is left changes nothing
        s.pace(10);
        assert_eq!((s.launch.len(), s.paced), (3, 5));
    }

    #[test]
    fn selection() {
        let items = [
            item(0, LotState::Pending, None),
            item(1, LotState::Launched, None),
            item(2, LotState::Launched, Some("arn:t")),
            item(3, LotState::Running, Some("arn:t")),
            item(4, LotState::Succeeded, Some("arn:t")),
            item(5, LotState::Waiting, Some("arn:t")),
            item(6, LotState::Failed, None),
        ];
        let s = select(items.to_vec(), 10_000);
        let lots: Vec<u32> = s.launch.iter().map(|l| l.lot).collect();
        assert_eq!(lots, vec![0, 1]);
        assert_eq!((s.active, s.succeeded, s.other), (2, 1, 2));
        // claimed moments ago by another launch that may still be inside RunTask: left alone
        let mut fresh = item(1, LotState::Launched, None);
        fresh.launched_at = Some(10_000 - 5);
        let s = select(vec![fresh.clone()], 10_000);
        assert!(s.launch.is_empty());
        assert_eq!(s.active, 1);
        fresh.launched_at = Some(10_000 - CLAIM_GRACE_SECS);
        assert_eq!(select(vec![fresh], 10_000).launch.len(), 1);
    }

    /// Job `j` on bucket `b`: 10 keys in 2 lots into STANDARD, key list `fnv1a64:1`.
    fn spec() -> JobSpecBuilder {
        JobSpecBuilder::new("j", "b")
            .target_class(StorageClass::Standard)
            .keys_total(10)
            .lots(2)
            .table("t")
            .tool_version("0")
            .input_fingerprint("fnv1a64:1")
    }

    #[test]
    fn same_job_checks() {
        let old = spec().build();
        let item = JobItem {
            job_id: "j".into(),
            spec_json: serde_json::to_string(&old).expect("json"),
            launcher: "ecs".into(),
            launch_json: "{}".into(),
        };
        let wanted = spec().created_at("2027-01-01T00:00:00Z").build();
        assert_eq!(same_job(&item, &wanted).expect("same"), old);
        let other = spec().input_fingerprint("fnv1a64:2").build();
        let e = same_job(&item, &other).unwrap_err().to_string();
        assert_eq!(e, "job j already exists with a different key list");
        let other = spec().target_class(StorageClass::Glacier).build();
        assert!(same_job(&item, &other).is_err());
        let other = spec().lots(3).build();
        assert!(same_job(&item, &other).is_err());
    }
}
