//! A copy found not to be its source stays failed: a later run of its lot (`retry`, or `follow`
//! relaunching a FAILED lot) does not judge the key again, so the lot stays FAILED and the
//! source version stays (the bad copy, current in the target class, would otherwise be counted
//! skipped).

use std::time::{Duration, Instant};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};

use crate::rig::*;

/// Waits (up to three minutes) until lot 0 is no longer active at `attempt`.
async fn until_ended(pt: &ProgressTable, job: &str, attempt: u64) -> LotItem {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let item = pt.get_lot(job, 0).await.expect("get").expect("lot");
        if item.attempt == attempt && !item.state.is_active() && item.state != LotState::Pending {
            return item;
        }
        assert!(Instant::now() < deadline, "never ended: {item:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mismatched_copy_stays_failed_through_a_retry_and_its_source_stays() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("mmretry");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    put(&c, &bucket, "bad", "STANDARD", &[7u8; 3_000]).await;
    put(&c, &bucket, "good", "STANDARD", &[8u8; 3_000]).await;
    moto.configure(
        &serde_json::json!({"corrupt_copy": {"bucket": bucket, "key": "bad", "what": "etag"}})
            .to_string(),
    );
    let keys = vec!["bad".to_owned(), "good".to_owned()];
    let job = unique("job");
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &job,
        write_keys(&keys),
        &["--delete-source-version"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let first = until_ended(&pt, &job, 1).await;
    assert_eq!(first.state, LotState::Failed, "{first:?}");

    // The lot runs again: the bad copy is now the current object in the target class.
    assert_eq!(class_of(&c, &bucket, "bad").await, "STANDARD_IA");
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    let second = until_ended(&pt, &job, 2).await;
    assert_eq!(second.state, LotState::Failed, "{second:?}");
    assert_eq!(
        (second.counters.failed, second.counters.skipped),
        (1, 0),
        "{second:?}"
    );
    assert!(second.checkpoint.is_mismatched(0), "{second:?}");
    assert_eq!(
        second.checkpoint.failure_of(0).map(|(code, _)| code),
        Some("CopyMismatch")
    );
    // the source version of the bad copy is still there; the good one's was deleted
    assert_eq!(version_ids(&c, &bucket, "bad").await.len(), 2);
    assert_eq!(version_ids(&c, &bucket, "good").await.len(), 1);
    let text = stdout(&run_ok(
        moto,
        "coordinator",
        &["failures", &job, "--table", &table, "--with-errors"],
        &[],
    ));
    assert_eq!(text.matches(",CopyMismatch,").count(), 1, "{text}");
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["failed"], 1, "{status}");
    let csv = std::env::temp_dir()
        .join(unique("mm-report"))
        .with_extension("csv");
    let out = run_ok(
        moto,
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
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("summary");
    assert_eq!(summary["verification"]["mismatch"], 1, "{summary}");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let bad = text
        .lines()
        .find(|l| l.contains(",bad,") || l.starts_with("bad,"));
    assert!(
        bad.is_some_and(|l| l.contains(",failed,CopyMismatch,")),
        "{text}"
    );
}

/// A crashed run left a pending delete, and what stands where its copy should be has the
/// source's size and class but not its bytes, in a copy whose ETag cannot be compared (above
/// the multipart threshold): the checksums of the two HeadObject answers differ, so the source
/// version is not deleted and the key fails `CopyMismatch`.
#[tokio::test(flavor = "multi_thread")]
async fn a_recovered_delete_over_a_copy_that_is_not_its_source_deletes_nothing() {
    use crate::worker_tests::{fast_settings, Job};
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("mmrecover");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let version =
        c.s3.put_object()
            .bucket(&bucket)
            .key("k")
            .body(vec![1u8; 3_000].into())
            .send()
            .await
            .expect("put")
            .version_id()
            .expect("version")
            .to_owned();
    // the "copy": same size, target class, other bytes
    put(&c, &bucket, "k", "STANDARD_IA", &[2u8; 3_000]).await;
    let mut settings = fast_settings();
    settings.multipart_threshold = 1_024;
    let keys = vec!["k".to_owned()];
    let job = Job::create(moto, &c, &bucket, &keys, settings).await;
    job.edit_spec(&c, &bucket, |spec| spec.delete_source_version = true)
        .await;
    job.record_pending_delete(&c, 0, &version).await;
    let out = job.run(moto, &[]);
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Failed, "{}", stderr(&out));
    assert_eq!(
        item.checkpoint.failure_of(0).map(|(code, _)| code),
        Some("CopyMismatch"),
        "{item:?}"
    );
    assert!(item.uploads.is_empty(), "{:?}", item.uploads);
    let ids = version_ids(&c, &bucket, "k").await;
    assert!(ids.contains(&version), "the source version stays: {ids:?}");
}

/// A copy in parts whose assembled bytes are not its source's is refused by S3 on
/// CompleteMultipartUpload (the worker hands it the source's full-object CRC): nothing is
/// written over the in-place key, the key fails `BadDigest`, and the next run copies it.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_in_parts_of_other_bytes_is_refused_before_it_exists() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("mmparts");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let size = 9 * 1024 * 1024 + 1;
    let body: Vec<u8> = b"parts".iter().copied().cycle().take(size).collect();
    let version =
        c.s3.put_object()
            .bucket(&bucket)
            .key("big")
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32C)
            .body(body.into())
            .send()
            .await
            .expect("put")
            .version_id()
            .expect("version")
            .to_owned();
    moto.configure(
        &serde_json::json!({"corrupt_copy": {"bucket": bucket, "key": "big", "what": "bytes"}})
            .to_string(),
    );
    let job = unique("job");
    let flags = [
        "--multipart-threshold",
        "8388608",
        "--part-size",
        "5242880",
        "--delete-source-version",
    ];
    let out = launch_local(
        moto,
        &table,
        &bucket,
        &job,
        write_keys(&["big".to_owned()]),
        &flags,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let pt = ProgressTable::new(c.ddb.clone(), &table);
    let first = until_ended(&pt, &job, 1).await;
    assert_eq!(first.state, LotState::Failed, "{first:?}");
    assert_eq!(
        first.checkpoint.failure_of(0).map(|(code, _)| code),
        Some("BadDigest"),
        "{first:?}"
    );
    // nothing was written over the key: its source is still the current, only version
    assert_eq!(version_ids(&c, &bucket, "big").await, vec![version.clone()]);
    assert_eq!(class_of(&c, &bucket, "big").await, "STANDARD");

    // No copy exists, so the next run copies it (the bytes right this time).
    run_ok(
        moto,
        "coordinator",
        &["retry", &job, "--table", &table],
        &[],
    );
    let second = until_ended(&pt, &job, 2).await;
    assert_eq!(second.state, LotState::Succeeded, "{second:?}");
    assert_eq!(second.counters.verified_checksum, 1, "{second:?}");
    let ids = version_ids(&c, &bucket, "big").await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(
        ids[0], version,
        "the source version went after its verified copy"
    );
    assert_eq!(class_of(&c, &bucket, "big").await, "STANDARD_IA");
}

/// A run that found a mismatch but could not drop the key's pending delete left both in the lot
/// item: the next run's recovery drops the record without deleting, even though what stands
/// where the copy should be now looks like a good copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_delete_of_a_key_found_mismatched_deletes_nothing() {
    use crate::worker_tests::{fast_settings, Job};
    use thaw_common::checkpoint::LotCheckpoint;
    let moto = Moto::shared();
    let c = moto.clients().await;
    let bucket = unique("mmrecorded");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let version =
        c.s3.put_object()
            .bucket(&bucket)
            .key("k")
            .body(vec![3u8; 3_000].into())
            .send()
            .await
            .expect("put")
            .version_id()
            .expect("version")
            .to_owned();
    put(&c, &bucket, "k", "STANDARD_IA", &[3u8; 3_000]).await;
    let keys = vec!["k".to_owned()];
    let job = Job::create(moto, &c, &bucket, &keys, fast_settings()).await;
    job.edit_spec(&c, &bucket, |spec| spec.delete_source_version = true)
        .await;
    job.record_pending_delete(&c, 0, &version).await;
    let item = job.item(&c).await;
    let mut cp = LotCheckpoint::new(1);
    cp.record_failure(0, "CopyMismatch", "the copy's ETag b is not the source's a");
    ProgressTable::new(c.ddb.clone(), &job.table)
        .write_checkpoint(&job.job_id, 0, item.attempt, &cp, LotState::Failed, None)
        .await
        .expect("checkpoint");
    let out = job.run(moto, &[]);
    let item = job.item(&c).await;
    assert_eq!(item.state, LotState::Failed, "{}", stderr(&out));
    assert!(item.checkpoint.is_mismatched(0), "{item:?}");
    assert!(item.uploads.is_empty(), "{:?}", item.uploads);
    let ids = version_ids(&c, &bucket, "k").await;
    assert!(ids.contains(&version), "the source version stays: {ids:?}");
}
