//! Storage class and restore tier names, validated before any request is sent.

use std::fmt;
use std::str::FromStr;

/// An S3 storage class thaw can move objects into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StorageClass {
    /// S3 Standard.
    Standard,
    /// S3 Standard-Infrequent Access.
    StandardIa,
    /// S3 One Zone-Infrequent Access.
    OnezoneIa,
    /// S3 Intelligent-Tiering.
    IntelligentTiering,
    /// S3 Glacier Instant Retrieval (no restore needed to read).
    GlacierIr,
    /// S3 Glacier Flexible Retrieval (archived: needs a restore to read).
    Glacier,
    /// S3 Glacier Deep Archive (archived: needs a restore to read).
    DeepArchive,
}

impl StorageClass {
    /// Every class, in the order `--help` lists them.
    pub const ALL: [StorageClass; 7] = [
        StorageClass::Standard,
        StorageClass::StandardIa,
        StorageClass::OnezoneIa,
        StorageClass::IntelligentTiering,
        StorageClass::GlacierIr,
        StorageClass::Glacier,
        StorageClass::DeepArchive,
    ];

    /// The name S3 uses on the wire (`x-amz-storage-class`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::StandardIa => "STANDARD_IA",
            StorageClass::OnezoneIa => "ONEZONE_IA",
            StorageClass::IntelligentTiering => "INTELLIGENT_TIERING",
            StorageClass::GlacierIr => "GLACIER_IR",
            StorageClass::Glacier => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage class or tier name that S3 does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown {what} '{given}' (expected one of: {expected})")]
pub struct UnknownName {
    what: &'static str,
    given: String,
    expected: String,
}

impl FromStr for StorageClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase().replace('-', "_");
        StorageClass::ALL
            .into_iter()
            .find(|c| c.as_str() == wanted)
            .ok_or_else(|| UnknownName {
                what: "storage class",
                given: s.to_owned(),
                expected: StorageClass::ALL.map(|c| c.as_str()).join(", "),
            })
    }
}

/// How fast (and at what price) S3 brings an archived object back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreTier {
    /// Cheapest and slowest: 5-12 h from GLACIER, up to 48 h from DEEP_ARCHIVE.
    Bulk,
    /// 3-5 h from GLACIER, up to 12 h from DEEP_ARCHIVE.
    Standard,
    /// 1-5 min, GLACIER only, priced per request and GB.
    Expedited,
}

impl RestoreTier {
    /// The documented time a restore from `class` takes at this tier (AWS S3 user guide,
    /// "Archive retrieval options"), as a range in seconds: GLACIER Expedited 1-5 min,
    /// Standard 3-5 h, Bulk 5-12 h; DEEP_ARCHIVE Standard "within 12 h" and Bulk "within 48 h",
    /// taken as 6-12 h and 24-48 h (DEEP_ARCHIVE has no Expedited: its Expedited requests fall
    /// back to Standard). Any class other than DEEP_ARCHIVE is taken as GLACIER.
    pub fn restore_secs(self, class: &str) -> (f64, f64) {
        const H: f64 = 3600.0;
        match (class == "DEEP_ARCHIVE", self) {
            (false, RestoreTier::Expedited) => (60.0, 300.0),
            (false, RestoreTier::Standard) => (3.0 * H, 5.0 * H),
            (false, RestoreTier::Bulk) => (5.0 * H, 12.0 * H),
            (true, RestoreTier::Bulk) => (24.0 * H, 48.0 * H),
            (true, _) => (6.0 * H, 12.0 * H),
        }
    }

    /// The `GlacierJobParameters.Tier` value S3 expects.
    pub fn as_s3(self) -> &'static str {
        match self {
            RestoreTier::Bulk => "Bulk",
            RestoreTier::Standard => "Standard",
            RestoreTier::Expedited => "Expedited",
        }
    }
}

impl FromStr for RestoreTier {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bulk" => Ok(RestoreTier::Bulk),
            "standard" => Ok(RestoreTier::Standard),
            "expedited" => Ok(RestoreTier::Expedited),
            _ => Err(UnknownName {
                what: "restore tier",
                given: s.to_owned(),
                expected: "bulk, standard, expedited".to_owned(),
            }),
        }
    }
}

impl fmt::Display for RestoreTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestoreTier::Bulk => "bulk",
            RestoreTier::Standard => "standard",
            RestoreTier::Expedited => "expedited",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_classes() {
        assert_eq!("standard_ia".parse(), Ok(StorageClass::StandardIa));
        assert_eq!("DEEP-ARCHIVE".parse(), Ok(StorageClass::DeepArchive));
        for c in StorageClass::ALL {
            assert_eq!(c.as_str().parse(), Ok(c));
        }
        let e = "COLD".parse::<StorageClass>().unwrap_err().to_string();
        assert!(e.contains("unknown storage class 'COLD'"), "{e}");
    }

    #[test]
    fn parse_tiers() {
        assert_eq!("Bulk".parse(), Ok(RestoreTier::Bulk));
        assert_eq!(RestoreTier::Expedited.as_s3(), "Expedited");
        assert!("fast".parse::<RestoreTier>().is_err());
    }
}
