//! RestoreObject: asks S3 to bring an archived object back for `days` days, at the job's tier or
//! the one the object can have ([`thaw_common::keystate::restore_tier_for`]); when S3 has no
//! Expedited capacity (`503 GlacierExpeditedRetrievalNotAvailable`) the request is sent again
//! at Standard at once ([`thaw_common::keystate::fallback_tier`]).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, Tier};
use thaw_common::aws::AwsError;
use thaw_common::keystate::fallback_tier;
use thaw_common::storage::RestoreTier;

use crate::metrics::Metrics;
use crate::ratelimit::Kind;
use crate::Ctx;

/// What S3 said to a restore request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAnswer {
    /// 202 Accepted: a new restore; look again later.
    Requested,
    /// 200 OK: the object already is restored (S3 only extended its expiry): no new request.
    AlreadyRestored,
    /// 409 RestoreAlreadyInProgress: someone asked before; not an error.
    AlreadyInProgress,
}

impl RestoreAnswer {
    /// The answer a successful RestoreObject's HTTP status means: 200 is "already restored",
    /// anything else (202) a new restore.
    pub fn of_status(status: u16) -> Self {
        if status == 200 {
            Self::AlreadyRestored
        } else {
            Self::Requested
        }
    }
}

/// A restore request's answer and the tier it was finally asked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restore {
    /// What S3 said.
    pub answer: RestoreAnswer,
    /// The tier asked at last (Standard after a fallback).
    pub tier: RestoreTier,
}

/// Requests the restore of `key` (the pinned version, or the current one) at `tier`, paced by
/// the worker's share of the account's restore rate and by the adaptive pacing; falls back to
/// Standard when S3 has no Expedited capacity.
pub async fn request(
    ctx: &Ctx,
    key: &str,
    version: Option<&str>,
    days: Option<u32>,
    tier: RestoreTier,
) -> Result<Restore, AwsError> {
    match send(ctx, key, version, days, tier).await {
        Err(e) => match fallback_tier(&e.code, tier) {
            Some(fallback) => {
                tracing::info!(
                    key,
                    from = tier.as_s3(),
                    to = fallback.as_s3(),
                    "no Expedited capacity: restore asked at Standard"
                );
                let answer = send(ctx, key, version, days, fallback).await?;
                Ok(Restore {
                    answer,
                    tier: fallback,
                })
            }
            None => Err(e),
        },
        Ok(answer) => Ok(Restore { answer, tier }),
    }
}

/// One RestoreObject request.
async fn send(
    ctx: &Ctx,
    key: &str,
    version: Option<&str>,
    days: Option<u32>,
    tier: RestoreTier,
) -> Result<RestoreAnswer, AwsError> {
    ctx.restore_limiter.acquire().await;
    ctx.pacing.acquire(Kind::Restore).await;
    Metrics::inc(&ctx.metrics.s3_restore);
    let params = GlacierJobParameters::builder()
        .tier(Tier::from(tier.as_s3()))
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
    let status = Arc::new(AtomicU16::new(0));
    let mut op = ctx
        .s3
        .restore_object()
        .bucket(&ctx.spec.bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .restore_request(req.build())
        .set_request_payer(ctx.request_payer())
        .customize()
        .interceptor(StatusOf(status.clone()));
    if tier == RestoreTier::Expedited {
        // The SDK would retry a 503 GlacierExpeditedRetrievalNotAvailable like any 503: asked
        // once, so it falls back to Standard at once (a SlowDown goes back for the next pass).
        op = op.config_override(
            aws_sdk_s3::Config::builder()
                .retry_config(RetryConfig::standard().with_max_attempts(1)),
        );
    }
    let res = op.send().await;
    match res {
        Ok(_) => Ok(RestoreAnswer::of_status(status.load(Ordering::Relaxed))),
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

/// Keeps the HTTP status of the last answer: the SDK's RestoreObject output does not say
/// whether S3 answered 202 (a new restore) or 200 (already restored).
#[derive(Debug)]
struct StatusOf(Arc<AtomicU16>);

impl Intercept for StatusOf {
    fn name(&self) -> &'static str {
        "thaw restore status"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0
            .store(context.response().status().as_u16(), Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_200_is_an_object_already_restored_not_a_new_request() {
        // Issue 12: a 200 used to be counted as a new restore request.
        assert_eq!(
            RestoreAnswer::of_status(200),
            RestoreAnswer::AlreadyRestored
        );
        assert_eq!(RestoreAnswer::of_status(202), RestoreAnswer::Requested);
    }
}
