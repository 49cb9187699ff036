//! What HeadObject tells about an object: its archive/restore state for the key state machine,
//! and every attribute a multipart copy must carry over by hand.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use thaw_common::aws::AwsError;
use thaw_common::keystate::{parse_restore_header, ObjectHead};

use crate::metrics::Metrics;
use crate::Ctx;

/// An object as HeadObject describes it.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// The reduced view the state machine decides on.
    pub head: ObjectHead,
    /// Size in bytes.
    pub size: u64,
    /// The full HeadObject answer, for carrying attributes on multipart copies.
    pub raw: HeadObjectOutput,
}

impl ObjectInfo {
    /// True when this object is in `class` with `src`'s size: what a copy of `src` into that
    /// class looks like (the ETag may still differ, see [`ObjectInfo::same_etag`]).
    pub fn sized_like_copy_of(&self, src: &ObjectInfo, class: &str) -> bool {
        self.head.storage_class == class && self.size == src.size
    }

    /// True when both objects report the same ETag (a one-request copy of an object without
    /// SSE-KMS keeps its source's; multipart and SSE-KMS copies do not).
    pub fn same_etag(&self, other: &ObjectInfo) -> bool {
        self.raw.e_tag().is_some() && self.raw.e_tag() == other.raw.e_tag()
    }

    /// The checksum algorithm the object was stored with, if S3 reports one.
    pub fn checksum_algorithm(&self) -> Option<ChecksumAlgorithm> {
        let r = &self.raw;
        if r.checksum_crc64_nvme().is_some() {
            Some(ChecksumAlgorithm::Crc64Nvme)
        } else if r.checksum_crc32_c().is_some() {
            Some(ChecksumAlgorithm::Crc32C)
        } else if r.checksum_crc32().is_some() {
            Some(ChecksumAlgorithm::Crc32)
        } else if r.checksum_sha256().is_some() {
            Some(ChecksumAlgorithm::Sha256)
        } else if r.checksum_sha1().is_some() {
            Some(ChecksumAlgorithm::Sha1)
        } else {
            None
        }
    }
}

/// HeadObject on a source key (the pinned version, or the current one); a missing key is
/// `NoSuchKey` and a missing version `NoSuchVersion`, as in S3's other APIs.
pub async fn head(ctx: &Ctx, key: &str, version: Option<&str>) -> Result<ObjectInfo, AwsError> {
    head_at(ctx, &ctx.spec.bucket, key, version).await
}

/// HeadObject on any object of the job (source or destination).
pub async fn head_at(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Result<ObjectInfo, AwsError> {
    Metrics::inc(&ctx.metrics.s3_head);
    let out = ctx
        .s3_for(bucket)
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| {
            let mut err = AwsError::from_sdk("HeadObject", &e);
            match (err.code.as_str(), err.status) {
                ("NotFound", _) | (_, Some(404)) if version.is_some() => {
                    err.code = "NoSuchVersion".into();
                    err.message = "The specified version does not exist.".into();
                }
                ("NotFound", _) | (_, Some(404)) => {
                    err.code = "NoSuchKey".into();
                    err.message = "The specified key does not exist.".into();
                }
                (_, Some(400)) => {
                    // HEAD has no body; S3 answers 400 for SSE-C objects read without their key.
                    err.code = "SSECustomerKeyRequired".into();
                    err.message = "HeadObject answered 400: the object is probably encrypted with a customer-provided key (SSE-C)".into();
                }
                _ => {}
            }
            err
        })?;
    Ok(ObjectInfo {
        head: ObjectHead {
            storage_class: out
                .storage_class()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_else(|| "STANDARD".to_owned()),
            archive_status: out.archive_status().map(|a| a.as_str().to_owned()),
            restore: parse_restore_header(out.restore()),
            sse_customer: out.sse_customer_algorithm().is_some(),
        },
        size: out.content_length().unwrap_or(0).max(0) as u64,
        raw: out,
    })
}
