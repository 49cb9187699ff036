//! Operating jobs on the emulator: `follow` driving a job with delayed restores, a killed worker
//! and missing keys to its end; `retry` never relaunching a lot with a live task; two `follow`
//! processes launching each due lot once; `cancel`; `failures` and `report`; and `status` of a
//! 1,000-lot job without per-lot round trips.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use thaw_common::checkpoint::LotState;
use thaw_common::fixtures::JobSpecBuilder;
use thaw_common::progress::{JobItem, ProgressTable};

use crate::assert::*;
use crate::counts::Counts;
use crate::ecs::*;
use crate::rig::*;

async fn archived(c: &Clients, bucket: &str, keys: &[String]) {
    create_bucket(c, bucket).await;
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(c, bucket, objects).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_drives_a_troubled_job_to_its_end() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "3")]);
    let c = moto.clients().await;
    let bucket = unique("follow");
    let table = unique("table");
    init_table(&moto, &table);
    let present: Vec<String> = (0..120).map(|i| format!("f/{i:04}")).collect();
    archived(&c, &bucket, &present).await;
    let missing: Vec<String> = (0..3).map(|i| format!("f/missing-{i}")).collect();
    let mut keys = present.clone();
    keys.splice(25..25, missing.iter().cloned()); // lot 1 holds keys 21..=41: all three are in it
    let file = write_keys(&keys);
    let job = unique("job");
    let file_arg = file.to_string_lossy().into_owned();

    // First pass: every lot requests its restores and ends WAITING (restores take 3 s).
    launch_local_ok(
        &moto,
        &table,
        &bucket,
        &job,
        &file_arg,
        &["--lots", "6", "--parallel", "6", "--max-wait", "1"],
    );
    let st = status_json(&moto, &table, &job);
    assert_eq!(st["totals"]["states"]["WAITING"], 6, "{st}");

    // A worker of lot 0 is killed -9 while it runs: its lot stays RUNNING with a dead pid.
    let mut w = Command::new(bin("worker"));
    w.args([
        "--job-id",
        &job,
        "--lot",
        "0",
        "--table",
        &table,
        "--max-wait",
        "60",
        "--poll-interval",
        "30",
    ])
    .args(["--control", &format!("s3://{bucket}/thaw/{job}/")])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    for (k, v) in moto.env() {
        w.env(k, v);
    }
    let mut child = w.spawn().expect("worker");
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lot = pt.get_lot(&job, 0).await.expect("get").expect("lot");
        if lot.state == LotState::Running && lot.task.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "worker never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    let st = status_json(&moto, &table, &job);
    assert_eq!(st["lots"][0]["state"], "RUNNING");
    assert_eq!(
        st["lots"][0]["stale"], true,
        "a dead local worker is stale at once: {st}"
    );

    // follow finishes the job: lot 0 relaunched, WAITING lots relaunched when due, the lot with
    // missing keys retried until its attempts are used.
    let out = run(
        &moto,
        "coordinator",
        &[
            "follow",
            &job,
            "--table",
            &table,
            "--interval",
            "2",
            "--max-attempts",
            "2",
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "follow ends non-zero: a lot keeps failing\n{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("still failing after 2 attempts"),
        "{}",
        stderr(&out)
    );

    let st = status_json(&moto, &table, &job);
    assert_eq!(st["totals"]["states"]["SUCCEEDED"], 5, "{st}");
    assert_eq!(st["totals"]["states"]["FAILED"], 1, "{st}");
    assert_eq!(st["totals"]["copied"], 120, "{st}");
    assert_eq!(st["totals"]["failed"], 3, "{st}");
    assert_all_in_class(&c, &bucket, &present, "STANDARD_IA").await;
    let lot0 = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(lot0.state, LotState::Succeeded);
    assert_eq!(
        lot0.retries, 1,
        "the stale lot was relaunched once as a retry"
    );

    // failures: exactly the missing keys, in the format `launch` reads
    let out = run_ok(
        &moto,
        "coordinator",
        &["failures", &job, "--table", &table],
        &[],
    );
    let mut got: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    got.sort();
    assert_eq!(got, missing);
    let out = run_ok(
        &moto,
        "coordinator",
        &["failures", &job, "--table", &table, "--with-errors"],
        &[],
    );
    let text = stdout(&out);
    assert!(text.starts_with("key,error_code,error_message\n"), "{text}");
    assert_eq!(text.matches(",NoSuchKey,").count(), 3, "{text}");

    // report: one row per key, locally and in S3, and a summary
    let dir = std::env::temp_dir().join(unique("report"));
    std::fs::create_dir_all(&dir).expect("dir");
    let csv = dir.join("report.csv");
    let out = run_ok(
        &moto,
        "coordinator",
        &[
            "report",
            &job,
            "--table",
            &table,
            "-o",
            &csv.to_string_lossy(),
        ],
        &[],
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).expect("summary");
    assert_eq!(summary["succeeded"], 120, "{summary}");
    assert_eq!(summary["failed"], 3, "{summary}");
    assert_eq!(summary["keys_total"], 123);
    assert!(
        summary["requests"]["s3_copy"].as_u64().unwrap_or(0) >= 120,
        "{summary}"
    );
    let text = std::fs::read_to_string(&csv).expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage,Verification,VerifiedBy,SourceChecksumOrETag,CopyChecksumOrETag"
    );
    assert_eq!(lines.len(), 124);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(",failed,NoSuchKey,404,"))
            .count(),
        3
    );
    let reports = list_keys(&c, &bucket, &format!("thaw/{job}/report/")).await;
    assert_eq!(
        reports.len(),
        7,
        "6 lot reports and the summary: {reports:?}"
    );
}

/// An ECS job of `lots` lots of 3 keys (`k/0`, `k/1`, ...) on the shared emulator, launched;
/// returns (table, job, cluster, bucket).
async fn ecs_job(moto: &Moto, c: &Clients, lots: usize) -> (String, String, String, String) {
    let bucket = unique("ops");
    let table = unique("table");
    init_table(moto, &table);
    let keys: Vec<String> = (0..lots * 3).map(|i| format!("k/{i}")).collect();
    archived(c, &bucket, &keys).await;
    let ecs = ecs_setup(moto, c).await;
    let file = write_keys(&keys);
    let job = unique("job");
    let lots = lots.to_string();
    let out = launch_ecs(moto, &ecs, &table, &bucket, &job, &file, &["--lots", &lots]);
    assert_success(out, "launch");
    (table, job, ecs.cluster, bucket)
}

fn tasks_per_lot(tasks: &[(String, Vec<(String, String)>)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, env) in tasks {
        let lot = env
            .iter()
            .find(|(k, _)| k == "THAW_LOT")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        *m.entry(lot).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_never_relaunches_a_lot_with_a_live_task() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (table, job, cluster, _) = ecs_job(moto, &c, 3).await;
    let out = run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    assert!(
        stdout(&out).contains("nothing to retry"),
        "{}",
        stdout(&out)
    );
    assert_eq!(launched_tasks(&c, &cluster, &job).await.len(), 3);

    // lot 1 fails: only it is relaunched, as attempt 2, counted as a retry
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    pt.set_state(&job, 1, 1, LotState::Failed, Some("test failure"))
        .await
        .expect("set");
    let out = run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    assert!(stdout(&out).contains("lot 1"), "{}", stdout(&out));
    let tasks = launched_tasks(&c, &cluster, &job).await;
    assert_eq!(tasks.len(), 4);
    assert_eq!(tasks_per_lot(&tasks)["1"], 2);
    let lot1 = pt.get_lot(&job, 1).await.expect("get").expect("lot");
    assert_eq!(
        (lot1.attempt, lot1.retries, lot1.state),
        (2, 1, LotState::Launched)
    );

    // --lots limits the relaunch; a lot number the job does not have is an error
    pt.set_state(&job, 0, 1, LotState::Failed, None)
        .await
        .expect("set");
    pt.set_state(&job, 2, 1, LotState::Failed, None)
        .await
        .expect("set");
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table, "--lots", "2"],
        &[],
    );
    let per_lot = tasks_per_lot(&launched_tasks(&c, &cluster, &job).await);
    assert_eq!((per_lot["0"], per_lot["2"]), (1, 2));
    let out = run(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table, "--lots", "9"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("has no lot 9"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_follow_processes_launch_each_due_lot_once() {
    // Its own emulator: the assertion counts tasks, and nothing else may add load or tasks.
    let moto = &Moto::start();
    let c = moto.clients().await;
    let (table, job, cluster, _) = ecs_job(moto, &c, 4).await;
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    for lot in 0..4 {
        pt.set_state(&job, lot, 1, LotState::Failed, Some("test"))
            .await
            .expect("set");
    }
    let spawn = || {
        let mut cmd = Command::new(bin("coordinator"));
        cmd.args(["follow", &job, "--table", &table, "--once"]);
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("follow")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let per_lot = tasks_per_lot(&launched_tasks(&c, &cluster, &job).await);
    for lot in ["0", "1", "2", "3"] {
        assert_eq!(
            per_lot[lot],
            2,
            "lot {lot}: the first launch and exactly one relaunch\nA:\n{}{}\nB:\n{}{}",
            stdout(&a),
            stderr(&a),
            stdout(&b),
            stderr(&b)
        );
    }
    for lot in pt.lots(&job).await.expect("lots") {
        assert_eq!((lot.attempt, lot.retries), (2, 1), "lot {}", lot.lot);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_every_task_and_leaves_lots_resumable() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (table, job, cluster, _) = ecs_job(moto, &c, 3).await;
    let out = run_ok(
        moto,
        "coordinator",
        &["cancel", &job, "--table", &table],
        &[],
    );
    assert!(
        stdout(&out).contains("3 lots cancelled, 3 workers stopped"),
        "{}",
        stdout(&out)
    );
    let arns: Vec<String> = launched_tasks(&c, &cluster, &job)
        .await
        .into_iter()
        .map(|t| t.0)
        .collect();
    let desc = c
        .ecs
        .describe_tasks()
        .cluster(&cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .expect("describe");
    assert_eq!(desc.tasks().len(), 3);
    for t in desc.tasks() {
        assert_eq!(t.last_status(), Some("STOPPED"));
    }
    let st = status_json(moto, &table, &job);
    assert_eq!(st["totals"]["states"]["CANCELLED"], 3, "{st}");
    // resumable: retry relaunches every cancelled lot as a new attempt (not counted as a retry)
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    for lot in pt.lots(&job).await.expect("lots") {
        assert_eq!(
            (lot.state, lot.attempt, lot.retries),
            (LotState::Launched, 3, 0),
            "lot {}",
            lot.lot
        );
    }
    assert_eq!(launched_tasks(&c, &cluster, &job).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_a_thousand_lots_needs_no_per_lot_requests() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(&moto, &table);
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let job = unique("job");
    let spec = JobSpecBuilder::new(&job, "b")
        .keys_total(5_000_000)
        .lots(1000)
        .table(&table)
        .input_fingerprint("x")
        .build();
    let item = JobItem {
        job_id: job.clone(),
        spec_json: serde_json::to_string(&spec).expect("spec"),
        launcher: "local".into(),
        launch_json: r#"{"launcher":"local","worker_bin":"/bin/true","parallel":1}"#.into(),
    };
    pt.put_job_if_absent(&item, &[]).await.expect("job");
    // 16 writes in flight: a thousand at once only measures how moto copes with overload.
    use futures::StreamExt;
    futures::stream::iter(0..1000u32)
        .for_each_concurrent(16, |lot| {
            let (pt, job) = (pt.clone(), job.clone());
            async move {
                pt.put_lot_if_absent(
                    &job,
                    lot,
                    5000,
                    &format!("s3://b/thaw/{job}/lots/{lot:05}.txt"),
                )
                .await
                .expect("lot");
            }
        })
        .await;
    let before = moto.stats();
    let st = status_json(&moto, &table, &job);
    let after = moto.stats();
    assert_eq!(st["lots"].as_array().map(Vec::len), Some(1000));
    assert_eq!(st["totals"]["keys_total"], 5_000_000u64);
    let delta = |op: &str| after[op].as_u64().unwrap_or(0) - before[op].as_u64().unwrap_or(0);
    assert!(
        delta("Query") <= 3,
        "paginated query, not one request per lot: {}",
        delta("Query")
    );
    assert_eq!(delta("GetItem"), 1, "the job item only");
    assert_eq!(delta("DescribeTasks"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn launch_follow_waits_for_restores_and_finishes() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "2")]);
    let c = moto.clients().await;
    let bucket = unique("lf");
    let table = unique("table");
    init_table(&moto, &table);
    let keys: Vec<String> = (0..40).map(|i| format!("lf/{i:03}")).collect();
    archived(&c, &bucket, &keys).await;
    let file = write_keys(&keys);
    let job = unique("job");
    let out = launch_local_ok(
        &moto,
        &table,
        &bucket,
        &job,
        &file,
        &["--lots", "2", "--max-wait", "1", "--follow"],
    );
    assert!(
        stdout(&out).contains("every lot SUCCEEDED"),
        "{}",
        stdout(&out)
    );
    let st = status_json(&moto, &table, &job);
    assert_eq!(st["totals"]["states"]["SUCCEEDED"], 2, "{st}");
    assert_eq!(st["totals"]["restored"], 40, "{st}");
    assert_eq!(
        st["totals"]["restore_requested"], 40,
        "each restore requested once: {st}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_capacity_failures_and_throttling_lose_no_lot() {
    let moto = Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"ecs_capacity_failure_rate": 0.3, "ecs_throttle_rate": 0.3}"#);
    let bucket = unique("cap");
    let table = unique("table");
    init_table(&moto, &table);
    let keys: Vec<String> = (0..30).map(|i| format!("k/{i}")).collect();
    archived(&c, &bucket, &keys).await;
    let ecs = ecs_setup(&moto, &c).await;
    let file = write_keys(&keys);
    let job = unique("job");
    // Some lots fail to launch (no capacity): launch says so and exits non-zero.
    let out = launch_ecs(&moto, &ecs, &table, &bucket, &job, &file, &["--lots", "10"]);
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let failed_first = pt
        .lots(&job)
        .await
        .expect("lots")
        .iter()
        .filter(|l| l.state == LotState::Failed)
        .count();
    assert_eq!(out.status.success(), failed_first == 0, "{}", stderr(&out));
    // follow relaunches the lots that could not start, until every lot has its task.
    for _ in 0..10 {
        let lots = pt.lots(&job).await.expect("lots");
        if lots.iter().all(|l| l.state == LotState::Launched) {
            break;
        }
        run(
            &moto,
            "coordinator",
            &[
                "follow",
                &job,
                "--table",
                &table,
                "--once",
                "--max-attempts",
                "20",
            ],
            &[],
        );
    }
    let lots = pt.lots(&job).await.expect("lots");
    assert!(
        lots.iter().all(|l| l.state == LotState::Launched),
        "{lots:?}"
    );
    let per_lot = tasks_per_lot(&launched_tasks(&c, &ecs.cluster, &job).await);
    assert_eq!(per_lot.len(), 10, "every lot has a task: {per_lot:?}");
    assert!(
        per_lot.values().all(|n| *n == 1),
        "no lot launched twice: {per_lot:?}"
    );
    let stats = moto.stats();
    assert!(
        stats["RunTask"].as_u64().unwrap_or(0) > 10,
        "faults were injected: {stats}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_failed_keys_only_takes_lots_with_failed_keys() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (table, job, cluster, bucket) = ecs_job(moto, &c, 3).await;
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    // lot 0 finished with a failed key, lot 1 was interrupted, lot 2 still runs
    let mut cp = pt
        .get_lot(&job, 0)
        .await
        .expect("get")
        .expect("lot")
        .checkpoint;
    cp.done.set(0, true);
    cp.done.set(1, true);
    cp.counters.copied = 2;
    cp.record_failure(2, "AccessDenied", "Access Denied");
    pt.write_checkpoint(&job, 0, 1, &cp, LotState::Failed, None)
        .await
        .expect("cp");
    pt.set_state(&job, 1, 1, LotState::Interrupted, None)
        .await
        .expect("set");
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table, "--failed-keys-only"],
        &[],
    );
    let tasks = launched_tasks(&c, &cluster, &job).await;
    let per_lot = tasks_per_lot(&tasks);
    assert_eq!(
        (per_lot["0"], per_lot["1"], per_lot["2"]),
        (2, 1, 1),
        "{per_lot:?}"
    );

    // the new task of lot 0 tries exactly its failed key: the keys done before see no request
    let attempt_2 = |env: &Vec<(String, String)>| {
        env.contains(&("THAW_LOT".into(), "0".into()))
            && env.contains(&("THAW_ATTEMPT".into(), "2".into()))
    };
    let (arn, env) = tasks.iter().find(|(_, env)| attempt_2(env)).expect("retry");
    let before = moto.counts_by_key(&bucket);
    assert_success(run_worker_as_task(moto, env, arn), "the retried lot");
    let after = moto.counts_by_key(&bucket);
    let keys: Vec<String> = (0..9).map(|i| format!("k/{i}")).collect();
    let sent: BTreeMap<&str, Counts> = keys
        .iter()
        .map(|k| {
            let was = before.get(k).cloned().unwrap_or_default();
            let now = after.get(k).cloned().unwrap_or_default();
            (k.as_str(), now.since(&was))
        })
        .filter(|(_, n)| !n.is_empty())
        .collect();
    assert_eq!(
        sent.keys().copied().collect::<Vec<_>>(),
        ["k/2"],
        "{sent:?}"
    );
    assert_eq!(sent["k/2"].get("s3:CopyObject"), 1, "{sent:?}");
    let lot0 = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!((lot0.state, lot0.counters.copied), (LotState::Succeeded, 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_task_is_stale_in_status_and_relaunched_by_follow() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    let (table, job, cluster, _) = ecs_job(moto, &c, 2).await;
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    // lot 0's worker was running when its task died (e.g. out of memory)
    let lot0 = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    pt.start_run(&job, 0, lot0.attempt, None)
        .await
        .expect("running");
    let arn = lot0.task.clone().expect("task recorded");
    c.ecs
        .stop_task()
        .cluster(&cluster)
        .task(&arn)
        .reason("OutOfMemoryError: Container killed due to memory usage")
        .send()
        .await
        .expect("stop");
    let st = status_json(moto, &table, &job);
    assert_eq!(st["lots"][0]["stale"], true, "{st}");
    let reason = st["lots"][0]["stale_reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(reason.contains("OutOfMemoryError"), "{reason}");
    assert_eq!(st["lots"][1]["stale"], false, "{st}");
    let out = run_ok(
        moto,
        "coordinator",
        &["status", &job, "--table", &table],
        &[],
    );
    assert!(stdout(&out).contains("STALE"), "{}", stdout(&out));

    run_ok(
        moto,
        "coordinator",
        &["follow", &job, "--table", &table, "--once"],
        &[],
    );
    let per_lot = tasks_per_lot(&launched_tasks(&c, &cluster, &job).await);
    assert_eq!((per_lot["0"], per_lot["1"]), (2, 1), "{per_lot:?}");
    let lot0 = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (lot0.attempt, lot0.retries, lot0.state),
        (2, 1, LotState::Launched)
    );
}
