//! Inputs that say more than a key: pairs lists (a destination per key, in other buckets and
//! Regions), Batch Operations CSVs that pin versions, `--delete-source-version`, and buckets in
//! the wrong Region.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, StorageClass};
use serde_json::Value;

use crate::assert::*;
use crate::rig::*;

/// Another Region than the rig's, for cross-Region destinations and the wrong-Region drill.
const OTHER_REGION: &str = "eu-west-1";

fn write_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}-{name}", unique("in")));
    std::fs::write(&path, text).expect("write input");
    path
}

async fn create_bucket_in(c: &Clients, bucket: &str, region: &str) {
    c.s3.create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        )
        .send()
        .await
        .expect("create bucket in another Region");
    disable_acls(c, bucket).await;
}

/// Puts a GLACIER object and returns its version id.
async fn put_version(c: &Clients, bucket: &str, key: &str, body: &str) -> String {
    c.s3.put_object()
        .bucket(bucket)
        .key(key)
        .storage_class(StorageClass::Glacier)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .expect("put version")
        .version_id()
        .expect("versioned bucket gives a version id")
        .to_owned()
}

/// Every version of `key`: (version id, storage class, body), newest first.
async fn versions(c: &Clients, bucket: &str, key: &str) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for id in version_ids(c, bucket, key).await {
        let head =
            c.s3.head_object()
                .bucket(bucket)
                .key(key)
                .version_id(&id)
                .send()
                .await
                .expect("head version");
        let class = head
            .storage_class()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "STANDARD".into());
        let body = if class == "GLACIER" {
            Vec::new() // not readable without a restore
        } else {
            get_version_body(c, bucket, key, Some(&id)).await
        };
        out.push((id, class, body));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn pairs_list_copies_each_key_to_its_own_bucket_and_region() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let eu = moto.clients_in(OTHER_REGION).await;
    let table = unique("table");
    init_table(moto, &table);
    let src = unique("src");
    let near = unique("near");
    let far = unique("far");
    create_bucket(&c, &src).await;
    create_bucket(&c, &near).await;
    create_bucket_in(&eu, &far, OTHER_REGION).await;
    let keys: Vec<String> = (0..24).map(|i| format!("in/{i:02} a,b.bin")).collect();
    put_many(
        &c,
        &src,
        keys.iter()
            .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
            .collect(),
    )
    .await;
    // a third to `near` under another name, a third to `far` (another Region), a third in place
    let mut csv = String::new();
    let mut expect = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let (bucket, dest) = match i % 3 {
            0 => (near.clone(), format!("out/{i}.bin")),
            1 => (far.clone(), format!("eu/{k}")),
            _ => (src.clone(), k.clone()),
        };
        csv.push_str(&format!("\"s3://{src}/{k}\",\"s3://{bucket}/{dest}\"\n"));
        expect.push((bucket, dest, k.clone()));
    }
    let input = write_file("pairs.csv", &csv);

    // --dest with a pairs list is a usage error: the list names every destination
    let job = unique("job");
    let out = launch_local(
        moto,
        &table,
        &src,
        &job,
        &input,
        &["--dest", &format!("s3://{near}/x/")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pairs"), "{}", stderr(&out));

    // detected from the content (.csv whose first field is an s3:// URI), no --format
    let out = launch_local(moto, &table, &src, &job, &input, &["--lots", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["copied"], 24, "{status}");
    assert_eq!(status["totals"]["failed"], 0, "{status}");
    for (bucket, dest, body) in &expect {
        let client = if bucket == &far { &eu } else { &c };
        assert_object(client, bucket, dest)
            .class("STANDARD_IA")
            .body(body)
            .check()
            .await;
    }
    // copies elsewhere leave their source archived
    assert_eq!(class_of(&c, &src, &keys[0]).await, "GLACIER");
    // the job spec records the far bucket's Region, so workers send its copies there
    let spec = get_body(&c, &src, &format!("thaw/{job}/job.json")).await;
    let spec: Value = serde_json::from_slice(&spec).expect("spec");
    assert_eq!(spec["bucket_regions"][&far], OTHER_REGION, "{spec}");

    // a pairs line whose source is another bucket: one line naming it, no job
    let bad = write_file(
        "bad.csv",
        &format!(
            "\"s3://{src}/{}\",s3://{near}/a\ns3://{near}/x,s3://{near}/y\n",
            keys[0]
        ),
    );
    let job2 = unique("job");
    let out = launch_local(moto, &table, &src, &job2, &bad, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains(&near), "{err}");
    assert_eq!(
        list_keys(&c, &src, &format!("thaw/{job2}/")).await,
        Vec::<String>::new(),
        "nothing uploaded for the refused job"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_versions_are_copied_and_exactly_one_version_is_deleted() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("versioned");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let keys: Vec<String> = (0..12).map(|i| format!("v/{i:02} x+y.dat")).collect();
    let mut old = Vec::new();
    let mut new = Vec::new();
    for k in &keys {
        old.push(put_version(&c, &bucket, k, &format!("old {k}")).await);
        new.push(put_version(&c, &bucket, k, &format!("new {k}")).await);
    }
    // Batch Operations CSV: URL-encoded keys, the current version pinned, except the last key,
    // which pins its older version (not current any more: refused in place without --overwrite)
    let encode = |k: &str| {
        k.replace('%', "%25")
            .replace(' ', "%20")
            .replace('+', "%2B")
    };
    let mut csv = String::new();
    for (i, k) in keys.iter().enumerate() {
        let v = if i == keys.len() - 1 {
            &old[i]
        } else {
            &new[i]
        };
        csv.push_str(&format!("{bucket},{},{v}\n", encode(k)));
    }
    let input = write_file("manifest.csv", &csv);

    // --delete-source-version on a bucket without versioning: usage error, no job
    let plain = unique("plain");
    create_bucket(&c, &plain).await;
    let plain_keys = write_file("keys.txt", "a\n");
    let out = launch_local(
        moto,
        &table,
        &plain,
        &unique("job"),
        &plain_keys,
        &["--delete-source-version"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("versioning"), "{}", stderr(&out));

    let job = unique("job");
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &job,
        &input,
        &["--delete-source-version"],
    );
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["copied"], 11, "{status} {}", stderr(&out));
    assert_eq!(status["totals"]["failed"], 1, "{status}");
    let out = run_ok(
        moto,
        "coordinator",
        &["failures", &job, "--table", &table, "--with-errors"],
        &[],
    );
    assert!(
        stdout(&out).contains("NotCurrentVersion"),
        "{}",
        stdout(&out)
    );
    // failed keys come out as the Batch Operations CSV they came from, version included
    let out = run_ok(
        moto,
        "coordinator",
        &["failures", &job, "--table", &table],
        &[],
    );
    let last = keys.len() - 1;
    assert_eq!(
        stdout(&out),
        format!("{bucket},{},{}\n", encode(&keys[last]), old[last])
    );
    for (i, k) in keys.iter().enumerate() {
        let vs = versions(&c, &bucket, k).await;
        let ids: Vec<&str> = vs.iter().map(|v| v.0.as_str()).collect();
        if i == keys.len() - 1 {
            // refused: both versions untouched, nothing new
            assert_eq!(vs.len(), 2, "{k}: {ids:?}");
            continue;
        }
        // the pinned version is gone, the older one kept, the copy is current
        assert_eq!(vs.len(), 2, "{k}: {ids:?}");
        assert!(
            !ids.contains(&new[i].as_str()),
            "{k}: pinned version still there"
        );
        assert!(ids.contains(&old[i].as_str()), "{k}: older version deleted");
        let copy = vs.iter().find(|v| v.0 != old[i]).expect("the copy");
        assert_eq!(copy.1, "STANDARD_IA", "{k}");
        assert_eq!(copy.2, format!("new {k}").as_bytes(), "{k}");
        assert_eq!(class_of(&c, &bucket, k).await, "STANDARD_IA", "{k}");
        assert_eq!(vs.iter().find(|v| v.0 == old[i]).expect("old").1, "GLACIER");
    }

    // the same manifest again (as after a crash before the checkpoint): the pinned versions are
    // gone and their copies in place, so nothing is copied or deleted twice
    let job2 = unique("job");
    launch_local(
        moto,
        &table,
        &bucket,
        &job2,
        &input,
        &["--delete-source-version"],
    );
    let status = status_json(moto, &table, &job2);
    assert_eq!(status["totals"]["copied"], 0, "{status}");
    assert_eq!(status["totals"]["skipped"], 11, "{status}");
    assert_eq!(status["totals"]["failed"], 1, "{status}");
    for k in &keys {
        assert_eq!(versions(&c, &bucket, k).await.len(), 2, "{k}");
    }

    // resuming the first job with other flags is refused, and so is --overwrite with deletes
    let out = launch_local(moto, &table, &bucket, &job, &input, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("same flags"), "{}", stderr(&out));
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &unique("job"),
        &input,
        &["--delete-source-version", "--overwrite"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // a pairs list moving a versioned object into a bucket without versioning: the copy has no
    // version id, its current object is checked, and the source's only version is deleted
    let plain_dst = unique("plaindst");
    create_bucket(&c, &plain_dst).await;
    let moved = "m/one.dat";
    let moved_version = put_version(&c, &bucket, moved, "moving").await;
    let pairs = write_file(
        "move.csv",
        &format!("s3://{bucket}/{moved},s3://{plain_dst}/{moved}\n"),
    );
    let job4 = unique("job");
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &job4,
        &pairs,
        &["--delete-source-version"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let status = status_json(moto, &table, &job4);
    assert_eq!(status["totals"]["copied"], 1, "{status}");
    assert_object(&c, &plain_dst, moved)
        .class("STANDARD_IA")
        .body(b"moving")
        .check()
        .await;
    let left = versions(&c, &bucket, moved).await;
    assert!(
        left.iter().all(|v| v.0 != moved_version),
        "the copied version was deleted: {left:?}"
    );

    // with --overwrite, the older version is copied on top: its bytes become current
    let one = write_file(
        "one.csv",
        &format!("{bucket},{},{}\n", encode(&keys[last]), old[last]),
    );
    let job3 = unique("job");
    let out = launch_local(moto, &table, &bucket, &job3, &one, &["--overwrite"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = status_json(moto, &table, &job3);
    assert_eq!(status["totals"]["copied"], 1, "{status}");
    assert_object(&c, &bucket, &keys[last])
        .class("STANDARD_IA")
        .body(format!("old {}", keys[last]))
        .check()
        .await;
    assert_eq!(
        versions(&c, &bucket, &keys[last]).await.len(),
        3,
        "nothing deleted without the flag"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_in_another_region_is_one_line_and_no_job() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let eu = moto.clients_in(OTHER_REGION).await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("far");
    create_bucket_in(&eu, &bucket, OTHER_REGION).await;
    put(&eu, &bucket, "k", "GLACIER", b"x").await;
    let input = write_file("keys.txt", "k\n");
    let job = unique("job");
    let out = launch_local(moto, &table, &bucket, &job, &input, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(OTHER_REGION) && err.contains("--region"),
        "{err}"
    );
    assert_eq!(
        list_keys(&eu, &bucket, "").await,
        vec!["k".to_owned()],
        "nothing uploaded"
    );
    let out = run(
        moto,
        "coordinator",
        &["status", &job, "--table", &table],
        &[],
    );
    assert!(!out.status.success(), "no job recorded");
    drop(c);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prices_an_inventory_without_looking_at_objects() {
    // its own emulator: the test counts every HeadObject it receives
    let moto = Moto::start();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(&moto, &table);
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let gib: u64 = 1024 * 1024 * 1024;
    let iso = |days_ago: u64| {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(days_ago * 86_400);
        let secs = t
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let date = thaw_common::input::Date::from_days(days as i64);
        let (y, m, d) = (date.year, date.month, date.day);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    };
    let rows = format!(
        "\"{bucket}\",\"young.bin\",\"{}\",\"{}\",\"GLACIER\",\"\"\n\
         \"{bucket}\",\"old.bin\",\"{}\",\"{}\",\"DEEP_ARCHIVE\",\"\"\n\
         \"{bucket}\",\"tiered.bin\",\"{}\",\"{}\",\"INTELLIGENT_TIERING\",\"DEEP_ARCHIVE_ACCESS\"\n\
         \"{bucket}\",\"hot.bin\",\"1048576\",\"{}\",\"STANDARD\",\"\"\n\
         \"{bucket}\",\"done.bin\",\"5\",\"{}\",\"STANDARD_IA\",\"\"\n",
        100 * gib,
        iso(10),
        50 * gib,
        iso(400),
        gib,
        iso(3),
        iso(1),
        iso(1),
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
            "fileSchema":"Bucket, Key, Size, LastModifiedDate, StorageClass, IntelligentTieringAccessTier",
            "files":[{{"key":"inv/data/1.csv.gz"}}]}}"#
    );
    let path = write_file("manifest.json", &manifest);
    let heads = |m: &Moto| m.stats()["s3:HeadObject"].as_u64().unwrap_or(0);
    let before = heads(&moto);
    let job = unique("job");
    let out = launch_local(&moto, &table, &bucket, &job, &path, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // four objects to move (STANDARD_IA is the target already), three of them archived
    assert!(text.contains("keys: 4 from"), "{text}");
    assert!(
        text.contains("classes, sizes and ages of 4 objects from the inventory"),
        "{text}"
    );
    assert!(text.contains("3 restores (151.0 GiB)"), "{text}");
    assert!(text.contains("S3 Batch Operations"), "{text}");
    assert_eq!(heads(&moto), before, "no HeadObject for an inventory");

    // `estimate` reads it the same way; only the young GLACIER object leaves before its 90 days
    let out = run_ok(
        &moto,
        "coordinator",
        &[
            "estimate",
            path.to_str().expect("path"),
            "--bucket",
            &bucket,
            "--storage-class",
            "STANDARD_IA",
            "--json",
        ],
        &[],
    );
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(doc["sample_source"], "inventory", "{doc}");
    assert_eq!(doc["estimate"]["restores"], 3, "{doc}");
    let early = doc["estimate"]["early_deletion_usd"]
        .as_f64()
        .expect("early");
    let glacier_gb_month = 0.0036; // the built-in GLACIER (Flexible Retrieval) price
    let expected = (90.0 - 10.0) / 30.0 * glacier_gb_month * 100.0;
    assert!(
        (early - expected).abs() < expected * 0.02,
        "{early} vs {expected}: {doc}"
    );
    assert_eq!(heads(&moto), before, "no HeadObject for an inventory");
}
