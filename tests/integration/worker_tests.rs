//! The worker against the emulator: a mixed lot through restore and copy (single and multipart),
//! slow restores ending WAITING, kill -9 and resume, fencing of a stale attempt, SIGTERM.
//!
//! Jobs are set up here directly (job.json, one lot manifest, the lot item) so these tests only
//! depend on the worker; the coordinator's own tests launch jobs end to end.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass as S3Class};
use thaw_common::checkpoint::LotState;
use thaw_common::fixtures::JobSpecBuilder;
use thaw_common::progress::{now_secs, LotItem, ProgressTable};
use thaw_common::spec::{
    lot_manifest_name, Destination, JobSpec, S3Location, WorkerSettings, JOB_SPEC_NAME,
};
use thaw_common::upload_record::{UploadChange, UploadEntry};

use crate::assert::*;
use crate::rig::*;

const MIB: usize = 1024 * 1024;

/// A one-lot job written straight to the emulator.
pub(crate) struct Job {
    pub(crate) table: String,
    pub(crate) job_id: String,
    control: S3Location,
}

impl Job {
    pub(crate) async fn create(
        moto: &Moto,
        c: &Clients,
        bucket: &str,
        keys: &[String],
        settings: WorkerSettings,
    ) -> Job {
        Self::create_to(moto, c, bucket, keys, settings, None).await
    }

    async fn create_to(
        moto: &Moto,
        c: &Clients,
        bucket: &str,
        keys: &[String],
        settings: WorkerSettings,
        destination: Option<Destination>,
    ) -> Job {
        let table = unique("table");
        ProgressTable::new(c.ddb.clone(), &table)
            .create_if_missing()
            .await
            .expect("create table");
        let job_id = unique("job");
        let spec = JobSpecBuilder::new(&job_id, bucket)
            .restore_days(2)
            .keys_total(keys.len() as u64)
            .table(&table)
            .worker(settings)
            .destination(destination)
            .build();
        let control = spec.control.clone();
        let put = |key: String, body: Vec<u8>| {
            c.s3.put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
        };
        put(
            control.key(JOB_SPEC_NAME),
            serde_json::to_vec(&spec).expect("spec json"),
        )
        .await
        .expect("put spec");
        let manifest_key = control.key(&lot_manifest_name(0));
        let body: String = keys.iter().map(|k| format!("{k}\n")).collect();
        put(manifest_key.clone(), body.into_bytes())
            .await
            .expect("put manifest");
        ProgressTable::new(c.ddb.clone(), &table)
            .put_lot_if_absent(
                &job_id,
                0,
                keys.len() as u64,
                &format!("s3://{bucket}/{manifest_key}"),
            )
            .await
            .expect("put lot");
        let _ = moto;
        Job {
            table,
            job_id,
            control,
        }
    }

    /// Rewrites the job's `job.json` (in `bucket`) as `launch` would have written it.
    pub(crate) async fn edit_spec(
        &self,
        c: &Clients,
        bucket: &str,
        edit: impl FnOnce(&mut JobSpec),
    ) {
        let spec_key = self.control.key(JOB_SPEC_NAME);
        let body = get_body(c, bucket, &spec_key).await;
        let mut spec: JobSpec = serde_json::from_slice(&body).expect("spec");
        edit(&mut spec);
        c.s3.put_object()
            .bucket(bucket)
            .key(&spec_key)
            .body(serde_json::to_vec(&spec).expect("json").into())
            .send()
            .await
            .expect("put spec");
    }

    /// Records a pending delete of line `index`'s source `version`, as a worker does before its
    /// copy (made now).
    pub(crate) async fn record_pending_delete(&self, c: &Clients, index: usize, version: &str) {
        self.record_upload(c, &UploadEntry::pending_delete(index, now_secs(), version))
            .await;
    }

    /// Records upload-map `entry`, as a worker does around a multipart copy.
    async fn record_upload(&self, c: &Clients, entry: &UploadEntry) {
        let table = ProgressTable::new(c.ddb.clone(), &self.table);
        let attempt = self.item(c).await.attempt;
        table
            .put_upload_changes(
                &self.job_id,
                0,
                attempt,
                &[UploadChange::Put(entry.clone())],
            )
            .await
            .expect("record upload");
    }

    fn worker_args(&self) -> Vec<String> {
        vec![
            "--job-id".into(),
            self.job_id.clone(),
            "--lot".into(),
            "0".into(),
            "--table".into(),
            self.table.clone(),
            "--control".into(),
            self.control.to_string(),
        ]
    }

    pub(crate) fn run(&self, moto: &Moto, extra: &[&str]) -> std::process::Output {
        let mut args = self.worker_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(moto, "worker", &args, &[])
    }

    fn spawn(&self, moto: &Moto, extra: &[&str]) -> Child {
        let mut cmd = Command::new(bin("worker"));
        cmd.args(self.worker_args()).args(extra);
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn worker")
    }

    pub(crate) async fn item(&self, c: &Clients) -> LotItem {
        ProgressTable::new(c.ddb.clone(), &self.table)
            .get_lot(&self.job_id, 0)
            .await
            .expect("get lot")
            .expect("lot exists")
    }
}

pub(crate) fn fast_settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 16,
        restore_rate: 0.0,
        max_wait_secs: 60,
        poll_interval_secs: Some(1),
        multipart_threshold: 8 * MIB as u64,
        part_size: 5 * MIB as u64,
    }
}

fn body_for(key: &str, len: usize) -> Vec<u8> {
    let seed = key
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    (0..len)
        .map(|i| (seed.wrapping_add((i as u32).wrapping_mul(2_654_435_761)) >> 13) as u8)
        .collect()
}

pub(crate) fn summary(out: &std::process::Output) -> serde_json::Value {
    let text = stdout(out);
    let line = text
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no summary line; stderr:\n{}", stderr(out)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("summary {line:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_lot_ends_in_target_class_with_everything_kept() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("mixed");
    create_bucket(&c, &bucket).await;

    let special = [
        "with space.txt",
        "plus+sign",
        "per%41cent",
        "question?mark",
        "hash#tag",
        "eq=uals",
        "ünïcödé/日本語.bin",
        "dir/sub dir/ trailing ",
    ];
    let mut keys: Vec<String> = Vec::new();
    let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
    for (i, class) in [
        "GLACIER",
        "DEEP_ARCHIVE",
        "GLACIER_IR",
        "STANDARD",
        "STANDARD_IA",
    ]
    .iter()
    .enumerate()
    {
        for j in 0..4 {
            let key = format!("plain/{class}/{j}");
            let body = body_for(&key, 100 + i * 10 + j);
            put(&c, &bucket, &key, class, &body).await;
            bodies.insert(key.clone(), body);
            keys.push(key);
        }
    }
    for (j, key) in special.iter().enumerate() {
        let class = if j % 2 == 0 { "GLACIER" } else { "STANDARD" };
        let body = body_for(key, 50 + j);
        put(&c, &bucket, key, class, &body).await;
        // decoys: if CopySource were not encoded, these are what a wrong copy would read
        if key.contains('+') {
            put(&c, &bucket, &key.replace('+', " "), "STANDARD", b"decoy").await;
        }
        bodies.insert(key.to_string(), body);
        keys.push(key.to_string());
    }
    // attributes that a copy must keep: metadata, content headers, tags, SSE-KMS
    let rich = ["rich/single.json", "rich/multipart.bin"];
    for (n, key) in rich.iter().enumerate() {
        let size = if n == 0 { 3000 } else { 12 * MIB + 123 };
        let body = body_for(key, size);
        c.s3.put_object()
            .bucket(&bucket)
            .key(*key)
            .storage_class(S3Class::Glacier)
            .content_type("application/x-thaw")
            .content_encoding("identity")
            .content_disposition("attachment; filename=\"x.bin\"")
            .content_language("pt-BR")
            .cache_control("max-age=60")
            .metadata("owner", "ops team")
            .metadata("batch", "42")
            .tagging("project=thaw&cost center=a%2Fb")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("arn:aws:kms:us-east-1:123456789012:key/thaw-test")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put rich object");
        bodies.insert(key.to_string(), body);
        keys.push(key.to_string());
    }
    keys.push("missing/key".into());

    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "worker failed: {}", stderr(&out));
    let sum = summary(&out);
    assert_eq!(sum["state"], "FAILED", "one key is missing: {sum}");

    for key in &keys[..keys.len() - 1] {
        assert_object(&c, &bucket, key)
            .class("STANDARD_IA")
            .body(&bodies[key])
            .check()
            .await;
    }
    for key in rich {
        assert_object(&c, &bucket, key)
            .content_type("application/x-thaw")
            .content_encoding("identity")
            .content_disposition("attachment; filename=\"x.bin\"")
            .content_language("pt-BR")
            .cache_control("max-age=60")
            .metadata("owner", "ops team")
            .metadata("batch", "42")
            .sse(ServerSideEncryption::AwsKms)
            .kms_key("arn:aws:kms:us-east-1:123456789012:key/thaw-test")
            .tags(&[("cost center", "a/b"), ("project", "thaw")])
            .check()
            .await;
    }
    // decoys untouched
    assert_eq!(get_body(&c, &bucket, "plus sign").await, b"decoy");

    let item = job.item(&c).await;
    let n = &item.counters;
    assert_eq!(item.state, LotState::Failed);
    assert_eq!(n.copied + n.skipped + n.failed, n.keys_total, "{n:?}");
    assert_eq!(n.keys_total, keys.len() as u64);
    assert_eq!(n.failed, 1);
    assert_eq!(n.skipped, 4, "the STANDARD_IA objects");
    // the checkpoint says which keys were skipped, for the report
    let skipped: Vec<&str> = item
        .checkpoint
        .skipped
        .ones()
        .map(|i| keys[i].as_str())
        .collect();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    for k in &skipped {
        assert!(item
            .checkpoint
            .done
            .get(keys.iter().position(|x| x == k).expect("key")));
    }
    let missing = keys.len() - 1;
    assert_eq!(
        item.checkpoint.failure_of(missing).map(|f| f.0),
        Some("NoSuchKey")
    );
    assert!(
        item.uploads.is_empty(),
        "no upload left recorded: {:?}",
        item.uploads
    );
    assert_no_uploads(&c, &bucket, "orphaned multipart uploads").await;
    assert!(
        sum["requests"]["s3_upload_part_copy"].as_u64().unwrap_or(0) >= 3,
        "{sum}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_restores_end_waiting_then_finish_without_second_request() {
    let moto = Moto::start();
    let c = moto.clients().await;
    // the restores stay ongoing, whatever the machine's speed, until the third run
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("slow");
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = (0..20).map(|i| format!("slow/{i:03}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let class = if i < 15 { "DEEP_ARCHIVE" } else { "STANDARD" };
        put(&c, &bucket, k, class, k.as_bytes()).await;
    }
    let settings = WorkerSettings {
        max_wait_secs: 1,
        ..fast_settings()
    };
    let job = Job::create(&moto, &c, &bucket, &keys, settings).await;

    let out = job.run(&moto, &[]);
    assert!(out.status.success(), "first run: {}", stderr(&out));
    assert_eq!(summary(&out)["state"], "WAITING");
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Waiting);
    assert_eq!(
        item.counters.copied, 5,
        "the STANDARD objects are done already"
    );
    assert_eq!(item.counters.restore_requested, 15);
    assert!(item.next_check_at.is_some());

    // A rerun while restores are still running must not ask again.
    let out = job.run(&moto, &[]);
    assert!(out.status.success(), "second run: {}", stderr(&out));
    assert_eq!(
        summary(&out)["requests"]["s3_restore"],
        0,
        "no restore requested twice"
    );

    moto.configure(r#"{"restore_heads": 0}"#);
    let out = job.run(&moto, &["--max-wait", "30"]);
    assert!(out.status.success(), "third run: {}", stderr(&out));
    assert_eq!(summary(&out)["state"], "SUCCEEDED");
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded);
    assert_eq!(item.counters.copied, 20);
    assert_eq!(item.counters.restored, 15);
    assert_eq!(item.attempt, 3, "each manual run claims the next attempt");
    assert_eq!(
        moto.stats()["s3:RestoreObject"],
        15,
        "one restore request per archived key"
    );
    assert_all_in_class(&c, &bucket, &keys, "STANDARD_IA").await;
}

async fn wait_for_progress(c: &Clients, job: &Job, child: &mut Child, at_least: u64) {
    wait_for_run(c, job, child, at_least, None).await
}

/// Waits until `attempt` (when given) is RUNNING and the lot has at least `at_least` keys done.
async fn wait_for_run(
    c: &Clients,
    job: &Job,
    child: &mut Child,
    at_least: u64,
    attempt: Option<u64>,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let item = job.item(c).await;
        let ours = attempt.is_none_or(|a| item.attempt == a && item.state == LotState::Running);
        if ours && item.counters.done() >= at_least {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("worker exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "no progress: {:?}",
            item.counters
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The size of drill object `i` (every `multipart_every`-th one is copied part by part).
fn drill_size(i: usize, multipart_every: usize) -> usize {
    if multipart_every > 0 && i.is_multiple_of(multipart_every) {
        9 * MIB
    } else {
        64
    }
}

/// `n` objects for the drills, half GLACIER, each with user metadata, content headers, a tag
/// and SSE-S3, so every drill can check that a copy kept all of it ([`assert_intact`]).
pub(crate) async fn many_objects(
    c: &Clients,
    bucket: &str,
    n: usize,
    multipart_every: usize,
) -> Vec<String> {
    use futures::StreamExt;
    create_bucket(c, bucket).await;
    let keys: Vec<String> = (0..n).map(|i| format!("bulk/{i:05}")).collect();
    futures::stream::iter(keys.iter().enumerate())
        .for_each_concurrent(16, |(i, k)| async move {
            let class = if i % 2 == 0 {
                S3Class::Glacier
            } else {
                S3Class::Standard
            };
            c.s3.put_object()
                .bucket(bucket)
                .key(k)
                .storage_class(class)
                .content_type("application/x-thaw-drill")
                .cache_control("max-age=60")
                .content_disposition(format!("attachment; filename=\"{i}.bin\""))
                .metadata("origin", format!("drill-{i}"))
                .tagging(format!("drill=yes&n={i}"))
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(ByteStream::from(body_for(
                    k,
                    drill_size(i, multipart_every),
                )))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
        })
        .await;
    keys
}

/// Every drill object is in STANDARD_IA with its bytes, metadata, content headers, tag and
/// SSE setting as [`many_objects`] wrote them.
pub(crate) async fn assert_intact(
    c: &Clients,
    bucket: &str,
    keys: &[String],
    multipart_every: usize,
) {
    for (i, k) in keys.iter().enumerate() {
        assert_object(c, bucket, k)
            .class("STANDARD_IA")
            .content_type("application/x-thaw-drill")
            .cache_control("max-age=60")
            .content_disposition(&format!("attachment; filename=\"{i}.bin\""))
            .metadata("origin", &format!("drill-{i}"))
            .sse(ServerSideEncryption::Aes256)
            .tags(&[("drill", "yes"), ("n", &i.to_string())])
            .body(body_for(k, drill_size(i, multipart_every)))
            .check()
            .await;
    }
}

/// Runs the lot once more and checks, from what the emulator saw of each object, that the run
/// resumed from the checkpoint: not one request on a key the checkpoint has done (not even a
/// HEAD), and on the others at most two HEADs (the first look, the look after the restore) and
/// one copy each.
async fn rerun_resumes(
    moto: &Moto,
    c: &Clients,
    job: &Job,
    bucket: &str,
    keys: &[String],
) -> std::process::Output {
    let done: std::collections::BTreeSet<usize> =
        job.item(c).await.checkpoint.done.ones().collect();
    assert!(
        !done.is_empty() && done.len() < keys.len(),
        "the run to resume finished {} keys of {}",
        done.len(),
        keys.len()
    );
    let before = moto.counts_by_key(bucket);
    let out = job.run(moto, &[]);
    let after = moto.counts_by_key(bucket);
    let (mut heads, mut copies) = (0, 0);
    for (i, key) in keys.iter().enumerate() {
        let seen = after.get(key).cloned().unwrap_or_default();
        let sent = seen.since(&before.get(key).cloned().unwrap_or_default());
        if done.contains(&i) {
            assert!(sent.is_empty(), "{key} was done before the rerun: {sent:?}");
        } else {
            heads += sent.get("s3:HeadObject");
            copies += sent.sum(&["s3:CopyObject", "s3:CreateMultipartUpload"]);
        }
    }
    let todo = (keys.len() - done.len()) as u64;
    assert!(heads <= 2 * todo, "{heads} HEADs for {todo} keys left");
    assert!(copies <= todo, "{copies} copies for {todo} keys left");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_then_resume_finishes_without_redoing_work() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("crash");
    let keys = many_objects(&c, &bucket, 300, 50).await;
    let job = Job::create(&moto, &c, &bucket, &keys, fast_settings()).await;

    // Five crashes at different points of the lot, each run resuming the previous one.
    let concurrency = 8u64;
    let kills = [20u64, 70, 120, 170, 220];
    for (n, at) in kills.into_iter().enumerate() {
        let mut child = job.spawn(&moto, &["--concurrency", "8", "--checkpoint-interval", "1"]);
        wait_for_run(&c, &job, &mut child, at, Some(n as u64 + 1)).await;
        child.kill().expect("kill -9");
        let _ = child.wait();
    }

    let out = rerun_resumes(&moto, &c, &job, &bucket, &keys).await;
    assert!(out.status.success(), "rerun: {}", stderr(&out));
    assert_eq!(summary(&out)["state"], "SUCCEEDED");
    let item = job.item(&c).await;
    assert_eq!(item.counters.done(), 300);
    assert_eq!(item.counters.failed, 0);
    assert_eq!(item.attempt, kills.len() as u64 + 1);
    assert_intact(&c, &bucket, &keys, 50).await;
    let stats = moto.stats();
    let copies_total = stats["s3:CopyObject"].as_u64().unwrap_or(0)
        + stats["s3:CreateMultipartUpload"].as_u64().unwrap_or(0);
    assert!(
        copies_total <= 300 + concurrency * kills.len() as u64,
        "keys copied twice must be at most the concurrency per crash: {copies_total} copies for 300 keys"
    );
    assert_no_uploads(
        &c,
        &bucket,
        "orphaned multipart uploads after crash and resume",
    )
    .await;
    assert!(item.uploads.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_attempt_is_fenced_off() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("fence");
    let keys = many_objects(&c, &bucket, 200, 0).await;
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;

    let mut old = job.spawn(moto, &["--concurrency", "1", "--checkpoint-interval", "1"]);
    wait_for_progress(&c, &job, &mut old, 5).await;
    // A newer run claims attempt 2 and finishes the lot.
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "new attempt: {}", stderr(&out));
    let status = old.wait().expect("old worker");
    let mut err = String::new();
    std::io::Read::read_to_string(old.stderr.as_mut().expect("stderr"), &mut err).ok();
    assert_eq!(
        status.code(),
        Some(3),
        "the stale worker stops with exit 3: {err}"
    );
    assert!(err.contains("newer attempt"), "{err}");

    let item = job.item(&c).await;
    assert_eq!(item.attempt, 2);
    assert_eq!(item.state, LotState::Succeeded);
    assert_eq!(item.counters.done(), 200);
    assert_eq!(item.counters.failed, 0);
    assert_eq!(item.counters.copied + item.counters.skipped, 200);
    assert_intact(&c, &bucket, &keys, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_checkpoints_interrupted_then_rerun_completes() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("term");
    let keys = many_objects(&c, &bucket, 300, 0).await;
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;

    let mut child = job.spawn(moto, &["--concurrency", "1", "--checkpoint-interval", "1"]);
    wait_for_progress(&c, &job, &mut child, 10).await;
    let t0 = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(
        // well inside the task definition's stopTimeout (120 s), with room for a loaded machine
        t0.elapsed() < Duration::from_secs(60),
        "stopped in {:?}",
        t0.elapsed()
    );
    assert!(status.success(), "exit after SIGTERM: {status}");
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Interrupted);
    assert!(item.counters.done() < 300);

    let out = rerun_resumes(moto, &c, &job, &bucket, &keys).await;
    assert!(out.status.success(), "rerun: {}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded);
    assert_eq!(item.counters.done(), 300);
    assert_intact(&c, &bucket, &keys, 0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_manifest_is_fatal_and_marks_the_lot_failed() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("nomanifest");
    create_bucket(&c, &bucket).await;
    let keys = vec!["a".to_owned(), "b".to_owned()];
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    c.s3.delete_object()
        .bucket(&bucket)
        .key(job.control.key(&lot_manifest_name(0)))
        .send()
        .await
        .expect("delete manifest");
    let out = job.run(moto, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ") && last.contains("lot manifest"),
        "{err}"
    );
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Failed);
    assert!(item.last_error.unwrap_or_default().contains("NoSuchKey"));

    // A lot that is not in the table: one clear line, exit 1.
    let out = run(
        moto,
        "worker",
        &[
            "--job-id",
            "no-such-job",
            "--lot",
            "0",
            "--table",
            &job.table,
            "--control",
            &job.control.to_string(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not in table"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_and_no_key_fails() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("throttle");
    let keys = many_objects(&c, &bucket, 200, 40).await;
    let job = Job::create(&moto, &c, &bucket, &keys, fast_settings()).await;
    // 20% of S3 object requests answer 503 SlowDown, 10% of DynamoDB writes are throttled.
    moto.configure(r#"{"s3_fault_rate": 0.2, "ddb_fault_rate": 0.1}"#);
    let out = job.run(&moto, &["--checkpoint-interval", "1"]);
    moto.configure(r#"{"s3_fault_rate": 0.0, "ddb_fault_rate": 0.0}"#);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    // The emulator saw more HEADs than the worker made calls: the faults were real and retried.
    let heads_seen = moto.stats()["s3:HeadObject"].as_u64().unwrap_or(0);
    let heads_made = sum["requests"]["s3_head"].as_u64().unwrap_or(0);
    assert!(
        heads_seen > heads_made + 10,
        "{heads_seen} HEADs seen for {heads_made} made"
    );
    let item = job.item(&c).await;
    assert_eq!(item.counters.failed, 0);
    assert_eq!(item.counters.done(), 200);
    assert_intact(&c, &bucket, &keys, 40).await;
    assert_no_uploads(&c, &bucket, "no upload left behind by failed parts").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_never_carry_credentials() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("secrets");
    let keys = many_objects(&c, &bucket, 20, 0).await;
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let (key_id, secret, token) = (
        "AKIATHAWSECRETID0001",
        "thaw-secret-value-0123456789",
        "thaw-session-token-9876543210",
    );
    for format in ["human", "json"] {
        let mut args = job.worker_args();
        args.extend(["--log-format".to_owned(), format.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(
            moto,
            "worker",
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", key_id),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_SESSION_TOKEN", token),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        for s in [key_id, secret, token] {
            assert!(!all.contains(s), "{format} logs leak a credential: {s}");
        }
        assert!(
            !all.contains("X-Amz-Signature") && !all.contains("Signature="),
            "{format} logs leak a signature"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_created_just_before_a_crash_is_aborted_on_resume() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("pending");
    create_bucket(&c, &bucket).await;
    let keys = vec!["big/object.bin".to_owned(), "small/a".to_owned()];
    put(
        &c,
        &bucket,
        &keys[0],
        "STANDARD",
        &body_for(&keys[0], 9 * MIB),
    )
    .await;
    put(&c, &bucket, &keys[1], "STANDARD", b"a").await;
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    // A run that died right after CreateMultipartUpload: the lot only says "pending" for key 0.
    c.s3.create_multipart_upload()
        .bucket(&bucket)
        .key(&keys[0])
        .send()
        .await
        .expect("create upload");
    // the record a worker writes before CreateMultipartUpload
    job.record_upload(&c, &UploadEntry::creating(0, now_secs() - 5))
        .await;

    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&out)["state"], "SUCCEEDED");
    assert_no_uploads(&c, &bucket, "the upload of the crashed run is aborted").await;
    assert!(job.item(&c).await.uploads.is_empty());
    assert_object(&c, &bucket, &keys[0])
        .body(body_for(&keys[0], 9 * MIB))
        .check()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_to_another_bucket_keep_everything_and_never_overwrite_newer() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let src = unique("src");
    let dst = unique("dst");
    create_bucket(&c, &src).await;
    create_bucket(&c, &dst).await;
    let keys: Vec<String> = ["src/a b.bin", "src/deep", "src/std", "src/ia", "src/newer"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    for (k, class) in keys.iter().zip([
        "GLACIER",
        "DEEP_ARCHIVE",
        "STANDARD",
        "STANDARD_IA",
        "GLACIER",
    ]) {
        c.s3.put_object()
            .bucket(&src)
            .key(k)
            .storage_class(S3Class::from(class))
            .metadata("owner", "ops")
            .tagging("project=thaw")
            .body(ByteStream::from(body_for(k, 300)))
            .send()
            .await
            .expect("put source");
    }
    // someone wrote the destination of src/newer after its source
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&c, &dst, "copy/newer", "STANDARD", b"newer data").await;

    let dest = Destination {
        bucket: dst.clone(),
        prefix: "copy/".into(),
        strip_prefix: "src/".into(),
        overwrite: false,
    };
    let job = Job::create_to(moto, &c, &src, &keys, fast_settings(), Some(dest.clone())).await;
    let before = moto.bucket_counts(&dst);
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // copies into another bucket are handed to its owner (bucket-owner-full-control): counted on
    // the destination bucket alone, so no other test's copies can make up the number
    let sent = moto.bucket_counts(&dst).since(&before);
    let owner_acl = sent.sum(&[
        "s3:CopyObject:acl=bucket-owner-full-control",
        "s3:CreateMultipartUpload:acl=bucket-owner-full-control",
    ]);
    let copies = sent.sum(&["s3:CopyObject", "s3:CreateMultipartUpload"]);
    assert_eq!(
        (owner_acl, copies),
        (keys.len() as u64 - 1, keys.len() as u64 - 1),
        "every copy to another bucket carries bucket-owner-full-control: {sent:?}"
    );
    let item = job.item(&c).await;
    assert_eq!(
        (item.counters.copied, item.counters.failed),
        (4, 1),
        "{:?}",
        item.counters
    );
    assert_eq!(
        item.checkpoint.failure_of(4).map(|f| f.0),
        Some("DestinationNewer")
    );
    for k in &keys[..4] {
        assert_object(&c, &dst, &dest.key_for(k))
            .class("STANDARD_IA")
            .body(body_for(k, 300))
            .metadata("owner", "ops")
            .tags(&[("project", "thaw")])
            .check()
            .await;
    }
    // the sources are untouched (still archived), the newer destination too
    assert_eq!(class_of(&c, &src, "src/deep").await, "DEEP_ARCHIVE");
    assert_eq!(get_body(&c, &dst, "copy/newer").await, b"newer data");

    // a rerun copies nothing again
    let out = job.run(moto, &[]);
    let sum = summary(&out);
    assert_eq!(sum["requests"]["s3_copy"], 0, "{sum}");

    // with --overwrite the newer destination is replaced
    let forced = Destination {
        overwrite: true,
        ..dest
    };
    let job = Job::create_to(moto, &c, &src, &keys[4..], fast_settings(), Some(forced)).await;
    let out = job.run(moto, &[]);
    assert_eq!(summary(&out)["state"], "SUCCEEDED", "{}", stderr(&out));
    assert_eq!(
        get_body(&c, &dst, "copy/newer").await,
        body_for("src/newer", 300)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_key_outside_the_job_prefix_is_refused() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("prefix");
    create_bucket(&c, &bucket).await;
    let keys = vec!["allowed/a".to_owned(), "secret/b".to_owned()];
    for k in &keys {
        put(&c, &bucket, k, "STANDARD", b"x").await;
    }
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    // the job was launched with --from s3://bucket/allowed/: rewrite its spec as launch does
    job.edit_spec(&c, &bucket, |spec| {
        spec.source_prefix = Some("allowed/".into())
    })
    .await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(
        item.checkpoint.failure_of(1).map(|f| f.0),
        Some("OutsideJobPrefix")
    );
    assert_eq!(class_of(&c, &bucket, "allowed/a").await, "STANDARD_IA");
    assert_eq!(
        class_of(&c, &bucket, "secret/b").await,
        "STANDARD",
        "never touched"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_destination_the_job_does_not_name_is_refused() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("src");
    let allowed = unique("allowed");
    let other = unique("other");
    for b in [&bucket, &allowed, &other] {
        create_bucket(&c, b).await;
    }
    put(&c, &bucket, "a", "STANDARD", b"x").await;
    put(&c, &bucket, "b", "STANDARD", b"y").await;
    // a pairs job copying to `allowed`, whose manifest was edited to send "b" to `other`
    let lines = vec![
        format!("a\u{1f}\u{1f}{allowed}\u{1f}copy/a"),
        format!("b\u{1f}\u{1f}{other}\u{1f}copy/b"),
    ];
    let job = Job::create(moto, &c, &bucket, &lines, fast_settings()).await;
    job.edit_spec(&c, &bucket, |spec| {
        spec.dest_buckets = vec![allowed.clone()];
        spec.input_format = "pairs".into();
    })
    .await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(
        item.checkpoint.failure_of(1).map(|f| f.0),
        Some("OutsideJobDestinations")
    );
    assert_eq!(class_of(&c, &allowed, "copy/a").await, "STANDARD_IA");
    assert_eq!(
        list_keys(&c, &other, "").await,
        Vec::<String>::new(),
        "nothing written to a bucket the job does not name"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_left_by_a_crash_between_copy_and_delete_is_finished_on_resume() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("pending");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let keys = vec!["copied".to_owned(), "not-copied".to_owned()];
    let mut sources = Vec::new();
    for k in &keys {
        let v =
            c.s3.put_object()
                .bucket(&bucket)
                .key(k)
                .body(ByteStream::from(k.as_bytes().to_vec()))
                .send()
                .await
                .expect("put")
                .version_id()
                .expect("version")
                .to_owned();
        sources.push(v);
    }
    // the earlier run copied "copied" and died before deleting its source version; it had
    // recorded both pending deletes, and never got to copy "not-copied"
    let copy =
        c.s3.copy_object()
            .bucket(&bucket)
            .key("copied")
            .copy_source(format!("{bucket}/copied"))
            .storage_class(S3Class::StandardIa)
            .send()
            .await
            .expect("copy")
            .version_id()
            .expect("copy version")
            .to_owned();
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    job.edit_spec(&c, &bucket, |spec| spec.delete_source_version = true)
        .await;
    for (i, v) in sources.iter().enumerate() {
        job.record_pending_delete(&c, i, v).await;
    }
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded, "{}", stderr(&out));
    assert!(
        item.uploads.is_empty(),
        "records dropped: {:?}",
        item.uploads
    );
    for (k, source) in keys.iter().zip(&sources) {
        let ids = version_ids(&c, &bucket, k).await;
        assert_eq!(ids.len(), 1, "{k}: only the copy is left: {ids:?}");
        assert_ne!(&ids[0], source, "{k}: the source version is gone");
        assert_object(&c, &bucket, k)
            .class("STANDARD_IA")
            .body(k)
            .check()
            .await;
    }
    // the copy the earlier run made was kept, not made again
    assert_eq!(version_ids(&c, &bucket, "copied").await[0], copy);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_delete_whose_copy_was_never_made_deletes_nothing() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let src = unique("movesrc");
    let dst = unique("movedst");
    create_bucket(&c, &src).await;
    create_bucket(&c, &dst).await;
    enable_versioning(&c, &src).await;
    // the destination already holds an older object of the same size, in the target class
    put(&c, &dst, "k", "STANDARD_IA", b"old!").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let version =
        c.s3.put_object()
            .bucket(&src)
            .key("k")
            .body(ByteStream::from(b"new!".to_vec()))
            .send()
            .await
            .expect("put")
            .version_id()
            .expect("version")
            .to_owned();
    let dest = Destination {
        bucket: dst.clone(),
        prefix: String::new(),
        strip_prefix: String::new(),
        overwrite: false,
    };
    let keys = vec!["k".to_owned()];
    let job = Job::create_to(moto, &c, &src, &keys, fast_settings(), Some(dest)).await;
    job.edit_spec(&c, &src, |spec| spec.delete_source_version = true)
        .await;
    // an earlier run recorded the delete, then died before (or while) copying
    job.record_pending_delete(&c, 0, &version).await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // the stale destination object was not taken for the copy: the source was copied for real
    // before its version went, so the data lives on at the destination
    assert_object(&c, &dst, "k")
        .class("STANDARD_IA")
        .body(b"new!")
        .check()
        .await;
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded, "{}", stderr(&out));
    assert_eq!(item.counters.copied, 1);
    assert!(item.uploads.is_empty(), "{:?}", item.uploads);
}

/// An object overwritten between the worker's HeadObject and its copy: the copy, pinned to the
/// ETag the HEAD saw (`x-amz-copy-source-if-match`), is refused with 412, and the key is looked
/// at again and copied whole: the new object's bytes in the target class, never the old
/// object's size or attributes over the new bytes. Single and multipart.
#[tokio::test(flavor = "multi_thread")]
async fn an_object_overwritten_after_its_head_is_copied_new_and_whole() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("changing");
    create_bucket(&c, &bucket).await;
    // (key, old size, new size): the multipart one grows, so parts cut for the old size would
    // copy only the start of the new object
    let objects = [
        ("changing/single", 3_000, 4_321),
        ("changing/multipart", 9 * MIB, 12 * MIB + 7),
    ];
    let keys: Vec<String> = objects.iter().map(|(k, ..)| k.to_string()).collect();
    for (key, old, new) in objects {
        put(&c, &bucket, key, "STANDARD", &body_for(key, old)).await;
        let staged = format!("staging/{key}");
        put(&c, &bucket, &staged, "STANDARD", &body_for(&staged, new)).await;
        moto.configure(
            &serde_json::json!({"overwrite_after_head":
                {"bucket": bucket, "key": key, "from_key": staged}})
            .to_string(),
        );
    }
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded, "{}", stderr(&out));
    assert_eq!((item.counters.copied, item.counters.failed), (2, 0));
    for (key, _, new) in objects {
        assert_object(&c, &bucket, key)
            .class("STANDARD_IA")
            .body(body_for(&format!("staging/{key}"), new))
            .check()
            .await;
    }
    let refused = |key: &str, op: &str| moto.object_counts(&bucket, key).get(op);
    assert_eq!(refused(&keys[0], "s3:CopyObject:412"), 1, "the stale copy");
    assert!(
        refused(&keys[1], "s3:UploadPartCopy:412") >= 1,
        "the stale part copies"
    );
    assert_no_uploads(&c, &bucket, "the refused multipart upload is aborted").await;
}

/// Expires, website redirect, SSE-KMS with a bucket key, object lock retention and legal hold
/// (in a bucket with Object Lock) and the checksum algorithm survive the copy, single part (where
/// the worker sends them on CopyObject) and multipart (where it passes each to
/// CreateMultipartUpload: S3 keeps none of them there).
#[tokio::test(flavor = "multi_thread")]
async fn expiry_redirect_bucket_key_lock_and_checksum_are_carried() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::{ChecksumAlgorithm, ObjectLockLegalHoldStatus, ObjectLockMode};
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("locked");
    create_lock_bucket(&c, &bucket).await;
    let until =
        DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 2 * 86_400);
    let kms = "arn:aws:kms:us-east-1:123456789012:key/thaw-lock";
    // (key, size, lock mode, checksum algorithm)
    let objects = [
        ("attrs/single", 3_000, "GOVERNANCE", "SHA256"),
        ("attrs/multipart", 9 * MIB + 5, "COMPLIANCE", "CRC32"),
    ];
    for (key, size, mode, checksum) in objects {
        c.s3.put_object()
            .bucket(&bucket)
            .key(key)
            .storage_class(S3Class::Glacier)
            .expires(DateTime::from_secs(1_893_553_445))
            .website_redirect_location(format!("/moved/{key}"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms)
            .bucket_key_enabled(true)
            .object_lock_mode(ObjectLockMode::from(mode))
            .object_lock_retain_until_date(until)
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .checksum_algorithm(ChecksumAlgorithm::from(checksum))
            .body(ByteStream::from(body_for(key, size)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
    let keys: Vec<String> = objects.iter().map(|(k, ..)| k.to_string()).collect();
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let out = job.run(moto, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(job.item(&c).await.counters.copied, 2, "{}", stderr(&out));
    for (key, size, mode, checksum) in objects {
        assert_object(&c, &bucket, key)
            .class("STANDARD_IA")
            .body(body_for(key, size))
            .expires("Wed, 02 Jan 2030 03:04:05 GMT")
            .website_redirect(&format!("/moved/{key}"))
            .sse(ServerSideEncryption::AwsKms)
            .kms_key(kms)
            .bucket_key(true)
            .lock_mode(mode)
            .retain_until(until)
            .legal_hold("ON")
            .checksum_algorithm(checksum)
            .check()
            .await;
    }
    let parts = moto
        .object_counts(&bucket, &keys[1])
        .get("s3:UploadPartCopy");
    assert_eq!(parts, 2, "the multipart object is copied in parts");
}

/// The JSON log lines of one worker run (stderr, `THAW_LOG_FORMAT=json`), each parsed; every line
/// must be one JSON object.
fn json_lines(out_stderr: &str) -> Vec<serde_json::Value> {
    out_stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

/// The lot state changes among `lines` (the lines with a `state`), in order; each must name the
/// job, the lot and `attempt`.
fn state_lines(lines: &[serde_json::Value], job: &Job, attempt: u64) -> Vec<serde_json::Value> {
    let states: Vec<serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("state").is_some())
        .cloned()
        .collect();
    for l in &states {
        assert_eq!(l["job"], job.job_id.as_str(), "{l}");
        assert_eq!(l["lot"], 0, "{l}");
        assert_eq!(l["attempt"], attempt, "{l}");
    }
    states
}

/// The end line of a run carries the lot's counters as the table records them.
fn assert_end_line(line: &serde_json::Value, state: &str, item: &LotItem) {
    let n = &item.counters;
    assert_eq!(line["state"], state, "{line}");
    for (field, value) in [
        ("keys_total", n.keys_total),
        ("copied", n.copied),
        ("skipped", n.skipped),
        ("failed", n.failed),
        ("restore_requested", n.restore_requested),
    ] {
        assert_eq!(line[field], value, "{field} in {line}");
    }
}

/// With `THAW_LOG_FORMAT=json` every line a worker logs is one JSON object, and every lot state
/// change (RUNNING, then WAITING, INTERRUPTED, FAILED or SUCCEEDED) is one line with the job,
/// lot, attempt, state and counters, as CloudWatch Logs Insights queries them.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_one_line_per_lot_state_change() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "600")]);
    let c = moto.clients().await;
    let bucket = unique("jsonlog");
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = ["a", "b", "c", "d", "missing"]
        .iter()
        .map(|k| format!("log/{k}"))
        .collect();
    for (k, class) in keys
        .iter()
        .zip(["GLACIER", "GLACIER", "STANDARD", "STANDARD"])
    {
        put(&c, &bucket, k, class, k.as_bytes()).await;
    }
    let settings = WorkerSettings {
        max_wait_secs: 1,
        ..fast_settings()
    };
    let job = Job::create(&moto, &c, &bucket, &keys, settings).await;
    let json = [("THAW_LOG_FORMAT", "json")];
    let args = job.worker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // restores pending past --max-wait: RUNNING, then WAITING with when to look again
    let out = run(&moto, "worker", &args, &json);
    assert!(out.status.success(), "{}", stderr(&out));
    let states = state_lines(&json_lines(&stderr(&out)), &job, 1);
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states[0]["state"], "RUNNING");
    assert_eq!(states[0]["keys_total"], 5);
    let item = job.item(&c).await;
    assert_end_line(&states[1], "WAITING", &item);
    assert_eq!(
        states[1]["next_check_at"],
        item.next_check_at.expect("next check")
    );

    // stopped by SIGTERM while polling: RUNNING, then INTERRUPTED (the signal is sent once the
    // run has looked at an object: a SIGTERM before its first pass is lost, see
    // sigterm_before_the_first_pass_stops_the_worker)
    let heads = || moto.object_counts(&bucket, &keys[0]).get("s3:HeadObject");
    let heads_before = heads();
    let mut child = job.spawn(&moto, &["--log-format", "json", "--max-wait", "300"]);
    wait_for_run(&c, &job, &mut child, 0, Some(2)).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while heads() == heads_before {
        assert!(
            Instant::now() < deadline,
            "the second run never looked at {}",
            keys[0]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let states = state_lines(&json_lines(&stderr(&out)), &job, 2);
    let names: Vec<&str> = states.iter().filter_map(|s| s["state"].as_str()).collect();
    assert_eq!(names, ["RUNNING", "INTERRUPTED"]);
    assert_end_line(&states[1], "INTERRUPTED", &job.item(&c).await);

    // restores done, one key missing: RUNNING, then FAILED with the counts
    moto.configure(r#"{"restore_delay": 0}"#);
    let out = run(&moto, "worker", &args, &json);
    assert!(out.status.success(), "{}", stderr(&out));
    let states = state_lines(&json_lines(&stderr(&out)), &job, 3);
    let names: Vec<&str> = states.iter().filter_map(|s| s["state"].as_str()).collect();
    assert_eq!(names, ["RUNNING", "FAILED"]);
    let item = job.item(&c).await;
    assert_eq!((item.counters.copied, item.counters.failed), (4, 1));
    assert_end_line(&states[1], "FAILED", &item);

    // a lot of keys that are all there: RUNNING, then SUCCEEDED
    let done = Job::create(&moto, &c, &bucket, &keys[2..4], fast_settings()).await;
    let args = done.worker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&moto, "worker", &args, &json);
    let states = state_lines(&json_lines(&stderr(&out)), &done, 1);
    let names: Vec<&str> = states.iter().filter_map(|s| s["state"].as_str()).collect();
    assert_eq!(names, ["RUNNING", "SUCCEEDED"], "{}", stderr(&out));
    assert_end_line(&states[1], "SUCCEEDED", &done.item(&c).await);
}

/// A lot the worker marks FAILED because it cannot run at all (here: its manifest is gone) is a
/// state change too: with JSON logs it must be a JSON line with the state, like every other.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_a_line_for_a_lot_failed_by_a_fatal_error() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("jsonfatal");
    create_bucket(&c, &bucket).await;
    let keys = vec!["a".to_owned()];
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    c.s3.delete_object()
        .bucket(&bucket)
        .key(job.control.key(&lot_manifest_name(0)))
        .send()
        .await
        .expect("delete manifest");
    let args = job.worker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(moto, "worker", &args, &[("THAW_LOG_FORMAT", "json")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(job.item(&c).await.state, LotState::Failed);
    let states = state_lines(&json_lines(&stderr(&out)), &job, 1);
    assert_eq!(
        states.last().map(|s| &s["state"]),
        Some(&"FAILED".into()),
        "{states:?}"
    );
}

/// A SIGTERM that comes while the worker is still getting ready (here: reading its manifest,
/// which the emulator holds for 20 s, after the lot turned RUNNING) stops it as cleanly as one
/// in the middle of a pass: no key taken, checkpoint written, INTERRUPTED, exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_before_the_first_pass_stops_the_worker() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("earlyterm");
    let keys = many_objects(&c, &bucket, 20, 0).await;
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let manifest = job.control.key(&lot_manifest_name(0));
    moto.configure(
        &serde_json::json!({"delay_next": {"bucket": bucket, "key": manifest, "seconds": 20}})
            .to_string(),
    );
    let mut child = job.spawn(moto, &[]);
    wait_for_run(&c, &job, &mut child, 0, Some(1)).await;
    let t0 = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(
        // well inside the task definition's stopTimeout (120 s), with room for a loaded machine
        t0.elapsed() < Duration::from_secs(60),
        "stopped in {:?}",
        t0.elapsed()
    );
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Interrupted, "{:?}", item.counters);
    assert_eq!(item.counters.done(), 0, "no key taken after the signal");
}

/// With JSON logs a worker writes CloudWatch metric documents (EMF) on stderr: each a valid
/// document (namespace thaw, dimension job, every declared metric present), `running_tasks` 1
/// while it runs and 0 in its last one, and their deltas add up to what the run did. The
/// documents have no `state`: they are not lot state changes.
#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_metric_documents_that_add_up_to_the_lot() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("emf");
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = ["a", "b", "c", "d", "e", "missing"]
        .iter()
        .map(|k| format!("emf/{k}"))
        .collect();
    for (k, class) in keys
        .iter()
        .zip(["GLACIER", "GLACIER", "STANDARD", "STANDARD", "STANDARD_IA"])
    {
        put(&c, &bucket, k, class, k.as_bytes()).await;
    }
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    let mut args = job.worker_args();
    args.extend(["--emf-interval".into(), "1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(moto, "worker", &args, &[("THAW_LOG_FORMAT", "json")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&stderr(&out));
    let docs: Vec<&serde_json::Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    let (last, running) = docs.split_last().expect("at least the last document");
    assert_eq!(last["running_tasks"], 0, "{last}");
    let mut sums: HashMap<String, u64> = HashMap::new();
    for doc in &docs {
        assert!(doc.get("state").is_none(), "{doc}");
        assert_eq!(doc["job"], job.job_id.as_str(), "{doc}");
        assert_eq!(doc["lot"], 0, "{doc}");
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "thaw", "{doc}");
        assert_eq!(
            directive["Dimensions"],
            serde_json::json!([["job"]]),
            "{doc}"
        );
        assert!(doc["_aws"]["Timestamp"].is_i64(), "{doc}");
        let declared = directive["Metrics"].as_array().expect("metrics");
        assert_eq!(declared.len(), thaw_common::emf::METRICS.len(), "{doc}");
        for m in declared {
            let name = m["Name"].as_str().expect("metric name");
            let v = doc[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} in {doc}"));
            *sums.entry(name.to_owned()).or_default() += v;
        }
    }
    for doc in running {
        assert_eq!(doc["running_tasks"], 1, "{doc}");
    }
    let n = job.item(&c).await.counters;
    assert_eq!((n.copied, n.skipped, n.failed), (4, 1, 1), "{n:?}");
    for (metric, value) in [
        ("keys_copied", n.copied),
        ("keys_skipped", n.skipped),
        ("keys_failed", n.failed),
        ("keys_throttled", n.throttled),
        ("restores_requested", n.restore_requested),
        ("bytes_copied", n.bytes_copied),
    ] {
        assert_eq!(sums[metric], value, "{metric}: {docs:?}");
    }
    assert_eq!(n.restore_requested, 2);
    assert_eq!(sums["running_tasks"], running.len() as u64);

    // Human log lines carry no metric document.
    let again = Job::create(moto, &c, &bucket, &keys[2..4], fast_settings()).await;
    let args = again.worker_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(moto, "worker", &args, &[("THAW_EMF_INTERVAL", "1")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("_aws"), "{}", stderr(&out));
}
