//! Whole jobs on the emulator: `coordinator launch` with the local launcher running real workers,
//! and with the ECS launcher, where the test plays Fargate by starting a real worker with exactly
//! the environment each RunTask carried.

use serde_json::Value;

use crate::assert::*;
use crate::ecs::*;
use crate::rig::*;

/// A bucket of archived objects and a table, on the shared emulator.
async fn archived_bucket(c: &Clients, n: usize) -> (String, String, Vec<String>) {
    let moto = Moto::shared();
    let bucket = unique("e2e");
    create_bucket(c, &bucket).await;
    let table = unique("table");
    init_table(moto, &table);
    let keys: Vec<String> = (0..n)
        .map(|i| format!("archive/{i:04} photo.jpg"))
        .collect();
    let objects = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let class = if i % 3 == 0 {
                "DEEP_ARCHIVE"
            } else {
                "GLACIER"
            };
            (k.clone(), class, k.as_bytes().to_vec())
        })
        .collect();
    put_many(c, &bucket, objects).await;
    (bucket, table, keys)
}

fn assert_all_succeeded(status: &Value, lots: usize, keys: u64) {
    let all = status["lots"].as_array().expect("lots");
    assert_eq!(all.len(), lots, "{status}");
    for lot in all {
        assert_eq!(lot["state"], "SUCCEEDED", "{lot}");
        assert_eq!(lot["failed"], 0, "{lot}");
    }
    assert_eq!(status["totals"]["copied"], keys, "{status}");
    assert_eq!(status["totals"]["restored"], keys, "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn local_launcher_runs_a_whole_job() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (bucket, table, keys) = archived_bucket(&c, 300).await;
    let file = write_keys(&keys);
    let job = unique("job");
    let file_arg = file.to_string_lossy().into_owned();
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &file_arg,
        &["--lots", "4", "--parallel", "4"],
    );
    assert!(
        stdout(&out).starts_with(&format!("job {job}")),
        "{}",
        stdout(&out)
    );
    assert_all_succeeded(&status_json(moto, &table, &job), 4, 300);
    assert_all_in_class(&c, &bucket, &keys, "STANDARD_IA").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_launch_then_fargate_stand_in_finishes_the_job() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (bucket, table, keys) = archived_bucket(&c, 150).await;
    let ecs = ecs_setup(moto, &c).await;
    let file = write_keys(&keys);
    let job = unique("job");
    let out = launch_ecs(moto, &ecs, &table, &bucket, &job, &file, &["--lots", "3"]);
    assert_success(out, "launch");
    let tasks = launched_tasks(&c, &ecs.cluster, &job).await;
    assert_eq!(tasks.len(), 3);
    // Fargate stand-in: each task's overrides are all its worker gets.
    for (arn, env) in &tasks {
        let out = run_worker_as_task(moto, env, arn);
        assert!(
            out.status.success(),
            "worker for {arn} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = status_json(moto, &table, &job);
    assert_all_succeeded(&status, 3, 150);
    let recorded: Vec<&str> = status["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .filter_map(|l| l["task"].as_str())
        .collect();
    for (arn, _) in &tasks {
        assert!(
            recorded.contains(&arn.as_str()),
            "task {arn} recorded on its lot"
        );
    }
    assert_all_in_class(&c, &bucket, &keys, "STANDARD_IA").await;
}

/// The estimate of 140 keys in four classes against the report of the real run, lots of 70 keys
/// both (`estimate --lots 2`, `launch --lots 2`). `sorted`: the keys in S3's order, so each lot's first
/// pass is listed (no first HEAD for a restore or a done key, the restores looked at by listing);
/// else each class's keys in descending order, so every lot is scattered and HEADed first.
async fn estimate_against_the_real_run(sorted: bool) {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("est");
    create_bucket(&c, &bucket).await;
    let table = unique("table");
    init_table(moto, &table);
    let mut keys = Vec::new();
    for (class, n) in [
        ("GLACIER", 60),
        ("DEEP_ARCHIVE", 30),
        ("STANDARD", 30),
        ("STANDARD_IA", 20),
    ] {
        for i in (0..n).rev() {
            let k = format!("est/{class}/{i:03}");
            put(&c, &bucket, &k, class, k.as_bytes()).await;
            keys.push(k);
        }
    }
    if sorted {
        keys.sort(); // byte order, as S3 lists
    }
    let file = write_keys(&keys);
    let file_arg = file.to_string_lossy().into_owned();
    let out = run_ok(
        moto,
        "coordinator",
        &[
            "estimate",
            "--bucket",
            &bucket,
            "--storage-class",
            "STANDARD_IA",
            "--sample",
            "1000",
            "--lots",
            "2",
            "--json",
            &file_arg,
        ],
        &[],
    );
    let est: Value = serde_json::from_str(&stdout(&out)).expect("estimate json");
    let e = &est["estimate"];
    assert_eq!(est["keys"], 140);
    assert_eq!(e["restores"], 90, "{est}");
    assert_eq!(e["already_in_target"], 20, "{est}");
    assert!(e["total_usd"].as_f64().unwrap_or(0.0) > 0.0, "{est}");
    let listed = if sorted { 140 } else { 0 };
    assert_eq!(e["sorted_lots"]["keys"], listed, "{est}");
    assert_eq!(e["sorted_lots"]["of_keys"], 140, "{est}");

    // the dry run tells the same from the plan's own lots
    let job = unique("job");
    let dry = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &file_arg,
        &["--lots", "2", "--dry-run"],
    );
    let line = format!("first pass by listing: {listed} of 140 keys in sorted lots");
    assert!(stdout(&dry).contains(&line), "{}", stdout(&dry));

    launch_local_ok(moto, &table, &bucket, &job, &file_arg, &["--lots", "2"]);
    let summary = report_summary(moto, &table, &job);
    let r = &summary["requests"];
    let n = |k: &str| r[k].as_u64().unwrap_or(0) as f64;
    let close = |estimated: &Value, real: f64, what: &str| {
        let est = estimated.as_f64().unwrap_or(-1.0);
        assert!(
            (est - real).abs() <= real * 0.05,
            "{what} (sorted: {sorted}): estimated {est}, real {real}\n{summary}"
        );
    };
    let heads = n("s3_head") + n("s3_get_tagging");
    close(&e["get_requests"], heads, "HEAD/GET");
    close(&e["restore_requests"], n("s3_restore"), "RESTORE");
    close(
        &e["put_requests"],
        n("s3_copy") + n("s3_multipart") + n("s3_upload_part_copy"),
        "COPY/PUT",
    );
    // LIST pages are too few here for 5% (4 when sorted: per lot, one page for the first pass
    // and one for the look that finds its restores done), and exact: the emulator's restores are
    // done at the first look, a lot's waiting keys are all looked at together, and no other
    // object lies between the lots' keys.
    assert_eq!(
        e["list_requests"].as_f64(),
        Some(n("s3_list")),
        "LIST (sorted: {sorted})\n{est}\n{summary}"
    );
    if sorted {
        // one HEAD before each of the 120 copies, none before the restores or the skips (230
        // when scattered); a few more only if a key was sent back for a second try on a loaded
        // machine
        assert!((120.0..=126.0).contains(&heads), "{summary}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn estimate_matches_the_requests_of_the_real_run() {
    estimate_against_the_real_run(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn estimate_of_sorted_lots_matches_the_requests_of_the_real_run() {
    estimate_against_the_real_run(true).await;
}

/// `estimate --json` of `file` with `--sample n` and `extra`, parsed.
fn estimate_json(moto: &Moto, bucket: &str, file: &str, sample: usize, extra: &[&str]) -> Value {
    let sample = sample.to_string();
    let mut args = vec![
        "estimate",
        "--bucket",
        bucket,
        "--storage-class",
        "STANDARD_IA",
    ];
    args.extend(["--sample", &sample, "--json"]);
    args.extend_from_slice(extra);
    args.push(file);
    let out = run_ok(moto, "coordinator", &args, &[]);
    serde_json::from_str(&stdout(&out)).expect("estimate json")
}

/// The estimate of a list five times larger than its sample, whose restores are polled twice
/// before they are done, against what the emulator then saw of the job: HEAD/GET, RESTORE and
/// COPY/PUT requests within 5%. The classes come in blocks (STANDARD first, archives last), so a
/// sample that is not uniform over the list, a sample not scaled to it, or a model that counts
/// requests differently from the worker misses by far more. The sample is drawn with a fixed
/// seed, so the result repeats; for 80 of 400 keys in these proportions its standard error is
/// about 4% on restores, so another sampler may need another seed or list to stay inside 5%.
/// The same estimate over every key (no sampling) is exact but for the rounding of polls.
#[tokio::test(flavor = "multi_thread")]
async fn sampled_estimate_is_within_5_percent_of_what_the_emulator_saw() {
    let moto = Moto::start();
    moto.configure(r#"{"restore_heads": 2}"#);
    let c = moto.clients().await;
    let bucket = unique("sampled");
    create_bucket(&c, &bucket).await;
    let table = unique("table");
    init_table(&moto, &table);
    let blocks = [
        ("STANDARD", 80),
        ("STANDARD_IA", 40),
        ("GLACIER", 160),
        ("DEEP_ARCHIVE", 120),
    ];
    let mut objects = Vec::new();
    for (class, n) in blocks {
        for i in 0..n {
            let k = format!("est/{class}/{i:03}");
            objects.push((k.clone(), class, k.clone().into_bytes()));
        }
    }
    let keys: Vec<String> = objects.iter().map(|(k, ..)| k.clone()).collect();
    put_many(&c, &bucket, objects).await;
    let file = write_keys(&keys);
    let file = file.to_string_lossy().into_owned();
    let polls = ["--polls-per-restore", "2"];
    let sampled = estimate_json(&moto, &bucket, &file, 80, &polls);
    let whole = estimate_json(&moto, &bucket, &file, 1000, &polls);
    assert_eq!(sampled["keys"], 400, "{sampled}");
    assert_eq!(sampled["estimate"]["objects"], 400, "scaled: {sampled}");

    let before = moto.counts_by_key(&bucket);
    let job = unique("job");
    launch_local_ok(&moto, &table, &bucket, &job, &file, &["--lots", "2"]);
    let status = status_json(&moto, &table, &job);
    assert_eq!(status["totals"]["copied"], 360, "{status}");
    assert_eq!(status["totals"]["skipped"], 40, "{status}");
    let after = moto.counts_by_key(&bucket);
    let seen = |ops: &[&str]| -> f64 {
        let sent = keys.iter().map(|k| {
            let b = before.get(k).cloned().unwrap_or_default();
            after.get(k).cloned().unwrap_or_default().since(&b).sum(ops)
        });
        sent.sum::<u64>() as f64
    };
    let real = [
        ("get_requests", seen(&["s3:HeadObject", "s3:GET:tagging"])),
        ("restore_requests", seen(&["s3:RestoreObject"])),
        (
            "put_requests",
            seen(&[
                "s3:CopyObject",
                "s3:CreateMultipartUpload",
                "s3:UploadPartCopy",
                "s3:POST:multipart",
            ]),
        ),
    ];
    // what the emulator saw: 4 HEADs and one RESTORE per archived key, a COPY per key to copy
    assert_eq!(real[0].1, 280.0 * 4.0 + 80.0 + 40.0);
    assert_eq!((real[1].1, real[2].1), (280.0, 360.0));
    for (field, real) in real {
        for (what, est, within) in [("sampled", &sampled, 0.05), ("whole", &whole, 0.01)] {
            let e = est["estimate"][field].as_f64().unwrap_or(-1.0);
            assert!(
                (e - real).abs() <= real * within,
                "{what} estimate of {field}: {e}, the emulator saw {real}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn from_a_prefix_to_another_bucket_end_to_end() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (bucket, table, keys) = archived_bucket(&c, 40).await;
    let dst = unique("dst");
    create_bucket(&c, &dst).await;
    let job = unique("job");
    let from = format!("s3://{bucket}/archive/");
    let to = format!("s3://{dst}/restored/");
    // the dry run lists the prefix, looks at the objects and prices the listing too
    let dry = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        "",
        &["--from", &from, "--dest", &to, "--dry-run"],
    );
    let text = stdout(&dry);
    assert!(text.contains("40 looked at with HeadObject"), "{text}");
    assert!(text.contains("40 restores"), "{text}");
    assert!(text.contains("LIST requests"), "{text}");
    assert!(
        text.contains(&format!("copies to: s3://{dst}/restored/")),
        "{text}"
    );
    launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        "",
        &["--lots", "2", "--from", &from, "--dest", &to],
    );
    assert_all_succeeded(&status_json(moto, &table, &job), 2, 40);
    for k in &keys {
        let rest = k.strip_prefix("archive/").expect("prefix");
        assert_object(&c, &dst, &format!("restored/{rest}"))
            .class("STANDARD_IA")
            .body(k)
            .check()
            .await;
    }
    // a destination bucket that does not exist: one line, no job
    let job2 = unique("job");
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &job2,
        "",
        &["--from", &from, "--dest", "s3://no-such-bucket-thaw/x/"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no-such-bucket-thaw"),
        "{}",
        stderr(&out)
    );
}

/// The grants of an object as `(grantee, permission)`, sorted.
async fn acl_of(c: &Clients, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out =
        c.s3.get_object_acl()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get acl");
    let mut grants: Vec<(String, String)> = out
        .grants()
        .iter()
        .map(|g| {
            let who = g
                .grantee()
                .and_then(|e| e.uri().or(e.id()))
                .unwrap_or_default()
                .to_owned();
            let what = g
                .permission()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            (who, what)
        })
        .collect();
    grants.sort();
    grants
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_grants_are_carried_on_buckets_that_use_acls() {
    use aws_sdk_s3::types::{ObjectCannedAcl, StorageClass};
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let all_users = "http://acs.amazonaws.com/groups/global/AllUsers";
    let partner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
    let keys = ["web/public.html", "data/shared.csv", "data/private.bin"];
    // a pre-2023 bucket, ACLs on, twice: once with the default --acls auto, once with skip
    let mut buckets = Vec::new();
    for _ in 0..2 {
        let bucket = unique("legacy");
        create_legacy_bucket(&c, &bucket).await;
        for k in keys {
            let mut put =
                c.s3.put_object()
                    .bucket(&bucket)
                    .key(k)
                    .storage_class(StorageClass::Glacier)
                    .body(k.as_bytes().to_vec().into());
            put = match k {
                "web/public.html" => put.acl(ObjectCannedAcl::PublicRead),
                "data/shared.csv" => put.grant_read(format!("id=\"{partner}\"")),
                _ => put,
            };
            put.send().await.expect("put");
        }
        buckets.push(bucket);
    }
    // (moto refuses GetObjectAcl on an archived object, AWS does not: the grants are checked on
    // the copies, against what was put)
    let list = write_keys(&keys.iter().map(|k| k.to_string()).collect::<Vec<_>>());
    let job = unique("job");
    launch_local_ok(moto, &table, &buckets[0], &job, &list, &[]);
    let read = |who: &str| (who.to_owned(), "READ".to_owned());
    assert_all_in_class(&c, &buckets[0], &keys, "STANDARD_IA").await;
    let public = acl_of(&c, &buckets[0], keys[0]).await;
    assert!(public.contains(&read(all_users)), "{public:?}");
    // put with only a grant header, its ACL is that grant alone, and so is its copy's
    let shared = acl_of(&c, &buckets[0], keys[1]).await;
    assert_eq!(shared, vec![read(partner)], "{shared:?}");
    let private = acl_of(&c, &buckets[0], keys[2]).await;
    assert_eq!(private.len(), 1, "{private:?}");
    for acl in [&public, &private] {
        assert_eq!(
            acl.iter().filter(|g| g.1 == "FULL_CONTROL").count(),
            1,
            "the owner keeps full control: {acl:?}"
        );
    }

    // --acls skip: the copies are private to the owner, as a plain CopyObject leaves them
    let job = unique("job");
    launch_local_ok(moto, &table, &buckets[1], &job, &list, &["--acls", "skip"]);
    let public = acl_of(&c, &buckets[1], keys[0]).await;
    assert!(!public.contains(&read(all_users)), "{public:?}");

    // a bucket with ACLs disabled: nothing to carry, and --acls copy is refused
    let modern = unique("modern");
    create_bucket(&c, &modern).await;
    put(&c, &modern, "x", "GLACIER", b"x").await;
    let one = write_keys(&["x".to_owned()]);
    let out = launch_local(
        moto,
        &table,
        &modern,
        &unique("job"),
        &one,
        &["--acls", "copy"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("ACLs disabled"), "{}", stderr(&out));
    // copies into another bucket carry no grants: --acls copy is refused for them
    let dest = format!("s3://{modern}/copies/");
    let out = launch_local(
        moto,
        &table,
        &buckets[1],
        &unique("job"),
        &list,
        &["--acls", "copy", "--dest", &dest],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("within the source bucket"),
        "{}",
        stderr(&out)
    );
    let out = launch_local_ok(moto, &table, &modern, &unique("job"), &one, &[]);
    assert!(
        stderr(&out).contains("\"s3_get_acl\":0"),
        "no ACL read on a bucket without ACLs: {}",
        stderr(&out)
    );
}
