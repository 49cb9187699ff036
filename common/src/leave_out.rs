//! `--min-size` and `--min-age`: objects a job leaves where they are, because moving them would
//! cost more than it saves (small objects billed at a 128 KB minimum or with 40 KB of archive
//! overhead each) or would be billed an early deletion (objects younger than their class's
//! minimum duration). Where the list tells sizes and ages (an inventory) they are left out of
//! the lots at planning time; otherwise the worker leaves them after its HeadObject and the
//! report says why.

use std::fmt;
use std::str::FromStr;

/// Why an object was left where it is (serialized as its [`LeftOutReason::code`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LeftOutReason {
    /// Smaller than `--min-size`.
    MinSize,
    /// Younger than `--min-age`.
    MinAge,
}

impl LeftOutReason {
    /// Every reason, in the order they are checked.
    pub const ALL: [LeftOutReason; 2] = [LeftOutReason::MinSize, LeftOutReason::MinAge];

    /// The code recorded in the lot item and the report.
    pub fn code(self) -> &'static str {
        match self {
            LeftOutReason::MinSize => "MinSize",
            LeftOutReason::MinAge => "MinAge",
        }
    }

    /// The reason from its code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// What the report says of a key left out for this reason.
    pub fn message(self) -> &'static str {
        match self {
            LeftOutReason::MinSize => "smaller than --min-size: left where it is",
            LeftOutReason::MinAge => "younger than --min-age: left where it is until later",
        }
    }
}

impl fmt::Display for LeftOutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The job's `--min-size` and `--min-age`; stored in the job spec (absent: nothing is left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaveOut {
    /// Objects smaller than this many bytes stay where they are.
    #[serde(default)]
    pub min_size: Option<u64>,
    /// Objects last modified less than this many seconds ago stay where they are.
    #[serde(default)]
    pub min_age_secs: Option<u64>,
}

impl LeaveOut {
    /// True when neither limit is set.
    pub fn is_empty(&self) -> bool {
        self.min_size.is_none() && self.min_age_secs.is_none()
    }

    /// Why an object of `size` bytes last modified at `last_modified` (epoch seconds) is left
    /// out at `now`, if it is. An unknown time never leaves an object out.
    pub fn reason(&self, size: u64, last_modified: Option<i64>, now: i64) -> Option<LeftOutReason> {
        if self.min_size.is_some_and(|min| size < min) {
            return Some(LeftOutReason::MinSize);
        }
        let young = match (self.min_age_secs, last_modified) {
            (Some(min), Some(t)) => now.saturating_sub(t) < i64::try_from(min).unwrap_or(i64::MAX),
            _ => false,
        };
        young.then_some(LeftOutReason::MinAge)
    }
}

/// A byte count as `--min-size` takes it: `131072`, `128KiB`, `128KB` (S3's KB are KiB), `1MiB`,
/// `1GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        scaled(
            s,
            "a size (e.g. 131072, 128KiB, 1MiB)",
            "too large",
            |unit| match unit.to_ascii_lowercase().as_str() {
                "" | "b" => Ok(1),
                "k" | "kb" | "kib" => Ok(1 << 10),
                "m" | "mb" | "mib" => Ok(1 << 20),
                "g" | "gb" | "gib" => Ok(1 << 30),
                other => Err(format!(
                    "unknown size unit '{other}' in '{s}' (B, KiB, MiB, GiB)"
                )),
            },
        )
        .map(ByteSize)
    }
}

/// A duration as `--min-age` takes it: `90d`, `12h`, `2w`, `30m`, `45s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Age(pub u64);

impl FromStr for Age {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        scaled(
            s,
            "a duration (e.g. 90d, 12h, 2w)",
            "too long",
            |unit| match unit {
                "s" => Ok(1),
                "m" => Ok(60),
                "h" => Ok(3600),
                "d" => Ok(86_400),
                "w" => Ok(7 * 86_400),
                other => Err(format!(
                    "unknown duration unit '{other}' in '{s}' (s, m, h, d, w)"
                )),
            },
        )
        .map(Age)
    }
}

/// A number followed by a unit (`128KiB`, `90d`): the number times what `unit` says the unit is
/// worth; `what` names the value in the error for a missing number, `too` its overflow.
fn scaled(
    s: &str,
    what: &str,
    too: &str,
    unit: impl Fn(&str) -> Result<u64, String>,
) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, rest) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("'{s}' is not {what}"))?;
    n.checked_mul(unit(rest.trim())?)
        .ok_or_else(|| format!("'{s}' is {too}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_serialize_as_their_codes() {
        for r in LeftOutReason::ALL {
            let json = serde_json::to_string(&r).expect("json");
            assert_eq!(json, format!("\"{}\"", r.code()));
            assert_eq!(serde_json::from_str::<LeftOutReason>(&json).ok(), Some(r));
        }
    }

    #[test]
    fn sizes_and_ages_parse() {
        assert_eq!("128KiB".parse(), Ok(ByteSize(131_072)));
        assert_eq!("128KB".parse(), Ok(ByteSize(131_072)));
        assert_eq!("1mib".parse(), Ok(ByteSize(1 << 20)));
        assert_eq!("4096".parse(), Ok(ByteSize(4096)));
        assert!("12 apples".parse::<ByteSize>().is_err());
        assert!("KiB".parse::<ByteSize>().is_err());
        assert_eq!("90d".parse(), Ok(Age(90 * 86_400)));
        assert_eq!("2w".parse(), Ok(Age(14 * 86_400)));
        assert_eq!("12h".parse(), Ok(Age(12 * 3600)));
        assert!("90".parse::<Age>().is_err());
        assert!("3y".parse::<Age>().is_err());
    }

    #[test]
    fn reasons() {
        let none = LeaveOut::default();
        assert!(none.is_empty());
        assert_eq!(none.reason(1, Some(0), 10), None);
        let l = LeaveOut {
            min_size: Some(128 * 1024),
            min_age_secs: Some(90 * 86_400),
        };
        let now = 1_000 * 86_400;
        let old = Some(now - 100 * 86_400);
        let young = Some(now - 10 * 86_400);
        assert_eq!(l.reason(1024, old, now), Some(LeftOutReason::MinSize));
        assert_eq!(l.reason(128 * 1024, old, now), None);
        assert_eq!(l.reason(1 << 20, young, now), Some(LeftOutReason::MinAge));
        // size is checked first; an unknown time never leaves an object out
        assert_eq!(l.reason(1, young, now), Some(LeftOutReason::MinSize));
        assert_eq!(l.reason(1 << 20, None, now), None);
        for r in LeftOutReason::ALL {
            assert_eq!(LeftOutReason::from_code(r.code()), Some(r));
        }
    }
}
