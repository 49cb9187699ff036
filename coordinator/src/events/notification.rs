//! The bucket's notification configuration on S3: read it, write the merged one
//! ([`super::notification_merge`]), and the whole guarded sequence of `events setup`.

use aws_sdk_s3::types::NotificationConfiguration;
use thaw_common::aws::AwsError;

use super::notification_merge::{kept, merge, summary, unchanged, Current, Merge, Refusal};
use super::Change;

/// Why EventBridge could not be turned on safely.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The configuration could not be read: an unknown configuration is never overwritten.
    #[error("cannot read the notification configuration of bucket {bucket}, so it is left as it is ({error}); the caller needs s3:GetBucketNotification")]
    Read {
        /// The bucket.
        bucket: String,
        /// The read's error.
        error: AwsError,
    },
    /// S3 refused the write (e.g. a destination of the existing configuration is no longer
    /// valid: S3 validates every destination of a write).
    #[error("S3 refused the merged notification configuration of bucket {bucket} ({error}); the configuration is as it was")]
    Write {
        /// The bucket.
        bucket: String,
        /// The write's error.
        error: AwsError,
    },
    /// Not safe, or not done.
    #[error("bucket {bucket}: {refusal}")]
    Refused {
        /// The bucket.
        bucket: String,
        /// Why.
        refusal: Refusal,
    },
}

/// Reads `bucket`'s notification configuration.
pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Current, NotificationError> {
    let out = s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| NotificationError::Read {
            bucket: bucket.to_owned(),
            error: AwsError::from_sdk("GetBucketNotificationConfiguration", &e),
        })?;
    Ok(Current {
        topics: out.topic_configurations().to_vec(),
        queues: out.queue_configurations().to_vec(),
        lambdas: out.lambda_function_configurations().to_vec(),
        event_bridge: out.event_bridge_configuration().is_some(),
    })
}

async fn write(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    cfg: NotificationConfiguration,
) -> Result<(), NotificationError> {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(cfg)
        .send()
        .await
        .map_err(|e| NotificationError::Write {
            bucket: bucket.to_owned(),
            error: AwsError::from_sdk("PutBucketNotificationConfiguration", &e),
        })?;
    Ok(())
}

/// Turns EventBridge notifications on for `bucket`, keeping every other destination: read,
/// merge, read again (refuse on a change), write, read back (refuse on a loss). Returns what it
/// did and the configuration as first read (for the output).
///
/// S3 has no conditional write of this configuration: a change made between the second read and
/// the write (milliseconds) would still be lost; the read-back then reports it.
pub async fn enable_event_bridge(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<(Change, String), NotificationError> {
    let refused = |refusal| NotificationError::Refused {
        bucket: bucket.to_owned(),
        refusal,
    };
    let first = read(s3, bucket).await?;
    let cfg = match merge(&first) {
        Merge::AlreadyOn => return Ok((Change::Unchanged, summary(&first))),
        Merge::Write(cfg) => cfg,
    };
    let second = read(s3, bucket).await?;
    unchanged(&first, &second).map_err(refused)?;
    write(s3, bucket, cfg).await?;
    let after = read(s3, bucket).await?;
    kept(&first, &after).map_err(refused)?;
    Ok((Change::Updated, summary(&first)))
}
