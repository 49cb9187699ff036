//! `coordinator failures JOB` and `coordinator report JOB`: what happened to every key.
//!
//! Both read each lot's checkpoint from the table (one Query) and its manifest from S3 (one
//! GetObject per lot, held in memory one lot at a time), so they work on 100M-key jobs.
//! `failures` prints the failed keys in the format `launch` reads (or a CSV with the errors);
//! `report` writes an S3 Batch Operations style completion report (per lot, under
//! `<control>/report/`) and a JSON summary.

use std::io::Write;

use anyhow::Context;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::json;
use thaw_common::aws::AwsError;
use thaw_common::checkpoint::{Counters, LotState};
use thaw_common::keys::{KeyLine, KeyReader};
use thaw_common::leave_out::LeftOutReason;
use thaw_common::progress::LotItem;

use super::{out, Global};
use crate::job::load_job;
use crate::proofs::{self, Tally};
use thaw_common::verify::Proof;

/// Flags of `coordinator failures`.
#[derive(Debug, clap::Args)]
pub struct FailuresArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "output", env = "THAW_OUTPUT")]
    pub output: Option<std::path::PathBuf>,
    /// A CSV `key,error_code,error_message` instead of the list `launch` reads.
    #[arg(long)]
    pub with_errors: bool,
}

/// Flags of `coordinator report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Job id.
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Only the failed keys.
    #[arg(long)]
    pub failed_only: bool,
    /// Also write the whole CSV to this local file.
    #[arg(short = 'o', long = "output", env = "THAW_OUTPUT")]
    pub output: Option<std::path::PathBuf>,
}

/// One key's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStatus<'a> {
    /// In the target class: copied by thaw, or (`skipped`) found there already.
    Succeeded {
        skipped: bool,
    },
    Failed {
        code: &'a str,
        message: &'a str,
    },
    Pending,
}

fn status_of(lot: &LotItem, i: usize) -> KeyStatus<'_> {
    if lot.checkpoint.done.get(i) {
        KeyStatus::Succeeded {
            skipped: lot.checkpoint.skipped.get(i),
        }
    } else if let Some((code, message)) = lot.checkpoint.failure_of(i) {
        KeyStatus::Failed { code, message }
    } else if lot.state == LotState::Failed {
        // The whole lot failed (its worker could not run): its unfinished keys failed with it.
        KeyStatus::Failed {
            code: "LotFailed",
            message: lot.last_error.as_deref().unwrap_or("the lot failed"),
        }
    } else {
        KeyStatus::Pending
    }
}

/// Reads a lot's manifest entries (one lot at a time: memory bounded by the lot size).
async fn manifest_keys(s3: &aws_sdk_s3::Client, lot: &LotItem) -> anyhow::Result<Vec<KeyLine>> {
    let rest = thaw_common::spec::object_uri(&lot.manifest)
        .with_context(|| format!("lot {}: bad manifest location '{}'", lot.lot, lot.manifest))?;
    let body = s3
        .get_object()
        .bucket(rest.0)
        .key(rest.1)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading manifest {}", lot.manifest))?
        .body
        .collect()
        .await
        .with_context(|| format!("reading manifest {}", lot.manifest))?
        .into_bytes();
    KeyReader::new(&body[..])
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("manifest {}", lot.manifest))
}

/// One entry as a line of the list kind the job was launched from, so `launch` reads it back with
/// the same version and destination: a Batch Operations CSV line (`bucket,key[,versionId]`, key
/// URL-encoded), a pairs line, or the bare key.
pub fn list_line(input_format: &str, bucket: &str, entry: &KeyLine) -> String {
    match input_format {
        "csv" => {
            let mut line = format!(
                "{},{}",
                csv_field(bucket),
                utf8_percent_encode(&entry.key, REPORT_KEY)
            );
            if let Some(v) = &entry.version_id {
                line.push(',');
                line.push_str(&csv_field(v));
            }
            line
        }
        "pairs" => {
            let (db, dk) = entry
                .dest
                .clone()
                .unwrap_or_else(|| (bucket.to_owned(), entry.key.clone()));
            format!(
                "{},{}",
                csv_field(&format!("s3://{bucket}/{}", entry.key)),
                csv_field(&format!("s3://{db}/{dk}"))
            )
        }
        _ => entry.key.clone(),
    }
}

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn sink(
    output: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<std::io::BufWriter<std::fs::File>>> {
    output
        .as_ref()
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("creating {}", p.display()))
        })
        .transpose()
}

/// Runs `coordinator failures`.
pub async fn run_failures(g: &Global, args: FailuresArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let job = load_job(&table, &args.job).await?;
    let s3 = aws.s3();
    let lots = table.lots(&args.job).await?;
    let mut file = sink(&args.output)?;
    let mut count = 0u64;
    let spec = &job.spec;
    if args.with_errors {
        emit(&mut file, "key,error_code,error_message\n")?;
    }
    for lot in lots
        .iter()
        .filter(|l| !l.checkpoint.failed.is_empty() || l.state == LotState::Failed)
    {
        let keys = manifest_keys(&s3, lot).await?;
        let mut text = String::new();
        for (i, entry) in keys.iter().enumerate() {
            if let KeyStatus::Failed { code, message } = status_of(lot, i) {
                count += 1;
                if args.with_errors {
                    text.push_str(&format!(
                        "{},{},{}\n",
                        csv_field(&entry.key),
                        csv_field(code),
                        csv_field(message)
                    ));
                } else {
                    text.push_str(&list_line(&spec.input_format, &spec.bucket, entry));
                    text.push('\n');
                }
            }
        }
        emit(&mut file, &text)?;
    }
    if let Some(f) = file.as_mut() {
        f.flush().context("writing the output file")?;
    }
    if let Some(p) = &args.output {
        eprintln!("{count} failed keys written to {}", p.display());
    }
    if !args.with_errors && matches!(spec.input_format.as_str(), "csv" | "pairs") {
        eprintln!(
            "the list is a {} list: give launch a file named *.csv, or pass --format {}",
            if spec.input_format == "csv" {
                "Batch Operations CSV"
            } else {
                "pairs"
            },
            spec.input_format
        );
    }
    Ok(())
}

fn emit(file: &mut Option<std::io::BufWriter<std::fs::File>>, text: &str) -> anyhow::Result<()> {
    match file {
        Some(f) => f
            .write_all(text.as_bytes())
            .context("writing the output file"),
        None => out(text),
    }
}

/// Characters kept as they are in a report's URL-encoded key (as S3 Batch Operations writes it).
const REPORT_KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The HTTP status S3 answers with for an error code thaw records, when it is known.
fn http_status(code: &str) -> &'static str {
    match code {
        "NoSuchKey" | "NotFound" => "404",
        "AccessDenied" | "InvalidObjectState" | "ObjectNotInActiveTierError" => "403",
        "SSECustomerKeyRequired" | "InvalidTier" | "InvalidRequest" => "400",
        "PreconditionFailed" => "412",
        "SlowDown" | "ServiceUnavailable" => "503",
        "InternalError" => "500",
        _ => "",
    }
}

/// The report header: S3 Batch Operations completion report columns, then the proof that the
/// copy is its source ([`proofs::Columns`]).
pub const REPORT_HEADER: &str = "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage,Verification,VerifiedBy,SourceChecksumOrETag,CopyChecksumOrETag\n";

/// True when thaw copied key `i` (done, not skipped).
fn copied(lot: &LotItem, i: usize) -> bool {
    lot.checkpoint.done.get(i) && !lot.checkpoint.skipped.get(i)
}

/// One lot's report rows, with the proofs of its copies by manifest position.
fn report_rows(
    bucket: &str,
    lot: &LotItem,
    keys: &[KeyLine],
    proofs: &std::collections::BTreeMap<usize, Proof>,
    failed_only: bool,
) -> String {
    let mut text = String::new();
    for (i, entry) in keys.iter().enumerate() {
        let (status, code, http, message) = match status_of(lot, i) {
            KeyStatus::Succeeded { skipped: false } => (
                "succeeded",
                "",
                "200",
                "copied into the target storage class",
            ),
            KeyStatus::Succeeded { skipped: true } => (
                "succeeded",
                "",
                "200",
                lot.checkpoint
                    .left_out_of(i)
                    .map_or("already in the target storage class: not copied", |r| {
                        r.message()
                    }),
            ),
            KeyStatus::Failed { code, message } => ("failed", code, http_status(code), message),
            KeyStatus::Pending => ("pending", "", "", "not finished yet"),
        };
        if failed_only && status != "failed" {
            continue;
        }
        let proof = proofs::columns(proofs.get(&i), copied(lot, i));
        let message = match proof.reason {
            Some(reason) => format!("{message}; not comparable: {reason}"),
            None => message.to_owned(),
        };
        text.push_str(&format!(
            "{},{},{},{status},{},{http},{},{},{},{},{}\n",
            csv_field(bucket),
            utf8_percent_encode(&entry.key, REPORT_KEY),
            csv_field(entry.version_id.as_deref().unwrap_or("")),
            csv_field(code),
            csv_field(&message),
            proof.verification,
            proof.by,
            csv_field(&proof.source),
            csv_field(&proof.copy)
        ));
    }
    text
}

/// Runs `coordinator report`.
pub async fn run_report(g: &Global, args: ReportArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let job = load_job(&table, &args.job).await?;
    let s3 = aws.s3();
    let lots = table.lots(&args.job).await?;
    let mut file = sink(&args.output)?;
    if let Some(f) = file.as_mut() {
        f.write_all(REPORT_HEADER.as_bytes())
            .context("writing the output file")?;
    }
    let control = job.spec.control.join("report");
    let mut rows = 0usize;
    let (mut succeeded, mut failed, mut pending) = (0u64, 0u64, 0u64);
    let mut tally = Tally::default();
    for lot in &lots {
        let keys = manifest_keys(&s3, lot).await?;
        let proofs = proofs::lot_proofs(&s3, &job.spec.control, lot.lot, lot.attempt).await?;
        for i in 0..keys.len() {
            match status_of(lot, i) {
                KeyStatus::Succeeded { .. } => succeeded += 1,
                KeyStatus::Failed { .. } => failed += 1,
                KeyStatus::Pending => pending += 1,
            }
            tally.count(proofs.get(&i), copied(lot, i));
        }
        let text = report_rows(&job.spec.bucket, lot, &keys, &proofs, args.failed_only);
        rows += text.lines().count();
        let key = control.key(&format!("lots/{:05}.csv", lot.lot));
        s3.put_object()
            .bucket(&control.bucket)
            .key(&key)
            .content_type("text/csv")
            .body(format!("{REPORT_HEADER}{text}").into_bytes().into())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutObject", &e))
            .with_context(|| format!("writing s3://{}/{key}", control.bucket))?;
        if let Some(f) = file.as_mut() {
            f.write_all(text.as_bytes())
                .context("writing the output file")?;
        }
    }
    if let Some(f) = file.as_mut() {
        f.flush().context("writing the output file")?;
    }
    let mut summary = summary_json(
        &job.spec.job_id,
        &lots,
        succeeded,
        failed,
        pending,
        rows,
        &control.to_string(),
    );
    summary["verification"] = serde_json::to_value(&tally).context("serialising the tally")?;
    let text = serde_json::to_string_pretty(&summary).context("serialising the summary")?;
    let key = control.key("summary.json");
    s3.put_object()
        .bucket(&control.bucket)
        .key(&key)
        .content_type("application/json")
        .body(text.clone().into_bytes().into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutObject", &e))
        .with_context(|| format!("writing s3://{}/{key}", control.bucket))?;
    out(&format!("{text}\n"))
}

fn summary_json(
    job: &str,
    lots: &[LotItem],
    succeeded: u64,
    failed: u64,
    pending: u64,
    rows: usize,
    location: &str,
) -> serde_json::Value {
    let mut sum = Counters::default();
    let mut requests = std::collections::BTreeMap::<String, u64>::new();
    let mut left_out = std::collections::BTreeMap::<LeftOutReason, u64>::new();
    let (mut attempts, mut retries) = (0, 0);
    let first = lots
        .iter()
        .filter_map(|l| l.launched_at.or(l.started_at))
        .min();
    let last = lots.iter().filter_map(|l| l.updated_at).max();
    for l in lots {
        sum.add(&l.counters);
        attempts += l.attempt;
        retries += l.retries;
        for (k, v) in &l.checkpoint.requests {
            *requests.entry(k.clone()).or_insert(0) += v;
        }
        for (reason, keys) in &l.checkpoint.left_out {
            *left_out.entry(*reason).or_insert(0) += keys.count() as u64;
        }
    }
    json!({
        "job_id": job,
        "lots": lots.len(),
        "lots_succeeded": lots.iter().filter(|l| l.state == LotState::Succeeded).count(),
        "keys_total": sum.keys_total,
        "succeeded": succeeded,
        "failed": failed,
        "pending": pending,
        "copied": sum.copied,
        "skipped": sum.skipped,
        "left_out": left_out,
        "restore_requested": sum.restore_requested,
        "restored": sum.restored,
        "bytes_copied": sum.bytes_copied,
        "elapsed_s": match (first, last) { (Some(a), Some(b)) => Some((b - a).max(0)), _ => None },
        "attempts": attempts,
        "retries": retries,
        "requests": requests,
        "report_rows": rows,
        "report": location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotCheckpoint;
    use thaw_common::fixtures::LotItemBuilder;

    #[test]
    fn failed_entries_in_the_input_format() {
        let pinned = KeyLine {
            key: "a b+c".into(),
            version_id: Some("v1".into()),
            ..KeyLine::default()
        };
        assert_eq!(list_line("csv", "bkt", &pinned), "bkt,a%20b%2Bc,v1");
        let plain = KeyLine {
            key: "x,y".into(),
            ..KeyLine::default()
        };
        assert_eq!(list_line("csv", "bkt", &plain), "bkt,x%2Cy");
        assert_eq!(list_line("keys", "bkt", &plain), "x,y");
        assert_eq!(list_line("inventory", "bkt", &plain), "x,y");
        assert_eq!(
            list_line("pairs", "bkt", &plain),
            "\"s3://bkt/x,y\",\"s3://bkt/x,y\""
        );
        let moved = KeyLine {
            key: "k".into(),
            dest: Some(("dst".into(), "o/k".into())),
            ..KeyLine::default()
        };
        assert_eq!(list_line("pairs", "bkt", &moved), "s3://bkt/k,s3://dst/o/k");
        // and they parse back to the same entries
        let back = thaw_common::input::parse_batch_csv_line(&list_line("csv", "bkt", &pinned), 1)
            .expect("csv");
        assert_eq!((back.key, back.version_id), (pinned.key, pinned.version_id));
        let back = thaw_common::input::parse_pair_line(&list_line("pairs", "bkt", &moved), 1)
            .expect("pairs");
        assert_eq!(back.dest, moved.dest);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field(" lead"), "\" lead\"");
    }

    #[test]
    fn rows_per_key() {
        let mut cp = LotCheckpoint::new(4);
        cp.done.set(0, true);
        cp.record_failure(1, "NoSuchKey", "The specified key does not exist.");
        cp.done.set(3, true);
        cp.skipped.set(3, true);
        let base = LotItemBuilder::new(0, 4).checkpoint(cp);
        let lot = base.clone().state(LotState::Waiting).build();
        let keys: Vec<KeyLine> = ["a b", "c+d", "e", "f"]
            .into_iter()
            .map(|k| KeyLine {
                key: k.to_owned(),
                ..KeyLine::default()
            })
            .collect();
        let proofs = std::collections::BTreeMap::from([(
            0,
            Proof::Verified {
                by: thaw_common::verify::By::Checksum(thaw_common::verify::Algorithm::Crc64Nvme),
                value: "AAAA".into(),
            },
        )]);
        let rows = report_rows("bkt", &lot, &keys, &proofs, false);
        let lines: Vec<&str> = rows.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0],
            "bkt,a%20b,,succeeded,,200,copied into the target storage class,verified,CRC64NVME,AAAA,AAAA"
        );
        assert_eq!(
            lines[3],
            "bkt,f,,succeeded,,200,already in the target storage class: not copied,,,,"
        );
        assert_eq!(
            lines[1],
            "bkt,c%2Bd,,failed,NoSuchKey,404,The specified key does not exist.,,,,"
        );
        assert_eq!(lines[2], "bkt,e,,pending,,,not finished yet,,,,");
        assert_eq!(
            REPORT_HEADER.trim_end().split(',').count(),
            lines[0].split(',').count()
        );
        assert_eq!(
            report_rows("bkt", &lot, &keys, &proofs, true)
                .lines()
                .count(),
            1
        );
        // a copy without a proof record, and one not comparable
        let none = std::collections::BTreeMap::from([(
            0,
            Proof::NotComparable(thaw_common::verify::Reason::SourceKms),
        )]);
        let rows = report_rows("bkt", &lot, &keys, &none, false);
        assert!(
            rows.starts_with("bkt,a%20b,,succeeded,,200,copied into the target storage class; not comparable: the source is SSE-KMS"),
            "{rows}"
        );
        assert!(
            rows.lines()
                .next()
                .unwrap_or("")
                .ends_with(",not comparable,,,"),
            "{rows}"
        );
        let rows = report_rows("bkt", &lot, &keys, &Default::default(), false);
        assert!(
            rows.starts_with(
                "bkt,a%20b,,succeeded,,200,copied into the target storage class,not recorded,,,"
            ),
            "{rows}"
        );
        // a lot that failed as a whole: its unfinished keys failed with it
        let failed = base
            .state(LotState::Failed)
            .last_error("lot manifest missing")
            .build();
        let rows = report_rows("bkt", &failed, &keys, &proofs, false);
        assert_eq!(
            rows.lines().nth(2),
            Some("bkt,e,,failed,LotFailed,,lot manifest missing,,,,")
        );
    }
}
