//! Probes of S3 buckets run before anything is written: does a bucket exist, in which Region,
//! does it still use ACLs, is versioning enabled. Each is one request and says nothing about
//! what the caller should do with the answer.

use anyhow::Context;
use thaw_common::aws::AwsError;

/// Fails unless `bucket` exists and is reachable with our credentials (HeadBucket).
pub async fn check_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    bucket_region(s3, bucket).await.map(|_| ())
}

/// The Region `bucket` is in (HeadBucket's `x-amz-bucket-region`, which S3 also sends with the
/// 301 it answers when asked in the wrong Region); fails unless the bucket exists and is
/// reachable with our credentials.
pub async fn bucket_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> anyhow::Result<Option<String>> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(out) => Ok(out.bucket_region().map(str::to_owned)),
        Err(e) => {
            let region = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_owned);
            let err = AwsError::from_sdk("HeadBucket", &e);
            // S3 names the bucket's Region on a 301 (asked in the wrong Region), and also on
            // the 400 and 403 of some endpoints: the bucket exists there.
            if let (Some(r), Some(301 | 400 | 403)) = (region, err.status) {
                return Ok(Some(r));
            }
            if err.status == Some(404) || matches!(err.code.as_str(), "NotFound" | "NoSuchBucket") {
                anyhow::bail!("bucket {bucket} does not exist");
            }
            if err.status == Some(403) || err.is_access() {
                anyhow::bail!("access to bucket {bucket} denied ({err})");
            }
            Err(err).with_context(|| format!("checking bucket {bucket}"))
        }
    }
}

/// Fails unless `bucket` is in `region` (the Region thaw runs in), naming the Region to use.
pub async fn check_bucket_in_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    what: &str,
) -> anyhow::Result<()> {
    match bucket_region(s3, bucket).await? {
        Some(r) if r != region => anyhow::bail!(
            "{what} {bucket} is in Region {r}, but thaw is running in {region}: pass --region {r} (the workers and the progress table must be in the bucket's Region)"
        ),
        _ => Ok(()),
    }
}

/// True when `bucket` still uses ACLs (Object Ownership is not "bucket owner enforced"; a
/// bucket without ownership controls is a pre-2023 bucket with ACLs).
pub async fn acls_enabled(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<bool> {
    match s3
        .get_bucket_ownership_controls()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(!out
            .ownership_controls()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .any(|r| r.object_ownership().as_str() == "BucketOwnerEnforced")),
        Err(e) => {
            let err = AwsError::from_sdk("GetBucketOwnershipControls", &e);
            if err.code == "OwnershipControlsNotFoundError" {
                Ok(true)
            } else {
                Err(err).with_context(|| format!("checking whether bucket {bucket} uses ACLs"))
            }
        }
    }
}

/// The versioning status of `bucket` (`Enabled`, `Suspended`), `None` when it was never enabled.
pub async fn versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<Option<String>> {
    let out = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetBucketVersioning", &e))
        .with_context(|| format!("checking versioning of bucket {bucket}"))?;
    Ok(out.status().map(|s| s.as_str().to_owned()))
}
