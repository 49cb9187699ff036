//! Who pays, who decrypts, who locks: a requester-pays source read with `--request-payer`;
//! copies into other buckets encrypted as the destination says (its default, or
//! `--dest-kms-key`), never with the source's KMS key; a destination without Object Lock refused
//! at launch, or given copies without lock settings with `--drop-object-lock`; and
//! `--delete-source-version` writing the lot item once per group of keys in flight, not twice
//! per key. The emulator refuses what S3 refuses (tests/emulator_access.py).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ObjectLockLegalHoldStatus, Payer, RequestPaymentConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use crate::assert::assert_object;
use crate::rig::*;

const MIB: usize = 1024 * 1024;

async fn make_requester_pays(c: &Clients, bucket: &str) {
    c.s3.put_bucket_request_payment()
        .bucket(bucket)
        .request_payment_configuration(
            RequestPaymentConfiguration::builder()
                .payer(Payer::Requester)
                .build()
                .expect("payment configuration"),
        )
        .send()
        .await
        .expect("requester pays");
}

async fn default_kms(c: &Clients, bucket: &str, key: &str) {
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id(key)
                .build()
                .expect("default"),
        )
        .build();
    c.s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .expect("bucket encryption");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_pays_source_is_read_with_request_payer() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let (bucket, control) = (unique("payer"), unique("control"));
    create_bucket(&c, &bucket).await;
    create_bucket(&c, &control).await;
    let mut keys: Vec<String> = (0..6).map(|i| format!("rp/{i} a+b")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(&c, &bucket, objects).await;
    // one multipart copy: tags, parts, create/complete on the source bucket itself
    let big = "rp/big".to_owned();
    let body = vec![7u8; 12 * MIB + 5];
    c.s3.put_object()
        .bucket(&bucket)
        .key(&big)
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .tagging("team=data")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put big");
    keys.push(big.clone());
    make_requester_pays(&c, &bucket).await;
    // the emulator refuses the owner's own unpaid reads, as S3 refuses another account's
    let refused =
        c.s3.head_object()
            .bucket(&bucket)
            .key(&keys[0])
            .send()
            .await;
    assert_eq!(
        refused
            .expect_err("unpaid HEAD")
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(403)
    );
    // planning from a listing: the listing and the cost sample's HEADs pay too
    let from = format!("s3://{bucket}/rp/");
    let plan = |paid: bool| {
        let mut extra = vec!["--dry-run", "--from", &from, "--control-bucket", &control];
        if paid {
            extra.push("--request-payer");
        }
        launch_local(moto, &table, &bucket, &unique("job"), "", &extra)
    };
    let unpaid = plan(false);
    assert_eq!(unpaid.status.code(), Some(1), "{}", stdout(&unpaid));
    assert!(
        stderr(&unpaid).contains("AccessDenied"),
        "{}",
        stderr(&unpaid)
    );
    let paid_plan = assert_success(plan(true), "paid dry run");
    let text = stdout(&paid_plan);
    assert!(text.contains("keys: 7 from"), "{text}");
    assert!(text.contains("7 looked at with HeadObject"), "{text}");
    assert!(text.contains("7 restores"), "{text}");
    let input = write_keys(&keys);
    let flags = [
        "--control-bucket",
        &control,
        "--multipart-threshold",
        "8388608",
        "--part-size",
        "5242880",
    ];

    // without --request-payer every key is refused (403)
    let job = unique("job");
    let out = launch_local(moto, &table, &bucket, &job, &input, &flags);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["failed"], keys.len(), "{status}");

    let job = unique("job");
    let mut paid = flags.to_vec();
    paid.push("--request-payer");
    let out = launch_local_ok(moto, &table, &bucket, &job, &input, &paid);
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["failed"], 0, "{status} {}", stderr(&out));
    assert_eq!(status["totals"]["copied"], keys.len(), "{status}");
    // read back as a paying requester
    for k in &keys {
        let h =
            c.s3.head_object()
                .bucket(&bucket)
                .key(k)
                .request_payer(aws_sdk_s3::types::RequestPayer::Requester)
                .send()
                .await
                .expect("paid HEAD");
        assert_eq!(
            h.storage_class().map(|s| s.as_str()),
            Some("STANDARD_IA"),
            "{k}"
        );
    }
    let tags =
        c.s3.get_object_tagging()
            .bucket(&bucket)
            .key(&big)
            .request_payer(aws_sdk_s3::types::RequestPayer::Requester)
            .send()
            .await
            .expect("tags");
    assert_eq!(tags.tag_set().len(), 1, "multipart copy kept its tag");
}

#[tokio::test(flavor = "multi_thread")]
async fn copies_into_other_buckets_take_the_destination_encryption() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let (src, dst, keyed) = (unique("src"), unique("dst"), unique("keyed"));
    for b in [&src, &dst, &keyed] {
        create_bucket(&c, b).await;
    }
    let source_key = "arn:aws:kms:us-east-1:111111111111:key/source";
    let dest_default = "arn:aws:kms:us-east-1:222222222222:key/dest-default";
    let dest_flag = "arn:aws:kms:us-east-1:222222222222:key/dest-flag";
    default_kms(&c, &dst, dest_default).await;
    let keys = ["enc/kms", "enc/big-kms", "enc/s3"];
    for k in keys {
        let size = if k.contains("big") { 12 * MIB } else { 100 };
        let mut put =
            c.s3.put_object()
                .bucket(&src)
                .key(k)
                .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
                .body(ByteStream::from(vec![1u8; size]));
        put = if k.ends_with("s3") {
            put.server_side_encryption(ServerSideEncryption::Aes256)
        } else {
            put.server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(source_key)
        };
        put.send().await.expect("put");
    }
    let input = write_keys(&keys.map(str::to_owned));
    let multipart = ["--multipart-threshold", "8388608", "--part-size", "5242880"];

    // the destination's default encryption, never the source's key
    let dest = format!("s3://{dst}/");
    let mut flags = vec!["--dest", dest.as_str()];
    flags.extend(multipart);
    let job = unique("job");
    launch_local_ok(moto, &table, &src, &job, &input, &flags);
    assert_eq!(status_json(moto, &table, &job)["totals"]["copied"], 3);
    for k in keys {
        assert_object(&c, &dst, k)
            .class("STANDARD_IA")
            .sse(ServerSideEncryption::AwsKms)
            .kms_key(dest_default)
            .check()
            .await;
    }

    // --dest-kms-key names the key
    let dest = format!("s3://{keyed}/");
    let mut flags = vec!["--dest", dest.as_str(), "--dest-kms-key", dest_flag];
    flags.extend(multipart);
    let job = unique("job");
    launch_local_ok(moto, &table, &src, &job, &input, &flags);
    assert_eq!(status_json(moto, &table, &job)["totals"]["copied"], 3);
    for k in keys {
        assert_object(&c, &keyed, k)
            .sse(ServerSideEncryption::AwsKms)
            .kms_key(dest_flag)
            .check()
            .await;
    }

    // in place, --dest-kms-key means nothing: refused before anything is written
    let out = launch_local(
        moto,
        &table,
        &src,
        &unique("job"),
        &input,
        &["--dest-kms-key", dest_flag],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--dest-kms-key"), "{}", stderr(&out));
    // the sources kept their own encryption
    assert_object(&c, &src, "enc/kms")
        .class("GLACIER")
        .kms_key(source_key)
        .check()
        .await;
}

async fn create_locked_bucket(c: &Clients, bucket: &str) {
    c.s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create locked bucket");
}

async fn legal_hold(c: &Clients, bucket: &str, key: &str) -> Option<String> {
    c.s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head")
        .object_lock_legal_hold_status()
        .map(|s| s.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_without_object_lock_is_refused_or_gets_copies_without_it() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let (src, plain) = (unique("locksrc"), unique("nolock"));
    create_locked_bucket(&c, &src).await;
    create_bucket(&c, &plain).await;
    let keys = ["held/a", "held/b"];
    for k in keys {
        c.s3.put_object()
            .bucket(&src)
            .key(k)
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
            .body(ByteStream::from_static(b"held"))
            .send()
            .await
            .expect("put held object");
    }
    let input = write_keys(&keys.map(str::to_owned));
    let to_plain = format!("s3://{plain}/");

    // refused at launch, naming the bucket and the way out; nothing recorded
    let job = unique("job");
    let out = launch_local(moto, &table, &src, &job, &input, &["--dest", &to_plain]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&plain) && err.contains("--drop-object-lock"),
        "{err}"
    );
    assert_eq!(
        list_keys(&c, &src, &format!("thaw/{job}/")).await,
        Vec::<String>::new(),
        "nothing uploaded for the refused job"
    );
    assert_eq!(list_keys(&c, &plain, "").await, Vec::<String>::new());

    // --drop-object-lock: copied without the legal hold, with a warning
    let job = unique("job");
    let out = launch_local(
        moto,
        &table,
        &src,
        &job,
        &input,
        &["--dest", &to_plain, "--drop-object-lock"],
    );
    assert!(stderr(&out).contains("no Object Lock"), "{}", stderr(&out));
    let status = status_json(moto, &table, &job);
    let failures = run_ok(
        moto,
        "coordinator",
        &["failures", &job, "--table", &table, "--with-errors"],
        &[],
    );
    assert_eq!(
        status["totals"]["copied"],
        2,
        "{status} {}",
        stdout(&failures)
    );
    for k in keys {
        assert_object(&c, &plain, k)
            .class("STANDARD_IA")
            .check()
            .await;
        assert_eq!(legal_hold(&c, &plain, k).await, None, "{k}");
    }
    // (A destination with Object Lock keeps the legal hold: moto cannot show it, it refuses
    // lock headers on CopyObject without Content-MD5, which S3 does not ask for.)
}

/// UpdateItems the emulator saw for a `--delete-source-version`-shaped job of `n` keys, with
/// and without the flag.
async fn update_items_for(moto: &Moto, c: &Clients, n: usize, delete: bool) -> u64 {
    let table = unique("table");
    init_table(moto, &table);
    let bucket = unique("writes");
    create_bucket(c, &bucket).await;
    enable_versioning(c, &bucket).await;
    let keys: Vec<String> = (0..n).map(|i| format!("w/{i:04}")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "STANDARD", b"x".to_vec()))
        .collect();
    put_many(c, &bucket, objects).await;
    let input = write_keys(&keys);
    let job = unique("job");
    let before = moto.stats()["UpdateItem"].as_u64().unwrap_or(0);
    let flags: &[&str] = if delete {
        &["--lots", "1", "--delete-source-version"]
    } else {
        &["--lots", "1"]
    };
    launch_local_ok(moto, &table, &bucket, &job, &input, flags);
    let after = moto.stats()["UpdateItem"].as_u64().unwrap_or(0);
    let status = status_json(moto, &table, &job);
    assert_eq!(status["totals"]["copied"], n, "{status}");
    if delete {
        for k in &keys {
            assert_eq!(
                version_ids(c, &bucket, k).await.len(),
                1,
                "{k}: source version deleted"
            );
        }
    }
    after - before
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_source_version_writes_the_lot_item_per_group_not_per_key() {
    // A private emulator: its request counts are this test's alone.
    let moto = Moto::start();
    let c = moto.clients().await;
    let n = 200;
    let plain = update_items_for(&moto, &c, n, false).await;
    let deleting = update_items_for(&moto, &c, n, true).await;
    // Before: two UpdateItems of the lot item per key (record, then forget): 400 more.
    // Grouped: the records of the keys in flight share one write, at most ten a second.
    let extra = deleting.saturating_sub(plain);
    eprintln!("UpdateItems for {n} keys: plain {plain}, with deletes {deleting}");
    assert!(
        extra < n as u64 / 2,
        "{extra} extra UpdateItems for {n} keys (plain job: {plain}, with deletes: {deleting})"
    );
}
