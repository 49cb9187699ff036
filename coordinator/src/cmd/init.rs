//! `coordinator init`: creates the progress table if it is missing and, with `--create-bucket`,
//! the control bucket. Safe to run any number of times.

use anyhow::Context;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use thaw_common::aws::AwsError;

use super::{out, usage, Global};
use crate::buckets::check_bucket;

/// Flags of `coordinator init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Bucket for lot manifests and job specs; checked (or created with --create-bucket).
    #[arg(long, env = "THAW_CONTROL_BUCKET")]
    pub control_bucket: Option<String>,
    /// Create the control bucket (a bucket you already own is fine).
    #[arg(long, env = "THAW_CREATE_BUCKET", requires = "control_bucket")]
    pub create_bucket: bool,
    /// The account's RestoreObject rate in this Region (requests per second), shared by every
    /// job of the table whose bucket is in this Region [when never set: 1,000, as AWS
    /// documents].
    #[arg(long, env = "THAW_ACCOUNT_RESTORE_RATE")]
    pub account_restore_rate: Option<f64>,
}

/// Runs `coordinator init`.
pub async fn run(g: &Global, args: InitArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let mut o = String::new();
    let created = table
        .create_if_missing()
        .await
        .with_context(|| format!("creating table {}", g.table))?;
    if created {
        push_line!(o, "created table {}", g.table);
    } else {
        push_line!(o, "table {} already exists", g.table);
    }
    if let Some(rate) = args.account_restore_rate {
        if !(rate.is_finite() && rate > 0.0) {
            out(&o)?;
            return Err(usage(format!(
                "--account-restore-rate must be a positive number, not {rate}"
            )));
        }
        let region = aws.region();
        table
            .set_account_restore_rate(&region, rate)
            .await
            .with_context(|| format!("setting the restore budget of {region}"))?;
        push_line!(o, "restore budget in {region}: {rate} requests per second");
    }
    let Some(bucket) = &args.control_bucket else {
        return out(&o);
    };
    let s3 = aws.s3();
    if !args.create_bucket {
        if let Err(e) = check_bucket(&s3, bucket).await {
            out(&o)?;
            return Err(e);
        }
        push_line!(o, "bucket {bucket} exists");
        return out(&o);
    }
    let region = aws.region();
    let mut req = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => push_line!(o, "created bucket {bucket}"),
        Err(e) => {
            let err = AwsError::from_sdk("CreateBucket", &e);
            if err.code == "BucketAlreadyOwnedByYou" {
                push_line!(o, "bucket {bucket} already exists");
            } else {
                out(&o)?;
                return Err(err).with_context(|| format!("creating bucket {bucket}"));
            }
        }
    }
    out(&o)
}
