//! The pre-flight checks of a launch: everything the job needs in AWS is looked at before the
//! first write (table, buckets and their Regions, versioning, ACLs, ECS cluster and task
//! definition), so a bad command leaves no partial job. What they learn completes the spec.

use std::collections::BTreeMap;

use anyhow::Context;
use thaw_common::aws::Aws;
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
    plan.spec.copy_acls = copy_acls(&s3, acls, plan).await?;
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
