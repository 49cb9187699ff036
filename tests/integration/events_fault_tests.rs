//! `follow --events` when a lot's manifest cannot be read (issue 15 part 3's failure paths, on
//! the emulator): a scattered lot whose manifest is gone at the start is left unmapped, its events
//! uncounted and its check kept, while the other lots are brought forward as usual; and a sorted
//! lot brought forward by its events whose look then fails keeps its scheduled check (events are
//! a hint: a look that cannot confirm them starts no task early).

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{now_secs, LotItem, ProgressTable};

use crate::events_follow_tests::{events, left, queue, send, sqs, until_lot, waiting_lots, Follow};
use crate::rig::*;

/// Deletes the manifest of `lot`.
async fn delete_manifest(c: &Clients, lot: &LotItem) {
    let (bucket, key) = thaw_common::spec::object_uri(&lot.manifest).expect("manifest uri");
    c.s3.delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("delete manifest");
}

async fn lot(pt: &ProgressTable, job: &str, n: u32) -> LotItem {
    pt.get_lot(job, n).await.expect("get").expect("lot")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lot_whose_manifest_cannot_be_read_is_left_unmapped_and_the_others_go_on() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evnoman");
    let mut keys = archived(&c, &bucket, 20).await;
    keys.reverse(); // not in S3's order: both lots map through the on-disk index
    let (table, job, pt, lot0) = waiting_lots(moto, &c, &bucket, &keys, 2).await;
    let lot1 = lot(&pt, &job, 1).await;
    delete_manifest(&c, &lot1).await;
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let follow = Follow::start(moto, &table, &job, &url, &[]);
    follow.until_written("its events are not counted", 1);

    // every restore is done and S3 says so for all 20 keys
    moto.configure(r#"{"restore_heads": 0}"#);
    send(&q, &url, &events(&bucket, &keys)).await;
    let done = until_lot(&pt, &job, 0, |l| l.state == LotState::Succeeded).await;
    assert_eq!(done.attempt, lot0.attempt + 1, "lot 0: one task start");
    // every message handled (lot 1's as keys of no lot) and deleted
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while left(&q, &url).await > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(left(&q, &url).await, 0);
    let out = follow.stop();
    let after = lot(&pt, &job, 1).await;
    assert_eq!(
        (after.state, after.attempt, after.next_check_at),
        (LotState::Waiting, lot1.attempt, lot1.next_check_at),
        "lot 1 untouched: {out}"
    );
    assert!(after.current_events().unwrap_or(0) == 0, "{after:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lot_brought_forward_whose_look_fails_keeps_its_scheduled_check() {
    let moto = &Moto::start();
    let c = moto.clients().await;
    moto.configure(r#"{"restore_heads": 1000}"#);
    let bucket = unique("evlookfail");
    let keys = archived(&c, &bucket, 10).await;
    let (table, job, pt, lot0) = waiting_lots(moto, &c, &bucket, &keys, 1).await;
    assert_eq!(lot0.key_order.as_str(), "sorted");
    assert!(lot0.next_check_at.is_some_and(|t| t > now_secs() + 1800));
    // a sorted lot maps by its recorded key range; its look reads the manifest, which is gone
    delete_manifest(&c, &lot0).await;
    let q = sqs(moto).await;
    let url = queue(&q).await;
    let follow = Follow::start(moto, &table, &job, &url, &[]);
    send(&q, &url, &events(&bucket, &keys)).await;
    follow.until_written("keeping its scheduled check", 1);
    let out = follow.stop();
    assert!(out.contains("1 lots due early"), "{out}");
    let after = lot(&pt, &job, 0).await;
    assert_eq!(
        (after.state, after.attempt, after.next_check_at),
        (LotState::Waiting, lot0.attempt, lot0.next_check_at),
        "no task, the check an hour away kept: {out}"
    );
    assert!(!out.contains("launching the lot without a look"), "{out}");
}
