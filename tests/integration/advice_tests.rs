//! "Worth it? Will it stick?": the advice `estimate` and `launch --dry-run` give before a job
//! (small objects, monthly storage, lifecycle rules and Intelligent-Tiering configurations that
//! would undo the move), and `--min-size`/`--min-age` leaving objects where they are: at
//! planning from an inventory, after the worker's HeadObject from a plain list.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, IntelligentTieringAccessTier,
    IntelligentTieringConfiguration, IntelligentTieringFilter, IntelligentTieringStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, Tiering, Transition,
    TransitionStorageClass,
};
use serde_json::Value;

use crate::rig::*;

const KIB: usize = 1024;

fn write_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}", unique("in")));
    std::fs::write(&path, text).expect("write input");
    path
}

/// `estimate --json` of `keys` in `bucket` into `class`, parsed.
fn estimate(
    moto: &Moto,
    bucket: &str,
    keys: &std::path::Path,
    class: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "estimate",
        keys.to_str().expect("path"),
        "--bucket",
        bucket,
        "--storage-class",
        class,
        "--json",
    ];
    args.extend_from_slice(extra);
    let out = run_ok(moto, "coordinator", &args, &[]);
    serde_json::from_str(&stdout(&out)).expect("estimate json")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Three 1 KiB objects and one of 200 KiB in STANDARD, `keys.txt` naming them.
async fn small_and_large(c: &Clients, bucket: &str) -> std::path::PathBuf {
    create_bucket(c, bucket).await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = format!("data/small-{i}");
        put(c, bucket, &key, "STANDARD", &vec![b's'; KIB]).await;
        keys.push(key);
    }
    put(c, bucket, "data/large", "STANDARD", &vec![b'l'; 200 * KIB]).await;
    keys.push("data/large".into());
    write_keys(&keys)
}

#[tokio::test]
async fn small_objects_are_counted_and_priced_in_estimate_and_dry_run() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    let keys = small_and_large(&c, &bucket).await;

    let doc = estimate(moto, &bucket, &keys, "GLACIER", &[]);
    let a = &doc["advice"];
    let small = &a["storage"]["small"];
    assert_eq!(small["objects"], 3, "{doc}");
    assert_eq!(small["bytes"], 3 * KIB, "{doc}");
    // 1 KiB in STANDARD at $0.023/GB; in GLACIER 1 + 32 KiB at $0.0036 and 8 KiB at $0.023
    let gib = 1024.0 * 1024.0 * 1024.0;
    let before = 3.0 * 1024.0 / gib * 0.023;
    let after = 3.0 * (33.0 * 1024.0 * 0.0036 + 8.0 * 1024.0 * 0.023) / gib;
    assert!((f(&small["before_usd"]) - before).abs() < 1e-12, "{doc}");
    assert!((f(&small["after_usd"]) - after).abs() < 1e-12, "{doc}");
    assert!(f(&small["after_usd"]) > f(&small["before_usd"]));
    assert_eq!(a["storage"]["selection"]["objects"], 4, "{doc}");
    // STANDARD -> GLACIER saves each month: it pays back after one-time / savings months
    let s = &a["storage"]["selection"];
    let months = f(&a["one_time_usd"]) / (f(&s["before_usd"]) - f(&s["after_usd"]));
    assert!((f(&a["payback_months"]) - months).abs() < 1e-6, "{doc}");
    // no lifecycle configuration: no warning, no note
    assert_eq!(a["warnings"].as_array().map(Vec::len), Some(0), "{doc}");
    assert_eq!(a["notes"].as_array().map(Vec::len), Some(0), "{doc}");

    // the same advice in the dry run's text; STANDARD_IA bills them as 128 KiB each
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let out = launch_local_ok(moto, &table, &bucket, &job, &keys, &["--dry-run"]);
    let text = stdout(&out);
    assert!(text.contains("worth it? will it stick?"), "{text}");
    assert!(
        text.contains(
            "small objects: 3 under 128 KiB (0.0 MiB) billed as 128 KiB each in STANDARD_IA"
        ),
        "{text}"
    );
    assert!(text.contains("costs $"), "{text}");

    // a --from listing tells sizes: --min-size leaves the small ones out at planning
    let from = format!("s3://{bucket}/data/");
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &unique("job"),
        "",
        &["--dry-run", "--from", &from, "--min-size", "128KiB"],
    );
    let text = stdout(&out);
    assert!(text.contains("keys: 1 from"), "{text}");
    assert!(
        text.contains(
            "left out at planning: 3 objects (0.0 MiB) smaller than --min-size (e.g. data/small-"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn min_size_leaves_inventory_objects_out_at_planning() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let rows = format!(
        "\"{bucket}\",\"tiny-1\",\"2048\",\"GLACIER\"\n\
         \"{bucket}\",\"tiny-2\",\"4096\",\"GLACIER\"\n\
         \"{bucket}\",\"big\",\"1048576\",\"GLACIER\"\n"
    );
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(rows.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    c.s3.put_object()
        .bucket(&bucket)
        .key("inv/data/1.csv.gz")
        .body(gz.into())
        .send()
        .await
        .expect("put data");
    let manifest = format!(
        r#"{{"sourceBucket":"{bucket}","destinationBucket":"arn:aws:s3:::{bucket}","fileFormat":"CSV",
            "fileSchema":"Bucket, Key, Size, StorageClass","files":[{{"key":"inv/data/1.csv.gz"}}]}}"#
    );
    let path = write_file("manifest.json", &manifest);
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &path,
        &["--dry-run", "--min-size", "128KiB"],
    );
    let text = stdout(&out);
    assert!(text.contains("keys: 1 from"), "{text}");
    assert!(
        text.contains("left out at planning: 2 objects (0.0 MiB) smaller than --min-size (e.g. tiny-1, tiny-2)"),
        "{text}"
    );
    assert!(
        text.contains(
            "left out: 2 objects (0.0 MiB) smaller than --min-size: left out of the lots"
        ),
        "{text}"
    );
    // without the flag all three are planned, and the two small ones are priced as small
    let doc = estimate(moto, &bucket, &path, "DEEP_ARCHIVE", &[]);
    assert_eq!(doc["keys"], 3, "{doc}");
    assert_eq!(doc["advice"]["storage"]["small"]["objects"], 2, "{doc}");
    let doc = estimate(
        moto,
        &bucket,
        &path,
        "DEEP_ARCHIVE",
        &["--min-size", "128KiB"],
    );
    assert_eq!(doc["keys"], 1, "{doc}");
    assert_eq!(doc["advice"]["storage"]["small"]["objects"], 0, "{doc}");
    assert_eq!(doc["advice"]["left_out"][0]["objects"], 2, "{doc}");
    assert_eq!(doc["advice"]["left_out"][0]["at"], "planning", "{doc}");
}

/// An inventory's LastModifiedDate of `days_ago` days ago.
fn iso(days_ago: u64) -> String {
    let t = std::time::SystemTime::now() - std::time::Duration::from_secs(days_ago * 86_400);
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let date = thaw_common::input::Date::from_days(days as i64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        date.year,
        date.month,
        date.day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[tokio::test]
async fn young_objects_are_counted_and_min_age_leaves_them_out_at_planning() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let gib: u64 = 1024 * 1024 * 1024;
    let rows = format!(
        "\"{bucket}\",\"young\",\"{gib}\",\"{}\",\"DEEP_ARCHIVE\"\n\
         \"{bucket}\",\"old\",\"{gib}\",\"{}\",\"DEEP_ARCHIVE\"\n",
        iso(60),
        iso(400)
    );
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(rows.as_bytes()).expect("gzip");
        e.finish().expect("gzip")
    };
    c.s3.put_object()
        .bucket(&bucket)
        .key("inv/data/1.csv.gz")
        .body(gz.into())
        .send()
        .await
        .expect("put data");
    let manifest = format!(
        r#"{{"sourceBucket":"{bucket}","destinationBucket":"arn:aws:s3:::{bucket}","fileFormat":"CSV",
            "fileSchema":"Bucket, Key, Size, LastModifiedDate, StorageClass","files":[{{"key":"inv/data/1.csv.gz"}}]}}"#
    );
    let path = write_file("manifest.json", &manifest);
    let doc = estimate(moto, &bucket, &path, "STANDARD", &[]);
    let storage = &doc["advice"]["storage"];
    assert_eq!(storage["young_objects"], 1, "{doc}");
    // 120 of its 180 days left: 4 months at $0.00099/GB-month, the estimate's own figure
    let early = f(&storage["young_early_deletion_usd"]);
    assert!((early - 4.0 * 0.00099).abs() < 0.0001, "{doc}");
    assert!(
        (early - f(&doc["estimate"]["early_deletion_usd"])).abs() < 1e-12,
        "{doc}"
    );
    let doc = estimate(moto, &bucket, &path, "STANDARD", &["--min-age", "180d"]);
    assert_eq!(doc["keys"], 1, "{doc}");
    assert_eq!(doc["advice"]["storage"]["young_objects"], 0, "{doc}");
    assert_eq!(doc["advice"]["left_out"][0]["reason"], "MinAge", "{doc}");
    assert_eq!(doc["estimate"]["early_deletion_usd"], 0.0, "{doc}");
}

/// The report's rows of a job, and its summary.
fn report(moto: &Moto, table: &str, job: &str) -> (Vec<String>, Value) {
    let csv = std::env::temp_dir().join(format!("{}.csv", unique("report")));
    let out = run_ok(
        moto,
        "coordinator",
        &[
            "report",
            job,
            "--table",
            table,
            "-o",
            &csv.to_string_lossy(),
        ],
        &[],
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).expect("summary");
    let text = std::fs::read_to_string(&csv).expect("csv");
    (text.lines().map(str::to_owned).collect(), summary)
}

#[tokio::test]
async fn min_size_and_min_age_are_skipped_by_the_worker_after_head() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    let keys = small_and_large(&c, &bucket).await;
    let table = unique("table");
    init_table(moto, &table);

    // a plain list tells no sizes: the worker leaves the small ones after their HEAD
    let job = unique("job");
    launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &keys,
        &["--min-size", "128KiB"],
    );
    for i in 0..3 {
        assert_eq!(
            class_of(&c, &bucket, &format!("data/small-{i}")).await,
            "STANDARD"
        );
    }
    assert_eq!(class_of(&c, &bucket, "data/large").await, "STANDARD_IA");
    let (rows, summary) = report(moto, &table, &job);
    let left: Vec<&String> = rows
        .iter()
        .filter(|r| r.contains(",succeeded,,200,smaller than --min-size: left where it is,"))
        .collect();
    assert_eq!(left.len(), 3, "{rows:?}");
    assert!(left.iter().all(|r| r.contains("data/small-")), "{rows:?}");
    assert_eq!(summary["left_out"]["MinSize"], 3, "{summary}");
    assert_eq!(summary["copied"], 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    // every object was written moments ago: --min-age 90d leaves them all for later
    let job = unique("job");
    launch_local_ok(moto, &table, &bucket, &job, &keys, &["--min-age", "90d"]);
    assert_eq!(class_of(&c, &bucket, "data/small-0").await, "STANDARD");
    let (rows, summary) = report(moto, &table, &job);
    // the large one is in the target class already: skipped as done, not left out
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(",younger than --min-age: left where it is until later,"))
            .count(),
        3,
        "{rows:?}"
    );
    assert_eq!(summary["left_out"]["MinAge"], 3, "{summary}");
    assert_eq!(summary["skipped"], 4, "{summary}");
    // the dry run's sample says what the workers will leave
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &unique("job"),
        &keys,
        &["--dry-run", "--min-age", "90d"],
    );
    let text = stdout(&out);
    assert!(
        text.contains(
            "left out: 3 objects (0.0 MiB) younger than --min-age: (estimated from the sample)"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn lifecycle_rules_that_would_undo_the_move_are_warned_by_name() {
    // its own emulator: it refuses reads (deny_bucket_reads), which the shared one must not
    let moto = &Moto::start();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        let key = format!("logs/{i}");
        put(&c, &bucket, &key, "GLACIER", &vec![b'x'; 200 * KIB]).await;
        keys.push(key);
    }
    let keys = write_keys(&keys);
    let rule = |id: &str, prefix: &str| {
        LifecycleRule::builder()
            .id(id)
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
    };
    let to_glacier = rule("back-to-glacier", "logs/")
        .transitions(
            Transition::builder()
                .days(30)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()
        .expect("rule");
    let elsewhere = rule("other-prefix", "images/")
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .expect("rule");
    let expire = rule("expire-logs", "logs/")
        .expiration(LifecycleExpiration::builder().days(365).build())
        .build()
        .expect("rule");
    c.s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(to_glacier)
                .rules(elsewhere)
                .rules(expire)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("put lifecycle");

    let doc = estimate(moto, &bucket, &keys, "STANDARD", &[]);
    let warnings = doc["advice"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = warnings.iter().filter_map(|w| w["id"].as_str()).collect();
    assert_eq!(ids, ["back-to-glacier", "expire-logs"], "{doc}");
    assert_eq!(warnings[0]["matched"]["Matches"], 4, "{doc}");
    // into DEEP_ARCHIVE, the GLACIER transition would not act: only the expiration warns
    let doc = estimate(moto, &bucket, &keys, "DEEP_ARCHIVE", &[]);
    let ids: Vec<&str> = doc["advice"]["warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(|w| w["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["expire-logs"], "{doc}");
    // the dry run names them
    let table = unique("table");
    init_table(moto, &table);
    let out = launch_local_ok(moto, &table, &bucket, &unique("job"), &keys, &["--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("warning: lifecycle rule 'back-to-glacier' matches 4 copies and moves them to GLACIER 30 days after the copy"),
        "{text}"
    );
    assert!(
        text.contains("warning: lifecycle rule 'expire-logs' matches 4 copies and expires (deletes) them 365 days after the copy"),
        "{text}"
    );

    // a caller without s3:GetLifecycleConfiguration gets a note, and the estimate still stands
    moto.configure(&format!(r#"{{"deny_bucket_reads": ["{bucket}"]}}"#));
    let doc = estimate(moto, &bucket, &keys, "STANDARD", &[]);
    moto.configure(r#"{"deny_bucket_reads": []}"#);
    assert_eq!(
        doc["advice"]["warnings"].as_array().map(Vec::len),
        Some(0),
        "{doc}"
    );
    let notes = doc["advice"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "cannot read the lifecycle configuration of bucket {bucket} (AccessDenied): not checked"
        )),
        "{doc}"
    );
    assert!(doc["estimate"]["total_usd"].as_f64().is_some(), "{doc}");
}

#[tokio::test]
async fn intelligent_tiering_archive_configurations_are_warned_for_that_target() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    put(&c, &bucket, "data/a", "GLACIER", &vec![b'x'; 200 * KIB]).await;
    let keys = write_keys(&["data/a".to_owned()]);
    let config = IntelligentTieringConfiguration::builder()
        .id("deep-after-180")
        .status(IntelligentTieringStatus::Enabled)
        .filter(IntelligentTieringFilter::builder().prefix("data/").build())
        .tierings(
            Tiering::builder()
                .days(180)
                .access_tier(IntelligentTieringAccessTier::DeepArchiveAccess)
                .build()
                .expect("tiering"),
        )
        .build()
        .expect("config");
    c.s3.put_bucket_intelligent_tiering_configuration()
        .bucket(&bucket)
        .id("deep-after-180")
        .intelligent_tiering_configuration(config)
        .send()
        .await
        .expect("put configuration");

    let doc = estimate(moto, &bucket, &keys, "INTELLIGENT_TIERING", &[]);
    let w = &doc["advice"]["warnings"][0];
    assert_eq!(w["id"], "deep-after-180", "{doc}");
    assert_eq!(w["kind"], "IntelligentTiering", "{doc}");
    assert_eq!(w["matched"]["Matches"], 1, "{doc}");
    // another target class: Intelligent-Tiering's tiers do not apply
    let doc = estimate(moto, &bucket, &keys, "STANDARD", &[]);
    assert_eq!(
        doc["advice"]["warnings"].as_array().map(Vec::len),
        Some(0),
        "{doc}"
    );
}
