//! The record of one key's proof (see [`crate::verify`]) as the worker writes it with its lot
//! and `coordinator report` reads it back: one JSON line per copied key, in one object per run
//! of the lot under the job's control location ([`proofs_key`]). One PutObject per run, whatever
//! the number of keys; the DynamoDB lot item carries only the counts.

use serde::{Deserialize, Serialize};

use crate::verify::{By, Proof, Reason};

/// One key's proof as the worker records it for the report: one JSON line per key, e.g.
/// `{"i":3,"v":"verified","by":"CRC64NVME","s":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProof {
    /// Manifest position of the key in its lot.
    #[serde(rename = "i")]
    pub index: usize,
    /// The proof, tagged by its verdict (`"v"`).
    #[serde(flatten)]
    pub record: ProofRecord,
}

/// A proof as recorded: [`Proof`] with its verdict as the tag `"v"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum ProofRecord {
    /// See [`Proof::Verified`].
    #[serde(rename = "verified")]
    Verified {
        /// Compared by: `ETag` or the checksum algorithm.
        by: By,
        /// The value both have.
        #[serde(rename = "s")]
        value: String,
    },
    /// See [`Proof::Mismatch`].
    #[serde(rename = "mismatch")]
    Mismatch {
        /// Compared by.
        by: By,
        /// The source's value.
        #[serde(rename = "s")]
        source: String,
        /// The copy's value.
        #[serde(rename = "c")]
        copy: String,
    },
    /// See [`Proof::NotComparable`].
    #[serde(rename = "not comparable")]
    NotComparable {
        /// Why (its code; records written before this field kept it in `"s"`).
        #[serde(rename = "r", alias = "s")]
        reason: Reason,
    },
}

/// Verdict names of [`ProofRecord`]'s tag, and the report's `Verification` column.
pub const VERIFIED: &str = "verified";
/// See [`VERIFIED`].
pub const MISMATCH: &str = "mismatch";
/// See [`VERIFIED`].
pub const NOT_COMPARABLE: &str = "not comparable";

impl KeyProof {
    /// The record of key `index`'s proof.
    pub fn of(index: usize, proof: &Proof) -> Self {
        let record = match proof {
            Proof::Verified { by, value } => ProofRecord::Verified {
                by: *by,
                value: value.clone(),
            },
            Proof::Mismatch { by, source, copy } => ProofRecord::Mismatch {
                by: *by,
                source: source.clone(),
                copy: copy.clone(),
            },
            Proof::NotComparable(reason) => ProofRecord::NotComparable { reason: *reason },
        };
        Self { index, record }
    }

    /// The proof this record holds back.
    pub fn proof(&self) -> Proof {
        match &self.record {
            ProofRecord::Verified { by, value } => Proof::Verified {
                by: *by,
                value: value.clone(),
            },
            ProofRecord::Mismatch { by, source, copy } => Proof::Mismatch {
                by: *by,
                source: source.clone(),
                copy: copy.clone(),
            },
            ProofRecord::NotComparable { reason } => Proof::NotComparable(*reason),
        }
    }
}

/// The records of a run as the object the worker writes: one JSON line per key.
pub fn proofs_body(proofs: &[KeyProof]) -> String {
    proofs
        .iter()
        .filter_map(|p| serde_json::to_string(p).ok())
        .map(|l| l + "\n")
        .collect()
}

/// Reads the records of a proofs object back; later records of a key replace earlier ones.
pub fn read_proofs(body: &str) -> Result<Vec<KeyProof>, String> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, l)| serde_json::from_str(l).map_err(|e| format!("proof record {}: {e}", n + 1)))
        .collect()
}

/// Where under the job's control prefix a run of lot `lot`, attempt `attempt`, writes its
/// proofs (relative to the control location).
pub fn proofs_key(lot: u32, attempt: u64) -> String {
    format!("proofs/{lot:05}/{attempt:06}.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Algorithm;

    #[test]
    fn records_are_tagged_by_verdict_and_earlier_lines_still_read() {
        let line = serde_json::to_string(&KeyProof::of(
            2,
            &Proof::NotComparable(Reason::SourceNoETag),
        ))
        .expect("json");
        assert_eq!(line, r#"{"i":2,"v":"not comparable","r":"SourceNoETag"}"#);
        // lines written before the records were typed: the reason in "s", empty "by"/"c"
        let old = [
            r#"{"i":0,"v":"verified","by":"ETag","s":"abc","c":"abc"}"#,
            r#"{"i":1,"v":"mismatch","by":"CRC32C","s":"a","c":"b"}"#,
            r#"{"i":2,"v":"not comparable","by":"","s":"ShaInParts","c":""}"#,
        ];
        let back = read_proofs(&old.join("\n")).expect("read");
        assert_eq!(
            back.iter().map(KeyProof::proof).collect::<Vec<_>>(),
            [
                Proof::Verified {
                    by: By::ETag,
                    value: "abc".into()
                },
                Proof::Mismatch {
                    by: By::Checksum(Algorithm::Crc32C),
                    source: "a".into(),
                    copy: "b".into()
                },
                Proof::NotComparable(Reason::ShaInParts),
            ]
        );
        for bad in [
            r#"{"i":0,"v":"maybe","s":"x"}"#,
            r#"{"i":0,"v":"verified","by":"MD6","s":"x"}"#,
            r#"{"i":0,"v":"not comparable","r":"Because"}"#,
        ] {
            assert!(read_proofs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_round_trip() {
        let proofs = [
            Proof::Verified {
                by: By::Checksum(Algorithm::Crc32C),
                value: "AAAA".into(),
            },
            Proof::Verified {
                by: By::ETag,
                value: "abc".into(),
            },
            Proof::Mismatch {
                by: By::ETag,
                source: "a".into(),
                copy: "b".into(),
            },
            Proof::NotComparable(Reason::ShaInParts),
        ];
        let records: Vec<KeyProof> = proofs
            .iter()
            .enumerate()
            .map(|(i, p)| KeyProof::of(i, p))
            .collect();
        let back = read_proofs(&proofs_body(&records)).expect("read");
        assert_eq!(back, records);
        for (r, p) in back.iter().zip(&proofs) {
            assert_eq!(&r.proof(), p);
        }
        assert!(read_proofs("{not json").is_err());
        assert_eq!(proofs_key(3, 2), "proofs/00003/000002.jsonl");
    }
}
