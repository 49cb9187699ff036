//! Drills under AWS's weather, on an emulator that enforces S3's request-rate limits (scaled
//! down: see `tests/emulator_throttle.py`): sustained `503 SlowDown` on every operation, no
//! Expedited capacity, DEEP_ARCHIVE keys in an Expedited job, an object overwritten during its
//! copy. Each ends with counts and end states, never with timings.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass as S3Class;
use thaw_common::spec::WorkerSettings;
use thaw_common::storage::RestoreTier;

use crate::assert::assert_all_in_class;
use crate::rig::*;
use crate::worker_tests::{assert_intact, fast_settings, many_objects, summary, Job};

/// Requests the emulator refused with a 503 of `kind` (`throttled`, `expedited_unavailable`).
fn refused(moto: &Moto, kind: &str) -> u64 {
    moto.stats()[kind].as_u64().unwrap_or(0)
}

/// The drill of issue 12: 400 keys (half GLACIER, some copied in parts) with COPY capped at
/// 15/s and HEAD at 50/s per bucket, RESTORE at 20/s: the SDK's retry budget empties within
/// seconds, and today's main ended with about 235 keys FAILED `SlowDown`. Every key must end
/// copied with everything it carried.
#[tokio::test(flavor = "multi_thread")]
async fn sustained_slowdown_on_every_operation_fails_no_key() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("weather");
    let keys = many_objects(&c, &bucket, 400, 100).await;
    let settings = WorkerSettings {
        concurrency: 32,
        ..fast_settings()
    };
    let job = Job::create(&moto, &c, &bucket, &keys, settings).await;
    moto.configure(r#"{"limits": {"copy": 15, "head": 50, "restore": 20}}"#);
    let out = job.run(&moto, &["--checkpoint-interval", "1"]);
    moto.configure(r#"{"limits": {}}"#);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    let item = job.item(&c).await;
    assert_eq!(
        item.counters.failed, 0,
        "{sum} {:?}",
        item.checkpoint.failed
    );
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    assert_eq!(item.counters.done(), 400);
    assert!(
        refused(&moto, "throttled") > 100,
        "the limits were real: {}",
        moto.stats()
    );
    // What the worker counted as throttled is on the lot item, as `status` shows it.
    assert_eq!(
        sum["counters"]["throttled"].as_u64(),
        Some(item.counters.throttled)
    );
    assert_intact(&c, &bucket, &keys, 100).await;
}

/// With the SDK's retries off (`--aws-max-attempts 1`) every SlowDown comes straight back to
/// the worker: the keys go back for a later pass (counted as throttled), never fail.
#[tokio::test(flavor = "multi_thread")]
async fn throttled_keys_go_back_for_a_later_pass_and_are_counted() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("requeue");
    let keys = many_objects(&c, &bucket, 120, 0).await;
    let job = Job::create(&moto, &c, &bucket, &keys, fast_settings()).await;
    moto.configure(r#"{"limits": {"copy": 10, "head": 20, "restore": 10}}"#);
    let out = job.run(
        &moto,
        &["--checkpoint-interval", "1", "--aws-max-attempts", "1"],
    );
    moto.configure(r#"{"limits": {}}"#);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    let item = job.item(&c).await;
    assert_eq!(
        item.counters.failed, 0,
        "{sum} {:?}",
        item.checkpoint.failed
    );
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    assert!(refused(&moto, "throttled") > 0, "{}", moto.stats());
    assert!(item.counters.throttled > 0, "{sum}");
    assert_eq!(
        sum["counters"]["throttled"].as_u64(),
        Some(item.counters.throttled)
    );
    assert_intact(&c, &bucket, &keys, 0).await;
}

/// Writes `n` small GLACIER (or `class`) objects and returns their keys.
async fn archived(
    c: &Clients,
    bucket: &str,
    prefix: &str,
    n: usize,
    class: S3Class,
) -> Vec<String> {
    let mut keys = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}{i:03}");
        c.s3.put_object()
            .bucket(bucket)
            .key(&key)
            .storage_class(class.clone())
            .body(ByteStream::from(format!("body of {key}").into_bytes()))
            .send()
            .await
            .expect("put");
        keys.push(key);
    }
    keys
}

/// No Expedited capacity (`503 GlacierExpeditedRetrievalNotAvailable`) and DEEP_ARCHIVE keys
/// (no Expedited tier at all) in an Expedited job: restored at Standard, counted, never failed.
#[tokio::test(flavor = "multi_thread")]
async fn restores_that_cannot_be_expedited_fall_back_to_standard() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("expedited");
    create_bucket(&c, &bucket).await;
    let mut keys = archived(&c, &bucket, "glacier/", 6, S3Class::Glacier).await;
    keys.extend(archived(&c, &bucket, "deep/", 4, S3Class::DeepArchive).await);
    let job = Job::create(&moto, &c, &bucket, &keys, fast_settings()).await;
    job.edit_spec(&c, &bucket, |spec| {
        spec.restore_tier = RestoreTier::Expedited
    })
    .await;
    moto.configure(r#"{"expedited_unavailable": true}"#);
    let out = job.run(&moto, &[]);
    moto.configure(r#"{"expedited_unavailable": false}"#);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    let item = job.item(&c).await;
    assert_eq!(
        item.counters.failed, 0,
        "{sum} {:?}",
        item.checkpoint.failed
    );
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    assert_eq!(item.counters.copied, 10);
    // Each GLACIER key was refused Expedited once, then asked at Standard; DEEP_ARCHIVE keys
    // were asked at Standard straight away.
    assert_eq!(refused(&moto, "expedited_unavailable"), 6);
    assert_eq!(item.counters.tier_fallbacks, 10, "{sum}");
    assert_eq!(item.counters.restore_requested, 10, "{sum}");
    assert_all_in_class(&c, &bucket, &keys, "STANDARD_IA").await;
}

/// An object overwritten between its HeadObject and its copy (412 on the copy's
/// `x-amz-copy-source-if-match`) needs no restore: it is looked at again on the next pass, not
/// after the 5 hours a GLACIER Bulk restore is polled at (today: the lot ended WAITING).
#[tokio::test(flavor = "multi_thread")]
async fn an_object_changed_during_its_copy_is_looked_at_again_at_once() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("changed");
    create_bucket(&c, &bucket).await;
    let keys = archived(&c, &bucket, "s/", 3, S3Class::Standard).await;
    let settings = WorkerSettings {
        poll_interval_secs: None, // the class and tier say: GLACIER Bulk, 5 hours
        ..fast_settings()
    };
    let job = Job::create(&moto, &c, &bucket, &keys, settings).await;
    moto.configure(r#"{"copy_precondition_failures": 2}"#);
    let out = job.run(&moto, &[]);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    assert_eq!(refused(&moto, "precondition_failed"), 2, "{}", moto.stats());
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    let item = job.item(&c).await;
    assert_eq!((item.counters.copied, item.counters.failed), (3, 0));
    assert_eq!(item.next_check_at, None);
    assert_all_in_class(&c, &bucket, &keys, "STANDARD_IA").await;
}

/// `--delete-source-version` under SlowDown with the SDK's retries off: once a copy is made, its
/// source version is deleted even when DeleteObject (or the check before it) meets weather,
/// instead of the key failing "copied, but the source version was kept" (a key sent back after
/// its copy would find the copy done and never delete its source version).
#[tokio::test(flavor = "multi_thread")]
async fn source_versions_are_deleted_through_slowdown() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let bucket = unique("delweather");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let keys: Vec<String> = (0..40).map(|i| format!("v/{i:03}")).collect();
    for k in &keys {
        put(&c, &bucket, k, "STANDARD", k.as_bytes()).await;
    }
    let job = Job::create(&moto, &c, &bucket, &keys, fast_settings()).await;
    job.edit_spec(&c, &bucket, |s| s.delete_source_version = true)
        .await;
    moto.configure(r#"{"s3_fault_rate": 0.1}"#);
    let out = job.run(
        &moto,
        &["--checkpoint-interval", "1", "--aws-max-attempts", "1"],
    );
    moto.configure(r#"{"s3_fault_rate": 0.0}"#);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let sum = summary(&out);
    let item = job.item(&c).await;
    assert_eq!(
        item.counters.failed, 0,
        "{sum} {:?}",
        item.checkpoint.failed
    );
    assert_eq!(sum["state"], "SUCCEEDED", "{sum}");
    assert!(item.counters.throttled > 0, "faults were injected: {sum}");
    for k in &keys {
        let versions = version_ids(&c, &bucket, k).await;
        assert_eq!(
            versions.len(),
            1,
            "{k}: only the copy is left: {versions:?}"
        );
        assert_eq!(class_of(&c, &bucket, k).await, "STANDARD_IA", "{k}");
        assert_eq!(get_body(&c, &bucket, k).await, k.as_bytes(), "{k}");
    }
}

/// Restores that fell back from Expedited to Standard take hours: the lot that goes WAITING is
/// looked at again after the Standard poll delay (5 h for GLACIER), not after Expedited's minute,
/// which would relaunch a task every minute for hours.
#[tokio::test(flavor = "multi_thread")]
async fn a_lot_whose_restores_fell_back_waits_the_standard_delay() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "3600")]);
    let c = moto.clients().await;
    let bucket = unique("fellback");
    create_bucket(&c, &bucket).await;
    let keys = archived(&c, &bucket, "glacier/", 3, S3Class::Glacier).await;
    let settings = WorkerSettings {
        poll_interval_secs: None,
        ..fast_settings()
    };
    let job = Job::create(&moto, &c, &bucket, &keys, settings).await;
    job.edit_spec(&c, &bucket, |spec| {
        spec.restore_tier = RestoreTier::Expedited
    })
    .await;
    moto.configure(r#"{"expedited_unavailable": true}"#);
    let before = thaw_common::progress::now_secs();
    let out = job.run(&moto, &["--max-wait", "5"]);
    assert!(out.status.success(), "worker: {}", stderr(&out));
    let item = job.item(&c).await;
    assert_eq!(item.state, thaw_common::checkpoint::LotState::Waiting);
    assert_eq!(item.counters.tier_fallbacks, 3);
    let next = item
        .next_check_at
        .expect("a WAITING lot says when to look again");
    assert!(
        next - before >= 3 * 3600 - 60,
        "looked at again in {} s, not after the Standard delay",
        next - before
    );
}
