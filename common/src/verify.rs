//! Proof that a copy is its source, from what S3 already says: the source's ETag and checksum
//! (HeadObject with `ChecksumMode=ENABLED`, which the worker makes anyway) against the copy's
//! (the CopyObject or CompleteMultipartUpload answer). No request is made for the proof.
//!
//! - A single-part copy of an object whose ETag is the MD5 of its bytes (not SSE-KMS, not
//!   uploaded in parts, copied into no SSE-KMS encryption) must have the source's ETag.
//! - A source with a full-object checksum (CRC64NVME, CRC32, CRC32C, SHA-1, SHA-256) is copied
//!   asking S3 for the same algorithm ([`checksum_to_ask`]): the copy's checksum, computed by S3
//!   over the copy's bytes, must be the source's. In parts, S3 computes full-object checksums
//!   for the CRCs only; SHA-1/SHA-256 are composite there (a checksum of the part checksums,
//!   which depends on the part sizes) and cannot be compared.
//! - A composite source checksum (`<value>-<parts>`, an object uploaded in parts) depends on the
//!   source's part sizes, which S3 reports only one part per request: not comparable.
//!
//! Otherwise the copy is "not comparable", and said so ([`Reason`]). [`compare`] is pure: facts
//! in, verdict out. [`crate::proof_record`] is how the worker records a key's proof for the
//! report.

use std::fmt;
use std::str::FromStr;

/// A checksum algorithm S3 stores per object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// CRC-64/NVME: what current SDKs write by default.
    Crc64Nvme,
    /// CRC-32.
    Crc32,
    /// CRC-32C.
    Crc32C,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Algorithm {
    /// Every algorithm, in the order a source's checksum is looked for.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Crc64Nvme,
        Algorithm::Crc32C,
        Algorithm::Crc32,
        Algorithm::Sha256,
        Algorithm::Sha1,
    ];

    /// The name S3 uses (`x-amz-checksum-algorithm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32C => "CRC32C",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }

    /// True when S3 computes a full-object checksum of a multipart upload with this algorithm
    /// (`ChecksumType=FULL_OBJECT`: the CRCs, which combine; SHA-1/SHA-256 are composite only).
    pub fn full_object_in_parts(self) -> bool {
        matches!(
            self,
            Algorithm::Crc64Nvme | Algorithm::Crc32 | Algorithm::Crc32C
        )
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown checksum algorithm '{s}'"))
    }
}

/// How an object's checksum was computed (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    /// Over the whole object's bytes: comparable between any two copies.
    FullObject,
    /// Over the checksums of its parts (`<value>-<parts>`): depends on the part sizes.
    Composite,
}

/// A checksum as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Base64 value as S3 reports it (a composite one ends in `-<parts>`).
    pub value: String,
    /// Full-object or composite.
    pub kind: ChecksumKind,
}

impl Checksum {
    /// A checksum as S3 reported it, with its `x-amz-checksum-type` when S3 gave one: without
    /// it, a value ending in `-<parts>` is composite (S3 writes composite values so), any other
    /// full-object (a single-part upload's).
    pub fn reported(algorithm: Algorithm, value: &str, kind: Option<&str>) -> Self {
        let kind = match kind {
            Some("COMPOSITE") => ChecksumKind::Composite,
            Some("FULL_OBJECT") => ChecksumKind::FullObject,
            _ if has_part_suffix(value) => ChecksumKind::Composite,
            _ => ChecksumKind::FullObject,
        };
        Self {
            algorithm,
            value: value.to_owned(),
            kind,
        }
    }
}

/// True when an ETag or checksum ends in `-<digits>`: computed over an upload's parts.
fn has_part_suffix(value: &str) -> bool {
    let v = value.trim_matches('"');
    v.rsplit_once('-')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What HeadObject said of the source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceFacts {
    /// Its ETag.
    pub etag: Option<String>,
    /// Encrypted with SSE-KMS or DSSE-KMS: its ETag is not the MD5 of its bytes.
    pub kms: bool,
    /// Its checksum, when it has one.
    pub checksum: Option<Checksum>,
}

/// How the object is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyPath {
    /// One CopyObject.
    Single,
    /// CreateMultipartUpload, UploadPartCopy per part, CompleteMultipartUpload.
    Multipart,
}

/// What S3's answer to the copy said of the copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyFacts {
    /// The copy's ETag.
    pub etag: Option<String>,
    /// The copy is encrypted with SSE-KMS or DSSE-KMS.
    pub kms: bool,
    /// The copy's checksum, when the answer carried one.
    pub checksum: Option<Checksum>,
}

/// The checksum a copy asks S3 for: the source's algorithm, and for a copy in parts the
/// full-object type where S3 computes one (the CRCs). `None`: the source has no checksum.
pub fn checksum_to_ask(
    source: Option<&Checksum>,
    path: CopyPath,
) -> Option<(Algorithm, Option<ChecksumKind>)> {
    let algorithm = source?.algorithm;
    let kind = (path == CopyPath::Multipart && algorithm.full_object_in_parts())
        .then_some(ChecksumKind::FullObject);
    Some((algorithm, kind))
}

/// The full-object checksum a copy in parts hands S3 on CompleteMultipartUpload
/// (`x-amz-checksum-<algorithm>` with `ChecksumType=FULL_OBJECT`): the source's, when it is a
/// full-object CRC (the checksums S3 computes whole over parts). S3 checks the assembled object
/// against it and refuses a copy whose bytes are not the source's (`BadDigest`) before the
/// object exists, so an in-place key is never overwritten by a bad copy. `None`: nothing S3
/// can check on completion (no checksum, composite, SHA).
pub fn checksum_on_complete(source: Option<&Checksum>) -> Option<&Checksum> {
    source.filter(|c| c.kind == ChecksumKind::FullObject && c.algorithm.full_object_in_parts())
}

/// What a copy was compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The ETag (MD5 of the bytes).
    ETag,
    /// A full-object checksum.
    Checksum(Algorithm),
}

impl By {
    /// The name in reports: `ETag` or the algorithm's.
    pub fn as_str(self) -> &'static str {
        match self {
            By::ETag => "ETag",
            By::Checksum(a) => a.as_str(),
        }
    }
}

impl FromStr for By {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "ETag" {
            Ok(By::ETag)
        } else {
            s.parse().map(By::Checksum)
        }
    }
}

/// Why a copy cannot be compared with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// SSE-KMS source without a full-object checksum.
    SourceKms,
    /// The copy was encrypted with SSE-KMS (another bucket's default, `--dest-kms-key`).
    CopyKms,
    /// A source uploaded in parts (ETag `-N`) without a full-object checksum.
    SourceInParts,
    /// Copied in parts, and the source has no full-object checksum.
    CopiedInParts,
    /// The source's checksum is composite.
    CompositeChecksum,
    /// A SHA-1/SHA-256 source copied in parts (S3 makes the copy's checksum composite).
    ShaInParts,
    /// S3's answer carried no ETag or checksum of the copy.
    NotInAnswer,
    /// The source's HeadObject carried no ETag (and it has no full-object checksum).
    SourceNoETag,
}

impl Reason {
    const ALL: [Reason; 8] = [
        Reason::SourceKms,
        Reason::CopyKms,
        Reason::SourceInParts,
        Reason::CopiedInParts,
        Reason::CompositeChecksum,
        Reason::ShaInParts,
        Reason::NotInAnswer,
        Reason::SourceNoETag,
    ];

    /// Short code in proof records.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SourceKms => "SourceKms",
            Reason::CopyKms => "CopyKms",
            Reason::SourceInParts => "SourceInParts",
            Reason::CopiedInParts => "CopiedInParts",
            Reason::CompositeChecksum => "CompositeChecksum",
            Reason::ShaInParts => "ShaInParts",
            Reason::NotInAnswer => "NotInAnswer",
            Reason::SourceNoETag => "SourceNoETag",
        }
    }

    /// What the report says.
    pub fn message(self) -> &'static str {
        match self {
            Reason::SourceKms => {
                "the source is SSE-KMS encrypted (its ETag is no MD5) and has no full-object checksum"
            }
            Reason::CopyKms => {
                "the copy is SSE-KMS encrypted (its ETag is no MD5) and the source has no full-object checksum"
            }
            Reason::SourceInParts => {
                "the source was uploaded in parts (ETag -N) and has no full-object checksum"
            }
            Reason::CopiedInParts => {
                "copied in parts (the copy's ETag is -N) and the source has no full-object checksum"
            }
            Reason::CompositeChecksum => {
                "the source's checksum is composite (per part): it depends on the source's part sizes"
            }
            Reason::ShaInParts => {
                "a SHA-1/SHA-256 checksum copied in parts is composite on the copy (S3 computes full-object checksums in parts for CRCs only)"
            }
            Reason::NotInAnswer => "S3's answer to the copy carried no ETag or checksum to compare",
            Reason::SourceNoETag => {
                "the source's HeadObject carried no ETag and it has no full-object checksum"
            }
        }
    }
}

impl FromStr for Reason {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown reason '{s}'"))
    }
}

/// `By` and `Reason` are written by their names ([`By::as_str`], [`Reason::as_str`]) in proof
/// records, and read back by them.
macro_rules! serde_by_name {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_by_name!(By);
serde_by_name!(Reason);

/// One copy's proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// The copy's ETag or checksum is the source's (`value`).
    Verified {
        /// Compared by.
        by: By,
        /// The value both have.
        value: String,
    },
    /// The copy's value differs from the source's: the key fails with [`MISMATCH_CODE`].
    Mismatch {
        /// Compared by.
        by: By,
        /// The source's value.
        source: String,
        /// The copy's value.
        copy: String,
    },
    /// Nothing S3 said can show the copy is the source.
    NotComparable(Reason),
}

/// The failure code of a key whose copy is not its source.
pub const MISMATCH_CODE: &str = "CopyMismatch";

impl Proof {
    /// The failure message of a mismatch (`None` for any other proof).
    pub fn mismatch_message(&self) -> Option<String> {
        match self {
            Proof::Mismatch { by, source, copy } => Some(format!(
                "the copy's {} {copy} is not the source's {source}: the source is kept",
                by.as_str()
            )),
            _ => None,
        }
    }
}

/// A value compared: quotes around ETags dropped.
fn bare(v: &str) -> &str {
    v.trim_matches('"')
}

/// The checksum comparison, or why there is none (`Err(None)`: the source has no checksum).
fn by_checksum(
    source: &SourceFacts,
    path: CopyPath,
    copy: &CopyFacts,
) -> Result<(By, String, String), Option<Reason>> {
    let s = source.checksum.as_ref().ok_or(None)?;
    if s.kind == ChecksumKind::Composite {
        return Err(Some(Reason::CompositeChecksum));
    }
    if path == CopyPath::Multipart && !s.algorithm.full_object_in_parts() {
        return Err(Some(Reason::ShaInParts));
    }
    match &copy.checksum {
        Some(c) if c.algorithm == s.algorithm && c.kind == ChecksumKind::FullObject => {
            Ok((By::Checksum(s.algorithm), s.value.clone(), c.value.clone()))
        }
        _ => Err(Some(Reason::NotInAnswer)),
    }
}

/// The ETag comparison, or why there is none.
fn by_etag(
    source: &SourceFacts,
    path: CopyPath,
    copy: &CopyFacts,
) -> Result<(By, String, String), Reason> {
    if path == CopyPath::Multipart {
        return Err(Reason::CopiedInParts);
    }
    if source.kms {
        return Err(Reason::SourceKms);
    }
    let s = source.etag.as_deref().ok_or(Reason::SourceNoETag)?;
    if has_part_suffix(s) {
        return Err(Reason::SourceInParts);
    }
    if copy.kms {
        return Err(Reason::CopyKms);
    }
    let c = copy.etag.as_deref().ok_or(Reason::NotInAnswer)?;
    Ok((By::ETag, bare(s).to_owned(), bare(c).to_owned()))
}

/// The proof of a copy made along `path` of a source described by `source`, from what S3
/// answered (`copy`). Every comparison that can be made is made: a mismatch of either fails;
/// a checksum match is named before an ETag match.
pub fn compare(source: &SourceFacts, path: CopyPath, copy: &CopyFacts) -> Proof {
    let checksum = by_checksum(source, path, copy);
    let etag = by_etag(source, path, copy);
    for (by, s, c) in [checksum.as_ref().ok(), etag.as_ref().ok()]
        .into_iter()
        .flatten()
    {
        if s != c {
            return Proof::Mismatch {
                by: *by,
                source: s.clone(),
                copy: c.clone(),
            };
        }
    }
    match (checksum, etag) {
        (Ok((by, value, _)), _) | (_, Ok((by, value, _))) => Proof::Verified { by, value },
        (Err(Some(reason)), _) | (Err(None), Err(reason)) => Proof::NotComparable(reason),
    }
}

/// The proof of a copy made earlier, from two HeadObject answers (both asked with
/// `ChecksumMode=ENABLED`): the source version's and the copy's. How it was copied is read
/// from the copy's ETag (`-N`: in parts). Checked before a source version is deleted by a
/// later look than the copy's own answer (a recovered delete, a pinned version whose copy is
/// already current), at no extra request.
pub fn compare_heads(source: &SourceFacts, copy: &CopyFacts) -> Proof {
    let path = if copy.etag.as_deref().is_some_and(has_part_suffix) {
        CopyPath::Multipart
    } else {
        CopyPath::Single
    };
    compare(source, path, copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_object_crcs_are_handed_to_complete() {
        let full = |a: Algorithm| Checksum::reported(a, "AAAA", Some("FULL_OBJECT"));
        for a in [Algorithm::Crc64Nvme, Algorithm::Crc32, Algorithm::Crc32C] {
            assert_eq!(checksum_on_complete(Some(&full(a))), Some(&full(a)));
        }
        for a in [Algorithm::Sha1, Algorithm::Sha256] {
            assert_eq!(checksum_on_complete(Some(&full(a))), None);
        }
        let composite = Checksum::reported(Algorithm::Crc32C, "AAAA-3", None);
        assert_eq!(checksum_on_complete(Some(&composite)), None);
        assert_eq!(checksum_on_complete(None), None);
    }

    #[test]
    fn heads_compared_along_the_path_the_copy_s_etag_shows() {
        let source = src("\"abc\"", false, Some(crc("C")));
        // single-part copy: checksum and ETag both compared
        assert_eq!(
            compare_heads(&source, &copy("\"abc\"", false, Some(crc("C")))),
            Proof::Verified {
                by: By::Checksum(Algorithm::Crc64Nvme),
                value: "C".into()
            }
        );
        assert!(matches!(
            compare_heads(&source, &copy("\"abd\"", false, Some(crc("C")))),
            Proof::Mismatch { by: By::ETag, .. }
        ));
        // in parts (`-2`): the ETag is not compared, the full-object checksum is
        let parts = copy("\"xyz-2\"", false, Some(crc("C")));
        assert!(matches!(
            compare_heads(&source, &parts),
            Proof::Verified { .. }
        ));
        let bad_parts = copy("\"xyz-2\"", false, Some(crc("D")));
        assert!(matches!(
            compare_heads(&source, &bad_parts),
            Proof::Mismatch {
                by: By::Checksum(_),
                ..
            }
        ));
        // in parts without a checksum: nothing to compare, and no false mismatch
        let plain = src("\"abc\"", false, None);
        assert_eq!(
            compare_heads(&plain, &copy("\"xyz-2\"", false, None)),
            Proof::NotComparable(Reason::CopiedInParts)
        );
    }

    fn crc(value: &str) -> Checksum {
        Checksum::reported(Algorithm::Crc64Nvme, value, None)
    }

    fn src(etag: &str, kms: bool, checksum: Option<Checksum>) -> SourceFacts {
        SourceFacts {
            etag: Some(etag.into()),
            kms,
            checksum,
        }
    }

    fn copy(etag: &str, kms: bool, checksum: Option<Checksum>) -> CopyFacts {
        CopyFacts {
            etag: Some(etag.into()),
            kms,
            checksum,
        }
    }

    #[test]
    fn single_part_plain_copies_are_verified_by_etag() {
        let p = compare(
            &src("\"abc\"", false, None),
            CopyPath::Single,
            &copy("abc", false, None),
        );
        assert_eq!(
            p,
            Proof::Verified {
                by: By::ETag,
                value: "abc".into()
            }
        );
        let bad = compare(
            &src("\"abc\"", false, None),
            CopyPath::Single,
            &copy("\"abd\"", false, None),
        );
        assert_eq!(
            bad,
            Proof::Mismatch {
                by: By::ETag,
                source: "abc".into(),
                copy: "abd".into()
            }
        );
        assert!(bad.mismatch_message().expect("message").contains("abd"));
    }

    #[test]
    fn etags_that_are_no_md5_are_not_comparable() {
        let cases = [
            (
                src("\"k\"", true, None),
                copy("x", false, None),
                Reason::SourceKms,
            ),
            (
                src("\"a-3\"", false, None),
                copy("x", false, None),
                Reason::SourceInParts,
            ),
            (
                src("\"a\"", false, None),
                copy("x", true, None),
                Reason::CopyKms,
            ),
        ];
        for (s, c, reason) in cases {
            assert_eq!(
                compare(&s, CopyPath::Single, &c),
                Proof::NotComparable(reason),
                "{s:?}"
            );
        }
        assert_eq!(
            compare(
                &src("\"a\"", false, None),
                CopyPath::Multipart,
                &copy("b-2", false, None)
            ),
            Proof::NotComparable(Reason::CopiedInParts)
        );
        let no_answer = CopyFacts::default();
        assert_eq!(
            compare(&src("\"a\"", false, None), CopyPath::Single, &no_answer),
            Proof::NotComparable(Reason::NotInAnswer)
        );
        // a source HeadObject without an ETag is the source's lack, not the answer's
        let no_source_etag = SourceFacts::default();
        assert_eq!(
            compare(
                &no_source_etag,
                CopyPath::Single,
                &copy("\"a\"", false, None)
            ),
            Proof::NotComparable(Reason::SourceNoETag)
        );
        assert_eq!("SourceNoETag".parse(), Ok(Reason::SourceNoETag));
    }

    #[test]
    fn full_object_checksums_are_compared_single_and_in_parts() {
        // a KMS source copied in parts: only the checksum can tell
        let s = src("\"k-4\"", true, Some(crc("AAAA")));
        let c = copy("z-4", true, Some(crc("AAAA")));
        assert_eq!(
            compare(&s, CopyPath::Multipart, &c),
            Proof::Verified {
                by: By::Checksum(Algorithm::Crc64Nvme),
                value: "AAAA".into()
            }
        );
        let bad = copy("z-4", true, Some(crc("AAAB")));
        assert!(matches!(
            compare(&s, CopyPath::Multipart, &bad),
            Proof::Mismatch {
                by: By::Checksum(Algorithm::Crc64Nvme),
                ..
            }
        ));
        // single part: the checksum is named, the ETag is checked too
        let plain = src("\"e\"", false, Some(crc("AAAA")));
        assert_eq!(
            compare(
                &plain,
                CopyPath::Single,
                &copy("e", false, Some(crc("AAAA")))
            ),
            Proof::Verified {
                by: By::Checksum(Algorithm::Crc64Nvme),
                value: "AAAA".into()
            }
        );
        assert!(matches!(
            compare(
                &plain,
                CopyPath::Single,
                &copy("f", false, Some(crc("AAAA")))
            ),
            Proof::Mismatch { by: By::ETag, .. }
        ));
        // another algorithm in the answer is no proof; the ETag still is
        let other = Checksum::reported(Algorithm::Crc32, "AAAA", Some("FULL_OBJECT"));
        assert_eq!(
            compare(&plain, CopyPath::Single, &copy("e", false, Some(other))),
            Proof::Verified {
                by: By::ETag,
                value: "e".into()
            }
        );
    }

    #[test]
    fn composite_and_sha_in_parts_are_not_comparable() {
        let composite = Checksum::reported(Algorithm::Crc32C, "AAAA-3", None);
        assert_eq!(composite.kind, ChecksumKind::Composite);
        let s = src("\"e-3\"", false, Some(composite));
        let c = copy(
            "f",
            false,
            Some(Checksum::reported(Algorithm::Crc32C, "BBBB", None)),
        );
        assert_eq!(
            compare(&s, CopyPath::Single, &c),
            Proof::NotComparable(Reason::CompositeChecksum)
        );
        let sha = Checksum::reported(Algorithm::Sha256, "q83v", Some("FULL_OBJECT"));
        let s = src("\"e\"", false, Some(sha.clone()));
        let c = copy(
            "f-2",
            false,
            Some(Checksum::reported(Algorithm::Sha256, "zz-2", None)),
        );
        assert_eq!(
            compare(&s, CopyPath::Multipart, &c),
            Proof::NotComparable(Reason::ShaInParts)
        );
        // single part, SHA-256 is full-object on the copy: compared
        let c = copy("e", false, Some(sha));
        assert!(matches!(
            compare(&s, CopyPath::Single, &c),
            Proof::Verified {
                by: By::Checksum(Algorithm::Sha256),
                ..
            }
        ));
    }

    #[test]
    fn what_a_copy_asks_for() {
        assert_eq!(checksum_to_ask(None, CopyPath::Multipart), None);
        let c = crc("x");
        assert_eq!(
            checksum_to_ask(Some(&c), CopyPath::Single),
            Some((Algorithm::Crc64Nvme, None))
        );
        assert_eq!(
            checksum_to_ask(Some(&c), CopyPath::Multipart),
            Some((Algorithm::Crc64Nvme, Some(ChecksumKind::FullObject)))
        );
        let sha = Checksum::reported(Algorithm::Sha1, "x", None);
        assert_eq!(
            checksum_to_ask(Some(&sha), CopyPath::Multipart),
            Some((Algorithm::Sha1, None))
        );
    }

    #[test]
    fn part_suffixes() {
        assert!(has_part_suffix("\"abc-12\""));
        assert!(!has_part_suffix("abc-"));
        assert!(!has_part_suffix("a+b/c=="));
        assert!(!has_part_suffix("ab-c"));
    }
}
