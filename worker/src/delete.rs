//! `--delete-source-version`: after a copy, check the copy (HeadObject of exactly the version
//! the copy created: target class, the source's size) and only then delete exactly the source
//! version that was copied. The checks are [`delete_versions`] and [`check_copy`]; no other
//! version is ever touched.

use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;
use thaw_common::keystate::{check_copy, delete_versions, Failure};

use crate::copy::{source_version, Copied};
use crate::metrics::Metrics;
use crate::object::{head_at, ObjectInfo};
use crate::Ctx;

/// Checks that the copy exists in the target class with the source's size, then deletes exactly
/// the source version that was copied. Never deletes when the version is unknown or is the copy
/// itself.
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
