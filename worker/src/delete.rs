//! `--delete-source-version`: after a copy, check the copy (HeadObject of exactly the version
//! the copy created: not proved other than its source by checksum or ETag against the source's
//! HeadObject, then target class, the source's size) and only then delete exactly the source
//! version that was copied. The checks are [`delete_versions`], [`check_copy_proof`] and
//! [`check_copy`]; no other version is ever touched.

use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{check_copy, check_copy_proof, delete_versions, Failure};
use thaw_common::weather::is_weather;

use crate::copy::{heads_proof, source_version, Copied};
use crate::metrics::Metrics;
use crate::object::{head_at, ObjectInfo};
use crate::Ctx;

/// [`delete_source_version`], tried again with backoff (1 s to 10 s, 6 more tries) while the
/// answers are weather (SlowDown, 503, timeouts): the copy is made by then, so sending the key
/// back for a later pass would find it done and never delete its source version. Check and
/// delete are both safe to repeat.
pub async fn delete_source_version_retried(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    copied: &Copied,
) -> Result<(), AwsError> {
    use backon::{ExponentialBuilder, Retryable};
    (|| delete_source_version(ctx, entry, obj, copied))
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_secs(1))
                .with_max_delay(std::time::Duration::from_secs(10))
                .with_max_times(6)
                .with_jitter(),
        )
        .when(|e| is_weather(&e.code, e.status))
        .notify(|e, d| tracing::warn!(key = entry.key, error = %e, retry_in = ?d, "deleting the source version met weather"))
        .await
}

/// Checks that the copy exists in the target class with the source's size and that its checksum
/// or ETag (where comparable) is the source's, then deletes exactly the source version that was
/// copied. Never deletes when the version is unknown or is the copy itself, nor a copy proved
/// other than its source (refused with `CopyMismatch`).
pub async fn delete_source_version(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    copied: &Copied,
) -> Result<(), AwsError> {
    let refuse = |f: Failure| AwsError {
        operation: "DeleteObject",
        code: f.code,
        message: f.message,
        status: None,
    };
    let (to_bucket, to_key) = ctx.target_of(entry);
    let (version, copy_version) = delete_versions(
        ctx.in_place(entry),
        source_version(ctx, entry, obj),
        copied.version_id.as_deref(),
    )
    .map_err(refuse)?;
    let copy = head_at(ctx, &to_bucket, &to_key, copy_version).await?;
    check_copy_proof(&heads_proof(obj, &copy)).map_err(refuse)?;
    check_copy(&copy.facts, obj.size(), ctx.spec.target_class).map_err(refuse)?;
    Metrics::inc(&ctx.metrics.s3_delete);
    ctx.s3
        .delete_object()
        .bucket(&ctx.spec.bucket)
        .key(&entry.key)
        .version_id(version)
        .set_request_payer(ctx.request_payer())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteObject", &e))?;
    Ok(())
}
