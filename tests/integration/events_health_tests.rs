//! `follow --events` health: a queue it cannot reach is refused at start (one line, before any
//! look), and restore events whose restored copy already expired (old messages of a 14-day
//! queue) are deleted as stale, not counted; foreign messages outnumbering counted ones warn
//! that the queue looks shared.

use std::process::Command;

use thaw_common::checkpoint::LotState;
use thaw_common::restore_event::envelope;

use crate::events_follow_tests::{endpoint, events, left, queue, send, sqs, waiting_job, Follow};
use crate::rig::*;

#[tokio::test(flavor = "multi_thread")]
async fn follow_refuses_a_queue_it_cannot_reach() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evbad");
    let keys = archived(&c, &bucket, 3).await;
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    let url = format!("{}/123456789012/no-such-queue", endpoint(moto));
    let mut cmd = Command::new(bin("coordinator"));
    cmd.args(["follow", &job, "--table", &table, "--events", &url]);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run follow");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("is not reachable"), "{err}");
    assert!(err.contains("GetQueueAttributes"), "{err}");
    let after = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (after.state, after.attempt),
        (LotState::Waiting, lot.attempt)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_events_are_deleted_uncounted_and_a_shared_queue_is_named() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evstale");
    let keys = archived(&c, &bucket, 10).await;
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    moto.configure(r#"{"restore_heads": 0}"#);
    let q = sqs(moto).await;
    let url = queue(&q).await;
    // every key of the lot, but each restored copy expired in 2020: nothing to bring forward
    let stale: Vec<String> = keys
        .iter()
        .map(|k| envelope(&bucket, k, None, "2020-01-01T00:00:00.000Z"))
        .collect();
    send(&q, &url, &stale).await;
    send(&q, &url, &events("another-bucket", &keys)).await;
    let follow = Follow::every(moto, &table, &job, &url, "1", &[]);
    follow.until_written("events 0 counted, 10 foreign, 10 stale (queue shared?", 2);
    assert_eq!(
        left(&q, &url).await,
        0,
        "stale and foreign messages are deleted"
    );
    let out = follow.stop();
    assert_eq!(
        out.matches("queue shared? They are deleted").count(),
        1,
        "warned once: {out}"
    );
    let after = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (after.state, after.attempt),
        (LotState::Waiting, lot.attempt),
        "not brought forward: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_queue_for_a_bucket_is_added_beside_the_first() {
    use crate::events_setup_tests::{archive_and_restore, drain, queue_url};
    build_binaries();
    let moto = Moto::start();
    moto.configure(r#"{"restore_delay": 1, "restore_delay_max": 2}"#);
    let c = moto.clients().await;
    let q = sqs(&moto).await;
    let bucket = unique("evtwo");
    create_bucket(&c, &bucket).await;
    let setup = |extra: &[&str]| {
        let mut args = vec!["events", "setup", "--bucket", &bucket];
        args.extend_from_slice(extra);
        assert_success(run(&moto, "coordinator", &args, &[]), "events setup")
    };
    let first = queue_url(&setup(&[]));
    let second_name = unique("thaw-restore-job2");
    let out = setup(&["--queue", &second_name]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("rule target {second_name}: created")),
        "{text}"
    );
    let second = queue_url(&out);
    // run again: both targets there, nothing changed
    let again = stdout(&setup(&["--queue", &second_name]));
    assert!(
        again.contains(&format!("rule target {second_name}: unchanged")),
        "{again}"
    );
    let keys: Vec<String> = (0..3).map(|i| format!("k{i}")).collect();
    archive_and_restore(&c, &bucket, &keys).await;
    let (a, _) = drain(&q, &first, keys.len()).await;
    let (b, _) = drain(&q, &second, keys.len()).await;
    assert_eq!(
        a.len(),
        keys.len(),
        "the first queue still gets every event"
    );
    assert_eq!(b.len(), keys.len(), "the second queue gets every event too");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_follow_and_removes_its_index_and_dead_sessions_ones() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evterm");
    let mut keys = archived(&c, &bucket, 5).await;
    keys.reverse(); // scattered: the lot maps through the on-disk index
    let (table, job, _pt, _lot) = waiting_job(moto, &c, &bucket, &keys).await;
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let tmp = std::env::temp_dir().join(unique("evtmp"));
    // left by a session of this job killed with SIGKILL: no process has this pid
    let dead = tmp.join(format!("thaw-events-{job}-4294967295"));
    std::fs::create_dir_all(&dead).expect("mkdir");
    let log = tmp.join("follow.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut cmd = Command::new(bin("coordinator"));
    cmd.args([
        "follow",
        &job,
        "--table",
        &table,
        "--events",
        &url,
        "--interval",
        "600",
    ]);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("TMPDIR", &tmp)
        .env("THAW_LOG_FORMAT", "human")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file);
    let mut child = cmd.spawn().expect("start follow");
    let index = tmp.join(format!("thaw-events-{job}-{}", child.id()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // the first progress line: the index is built and follow is pausing
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("events 0 counted")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(index.exists(), "the session's index");
    assert!(!dead.exists(), "a dead session's index is removed");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!status.success(), "{out}");
    assert!(out.contains("interrupted: resume with"), "{out}");
    assert!(!index.exists(), "removed on SIGTERM: {out}");
    let _ = std::fs::remove_dir_all(&tmp);
}
