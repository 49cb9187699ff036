//! Objects `--min-size` and `--min-age` leave out of a job at planning time, where the list
//! tells sizes and ages (an S3 Inventory's columns, a `--from` listing): counted by reason, with
//! their bytes and the first few keys, for the plan to show. They never reach a lot.

use std::collections::BTreeMap;

use thaw_common::leave_out::{LeaveOut, LeftOutReason};

/// Keys named in the plan per reason (the counts cover all of them).
const EXAMPLES: usize = 5;

/// What planning left out, by reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LeftOut {
    /// Per reason: objects, bytes, and the first keys.
    pub by_reason: BTreeMap<LeftOutReason, LeftOutGroup>,
}

/// The objects left out for one reason.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LeftOutGroup {
    /// Objects left out.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The first few of their keys.
    pub examples: Vec<String>,
}

impl LeftOut {
    /// Offers one listed object; true when `rule` leaves it out (then it is counted here).
    pub fn leaves_out(
        &mut self,
        rule: &LeaveOut,
        key: &str,
        size: Option<u64>,
        last_modified: Option<i64>,
        now: i64,
    ) -> bool {
        // An unknown size never leaves an object out: the worker looks at it.
        let Some(reason) = size.and_then(|s| rule.reason(s, last_modified, now)) else {
            return false;
        };
        let g = self.by_reason.entry(reason).or_default();
        g.objects += 1;
        g.bytes += size.unwrap_or(0);
        if g.examples.len() < EXAMPLES {
            g.examples.push(key.to_owned());
        }
        true
    }

    /// Objects left out for any reason.
    pub fn total(&self) -> u64 {
        self.by_reason.values().map(|g| g.objects).sum()
    }

    /// The plan's lines about them (none when nothing was left out).
    pub fn lines(&self) -> String {
        let mut o = String::new();
        for (reason, g) in &self.by_reason {
            push_line!(
                o,
                "left out at planning: {} objects ({:.1} MiB) {} (e.g. {})",
                g.objects,
                g.bytes as f64 / (1024.0 * 1024.0),
                match reason {
                    LeftOutReason::MinSize => "smaller than --min-size",
                    LeftOutReason::MinAge => "younger than --min-age",
                },
                g.examples.join(", ")
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_and_examples_by_reason() {
        let rule = LeaveOut {
            min_size: Some(100),
            min_age_secs: Some(1000),
        };
        let mut l = LeftOut::default();
        let now = 10_000;
        for i in 0..7 {
            assert!(l.leaves_out(&rule, &format!("small{i}"), Some(10), Some(0), now));
        }
        assert!(l.leaves_out(&rule, "young", Some(500), Some(now - 5), now));
        assert!(!l.leaves_out(&rule, "kept", Some(500), Some(0), now));
        assert!(!l.leaves_out(&rule, "unknown", None, None, now));
        let small = &l.by_reason[&LeftOutReason::MinSize];
        assert_eq!(
            (small.objects, small.bytes, small.examples.len()),
            (7, 70, 5)
        );
        assert_eq!(l.total(), 8);
        let lines = l.lines();
        assert!(
            lines.contains("7 objects") && lines.contains("younger than --min-age"),
            "{lines}"
        );
        assert!(LeftOut::default().lines().is_empty());
    }
}
