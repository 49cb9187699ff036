//! The record of one key's proof (see [`crate::verify`]) as the worker writes it with its lot
//! and `coordinator report` reads it back: one JSON line per copied key, in one object per run
//! of the lot under the job's control location ([`proofs_key`]). One PutObject per run, whatever
//! the number of keys; the DynamoDB lot item carries only the counts.

use serde::{Deserialize, Serialize};

use crate::verify::Proof;

/// One key's proof as the worker records it for the report: one JSON line per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyProof {
    /// Manifest position of the key in its lot.
    #[serde(rename = "i")]
    pub index: usize,
    /// `verified`, `mismatch` or `not comparable`.
    #[serde(rename = "v")]
    pub verdict: String,
    /// `ETag` or the checksum algorithm; empty when not comparable.
    #[serde(rename = "by", default)]
    pub by: String,
    /// The source's value (or the reason's code when not comparable).
    #[serde(rename = "s", default)]
    pub source: String,
    /// The copy's value.
    #[serde(rename = "c", default)]
    pub copy: String,
}

/// Verdict names of [`KeyProof::verdict`].
pub const VERIFIED: &str = "verified";
/// See [`VERIFIED`].
pub const MISMATCH: &str = "mismatch";
/// See [`VERIFIED`].
pub const NOT_COMPARABLE: &str = "not comparable";

impl KeyProof {
    /// The record of key `index`'s proof.
    pub fn of(index: usize, proof: &Proof) -> Self {
        let (verdict, by, source, copy) = match proof {
            Proof::Verified { by, value } => (VERIFIED, by.as_str(), value.clone(), value.clone()),
            Proof::Mismatch { by, source, copy } => {
                (MISMATCH, by.as_str(), source.clone(), copy.clone())
            }
            Proof::NotComparable(r) => (NOT_COMPARABLE, "", r.as_str().to_owned(), String::new()),
        };
        Self {
            index,
            verdict: verdict.to_owned(),
            by: by.to_owned(),
            source,
            copy,
        }
    }

    /// The proof this record holds back.
    pub fn proof(&self) -> Result<Proof, String> {
        match self.verdict.as_str() {
            VERIFIED => Ok(Proof::Verified {
                by: self.by.parse()?,
                value: self.source.clone(),
            }),
            MISMATCH => Ok(Proof::Mismatch {
                by: self.by.parse()?,
                source: self.source.clone(),
                copy: self.copy.clone(),
            }),
            NOT_COMPARABLE => Ok(Proof::NotComparable(self.source.parse()?)),
            other => Err(format!("unknown proof verdict '{other}'")),
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
    use crate::verify::{Algorithm, By, Reason};

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
            assert_eq!(&r.proof().expect("proof"), p);
        }
        assert!(read_proofs("{not json").is_err());
        assert_eq!(proofs_key(3, 2), "proofs/00003/000002.jsonl");
    }
}
