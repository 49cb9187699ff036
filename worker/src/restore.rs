//! RestoreObject: asks S3 to bring an archived object back for `days` days at the job's tier.

use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
use thaw_common::aws::AwsError;

use crate::metrics::Metrics;
use crate::Ctx;

/// What S3 said to a restore request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreAnswer {
    /// Accepted (202), or already restored (200): look again later.
    Requested,
    /// 409 RestoreAlreadyInProgress: someone asked before; not an error.
    AlreadyInProgress,
}

/// Requests the restore of `key` (the pinned version, or the current one), paced by the
/// worker's share of the account's restore rate.
pub async fn request(
    ctx: &Ctx,
    key: &str,
    version: Option<&str>,
    days: Option<u32>,
) -> Result<RestoreAnswer, AwsError> {
    ctx.restore_limiter.acquire().await;
    Metrics::inc(&ctx.metrics.s3_restore);
    let tier = Tier::from(ctx.spec.restore_tier.as_s3());
    let params = GlacierJobParameters::builder()
        .tier(tier)
        .build()
        .map_err(|e| AwsError {
            operation: "RestoreObject",
            code: "BuildError".into(),
            message: e.to_string(),
            status: None,
        })?;
    let mut req = RestoreRequest::builder().glacier_job_parameters(params);
    if let Some(d) = days {
        req = req.days(i32::try_from(d).unwrap_or(i32::MAX));
    }
    let res = ctx
        .s3
        .restore_object()
        .bucket(&ctx.spec.bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .restore_request(req.build())
        .set_request_payer(ctx.request_payer())
        .send()
        .await;
    match res {
        Ok(_) => Ok(RestoreAnswer::Requested),
        Err(e) => {
            let err = AwsError::from_sdk("RestoreObject", &e);
            if err.code == "RestoreAlreadyInProgress" {
                Ok(RestoreAnswer::AlreadyInProgress)
            } else {
                Err(err)
            }
        }
    }
}
