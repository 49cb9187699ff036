//! The proofs that copies are their sources, as the report shows them: read back from the
//! objects the workers wrote (one per run of a lot, see [`thaw_common::proof_record::proofs_key`]),
//! turned into the report's columns, and counted.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use thaw_common::aws::AwsError;
use thaw_common::proof_record::{read_proofs, KeyProof};
use thaw_common::spec::S3Location;
use thaw_common::verify::{By, Proof};

/// The proofs of one lot's keys by manifest position (a later run's record of a key replaces
/// an earlier one's): one GetObject per run of the lot; a run that wrote none is skipped.
pub async fn lot_proofs(
    s3: &aws_sdk_s3::Client,
    control: &S3Location,
    lot: u32,
    attempts: u64,
) -> anyhow::Result<BTreeMap<usize, Proof>> {
    let mut proofs = BTreeMap::new();
    for attempt in 1..=attempts {
        let key = control.key(&thaw_common::proof_record::proofs_key(lot, attempt));
        let got = s3
            .get_object()
            .bucket(&control.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject", &e));
        let body = match got {
            Ok(out) => out
                .body
                .collect()
                .await
                .with_context(|| format!("reading s3://{}/{key}", control.bucket))?
                .into_bytes(),
            Err(e) if e.code == "NoSuchKey" || e.status == Some(404) => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("reading s3://{}/{key}", control.bucket))
            }
        };
        let text = String::from_utf8_lossy(&body);
        for record in read_proofs(&text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("s3://{}/{key}", control.bucket))?
        {
            insert(&mut proofs, &record);
        }
    }
    Ok(proofs)
}

fn insert(proofs: &mut BTreeMap<usize, Proof>, record: &KeyProof) {
    proofs.insert(record.index, record.proof());
}

/// The report's proof columns of one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Columns {
    /// `verified`, `mismatch`, `not comparable`, `not recorded`, or empty (no copy).
    pub verification: &'static str,
    /// `ETag` or the checksum algorithm.
    pub by: &'static str,
    /// The source's ETag or checksum.
    pub source: String,
    /// The copy's.
    pub copy: String,
    /// Why a copy is not comparable.
    pub reason: Option<&'static str>,
}

/// The columns of a key: `copied` true when thaw copied it (a copy without a proof record is
/// `not recorded`: its run was killed before writing them).
pub fn columns(proof: Option<&Proof>, copied: bool) -> Columns {
    match proof {
        Some(Proof::Verified { by, value }) => Columns {
            verification: thaw_common::proof_record::VERIFIED,
            by: by.as_str(),
            source: value.clone(),
            copy: value.clone(),
            reason: None,
        },
        Some(Proof::Mismatch { by, source, copy }) => Columns {
            verification: thaw_common::proof_record::MISMATCH,
            by: by.as_str(),
            source: source.clone(),
            copy: copy.clone(),
            reason: None,
        },
        Some(Proof::NotComparable(r)) => Columns {
            verification: thaw_common::proof_record::NOT_COMPARABLE,
            reason: Some(r.message()),
            ..Columns::default()
        },
        None if copied => Columns {
            verification: "not recorded",
            ..Columns::default()
        },
        None => Columns::default(),
    }
}

/// How many copies were verified each way, over the keys of a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Copies whose full-object checksum was the source's.
    pub verified_by_checksum: u64,
    /// ... by algorithm.
    pub checksum_algorithms: BTreeMap<String, u64>,
    /// Copies whose ETag was the source's.
    pub verified_by_etag: u64,
    /// Copies nothing S3 said could be compared with their source.
    pub not_comparable: u64,
    /// Copies that were not their source (failed `CopyMismatch`).
    pub mismatch: u64,
    /// Copies whose run wrote no proof (killed before its end).
    pub not_recorded: u64,
}

impl Tally {
    /// Counts one key: its proof, if any, `copied` as in [`columns`].
    pub fn count(&mut self, proof: Option<&Proof>, copied: bool) {
        match proof {
            Some(Proof::Verified {
                by: By::Checksum(a),
                ..
            }) => {
                self.verified_by_checksum += 1;
                *self
                    .checksum_algorithms
                    .entry(a.as_str().to_owned())
                    .or_insert(0) += 1;
            }
            Some(Proof::Verified { by: By::ETag, .. }) => self.verified_by_etag += 1,
            Some(Proof::NotComparable(_)) => self.not_comparable += 1,
            Some(Proof::Mismatch { .. }) => self.mismatch += 1,
            None if copied => self.not_recorded += 1,
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use thaw_common::verify::{Algorithm, Reason};

    use super::*;

    #[test]
    fn columns_and_counts_of_each_proof() {
        let crc = Proof::Verified {
            by: By::Checksum(Algorithm::Crc64Nvme),
            value: "AAAA".into(),
        };
        let etag = Proof::Verified {
            by: By::ETag,
            value: "e".into(),
        };
        let bad = Proof::Mismatch {
            by: By::ETag,
            source: "a".into(),
            copy: "b".into(),
        };
        let kms = Proof::NotComparable(Reason::SourceKms);
        let c = columns(Some(&crc), true);
        assert_eq!(
            (c.verification, c.by, c.source.as_str(), c.copy.as_str()),
            ("verified", "CRC64NVME", "AAAA", "AAAA")
        );
        let c = columns(Some(&bad), false);
        assert_eq!(
            (c.verification, c.source.as_str(), c.copy.as_str()),
            ("mismatch", "a", "b")
        );
        let c = columns(Some(&kms), true);
        assert_eq!(c.verification, "not comparable");
        assert!(c.reason.expect("reason").contains("SSE-KMS"));
        assert_eq!(columns(None, true).verification, "not recorded");
        assert_eq!(columns(None, false), Columns::default());

        let mut t = Tally::default();
        for (p, copied) in [
            (Some(&crc), true),
            (Some(&crc), true),
            (Some(&etag), true),
            (Some(&kms), true),
            (Some(&bad), false),
            (None, true),
            (None, false),
        ] {
            t.count(p, copied);
        }
        assert_eq!(
            (
                t.verified_by_checksum,
                t.verified_by_etag,
                t.not_comparable,
                t.mismatch,
                t.not_recorded
            ),
            (2, 1, 1, 1, 1)
        );
        assert_eq!(t.checksum_algorithms.get("CRC64NVME"), Some(&2));
    }
}
