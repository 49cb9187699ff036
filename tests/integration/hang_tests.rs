//! Drills for requests that never answer (`tests/emulator_hang.py`): a hung copy request does
//! not hang its lot (it is abandoned after its attempt timeout and sent again; the lot ends
//! SUCCEEDED with every object intact), and a worker whose requests all hang stops heartbeating
//! so the coordinator can find it dead (a relaunch then fences it off).
//!
//! Each drill has an emulator of its own (the rules hold requests of its bucket) and small
//! timeouts, given as the environment a launch passes on, so a build without them hangs (and
//! the drill fails at its deadline) instead of refusing an unknown flag.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use thaw_common::checkpoint::LotState;
use thaw_common::fixtures::JobSpecBuilder;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::spec::{lot_manifest_name, WorkerSettings, JOB_SPEC_NAME};

use crate::rig::*;

const MIB: usize = 1024 * 1024;

/// One lot of `objects` (key, size) in a new bucket, written as `launch` would.
struct HangLot {
    bucket: String,
    table: String,
    job_id: String,
    control: String,
    keys: Vec<(String, usize)>,
}

fn body_of(key: &str, len: usize) -> Vec<u8> {
    let seed = key
        .bytes()
        .fold(11u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect()
}

impl HangLot {
    async fn create(c: &Clients, objects: &[(&str, usize)]) -> HangLot {
        let bucket = unique("hang");
        create_bucket(c, &bucket).await;
        let table = unique("table");
        let ddb = ProgressTable::new(c.ddb.clone(), &table);
        ddb.create_if_missing().await.expect("create table");
        let job_id = unique("job");
        let keys: Vec<(String, usize)> = objects
            .iter()
            .map(|(k, n)| (format!("data/{k}"), *n))
            .collect();
        for (k, n) in &keys {
            put(c, &bucket, k, "STANDARD", &body_of(k, *n)).await;
        }
        let spec = JobSpecBuilder::new(&job_id, &bucket)
            .keys_total(keys.len() as u64)
            .table(&table)
            .worker(WorkerSettings {
                concurrency: 4,
                restore_rate: 10.0,
                max_wait_secs: 60,
                poll_interval_secs: Some(1),
                multipart_threshold: 8 * MIB as u64,
                part_size: 5 * MIB as u64,
            })
            .build();
        let control = spec.control.clone();
        let put_raw = |key: String, body: Vec<u8>| {
            c.s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
        };
        put_raw(
            control.key(JOB_SPEC_NAME),
            serde_json::to_vec(&spec).expect("spec"),
        )
        .await
        .expect("put spec");
        let manifest = control.key(&lot_manifest_name(0));
        let lines: String = keys.iter().map(|(k, _)| format!("{k}\n")).collect();
        put_raw(manifest.clone(), lines.into_bytes())
            .await
            .expect("put manifest");
        ddb.put_lot_if_absent(
            &job_id,
            0,
            keys.len() as u64,
            &format!("s3://{bucket}/{manifest}"),
        )
        .await
        .expect("put lot");
        HangLot {
            bucket,
            table,
            job_id,
            control: control.to_string(),
            keys,
        }
    }

    /// Starts the worker binary on the lot with `env` besides the emulator's.
    fn spawn(&self, moto: &Moto, env: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(bin("worker"));
        cmd.args([
            "--job-id",
            &self.job_id,
            "--lot",
            "0",
            "--table",
            &self.table,
        ])
        .args(["--control", &self.control]);
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.env("THAW_LOG_FORMAT", "human");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn worker")
    }

    async fn item(&self, c: &Clients) -> LotItem {
        ProgressTable::new(c.ddb.clone(), &self.table)
            .get_lot(&self.job_id, 0)
            .await
            .expect("get lot")
            .expect("lot exists")
    }
}

/// Waits for `child` to exit (killing it and failing past `deadline`); its output.
fn wait_or_kill(mut child: Child, deadline: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{what}: still running after {deadline:?}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stat(stats: &serde_json::Value, op: &str) -> u64 {
    stats.get(op).and_then(|v| v.as_u64()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_copy_requests_are_abandoned_and_sent_again_and_the_lot_succeeds() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let lot = HangLot::create(
        &c,
        &[
            ("a", 100),
            ("b", 200),
            ("c", 300),
            ("d", 400),
            ("big", 12 * MIB),
        ],
    )
    .await;
    // The 2nd CopyObject, the 1st UploadPartCopy and the 1st CompleteMultipartUpload of the
    // bucket are held for as long as the emulator lives: connections that never answer.
    let hold = |op: &str, nth: u32| serde_json::json!({"op": op, "match": format!("/{}/data/", lot.bucket), "nth": [nth]});
    moto.configure(
        &serde_json::json!({"hangs": {
            "copy": hold("s3:CopyObject", 2),
            "part": hold("s3:UploadPartCopy", 1),
            "complete": hold("s3:CompleteMultipartUpload", 1),
        }})
        .to_string(),
    );
    let child = lot.spawn(
        &moto,
        &[
            // 5 s a request (50 s a completion): a held request is given up in seconds, and a
            // real answer slowed by a loaded machine is not taken for a held one
            ("THAW_AWS_ATTEMPT_TIMEOUT", "5"),
            ("THAW_MIN_COPY_RATE", "1024"),
        ],
    );
    let out = wait_or_kill(child, Duration::from_secs(180), "worker with hung requests");
    assert!(
        out.status.success(),
        "worker failed\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = lot.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded, "{:?}", item.checkpoint);
    assert_eq!((item.counters.copied, item.counters.failed), (5, 0));
    assert!(item.uploads.is_empty(), "{:?}", item.uploads);
    for (k, n) in &lot.keys {
        assert_eq!(class_of(&c, &lot.bucket, k).await, "STANDARD_IA", "{k}");
        assert_eq!(get_body(&c, &lot.bucket, k).await, body_of(k, *n), "{k}");
    }
    // Each held request was sent once more, and only it: the multipart upload was neither
    // aborted nor started again for its lost part or its lost completion.
    let stats = moto.stats();
    assert_eq!(stat(&stats, "s3:CopyObject"), 4 + 1, "{stats}");
    assert_eq!(stat(&stats, "s3:UploadPartCopy"), 3 + 1, "{stats}");
    assert_eq!(stat(&stats, "s3:POST:multipart"), 1 + 1, "{stats}");
    assert_eq!(stat(&stats, "s3:CreateMultipartUpload"), 1, "{stats}");
    assert_eq!(stat(&stats, "s3:DELETE:multipart"), 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_requests_all_hang_stops_heartbeating_and_a_relaunch_fences_it() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let lot = HangLot::create(&c, &[("a", 10), ("b", 20), ("c", 30)]).await;
    // Every request about the lot's objects is held; the job's own files and the table answer.
    moto.configure(
        &serde_json::json!({"hangs": {
            "all": {"op": "*", "match": format!("/{}/data/", lot.bucket)},
        }})
        .to_string(),
    );
    let child = lot.spawn(
        &moto,
        &[
            ("THAW_AWS_ATTEMPT_TIMEOUT", "1"),
            // The SDK keeps trying: the keys stay in flight, none makes progress.
            ("THAW_AWS_MAX_ATTEMPTS", "1000"),
            ("THAW_HEARTBEAT", "1"),
            ("THAW_CHECKPOINT_INTERVAL", "1"),
            ("THAW_KEY_TIMEOUT", "600"),
            ("THAW_STALL_TIMEOUT", "2"),
            ("THAW_SHUTDOWN_GRACE", "0"),
        ],
    );
    // The worker started (its first write), then falls silent: no heartbeat for 5 heartbeat
    // intervals in a row.
    let start = Instant::now();
    let (mut last, mut since) = (None, Instant::now());
    let silent = loop {
        let item = lot.item(&c).await;
        if item.state == LotState::Running && item.heartbeat_at.is_some() {
            if item.heartbeat_at != last {
                (last, since) = (item.heartbeat_at, Instant::now());
            } else if since.elapsed() > Duration::from_secs(5) {
                break item;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the worker kept heartbeating (last {last:?}) with every request hung"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(silent.counters.done(), 0);
    assert_eq!(silent.attempt, 1);

    // The coordinator finds the lot stale and relaunches it (a new attempt); the silent worker,
    // stopped, learns it at its last write and writes nothing.
    let table = ProgressTable::new(c.ddb.clone(), &lot.table);
    assert!(table
        .claim_launch(&lot.job_id, 0, 1, LotState::Running)
        .await
        .expect("claim"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = wait_or_kill(child, Duration::from_secs(60), "stopped worker");
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = lot.item(&c).await;
    assert_eq!(after.attempt, 2);
    assert_eq!(after.heartbeat_at, silent.heartbeat_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_part_and_a_slow_completion_are_waited_for_past_stalled_stream_protection() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let lot = HangLot::create(&c, &[("big", 12 * MIB)]).await;
    // S3 answers 200 at once and the body when the part is copied / the object assembled: here
    // 23 s later, past the SDK's 20 s stalled-stream grace period (smithy-lang/smithy-rs#4439).
    let stall = |op: &str| {
        serde_json::json!({"op": op, "match": format!("/{}/data/", lot.bucket), "nth": [1],
                           "mode": "stall", "seconds": 23})
    };
    moto.configure(
        &serde_json::json!({"hangs": {
            "part": stall("s3:UploadPartCopy"),
            "complete": stall("s3:CompleteMultipartUpload"),
        }})
        .to_string(),
    );
    let child = lot.spawn(&moto, &[("THAW_AWS_ATTEMPT_TIMEOUT", "60")]);
    let out = wait_or_kill(child, Duration::from_secs(240), "worker with slow answers");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item = lot.item(&c).await;
    assert_eq!(item.state, LotState::Succeeded, "{:?}", item.checkpoint);
    assert_eq!((item.counters.copied, item.counters.failed), (1, 0));
    let (k, n) = &lot.keys[0];
    assert_eq!(class_of(&c, &lot.bucket, k).await, "STANDARD_IA");
    assert_eq!(get_body(&c, &lot.bucket, k).await, body_of(k, *n));
    // The slow answers were waited for: nothing was sent twice.
    let stats = moto.stats();
    assert_eq!(stat(&stats, "s3:UploadPartCopy"), 3, "{stats}");
    assert_eq!(stat(&stats, "s3:POST:multipart"), 1, "{stats}");
    assert_eq!(stat(&stats, "s3:DELETE:multipart"), 0, "{stats}");
}
