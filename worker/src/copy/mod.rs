//! Copies an object onto itself (or elsewhere) with the target storage class, keeping
//! everything that makes it the same object: bytes, metadata, content headers, tags, encryption,
//! website redirect, object lock settings, checksum algorithm and (when the job carries them)
//! ACL grants.
//!
//! Up to the multipart threshold one CopyObject does it ([`single`]); above it, multipart
//! UploadPartCopy ([`multipart`]), which keeps nothing by itself, so every attribute is passed
//! explicitly. Grants are read and passed by [`acl`]. What both paths share lives here: the
//! encoded copy source, the tag string, and the encryption and retention a copy carries.

mod acl;
mod multipart;
mod single;

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::ServerSideEncryption;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;

use self::acl::{object_grants, Grants};
use self::multipart::multipart_copy;
pub use self::multipart::{abort, abort_uploads_of};
use self::single::single_copy;
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

/// Copies a manifest entry into the job's target class, in place or to its destination.
pub async fn copy_object(
    ctx: &Ctx,
    index: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
) -> Result<Copied, AwsError> {
    let grants = object_grants(ctx, entry, obj).await?;
    let copy = |grants: Grants| async move {
        if obj.size() > ctx.settings.multipart_threshold {
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
        bytes: obj.size(),
        version_id,
    })
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
    fn tagging_encodes() {
        let tags = vec![
            ("a b".to_owned(), "c&d".to_owned()),
            ("k".to_owned(), "=".to_owned()),
        ];
        assert_eq!(tagging_string(&tags), "a%20b=c%26d&k=%3D");
    }
}
