//! What HeadObject tells about an object: the facts the key verdicts compare
//! ([`ObjectFacts`]), and every attribute a multipart copy must carry over by hand.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::ChecksumMode;
use thaw_common::aws::AwsError;
use thaw_common::head_facts::facts_of_head;
use thaw_common::keystate::{Failure, Look, ObjectFacts};

use crate::metrics::Metrics;
use crate::ratelimit::Kind;
use crate::Ctx;

/// An object as HeadObject describes it.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// The reduced view the verdicts decide on.
    pub facts: ObjectFacts,
    /// The full HeadObject answer, for carrying attributes on multipart copies.
    pub raw: HeadObjectOutput,
}

impl ObjectInfo {
    /// The object a HeadObject answer describes.
    pub fn from_head(out: HeadObjectOutput) -> Self {
        Self {
            facts: facts_of_head(&out),
            raw: out,
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.facts.size
    }
}

/// A HeadObject result as a verdict reads it.
pub fn look(head: &Result<ObjectInfo, AwsError>) -> Look {
    match head {
        Ok(o) => Ok(o.facts.clone()),
        Err(e) => Err(Failure::new(e.code.clone(), e.message.clone())),
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
    ctx.pacing.acquire(Kind::Head).await;
    Metrics::inc(&ctx.metrics.s3_head);
    let res = ctx
        .s3_for(bucket)
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .checksum_mode(ChecksumMode::Enabled)
        .set_request_payer(ctx.request_payer())
        .send()
        .await;
    match res {
        Ok(out) => Ok(ObjectInfo::from_head(out)),
        Err(e) => {
            let err = head_error(AwsError::from_sdk("HeadObject", &e), version.is_some());
            if err.status == Some(400) {
                return Err(name_400(probe(ctx, bucket, key, version).await));
            }
            Err(err)
        }
    }
}

/// Names a HeadObject failure as S3's other APIs would: HEAD has no body, so S3 only says 404 or
/// 400 (`versioned`: a version was asked for). A 400 is named by [`name_400`].
fn head_error(mut err: AwsError, versioned: bool) -> AwsError {
    match (err.code.as_str(), err.status) {
        ("NotFound", _) | (_, Some(404)) if versioned => {
            err.code = "NoSuchVersion".into();
            err.message = "The specified version does not exist.".into();
        }
        ("NotFound", _) | (_, Some(404)) => {
            err.code = "NoSuchKey".into();
            err.message = "The specified key does not exist.".into();
        }
        _ => {}
    }
    err
}

/// A HeadObject 400 has no body to say why: S3 answers 400 to an SSE-C object read without its
/// key, but also to a malformed version id, a request signed for another Region, and more. The
/// first byte asked with GetObject (one request, only after a 400) answers with the reason.
async fn probe(ctx: &Ctx, bucket: &str, key: &str, version: Option<&str>) -> Result<(), AwsError> {
    ctx.pacing.acquire(Kind::Head).await;
    Metrics::inc(&ctx.metrics.s3_get);
    ctx.s3_for(bucket)
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .range("bytes=0-0")
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
}

/// The failure of a HeadObject that answered 400, from what GetObject of its first byte said:
/// S3's "stored using a form of Server Side Encryption" is an SSE-C object
/// (`SSECustomerKeyRequired`); any other answer is reported as GetObject gave it.
fn name_400(get: Result<(), AwsError>) -> AwsError {
    let mut err = AwsError {
        operation: "HeadObject",
        code: "BadRequest".into(),
        message: "HeadObject answered 400 and GetObject of the object's first byte succeeded"
            .into(),
        status: Some(400),
    };
    if let Err(g) = get {
        if g.message.contains("Server Side Encryption") || g.code == "SSECustomerKeyRequired" {
            err.code = "SSECustomerKeyRequired".into();
            err.message = format!(
                "the object is encrypted with a customer-provided key (SSE-C): {}",
                g.message
            );
        } else {
            err.code = g.code;
            err.message = format!("HeadObject answered 400; GetObject says: {}", g.message);
            err.status = g.status;
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{ArchiveStatus, ServerSideEncryption, StorageClass};
    use thaw_common::keystate::RestoreStatus;

    use super::*;

    fn err(code: &str, status: Option<u16>) -> AwsError {
        AwsError {
            operation: "HeadObject",
            code: code.into(),
            message: "m".into(),
            status,
        }
    }

    #[test]
    fn head_errors_are_named_as_s3_names_them_elsewhere() {
        assert_eq!(
            head_error(err("NotFound", Some(404)), false).code,
            "NoSuchKey"
        );
        assert_eq!(
            head_error(err("NotFound", None), true).code,
            "NoSuchVersion"
        );
        assert_eq!(
            head_error(err("HTTP404", Some(404)), true).code,
            "NoSuchVersion"
        );
        assert_eq!(
            head_error(err("AccessDenied", Some(403)), false),
            err("AccessDenied", Some(403))
        );
    }

    #[test]
    fn a_head_400_is_named_by_what_get_object_says() {
        // Issue 12: every 400 used to be reported as SSE-C.
        let sse_c = name_400(Err(AwsError {
            operation: "GetObject",
            code: "InvalidRequest".into(),
            message: "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.".into(),
            status: Some(400),
        }));
        assert_eq!(sse_c.code, "SSECustomerKeyRequired");
        assert!(sse_c.message.contains("SSE-C"), "{}", sse_c.message);
        let bad_version = name_400(Err(AwsError {
            operation: "GetObject",
            code: "InvalidArgument".into(),
            message: "Invalid version id specified".into(),
            status: Some(400),
        }));
        assert_eq!(bad_version.code, "InvalidArgument");
        assert_eq!(bad_version.operation, "HeadObject");
        assert!(bad_version.message.contains("Invalid version id"));
        let region = name_400(Err(err("AuthorizationHeaderMalformed", Some(400))));
        assert_eq!(region.code, "AuthorizationHeaderMalformed");
        let readable = name_400(Ok(()));
        assert_eq!(
            (readable.code.as_str(), readable.status),
            ("BadRequest", Some(400))
        );
    }

    #[test]
    fn facts_from_a_head_answer() {
        let out = HeadObjectOutput::builder()
            .storage_class(StorageClass::IntelligentTiering)
            .archive_status(ArchiveStatus::DeepArchiveAccess)
            .restore("ongoing-request=\"true\"")
            .content_length(42)
            .e_tag("\"abc\"")
            .version_id("v7")
            .last_modified(DateTime::from_secs(1_700_000_000))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .build();
        let facts = ObjectInfo::from_head(out).facts;
        assert_eq!(facts.head.storage_class, "INTELLIGENT_TIERING");
        assert_eq!(
            facts.head.archive_status.as_deref(),
            Some("DEEP_ARCHIVE_ACCESS")
        );
        assert_eq!(facts.head.restore, RestoreStatus::InProgress);
        assert!(!facts.head.sse_customer && facts.kms);
        assert_eq!(
            (
                facts.size,
                facts.etag.as_deref(),
                facts.version_id.as_deref()
            ),
            (42, Some("\"abc\""), Some("v7"))
        );
        assert_eq!(facts.last_modified, Some(1_700_000_000));

        // No class header is STANDARD; a negative or missing length is 0; SSE-S3 is no KMS.
        let plain = ObjectInfo::from_head(
            HeadObjectOutput::builder()
                .content_length(-1)
                .server_side_encryption(ServerSideEncryption::Aes256)
                .sse_customer_algorithm("AES256")
                .build(),
        );
        assert_eq!(plain.facts.head.storage_class, "STANDARD");
        assert_eq!(plain.size(), 0);
        assert!(!plain.facts.kms && plain.facts.head.sse_customer);
        assert_eq!(plain.facts.version(), "null");
    }

    #[test]
    fn a_look_carries_the_facts_or_the_code() {
        let found = Ok(ObjectInfo::from_head(
            HeadObjectOutput::builder().content_length(3).build(),
        ));
        assert_eq!(look(&found).map(|f| f.size), Ok(3));
        let missing: Result<ObjectInfo, AwsError> = Err(err("NoSuchKey", Some(404)));
        assert_eq!(look(&missing), Err(Failure::new("NoSuchKey", "m")));
    }
}
