//! The subcommands, one file each, and what they share: the global flags, usage errors and the
//! pre-flight checks that run before anything is written.

/// Appends one formatted line to a `String` (command output is written at once with [`out`]).
macro_rules! push_line {
    ($buf:expr, $($arg:tt)*) => {{
        $buf.push_str(&format!($($arg)*));
        $buf.push('\n');
    }};
}

pub mod cancel;
pub mod estimate;
pub mod failures;
pub mod follow;
pub mod init;
pub mod jobs;
pub mod launch;
pub mod retry;
pub mod status;

use std::fmt;
use std::io::Write;

use anyhow::Context;
use thaw_common::aws::{Aws, AwsArgs, AwsError};
use thaw_common::progress::ProgressTable;

/// Flags every subcommand accepts.
#[derive(Debug, Clone)]
pub struct Global {
    /// AWS connection flags.
    pub aws: AwsArgs,
    /// DynamoDB progress table.
    pub table: String,
}

impl Global {
    /// Loads the AWS configuration (no request is sent).
    pub async fn aws(&self) -> anyhow::Result<Aws> {
        Aws::load(&self.aws)
            .await
            .context("loading the AWS configuration")
    }

    /// The progress table named by `--table`.
    pub fn progress(&self, aws: &Aws) -> ProgressTable {
        ProgressTable::new(aws.dynamodb(), &self.table)
    }
}

/// A command line that parses but asks for something impossible; exits with code 2 like clap's
/// own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps a message as a usage error.
pub fn usage(msg: impl fmt::Display) -> anyhow::Error {
    UsageError(msg.to_string()).into()
}

/// True when the error (or anything in its chain) is a usage error.
pub fn is_usage(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<UsageError>())
}

/// Fails unless `bucket` exists and is reachable with our credentials (HeadBucket).
pub async fn check_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<()> {
    bucket_region(s3, bucket).await.map(|_| ())
}

/// The Region `bucket` is in (HeadBucket's `x-amz-bucket-region`, which S3 also sends with the
/// 301 it answers when asked in the wrong Region); fails unless the bucket exists and is
/// reachable with our credentials.
pub async fn bucket_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> anyhow::Result<Option<String>> {
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(out) => Ok(out.bucket_region().map(str::to_owned)),
        Err(e) => {
            let region = e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_owned);
            let err = AwsError::from_sdk("HeadBucket", &e);
            // S3 names the bucket's Region on a 301 (asked in the wrong Region), and also on
            // the 400 and 403 of some endpoints: the bucket exists there.
            if let (Some(r), Some(301 | 400 | 403)) = (region, err.status) {
                return Ok(Some(r));
            }
            if err.status == Some(404) || matches!(err.code.as_str(), "NotFound" | "NoSuchBucket") {
                anyhow::bail!("bucket {bucket} does not exist");
            }
            if err.status == Some(403) || err.is_access() {
                anyhow::bail!("access to bucket {bucket} denied ({err})");
            }
            Err(err).with_context(|| format!("checking bucket {bucket}"))
        }
    }
}

/// Fails unless `bucket` is in `region` (the Region thaw runs in), naming the Region to use.
pub async fn check_bucket_in_region(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    what: &str,
) -> anyhow::Result<()> {
    match bucket_region(s3, bucket).await? {
        Some(r) if r != region => anyhow::bail!(
            "{what} {bucket} is in Region {r}, but thaw is running in {region}: pass --region {r} (the workers and the progress table must be in the bucket's Region)"
        ),
        _ => Ok(()),
    }
}

/// Writes `text` to stdout; a closed pipe (`coordinator status ... | head`) is not an error.
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
