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
mod proof;
mod single;

use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::ServerSideEncryption;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use thaw_common::aws::AwsError;
use thaw_common::keys::KeyLine;
use thaw_common::verify::{compare, CopyPath, Proof};

use self::acl::{object_grants, Grants};
use self::multipart::multipart_copy;
pub use self::multipart::{abort, abort_uploads_of};
pub use self::proof::heads_proof;
use self::proof::source_facts;
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
    /// The proof that the copy is the source (`None`: no copy was made by this run).
    pub proof: Option<Proof>,
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

/// Copies a manifest entry into the job's target class, in place or to its destination, and
/// compares what S3 answered of the copy with what HeadObject said of the source.
pub async fn copy_object(
    ctx: &Ctx,
    index: usize,
    entry: &KeyLine,
    obj: &ObjectInfo,
) -> Result<Copied, AwsError> {
    let grants = object_grants(ctx, entry, obj).await?;
    let path = if obj.size() > ctx.settings.multipart_threshold {
        CopyPath::Multipart
    } else {
        CopyPath::Single
    };
    let copy = |grants: Grants| async move {
        if path == CopyPath::Multipart {
            multipart_copy(ctx, index, entry, obj, &grants).await
        } else {
            single_copy(ctx, entry, obj, &grants).await
        }
    };
    let (version_id, facts) = match copy(grants.clone()).await {
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
        proof: Some(compare(&source_facts(obj), path, &facts)),
    })
}

/// The object lock settings a copy carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectLock {
    /// `x-amz-object-lock-mode`.
    pub mode: Option<aws_sdk_s3::types::ObjectLockMode>,
    /// `x-amz-object-lock-retain-until-date`.
    pub until: Option<DateTime>,
    /// `x-amz-object-lock-legal-hold`.
    pub legal_hold: Option<aws_sdk_s3::types::ObjectLockLegalHoldStatus>,
}

/// The source's object lock settings for a copy into `to_bucket`: its retention when still in
/// force (S3 refuses a retain-until date in the past; an expired retention protects nothing) and
/// its legal hold; none at all for a destination the job drops them at (`--drop-object-lock`:
/// a bucket without Object Lock refuses every such header).
fn object_lock(ctx: &Ctx, obj: &ObjectInfo, to_bucket: &str) -> ObjectLock {
    if ctx.spec.drop_object_lock_at.iter().any(|b| b == to_bucket) {
        return ObjectLock::default();
    }
    let raw = &obj.raw;
    let now = DateTime::from(std::time::SystemTime::now());
    let retention: Option<(aws_sdk_s3::types::ObjectLockMode, DateTime)> =
        match (raw.object_lock_mode(), raw.object_lock_retain_until_date()) {
            (Some(mode), Some(until)) if until.secs() > now.secs() => {
                Some((mode.as_str().into(), *until))
            }
            _ => None,
        };
    ObjectLock {
        mode: retention.as_ref().map(|(m, _)| m.clone()),
        until: retention.map(|(_, d)| d),
        legal_hold: raw.object_lock_legal_hold_status().cloned(),
    }
}

/// The server-side encryption a copy asks for; all `None`: the destination bucket's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encryption {
    /// `x-amz-server-side-encryption`.
    pub sse: Option<ServerSideEncryption>,
    /// `x-amz-server-side-encryption-aws-kms-key-id`.
    pub kms_key_id: Option<String>,
    /// `x-amz-server-side-encryption-bucket-key-enabled`.
    pub bucket_key: Option<bool>,
}

/// Where a copy goes, as far as its encryption is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptionTarget<'a> {
    /// Another bucket than the source (perhaps another account's).
    pub other_bucket: bool,
    /// The destination is in the job's Region.
    pub same_region: bool,
    /// `--dest-kms-key`: the key copies into other buckets are encrypted with.
    pub dest_kms_key: Option<&'a str>,
}

/// The encryption of a copy of an object encrypted with `source`. Within the source bucket, the
/// source's own (SSE-S3, or SSE-KMS with its key and bucket-key setting), so the copy never
/// falls back to the bucket default. Into another bucket, the destination's default encryption
/// (its owner may be unable to use the source's KMS key, and the AWS-managed `aws/s3` key
/// cannot be shared across accounts at all), or `--dest-kms-key` when given. A KMS key belongs
/// to one Region: an SSE-KMS object is never sent with its key to another Region.
pub fn encryption_for(source: &Encryption, target: EncryptionTarget) -> Encryption {
    if target.other_bucket {
        return match target.dest_kms_key {
            Some(key) => Encryption {
                sse: Some(ServerSideEncryption::AwsKms),
                kms_key_id: Some(key.to_owned()),
                bucket_key: None,
            },
            None => Encryption::default(),
        };
    }
    match &source.sse {
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
            if !target.same_region =>
        {
            Encryption::default()
        }
        Some(sse @ (ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)) => {
            Encryption {
                sse: Some(sse.clone()),
                kms_key_id: source.kms_key_id.clone(),
                bucket_key: source.bucket_key,
            }
        }
        Some(sse) => Encryption {
            sse: Some(sse.clone()),
            ..Encryption::default()
        },
        None => Encryption::default(),
    }
}

/// The encryption of the copy of `obj` into `to_bucket` (see [`encryption_for`]).
fn encryption(ctx: &Ctx, obj: &ObjectInfo, to_bucket: &str) -> Encryption {
    let raw = &obj.raw;
    let source = Encryption {
        sse: raw.server_side_encryption().cloned(),
        kms_key_id: raw.ssekms_key_id().map(str::to_owned),
        bucket_key: raw.bucket_key_enabled(),
    };
    encryption_for(
        &source,
        EncryptionTarget {
            other_bucket: to_bucket != ctx.spec.bucket,
            same_region: !ctx.regional_s3.contains_key(to_bucket),
            dest_kms_key: ctx.spec.dest_kms_key.as_deref(),
        },
    )
}

/// Applies `enc` to a request builder with `set(builder, sse, kms key id, bucket key)`.
fn with_encryption<B>(
    builder: B,
    enc: Encryption,
    set: impl FnOnce(B, Option<ServerSideEncryption>, Option<String>, Option<bool>) -> B,
) -> B {
    set(builder, enc.sse, enc.kms_key_id, enc.bucket_key)
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

    fn kms(key: &str) -> Encryption {
        Encryption {
            sse: Some(ServerSideEncryption::AwsKms),
            kms_key_id: Some(key.to_owned()),
            bucket_key: Some(true),
        }
    }

    const IN_SOURCE_BUCKET: EncryptionTarget = EncryptionTarget {
        other_bucket: false,
        same_region: true,
        dest_kms_key: None,
    };
    const OTHER_BUCKET: EncryptionTarget = EncryptionTarget {
        other_bucket: true,
        same_region: true,
        dest_kms_key: None,
    };

    #[test]
    fn copies_within_the_source_bucket_keep_the_source_encryption() {
        let source = kms("arn:aws:kms:us-east-1:1:key/src");
        assert_eq!(encryption_for(&source, IN_SOURCE_BUCKET), source);
        let s3 = Encryption {
            sse: Some(ServerSideEncryption::Aes256),
            kms_key_id: None,
            bucket_key: Some(false),
        };
        assert_eq!(
            encryption_for(&s3, IN_SOURCE_BUCKET),
            Encryption {
                sse: Some(ServerSideEncryption::Aes256),
                ..Encryption::default()
            }
        );
        assert_eq!(
            encryption_for(&Encryption::default(), IN_SOURCE_BUCKET),
            Encryption::default()
        );
        // --dest-kms-key is for other buckets only
        let target = EncryptionTarget {
            dest_kms_key: Some("k"),
            ..IN_SOURCE_BUCKET
        };
        assert_eq!(encryption_for(&source, target), source);
    }

    #[test]
    fn copies_into_other_buckets_take_the_destination_default_or_the_dest_key() {
        // The source's key (perhaps aws/s3, which no other account can use) is never sent.
        for source in [
            kms("arn:aws:kms:us-east-1:1:key/src"),
            kms("alias/aws/s3"),
            Encryption {
                sse: Some(ServerSideEncryption::Aes256),
                ..Encryption::default()
            },
            Encryption::default(),
        ] {
            assert_eq!(
                encryption_for(&source, OTHER_BUCKET),
                Encryption::default(),
                "{source:?}"
            );
            let target = EncryptionTarget {
                dest_kms_key: Some("arn:aws:kms:us-east-1:2:key/dst"),
                ..OTHER_BUCKET
            };
            assert_eq!(
                encryption_for(&source, target),
                Encryption {
                    sse: Some(ServerSideEncryption::AwsKms),
                    kms_key_id: Some("arn:aws:kms:us-east-1:2:key/dst".into()),
                    bucket_key: None,
                },
                "{source:?}"
            );
        }
    }

    #[test]
    fn a_kms_key_never_crosses_regions() {
        let target = EncryptionTarget {
            same_region: false,
            ..IN_SOURCE_BUCKET
        };
        assert_eq!(
            encryption_for(&kms("arn:aws:kms:us-east-1:1:key/src"), target),
            Encryption::default()
        );
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
