//! The `coordinator` binary end to end against the moto emulator: `init`, `launch` with the ECS
//! launcher (manifests, job spec, lot items, RunTask overrides, re-launch idempotency, crash
//! recovery, throttling), every way a launch must fail without leaving a partial job, `--dry-run`,
//! `status`, and the local launcher's protocol with a stand-in worker script.
//!
//! None of these tests depends on the worker's behaviour. moto 5.2.5 crashes on an awsvpc RunTask
//! without `securityGroups`, so ECS launches here always pass `--security-groups`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::ecs::*;
use crate::rig::*;

/// A bucket, a table and an ECS cluster of its own on the shared emulator.
struct Fixture {
    moto: &'static Moto,
    c: Clients,
    bucket: String,
    table: String,
    ecs: EcsSetup,
}

async fn fixture() -> Fixture {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let table = unique("table");
    init_table(moto, &table);
    let ecs = ecs_setup(moto, &c).await;
    Fixture {
        moto,
        c,
        bucket,
        table,
        ecs,
    }
}

/// A job id of at most 36 characters that no other test uses.
fn job_id() -> String {
    unique("job")
}

impl Fixture {
    /// `launch --launcher ecs` flags for this fixture (without the key file and split).
    fn ecs_args(&self, job: &str) -> Vec<String> {
        let mut args: Vec<String> = [
            "--table",
            &self.table,
            "--bucket",
            &self.bucket,
            "--storage-class",
            "STANDARD_IA",
            "--job-id",
            job,
            "--launcher",
            "ecs",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(self.ecs.launch_args());
        args
    }

    /// Runs `launch KEYS` with the fixture's flags; a flag in `extra` replaces the fixture's.
    fn launch(&self, keys: &Path, job: &str, extra: &[&str]) -> Output {
        let mut flags = pairs(&self.ecs_args(job));
        for (flag, value) in pairs(&extra.iter().map(|s| s.to_string()).collect::<Vec<_>>()) {
            match flags.iter_mut().find(|(f, _)| *f == flag) {
                Some(existing) => existing.1 = value,
                None => flags.push((flag, value)),
            }
        }
        let mut args = vec!["launch".to_owned(), keys.display().to_string()];
        for (flag, value) in flags {
            args.push(flag);
            args.extend(value);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(self.moto, "coordinator", &args, &[])
    }

    fn launch_ok(&self, keys: &Path, job: &str, extra: &[&str]) -> Output {
        assert_success(self.launch(keys, job, extra), "launch")
    }

    /// Runs `launch ARGS` followed by the fixture's flags (for inputs that are no local file).
    fn launch_args(&self, job: &str, args: &[&str]) -> Output {
        let mut all: Vec<String> = vec!["launch".into()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        all.extend(self.ecs_args(job));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(self.moto, "coordinator", &all, &[])
    }

    /// The text of each lot manifest of `job`, in lot order.
    async fn manifests(&self, job: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for key in self
            .objects(&self.bucket, &format!("thaw/{job}/lots/"))
            .await
        {
            let bytes = get_body(&self.c, &self.bucket, &key).await;
            texts.push(String::from_utf8(bytes).expect("manifest is UTF-8"));
        }
        texts
    }

    fn status_json(&self, job: &str) -> Value {
        let out = run_ok(
            self.moto,
            "coordinator",
            &["status", job, "--json", "--table", &self.table],
            &[],
        );
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
            panic!(
                "status --json is not one JSON document: {e}\n{}",
                stdout(&out)
            )
        })
    }

    async fn objects(&self, bucket: &str, prefix: &str) -> Vec<String> {
        list_keys(&self.c, bucket, prefix).await
    }

    /// Nothing of `job` exists: no control objects, no job or lot items, no tasks.
    async fn assert_no_job(&self, control_bucket: &str, table: &str, job: &str) {
        assert_eq!(
            self.objects(control_bucket, "thaw/").await,
            Vec::<String>::new(),
            "control objects were written"
        );
        let out = run(
            self.moto,
            "coordinator",
            &["status", job, "--table", table],
            &[],
        );
        assert!(
            !out.status.success(),
            "status found the job: {}",
            stdout(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains("not found") || err.contains("does not exist"),
            "{err}"
        );
        assert!(launched_tasks(&self.c, &self.ecs.cluster, job)
            .await
            .is_empty());
    }
}

/// Splits `--flag value` / `--switch` arguments into pairs.
fn pairs(args: &[String]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(flag) = it.next() {
        let value = match it.peek() {
            Some(v) if !v.starts_with("--") => it.next().cloned(),
            _ => None,
        };
        out.push((flag.clone(), value));
    }
    out
}

/// Keys S3 allows but that trip naive code: spaces (inner and trailing), non-ASCII, `+`, `%`.
fn tricky_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 6 {
            0 => format!("plain/file-{i}.txt"),
            1 => format!("with spaces/file {i} .bin"),
            2 => format!("ünïcødé/日本語-{i}/é"),
            3 => format!("plus+sign/{i}+1=2"),
            4 => format!("percent%20/{i}%2Fnot-a-slash"),
            _ => format!("trailing space {i} "),
        })
        .collect()
}

/// Asserts a failed run printed exactly one line, `error: ...`, and returns it.
fn one_error_line(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got success:\n{}",
        stdout(out)
    );
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stderr is not one line:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_owned()
}

fn write_bytes(bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("keys"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join("keys.txt");
    std::fs::write(&p, bytes).expect("write keys");
    p
}

fn first_line_job(out: &Output) -> String {
    let text = stdout(out);
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("job ")
        .unwrap_or_else(|| panic!("first stdout line is not `job <id>`: {text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_is_idempotent() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    let bucket = unique("bucket");
    let args = [
        "init",
        "--table",
        &table,
        "--control-bucket",
        &bucket,
        "--create-bucket",
    ];
    let first = run_ok(moto, "coordinator", &args, &[]);
    assert!(
        stdout(&first).contains(&format!("created table {table}")),
        "{}",
        stdout(&first)
    );
    let second = run_ok(moto, "coordinator", &args, &[]);
    assert!(
        stdout(&second).contains(&format!("table {table} already exists")),
        "{}",
        stdout(&second)
    );
    c.ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("table exists");
    c.s3.head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket exists");
    // without --create-bucket, a missing control bucket is reported
    let missing = unique("bucket");
    let out = run(
        moto,
        "coordinator",
        &["init", "--table", &table, "--control-bucket", &missing],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("bucket {missing} does not exist")),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_launch_uploads_manifests_records_lots_and_starts_tasks() {
    let fx = fixture().await;
    let keys = tricky_keys(50);
    let file = write_keys(&keys);
    let job = job_id();
    let out = fx.launch_ok(&file, &job, &["--lots", "4"]);
    assert_eq!(first_line_job(&out), job);

    // manifests: one per lot, concatenated in lot order they are the input
    let control_prefix = format!("thaw/{job}/");
    let objects = fx.objects(&fx.bucket, &control_prefix).await;
    let manifests = fx.manifests(&job).await;
    assert_eq!(manifests.len(), 4, "{objects:?}");
    assert_eq!(
        objects.iter().filter(|k| k.contains("/lots/")).count(),
        4,
        "{objects:?}"
    );
    assert_eq!(manifests.concat(), format!("{}\n", keys.join("\n")));

    // job.json
    let spec: Value = serde_json::from_slice(
        &get_body(&fx.c, &fx.bucket, &format!("{control_prefix}job.json")).await,
    )
    .expect("job.json");
    assert_eq!(spec["job_id"], job.as_str());
    assert_eq!(spec["keys_total"], 50);
    assert_eq!(spec["lots"], 4);
    assert_eq!(spec["target_class"], "STANDARD_IA");
    assert_eq!(spec["restore_tier"], "bulk");
    assert_eq!(spec["table"], fx.table.as_str());
    assert!(spec["input_fingerprint"]
        .as_str()
        .is_some_and(|f| !f.is_empty()));
    assert!(spec["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // the job-wide restore rate (1,000/s by default) is shared by the 4 tasks
    assert_eq!(spec["worker"]["restore_rate"], 250.0);

    // one item per lot, each launched once with its task recorded
    let status = fx.status_json(&job);
    let lots = status["lots"].as_array().expect("lots");
    assert_eq!(lots.len(), 4);
    let mut tasks_by_lot = BTreeMap::new();
    for (i, lot) in lots.iter().enumerate() {
        assert_eq!(lot["lot"], i);
        let state = lot["state"].as_str().expect("state");
        assert!(matches!(state, "PENDING" | "LAUNCHED"), "{lot}");
        assert_eq!(lot["attempt"], 1, "{lot}");
        let task = lot["task"].as_str().expect("task recorded").to_owned();
        tasks_by_lot.insert(i, task);
    }
    let sizes: Vec<u64> = lots
        .iter()
        .map(|l| l["keys_total"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(sizes, vec![13, 13, 12, 12]);

    // the tasks: one per lot, with the worker's environment in the overrides
    let tasks = launched_tasks(&fx.c, &fx.ecs.cluster, &job).await;
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    let mut lots_seen = BTreeSet::new();
    for (arn, env) in &tasks {
        let env: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(env.get("THAW_JOB_ID"), Some(&job.as_str()));
        assert_eq!(env.get("THAW_TABLE"), Some(&fx.table.as_str()));
        assert_eq!(
            env.get("THAW_CONTROL").copied(),
            Some(format!("s3://{}/thaw/{job}/", fx.bucket).as_str())
        );
        assert_eq!(env.get("THAW_ATTEMPT"), Some(&"1"));
        assert_eq!(env.get("THAW_REGION"), Some(&REGION));
        assert_eq!(
            env.get("THAW_ENDPOINT_URL"),
            Some(&fx.moto.endpoint.as_str())
        );
        assert_eq!(env.get("THAW_LOG_FORMAT"), Some(&"json"));
        let lot: usize = env
            .get("THAW_LOT")
            .and_then(|l| l.parse().ok())
            .expect("THAW_LOT");
        assert!(lots_seen.insert(lot), "lot {lot} launched twice");
        assert_eq!(
            tasks_by_lot.get(&lot),
            Some(arn),
            "recorded task of lot {lot}"
        );
        assert!(env.keys().all(|k| k.starts_with("THAW_")), "{env:?}");
    }
    assert_eq!(lots_seen, BTreeSet::from([0, 1, 2, 3]));

    // the same launch again: no new tasks, nothing reset
    let again = fx.launch_ok(&file, &job, &["--lots", "4"]);
    assert_eq!(first_line_job(&again), job);
    assert!(
        stdout(&again).contains("launched 0 lots"),
        "{}",
        stdout(&again)
    );
    assert_eq!(launched_tasks(&fx.c, &fx.ecs.cluster, &job).await.len(), 4);
    let status2 = fx.status_json(&job);
    for (i, lot) in status2["lots"].as_array().expect("lots").iter().enumerate() {
        assert_eq!(lot["attempt"], 1);
        assert_eq!(
            lot["task"].as_str(),
            tasks_by_lot.get(&i).map(String::as_str)
        );
    }
    assert_eq!(fx.objects(&fx.bucket, &control_prefix).await, objects);
    assert_eq!(fx.manifests(&job).await, manifests, "manifests rewritten");
    let spec_again: Value = serde_json::from_slice(
        &get_body(&fx.c, &fx.bucket, &format!("{control_prefix}job.json")).await,
    )
    .expect("job.json");
    assert_eq!(spec_again, spec, "job.json rewritten");
}

/// Every control object of `job` (manifests, job.json) with its bytes.
async fn control_objects(fx: &Fixture, job: &str) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for key in fx.objects(&fx.bucket, &format!("thaw/{job}/")).await {
        let body = get_body(&fx.c, &fx.bucket, &key).await;
        all.push((key, body));
    }
    all
}

/// A second `launch` of a job whose lots have made progress (running, interrupted, waiting,
/// finished) starts nothing and changes nothing: not a lot item, not a control object.
#[tokio::test(flavor = "multi_thread")]
async fn relaunch_leaves_lots_with_progress_as_they_are() {
    use thaw_common::checkpoint::LotState;
    use thaw_common::progress::ProgressTable;
    let fx = fixture().await;
    let job = job_id();
    let file = write_keys(&tricky_keys(16));
    fx.launch_ok(&file, &job, &["--lots", "4"]);
    let pt = ProgressTable::new(fx.c.ddb.clone(), &fx.table);
    let progress = [
        (0, LotState::Running, None),
        (1, LotState::Interrupted, None),
        (2, LotState::Waiting, Some(4_102_444_800)),
        (3, LotState::Succeeded, None),
    ];
    for (lot, state, next_check) in progress {
        let item = pt.get_lot(&job, lot).await.expect("get").expect("lot");
        pt.start_run(&job, lot, item.attempt, Some("local:test:1"))
            .await
            .expect("start run");
        let mut cp = item.checkpoint.clone();
        let done = if state == LotState::Succeeded { 4 } else { 2 };
        for i in 0..done {
            cp.done.set(i, true);
        }
        cp.counters.copied = done as u64;
        pt.write_checkpoint(&job, lot, item.attempt, &cp, state, next_check)
            .await
            .expect("checkpoint");
    }
    let items = |pt: ProgressTable, job: String| async move {
        let mut all = Vec::new();
        for lot in 0..4 {
            all.push(pt.get_lot(&job, lot).await.expect("get").expect("lot"));
        }
        all
    };
    let before = items(pt.clone(), job.clone()).await;
    let control = control_objects(&fx, &job).await;

    let out = fx.launch_ok(&file, &job, &["--lots", "4"]);
    assert!(stdout(&out).contains("launched 0 lots"), "{}", stdout(&out));
    assert_eq!(launched_tasks(&fx.c, &fx.ecs.cluster, &job).await.len(), 4);
    let after = items(pt, job.clone()).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a, b, "lot {} changed by the second launch", b.lot);
    }
    assert_eq!(
        control_objects(&fx, &job).await,
        control,
        "control objects rewritten"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn relaunch_with_another_key_list_is_refused() {
    let fx = fixture().await;
    let job = job_id();
    fx.launch_ok(&write_keys(&tricky_keys(10)), &job, &["--lots", "2"]);
    let mut other = tricky_keys(10);
    other[3] = "something/else".into();
    let line = one_error_line(&fx.launch(&write_keys(&other), &job, &["--lots", "2"]));
    assert!(
        line.contains("already exists with a different key list"),
        "{line}"
    );
    // a different split of the same list is refused too
    let line = one_error_line(&fx.launch(&write_keys(&tricky_keys(10)), &job, &["--lots", "3"]));
    assert!(line.contains("already exists with 2 lots"), "{line}");
    assert_eq!(launched_tasks(&fx.c, &fx.ecs.cluster, &job).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn relaunch_recovers_a_lot_claimed_but_never_started() {
    let fx = fixture().await;
    let job = job_id();
    let file = write_keys(&tricky_keys(9));
    fx.launch_ok(&file, &job, &["--lots", "3"]);
    // a coordinator that crashed between the claim and RunTask leaves LAUNCHED without a task;
    // claimed moments ago, it may still be inside RunTask elsewhere: left alone
    let forget_task = |launched_at: i64| {
        fx.c.ddb
            .update_item()
            .table_name(&fx.table)
            .key("job_id", AttributeValue::S(job.clone()))
            .key("lot", AttributeValue::N("1".into()))
            .update_expression("REMOVE task SET launched_at = :t")
            .expression_attribute_values(":t", AttributeValue::N(launched_at.to_string()))
            .send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    forget_task(now).await.expect("update lot 1");
    let out = fx.launch_ok(&file, &job, &["--lots", "3"]);
    assert!(stdout(&out).contains("launched 0 lots"), "{}", stdout(&out));
    // claimed 11 minutes ago: the claim's coordinator is gone, the lot is launched again
    forget_task(now - 660).await.expect("update lot 1");
    let out = fx.launch_ok(&file, &job, &["--lots", "3"]);
    assert!(stdout(&out).contains("launched 1 lots"), "{}", stdout(&out));
    let status = fx.status_json(&job);
    let attempts: Vec<u64> = status["lots"]
        .as_array()
        .expect("lots")
        .iter()
        .map(|l| l["attempt"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(attempts, vec![1, 2, 1]);
    assert!(status["lots"][1]["task"].is_string());
    let tasks = launched_tasks(&fx.c, &fx.ecs.cluster, &job).await;
    assert_eq!(tasks.len(), 4);
    let relaunched: Vec<_> = tasks
        .iter()
        .filter(|(_, env)| env.contains(&("THAW_ATTEMPT".to_owned(), "2".to_owned())))
        .collect();
    assert_eq!(relaunched.len(), 1);
    assert!(relaunched[0]
        .1
        .contains(&("THAW_LOT".to_owned(), "1".to_owned())));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_from_stdin_are_spooled_and_normalised() {
    let fx = fixture().await;
    let job = job_id();
    let mut args = vec![
        "launch".to_owned(),
        "-".to_owned(),
        "--lot-size".to_owned(),
        "2".to_owned(),
    ];
    args.extend(fx.ecs_args(&job));
    let mut cmd = Command::new(bin("coordinator"));
    cmd.args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in fx.moto.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start coordinator");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all("a b\r\n\r\n+c\n\nd%2F\né ".as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let manifests = fx.manifests(&job).await;
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests.concat(), "a b\n+c\nd%2F\né \n");
}

#[tokio::test(flavor = "multi_thread")]
async fn ecs_throttling_is_retried() {
    let moto = Moto::start();
    moto.configure(r#"{"ecs_throttle_rate": 0.5}"#);
    let c = moto.clients().await;
    let bucket = unique("bucket");
    create_bucket(&c, &bucket).await;
    let table = unique("table");
    init_table(&moto, &table);
    let ecs = ecs_setup(&moto, &c).await;
    let job = job_id();
    let file = write_keys(&tricky_keys(24));
    let mut args: Vec<String> = [
        "launch",
        &file.display().to_string(),
        "--lots",
        "6",
        "--table",
        &table,
        "--bucket",
        &bucket,
        "--storage-class",
        "STANDARD",
        "--job-id",
        &job,
        "--aws-max-attempts",
        "2",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(ecs.launch_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ok(&moto, "coordinator", &args, &[]);
    assert!(stdout(&out).contains("launched 6 lots"), "{}", stdout(&out));
    assert_eq!(launched_tasks(&c, &ecs.cluster, &job).await.len(), 6);
    let stats = moto.stats();
    assert!(stats["RunTask"].as_u64().unwrap_or(0) > 6, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_storage_class_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let out = fx.launch(
        &write_keys(&tricky_keys(5)),
        &job,
        &["--storage-class", "COLD"],
    );
    let line = one_error_line(&out);
    assert!(line.contains("unknown storage class 'COLD'"), "{line}");
    assert_eq!(out.status.code(), Some(2), "usage errors exit with 2");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_restore_tier_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let out = fx.launch(
        &write_keys(&tricky_keys(5)),
        &job,
        &["--restore-tier", "fast"],
    );
    let line = one_error_line(&out);
    assert!(line.contains("unknown restore tier 'fast'"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_bucket_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let missing = unique("bucket");
    // the control objects would go to the fixture's (existing) bucket
    let out = fx.launch(
        &write_keys(&tricky_keys(5)),
        &job,
        &["--bucket", &missing, "--control-bucket", &fx.bucket],
    );
    let line = one_error_line(&out);
    assert!(
        line.contains(&format!("bucket {missing} does not exist")),
        "{line}"
    );
    assert_eq!(out.status.code(), Some(1));
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_table_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let missing = unique("table");
    let out = fx.launch(&write_keys(&tricky_keys(5)), &job, &["--table", &missing]);
    let line = one_error_line(&out);
    assert!(
        line.contains(&missing) && line.contains("does not exist"),
        "{line}"
    );
    assert!(line.contains("coordinator init"), "{line}");
    fx.assert_no_job(&fx.bucket, &missing, &job).await;
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_cluster_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let missing = unique("cluster");
    let out = fx.launch(&write_keys(&tricky_keys(5)), &job, &["--cluster", &missing]);
    let line = one_error_line(&out);
    assert!(
        line.contains(&format!("ECS cluster {missing} not found")),
        "{line}"
    );
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_container_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let out = fx.launch(&write_keys(&tricky_keys(5)), &job, &["--container", "app"]);
    let line = one_error_line(&out);
    assert!(line.contains("no container named 'app'"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_utf8_line_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let file = write_bytes(b"good/1\n\ngood/2\nbad/\xff\xfe\ngood/3\n");
    let line = one_error_line(&fx.launch(&file, &job, &[]));
    assert!(
        line.contains("line 4") && line.contains("not valid UTF-8"),
        "{line}"
    );
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_key_file_leaves_no_job() {
    let fx = fixture().await;
    for content in [&b""[..], b"\n\r\n\n"] {
        let job = job_id();
        let line = one_error_line(&fx.launch(&write_bytes(content), &job, &[]));
        assert!(line.contains("holds no keys"), "{line}");
        fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_job_id_and_missing_ecs_flags_are_usage_errors() {
    let fx = fixture().await;
    let file = write_keys(&tricky_keys(3));
    for bad in ["has space", "a/b", &"x".repeat(37)] {
        let out = fx.launch(&file, bad, &[]);
        let line = one_error_line(&out);
        assert!(line.contains("job id"), "{line}");
        assert_eq!(out.status.code(), Some(2));
    }
    let job = job_id();
    let f = file.display().to_string();
    let out = run(
        fx.moto,
        "coordinator",
        &[
            "launch",
            &f,
            "--table",
            &fx.table,
            "--bucket",
            &fx.bucket,
            "--storage-class",
            "STANDARD",
            "--job-id",
            &job,
        ],
        &[],
    );
    let line = one_error_line(&out);
    assert!(line.contains("--task-definition"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_size_limits_are_usage_errors() {
    let fx = fixture().await;
    let file = write_keys(&tricky_keys(3));
    let six_gib = (6u64 << 30).to_string();
    for (flag, value, expect) in [
        (
            "--multipart-threshold",
            six_gib.as_str(),
            "--multipart-threshold",
        ),
        ("--part-size", "1048576", "--part-size"),
        ("--part-size", six_gib.as_str(), "--part-size"),
    ] {
        let job = job_id();
        let out = fx.launch(&file, &job, &[flag, value]);
        let line = one_error_line(&out);
        assert!(line.contains(expect), "{line}");
        assert_eq!(out.status.code(), Some(2), "{line}");
        fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_lists_every_lot_with_all_fields() {
    let fx = fixture().await;
    let job = job_id();
    fx.launch_ok(&write_keys(&tricky_keys(10)), &job, &["--lot-size", "4"]);
    let status = fx.status_json(&job);
    assert_eq!(status["job_id"], job.as_str());
    let lots = status["lots"].as_array().expect("lots");
    assert_eq!(lots.len(), 3);
    let fields = [
        "lot",
        "state",
        "keys_total",
        "restore_requested",
        "restored",
        "copied",
        "skipped",
        "failed",
        "bytes_copied",
        "attempt",
        "task",
        "heartbeat_age_s",
        "last_error",
        "next_check_at",
    ];
    for lot in lots {
        for f in fields {
            assert!(lot.get(f).is_some(), "lot lacks {f}: {lot}");
        }
        assert!(lot["heartbeat_age_s"].is_null(), "{lot}");
        assert!(lot["last_error"].is_null(), "{lot}");
    }
    let sizes: Vec<u64> = lots
        .iter()
        .map(|l| l["keys_total"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    let totals = &status["totals"];
    assert_eq!(totals["lots"], 3);
    assert_eq!(totals["keys_total"], 10);
    for f in [
        "restore_requested",
        "restored",
        "copied",
        "skipped",
        "failed",
        "bytes_copied",
    ] {
        assert_eq!(totals[f], 0, "{f}");
    }
    let states = totals["states"].as_object().expect("states");
    assert_eq!(states.values().filter_map(Value::as_u64).sum::<u64>(), 3);

    // the human table: a header, one line per lot, totals and states
    let out = run_ok(
        fx.moto,
        "coordinator",
        &["status", &job, "--table", &fx.table],
        &[],
    );
    let text = stdout(&out);
    assert!(text.starts_with(&format!("job {job}\n")), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("/4 ") || l.contains("/2 "))
            .count(),
        3,
        "{text}"
    );
    assert!(text.contains("total: 3 lots, 0/10 keys done"), "{text}");
    assert!(text.contains("states: LAUNCHED 3"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_of_unknown_job_fails() {
    let fx = fixture().await;
    let job = job_id();
    let out = run(
        fx.moto,
        "coordinator",
        &["status", &job, "--table", &fx.table],
        &[],
    );
    let line = one_error_line(&out);
    assert_eq!(
        line,
        format!("error: job {job} not found in table {}", fx.table)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_touches_nothing() {
    let fx = fixture().await;
    let job = job_id();
    // a table and cluster that do not exist: a dry run writes nothing and asks nothing of them
    // (it only looks at a sample of the objects, for the cost)
    let missing_table = unique("table");
    let missing_cluster = unique("cluster");
    let out = fx.launch_ok(
        &write_keys(&tricky_keys(20)),
        &job,
        &[
            "--lots",
            "3",
            "--dry-run",
            "--table",
            &missing_table,
            "--cluster",
            &missing_cluster,
        ],
    );
    assert_eq!(first_line_job(&out), job);
    let text = stdout(&out);
    assert!(text.contains("lots: 3 (6 to 7 keys each)"), "{text}");
    assert!(text.contains("window: at most 3 lots"), "{text}");
    assert!(
        text.contains(&format!("s3://{}/thaw/{job}/lots/00000.txt", fx.bucket)),
        "{text}"
    );
    assert!(text.contains("RunTask request of lot 0"), "{text}");
    assert!(text.contains("THAW_CONTROL"), "{text}");
    // what it would cost: the 20 keys were looked at (none exists here)
    assert!(text.contains("cost estimate"), "{text}");
    assert!(
        text.contains("20 looked at with HeadObject (20 missing)"),
        "{text}"
    );
    assert!(text.contains("S3 Batch Operations"), "{text}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
    assert!(!table_names(&fx.c).await.contains(&missing_table));
}

/// A stand-in worker: prints its environment, records nothing, and fails for lot 1.
fn fake_worker() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("fakeworker"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join("worker.sh");
    std::fs::write(
        &p,
        "#!/bin/sh\n\
         echo \"env job=$THAW_JOB_ID lot=$THAW_LOT attempt=$THAW_ATTEMPT table=$THAW_TABLE control=$THAW_CONTROL format=$THAW_LOG_FORMAT\" >&2\n\
         echo \"stdout of $THAW_LOT\"\n\
         if [ \"$THAW_LOT\" = 1 ]; then exit 3; fi\n\
         exit 0\n",
    )
    .expect("write fake worker");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    p
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn local_launcher_runs_workers_and_marks_silent_exits_failed() {
    let fx = fixture().await;
    let job = job_id();
    let file = write_keys(&tricky_keys(6));
    let worker = fake_worker();
    let out = run(
        fx.moto,
        "coordinator",
        &[
            "launch",
            &file.display().to_string(),
            "--lots",
            "3",
            "--table",
            &fx.table,
            "--bucket",
            &fx.bucket,
            "--storage-class",
            "STANDARD",
            "--job-id",
            &job,
            "--launcher",
            "local",
            "--worker-bin",
            &worker.display().to_string(),
            "--parallel",
            "2",
        ],
        &[],
    );
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a failed worker must fail the launch\n{err}"
    );
    assert_eq!(first_line_job(&out), job);
    for lot in 0..3 {
        assert!(
            err.contains(&format!(
                "[lot {lot}] env job={job} lot={lot} attempt=1 table={} control=s3://{}/thaw/{job}/ format=human",
                fx.table, fx.bucket
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("[lot {lot}] stdout of {lot}")),
            "{err}"
        );
    }
    assert!(
        err.lines().last().is_some_and(|l| l.starts_with("error: ")),
        "{err}"
    );
    let status = fx.status_json(&job);
    for lot in status["lots"].as_array().expect("lots") {
        // the stand-in records no final state, so every lot ends FAILED with the reason
        assert_eq!(lot["state"], "FAILED", "{lot}");
        assert!(
            lot["task"]
                .as_str()
                .is_some_and(|t| t.starts_with("local:")),
            "{lot}"
        );
        let reason = lot["last_error"].as_str().unwrap_or_default();
        assert!(
            reason.contains("without recording a final state"),
            "{reason}"
        );
    }
    let lot1 = status["lots"][1]["last_error"].as_str().unwrap_or_default();
    assert!(lot1.contains("exit status: 3"), "{lot1}");
    // nothing ran on ECS
    assert!(launched_tasks(&fx.c, &fx.ecs.cluster, &job)
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn local_launcher_without_worker_binary_leaves_no_job() {
    let fx = fixture().await;
    let job = job_id();
    let out = run(
        fx.moto,
        "coordinator",
        &[
            "launch",
            &write_keys(&tricky_keys(3)).display().to_string(),
            "--table",
            &fx.table,
            "--bucket",
            &fx.bucket,
            "--storage-class",
            "STANDARD",
            "--job-id",
            &job,
            "--launcher",
            "local",
            "--worker-bin",
            "/nonexistent/worker",
        ],
        &[],
    );
    let line = one_error_line(&out);
    assert!(line.contains("/nonexistent/worker"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_key_lists_give_one_line_and_no_job() {
    let fx = fixture().await;
    let long_key = format!("ok\n{}\n", "k".repeat(1025));
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "byte order mark",
            b"\xEF\xBB\xBFa\nb\n".to_vec(),
            "byte order mark",
        ),
        ("NUL byte", b"a\nb\0c\n".to_vec(), "line 2"),
        ("over-long key", long_key.into_bytes(), "line 2"),
        ("binary garbage", garbage, "line"),
        ("only CR and LF", b"\r\n\r\n\n".to_vec(), "no keys"),
        ("control character", b"a\x07b\n".to_vec(), "line 1"),
    ];
    for (what, bytes, expect) in cases {
        let file = write_bytes(&bytes);
        let job = job_id();
        let out = fx.launch(&file, &job, &[]);
        let line = one_error_line(&out);
        assert!(line.contains(expect), "{what}: {line}");
        fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
    }
    // a list that does not exist
    let job = job_id();
    let out = fx.launch(Path::new("/nonexistent/keys.txt"), &job, &[]);
    let line = one_error_line(&out);
    assert!(line.contains("/nonexistent/keys.txt"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_is_one_line_and_no_job() {
    let fx = fixture().await;
    let file = write_keys(&tricky_keys(3));
    let job = job_id();
    let mut args: Vec<String> = vec!["launch".into(), file.display().to_string()];
    args.extend(fx.ecs_args(&job));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = Command::new(bin("coordinator"));
    cmd.args(&args);
    for (k, v) in fx.moto.env() {
        if !k.starts_with("AWS_ACCESS_KEY") && !k.starts_with("AWS_SECRET") {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE");
    let out = cmd.output().expect("run");
    let line = one_error_line(&out);
    assert!(line.to_lowercase().contains("credentials"), "{line}");
    fx.assert_no_job(&fx.bucket, &fx.table, &job).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_list_in_s3_is_streamed_and_split() {
    let fx = fixture().await;
    let keys = tricky_keys(30);
    // written on Windows: CRLF and a blank line
    let body = format!("{}\r\n\r\n", keys.join("\r\n"));
    fx.c.s3
        .put_object()
        .bucket(&fx.bucket)
        .key("lists/keys.txt")
        .body(body.into_bytes().into())
        .send()
        .await
        .expect("put list");
    let job = job_id();
    let uri = format!("s3://{}/lists/keys.txt", fx.bucket);
    assert_success(fx.launch_args(&job, &[&uri, "--lots", "3"]), "launch");
    let manifests = fx.manifests(&job).await;
    assert_eq!(manifests.len(), 3);
    assert_eq!(manifests.concat(), format!("{}\n", keys.join("\n")));

    // a list that is not there: one line, no job
    let job = job_id();
    let missing = format!("s3://{}/lists/nope.txt", fx.bucket);
    let out = fx.launch_args(&job, &[&missing]);
    let line = one_error_line(&out);
    assert!(
        line.contains(&missing) && line.contains("NoSuchKey"),
        "{line}"
    );
    let out = run(
        fx.moto,
        "coordinator",
        &["status", &job, "--table", &fx.table],
        &[],
    );
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_operations_csv_is_decoded_and_split() {
    let fx = fixture().await;
    let keys = tricky_keys(12);
    let encode = |k: &str| {
        k.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'/' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut csv: String = keys
        .iter()
        .map(|k| format!("{},{}\n", fx.bucket, encode(k)))
        .collect();
    csv.push_str(&format!("{},\"quoted,key\"\r\n", fx.bucket));
    let dir = std::env::temp_dir().join(unique("csv"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("manifest.csv");
    std::fs::write(&file, &csv).expect("write csv");
    let job = job_id();
    fx.launch_ok(&file, &job, &["--lots", "2"]);
    let mut expected = keys.clone();
    expected.push("quoted,key".into());
    assert_eq!(
        fx.manifests(&job).await.concat(),
        format!("{}\n", expected.join("\n"))
    );

    // the common mistakes: a header row, another bucket, a key S3 cannot hold
    let cases = [
        ("Bucket,Key\nb,k\n".to_owned(), "header row"),
        (format!("{},a\nother-bucket,b\n", fx.bucket), "line 2"),
        (
            format!("{},a\n{},{}\n", fx.bucket, fx.bucket, "k".repeat(1025)),
            "at most 1024 bytes",
        ),
        (format!("{},a%0Ab\n", fx.bucket), "line 1"),
    ];
    for (text, expect) in cases {
        std::fs::write(&file, &text).expect("write csv");
        let job = job_id();
        let out = fx.launch(&file, &job, &[]);
        let line = one_error_line(&out);
        assert!(line.contains(expect), "{text:?}: {line}");
        let out = run(
            fx.moto,
            "coordinator",
            &["status", &job, "--table", &fx.table],
            &[],
        );
        assert!(!out.status.success(), "no job for {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn from_prefix_lists_filters_and_expands_dates() {
    let fx = fixture().await;
    let yesterday = thaw_common::input::expand_dates(
        "logs/year={yesterday:%Y}/month={yesterday:%m}/day={yesterday:%d}/",
        thaw_common::input::Date::today(),
    )
    .expect("dates");
    let objects = [
        ("a.gz", "GLACIER", true),
        ("b.gz", "DEEP_ARCHIVE", true),
        ("c.gz", "STANDARD", false),    // not archived: filtered by class
        ("d.txt", "GLACIER", false),    // not *.gz
        ("tmp-e.gz", "GLACIER", false), // excluded
        ("f.gz", "STANDARD_IA", false), // already in the target class
    ];
    for (name, class, _) in objects {
        put(
            &fx.c,
            &fx.bucket,
            &format!("{yesterday}{name}"),
            class,
            b"x",
        )
        .await;
    }
    put(&fx.c, &fx.bucket, "logs/other-day/z.gz", "GLACIER", b"x").await;
    let job = job_id();
    let from = format!(
        "s3://{}/logs/year={{yesterday:%Y}}/month={{yesterday:%m}}/day={{yesterday:%d}}/",
        fx.bucket
    );
    let out = fx.launch_args(
        &job,
        &[
            "--from",
            &from,
            "--include",
            "*.gz",
            "--exclude",
            "*tmp-*",
            "--storage-class-filter",
            "GLACIER,DEEP_ARCHIVE,STANDARD_IA",
        ],
    );
    assert_success(out, "launch --from");
    let expected: String = objects
        .iter()
        .filter(|o| o.2)
        .map(|o| format!("{yesterday}{}\n", o.0))
        .collect();
    assert_eq!(fx.manifests(&job).await.concat(), expected);

    // a prefix in another bucket, or a bad placeholder: one line, nothing written
    for (from, expect) in [
        ("s3://another-bucket/x/".to_owned(), "--bucket"),
        (format!("s3://{}/x/{{tomorrow:%Y}}/", fx.bucket), "tomorrow"),
    ] {
        let job = job_id();
        let out = fx.launch_args(&job, &["--from", &from]);
        let line = one_error_line(&out);
        assert!(line.contains(expect), "{line}");
        assert_eq!(out.status.code(), Some(2));
    }
}

fn gzip(text: &str) -> Vec<u8> {
    use flate2::write::GzEncoder;
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_inventory_is_read_from_its_manifest() {
    let fx = fixture().await;
    let inv = unique("inv");
    create_bucket(&fx.c, &inv).await;
    let b = &fx.bucket;
    // two data files; keys URL-encoded as inventory writes them ('+' is a space)
    let file1 = format!(
        "\"{b}\",\"photos/a+b.jpg\",\"\",\"true\",\"false\",\"GLACIER\"\n\
         \"{b}\",\"photos/c%2Bd.jpg\",\"\",\"true\",\"false\",\"DEEP_ARCHIVE\"\n\
         \"{b}\",\"photos/old.jpg\",\"v1\",\"false\",\"false\",\"GLACIER\"\n"
    );
    let file2 = format!(
        "\"{b}\",\"photos/deleted.jpg\",\"v2\",\"true\",\"true\",\"\"\n\
         \"{b}\",\"photos/done.jpg\",\"\",\"true\",\"false\",\"STANDARD_IA\"\n\
         \"{b}\",\"photos/%C3%A9t%C3%A9.jpg\",\"\",\"true\",\"false\",\"GLACIER\"\n"
    );
    for (k, text) in [("inv/data/1.csv.gz", &file1), ("inv/data/2.csv.gz", &file2)] {
        fx.c.s3
            .put_object()
            .bucket(&inv)
            .key(k)
            .body(gzip(text).into())
            .send()
            .await
            .expect("put");
    }
    let manifest = format!(
        r#"{{"sourceBucket":"{b}","destinationBucket":"arn:aws:s3:::{inv}","version":"2016-11-30",
            "fileFormat":"CSV","fileSchema":"Bucket, Key, VersionId, IsLatest, IsDeleteMarker, StorageClass",
            "files":[{{"key":"inv/data/1.csv.gz"}},{{"key":"inv/data/2.csv.gz"}}]}}"#
    );
    fx.c.s3
        .put_object()
        .bucket(&inv)
        .key("inv/manifest.json")
        .body(manifest.clone().into_bytes().into())
        .send()
        .await
        .expect("put manifest");
    let job = job_id();
    let uri = format!("s3://{inv}/inv/manifest.json");
    assert_success(fx.launch_args(&job, &[&uri]), "launch");
    assert_eq!(
        fx.manifests(&job).await.concat(),
        "photos/a b.jpg\nphotos/c+d.jpg\nphotos/été.jpg\n"
    );

    // a truncated data file: one line naming it, no job
    let gz = gzip(&file1);
    fx.c.s3
        .put_object()
        .bucket(&inv)
        .key("inv/data/1.csv.gz")
        .body(gz[..gz.len() / 2].to_vec().into())
        .send()
        .await
        .expect("put truncated");
    let dir = std::env::temp_dir().join(unique("inv"));
    std::fs::create_dir_all(&dir).expect("dir");
    let local = dir.join("manifest.json");
    std::fs::write(&local, &manifest).expect("write manifest");
    let job = job_id();
    let out = fx.launch(&local, &job, &[]);
    let line = one_error_line(&out);
    assert!(
        line.contains("1.csv.gz") && line.contains("truncated"),
        "{line}"
    );
    let out = run(
        fx.moto,
        "coordinator",
        &["status", &job, "--table", &fx.table],
        &[],
    );
    assert!(!out.status.success());
}
