//! What the copies do to their source, which the estimate's early deletion and the advice's
//! monthly storage depend on: an in-place copy in an unversioned bucket replaces its source
//! (early deletion billed), one in a versioned bucket keeps the old version (no early deletion,
//! the old version billed on, warned unless a NoncurrentVersionExpiration deletes it), a copy
//! elsewhere (a pairs list) leaves its source, and the pairs' destination buckets are not
//! checked for rules.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NoncurrentVersionTransition, TransitionStorageClass,
};
use serde_json::Value;

use crate::rig::*;

const MIB: usize = 1024 * 1024;

/// `estimate --json` of `keys` in `bucket` into STANDARD, parsed.
fn estimate(moto: &Moto, bucket: &str, keys: &std::path::Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "estimate",
        keys.to_str().expect("path"),
        "--bucket",
        bucket,
        "--storage-class",
        "STANDARD",
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run_ok(moto, "coordinator", &args, &[]);
    serde_json::from_str(&stdout(&out)).expect("estimate json")
}

fn early(doc: &Value) -> f64 {
    doc["estimate"]["early_deletion_usd"]
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// Two fresh 1 MiB GLACIER objects (younger than GLACIER's 90 days) under `logs/`.
async fn young_glacier(c: &Clients, bucket: &str) -> std::path::PathBuf {
    let keys: Vec<String> = (0..2).map(|i| format!("logs/{i}")).collect();
    for k in &keys {
        put(c, bucket, k, "GLACIER", &vec![b'g'; MIB]).await;
    }
    write_keys(&keys)
}

async fn put_rule(c: &Clients, bucket: &str, rule: LifecycleRule) {
    c.s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(rule)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("put lifecycle");
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

#[tokio::test]
async fn early_deletion_only_when_in_place_copies_replace_their_source() {
    // its own emulator: it refuses reads (deny_bucket_reads), which the shared one must not
    let moto = &Moto::start();
    let c = moto.clients().await;
    // unversioned: the copy replaces the young source, billed its early deletion
    let plain = unique("bucket");
    create_bucket(&c, &plain).await;
    let keys = young_glacier(&c, &plain).await;
    let doc = estimate(moto, &plain, &keys, &[]);
    assert!(early(&doc) > 0.0, "{doc}");
    assert_eq!(doc["advice"]["storage"]["young_objects"], 2, "{doc}");
    assert_eq!(doc["advice"]["old_versions"], Value::Null, "{doc}");

    // versioned: the old version stays; no early deletion, and it is billed on
    let versioned = unique("bucket");
    create_bucket(&c, &versioned).await;
    enable_versioning(&c, &versioned).await;
    let keys = young_glacier(&c, &versioned).await;
    let doc = estimate(moto, &versioned, &keys, &[]);
    assert_eq!(early(&doc), 0.0, "{doc}");
    assert_eq!(doc["advice"]["storage"]["young_objects"], 0, "{doc}");
    assert_eq!(doc["advice"]["old_versions"]["kept"], 2, "{doc}");
    let sel = &doc["advice"]["storage"]["selection"];
    let (before, after) = (sel["before_usd"].as_f64(), sel["after_usd"].as_f64());
    assert!(
        after > before,
        "the old GLACIER versions stay billed: {doc}"
    );
    assert_eq!(doc["advice"]["payback_months"], Value::Null, "{doc}");

    // a noncurrent-version transition moves the old versions, never deletes them
    let colder = rule("old-to-deep", "")
        .noncurrent_version_transitions(
            NoncurrentVersionTransition::builder()
                .noncurrent_days(30)
                .storage_class(TransitionStorageClass::DeepArchive)
                .build(),
        )
        .build()
        .expect("rule");
    put_rule(&c, &versioned, colder).await;
    let doc = estimate(moto, &versioned, &keys, &[]);
    assert_eq!(doc["advice"]["old_versions"]["transitioned"], 2, "{doc}");
    // an expiration deletes them: no warning in the dry run
    let table = unique("table");
    init_table(moto, &table);
    let dry = |extra: &[&str]| {
        let mut args = vec!["--dry-run"];
        args.extend_from_slice(extra);
        let out = launch_local_ok(moto, &table, &versioned, &unique("job"), &keys, &args);
        stdout(&out)
    };
    let text = dry(&[]);
    assert!(
        text.contains("warning: no lifecycle rule expires the old versions (NoncurrentVersionExpiration) of 2 copies (2 of them moved to a colder class"),
        "{text}"
    );
    let expire = rule("old-expire", "logs/")
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .build(),
        )
        .build()
        .expect("rule");
    put_rule(&c, &versioned, expire).await;
    let doc = estimate(moto, &versioned, &keys, &[]);
    assert_eq!(doc["advice"]["old_versions"]["expired"], 2, "{doc}");
    let text = dry(&[]);
    assert!(
        text.contains("versioned bucket: each in-place copy keeps the old version"),
        "{text}"
    );
    assert!(
        !text.contains("warning: no lifecycle rule expires"),
        "{text}"
    );
    // --delete-source-version deletes the source: nothing kept, early deletion billed
    let text = dry(&["--delete-source-version"]);
    assert!(!text.contains("versioned bucket:"), "{text}");
    assert!(text.contains("young objects: 2"), "{text}");

    // a caller who may not read the versioning: counted as unversioned, and said
    moto.configure(&format!(r#"{{"deny_bucket_reads": ["{versioned}"]}}"#));
    let doc = estimate(moto, &versioned, &keys, &[]);
    moto.configure(r#"{"deny_bucket_reads": []}"#);
    assert!(early(&doc) > 0.0, "{doc}");
    assert!(
        doc["advice"]["notes"].to_string().contains(&format!(
            "cannot read the versioning of bucket {versioned} (AccessDenied): counted as unversioned"
        )),
        "{doc}"
    );
}

#[tokio::test]
async fn pairs_copies_leave_their_source_and_their_buckets_are_not_checked() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (src, dst) = (unique("bucket"), unique("bucket"));
    create_bucket(&c, &src).await;
    create_bucket(&c, &dst).await;
    young_glacier(&c, &src).await;
    let pairs: String = (0..2)
        .map(|i| format!("s3://{src}/logs/{i},s3://{dst}/copy/{i}\n"))
        .collect();
    let path = std::env::temp_dir().join(format!("{}-pairs.csv", unique("in")));
    std::fs::write(&path, pairs).expect("write pairs");
    let doc = estimate(moto, &src, &path, &["--format", "pairs"]);
    assert_eq!(early(&doc), 0.0, "{doc}");
    assert_eq!(doc["advice"]["old_versions"], Value::Null, "{doc}");
    assert!(
        doc["advice"]["notes"].to_string().contains(&format!(
            "lifecycle rules of the pairs' destination buckets not checked: {dst}"
        )),
        "{doc}"
    );
}
