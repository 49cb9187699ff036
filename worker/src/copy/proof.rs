//! The facts of a copy's proof, read from answers S3 gives anyway: the source's ETag and
//! checksum from its HeadObject (made with `ChecksumMode=ENABLED`), the copy's from the
//! CopyObject or CompleteMultipartUpload answer. [`thaw_common::verify::compare`] judges them.

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, ServerSideEncryption};
use thaw_common::verify::{
    compare_heads, Algorithm, Checksum, ChecksumKind, CopyFacts, Proof, SourceFacts,
};

use crate::object::ObjectInfo;

/// The checksum fields of an S3 answer (HeadObject, CopyObjectResult,
/// CompleteMultipartUpload).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChecksumFields<'a> {
    /// `ChecksumCRC64NVME`.
    pub crc64nvme: Option<&'a str>,
    /// `ChecksumCRC32`.
    pub crc32: Option<&'a str>,
    /// `ChecksumCRC32C`.
    pub crc32c: Option<&'a str>,
    /// `ChecksumSHA1`.
    pub sha1: Option<&'a str>,
    /// `ChecksumSHA256`.
    pub sha256: Option<&'a str>,
    /// `ChecksumType`.
    pub kind: Option<&'a ChecksumType>,
}

impl ChecksumFields<'_> {
    fn value(&self, algorithm: Algorithm) -> Option<&str> {
        match algorithm {
            Algorithm::Crc64Nvme => self.crc64nvme,
            Algorithm::Crc32 => self.crc32,
            Algorithm::Crc32C => self.crc32c,
            Algorithm::Sha1 => self.sha1,
            Algorithm::Sha256 => self.sha256,
        }
    }

    /// The checksum of `algorithm` in the answer, if there is one.
    pub fn checksum(&self, algorithm: Algorithm) -> Option<Checksum> {
        let value = self.value(algorithm)?;
        Some(Checksum::reported(
            algorithm,
            value,
            self.kind.map(ChecksumType::as_str),
        ))
    }

    /// The first checksum the answer carries (an object has one).
    pub fn any(&self) -> Option<Checksum> {
        Algorithm::ALL.into_iter().find_map(|a| self.checksum(a))
    }
}

/// True for SSE-KMS and DSSE-KMS: an ETag that is no MD5.
pub fn is_kms(sse: Option<&ServerSideEncryption>) -> bool {
    matches!(
        sse,
        Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
    )
}

/// The checksum fields of a HeadObject answer.
fn head_fields(obj: &ObjectInfo) -> ChecksumFields<'_> {
    let r = &obj.raw;
    ChecksumFields {
        crc64nvme: r.checksum_crc64_nvme(),
        crc32: r.checksum_crc32(),
        crc32c: r.checksum_crc32_c(),
        sha1: r.checksum_sha1(),
        sha256: r.checksum_sha256(),
        kind: r.checksum_type(),
    }
}

/// What HeadObject said of the source, for its proof.
pub fn source_facts(obj: &ObjectInfo) -> SourceFacts {
    SourceFacts {
        etag: obj.facts.etag.clone(),
        kms: obj.facts.kms,
        checksum: head_fields(obj).any(),
    }
}

/// The proof of an earlier copy from the HeadObject answers of its source and of the copy
/// (no extra request: both are looked at before a delete anyway).
pub fn heads_proof(source: &ObjectInfo, copy: &ObjectInfo) -> Proof {
    let source = source_facts(source);
    let asked = source.checksum.as_ref().map(|c| c.algorithm);
    let copy = CopyFacts {
        etag: copy.facts.etag.clone(),
        kms: copy.facts.kms,
        checksum: asked.and_then(|a| head_fields(copy).checksum(a)),
    };
    compare_heads(&source, &copy)
}

/// The copy's facts from an answer: its ETag, whether it is SSE-KMS encrypted, and the
/// checksum of the algorithm asked for.
pub fn copy_facts(
    etag: Option<&str>,
    sse: Option<&ServerSideEncryption>,
    fields: ChecksumFields,
    asked: Option<Algorithm>,
) -> CopyFacts {
    CopyFacts {
        etag: etag.map(str::to_owned),
        kms: is_kms(sse),
        checksum: asked.and_then(|a| fields.checksum(a)),
    }
}

/// The SDK's name of an algorithm.
pub fn sdk_algorithm(a: Algorithm) -> ChecksumAlgorithm {
    ChecksumAlgorithm::from(a.as_str())
}

/// The SDK's name of a checksum type.
pub fn sdk_kind(k: ChecksumKind) -> ChecksumType {
    match k {
        ChecksumKind::FullObject => ChecksumType::FullObject,
        ChecksumKind::Composite => ChecksumType::Composite,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;

    use super::*;

    #[test]
    fn source_facts_from_a_head_answer() {
        let obj = ObjectInfo::from_head(
            HeadObjectOutput::builder()
                .e_tag("\"e-2\"")
                .checksum_crc32_c("AAAA-2")
                .checksum_type(ChecksumType::Composite)
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .build(),
        );
        let f = source_facts(&obj);
        assert!(f.kms);
        let c = f.checksum.expect("checksum");
        assert_eq!(
            (c.algorithm, c.kind),
            (Algorithm::Crc32C, ChecksumKind::Composite)
        );
        assert_eq!(
            source_facts(&ObjectInfo::from_head(HeadObjectOutput::builder().build())).checksum,
            None
        );
    }

    #[test]
    fn heads_proof_compares_the_source_s_algorithm() {
        let head = |etag: &str, crc: &str| {
            ObjectInfo::from_head(
                HeadObjectOutput::builder()
                    .e_tag(etag)
                    .checksum_crc32_c(crc)
                    .checksum_type(ChecksumType::FullObject)
                    .build(),
            )
        };
        let source = head("\"e\"", "AAAA");
        assert!(matches!(
            heads_proof(&source, &head("\"e\"", "AAAA")),
            Proof::Verified { .. }
        ));
        assert!(heads_proof(&source, &head("\"x-3\"", "AAAB"))
            .mismatch_message()
            .is_some());
    }

    #[test]
    fn copy_facts_take_the_asked_algorithm_only() {
        let fields = ChecksumFields {
            crc64nvme: Some("N"),
            crc32: Some("C"),
            ..ChecksumFields::default()
        };
        let f = copy_facts(Some("\"e\""), None, fields, Some(Algorithm::Crc32));
        assert_eq!(f.checksum.map(|c| c.value), Some("C".to_owned()));
        assert!(!f.kms);
        let none = copy_facts(None, Some(&ServerSideEncryption::AwsKmsDsse), fields, None);
        assert!(none.kms && none.checksum.is_none());
        assert_eq!(
            sdk_algorithm(Algorithm::Crc64Nvme),
            ChecksumAlgorithm::Crc64Nvme
        );
        assert_eq!(sdk_kind(ChecksumKind::FullObject), ChecksumType::FullObject);
    }
}
