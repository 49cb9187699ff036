//! Restore status by listing (issue 15): a sorted lot's restores are polled with ListObjectsV2
//! pages (`OptionalObjectAttributes=RestoreStatus`, tests/emulator_listing.py) instead of one
//! HeadObject per waiting key, a scattered lot's still with HEAD; `follow` starts no task for a
//! WAITING lot whose restores are not done, and `status` shows how many were at its last look.
//! A sorted lot's first pass is decided by a listing too: an archived object is restored
//! without a HeadObject, whose HEAD comes once, before its copy.
//! Restores are held by the emulator's `restore_heads` (a restore stays ongoing for its first n
//! looks, HEAD or listing), so every count here is exact whatever the machine's speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LookBy, LotItem, ProgressTable};

use crate::counts::Counts;
use crate::rig::*;

/// Lists a restore's status, as the wrapper counts it.
const LIST: &str = "s3:ListObjectsV2:RestoreStatus";
const HEAD: &str = "s3:HeadObject";

/// A one-lot job over `keys` (in that order) of `bucket`, launched locally with `extra`.
async fn one_lot_job(
    moto: &Moto,
    c: &Clients,
    bucket: &str,
    keys: &[String],
    extra: &[&str],
) -> (String, String, ProgressTable) {
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let file = write_keys(keys);
    let mut args = vec!["--lots", "1"];
    args.extend_from_slice(extra);
    launch_local_ok(moto, &table, bucket, &job, &file, &args);
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    (table, job, pt)
}

async fn lot0(pt: &ProgressTable, job: &str) -> LotItem {
    pt.get_lot(job, 0).await.expect("get").expect("lot")
}

/// The requests on each of `keys`.
fn per_key(moto: &Moto, bucket: &str, keys: &[String]) -> BTreeMap<String, Counts> {
    let all = moto.counts_by_key(bucket);
    keys.iter()
        .map(|k| (k.clone(), all.get(k).cloned().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sorted_lot_polls_its_restores_by_listing_and_copies_every_key() {
    // Its own emulator: `restore_heads` is global.
    let moto = &Moto::start();
    let c = moto.clients().await;
    // every restore is still running at its first two looks, done at the third
    moto.configure(r#"{"restore_heads": 2}"#);
    let bucket = unique("lsorted");
    let keys = archived(&c, &bucket, 40).await;
    let (table, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &[]).await;

    let item = lot0(&pt, &job).await;
    assert_eq!(item.state, LotState::Succeeded, "{item:?}");
    assert_eq!(item.key_order, thaw_common::plan::KeyOrder::Sorted);
    assert_eq!((item.counters.copied, item.counters.restored), (40, 40));
    // The first pass's listing found no restore; two listings found every restore running,
    // the fourth found them done: one page each.
    let bucket_counts = moto.bucket_counts(&bucket);
    assert_eq!(bucket_counts.get(LIST), 4, "{bucket_counts:?}");
    assert_eq!(item.checkpoint.requests.get("s3_list"), Some(&4));
    let report = report_summary(moto, &table, &job);
    assert_eq!(report["requests"]["s3_list"], 4, "{report}");
    assert_eq!(report["requests"]["s3_head"], 40, "{report}");
    for (key, n) in per_key(moto, &bucket, &keys) {
        // restored on the listing's word, one HEAD before the copy: no polling HEAD
        assert_eq!(
            (
                n.get(HEAD),
                n.get("s3:RestoreObject"),
                n.get("s3:CopyObject")
            ),
            (1, 1, 1),
            "{key}: {n:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scattered_lot_still_polls_with_head() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 2}"#);
    let bucket = unique("lscattered");
    let mut keys = archived(&c, &bucket, 20).await;
    keys.reverse(); // not in S3's order: the plan records the lot as scattered
    let (_, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &[]).await;

    let item = lot0(&pt, &job).await;
    assert_eq!(item.state, LotState::Succeeded, "{item:?}");
    assert_eq!(item.key_order, thaw_common::plan::KeyOrder::Scattered);
    assert_eq!(item.counters.copied, 20);
    assert_eq!(moto.bucket_counts(&bucket).get(LIST), 0);
    assert_eq!(item.checkpoint.requests.get("s3_list"), Some(&0));
    for (key, n) in per_key(moto, &bucket, &keys) {
        // the first look, two looks at a running restore, the look that finds it done
        assert_eq!(
            (n.get(HEAD), n.get("s3:CopyObject")),
            (4, 1),
            "{key}: {n:?}"
        );
    }
}

/// `follow --once` on a job whose only lot is WAITING; returns its stderr.
fn follow_once(moto: &Moto, table: &str, job: &str) -> String {
    let out = run_ok(
        moto,
        "coordinator",
        &["follow", job, "--table", table, "--once"],
        &[],
    );
    stderr(&out)
}

/// Waits until the lot's `next_check_at` has passed.
async fn until_due(pt: &ProgressTable, job: &str) {
    let next = lot0(pt, job).await.next_check_at.expect("next check");
    let wait = next - thaw_common::progress::now_secs() + 1;
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
}

/// Waits (up to three minutes) until the lot is in `state` at `attempt`.
async fn until_state(pt: &ProgressTable, job: &str, state: LotState, attempt: u64) -> LotItem {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let item = lot0(pt, job).await;
        if item.state == state && item.attempt == attempt {
            return item;
        }
        assert!(Instant::now() < deadline, "never {state:?}: {item:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_starts_no_task_for_a_lot_whose_restores_are_not_done() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    // restores that stay running until the test says otherwise
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("lfollow");
    let keys = archived(&c, &bucket, 30).await;
    let (table, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &["--max-wait", "1"]).await;
    let waiting = lot0(&pt, &job).await;
    assert_eq!(waiting.state, LotState::Waiting, "{waiting:?}");
    until_due(&pt, &job).await;

    // Due, but none of its restores is done: no task, a later check, the look recorded.
    let heads_before = moto.bucket_counts(&bucket).get(HEAD);
    let err = follow_once(moto, &table, &job);
    let after = lot0(&pt, &job).await;
    assert_eq!(
        (after.state, after.attempt),
        (LotState::Waiting, waiting.attempt),
        "no worker was started: {err}"
    );
    assert!(
        after.next_check_at > waiting.next_check_at,
        "{:?} then {:?}",
        waiting.next_check_at,
        after.next_check_at
    );
    let look = after.ready_look.expect("the look is recorded");
    assert_eq!(
        (look.done, look.looked, look.by),
        (0, 30, LookBy::List),
        "{look:?}"
    );
    assert_eq!(
        moto.bucket_counts(&bucket).get(HEAD),
        heads_before,
        "a sorted lot is looked at by listing only"
    );
    let st = status_json(moto, &table, &job);
    assert_eq!(st["lots"][0]["ready_look"]["done"], 0, "{st}");
    assert_eq!(st["lots"][0]["ready_look"]["looked"], 30, "{st}");
    let text = stdout(&run_ok(
        moto,
        "coordinator",
        &["status", &job, "--table", &table],
        &[],
    ));
    assert!(
        text.contains("restores done at the last look: 0/30 (list"),
        "{text}"
    );

    // Relaunched by hand all the same (`retry` does not look): the new worker's first look at
    // its restores is one listing, not a HEAD per key, and it is WAITING again.
    let lists_before = moto.bucket_counts(&bucket).get(LIST);
    until_due(&pt, &job).await;
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    let again = until_state(&pt, &job, LotState::Waiting, waiting.attempt + 1).await;
    assert_eq!(again.counters.copied, 0);
    let counts = moto.bucket_counts(&bucket);
    assert_eq!(counts.get(HEAD), heads_before, "{counts:?}");
    assert_eq!(counts.get(LIST), lists_before + 1, "{counts:?}");

    // The restores finish: the next look starts the lot's task, which copies every key.
    moto.configure(r#"{"restore_heads": 0}"#);
    until_due(&pt, &job).await;
    let err = follow_once(moto, &table, &job);
    let done = until_state(&pt, &job, LotState::Succeeded, waiting.attempt + 2).await;
    assert_eq!(done.counters.copied, 30, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn follow_samples_a_scattered_lot_with_head() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("lsample");
    let mut keys = archived(&c, &bucket, 50).await;
    keys.reverse();
    let (table, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &["--max-wait", "1"]).await;
    let waiting = lot0(&pt, &job).await;
    assert_eq!(waiting.state, LotState::Waiting, "{waiting:?}");
    until_due(&pt, &job).await;
    let heads_before = moto.bucket_counts(&bucket).get(HEAD);
    let err = follow_once(moto, &table, &job);
    let after = lot0(&pt, &job).await;
    assert_eq!(
        after.attempt, waiting.attempt,
        "no worker was started: {err}"
    );
    let look = after.ready_look.expect("the look is recorded");
    // 50 waiting keys, one in every three looked at
    assert_eq!(
        (look.done, look.looked, look.by),
        (0, 17, LookBy::HeadSample),
        "{look:?}"
    );
    assert_eq!(moto.bucket_counts(&bucket).get(HEAD) - heads_before, 17);
    assert_eq!(moto.bucket_counts(&bucket).get(LIST), 0);
}

/// S3 requests per archived key of one job over `keys` of `bucket`: every request on the keys
/// plus the listing pages.
fn requests_per_key(moto: &Moto, bucket: &str, keys: &[String]) -> (f64, BTreeMap<String, u64>) {
    let mut by_op = BTreeMap::new();
    for n in per_key(moto, bucket, keys).values() {
        for op in [HEAD, "s3:RestoreObject", "s3:CopyObject", "s3:GetObject"] {
            *by_op.entry(op.to_owned()).or_insert(0) += n.get(op);
        }
    }
    by_op.insert(LIST.to_owned(), moto.bucket_counts(bucket).get(LIST));
    let total: u64 = by_op.values().sum();
    (total as f64 / keys.len() as f64, by_op)
}

/// The measurement of README "Restore status by listing": restores that take 20 s, polled every
/// second, in one run: HEAD polling (a scattered lot), LIST polling after a HEAD first (a sorted
/// lot whose first listing is refused, so its first pass HEADs every key, as before the first
/// step was listed), and LIST first and polling (a sorted lot).
#[tokio::test(flavor = "multi_thread")]
async fn listing_cuts_the_requests_per_archived_key() {
    const KEYS: usize = 200;
    let moto = &Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "20")]);
    let c = moto.clients().await;
    let (listed_bucket, polled_bucket, scattered_bucket) =
        (unique("mfirst"), unique("mlist"), unique("mhead"));
    let listed = archived(&c, &listed_bucket, KEYS).await;
    let polled = archived(&c, &polled_bucket, KEYS).await;
    let mut scattered = archived(&c, &scattered_bucket, KEYS).await;
    scattered.reverse();
    moto.configure(&format!(
        r#"{{"refuse_listing": {{"bucket": "{polled_bucket}", "times": 1}}}}"#
    ));
    let (a, b, d) = tokio::join!(
        one_lot_job(moto, &c, &listed_bucket, &listed, &[]),
        one_lot_job(moto, &c, &polled_bucket, &polled, &[]),
        one_lot_job(moto, &c, &scattered_bucket, &scattered, &[]),
    );
    for (_, job, pt) in [&a, &b, &d] {
        let item = lot0(pt, job).await;
        assert_eq!(
            (item.state, item.counters.copied),
            (LotState::Succeeded, KEYS as u64)
        );
    }
    let (first, first_ops) = requests_per_key(moto, &listed_bucket, &listed);
    let (list, list_ops) = requests_per_key(moto, &polled_bucket, &polled);
    let (head, head_ops) = requests_per_key(moto, &scattered_bucket, &scattered);
    eprintln!("LIST first step and polling: {first:.3} S3 requests per archived key {first_ops:?}");
    eprintln!("HEAD first step, LIST polling: {list:.3} S3 requests per archived key {list_ops:?}");
    eprintln!("HEAD first step, HEAD polling: {head:.3} S3 requests per archived key {head_ops:?}");
    let keys = KEYS as u64;
    // Listed first step: restored on the listing's word, one HEAD each, before its copy.
    assert_eq!(
        (
            first_ops[HEAD],
            first_ops["s3:RestoreObject"],
            first_ops["s3:CopyObject"]
        ),
        (keys, keys, keys),
        "{first_ops:?}"
    );
    assert!(first_ops[LIST] > 0, "{first_ops:?}");
    // HEAD first: one HEAD before the restore and one before the copy, whatever the polls.
    assert_eq!(list_ops[HEAD], 2 * keys, "{list_ops:?}");
    assert!(list_ops[LIST] > 0, "{list_ops:?}");
    // HEAD polling: one HEAD per key per poll on top.
    assert!(head_ops[HEAD] > list_ops[HEAD] + keys, "{head_ops:?}");
    assert!(first < list && list < head, "{first} vs {list} vs {head}");
}

/// A sorted lot's first pass is decided by one listing: archived objects are restored, objects
/// already in the target class skipped, small ones left out (with the report's reason), none
/// of them looked at with HeadObject.
#[tokio::test(flavor = "multi_thread")]
async fn a_sorted_lot_takes_its_first_steps_from_a_listing_without_a_head() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    // restores that stay running: the run ends WAITING after its first pass
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("lfirst");
    create_bucket(&c, &bucket).await;
    let mut objects = Vec::new();
    for i in 0..20 {
        objects.push((format!("a/{i:03}"), "GLACIER", vec![7u8; 2048]));
    }
    for i in 0..5 {
        objects.push((format!("b/{i:03}"), "DEEP_ARCHIVE", vec![7u8; 10]));
    }
    for i in 0..5 {
        objects.push((format!("c/{i:03}"), "STANDARD_IA", vec![7u8; 2048]));
    }
    let keys: Vec<String> = objects.iter().map(|(k, _, _)| k.clone()).collect();
    put_many(&c, &bucket, objects).await;
    let (table, job, pt) = one_lot_job(
        moto,
        &c,
        &bucket,
        &keys,
        &["--max-wait", "1", "--min-size", "1KiB"],
    )
    .await;

    let item = lot0(&pt, &job).await;
    assert_eq!(item.state, LotState::Waiting, "{item:?}");
    assert_eq!(item.key_order, thaw_common::plan::KeyOrder::Sorted);
    let counts = moto.bucket_counts(&bucket);
    assert_eq!(counts.get(HEAD), 0, "no HEAD before a restore: {counts:?}");
    assert_eq!(counts.get(LIST), 1, "{counts:?}");
    assert_eq!(item.checkpoint.requests.get("s3_list"), Some(&1));
    assert_eq!(item.checkpoint.requests.get("s3_head"), Some(&0));
    for (key, n) in per_key(moto, &bucket, &keys) {
        let restores = u64::from(key.starts_with("a/"));
        assert_eq!(n.get("s3:RestoreObject"), restores, "{key}: {n:?}");
    }
    assert_eq!(item.counters.restore_requested, 20, "{item:?}");
    let report = report_summary(moto, &table, &job);
    assert_eq!(report["left_out"]["MinSize"], 5, "{report}");
    assert_eq!(report["skipped"], 10, "{report}");
}

/// S3 scanning past delete markers answers a truncated page that holds no key: the worker's
/// listing follows its continuation token (it never asks the same page again) and still reaches
/// every waiting key, two pages a look.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_listing_goes_past_empty_truncated_pages() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 2, "list_empty_first": true}"#);
    let bucket = unique("lempty");
    let keys = archived(&c, &bucket, 40).await;
    let (_, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &[]).await;

    let item = lot0(&pt, &job).await;
    assert_eq!(item.state, LotState::Succeeded, "{item:?}");
    assert_eq!(item.counters.copied, 40);
    // four looks (the first pass's, two that find the restores running, one done), each an
    // empty page and the page its token leads to
    assert_eq!(moto.bucket_counts(&bucket).get(LIST), 8);
    for (key, n) in per_key(moto, &bucket, &keys) {
        // every key reached by the listings: no HEAD but the one before the copy
        assert_eq!(
            (n.get(HEAD), n.get("s3:CopyObject")),
            (1, 1),
            "{key}: {n:?}"
        );
    }
}

/// `follow`'s look goes past an empty truncated page too, sees every waiting key, and the lot
/// finishes once its restores are done.
#[tokio::test(flavor = "multi_thread")]
async fn follow_looks_past_empty_truncated_pages() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000, "list_empty_first": true}"#);
    let bucket = unique("lfempty");
    let keys = archived(&c, &bucket, 30).await;
    let (table, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &["--max-wait", "1"]).await;
    let waiting = lot0(&pt, &job).await;
    assert_eq!(waiting.state, LotState::Waiting, "{waiting:?}");
    until_due(&pt, &job).await;

    let lists_before = moto.bucket_counts(&bucket).get(LIST);
    let err = follow_once(moto, &table, &job);
    let after = lot0(&pt, &job).await;
    assert_eq!(
        after.attempt, waiting.attempt,
        "no worker was started: {err}"
    );
    let look = after.ready_look.expect("the look is recorded");
    assert_eq!((look.done, look.looked), (0, 30), "{look:?}");
    assert_eq!(moto.bucket_counts(&bucket).get(LIST) - lists_before, 2);
    // the look's requests are added to the lot's: two pages, one manifest read
    let req = |l: &LotItem, op: &str| l.checkpoint.requests.get(op).copied().unwrap_or(0);
    assert_eq!(
        req(&after, "s3_list"),
        req(&waiting, "s3_list") + 2,
        "{after:?}"
    );
    assert_eq!(
        req(&after, "s3_get"),
        req(&waiting, "s3_get") + 1,
        "{after:?}"
    );

    moto.configure(r#"{"restore_heads": 0}"#);
    until_due(&pt, &job).await;
    let err = follow_once(moto, &table, &job);
    let done = until_state(&pt, &job, LotState::Succeeded, waiting.attempt + 1).await;
    assert_eq!(done.counters.copied, 30, "{err}");
}

/// Listings ask for URL-encoded keys and decode them: keys with spaces and `+` are matched to
/// the lot's keys, so none of them needs a polling HEAD.
#[tokio::test(flavor = "multi_thread")]
async fn listed_keys_with_spaces_and_plus_signs_are_matched() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 2}"#);
    let bucket = unique("lencoded");
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = (0..20).map(|i| format!("k/{i:03} a+b c%41")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(&c, &bucket, objects).await;
    let (_, job, pt) = one_lot_job(moto, &c, &bucket, &keys, &[]).await;

    let item = lot0(&pt, &job).await;
    assert_eq!(item.state, LotState::Succeeded, "{item:?}");
    assert_eq!(item.key_order, thaw_common::plan::KeyOrder::Sorted);
    assert_eq!(moto.bucket_counts(&bucket).get(LIST), 4);
    for (key, n) in per_key(moto, &bucket, &keys) {
        assert_eq!(
            (n.get(HEAD), n.get("s3:CopyObject")),
            (1, 1),
            "{key}: {n:?}"
        );
    }
}
