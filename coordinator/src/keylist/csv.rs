//! CSV lists converted to the manifest format before pass 1: S3 Batch Operations CSV manifests
//! (`bucket,key[,versionId]`, keys URL-encoded) and pairs lists (`s3://src/key,s3://dst/key`),
//! each line checked as S3 would take it, and pairs lists refused when their outcome would
//! depend on the order of their copies.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use anyhow::{anyhow, bail, Context};
use thaw_common::input::{parse_batch_csv_line, parse_pair_line, InputFormat};
use thaw_common::keys::{parse_key_line, KeyLine, KeyReader};

use super::spool::{create_spool, Spool};

/// Converts a CSV list into a manifest-format spool (see [`KeyLine::encode`]): an S3 Batch
/// Operations CSV (`bucket,key[,versionId]`, keys URL-encoded, no header) or a pairs list
/// (`s3://src/key,s3://dst/key`). One source bucket per job, the job's `bucket`; keys S3 cannot
/// hold are refused naming the CSV line.
pub fn convert_csv(
    input: impl BufRead,
    name: &str,
    bucket: &str,
    format: InputFormat,
) -> anyhow::Result<Spool> {
    let (file, spool) = create_spool()?;
    let mut out = BufWriter::new(file);
    let mut raw = Vec::new();
    let mut input = input;
    let mut lineno = 0u64;
    let mut checks = PairChecks::new(bucket);
    loop {
        raw.clear();
        if input
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading {name}"))?
            == 0
        {
            break;
        }
        lineno += 1;
        if lineno == 1 && raw.starts_with(b"\xEF\xBB\xBF") && format == InputFormat::Pairs {
            bail!("{name}: line 1 starts with a UTF-8 byte order mark (U+FEFF): save the list without a BOM");
        }
        let text = std::str::from_utf8(&raw)
            .map_err(|_| anyhow!("{name}: line {lineno} is not valid UTF-8"))?
            .trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let entry = match format {
            InputFormat::Pairs => parse_pair_line(text, lineno),
            _ => parse_batch_csv_line(text, lineno),
        }
        .with_context(|| name.to_owned())?;
        if entry.bucket != bucket {
            bail!(
                "{name}: line {lineno}: bucket '{}' is not --bucket '{bucket}' (a job covers one source bucket)",
                entry.bucket
            );
        }
        // A key S3 cannot hold (a control character such as an encoded newline, over 1,024
        // bytes) is refused here, naming the CSV line.
        parse_key_line(entry.key.as_bytes(), lineno).with_context(|| name.to_owned())?;
        if let Some((b, k)) = &entry.dest {
            parse_key_line(k.as_bytes(), lineno).with_context(|| format!("{name}: destination"))?;
            check_bucket_name(b).map_err(|e| anyhow!("{name}: line {lineno}: {e}"))?;
        }
        if let Some(v) = &entry.version_id {
            if v.contains(|c: char| c.is_control()) {
                bail!("{name}: line {lineno}: version id holds a control character");
            }
        }
        // A pair whose destination is its source is an in-place copy.
        let dest = entry
            .dest
            .filter(|(b, k)| (b.as_str(), k.as_str()) != (bucket, entry.key.as_str()));
        let line = KeyLine {
            line: lineno,
            key: entry.key,
            version_id: entry.version_id,
            dest,
        };
        if format == InputFormat::Pairs {
            checks
                .check(&line, &mut out, &spool)
                .map_err(|e| anyhow!("{name}: line {lineno}: {e}"))?;
        }
        out.write_all(line.encode().as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .with_context(|| format!("writing {}", spool.path().display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", spool.path().display()))?;
    Ok(spool)
}

/// Pairs lists checked for repeated destinations and chains, at most this many pairs (two 64-bit
/// hashes each, about 40 MB); longer lists are not checked, with a warning.
const MAX_PAIR_CHECKS: usize = 1_000_000;

/// Refuses pairs lists whose outcome would depend on the order of the copies: a destination
/// named twice (the second copy would find the first's and count as done), or an object that is
/// both a destination and a source (a copy onto an object another pair copies from). Keeps a
/// 64-bit hash per object; a hash hit is confirmed against the lines converted so far, so a
/// collision never refuses a valid list.
struct PairChecks {
    bucket: String,
    dests: std::collections::HashSet<u64>,
    sources: std::collections::HashSet<u64>,
    enabled: bool,
}

impl PairChecks {
    fn new(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            dests: Default::default(),
            sources: Default::default(),
            enabled: true,
        }
    }

    fn hash(bucket: &str, key: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        h.finish()
    }

    /// Checks the next line against the lines before it (`out` holds them, in `spool`).
    fn check(
        &mut self,
        line: &KeyLine,
        out: &mut BufWriter<File>,
        spool: &Spool,
    ) -> anyhow::Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let source = (self.bucket.clone(), line.key.clone());
        let hs = Self::hash(&source.0, &source.1);
        if self.dests.contains(&hs)
            && Self::earlier(out, spool, |e| e.dest.as_ref() == Some(&source))?
        {
            bail!(
                "source s3://{}/{} is the destination of an earlier line: the result would depend on which copy runs first",
                source.0,
                source.1
            );
        }
        if let Some(dest) = &line.dest {
            let hd = Self::hash(&dest.0, &dest.1);
            if self.dests.contains(&hd)
                && Self::earlier(out, spool, |e| e.dest.as_ref() == Some(dest))?
            {
                bail!(
                    "destination s3://{}/{} is already the destination of an earlier line: a pairs list names each destination once",
                    dest.0,
                    dest.1
                );
            }
            if dest.0 == self.bucket
                && self.sources.contains(&hd)
                && Self::earlier(out, spool, |e| e.key == dest.1)?
            {
                bail!(
                    "destination s3://{}/{} is the source of an earlier line: the result would depend on which copy runs first",
                    dest.0,
                    dest.1
                );
            }
            self.dests.insert(hd);
        }
        self.sources.insert(hs);
        if self.sources.len() >= MAX_PAIR_CHECKS {
            tracing::warn!(
                "pairs list longer than {MAX_PAIR_CHECKS} lines: repeated destinations are not checked past this point"
            );
            *self = Self {
                enabled: false,
                ..Self::new(&self.bucket)
            };
        }
        Ok(())
    }

    /// True when a line already converted matches (read back from the spool: only on a hash hit).
    fn earlier(
        out: &mut BufWriter<File>,
        spool: &Spool,
        matches: impl Fn(&KeyLine) -> bool,
    ) -> anyhow::Result<bool> {
        out.flush()
            .with_context(|| format!("writing {}", spool.path().display()))?;
        let f = File::open(spool.path())
            .with_context(|| format!("reading {}", spool.path().display()))?;
        for e in KeyReader::new(BufReader::new(f)) {
            if matches(&e.with_context(|| format!("reading {}", spool.path().display()))?) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Checks a bucket name the way S3 names buckets (3-63 of a-z 0-9 . -), so a typo in a pairs
/// list is caught before anything runs.
pub fn check_bucket_name(b: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("'{b}' is not a valid bucket name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_lists_whose_result_depends_on_order_are_refused() {
        let convert = |text: &str| {
            convert_csv(text.as_bytes(), "p.csv", "src", InputFormat::Pairs)
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        };
        // one source to two places, and in-place pairs: fine
        convert("s3://src/a,s3://dst/a\ns3://src/a,s3://dst/b\ns3://src/c,s3://src/c\n")
            .expect("fan-out");
        let e = convert("s3://src/a,s3://dst/x\ns3://src/b,s3://dst/x\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("s3://dst/x"), "{e}");
        // a copy onto an object another line copies from, in either order
        let e = convert("s3://src/a,s3://dst/a\ns3://src/b,s3://src/a\n").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("source of an earlier line"),
            "{e}"
        );
        let e = convert("s3://src/b,s3://src/a\ns3://src/a,s3://dst/a\n").unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("destination of an earlier line"),
            "{e}"
        );
        // an in-place pair of an object another line overwrites
        let e = convert("s3://src/a,s3://src/a\ns3://src/b,s3://src/a\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
