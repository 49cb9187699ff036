//! The pre-flight checks of a launch: everything the job needs in AWS is looked at before the
//! first write (table, buckets and their Regions, versioning, ACLs, ECS cluster and task
//! definition), so a bad command leaves no partial job. What they learn completes the spec.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_s3::types::ObjectLockEnabled;
use thaw_common::aws::{Aws, AwsError};
use thaw_common::progress::ProgressTable;
use tracing::info;

use super::args::AclMode;
use super::plan::Plan;
use crate::buckets::{acls_enabled, bucket_region, check_bucket_in_region, versioning};
use crate::cmd::usage;
use crate::launcher::{ecs, LaunchSettings};

/// Runs every check; fills in the Regions of destination buckets outside ours and whether
/// copies carry ACL grants.
pub async fn preflight(
    aws: &Aws,
    table: &ProgressTable,
    plan: &mut Plan,
    acls: AclMode,
) -> anyhow::Result<()> {
    table.check_exists().await?;
    let s3 = aws.s3();
    let region = aws.region();
    let spec = &plan.spec;
    check_bucket_in_region(&s3, &spec.bucket, &region, "bucket").await?;
    if spec.control.bucket != spec.bucket {
        check_bucket_in_region(&s3, &spec.control.bucket, &region, "control bucket").await?;
    }
    if spec.delete_source_version {
        check_versioning(&s3, &spec.bucket).await?;
    }
    plan.spec.bucket_regions = dest_regions(&s3, plan, &region).await?;
    // RestoreObject is sent in the source bucket's Region: its jobs share that Region's budget.
    plan.spec.restore_budget = Some(region.clone());
    plan.spec.copy_acls = copy_acls(&s3, acls, plan).await?;
    plan.spec.drop_object_lock_at = object_lock_drops(&s3, plan).await?;
    if let LaunchSettings::Ecs(s) = &plan.settings {
        let client = aws.ecs();
        ecs::check_cluster(&client, &s.cluster).await?;
        ecs::check_task_definition(&client, &s.task_definition, &s.container).await?;
    }
    Ok(())
}

/// The destination buckets that are in another Region than `region` (their copies are sent
/// there), after checking each exists and is reachable.
async fn dest_regions(
    s3: &aws_sdk_s3::Client,
    plan: &Plan,
    region: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut regions = BTreeMap::new();
    for bucket in &plan.dest_buckets {
        match bucket_region(s3, bucket)
            .await
            .with_context(|| format!("checking destination bucket {bucket}"))?
        {
            Some(r) if r != region => {
                info!("destination bucket {bucket} is in {r}: its copies are sent there");
                regions.insert(bucket.clone(), r);
            }
            _ => {}
        }
    }
    Ok(regions)
}

/// Whether this job's copies carry ACL grants (`--acls`): only for copies within the source
/// bucket (in place or to another prefix), and only when that bucket uses ACLs. Copies into
/// other buckets (perhaps other accounts) are owned by the writing account, whose grants the
/// destination owner would not be in: they take the destination's defaults instead.
pub async fn copy_acls(
    s3: &aws_sdk_s3::Client,
    mode: AclMode,
    plan: &Plan,
) -> anyhow::Result<bool> {
    if mode == AclMode::Skip {
        return Ok(false);
    }
    let bucket = &plan.spec.bucket;
    if !plan.dest_buckets.is_empty() {
        if mode == AclMode::Copy {
            return Err(usage(
                "--acls copy: ACL grants are carried only for copies within the source bucket",
            ));
        }
        info!("copies go to other buckets: ACL grants are not carried (the destinations' defaults apply)");
        return Ok(false);
    }
    match acls_enabled(s3, bucket).await {
        Ok(true) => {
            info!("bucket {bucket} uses ACLs: copies carry each object's ACL grants");
            Ok(true)
        }
        Ok(false) if mode == AclMode::Copy => Err(usage(format!(
            "--acls copy: bucket {bucket} has ACLs disabled (Object Ownership: bucket owner enforced)"
        ))),
        Ok(false) => Ok(false),
        Err(e) if mode == AclMode::Copy => {
            tracing::warn!("{e:#}; carrying ACL grants as --acls copy asks");
            Ok(true)
        }
        Err(e) => Err(e.context("pass --acls copy or --acls skip to decide without it")),
    }
}

/// Whether `bucket` has Object Lock enabled (GetObjectLockConfiguration; a bucket that never had
/// it answers `ObjectLockConfigurationNotFoundError`).
async fn object_lock_enabled(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<bool> {
    match s3
        .get_object_lock_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .object_lock_configuration()
            .and_then(|c| c.object_lock_enabled())
            .is_some_and(|e| *e == ObjectLockEnabled::Enabled)),
        Err(e) => {
            let err = AwsError::from_sdk("GetObjectLockConfiguration", &e);
            if err.code == "ObjectLockConfigurationNotFoundError" {
                Ok(false)
            } else {
                Err(anyhow::Error::new(err).context(format!(
                    "checking Object Lock on bucket {bucket} (needs s3:GetBucketObjectLockConfiguration)"
                )))
            }
        }
    }
}

/// The destination buckets copies are sent to without object lock settings. A source bucket
/// with Object Lock may hold objects with a retention or legal hold, which every copy carries;
/// S3 refuses those headers in a bucket without Object Lock (400 InvalidRequest), so every such
/// key would fail there. Such destinations refuse the job, or with `--drop-object-lock` get
/// copies without lock settings (and a warning). Jobs in place, or from a source without Object
/// Lock, make no call.
pub async fn object_lock_drops(
    s3: &aws_sdk_s3::Client,
    plan: &Plan,
) -> anyhow::Result<Vec<String>> {
    if plan.dest_buckets.is_empty() || !object_lock_enabled(s3, &plan.spec.bucket).await? {
        return Ok(Vec::new());
    }
    let mut without = Vec::new();
    for bucket in &plan.dest_buckets {
        match object_lock_enabled(s3, bucket).await {
            Ok(true) => {}
            Ok(false) => without.push(bucket.clone()),
            Err(e) if plan.drop_object_lock => {
                tracing::warn!("{e:#}: copies into {bucket} are sent without object lock settings");
                without.push(bucket.clone());
            }
            Err(e) => {
                return Err(
                    e.context("pass --drop-object-lock to copy without object lock settings")
                )
            }
        }
    }
    lock_verdict(&plan.spec.bucket, without, plan.drop_object_lock)
}

/// What to do about destinations `without` Object Lock for a source that has it: nothing when
/// there are none, refuse the job, or (`--drop-object-lock`) drop the settings there.
fn lock_verdict(source: &str, without: Vec<String>, drop: bool) -> anyhow::Result<Vec<String>> {
    if without.is_empty() {
        return Ok(without);
    }
    let list = without.join(", ");
    if !drop {
        return Err(usage(format!(
            "bucket {source} has Object Lock but destination bucket(s) {list} have none: S3 refuses the retention and legal hold of locked objects there, so every such key would fail. Enable Object Lock on {list}, or pass --drop-object-lock to copy those objects without their lock settings"
        )));
    }
    tracing::warn!(
        "destination bucket(s) {list} have no Object Lock: copies into them are sent without the source objects' retention and legal hold (--drop-object-lock)"
    );
    Ok(without)
}

/// `--delete-source-version` needs versioning: without it the copy replaces the only version.
async fn check_versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    match versioning(s3, bucket).await?.as_deref() {
        Some("Enabled") => Ok(()),
        other => Err(usage(format!(
            "--delete-source-version needs versioning enabled on bucket {bucket} (it is {}): without versions the copy is the only version, there is nothing separate to delete",
            other.unwrap_or("never enabled")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_without_object_lock_refuse_the_job_unless_dropped() {
        assert_eq!(
            lock_verdict("src", vec![], false).expect("ok"),
            Vec::<String>::new()
        );
        let err =
            lock_verdict("src", vec!["dst".into(), "far".into()], false).expect_err("refused");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("dst, far") && msg.contains("--drop-object-lock"),
            "{msg}"
        );
        assert_eq!(
            lock_verdict("src", vec!["dst".into()], true).expect("dropped"),
            ["dst".to_owned()]
        );
    }
}
