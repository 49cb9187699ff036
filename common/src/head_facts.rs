//! The facts the key verdicts compare ([`ObjectFacts`]), read from a HeadObject answer.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::keystate::{parse_restore_header, ObjectFacts, ObjectHead};

/// What a HeadObject answer tells the verdicts about its object.
pub fn facts_of_head(out: &HeadObjectOutput) -> ObjectFacts {
    ObjectFacts {
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
        etag: out.e_tag().map(str::to_owned),
        version_id: out.version_id().map(str::to_owned),
        last_modified: out.last_modified().map(|t| t.secs()),
        kms: matches!(
            out.server_side_encryption(),
            Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
        ),
    }
}
