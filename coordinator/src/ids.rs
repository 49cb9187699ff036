//! Small pure helpers that name things: job ids, RunTask client tokens, the key list fingerprint
//! (FNV-1a 64) and RFC 3339 timestamps, all without extra crates.

use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest job id: it is the ECS `startedBy`, which holds at most 36 characters.
pub const MAX_JOB_ID_LEN: usize = 36;

/// Longest RunTask client token ECS accepts.
pub const MAX_CLIENT_TOKEN_LEN: usize = 64;

/// FNV-1a, 64 bits: a stable, dependency-free hash (not for security).
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a64 {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// The fingerprint of a key list: every key followed by `\n`, then the key count.
#[derive(Debug, Clone, Default)]
pub struct Fingerprint {
    hash: Fnv1a64,
    count: u64,
}

impl Fingerprint {
    /// Adds the next key of the list.
    pub fn add(&mut self, key: &str) {
        self.hash.write(key.as_bytes());
        self.hash.write(b"\n");
        self.count += 1;
    }

    /// Keys added so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The fingerprint as stored in the job spec (`fnv1a64:<16 hex digits>`).
    pub fn finish(&self) -> String {
        let mut h = self.hash;
        h.write(&self.count.to_le_bytes());
        format!("fnv1a64:{:016x}", h.finish())
    }
}

/// Formats a time as RFC 3339 in UTC with second precision, e.g. `2026-11-27T09:30:12Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Splits a time into UTC calendar parts (year, month, day, hour, minute, second).
fn utc_parts(t: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let d = thaw_common::input::Date::from_days(days);
    (d.year, d.month, d.day)
}

/// A new job id: UTC time (so ids sort by creation) and 6 random hex digits,
/// e.g. `20261127T093012Z-3f9a1c`.
pub fn generate_job_id(now: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(now);
    // std's RandomState is seeded randomly per process; mix in the clock for good measure.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        now.duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    let rand = hasher.finish() & 0xff_ffff;
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z-{rand:06x}")
}

/// Checks a user-given job id: 1 to 36 characters of `A-Z a-z 0-9 _ -` (it becomes the ECS
/// `startedBy`, part of S3 keys and of client tokens).
pub fn validate_job_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_JOB_ID_LEN {
        return Err(format!(
            "job id '{id}' must be 1 to {MAX_JOB_ID_LEN} characters long"
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "job id '{id}' contains '{c}': use only letters, digits, '-' and '_'"
        ));
    }
    Ok(())
}

/// The RunTask client token of one launch attempt: `<job>-<lot>-<attempt>`, or, when that would
/// be longer than 64 characters (or not plain ASCII), a prefix of it plus a hash of the whole.
/// Deterministic, so an SDK retry of the same attempt carries the same token.
pub fn client_token(job: &str, lot: u32, attempt: u64) -> String {
    let full = format!("{job}-{lot}-{attempt}");
    let plain = full
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain && full.len() <= MAX_CLIENT_TOKEN_LEN {
        return full;
    }
    let mut h = Fnv1a64::default();
    h.write(full.as_bytes());
    let suffix = format!("-{:016x}", h.finish());
    let prefix: String = full
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(MAX_CLIENT_TOKEN_LEN - suffix.len())
        .collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        // a leap day
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn generated_job_ids() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let id = generate_job_id(t);
        assert!(id.len() <= MAX_JOB_ID_LEN, "{id}");
        assert!(id.starts_with("20231114T221320Z-"), "{id}");
        assert_eq!(id.len(), "20231114T221320Z-".len() + 6);
        validate_job_id(&id).expect("generated ids are valid");
        // later ids sort after earlier ones
        let later = generate_job_id(t + Duration::from_secs(1));
        assert!(later > id);
    }

    #[test]
    fn job_id_validation() {
        assert!(validate_job_id("nightly_2026-01").is_ok());
        assert!(validate_job_id(&"a".repeat(36)).is_ok());
        assert!(validate_job_id("").is_err());
        assert!(validate_job_id(&"a".repeat(37)).is_err());
        for bad in ["a b", "a/b", "job.1", "é", "a:b"] {
            let e = validate_job_id(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn client_tokens_fit_and_are_stable() {
        assert_eq!(client_token("job", 3, 1), "job-3-1");
        let long_job = "j".repeat(MAX_JOB_ID_LEN);
        for (lot, attempt) in [(0, 1), (u32::MAX, u64::MAX), (7, 12_345_678_901_234)] {
            let t = client_token(&long_job, lot, attempt);
            assert!(t.len() <= MAX_CLIENT_TOKEN_LEN, "{t} is {} chars", t.len());
            assert!(t.is_ascii());
            assert_eq!(t, client_token(&long_job, lot, attempt));
        }
        // distinct attempts give distinct tokens, also when hashed
        assert_ne!(
            client_token(&long_job, u32::MAX, u64::MAX),
            client_token(&long_job, u32::MAX, u64::MAX - 1)
        );
        let weird = client_token("jöb", 1, 1);
        assert!(weird.is_ascii() && weird.len() <= MAX_CLIENT_TOKEN_LEN);
    }

    #[test]
    fn fingerprints() {
        let fp = |keys: &[&str]| {
            let mut f = Fingerprint::default();
            keys.iter().for_each(|k| f.add(k));
            f.finish()
        };
        assert_eq!(fp(&["a", "b"]), fp(&["a", "b"]));
        assert_ne!(fp(&["a", "b"]), fp(&["b", "a"]));
        assert_ne!(fp(&["ab"]), fp(&["a", "b"]));
        assert_ne!(fp(&[]), fp(&[""]));
        assert!(fp(&["x"]).starts_with("fnv1a64:"));
        assert_eq!(fp(&["x"]).len(), "fnv1a64:".len() + 16);
    }
}
