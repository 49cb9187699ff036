//! A copy in parts, for objects above the multipart threshold: CreateMultipartUpload,
//! UploadPartCopy per part, CompleteMultipartUpload. S3 keeps nothing of the source on this
//! path, so every attribute is read from HeadObject/GetObjectTagging and passed explicitly.
//!
//! Each UploadPartCopy has an attempt timeout sized from the part (and CompleteMultipartUpload
//! a long one) in place of the SDK's stalled-stream protection, which would fail a large part
//! that S3 answers after more than 20 s (smithy-lang/smithy-rs#4439). A part that failed in a
//! way worth retrying is sent again, up to [`PART_RETRIES`] times: the upload is not aborted
//! for one lost part.
//!
//! No upload is ever left behind unrecorded: the lot item says an upload is being created before
//! it exists, then holds its id while its parts are copied (see [`thaw_common::upload_record`]).
//! A failed upload is aborted at once; a run that died leaves records the next run cleans up
//! with [`abort`] and [`abort_uploads_of`].

use aws_sdk_s3::operation::create_multipart_upload::builders::CreateMultipartUploadFluentBuilder;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    ChecksumType, CompletedMultipartUpload, CompletedPart, MultipartUpload, StorageClass,
};
use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, TryStreamExt};
use thaw_common::aws::{long_request, AwsError};
use thaw_common::keys::KeyLine;
use thaw_common::keystate::is_definite_refusal;
use thaw_common::progress::now_secs;
use thaw_common::spec::part_size_for;
use thaw_common::upload_record::{UploadEntry, UploadSlot};
use thaw_common::verify::{
    checksum_on_complete, checksum_to_ask, Algorithm, Checksum, CopyFacts, CopyPath,
};

use super::acl::{other_bucket_acl, Grants};
use super::proof::{copy_facts, sdk_algorithm, sdk_kind, source_facts, ChecksumFields};
use super::{
    build_err, copy_source, encryption, object_lock, source_version, tagging_string,
    with_encryption,
};
use crate::metrics::Metrics;
use crate::object::ObjectInfo;
use crate::watchdog;
use crate::Ctx;

/// Copies `obj` to the entry's target in parts; the version it created, if any, and what the
/// CompleteMultipartUpload answer says of the copy. The upload is recorded in the lot item
/// (manifest position `index`) while it is open, and aborted when it fails.
pub async fn multipart_copy(
    ctx: &Ctx,
    index: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
    grants: &Grants,
) -> Result<(Option<String>, CopyFacts), AwsError> {
    let (to_bucket, to_key) = ctx.target_of(entry);
    // Tags are read now, after the restore: AWS allows it before, moto does not.
    let tags = object_tags(ctx, &entry.key, source_version(ctx, entry, obj)).await?;
    let asked = checksum_to_ask(source_facts(obj).checksum.as_ref(), CopyPath::Multipart);
    let create = create_request(ctx, (&to_bucket, &to_key), obj, grants, &tags)
        .set_checksum_algorithm(asked.map(|(a, _)| sdk_algorithm(a)))
        .set_checksum_type(asked.and_then(|(_, k)| k).map(sdk_kind));
    // The watchdog learns what to clean up if it abandons this key.
    watchdog::upload_creating(&to_bucket, &to_key, now_secs());
    let upload_id = create_upload(ctx, index, create).await;
    if upload_id.is_err() {
        watchdog::upload_closed();
    }
    let upload_id = upload_id?;
    watchdog::upload_open(&to_bucket, &to_key, &upload_id);
    // Record it before copying parts: a crash from here on leaves an upload the next run aborts.
    if let Err(e) = ctx.record(&UploadEntry::open(index, &upload_id)).await {
        abort(ctx, &to_bucket, &to_key, &upload_id).await;
        return Err(e);
    }
    let with_checksums = asked.is_some();
    let result = match copy_parts(ctx, entry, obj, &upload_id, with_checksums).await {
        Ok(parts) => {
            let source = source_facts(obj).checksum;
            let expected = checksum_on_complete(source.as_ref());
            let asked = asked.map(|(a, _)| a);
            let to = (to_bucket.as_str(), to_key.as_str());
            complete(ctx, to, &upload_id, parts, (asked, expected)).await
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        abort(ctx, &to_bucket, &to_key, &upload_id).await;
    }
    ctx.forget(UploadSlot::Upload(index)).await;
    watchdog::upload_closed();
    result
}

async fn object_tags(
    ctx: &Ctx,
    key: &str,
    version: Option<&str>,
) -> Result<Vec<(String, String)>, AwsError> {
    Metrics::inc(&ctx.metrics.s3_get_tagging);
    let out = ctx
        .s3
        .get_object_tagging()
        .bucket(&ctx.spec.bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .set_request_payer(ctx.request_payer())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObjectTagging", &e))?;
    Ok(out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

/// The CreateMultipartUpload of a copy of `obj` to `(bucket, key)`, carrying every attribute
/// of the source by hand.
fn create_request(
    ctx: &Ctx,
    (to_bucket, to_key): (&str, &str),
    obj: &ObjectInfo,
    grants: &Grants,
    tags: &[(String, String)],
) -> CreateMultipartUploadFluentBuilder {
    let raw = &obj.raw;
    let expires = raw
        .expires_string()
        .and_then(|s| DateTime::from_str(s, DateTimeFormat::HttpDate).ok());
    let lock = object_lock(ctx, obj, to_bucket);
    let mut create = ctx
        .s3_for(to_bucket)
        .create_multipart_upload()
        .bucket(to_bucket)
        .key(to_key)
        .storage_class(StorageClass::from(ctx.spec.target_class.as_str()))
        .set_content_type(raw.content_type().map(str::to_owned))
        .set_content_encoding(raw.content_encoding().map(str::to_owned))
        .set_content_disposition(raw.content_disposition().map(str::to_owned))
        .set_content_language(raw.content_language().map(str::to_owned))
        .set_cache_control(raw.cache_control().map(str::to_owned))
        .set_expires(expires)
        .set_metadata(raw.metadata().cloned())
        .set_website_redirect_location(raw.website_redirect_location().map(str::to_owned))
        .set_object_lock_mode(lock.mode)
        .set_object_lock_retain_until_date(lock.until)
        .set_object_lock_legal_hold_status(lock.legal_hold)
        .set_grant_full_control(grants.full_control.clone())
        .set_grant_read(grants.read.clone())
        .set_grant_read_acp(grants.read_acp.clone())
        .set_grant_write_acp(grants.write_acp.clone())
        .set_acl(other_bucket_acl(ctx, to_bucket))
        .set_request_payer(ctx.request_payer());
    if !tags.is_empty() {
        create = create.tagging(tagging_string(tags));
    }
    let enc = encryption(ctx, obj, to_bucket);
    with_encryption(create, enc, |r, sse, kms, bk| {
        r.set_server_side_encryption(sse)
            .set_ssekms_key_id(kms)
            .set_bucket_key_enabled(bk)
    })
}

/// Sends CreateMultipartUpload and returns the upload id. The lot item says an upload is coming
/// before it exists: a crash between CreateMultipartUpload and the record of its id still
/// leaves a trace, and the next run looks for the upload by key.
async fn create_upload(
    ctx: &Ctx,
    index: usize,
    create: CreateMultipartUploadFluentBuilder,
) -> Result<String, AwsError> {
    ctx.record(&UploadEntry::creating(index, now_secs()))
        .await?;
    Metrics::inc(&ctx.metrics.s3_multipart);
    let created = match create.send().await {
        Ok(c) => c,
        Err(e) => {
            let err = AwsError::from_sdk("CreateMultipartUpload", &e);
            // A definite refusal created nothing; after a timeout or a 5xx an upload may exist,
            // so the pending record stays for the next run to sweep.
            if is_definite_refusal(err.status) {
                ctx.forget(UploadSlot::Upload(index)).await;
            }
            return Err(err);
        }
    };
    Ok(created
        .upload_id()
        .ok_or_else(|| build_err("CreateMultipartUpload", "no UploadId in the answer"))?
        .to_owned())
}

/// CompleteMultipartUpload with the copied parts, handing S3 the source's full-object checksum
/// (`expected`, see [`checksum_on_complete`]) to check the assembled object against; the version
/// it created, if any, and what the answer says of the copy (its checksum of algorithm `asked`).
async fn complete(
    ctx: &Ctx,
    (to_bucket, to_key): (&str, &str),
    upload_id: &str,
    parts: Vec<CompletedPart>,
    (asked, expected): (Option<Algorithm>, Option<&Checksum>),
) -> Result<(Option<String>, CopyFacts), AwsError> {
    Metrics::inc(&ctx.metrics.s3_multipart);
    let value = |a: Algorithm| {
        expected
            .filter(|c| c.algorithm == a)
            .map(|c| c.value.clone())
    };
    ctx.s3_for(to_bucket)
        .complete_multipart_upload()
        .set_checksum_crc64_nvme(value(Algorithm::Crc64Nvme))
        .set_checksum_crc32(value(Algorithm::Crc32))
        .set_checksum_crc32_c(value(Algorithm::Crc32C))
        .set_checksum_type(expected.map(|_| ChecksumType::FullObject))
        .bucket(to_bucket)
        .key(to_key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .set_request_payer(ctx.request_payer())
        // S3 answers when the object is assembled (minutes for a large one), sending only
        // spaces meanwhile: its own timeout, no stalled-stream protection.
        .customize()
        .config_override(long_request(ctx.settings.complete_attempt()))
        .send()
        .await
        .map(|out| {
            watchdog::answered(ctx);
            let fields = ChecksumFields {
                crc64nvme: out.checksum_crc64_nvme(),
                crc32: out.checksum_crc32(),
                crc32c: out.checksum_crc32_c(),
                sha1: out.checksum_sha1(),
                sha256: out.checksum_sha256(),
                kind: out.checksum_type(),
            };
            let facts = copy_facts(out.e_tag(), out.server_side_encryption(), fields, asked);
            (out.version_id().map(str::to_owned), facts)
        })
        .map_err(|e| AwsError::from_sdk("CompleteMultipartUpload", &e))
}

/// Copies the parts of `obj` into upload `upload_id`, `part_concurrency` at a time, each
/// conditional on the ETag HeadObject saw.
async fn copy_parts(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    upload_id: &str,
    with_checksums: bool,
) -> Result<Vec<CompletedPart>, AwsError> {
    let part_size = part_size_for(obj.size(), ctx.settings.part_size);
    let count = obj.size().div_ceil(part_size).max(1);
    let (to_bucket, to_key) = ctx.target_of(entry);
    let upload = Upload {
        source: copy_source(
            &ctx.spec.bucket,
            &entry.key,
            source_version(ctx, entry, obj),
        ),
        if_match: obj.raw.e_tag().map(str::to_owned),
        to: ctx.s3_for(&to_bucket),
        to_bucket: &to_bucket,
        to_key: &to_key,
        upload_id,
        with_checksums,
        attempt: ctx.settings.copy_attempt(part_size),
    };
    let upload = &upload;
    let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
        .map(|i| {
            let start = i * part_size;
            let end = (start + part_size).min(obj.size()).saturating_sub(1);
            let number = i32::try_from(i + 1).unwrap_or(i32::MAX);
            copy_part_retried(ctx, upload, number, (start, end))
        })
        .buffer_unordered(ctx.settings.part_concurrency)
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

/// What every part of one multipart copy shares.
struct Upload<'a> {
    source: String,
    if_match: Option<String>,
    to: &'a aws_sdk_s3::Client,
    to_bucket: &'a str,
    to_key: &'a str,
    upload_id: &'a str,
    with_checksums: bool,
    /// One UploadPartCopy attempt may take this long (sized from the part size).
    attempt: std::time::Duration,
}

/// Times a part is sent again after the SDK gave up on it, before the upload is given up.
const PART_RETRIES: usize = 4;

/// True when a part that failed so is worth sending again: anything but a definite refusal
/// (a timeout, a lost connection, a 5xx), and the 4xx answers that only say "later"
/// (`RequestTimeout`: S3 closed an idle socket; `SlowDown` and `TooManyRequests`).
pub fn part_retryable(e: &AwsError) -> bool {
    !is_definite_refusal(e.status)
        || matches!(
            e.code.as_str(),
            "RequestTimeout" | "SlowDown" | "TooManyRequests"
        )
}

/// Copies one part, sending it again (with backoff) when it failed in a way worth retrying:
/// one lost part costs one part, not the upload.
async fn copy_part_retried(
    ctx: &Ctx,
    upload: &Upload<'_>,
    number: i32,
    range: (u64, u64),
) -> Result<CompletedPart, AwsError> {
    let send = || copy_part(ctx, upload, number, range);
    send.retry(
        ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(500))
            .with_max_delay(std::time::Duration::from_secs(20))
            .with_max_times(PART_RETRIES)
            .with_jitter(),
    )
    .when(part_retryable)
    .notify(|e, d| tracing::warn!(part = number, error = %e, retry_in = ?d, "part copy failed; sending it again"))
    .await
}

/// One UploadPartCopy of bytes `start..=end`, with its own attempt timeout instead of the SDK's
/// stalled-stream protection (S3 answers when the part is copied: minutes for a large part).
async fn copy_part(
    ctx: &Ctx,
    upload: &Upload<'_>,
    number: i32,
    (start, end): (u64, u64),
) -> Result<CompletedPart, AwsError> {
    Metrics::inc(&ctx.metrics.s3_upload_part_copy);
    let out = upload
        .to
        .upload_part_copy()
        .bucket(upload.to_bucket)
        .key(upload.to_key)
        .upload_id(upload.upload_id)
        .part_number(number)
        .copy_source(&upload.source)
        .set_copy_source_if_match(upload.if_match.clone())
        .copy_source_range(format!("bytes={start}-{end}"))
        .set_request_payer(ctx.request_payer())
        .customize()
        .config_override(long_request(upload.attempt))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UploadPartCopy", &e))?;
    watchdog::answered(ctx);
    let r = out
        .copy_part_result()
        .ok_or_else(|| build_err("UploadPartCopy", "no CopyPartResult in the answer"))?;
    let mut part = CompletedPart::builder()
        .part_number(number)
        .set_e_tag(r.e_tag().map(str::to_owned));
    if upload.with_checksums {
        part = part
            .set_checksum_crc32(r.checksum_crc32().map(str::to_owned))
            .set_checksum_crc32_c(r.checksum_crc32_c().map(str::to_owned))
            .set_checksum_crc64_nvme(r.checksum_crc64_nvme().map(str::to_owned))
            .set_checksum_sha1(r.checksum_sha1().map(str::to_owned))
            .set_checksum_sha256(r.checksum_sha256().map(str::to_owned));
    }
    Ok(part.build())
}

/// Aborts the uploads of `key` that were started since `since` (epoch seconds, the time of the
/// pending record, less a minute of clock skew): what a run that crashed while creating an
/// upload may have left behind. Older uploads of the key, and uploads whose start S3 does not
/// report, are left alone.
pub async fn abort_uploads_of(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    since: i64,
) -> Result<usize, AwsError> {
    // ListMultipartUploads pages on two markers; the SDK has no paginator for it.
    let mut aborted = 0;
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        Metrics::inc(&ctx.metrics.s3_multipart);
        let page = ctx
            .s3_for(bucket)
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker)
            .set_upload_id_marker(id_marker)
            .set_request_payer(ctx.request_payer())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListMultipartUploads", &e))?;
        for u in page.uploads() {
            if let (true, Some(id)) = (started_since(u, key, since), u.upload_id()) {
                abort(ctx, bucket, key, id).await;
                aborted += 1;
            }
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if page.is_truncated() != Some(true) || (key_marker.is_none() && id_marker.is_none()) {
            return Ok(aborted);
        }
    }
}

/// True when `upload` is one of `key` started since `since` (a minute of clock skew allowed).
fn started_since(upload: &MultipartUpload, key: &str, since: i64) -> bool {
    upload.key() == Some(key)
        && upload
            .initiated()
            .is_some_and(|t| t.secs() >= since.saturating_sub(60))
}

/// Aborts an upload; a failure to abort is logged, never hides the original error.
pub async fn abort(ctx: &Ctx, bucket: &str, key: &str, upload_id: &str) {
    Metrics::inc(&ctx.metrics.s3_multipart);
    if let Err(e) = ctx
        .s3_for(bucket)
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .set_request_payer(ctx.request_payer())
        .send()
        .await
    {
        let e = AwsError::from_sdk("AbortMultipartUpload", &e);
        if e.code != "NoSuchUpload" {
            tracing::warn!(key, upload_id, error = %e, "could not abort multipart upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_retried_unless_refused() {
        let err = |code: &str, status: Option<u16>| AwsError {
            operation: "UploadPartCopy",
            code: code.into(),
            message: String::new(),
            status,
        };
        assert!(part_retryable(&err("Timeout", None)));
        assert!(part_retryable(&err("DispatchFailure", None)));
        assert!(part_retryable(&err("ResponseError", None)));
        assert!(part_retryable(&err("InternalError", Some(500))));
        assert!(part_retryable(&err("SlowDown", Some(503))));
        assert!(part_retryable(&err("RequestTimeout", Some(400))));
        // An answer of 200 carrying an error (S3 does that on copies) is not a refusal.
        assert!(part_retryable(&err("InternalError", Some(200))));
        assert!(!part_retryable(&err("PreconditionFailed", Some(412))));
        assert!(!part_retryable(&err("NoSuchUpload", Some(404))));
        assert!(!part_retryable(&err("AccessDenied", Some(403))));
        assert!(!part_retryable(&err("InvalidObjectState", Some(403))));
    }

    #[test]
    fn only_uploads_of_the_key_started_since_the_record_are_swept() {
        let upload = |key: &str, at: Option<i64>| {
            MultipartUpload::builder()
                .key(key)
                .upload_id("u")
                .set_initiated(at.map(DateTime::from_secs))
                .build()
        };
        let since = 1_700_000_000;
        assert!(started_since(&upload("a/b", Some(since)), "a/b", since));
        assert!(started_since(
            &upload("a/b", Some(since - 60)),
            "a/b",
            since
        ));
        assert!(!started_since(
            &upload("a/b", Some(since - 61)),
            "a/b",
            since
        ));
        assert!(!started_since(&upload("a/b", None), "a/b", since));
        // The listing is by prefix: a longer key is someone else's.
        assert!(!started_since(&upload("a/bc", Some(since)), "a/b", since));
    }
}
