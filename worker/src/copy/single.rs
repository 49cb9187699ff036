//! A copy in one request: CopyObject with MetadataDirective and TaggingDirective COPY (S3
//! carries metadata, content headers and tags), plus what it does not carry by itself: storage
//! class, encryption, object lock settings, website redirect, checksum algorithm and grants.
//! Its attempt timeout is sized from the object's bytes (`Settings::copy_attempt`).

use aws_sdk_s3::types::{MetadataDirective, StorageClass, TaggingDirective};
use thaw_common::aws::{long_request, AwsError};
use thaw_common::keys::KeyLine;

use thaw_common::verify::{checksum_to_ask, CopyFacts, CopyPath};

use super::acl::{other_bucket_acl, Grants};
use super::proof::{copy_facts, sdk_algorithm, source_facts, ChecksumFields};
use super::{copy_source, encryption, object_lock, source_version, with_encryption};
use crate::metrics::Metrics;
use crate::object::ObjectInfo;
use crate::watchdog;
use crate::Ctx;

/// Copies `obj` to the entry's target with one CopyObject, asking S3 for the source's checksum
/// algorithm; the version it created, if any, and what the answer says of the copy.
pub async fn single_copy(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    grants: &Grants,
) -> Result<(Option<String>, CopyFacts), AwsError> {
    let raw = &obj.raw;
    let (to_bucket, to_key) = ctx.target_of(entry);
    let lock = object_lock(ctx, obj, &to_bucket);
    Metrics::inc(&ctx.metrics.s3_copy);
    let mut req = ctx
        .s3_for(&to_bucket)
        .copy_object()
        .bucket(&to_bucket)
        .key(&to_key)
        .copy_source(copy_source(
            &ctx.spec.bucket,
            &entry.key,
            source_version(ctx, entry, obj),
        ))
        // Copy exactly the object HeadObject described: if it was overwritten since, S3 answers
        // 412 and the key is looked at again instead of copying a different object's bytes.
        .set_copy_source_if_match(raw.e_tag().map(str::to_owned))
        .storage_class(StorageClass::from(ctx.spec.target_class.as_str()))
        .metadata_directive(MetadataDirective::Copy)
        .tagging_directive(TaggingDirective::Copy)
        .set_website_redirect_location(raw.website_redirect_location().map(str::to_owned))
        .set_object_lock_mode(lock.mode)
        .set_object_lock_retain_until_date(lock.until)
        .set_object_lock_legal_hold_status(lock.legal_hold)
        .set_grant_full_control(grants.full_control.clone())
        .set_grant_read(grants.read.clone())
        .set_grant_read_acp(grants.read_acp.clone())
        .set_grant_write_acp(grants.write_acp.clone())
        .set_acl(other_bucket_acl(ctx, &to_bucket))
        .set_request_payer(ctx.request_payer());
    req = with_encryption(req, encryption(ctx, obj, &to_bucket), |r, sse, kms, bk| {
        r.set_server_side_encryption(sse)
            .set_ssekms_key_id(kms)
            .set_bucket_key_enabled(bk)
    });
    let asked = checksum_to_ask(source_facts(obj).checksum.as_ref(), CopyPath::Single).map(|a| a.0);
    if let Some(alg) = asked {
        req = req.checksum_algorithm(sdk_algorithm(alg));
    }
    // S3 answers a CopyObject when the copy is done: minutes for a large object.
    let out = req
        .customize()
        .config_override(long_request(ctx.settings.copy_attempt(obj.size())))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CopyObject", &e))?;
    watchdog::answered(ctx);
    let Some(r) = out.copy_object_result() else {
        return Err(AwsError {
            operation: "CopyObject",
            code: "NoCopyResult".into(),
            message: "CopyObject answered without a CopyObjectResult".into(),
            status: None,
        });
    };
    let fields = ChecksumFields {
        crc64nvme: r.checksum_crc64_nvme(),
        crc32: r.checksum_crc32(),
        crc32c: r.checksum_crc32_c(),
        sha1: r.checksum_sha1(),
        sha256: r.checksum_sha256(),
        kind: r.checksum_type(),
    };
    let facts = copy_facts(r.e_tag(), out.server_side_encryption(), fields, asked);
    Ok((out.version_id().map(str::to_owned), facts))
}
