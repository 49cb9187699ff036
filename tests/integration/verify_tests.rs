//! Every copy checked against its source, from the answers S3 gives anyway: single-part copies
//! of plain objects by ETag, objects with a full-object checksum (CRC64NVME, CRC32C; single and
//! in parts) by checksum, SSE-KMS and multipart-ETag sources reported not comparable, and a copy
//! whose answer differs from its source failing its key with `CopyMismatch` while the source
//! version stays (also under `--delete-source-version`). SHA-256 is compared on single-part
//! copies; in parts S3 makes it composite, so it is not comparable there. The emulator computes and reports
//! checksums as S3 does, and corrupts an answer on demand (tests/emulator_checksum.py).

use std::collections::BTreeMap;

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use serde_json::Value;
use thaw_common::progress::ProgressTable;

use crate::rig::*;

const MIB: usize = 1024 * 1024;
const MULTIPART: [&str; 4] = ["--multipart-threshold", "8388608", "--part-size", "5242880"];

/// How a test object is written.
#[derive(Clone, Copy)]
enum Upload {
    /// One PutObject without any checksum (as objects written before 2025 are).
    Plain,
    /// One PutObject with this checksum.
    Checksum(&'static str),
    /// One PutObject, SSE-KMS, without checksum.
    Kms,
    /// A multipart upload of one part, without checksum (ETag `-1`).
    OnePart,
}

fn body(key: &str, size: usize) -> Vec<u8> {
    key.bytes().cycle().take(size).collect()
}

/// Writes `key` of `size` bytes (STANDARD: copied without a restore).
async fn upload(c: &Clients, bucket: &str, key: &str, size: usize, how: Upload) {
    let no_checksum = aws_sdk_s3::config::Builder::default()
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    let put =
        c.s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body(key, size)));
    let sent = match how {
        Upload::Plain => put.customize().config_override(no_checksum).send().await,
        Upload::Checksum(a) => {
            put.checksum_algorithm(ChecksumAlgorithm::from(a))
                .send()
                .await
        }
        Upload::Kms => {
            put.server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id("arn:aws:kms:us-east-1:123456789012:key/thaw-verify")
                .customize()
                .config_override(no_checksum)
                .send()
                .await
        }
        Upload::OnePart => return one_part(c, bucket, key, size).await,
    };
    sent.unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn one_part(c: &Clients, bucket: &str, key: &str, size: usize) {
    let no_checksum = || {
        aws_sdk_s3::config::Builder::default()
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
    };
    let id =
        c.s3.create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("create")
            .upload_id()
            .expect("upload id")
            .to_owned();
    let part =
        c.s3.upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(body(key, size)))
            .customize()
            .config_override(no_checksum())
            .send()
            .await
            .expect("part");
    c.s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(part.e_tag().map(str::to_owned))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
}

/// `coordinator report` of `job` with its CSV: the summary and the rows by key.
fn report(moto: &Moto, table: &str, job: &str) -> (Value, BTreeMap<String, Vec<String>>) {
    let csv = std::env::temp_dir()
        .join(unique("verify-report"))
        .with_extension("csv");
    let out = run_ok(
        moto,
        "coordinator",
        &[
            "report",
            job,
            "--table",
            table,
            "-o",
            &csv.to_string_lossy(),
        ],
        &[],
    );
    let summary: Value = serde_json::from_str(&stdout(&out)).expect("summary");
    let text = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(
        &header[7..],
        [
            "Verification",
            "VerifiedBy",
            "SourceChecksumOrETag",
            "CopyChecksumOrETag"
        ]
    );
    let rows = lines
        .map(|l| {
            let cells: Vec<String> = l.split(',').map(str::to_owned).collect();
            (cells[1].replace("%2F", "/"), cells)
        })
        .collect();
    (summary, rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_are_verified_by_etag_or_checksum_and_reported() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("verify");
    create_bucket(&c, &bucket).await;
    let objects = [
        ("etag/a", 3_000, Upload::Plain),
        ("etag/b", 70_000, Upload::Plain),
        ("crc64/single", 5_000, Upload::Checksum("CRC64NVME")),
        ("crc32c/single", 5_000, Upload::Checksum("CRC32C")),
        ("crc64/parts", 9 * MIB + 5, Upload::Checksum("CRC64NVME")),
        ("crc32c/parts", 9 * MIB + 7, Upload::Checksum("CRC32C")),
        ("sha/single", 5_000, Upload::Checksum("SHA256")),
        ("sha/parts", 9 * MIB + 3, Upload::Checksum("SHA256")),
        ("kms/plain", 4_000, Upload::Kms),
        ("onepart/plain", 6_000, Upload::OnePart),
    ];
    for (key, size, how) in objects {
        upload(&c, &bucket, key, size, how).await;
    }
    let keys: Vec<String> = objects.iter().map(|(k, ..)| k.to_string()).collect();
    let job = unique("job");
    let logs = std::env::temp_dir().join(unique("verify-logs"));
    let logs_arg = logs.to_string_lossy().into_owned();
    let mut flags = MULTIPART.to_vec();
    flags.extend(["--log-dir", &logs_arg]);
    let out = launch_local_ok(moto, &table, &bucket, &job, write_keys(&keys), &flags);

    // the worker's counters (the summary line prints them)
    let lots = ProgressTable::new(c.ddb.clone(), &table)
        .lots(&job)
        .await
        .expect("lots");
    let counters = lots[0].counters;
    assert_eq!(counters.copied, 10, "{}", stderr(&out));
    assert_eq!(
        (
            counters.verified_checksum,
            counters.verified_etag,
            counters.not_comparable
        ),
        (5, 2, 3),
        "{counters:?}"
    );
    // the worker's summary line and closing log line count them
    let log_file = logs.join(&job).join(format!("lot-{:05}.log", lots[0].lot));
    let log = std::fs::read_to_string(&log_file).expect("lot log");
    assert!(
        log.contains("copies verified: 5 by checksum, 2 by ETag, 3 not comparable"),
        "{log}"
    );
    let summary_line: Value = log
        .lines()
        .filter_map(|l| l.find('{').map(|at| &l[at..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("counters").is_some())
        .expect("summary line");
    let counted = &summary_line["counters"];
    assert_eq!(
        (
            &counted["verified_checksum"],
            &counted["verified_etag"],
            &counted["not_comparable"]
        ),
        (&Value::from(5), &Value::from(2), &Value::from(3)),
        "{summary_line}"
    );
    assert_eq!(
        summary_line["requests"]["s3_put"], 1,
        "one PutObject of proofs: {summary_line}"
    );
    // no request made for the proof: one HEAD and one CopyObject per single-part key
    for key in ["etag/a", "crc64/single", "kms/plain"] {
        let n = moto.object_counts(&bucket, key);
        assert_eq!(n.get("s3:HeadObject"), 1, "{key}");
        assert_eq!(n.get("s3:CopyObject"), 1, "{key}");
    }
    assert_eq!(
        moto.object_counts(&bucket, "crc64/parts")
            .get("s3:UploadPartCopy"),
        2
    );

    let (summary, rows) = report(moto, &table, &job);
    let v = &summary["verification"];
    assert_eq!(v["verified_by_checksum"], 5, "{summary}");
    assert_eq!(v["checksum_algorithms"]["SHA256"], 1, "{summary}");
    assert_eq!(v["checksum_algorithms"]["CRC64NVME"], 2, "{summary}");
    assert_eq!(v["checksum_algorithms"]["CRC32C"], 2, "{summary}");
    assert_eq!(v["verified_by_etag"], 2, "{summary}");
    assert_eq!(v["not_comparable"], 3, "{summary}");
    assert_eq!(v["mismatch"], 0, "{summary}");
    assert_eq!(v["not_recorded"], 0, "{summary}");
    let row = |k: &str| {
        rows.get(k)
            .unwrap_or_else(|| panic!("no row for {k}: {rows:?}"))
    };
    for (key, by) in [
        ("etag/a", "ETag"),
        ("etag/b", "ETag"),
        ("crc64/single", "CRC64NVME"),
        ("crc32c/single", "CRC32C"),
        ("crc64/parts", "CRC64NVME"),
        ("crc32c/parts", "CRC32C"),
        ("sha/single", "SHA256"),
    ] {
        let r = row(key);
        assert_eq!(
            (r[3].as_str(), r[7].as_str(), r[8].as_str()),
            ("succeeded", "verified", by),
            "{r:?}"
        );
        assert!(!r[9].is_empty() && r[9] == r[10], "{r:?}");
    }
    // the ETag column is the object's ETag (the MD5 of its bytes), without quotes
    let head =
        c.s3.head_object()
            .bucket(&bucket)
            .key("etag/a")
            .send()
            .await
            .expect("head");
    assert_eq!(
        row("etag/a")[9],
        head.e_tag().expect("etag").trim_matches('"')
    );
    for key in ["kms/plain", "onepart/plain", "sha/parts"] {
        let r = row(key);
        assert_eq!(r[7], "not comparable", "{r:?}");
        assert!(r[6].contains("not comparable:"), "{r:?}");
    }
    assert!(row("kms/plain")[6].contains("SSE-KMS"));
    assert!(row("onepart/plain")[6].contains("uploaded in parts"));
    assert!(row("sha/parts")[6].contains("SHA-1/SHA-256"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_copy_that_is_not_its_source_fails_and_the_source_version_stays() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("mismatch");
    create_bucket(&c, &bucket).await;
    enable_versioning(&c, &bucket).await;
    let objects = [
        ("bad/etag", 3_000, Upload::Plain, "etag"),
        ("bad/crc", 3_000, Upload::Checksum("CRC64NVME"), "checksum"),
        (
            "bad/parts",
            9 * MIB + 1,
            Upload::Checksum("CRC32C"),
            "checksum",
        ),
        ("good/one", 3_000, Upload::Plain, ""),
    ];
    for (key, size, how, corrupt) in objects {
        upload(&c, &bucket, key, size, how).await;
        if !corrupt.is_empty() {
            moto.configure(
                &serde_json::json!({"corrupt_copy": {"bucket": bucket, "key": key, "what": corrupt}})
                    .to_string(),
            );
        }
    }
    let keys: Vec<String> = objects.iter().map(|(k, ..)| k.to_string()).collect();
    let job = unique("job");
    let mut flags = MULTIPART.to_vec();
    flags.push("--delete-source-version");
    let out = launch_local(moto, &table, &bucket, &job, write_keys(&keys), &flags);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["copied"], 1, "{status}");
    assert_eq!(status["totals"]["failed"], 3, "{status}");
    let out = run_ok(
        moto,
        "coordinator",
        &["failures", &job, "--table", &table, "--with-errors"],
        &[],
    );
    let text = stdout(&out);
    assert_eq!(text.matches(",CopyMismatch,").count(), 3, "{text}");
    // the source versions of the mismatched copies are all there; the good one's is deleted
    for (key, _, _, corrupt) in objects {
        let versions = version_ids(&c, &bucket, key).await;
        let expected = if corrupt.is_empty() { 1 } else { 2 };
        assert_eq!(versions.len(), expected, "{key}: {versions:?}");
        assert_eq!(class_of(&c, &bucket, key).await, "STANDARD_IA", "{key}");
    }
    // nothing left for a later run to delete
    let lots = ProgressTable::new(c.ddb.clone(), &table)
        .lots(&job)
        .await
        .expect("lots");
    assert!(lots[0].uploads.is_empty(), "{:?}", lots[0].uploads);

    let (summary, rows) = report(moto, &table, &job);
    assert_eq!(summary["verification"]["mismatch"], 3, "{summary}");
    assert_eq!(summary["verification"]["verified_by_etag"], 1, "{summary}");
    for (key, by) in [
        ("bad/etag", "ETag"),
        ("bad/crc", "CRC64NVME"),
        ("bad/parts", "CRC32C"),
    ] {
        let r = &rows[key];
        assert_eq!(
            (r[3].as_str(), r[4].as_str(), r[7].as_str(), r[8].as_str()),
            ("failed", "CopyMismatch", "mismatch", by),
            "{r:?}"
        );
        assert_ne!(r[9], r[10], "{r:?}");
    }
}
