//! Writes the proofs of a run's copies (see [`thaw_common::proof_record`]) where `coordinator report`
//! reads them: one object per run, `<control>/proofs/<lot>/<attempt>.jsonl`, a JSON line per
//! copied key. One PutObject per run, whatever the number of keys; nothing when the run copied
//! nothing. A run killed before its end (SIGKILL, an out-of-memory kill) writes none: its
//! copies then show no proof values in the report, and their counters still count them.

use thaw_common::aws::AwsError;
use thaw_common::proof_record::{proofs_body, proofs_key};

use crate::metrics::Metrics;
use crate::Ctx;

/// Writes this run's proofs; a failure is logged (the copies are done and counted; only the
/// report's proof columns of this run's keys stay empty).
pub async fn write(ctx: &Ctx) {
    let proofs = ctx.tracker.proofs();
    if proofs.is_empty() {
        return;
    }
    let control = &ctx.spec.control;
    let key = control.key(&proofs_key(ctx.lot, ctx.attempt));
    Metrics::inc(&ctx.metrics.s3_put);
    let res = ctx
        .s3
        .put_object()
        .bucket(&control.bucket)
        .key(&key)
        .content_type("application/x-ndjson")
        .body(proofs_body(&proofs).into_bytes().into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutObject", &e));
    match res {
        Ok(_) => tracing::info!(
            proofs = proofs.len(),
            "copy proofs written to s3://{}/{key}",
            control.bucket
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "could not write the copy proofs to s3://{}/{key}: the report shows no proof values for this run's keys",
            control.bucket
        ),
    }
}
