//! The listing-first pass meeting what its listing did not show, and `--from` meeting thaw's own
//! control objects in the listed bucket (review findings on issue 15).

use std::time::{Duration, Instant};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};

use crate::rig::*;

const HEAD: &str = "s3:HeadObject";
const RESTORE: &str = "s3:RestoreObject";
const COPY: &str = "s3:CopyObject";

/// The storage class S3 reports for `bucket/key`.
async fn class_of(c: &Clients, bucket: &str, key: &str) -> String {
    let head =
        c.s3.head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("head");
    head.storage_class()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "STANDARD".into())
}

/// A restore decided from the listing meets an object overwritten (STANDARD) since the
/// listing: S3 refuses it (403 InvalidObjectState); the key goes to the HEAD path, which copies
/// it, instead of failing it.
#[tokio::test(flavor = "multi_thread")]
async fn a_listed_restore_of_an_object_changed_since_the_listing_is_headed_and_copied() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    // restores that stay running: the other keys wait, the run ends WAITING
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("lchanged");
    create_bucket(&c, &bucket).await;
    // enough keys for a listing to cost less than a HEAD each
    let keys: Vec<String> = (0..20).map(|i| format!("k/{i:03}")).collect();
    let mut objects: Vec<(String, &'static str, Vec<u8>)> = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", vec![7u8; 100]))
        .collect();
    objects.push(("new/k007".into(), "STANDARD", b"new".to_vec()));
    put_many(&c, &bucket, objects).await;
    moto.configure(&format!(
        r#"{{"overwrite_before_restore": {{"bucket": "{bucket}", "key": "k/007", "from_key": "new/k007"}}}}"#
    ));
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        write_keys(&keys),
        &["--lots", "1", "--max-wait", "1"],
    );
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let item = pt.get_lot(&job, 0).await.expect("get").expect("lot");
    assert_eq!(item.state, LotState::Waiting, "{item:?}");
    assert_eq!(item.counters.failed, 0, "{item:?}");
    assert_eq!(item.counters.copied, 1, "{item:?}");
    let all = moto.counts_by_key(&bucket);
    let changed = all.get("k/007").cloned().unwrap_or_default();
    assert_eq!(
        changed.get(RESTORE),
        1,
        "refused once, not asked again: {changed:?}"
    );
    assert_eq!(changed.get(COPY), 1, "{changed:?}");
    assert!(changed.get(HEAD) >= 1, "{changed:?}");
    assert_eq!(class_of(&c, &bucket, "k/007").await, "STANDARD_IA");
    assert_eq!(
        item.checkpoint.requests.get("s3_list"),
        Some(&1),
        "{item:?}"
    );
    for k in keys.iter().filter(|k| *k != "k/007") {
        let n = all.get(k).cloned().unwrap_or_default();
        assert_eq!(n.get(HEAD), 0, "{k}: restored on the listing's word: {n:?}");
        assert_eq!(n.get(RESTORE), 1, "{k}: {n:?}");
    }
}

/// The control bucket defaults to `--bucket`: a `--from` over that bucket meets earlier jobs'
/// specs and manifests under the control prefix. They are left out (the launch says how many),
/// never copied in place.
#[tokio::test(flavor = "multi_thread")]
async fn from_leaves_out_the_control_objects_of_earlier_jobs() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    let bucket = unique("lcontrol");
    create_bucket(&c, &bucket).await;
    put_many(
        &c,
        &bucket,
        (0..3)
            .map(|i| (format!("d/{i}"), "STANDARD", b"x".to_vec()))
            .collect(),
    )
    .await;
    let table = unique("table");
    init_table(moto, &table);
    let from = format!("s3://{bucket}/");
    let first = unique("job");
    let out = launch_local_ok(moto, &table, &bucket, &first, "", &["--from", &from]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("control objects left out"), "{text}");
    let control: Vec<String> =
        c.s3.list_objects_v2()
            .bucket(&bucket)
            .prefix("thaw/")
            .send()
            .await
            .expect("list")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
    assert!(
        !control.is_empty(),
        "the first job left its control objects"
    );

    // a new object, then a second job over the whole bucket
    put(&c, &bucket, "d/new", "STANDARD", b"y").await;
    let second = unique("job");
    let out = launch_local_ok(moto, &table, &bucket, &second, "", &["--from", &from]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let line = format!("{} control objects left out", control.len());
    assert!(text.contains(&line), "{line}: {text}");
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let item = pt.get_lot(&second, 0).await.expect("get").expect("lot");
    assert_eq!(item.counters.keys_total, 1, "d/new only: {item:?}");
    assert_eq!(item.counters.copied, 1, "{item:?}");
    for key in &control {
        assert_eq!(class_of(&c, &bucket, key).await, "STANDARD", "{key}");
    }
}

/// The lot's item once it is in `state` at `attempt` (waits up to three minutes).
async fn lot_at(pt: &ProgressTable, job: &str, state: LotState, attempt: u64) -> LotItem {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let item = pt.get_lot(job, 0).await.expect("get").expect("lot");
        if item.state == state && item.attempt == attempt {
            return item;
        }
        assert!(Instant::now() < deadline, "never {state:?}: {item:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A relaunched WAITING lot whose first listing is refused (no s3:ListBucket) HEADs every key
/// in its first pass and tries no second listing of its restores: one refused LIST, not two.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_first_listing_is_not_tried_again_for_the_restores() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("lrefused");
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = (0..30).map(|i| format!("k/{i:03}")).collect();
    put_many(
        &c,
        &bucket,
        keys.iter()
            .map(|k| (k.clone(), "GLACIER", b"x".to_vec()))
            .collect(),
    )
    .await;
    let table = unique("table");
    init_table(moto, &table);
    let job = unique("job");
    let args = ["--lots", "1", "--max-wait", "1"];
    launch_local_ok(moto, &table, &bucket, &job, write_keys(&keys), &args);
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let waiting = lot_at(&pt, &job, LotState::Waiting, 1).await;
    assert_eq!(waiting.checkpoint.requests.get("s3_list"), Some(&1));
    assert_eq!(waiting.checkpoint.requests.get("s3_head"), Some(&0));

    moto.configure(&format!(
        r#"{{"refuse_listing": {{"bucket": "{bucket}", "times": 2}}}}"#
    ));
    let next = waiting.next_check_at.expect("next check");
    let wait = next - thaw_common::progress::now_secs() + 1;
    if wait > 0 {
        tokio::time::sleep(Duration::from_secs(wait as u64)).await;
    }
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    let again = lot_at(&pt, &job, LotState::Waiting, 2).await;
    assert_eq!(again.counters.failed, 0, "{again:?}");
    // one refused listing, then a HEAD of each key (all still being restored)
    assert_eq!(
        again.checkpoint.requests.get("s3_list"),
        Some(&2),
        "{again:?}"
    );
    assert_eq!(
        again.checkpoint.requests.get("s3_head"),
        Some(&30),
        "{again:?}"
    );
    assert_eq!(
        again.counters.restore_requested, 30,
        "not asked again: {again:?}"
    );
}
