//! What the job's copies do to their source objects, which the cost (early deletion) and the
//! advice (monthly storage after the move) depend on: an in-place copy in an unversioned bucket
//! overwrites its source, `--delete-source-version` deletes it, and a copy elsewhere or in place
//! in a versioned bucket leaves it (the old version stays, noncurrent). The bucket's versioning
//! is read (GetBucketVersioning) only when it decides.

use thaw_common::aws::AwsError;
use thaw_common::cost::source_removed;

use crate::buckets::versioning;

/// What the copies do to their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFate {
    /// The source is gone after its copy: early deletion is billed, its storage stops.
    pub removed: bool,
    /// Copies in place in a versioned bucket keep the old version (noncurrent) until a
    /// lifecycle rule or someone deletes it.
    pub old_version_kept: bool,
    /// The versioning could not be read: counted as unversioned, and why.
    pub note: Option<String>,
}

/// The fate of the sources of a job in `bucket`; `copies_elsewhere`: `--dest`, or a pairs list
/// naming other objects. A refused or failed read of the versioning counts the bucket as
/// unversioned (the copies then remove their source) and says so.
pub async fn source_fate(
    s3: Option<&aws_sdk_s3::Client>,
    bucket: &str,
    delete_source_version: bool,
    copies_elsewhere: bool,
) -> SourceFate {
    if delete_source_version || copies_elsewhere {
        return fate(delete_source_version, copies_elsewhere, false, None);
    }
    let read = match s3 {
        Some(s3) => versioning(s3, bucket)
            .await
            .map_err(|e| match e.downcast_ref::<AwsError>() {
                Some(err) if !err.code.is_empty() => err.code.clone(),
                _ => format!("{e:#}"),
            }),
        None => Err("no AWS access".to_owned()),
    };
    match read {
        Ok(status) => fate(false, false, status.as_deref() == Some("Enabled"), None),
        Err(why) => {
            let note = format!(
                "cannot read the versioning of bucket {bucket} ({why}): counted as unversioned (in-place copies replace their source)"
            );
            fate(false, false, false, Some(note))
        }
    }
}

fn fate(dsv: bool, elsewhere: bool, versioned: bool, note: Option<String>) -> SourceFate {
    SourceFate {
        removed: source_removed(dsv, elsewhere, versioned),
        old_version_kept: versioned && !dsv && !elsewhere,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_an_unknown_versioning_is_read_and_said() {
        // decided by the flags: no read, no note
        let dsv = source_fate(None, "b", true, false).await;
        assert_eq!(
            (dsv.removed, dsv.old_version_kept, dsv.note),
            (true, false, None)
        );
        let elsewhere = source_fate(None, "b", false, true).await;
        assert_eq!(
            (
                elsewhere.removed,
                elsewhere.old_version_kept,
                elsewhere.note
            ),
            (false, false, None)
        );
        // in place without AWS access: counted as unversioned, and said
        let unknown = source_fate(None, "b", false, false).await;
        assert!(unknown.removed && !unknown.old_version_kept);
        assert_eq!(
            unknown.note.as_deref(),
            Some("cannot read the versioning of bucket b (no AWS access): counted as unversioned (in-place copies replace their source)")
        );
        // versioned in place: the old version is kept
        let versioned = fate(false, false, true, None);
        assert!(!versioned.removed && versioned.old_version_kept);
    }
}
