//! What `coordinator events setup` makes, named: the queue and rule names of a bucket, and what
//! each step did ([`Change`]). The steps themselves: the queue and its policy
//! ([`super::queue`]), the rule and its target ([`super::rule`]), the bucket's notification
//! configuration ([`super::notification`], read-merge-write, refusing what cannot be done safely;
//! the merge itself in [`super::notification_merge`]).

/// What a setup step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created from nothing.
    Created,
    /// Existed, and was changed to what the setup needs.
    Updated,
    /// Already as the setup needs it: nothing sent.
    Unchanged,
}

impl Change {
    /// The word for the setup's output.
    pub fn word(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
        }
    }
}

/// The default queue of `bucket`'s events: `thaw-restore-<bucket>`, dots (allowed in bucket
/// names, not in queue names) as dashes. At most 13 + 63 = 76 characters (SQS allows 80).
pub fn default_queue_name(bucket: &str) -> String {
    format!("thaw-restore-{}", bucket.replace('.', "-"))
}

/// Whether `name` is a valid SQS standard queue name (1-80 of `A-Za-z0-9_-`).
pub fn valid_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The EventBridge rule of `bucket`'s restore-completed events: `thaw-restore-<bucket>`, cut to
/// EventBridge's 64 characters with a hash of the whole name when longer (two long bucket names
/// with the same beginning get different rules).
pub fn rule_name(bucket: &str) -> String {
    cut(&format!("thaw-restore-{bucket}"), 64)
}

/// The id of the queue `queue_name`'s target on a rule: the queue name, cut to EventBridge's 64
/// characters like [`rule_name`] (queue names are `A-Za-z0-9_-`, all allowed in target ids).
pub fn target_id(queue_name: &str) -> String {
    cut(queue_name, 64)
}

/// `full` when at most `max` bytes, else its beginning (cut on a character boundary) and an
/// 8-digit hash of the whole: at most `max` bytes.
fn cut(full: &str, max: usize) -> String {
    if full.len() <= max {
        return full.to_owned();
    }
    // FNV-1a: stable across Rust versions, unlike std's hasher
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut end = max - 9;
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{:08x}", &full[..end], hash as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_services_rules() {
        let long = "a".repeat(40) + "." + &"b".repeat(22);
        assert_eq!(long.len(), 63);
        let q = default_queue_name(&long);
        assert!(valid_queue_name(&q), "{q}");
        assert_eq!(default_queue_name("my.bucket"), "thaw-restore-my-bucket");
        assert!(!valid_queue_name("a.b"));
        assert!(!valid_queue_name(&"a".repeat(81)));
        assert_eq!(rule_name("data"), "thaw-restore-data");
        let r = rule_name(&long);
        assert_eq!(r.len(), 64);
        assert!(r.starts_with("thaw-restore-aaaa"));
        let other = "a".repeat(40) + "." + &"c".repeat(22);
        assert_ne!(rule_name(&other), r, "same beginning, different rules");
        // a legacy bucket name with a multi-byte character across the cut
        let wide = "a".repeat(41) + "é" + &"b".repeat(20);
        let r = rule_name(&wide);
        assert!(r.len() <= 64 && r.starts_with("thaw-restore-aaa"), "{r}");
        assert_eq!(target_id("thaw-restore-data"), "thaw-restore-data");
        let q = "q".repeat(80);
        assert_eq!(target_id(&q).len(), 64);
        assert_ne!(target_id(&q), target_id(&("q".repeat(79) + "r")));
    }
}
