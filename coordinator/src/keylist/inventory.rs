//! S3 Inventory reports as job input: a `manifest.json` (local or `s3://`) naming gzipped CSV
//! data files, whose columns `fileSchema` gives. Each data file is streamed to a temp file and
//! decompressed line by line into a key list spool: memory does not grow with the inventory.
//!
//! Keys in inventory CSV files are URL-encoded (`+` is a space). Delete markers and non-current
//! versions are left out (thaw moves current versions), and so are objects the inventory already
//! shows in the target class.
//!
//! The Size, StorageClass, LastModifiedDate and IntelligentTieringAccessTier columns, when the
//! inventory has them, also feed the cost estimate (`launch --dry-run`, `estimate`): what each
//! object will cost is known without a HeadObject.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use anyhow::{anyhow, bail, Context};
use flate2::read::MultiGzDecoder;
use thaw_common::aws::AwsError;
use thaw_common::input::{split_csv, url_decode, InputFormat};
use thaw_common::keys::parse_key_line;

use thaw_common::cost::{PlannedAction, PlannedObject};
use thaw_common::input::epoch_seconds;
use thaw_common::leave_out::LeaveOut;
use thaw_common::sample::Reservoir;
use thaw_common::spec::object_uri;

use super::left_out::LeftOut;
use super::spool::{create_spool, download};
use super::KeyList;

/// Inventory rows kept for the cost estimate (a uniform sample; all of them up to this many).
const OBJECT_SAMPLE: usize = 100_000;

/// Where each needed column is in the data files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    key: usize,
    is_latest: Option<usize>,
    is_delete_marker: Option<usize>,
    storage_class: Option<usize>,
    size: Option<usize>,
    last_modified: Option<usize>,
    access_tier: Option<usize>,
}

impl Columns {
    fn from_schema(schema: &str) -> anyhow::Result<Self> {
        let names: Vec<String> = schema.split(',').map(|c| c.trim().to_owned()).collect();
        let find = |n: &str| names.iter().position(|c| c.eq_ignore_ascii_case(n));
        Ok(Self {
            key: find("Key").ok_or_else(|| anyhow!("fileSchema has no Key column: '{schema}'"))?,
            is_latest: find("IsLatest"),
            is_delete_marker: find("IsDeleteMarker"),
            storage_class: find("StorageClass"),
            size: find("Size"),
            last_modified: find("LastModifiedDate"),
            access_tier: find("IntelligentTieringAccessTier"),
        })
    }
}

/// The parts of `manifest.json` thaw needs.
#[derive(Debug)]
struct Manifest {
    source_bucket: String,
    destination_bucket: String,
    columns: Columns,
    files: Vec<String>,
}

fn parse_manifest(bytes: &[u8], name: &str) -> anyhow::Result<Manifest> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .with_context(|| format!("{name}: not a JSON inventory manifest"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .ok_or_else(|| anyhow!("{name}: no '{k}' in the inventory manifest"))
    };
    let format = field("fileFormat")?;
    if !format.eq_ignore_ascii_case("CSV") {
        bail!("{name}: {format} inventories are not supported (configure the inventory as CSV)");
    }
    let destination = field("destinationBucket")?;
    let files = v
        .get("files")
        .and_then(|f| f.as_array())
        .ok_or_else(|| anyhow!("{name}: no 'files' in the inventory manifest"))?
        .iter()
        .map(|f| {
            f.get("key")
                .and_then(|k| k.as_str())
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{name}: a file entry has no 'key'"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Manifest {
        source_bucket: field("sourceBucket")?.to_owned(),
        destination_bucket: destination
            .strip_prefix("arn:aws:s3:::")
            .unwrap_or(destination)
            .to_owned(),
        columns: Columns::from_schema(field("fileSchema")?)?,
        files,
    })
}

async fn read_small(s3: &aws_sdk_s3::Client, source: &str) -> anyhow::Result<Vec<u8>> {
    if !source.starts_with("s3://") {
        return std::fs::read(source).with_context(|| format!("reading {source}"));
    }
    match object_uri(source) {
        Some((bucket, key)) => Ok(s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetObject", &e))
            .with_context(|| format!("reading {source}"))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading {source}"))?
            .into_bytes()
            .to_vec()),
        None => bail!("'{source}' is not an s3://bucket/key URI"),
    }
}

/// What the worker will do with an inventory row's object, for the cost estimate: archived
/// objects (the archive classes, and Intelligent-Tiering's archive tiers) are restored, the
/// others copied. Intelligent-Tiering has no minimum duration, so no age for it.
fn planned_row(
    class: &str,
    access_tier: Option<&str>,
    size: u64,
    age_days: Option<f64>,
) -> PlannedObject {
    let plain = class;
    let (class, age_days) = match (class, access_tier) {
        ("INTELLIGENT_TIERING", Some("DEEP_ARCHIVE_ACCESS")) => ("DEEP_ARCHIVE", None),
        ("INTELLIGENT_TIERING", Some("ARCHIVE_ACCESS")) => ("GLACIER", None),
        ("INTELLIGENT_TIERING", _) => ("INTELLIGENT_TIERING", None),
        (c, _) => (c, age_days),
    };
    let action = if matches!(class, "GLACIER" | "DEEP_ARCHIVE") {
        PlannedAction::RestoreThenCopy
    } else {
        PlannedAction::Copy
    };
    PlannedObject {
        restored_copy: class == plain,
        class: class.to_owned(),
        size,
        age_days,
        action,
    }
}

/// Decodes one gzipped CSV data file into `out`, offering each kept row's object to `objects`;
/// returns (rows, keys kept).
fn decode_file(
    path: &std::path::Path,
    name: &str,
    cols: &Columns,
    target: &str,
    out: &mut impl Write,
    objects: &mut Reservoir<PlannedObject>,
    left: (&LeaveOut, &mut LeftOut),
) -> anyhow::Result<(u64, u64)> {
    let (rule, left_out) = left;
    let now = thaw_common::progress::now_secs();
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(MultiGzDecoder::new(BufReader::new(file)));
    let (mut rows, mut kept) = (0u64, 0u64);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let n = reader
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("{name}: corrupt or truncated gzip data after {rows} rows"))?;
        if n == 0 {
            return Ok((rows, kept));
        }
        rows += 1;
        let text = std::str::from_utf8(&raw)
            .map_err(|_| anyhow!("{name}: row {rows} is not valid UTF-8"))?
            .trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            continue;
        }
        let fields = split_csv(text, rows).with_context(|| name.to_owned())?;
        let get = |i: Option<usize>| i.and_then(|i| fields.get(i)).map(String::as_str);
        if get(cols.is_delete_marker) == Some("true") || get(cols.is_latest) == Some("false") {
            continue;
        }
        if get(cols.storage_class) == Some(target) {
            continue;
        }
        let encoded =
            get(Some(cols.key)).ok_or_else(|| anyhow!("{name}: row {rows} has no key column"))?;
        let key = url_decode(encoded, true, rows).with_context(|| name.to_owned())?;
        parse_key_line(key.as_bytes(), rows).with_context(|| name.to_owned())?;
        let size = get(cols.size).and_then(|s| s.parse().ok());
        let modified = get(cols.last_modified).and_then(epoch_seconds);
        if left_out.leaves_out(rule, &key, size, modified, now) {
            continue;
        }
        out.write_all(key.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .context("writing the key list spool")?;
        kept += 1;
        let size = size.unwrap_or(0);
        let age_days = modified.map(|t| (now - t).max(0) as f64 / 86_400.0);
        objects.offer(planned_row(
            get(cols.storage_class)
                .filter(|c| !c.is_empty())
                .unwrap_or("STANDARD"),
            get(cols.access_tier),
            size,
            age_days,
        ));
    }
}

/// Reads an inventory (`manifest.json`, local or `s3://`) of `bucket` into a key list; the rows
/// `leave_out` leaves out (by their Size and LastModifiedDate columns) are counted, not listed.
pub async fn key_list(
    s3: &aws_sdk_s3::Client,
    source: &str,
    bucket: &str,
    target: &str,
    leave_out: &LeaveOut,
) -> anyhow::Result<KeyList> {
    let manifest = parse_manifest(&read_small(s3, source).await?, source)?;
    if manifest.source_bucket != bucket {
        bail!(
            "{source} is an inventory of bucket '{}', not of --bucket '{bucket}'",
            manifest.source_bucket
        );
    }
    let (file, spool) = create_spool()?;
    let mut out = BufWriter::new(file);
    let (mut rows, mut kept) = (0u64, 0u64);
    let mut objects = Reservoir::new(OBJECT_SAMPLE);
    let mut left_out = LeftOut::default();
    for (n, key) in manifest.files.iter().enumerate() {
        let name = format!("s3://{}/{key}", manifest.destination_bucket);
        let gz = download(
            s3,
            &manifest.destination_bucket,
            key,
            &format!("inventory file {name}"),
        )
        .await?;
        let (r, k) = decode_file(
            gz.path(),
            &name,
            &manifest.columns,
            target,
            &mut out,
            &mut objects,
            (leave_out, &mut left_out),
        )?;
        rows += r;
        kept += k;
        tracing::info!(
            "inventory file {}/{}: {r} rows, {k} keys kept ({kept} so far)",
            n + 1,
            manifest.files.len()
        );
    }
    out.flush().context("writing the key list spool")?;
    tracing::info!("{source}: {rows} inventory rows, {kept} keys to move");
    let mut list = KeyList::from_spool(spool, source, InputFormat::Inventory)?;
    list.known_objects = Some(objects);
    list.left_out = left_out;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_columns() {
        let c = Columns::from_schema(
            "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, StorageClass",
        )
        .expect("schema");
        assert_eq!(
            c,
            Columns {
                key: 1,
                is_latest: Some(3),
                is_delete_marker: Some(4),
                storage_class: Some(6),
                size: Some(5),
                last_modified: None,
                access_tier: None,
            }
        );
        assert!(Columns::from_schema("Bucket, Size").is_err());
    }

    #[test]
    fn manifest_fields() {
        let m = parse_manifest(
            br#"{"sourceBucket":"src","destinationBucket":"arn:aws:s3:::inv","fileFormat":"CSV",
                 "fileSchema":"Bucket, Key","files":[{"key":"a/1.csv.gz"},{"key":"a/2.csv.gz"}]}"#,
            "m",
        )
        .expect("manifest");
        assert_eq!(
            (m.source_bucket.as_str(), m.destination_bucket.as_str()),
            ("src", "inv")
        );
        assert_eq!(m.files.len(), 2);
        let orc = parse_manifest(
            br#"{"sourceBucket":"s","destinationBucket":"d","fileFormat":"ORC","fileSchema":"x","files":[]}"#,
            "m",
        );
        assert!(orc.unwrap_err().to_string().contains("ORC"));
        assert!(parse_manifest(b"not json", "m").is_err());
    }

    #[test]
    fn only_the_archive_classes_keep_a_restored_copy() {
        let glacier = planned_row("GLACIER", None, 10, Some(1.0));
        assert!(glacier.restored_copy);
        assert_eq!(glacier.action, PlannedAction::RestoreThenCopy);
        // Intelligent-Tiering's archive tiers are restored without days: no temporary copy
        let tiering = planned_row("INTELLIGENT_TIERING", Some("ARCHIVE_ACCESS"), 10, None);
        assert_eq!(
            (
                tiering.class.as_str(),
                tiering.action,
                tiering.restored_copy
            ),
            ("GLACIER", PlannedAction::RestoreThenCopy, false)
        );
    }
}
