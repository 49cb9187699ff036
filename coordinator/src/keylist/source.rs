//! Where a key list comes from: a local file or stdin, an object in S3 (streamed to a spool),
//! or an S3 Inventory `manifest.json`; the format is given (`--format`) or guessed from the name
//! and first line.

use std::path::PathBuf;

use anyhow::anyhow;
use thaw_common::aws::Aws;
use thaw_common::input::InputFormat;
use thaw_common::leave_out::LeaveOut;
use thaw_common::storage::StorageClass;

use super::{inventory, spool, KeyList};
use crate::usage::usage;

/// The list formats `launch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    /// One key per line, exactly as stored.
    Keys,
    /// S3 Batch Operations CSV: `bucket,key[,versionId]` (URL-encoded keys, no header).
    Csv,
    /// S3 Inventory `manifest.json` with gzipped CSV data files.
    Inventory,
    /// Source and destination per line: `s3://src-bucket/key,s3://dst-bucket/key`.
    Pairs,
}

impl From<ListFormat> for InputFormat {
    fn from(f: ListFormat) -> Self {
        match f {
            ListFormat::Keys => Self::Keys,
            ListFormat::Csv => Self::BatchCsv,
            ListFormat::Inventory => Self::Inventory,
            ListFormat::Pairs => Self::Pairs,
        }
    }
}

/// True when `input` (with `format`) is an S3 Inventory `manifest.json`.
pub fn is_inventory(input: &str, format: Option<ListFormat>) -> bool {
    format == Some(ListFormat::Inventory)
        || (format.is_none() && input.to_ascii_lowercase().ends_with("manifest.json"))
}

/// Reads a local list (or stdin, `-`), pass 1.
fn read_local(input: &str, format: Option<ListFormat>, bucket: &str) -> anyhow::Result<KeyList> {
    if input == "-" {
        return match format {
            None | Some(ListFormat::Keys) => KeyList::scan("-"),
            Some(_) => Err(usage(
                "a CSV list cannot be read from stdin: pass a file or an s3:// URI",
            )),
        };
    }
    KeyList::open(
        PathBuf::from(input),
        input,
        None,
        format.map(Into::into),
        bucket,
    )
}

/// Reads a job's list from any input `launch` takes but `--from`: a local file or stdin, an
/// `s3://` URI (streamed), or an S3 Inventory `manifest.json` (local or in S3).
/// `aws` is needed only for a list in S3 (its error is reported then). An inventory's rows that
/// `leave_out` leaves out are counted in [`KeyList::left_out`], not listed.
pub async fn read_list(
    aws: anyhow::Result<&Aws>,
    input: &str,
    format: Option<ListFormat>,
    bucket: &str,
    target: StorageClass,
    leave_out: &LeaveOut,
) -> anyhow::Result<KeyList> {
    if is_inventory(input, format) {
        return inventory::key_list(&aws?.s3(), input, bucket, target.as_str(), leave_out).await;
    }
    if input.starts_with("s3://") {
        return fetch_key_list(&aws?.s3(), input, format.map(Into::into), bucket).await;
    }
    read_local(input, format, bucket)
}

/// Reads a list in S3 and scans it as `format` (see [`KeyList::open`]).
pub async fn fetch_key_list(
    s3: &aws_sdk_s3::Client,
    uri: &str,
    format: Option<InputFormat>,
    bucket: &str,
) -> anyhow::Result<KeyList> {
    let (list_bucket, key) = thaw_common::spec::object_uri(uri)
        .ok_or_else(|| anyhow!("key list '{uri}' is not an s3://bucket/key URI"))?;
    let spool = spool::download(s3, list_bucket, key, &format!("key list {uri}")).await?;
    KeyList::open(spool.path().to_path_buf(), uri, Some(spool), format, bucket)
}
