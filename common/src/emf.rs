//! CloudWatch metrics without an API call: workers write CloudWatch Embedded Metric Format (EMF)
//! documents as log lines, and CloudWatch Logs turns them into metrics in namespace
//! [`NAMESPACE`], dimension `job`. No `PutMetricData`, no extra permission: the task's log
//! driver already ships stderr to CloudWatch Logs.
//!
//! Each document carries what changed since the previous one (deltas, so CloudWatch's `Sum` over a
//! period is the job's throughput), plus `running_tasks` = 1: a worker emits at most one document
//! per [`EMIT_EVERY_SECS`] while it runs, so the `Sum` of `running_tasks` over one minute counts the
//! workers alive in that minute.

use serde_json::{json, Map, Value};

use crate::checkpoint::Counters;

/// The CloudWatch namespace of thaw's metrics.
pub const NAMESPACE: &str = "thaw";

/// Seconds between two documents of a running worker.
pub const EMIT_EVERY_SECS: u64 = 60;

/// The metrics of one document, in the order they are declared.
pub const METRICS: [(&str, &str); 7] = [
    ("keys_copied", "Count"),
    ("keys_skipped", "Count"),
    ("keys_failed", "Count"),
    ("keys_throttled", "Count"),
    ("restores_requested", "Count"),
    ("bytes_copied", "Bytes"),
    ("running_tasks", "Count"),
];

/// What a worker did since its previous document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deltas {
    /// Keys copied into the target class.
    pub keys_copied: u64,
    /// Keys found already in the class.
    pub keys_skipped: u64,
    /// Keys that failed.
    pub keys_failed: u64,
    /// Keys sent back for a later pass because S3 pushed back (SlowDown, 503, timeouts).
    pub keys_throttled: u64,
    /// Restore requests S3 accepted.
    pub restores_requested: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
}

impl Deltas {
    /// The change from `before` to `now` (a counter that went down, e.g. failures cleared by a
    /// new run, counts 0).
    pub fn between(before: &Counters, now: &Counters) -> Self {
        Self {
            keys_copied: now.copied.saturating_sub(before.copied),
            keys_skipped: now.skipped.saturating_sub(before.skipped),
            keys_failed: now.failed.saturating_sub(before.failed),
            keys_throttled: now.throttled.saturating_sub(before.throttled),
            restores_requested: now
                .restore_requested
                .saturating_sub(before.restore_requested),
            bytes_copied: now.bytes_copied.saturating_sub(before.bytes_copied),
        }
    }

    fn values(&self, running: bool) -> [u64; 7] {
        [
            self.keys_copied,
            self.keys_skipped,
            self.keys_failed,
            self.keys_throttled,
            self.restores_requested,
            self.bytes_copied,
            u64::from(running),
        ]
    }
}

/// One EMF document for `job`'s `lot` at `timestamp_ms` (epoch milliseconds). `running` is true
/// while the worker runs (false in its last document, so a worker is counted once per minute).
pub fn document(job: &str, lot: u32, timestamp_ms: i64, d: &Deltas, running: bool) -> Value {
    let metrics: Vec<Value> = METRICS
        .iter()
        .map(|(name, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["job"]],
                "Metrics": metrics,
            }],
        }),
    );
    doc.insert("job".into(), json!(job));
    doc.insert("lot".into(), json!(lot));
    for ((name, _), v) in METRICS.iter().zip(d.values(running)) {
        doc.insert((*name).into(), json!(v));
    }
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(copied: u64, skipped: u64, failed: u64, restores: u64, bytes: u64) -> Counters {
        Counters {
            keys_total: 100,
            restore_requested: restores,
            copied,
            skipped,
            failed,
            bytes_copied: bytes,
            throttled: copied * 2,
            ..Counters::default()
        }
    }

    #[test]
    fn deltas_are_what_changed() {
        let d = Deltas::between(&counters(1, 2, 3, 4, 5), &counters(11, 2, 1, 9, 105));
        assert_eq!(
            d,
            Deltas {
                keys_copied: 10,
                keys_skipped: 0,
                keys_failed: 0,
                keys_throttled: 20,
                restores_requested: 5,
                bytes_copied: 100,
            }
        );
    }

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let d = Deltas {
            keys_copied: 3,
            bytes_copied: 30,
            ..Deltas::default()
        };
        let doc = document("job-1", 7, 1_790_000_000_123, &d, true);
        let aws = &doc["_aws"];
        assert_eq!(aws["Timestamp"], 1_790_000_000_123_i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "thaw");
        assert_eq!(directive["Dimensions"], json!([["job"]]));
        let declared = directive["Metrics"].as_array().expect("metrics");
        assert_eq!(declared.len(), METRICS.len());
        for m in declared {
            let name = m["Name"].as_str().expect("name");
            assert!(
                doc[name].is_u64(),
                "every declared metric has a value: {name}"
            );
        }
        assert_eq!(doc["job"], "job-1", "the dimension is a string member");
        assert_eq!(doc["lot"], 7);
        assert_eq!(doc["keys_copied"], 3);
        assert_eq!(doc["bytes_copied"], 30);
        assert_eq!(doc["running_tasks"], 1);
        assert_eq!(document("j", 0, 0, &d, false)["running_tasks"], 0);
    }
}
