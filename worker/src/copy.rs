//! Copies an object onto itself (or elsewhere) with the target storage class, keeping
//! everything that makes it the same object: bytes, metadata, content headers, tags, encryption,
//! website redirect, object lock settings and checksum algorithm.
//!
//! Up to the multipart threshold one CopyObject does it (MetadataDirective and TaggingDirective
//! COPY). Above it, multipart UploadPartCopy keeps nothing by itself, so every attribute is read
//! from HeadObject/GetObjectTagging and passed explicitly. An upload that fails is aborted; its id
//! is recorded in the lot item first so that a crash leaves nothing the next run cannot clean up.

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Grant, MetadataDirective, ObjectCannedAcl, Permission,
    ServerSideEncryption, StorageClass, TaggingDirective,
};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;
use thaw_common::progress::now_secs;
use thaw_common::spec::part_size_for;
use thaw_common::upload_record::{UploadEntry, UploadSlot};

use crate::metrics::Metrics;
use crate::object::ObjectInfo;
use crate::Ctx;

/// Characters left as they are in a `CopySource` key: RFC 3986 unreserved plus `/`.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Characters left as they are in a tag key or value of the `x-amz-tagging` query string.
const TAG_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The `CopySource` value for `bucket`/`key`, URL-encoded (the Rust SDK does not encode it:
/// aws-sdk-rust issue 1357), with `?versionId=` when a version is pinned.
pub fn copy_source(bucket: &str, key: &str, version: Option<&str>) -> String {
    let mut s = format!("{bucket}/{}", utf8_percent_encode(key, KEY_SET));
    if let Some(v) = version {
        s.push_str("?versionId=");
        s.push_str(&utf8_percent_encode(v, TAG_SET).to_string());
    }
    s
}

/// Tags as the `x-amz-tagging` query string (`k1=v1&k2=v2`).
pub fn tagging_string(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAG_SET),
                utf8_percent_encode(v, TAG_SET)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn build_err(op: &'static str, e: impl std::fmt::Display) -> AwsError {
    AwsError {
        operation: op,
        code: "BuildError".into(),
        message: e.to_string(),
        status: None,
    }
}

/// A finished copy.
#[derive(Debug, Clone)]
pub struct Copied {
    /// Bytes copied.
    pub bytes: u64,
    /// The version the copy created (versioned destinations).
    pub version_id: Option<String>,
}

/// The source version a copy reads: the manifest's pin, or (when the source version is to be
/// deleted afterwards) exactly the version HeadObject described.
pub fn source_version<'a>(ctx: &Ctx, entry: &'a KeyLine, obj: &'a ObjectInfo) -> Option<&'a str> {
    entry
        .version_id
        .as_deref()
        .or(if ctx.spec.delete_source_version {
            obj.raw.version_id()
        } else {
            None
        })
}

/// An object's ACL grants as `x-amz-grant-*` header values, one per permission: S3 never
/// copies ACLs, so a copy passes them explicitly, the source owner's own grant included (grant
/// headers replace the default ACL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// `x-amz-grant-full-control`.
    pub full_control: Option<String>,
    /// `x-amz-grant-read`.
    pub read: Option<String>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<String>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<String>,
}

/// The header values for a list of grants (`id="..."`, `uri="..."` or `emailAddress="..."`,
/// comma-separated per permission). WRITE means nothing on an object and is left out.
pub fn grants_from(grants: &[Grant]) -> Grants {
    let mut g = Grants::default();
    for grant in grants {
        let Some(grantee) = grant.grantee() else {
            continue;
        };
        let who = match (grantee.id(), grantee.uri(), grantee.email_address()) {
            (Some(id), _, _) => format!("id=\"{id}\""),
            (None, Some(uri), _) => format!("uri=\"{uri}\""),
            (None, None, Some(email)) => format!("emailAddress=\"{email}\""),
            _ => continue,
        };
        let slot = match grant.permission() {
            Some(Permission::FullControl) => &mut g.full_control,
            Some(Permission::Read) => &mut g.read,
            Some(Permission::ReadAcp) => &mut g.read_acp,
            Some(Permission::WriteAcp) => &mut g.write_acp,
            _ => continue,
        };
        match slot {
            Some(list) => {
                list.push_str(", ");
                list.push_str(&who);
            }
            None => *slot = Some(who),
        }
    }
    g
}

/// The canned ACL of a copy into another bucket than the source: `bucket-owner-full-control`,
/// so the destination's owner (perhaps another account) owns the copy where its bucket prefers
/// it, or at least controls it. Buckets with ACLs disabled accept exactly this ACL.
fn other_bucket_acl(ctx: &Ctx, to_bucket: &str) -> Option<ObjectCannedAcl> {
    (to_bucket != ctx.spec.bucket).then_some(ObjectCannedAcl::BucketOwnerFullControl)
}

/// The grants of the source object (the version copied), when the job carries ACLs.
async fn object_grants(ctx: &Ctx, entry: &KeyLine, obj: &ObjectInfo) -> Result<Grants, AwsError> {
    if !ctx.spec.copy_acls {
        return Ok(Grants::default());
    }
    Metrics::inc(&ctx.metrics.s3_get_acl);
    let out = ctx
        .s3
        .get_object_acl()
        .bucket(&ctx.spec.bucket)
        .key(&entry.key)
        .set_version_id(source_version(ctx, entry, obj).map(str::to_owned))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObjectAcl", &e))?;
    Ok(grants_from(out.grants()))
}

/// Copies a manifest entry into the job's target class, in place or to its destination.
pub async fn copy_object(
    ctx: &Ctx,
    index: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
) -> Result<Copied, AwsError> {
    let grants = object_grants(ctx, entry, obj).await?;
    let copy = |grants: Grants| async move {
        if obj.size > ctx.settings.multipart_threshold {
            multipart_copy(ctx, index, entry, obj, &grants).await
        } else {
            single_copy(ctx, entry, obj, &grants).await
        }
    };
    let version_id = match copy(grants.clone()).await {
        // ACLs were disabled on the bucket since launch: no grant can exist there any more.
        Err(e) if e.code == "AccessControlListNotSupported" && grants != Grants::default() => {
            tracing::warn!(
                key = entry.key,
                "the bucket no longer accepts ACLs: copying without grants"
            );
            copy(Grants::default()).await?
        }
        other => other?,
    };
    Ok(Copied {
        bytes: obj.size,
        version_id,
    })
}

async fn single_copy(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    grants: &Grants,
) -> Result<Option<String>, AwsError> {
    let raw = &obj.raw;
    let (to_bucket, to_key) = ctx.target_of(entry);
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
        .set_object_lock_mode(retention(obj).map(|(m, _)| m))
        .set_object_lock_retain_until_date(retention(obj).map(|(_, d)| d))
        .set_object_lock_legal_hold_status(raw.object_lock_legal_hold_status().cloned())
        .set_grant_full_control(grants.full_control.clone())
        .set_grant_read(grants.read.clone())
        .set_grant_read_acp(grants.read_acp.clone())
        .set_grant_write_acp(grants.write_acp.clone())
        .set_acl(other_bucket_acl(ctx, &to_bucket));
    let same_region = !ctx.regional_s3.contains_key(&to_bucket);
    req = with_encryption(req, obj, same_region, |r, sse, kms, bk| {
        r.set_server_side_encryption(sse)
            .set_ssekms_key_id(kms)
            .set_bucket_key_enabled(bk)
    });
    if let Some(alg) = obj.checksum_algorithm() {
        req = req.checksum_algorithm(alg);
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CopyObject", &e))?;
    if out.copy_object_result().is_none() {
        return Err(AwsError {
            operation: "CopyObject",
            code: "NoCopyResult".into(),
            message: "CopyObject answered without a CopyObjectResult".into(),
            status: None,
        });
    }
    Ok(out.version_id().map(str::to_owned))
}

/// The source's object lock retention, when it is still in force (S3 refuses a retain-until date
/// in the past; an expired retention protects nothing and is not carried).
fn retention(obj: &ObjectInfo) -> Option<(aws_sdk_s3::types::ObjectLockMode, DateTime)> {
    let mode = obj.raw.object_lock_mode()?;
    let until = obj.raw.object_lock_retain_until_date()?;
    let now = DateTime::from(std::time::SystemTime::now());
    (until.secs() > now.secs()).then(|| (mode.as_str().into(), *until))
}

/// Applies the source's server-side encryption to a request builder (SSE-S3 or SSE-KMS with its
/// key and bucket-key setting), so a copy never falls back to the bucket default, except for an
/// SSE-KMS object copied into another Region, where the source's key cannot be used.
fn with_encryption<B>(
    builder: B,
    obj: &ObjectInfo,
    same_region: bool,
    set: impl FnOnce(B, Option<ServerSideEncryption>, Option<String>, Option<bool>) -> B,
) -> B {
    let raw = &obj.raw;
    match raw.server_side_encryption() {
        // A KMS key belongs to one Region: a copy into another Region takes the destination
        // bucket's default encryption instead of a key it cannot use.
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse) if !same_region => {
            builder
        }
        Some(sse) => {
            let kms = matches!(
                sse,
                ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse
            );
            set(
                builder,
                Some(sse.clone()),
                if kms {
                    raw.ssekms_key_id().map(str::to_owned)
                } else {
                    None
                },
                if kms { raw.bucket_key_enabled() } else { None },
            )
        }
        None => builder,
    }
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
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObjectTagging", &e))?;
    Ok(out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

async fn multipart_copy(
    ctx: &Ctx,
    index: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
    grants: &Grants,
) -> Result<Option<String>, AwsError> {
    let raw = &obj.raw;
    let (to_bucket, to_key) = ctx.target_of(entry);
    let to = ctx.s3_for(&to_bucket);
    let version = source_version(ctx, entry, obj);
    // Tags are read now, after the restore: AWS allows it before, moto does not.
    let tags = object_tags(ctx, &entry.key, version).await?;
    let expires = raw
        .expires_string()
        .and_then(|s| DateTime::from_str(s, DateTimeFormat::HttpDate).ok());
    let checksum = obj.checksum_algorithm();
    let mut create = to
        .create_multipart_upload()
        .bucket(&to_bucket)
        .key(&to_key)
        .storage_class(StorageClass::from(ctx.spec.target_class.as_str()))
        .set_content_type(raw.content_type().map(str::to_owned))
        .set_content_encoding(raw.content_encoding().map(str::to_owned))
        .set_content_disposition(raw.content_disposition().map(str::to_owned))
        .set_content_language(raw.content_language().map(str::to_owned))
        .set_cache_control(raw.cache_control().map(str::to_owned))
        .set_expires(expires)
        .set_metadata(raw.metadata().cloned())
        .set_website_redirect_location(raw.website_redirect_location().map(str::to_owned))
        .set_object_lock_mode(retention(obj).map(|(m, _)| m))
        .set_object_lock_retain_until_date(retention(obj).map(|(_, d)| d))
        .set_object_lock_legal_hold_status(raw.object_lock_legal_hold_status().cloned())
        .set_checksum_algorithm(checksum.clone())
        .set_grant_full_control(grants.full_control.clone())
        .set_grant_read(grants.read.clone())
        .set_grant_read_acp(grants.read_acp.clone())
        .set_grant_write_acp(grants.write_acp.clone())
        .set_acl(other_bucket_acl(ctx, &to_bucket));
    if !tags.is_empty() {
        create = create.tagging(tagging_string(&tags));
    }
    let same_region = !ctx.regional_s3.contains_key(&to_bucket);
    create = with_encryption(create, obj, same_region, |r, sse, kms, bk| {
        r.set_server_side_encryption(sse)
            .set_ssekms_key_id(kms)
            .set_bucket_key_enabled(bk)
    });
    // Say an upload is coming before it exists: a crash between CreateMultipartUpload and the
    // record of its id still leaves a trace, and the next run looks for the upload by key.
    ctx.record(&UploadEntry::creating(index, now_secs()))
        .await?;
    Metrics::inc(&ctx.metrics.s3_multipart);
    let created = match create.send().await {
        Ok(c) => c,
        Err(e) => {
            let err = AwsError::from_sdk("CreateMultipartUpload", &e);
            // A definite refusal created nothing; after a timeout or a 5xx an upload may exist,
            // so the pending record stays for the next run to sweep.
            if err.status.is_some_and(|s| (400..500).contains(&s)) {
                ctx.forget(UploadSlot::Upload(index)).await;
            }
            return Err(err);
        }
    };
    let upload_id = created
        .upload_id()
        .ok_or_else(|| build_err("CreateMultipartUpload", "no UploadId in the answer"))?
        .to_owned();
    // Record it before copying parts: a crash from here on leaves an upload the next run aborts.
    if let Err(e) = ctx.record(&UploadEntry::open(index, &upload_id)).await {
        abort(ctx, &to_bucket, &to_key, &upload_id).await;
        return Err(e);
    }
    let result = copy_parts(ctx, entry, obj, &upload_id, checksum.is_some()).await;
    let result = match result {
        Ok(parts) => {
            Metrics::inc(&ctx.metrics.s3_multipart);
            to.complete_multipart_upload()
                .bucket(&to_bucket)
                .key(&to_key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|out| out.version_id().map(str::to_owned))
                .map_err(|e| AwsError::from_sdk("CompleteMultipartUpload", &e))
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        abort(ctx, &to_bucket, &to_key, &upload_id).await;
    }
    ctx.forget(UploadSlot::Upload(index)).await;
    result
}

async fn copy_parts(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    upload_id: &str,
    with_checksums: bool,
) -> Result<Vec<CompletedPart>, AwsError> {
    let part_size = part_size_for(obj.size, ctx.settings.part_size);
    let count = obj.size.div_ceil(part_size).max(1);
    let source = copy_source(
        &ctx.spec.bucket,
        &entry.key,
        source_version(ctx, entry, obj),
    );
    let (to_bucket, to_key) = ctx.target_of(entry);
    let to = ctx.s3_for(&to_bucket);
    let (to_bucket, to_key) = (to_bucket.as_str(), to_key.as_str());
    let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
        .map(|i| {
            let source = source.clone();
            async move {
                let start = i * part_size;
                let end = (start + part_size).min(obj.size).saturating_sub(1);
                let number = (i + 1) as i32;
                Metrics::inc(&ctx.metrics.s3_upload_part_copy);
                let out = to
                    .upload_part_copy()
                    .bucket(to_bucket)
                    .key(to_key)
                    .upload_id(upload_id)
                    .part_number(number)
                    .copy_source(source)
                    .set_copy_source_if_match(obj.raw.e_tag().map(str::to_owned))
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("UploadPartCopy", &e))?;
                let r = out.copy_part_result().ok_or_else(|| {
                    build_err("UploadPartCopy", "no CopyPartResult in the answer")
                })?;
                let mut part = CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(r.e_tag().map(str::to_owned));
                if with_checksums {
                    part = part
                        .set_checksum_crc32(r.checksum_crc32().map(str::to_owned))
                        .set_checksum_crc32_c(r.checksum_crc32_c().map(str::to_owned))
                        .set_checksum_crc64_nvme(r.checksum_crc64_nvme().map(str::to_owned))
                        .set_checksum_sha1(r.checksum_sha1().map(str::to_owned))
                        .set_checksum_sha256(r.checksum_sha256().map(str::to_owned));
                }
                Ok::<_, AwsError>(part.build())
            }
        })
        .buffer_unordered(ctx.settings.part_concurrency)
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.part_number());
    Ok(parts)
}

/// `--delete-source-version`: checks that the copy exists in the target class with the source's
/// size, then deletes exactly the source version that was copied. Never deletes when the
/// version is unknown or is the copy itself.
pub async fn delete_source_version(
    ctx: &Ctx,
    entry: &KeyLine,
    obj: &ObjectInfo,
    copied: &Copied,
) -> Result<(), AwsError> {
    let refuse = |code: &str, message: String| AwsError {
        operation: "DeleteObject",
        code: code.into(),
        message,
        status: None,
    };
    let Some(version) = source_version(ctx, entry, obj) else {
        return Err(refuse(
            "NoSourceVersion",
            "S3 reported no version id for the source: nothing deleted".into(),
        ));
    };
    let (to_bucket, to_key) = ctx.target_of(entry);
    let in_place = to_bucket == ctx.spec.bucket && to_key == entry.key;
    // In place (the bucket is versioned: launch checks) the copy must be a new version; in a
    // destination without versioning it has none, and the current object is the copy.
    let new_version = match copied.version_id.as_deref() {
        Some(v) if in_place && v == version => {
            return Err(refuse(
                "CopyNotVerified",
                "the copy and the source are the same version: nothing deleted".into(),
            ))
        }
        None if in_place => {
            return Err(refuse(
                "CopyNotVerified",
                "the in-place copy has no version id: source version kept".into(),
            ))
        }
        v => v,
    };
    let copy = crate::object::head_at(ctx, &to_bucket, &to_key, new_version).await?;
    if copy.head.storage_class != ctx.spec.target_class.as_str() || copy.size != obj.size {
        return Err(refuse(
            "CopyNotVerified",
            format!(
                "the copy is {} bytes in {}, expected {} bytes in {}: source version kept",
                copy.size,
                copy.head.storage_class,
                obj.size,
                ctx.spec.target_class.as_str()
            ),
        ));
    }
    Metrics::inc(&ctx.metrics.s3_delete);
    ctx.s3
        .delete_object()
        .bucket(&ctx.spec.bucket)
        .key(&entry.key)
        .version_id(version)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteObject", &e))?;
    Ok(())
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
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListMultipartUploads", &e))?;
        for u in page.uploads() {
            let ours = u.key() == Some(key)
                && u.initiated()
                    .is_some_and(|t| t.secs() >= since.saturating_sub(60));
            if let (true, Some(id)) = (ours, u.upload_id()) {
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

/// Aborts an upload; a failure to abort is logged, never hides the original error.
pub async fn abort(ctx: &Ctx, bucket: &str, key: &str, upload_id: &str) {
    Metrics::inc(&ctx.metrics.s3_multipart);
    if let Err(e) = ctx
        .s3_for(bucket)
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
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
    fn copy_source_encodes_specials() {
        assert_eq!(copy_source("b", "a b+c", None), "b/a%20b%2Bc");
        assert_eq!(copy_source("b", "x/%41?#=", None), "b/x/%2541%3F%23%3D");
        assert_eq!(copy_source("b", "é/ü", None), "b/%C3%A9/%C3%BC");
        assert_eq!(copy_source("b", "k", Some("v1")), "b/k?versionId=v1");
    }

    #[test]
    fn grants_become_headers() {
        use aws_sdk_s3::types::{Grantee, Type};
        let grant = |grantee: Grantee, p: Permission| {
            Grant::builder().grantee(grantee).permission(p).build()
        };
        let owner = Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id("abc123")
            .build()
            .expect("grantee");
        let all_users = Grantee::builder()
            .r#type(Type::Group)
            .uri("http://acs.amazonaws.com/groups/global/AllUsers")
            .build()
            .expect("grantee");
        let other = Grantee::builder()
            .r#type(Type::CanonicalUser)
            .id("def456")
            .build()
            .expect("grantee");
        let g = grants_from(&[
            grant(owner, Permission::FullControl),
            grant(all_users, Permission::Read),
            grant(other.clone(), Permission::Read),
            grant(other, Permission::Write),
        ]);
        assert_eq!(g.full_control.as_deref(), Some("id=\"abc123\""));
        assert_eq!(
            g.read.as_deref(),
            Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"def456\"")
        );
        assert_eq!((g.read_acp, g.write_acp), (None, None));
        assert_eq!(grants_from(&[]), Grants::default());
    }

    #[test]
    fn tagging_encodes() {
        let tags = vec![
            ("a b".to_owned(), "c&d".to_owned()),
            ("k".to_owned(), "=".to_owned()),
        ];
        assert_eq!(tagging_string(&tags), "a%20b=c%26d&k=%3D");
    }
}
