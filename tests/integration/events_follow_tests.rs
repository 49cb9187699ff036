//! `follow --events QUEUE_URL` (issue 15 part 3): restore-completed events, put into an SQS queue
//! of the emulator in the exact envelope S3 sends through EventBridge, bring a WAITING lot
//! forward: its scheduled check is an hour away (as a Bulk restore's would be), `follow` looks
//! only every ten minutes, and yet the lot is looked at and launched once its events arrive.
//! Restores are held by the emulator's `restore_heads` (ongoing until the test says otherwise),
//! so what a look sees is exact whatever the machine's speed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{now_secs, LookBy, LotItem, ProgressTable, ReadyLook};
use thaw_common::restore_event::envelope;

use crate::rig::*;

const LIST: &str = "s3:ListObjectsV2:RestoreStatus";

/// A WAITING one-lot job over `keys` (in that order) whose next check is an hour away; its lot.
pub(crate) async fn waiting_job(
    moto: &Moto,
    c: &Clients,
    bucket: &str,
    keys: &[String],
) -> (String, String, ProgressTable, LotItem) {
    waiting_lots(moto, c, bucket, keys, 1).await
}

/// A WAITING job of `lots` lots over `keys` (in that order) whose next checks are an hour away;
/// its lot 0.
pub(crate) async fn waiting_lots(
    moto: &Moto,
    c: &Clients,
    bucket: &str,
    keys: &[String],
    lots: u32,
) -> (String, String, ProgressTable, LotItem) {
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let file = write_keys(keys);
    launch_local_ok(
        moto,
        &table,
        bucket,
        &job,
        &file,
        &["--lots", &lots.to_string(), "--max-wait", "1"],
    );
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    for n in 0..lots {
        let lot = pt.get_lot(&job, n).await.expect("get").expect("lot");
        assert_eq!(lot.state, LotState::Waiting, "{lot:?}");
        // as a Bulk restore's first check would be: far off
        let look = ReadyLook {
            done: 0,
            looked: lot.counters.keys_total,
            by: LookBy::List,
            at: now_secs(),
            attempt: lot.attempt,
        };
        pt.defer_waiting(&job, n, lot.attempt, now_secs() + 3600, look, None)
            .await
            .expect("defer");
    }
    let lot = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    (table, job, pt, lot)
}

pub(crate) fn endpoint(moto: &Moto) -> String {
    moto.env()
        .into_iter()
        .find(|(k, _)| k == "THAW_ENDPOINT_URL")
        .map(|(_, v)| v)
        .expect("endpoint")
}

pub(crate) async fn sqs(moto: &Moto) -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "rig");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint(moto))
        .credentials_provider(creds)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&conf)
}

pub(crate) async fn queue(q: &aws_sdk_sqs::Client) -> String {
    q.create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_owned()
}

pub(crate) async fn send(q: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) {
    for b in bodies {
        q.send_message()
            .queue_url(url)
            .message_body(b)
            .send()
            .await
            .expect("send");
    }
}

/// Messages left in the queue, visible or being handled.
pub(crate) async fn left(q: &aws_sdk_sqs::Client, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = q
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attributes");
    out.attributes()
        .map(|a| {
            a.values()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
        })
        .unwrap_or(0)
}

/// The restore-completed events of `keys` in `bucket`.
pub(crate) fn events(bucket: &str, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| envelope(bucket, k, None, "2030-01-01T00:00:00.000Z"))
        .collect()
}

/// `follow JOB --events URL`, looking at the table every ten minutes by itself (its lots' own
/// checks aside: the rig's `--poll-interval 1` makes a lot looked at and deferred due a second
/// later); its output goes
/// to a file (a pipe nobody reads could fill and stop it).
pub(crate) struct Follow {
    child: Child,
    log: std::path::PathBuf,
}

impl Follow {
    pub(crate) fn start(moto: &Moto, table: &str, job: &str, url: &str, extra: &[&str]) -> Self {
        Self::every(moto, table, job, url, "600", extra)
    }

    /// `follow`, looking every `interval` seconds.
    pub(crate) fn every(
        moto: &Moto,
        table: &str,
        job: &str,
        url: &str,
        interval: &str,
        extra: &[&str],
    ) -> Self {
        let log = std::env::temp_dir().join(unique("follow-log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin("coordinator"));
        cmd.args([
            "follow",
            job,
            "--table",
            table,
            "--events",
            url,
            "--interval",
            interval,
        ]);
        cmd.args(extra);
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        cmd.env("THAW_LOG_FORMAT", "human")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        Self {
            child: cmd.spawn().expect("start follow"),
            log,
        }
    }

    /// Waits (up to three minutes) until what `follow` wrote holds `line` `times` times.
    pub(crate) fn until_written(&self, line: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let out = std::fs::read_to_string(&self.log).unwrap_or_default();
            if out.matches(line).count() >= times {
                return;
            }
            assert!(Instant::now() < deadline, "never wrote {line:?}: {out}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops `follow`; what it wrote.
    pub(crate) fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        out
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to three minutes) until `what` holds of lot 0.
async fn until(pt: &ProgressTable, job: &str, what: impl Fn(&LotItem) -> bool) -> LotItem {
    until_lot(pt, job, 0, what).await
}

/// Waits (up to three minutes) until `what` holds of lot `lot`.
pub(crate) async fn until_lot(
    pt: &ProgressTable,
    job: &str,
    lot: u32,
    what: impl Fn(&LotItem) -> bool,
) -> LotItem {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let item = pt.get_lot(job, lot).await.expect("get").expect("lot");
        if what(&item) {
            return item;
        }
        assert!(Instant::now() < deadline, "never came: {item:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sorted or scattered, a lot whose events arrive is launched long before its check: one task.
async fn launched_by_its_events(scattered: bool) {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique(if scattered { "evscat" } else { "evsort" });
    let mut keys = archived(&c, &bucket, 30).await;
    if scattered {
        keys.reverse(); // not in S3's order: the lot maps through the on-disk index
    }
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    let expected_order = if scattered { "scattered" } else { "sorted" };
    assert_eq!(lot.key_order.as_str(), expected_order);
    assert_eq!(lot.key_range.is_some(), !scattered, "{lot:?}");
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let dir = std::env::temp_dir().join(unique("evindex"));
    let dir_arg = dir.to_str().expect("utf-8").to_owned();
    let follow = Follow::start(moto, &table, &job, &url, &["--events-index-dir", &dir_arg]);

    // the restores finish and S3 says so for 28 of 30 keys (93%: two events were lost)
    moto.configure(r#"{"restore_heads": 0}"#);
    let lists = moto.bucket_counts(&bucket).get(LIST);
    send(&q, &url, &events(&bucket, &keys[..28])).await;
    let done = until(&pt, &job, |l| l.state == LotState::Succeeded).await;
    let out = follow.stop();
    assert_eq!(done.counters.copied, 30);
    assert_eq!(done.attempt, lot.attempt + 1, "one task start: {out}");
    assert!(out.contains("1 lots due early"), "{out}");
    if scattered {
        // the look is a HEAD sample; the worker's own polls list nothing either
        assert_eq!(moto.bucket_counts(&bucket).get(LIST), lists);
        let bytes: u64 = std::fs::read_dir(&dir)
            .expect("index dir")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum();
        assert_eq!(bytes, 30 * 12, "12 bytes a key");
    } else {
        // the look that confirmed before the task started lists the lot
        assert!(moto.bucket_counts(&bucket).get(LIST) > lists);
        assert!(!dir.exists(), "no scattered lot: no index");
    }
    assert_eq!(left(&q, &url).await, 0, "every message counted was deleted");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_launches_a_sorted_lot_once_its_events_arrive() {
    launched_by_its_events(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_maps_a_scattered_lot_through_its_index() {
    launched_by_its_events(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_events_bring_a_look_forward_but_no_task() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evdup");
    let keys = archived(&c, &bucket, 10).await;
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    let q = sqs(moto).await;
    let url = queue(&q).await;
    // looking every 2 s, so the look after the one the events brought records the reset count
    let follow = Follow::every(moto, &table, &job, &url, "2", &[]);
    // ten events, all for two keys (at least once: repeated), none of the restores done
    let dup: Vec<String> = (0..10).map(|i| keys[i % 2].clone()).collect();
    send(&q, &url, &events(&bucket, &dup)).await;
    let first_look = lot.ready_look.expect("look").at;
    let looked = until(&pt, &job, |l| {
        l.ready_look.is_some_and(|r| r.at > first_look)
    })
    .await;
    // the look saw nothing done: no task, a later check
    let seen = looked.ready_look.expect("look");
    assert_eq!((seen.done, seen.looked, seen.by), (0, 10, LookBy::List));
    assert_eq!(
        (looked.state, looked.attempt),
        (LotState::Waiting, lot.attempt)
    );
    // (the check is one poll interval after the look: compared with the look's own time, as
    // it may already have come and gone on a loaded machine)
    assert!(
        looked.next_check_at.is_some_and(|t| t > seen.at),
        "{looked:?}"
    );
    // the count becomes what the look saw (none done), recorded for `status`
    until(&pt, &job, |l| l.current_events() == Some(0)).await;
    let st = status_json(moto, &table, &job);
    assert_eq!(st["lots"][0]["events_counted"], 0, "{st}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while left(&q, &url).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(left(&q, &url).await, 0);
    let out = follow.stop();
    let after = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (after.state, after.attempt),
        (LotState::Waiting, lot.attempt),
        "{out}"
    );
    assert_eq!(after.counters.copied, 0, "{out}");
    assert!(out.contains("1 lots due early"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_events_are_deleted_and_bring_nothing_forward() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evown");
    let keys = archived(&c, &bucket, 10).await;
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    // restores done: a lot brought forward would be launched
    moto.configure(r#"{"restore_heads": 0}"#);
    let lists = moto.bucket_counts(&bucket).get(LIST);
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let mut foreign = events("another-bucket", &keys); // the same keys, another bucket
    foreign.extend(events(&bucket, &["other/key".to_owned(), "z".to_owned()])); // not the job's
    let created = envelope(&bucket, &keys[0], None, "x")
        .replace("Object Restore Completed", "Object Created");
    foreign.extend(std::iter::repeat_n(created, 10)); // another detail-type
    foreign.push("{\"not\": \"an event\"}".to_owned());
    send(&q, &url, &foreign).await;
    // looking every second: the second look that shows every message counted made its
    // verdict after they all were
    let follow = Follow::every(moto, &table, &job, &url, "1", &[]);
    // every message handled and deleted (foreign ones too), then two more looks
    let deadline = Instant::now() + Duration::from_secs(60);
    while left(&q, &url).await > 0 {
        assert!(
            Instant::now() < deadline,
            "foreign messages are deleted too"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let looks = std::fs::read_to_string(&follow.log)
        .unwrap_or_default()
        .matches("events 0 counted")
        .count();
    follow.until_written("events 0 counted", looks + 2);
    let out = follow.stop();
    // SQS delivers at least once: a message may be received twice (counted twice), never lost
    let last = out
        .lines()
        .rfind(|l| l.contains("events 0 counted"))
        .unwrap_or_default();
    for (kind, sent) in [("foreign", 12), ("other", 10), ("malformed", 1)] {
        let n: u64 = last
            .split(", ")
            .find_map(|part| part.split_once(' ').filter(|(_, k)| k.starts_with(kind)))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or(0);
        assert!(n >= sent, "{kind}: {n} of {sent}: {last}");
    }
    let after = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (after.state, after.attempt, after.ready_look),
        (LotState::Waiting, lot.attempt, lot.ready_look),
        "not looked at, not launched: {out}"
    );
    assert_eq!(moto.bucket_counts(&bucket).get(LIST), lists, "{out}");
}

/// `a b` and `a+b` in two lots (a `+` read as a space, or the other way, would count one lot's
/// key for the other): lot 1's events alone make it due (`--ready-fraction 1`), lot 0 waits for
/// its `a b`, and then goes too.
#[tokio::test(flavor = "multi_thread")]
async fn keys_with_spaces_plus_percent_and_unicode_map_to_their_lot() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evkeys");
    create_bucket(&c, &bucket).await;
    // lot 0 the first three, lot 1 the last three
    let keys: Vec<String> = ["a b", "日本/ключ", "100%", "a+b", "x%20y", "k"]
        .map(str::to_owned)
        .to_vec();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(&c, &bucket, objects).await;
    let (table, job, pt, lot0) = waiting_lots(moto, &c, &bucket, &keys, 2).await;
    assert_eq!(lot0.counters.keys_total, 3);
    let lot1 = pt.get_lot(&job, 1).await.expect("get").expect("lot");
    assert_eq!(lot0.key_order.as_str(), "scattered");
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let follow = Follow::start(moto, &table, &job, &url, &["--ready-fraction", "1"]);
    moto.configure(r#"{"restore_heads": 0}"#);
    // every key but `a b`, as sent, through SQS's JSON body: lot 1 has 3 of 3, lot 0 2 of 3
    send(&q, &url, &events(&bucket, &keys[1..])).await;
    let done1 = until_lot(&pt, &job, 1, |l| l.state == LotState::Succeeded).await;
    assert_eq!(done1.attempt, lot1.attempt + 1);
    let still = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (still.state, still.attempt),
        (LotState::Waiting, lot0.attempt)
    );
    // `a b` is lot 0's third
    send(&q, &url, &events(&bucket, &keys[..1])).await;
    let done0 = until(&pt, &job, |l| l.state == LotState::Succeeded).await;
    let out = follow.stop();
    assert_eq!(done0.counters.copied + done1.counters.copied, 6, "{out}");
    assert_eq!(done0.attempt, lot0.attempt + 1, "{out}");
    assert!(!out.contains("foreign"), "{out}");
}

/// The whole path on the emulator, nothing sent by the test: `events setup` makes the queue, the
/// rule and the bucket's EventBridge notifications; restores that finish spread over seconds make
/// S3's own "Object Restore Completed" events (the emulator emits one at each restore's end,
/// through the rule, into the queue); `follow --events` brings the lot forward from them while its
/// scheduled check is an hour away, and starts one task once they all arrived (`--ready-fraction
/// 1`: the look then sees every restore done, so the one run copies every key).
#[tokio::test(flavor = "multi_thread")]
async fn restores_finishing_bring_their_lot_forward_through_event_bridge() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    let bucket = unique("evpath");
    let keys = archived(&c, &bucket, 20).await;
    let out = run_ok(
        moto,
        "coordinator",
        &["events", "setup", "--bucket", &bucket],
        &[],
    );
    let url = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("queue URL: "))
        .map(|u| u.trim().to_owned())
        .unwrap_or_else(|| panic!("no queue URL: {}", stdout(&out)));
    moto.configure(r#"{"restore_delay": 3, "restore_delay_max": 8}"#);
    let (table, job, pt, lot) = waiting_job(moto, &c, &bucket, &keys).await;
    let follow = Follow::start(moto, &table, &job, &url, &["--ready-fraction", "1"]);
    let done = until(&pt, &job, |l| l.state == LotState::Succeeded).await;
    let out = follow.stop();
    assert_eq!(done.counters.copied, 20);
    assert_eq!(done.attempt, lot.attempt + 1, "one task start: {out}");
    assert!(out.contains("1 lots due early"), "{out}");
    // one event per restore, every one drained
    assert_eq!(
        moto.bucket_counts(&bucket).get("events:RestoreCompleted"),
        20
    );
    assert_eq!(left(&sqs(moto).await, &url).await, 0);
}
