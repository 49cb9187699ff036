//! Request counters: every S3 and DynamoDB call the worker makes, by operation. Printed in the
//! exit summary so the cost of a lot (requests per key, writes per 1,000 keys) can be measured.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One counter per operation.
#[derive(Debug, Default)]
pub struct Metrics {
    /// S3 HeadObject.
    pub s3_head: AtomicU64,
    /// S3 ListObjectsV2 pages (restore polling by listing).
    pub s3_list: AtomicU64,
    /// S3 RestoreObject.
    pub s3_restore: AtomicU64,
    /// S3 CopyObject.
    pub s3_copy: AtomicU64,
    /// S3 CreateMultipartUpload, CompleteMultipartUpload and AbortMultipartUpload.
    pub s3_multipart: AtomicU64,
    /// S3 UploadPartCopy.
    pub s3_upload_part_copy: AtomicU64,
    /// S3 GetObjectTagging.
    pub s3_get_tagging: AtomicU64,
    /// S3 GetObjectAcl (buckets that use ACLs: the grants a copy carries).
    pub s3_get_acl: AtomicU64,
    /// S3 DeleteObject of a copied source version (`--delete-source-version`).
    pub s3_delete: AtomicU64,
    /// S3 GetObject (job spec and manifest).
    pub s3_get: AtomicU64,
    /// S3 PutObject (the run's copy proofs, once per run).
    pub s3_put: AtomicU64,
    /// DynamoDB reads.
    pub ddb_read: AtomicU64,
    /// DynamoDB writes.
    pub ddb_write: AtomicU64,
}

impl Metrics {
    /// Counts one call.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters added to `base` (the lot's totals from earlier runs), by operation name.
    pub fn added_to(&self, base: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let mut total = base.clone();
        if let serde_json::Value::Object(m) = self.to_json() {
            for (k, v) in m {
                *total.entry(k).or_insert(0) += v.as_u64().unwrap_or(0);
            }
        }
        total
    }

    /// The counters as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "s3_head": g(&self.s3_head),
            "s3_list": g(&self.s3_list),
            "s3_restore": g(&self.s3_restore),
            "s3_copy": g(&self.s3_copy),
            "s3_multipart": g(&self.s3_multipart),
            "s3_upload_part_copy": g(&self.s3_upload_part_copy),
            "s3_get_tagging": g(&self.s3_get_tagging),
            "s3_delete": g(&self.s3_delete),
            "s3_get_acl": g(&self.s3_get_acl),
            "s3_get": g(&self.s3_get),
            "s3_put": g(&self.s3_put),
            "ddb_read": g(&self.ddb_read),
            "ddb_write": g(&self.ddb_write),
        })
    }
}
