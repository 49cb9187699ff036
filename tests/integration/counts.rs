//! What the emulator saw: its wrapper's request counts (GET /_thaw/stats) overall, of one bucket,
//! or of one object. Tests check these rather than what the binaries say they sent, and count per
//! bucket or per object so that other tests on a shared emulator cannot move their numbers.
//!
//! Operations are named as the wrapper names them (`s3:HeadObject`, `s3:CopyObject`,
//! `s3:UploadPartCopy`, `s3:RestoreObject`, `s3:GET:tagging`, `RunTask`, ...). A request counts
//! for the bucket and key of its path (a copy: its destination); a copy also counts
//! `<op>:source` for its source object, and a copy refused by `x-amz-copy-source-if-match`
//! counts `<op>:412` (and `<op>:source:412` for its source).

#![allow(dead_code)]

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{Map, Value};

use crate::rig::Moto;

/// Requests by operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts(BTreeMap<String, u64>);

impl Counts {
    fn from_json(v: &Value) -> Counts {
        let map: &Map<String, Value> = v.as_object().expect("counts are a JSON object");
        Counts(
            map.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().expect("a count")))
                .collect(),
        )
    }

    /// Requests of operation `op` (0 when none).
    pub fn get(&self, op: &str) -> u64 {
        self.0.get(op).copied().unwrap_or(0)
    }

    /// Requests of any of `ops`.
    pub fn sum(&self, ops: &[&str]) -> u64 {
        ops.iter().map(|op| self.get(op)).sum()
    }

    /// The requests made since `before` was read.
    pub fn since(&self, before: &Counts) -> Counts {
        Counts(
            self.0
                .iter()
                .map(|(op, n)| (op.clone(), n.saturating_sub(before.get(op))))
                .filter(|(_, n)| *n > 0)
                .collect(),
        )
    }

    /// No request at all.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|n| *n == 0)
    }
}

fn query_value(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl Moto {
    /// Every request the emulator saw, by operation.
    pub fn counts(&self) -> Counts {
        Counts::from_json(&self.stats())
    }

    /// The requests on `bucket` and its objects.
    pub fn bucket_counts(&self, bucket: &str) -> Counts {
        Counts::from_json(&self.stats_query(&format!("bucket={}", query_value(bucket))))
    }

    /// The requests on one object (`bucket`/`key`).
    pub fn object_counts(&self, bucket: &str, key: &str) -> Counts {
        Counts::from_json(&self.stats_query(&format!(
            "bucket={}&key={}",
            query_value(bucket),
            query_value(key)
        )))
    }

    /// The requests on each object of `bucket` that saw any.
    pub fn counts_by_key(&self, bucket: &str) -> BTreeMap<String, Counts> {
        let v = self.stats_query(&format!("bucket={}&by_key=1", query_value(bucket)));
        v.as_object()
            .expect("counts by key")
            .iter()
            .map(|(k, c)| (k.clone(), Counts::from_json(c)))
            .collect()
    }
}

/// The wrapper counts per bucket and per object, decoding keys exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn counts_are_kept_per_bucket_and_per_object() {
    use crate::rig::{create_bucket, put, unique};
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (a, b) = (unique("counts"), unique("counts"));
    create_bucket(&c, &a).await;
    create_bucket(&c, &b).await;
    let odd = "per%41cent +plus/ü";
    put(&c, &a, odd, "STANDARD", b"x").await;
    put(&c, &a, "plain", "STANDARD", b"y").await;
    put(&c, &b, odd, "STANDARD", b"z").await;
    let before = moto.counts();
    for _ in 0..3 {
        c.s3.head_object()
            .bucket(&a)
            .key(odd)
            .send()
            .await
            .expect("head");
    }
    c.s3.copy_object()
        .bucket(&b)
        .key("copied")
        .copy_source(format!("{a}/per%2541cent%20%2Bplus/%C3%BC"))
        .send()
        .await
        .expect("copy");

    assert_eq!(moto.object_counts(&a, odd).get("s3:HeadObject"), 3);
    assert_eq!(moto.object_counts(&a, odd).get("s3:CopyObject:source"), 1);
    assert_eq!(
        moto.object_counts(&a, "perAcent +plus/ü"),
        Counts::default()
    );
    assert_eq!(moto.object_counts(&b, odd).get("s3:PutObject"), 1);
    assert_eq!(moto.object_counts(&b, odd).get("s3:HeadObject"), 0);
    assert_eq!(moto.object_counts(&b, "copied").get("s3:CopyObject"), 1);
    assert_eq!(moto.bucket_counts(&a).get("s3:PutObject"), 2);
    assert_eq!(moto.bucket_counts(&a).get("s3:HeadObject"), 3);
    assert_eq!(moto.bucket_counts(&b).get("s3:CopyObject"), 1);
    let by_key = moto.counts_by_key(&a);
    assert_eq!(
        by_key.keys().collect::<Vec<_>>(),
        vec![odd, "plain"],
        "{by_key:?}"
    );
    let overall = moto.counts().since(&before);
    assert!(overall.get("s3:HeadObject") >= 3, "{overall:?}");
    assert!(overall.get("s3:CopyObject") >= 1, "{overall:?}");
}
