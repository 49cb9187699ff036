//! The emulator's raw ceiling for thaw's request mix, for `bench/run`: per key RestoreObject,
//! HeadObject, CopyObject (in place, new storage class), as the worker sends them for a sorted
//! lot (whose first step comes from a listing, a page per 1,000 keys, left out here), with the
//! same SDK and concurrency as the worker but with no state machine, no checkpoints and no
//! DynamoDB.
//!
//! Usage: ceiling BUCKET KEYS_FILE CONCURRENCY (endpoint and credentials from the environment).

use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_sdk_s3::types::{GlacierJobParameters, RestoreRequest, StorageClass, Tier};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, bucket, keys_file, concurrency] = args.as_slice() else {
        return Err("usage: ceiling BUCKET KEYS_FILE CONCURRENCY".into());
    };
    let concurrency: usize = concurrency.parse()?;
    let keys: Vec<String> = std::fs::read_to_string(keys_file)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let conf = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&conf)
            .force_path_style(true)
            .build(),
    );
    let t0 = Instant::now();
    let errors: usize = futures::stream::iter(keys.iter())
        .map(|key| one_key(&s3, bucket, key))
        .buffer_unordered(concurrency)
        .fold(0, |a, e| async move { a + e })
        .await;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{{\"keys\":{},\"elapsed_s\":{:.3},\"keys_per_s\":{:.1},\"requests\":{},\"errors\":{}}}",
        keys.len(),
        secs,
        keys.len() as f64 / secs,
        keys.len() * 3,
        errors
    );
    Ok(())
}

/// RESTORE, HEAD, COPY of one key, as the worker sends them; the number that failed.
async fn one_key(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> usize {
    let mut errors = 0;
    let req = RestoreRequest::builder()
        .days(1)
        .glacier_job_parameters(
            GlacierJobParameters::builder()
                .tier(Tier::Bulk)
                .build()
                .expect("tier set"),
        )
        .build();
    errors += usize::from(
        s3.restore_object()
            .bucket(bucket)
            .key(key)
            .restore_request(req)
            .send()
            .await
            .is_err(),
    );
    errors += usize::from(
        s3.head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .is_err(),
    );
    let source = format!(
        "{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    );
    errors += usize::from(
        s3.copy_object()
            .bucket(bucket)
            .key(key)
            .copy_source(source)
            .storage_class(StorageClass::StandardIa)
            .send()
            .await
            .is_err(),
    );
    errors
}
