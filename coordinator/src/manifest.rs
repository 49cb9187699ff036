//! The key list and the job's control objects.
//!
//! Pass 1 ([`KeyList::scan`]) streams the list once: every line is validated, keys are counted
//! and fingerprinted, and stdin is spooled to a private temp file so it can be read again. Pass 2
//! ([`upload_manifests`]) re-reads it and uploads one manifest per lot, building one lot body at a
//! time with a bounded number of uploads in flight, so memory does not grow with the key count.
//! Concatenating the manifests in lot order gives the normalised input (one key and `\n` per
//! key, blank lines and `\r` removed).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use futures::{StreamExt, TryStreamExt};
use thaw_common::aws::AwsError;
use thaw_common::cost::PlannedObject;
use thaw_common::input::{
    detect_format, parse_batch_csv_line, parse_pair_line, InputFormat, PatternSet,
};
use thaw_common::keys::{parse_key_line, KeyLine, KeyReader};
use thaw_common::sample::Reservoir;
use thaw_common::spec::{lot_manifest_name, JobSpec, S3Location, JOB_SPEC_NAME};

use crate::ids::Fingerprint;

/// A progress line every this many keys while a list is read.
const PROGRESS_EVERY: u64 = 1_000_000;

/// Lot manifests uploaded at once.
const MANIFEST_UPLOADS: usize = 8;

/// Most destination buckets one job may name (each is checked, and its Region recorded in the
/// job spec, before launch).
const MAX_DEST_BUCKETS: usize = 100;

/// What a list's lines hold besides keys (gathered in pass 1).
#[derive(Debug, Default)]
pub struct ListFields {
    /// Lines that pin a source version and copy in place.
    pub pinned_in_place: u64,
    /// Lines that name a destination other than their source.
    pub with_dest: u64,
    /// Destination buckets named per line (pairs lists).
    pub dest_buckets: std::collections::BTreeSet<String>,
}

impl ListFields {
    /// Counts one line; fails past [`MAX_DEST_BUCKETS`] destination buckets.
    fn add(&mut self, line: &KeyLine, name: &str) -> anyhow::Result<()> {
        self.pinned_in_place += u64::from(line.version_id.is_some() && line.dest.is_none());
        self.with_dest += u64::from(line.dest.is_some());
        if let Some((b, _)) = &line.dest {
            if !self.dest_buckets.contains(b) {
                if self.dest_buckets.len() >= MAX_DEST_BUCKETS {
                    bail!("key list {name}: more than {MAX_DEST_BUCKETS} destination buckets; split the job");
                }
                self.dest_buckets.insert(b.clone());
            }
        }
        Ok(())
    }
}

/// A validated key list that can be read again.
#[derive(Debug)]
pub struct KeyList {
    /// Where to read it again (the file, or the stdin spool).
    path: PathBuf,
    /// How to name it in messages.
    name: String,
    /// Removes the stdin spool when the list is dropped.
    _spool: Option<Spool>,
    /// True for a list thaw wrote (converted from CSV, pairs, inventory or a listing): its lines
    /// may pin versions and name destinations; a person's list holds plain keys only.
    entries: bool,
    /// What the list was read from (failed keys are exported in the same format).
    pub format: InputFormat,
    /// Class, size and age of the listed objects when the input tells them (an inventory): the
    /// cost estimate then needs no HeadObject.
    pub known_objects: Option<Reservoir<PlannedObject>>,
    /// ListObjectsV2 pages read to build the list (`--from`; 0 otherwise).
    pub list_pages: u64,
    /// What its lines hold besides keys (versions, destinations).
    pub fields: ListFields,
    /// Keys in the list.
    pub count: u64,
    /// Fingerprint of the keys (see [`Fingerprint`]).
    pub fingerprint: String,
}

/// A temp file that is removed when dropped.
#[derive(Debug)]
pub struct Spool(PathBuf);

impl Spool {
    /// Where the temp file is.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copies everything read from `inner` into `copy`.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

fn reader<R: BufRead>(input: R, entries: bool) -> KeyReader<R> {
    if entries {
        KeyReader::new(input)
    } else {
        KeyReader::user_list(input)
    }
}

fn fingerprint_of(
    input: impl BufRead,
    name: &str,
    entries: bool,
) -> anyhow::Result<(Fingerprint, ListFields)> {
    let mut fp = Fingerprint::default();
    let mut fields = ListFields::default();
    for item in reader(input, entries) {
        let line = item.with_context(|| format!("key list {name}"))?;
        fp.add(&line.encode());
        fields.add(&line, name)?;
        if fp.count() % PROGRESS_EVERY == 0 {
            tracing::info!("key list {name}: {} keys read and checked", fp.count());
        }
    }
    Ok((fp, fields))
}

/// A new private temp file, removed when the returned [`Spool`] is dropped.
pub(crate) fn create_spool() -> anyhow::Result<(File, Spool)> {
    let dir = std::env::temp_dir();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!("thaw-keys-{}-{nanos}.txt", std::process::id()));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts
        .open(&path)
        .with_context(|| format!("creating a temp file for the key list in {}", dir.display()))?;
    Ok((file, Spool(path)))
}

/// Streams a list stored in S3 (`s3://bucket/key`) to a private spool file: memory does not grow
/// with the list.
async fn fetch_raw(s3: &aws_sdk_s3::Client, uri: &str) -> anyhow::Result<(PathBuf, Spool)> {
    let loc = thaw_common::spec::object_uri(uri)
        .ok_or_else(|| anyhow!("key list '{uri}' is not an s3://bucket/key URI"))?;
    let mut out = s3
        .get_object()
        .bucket(loc.0)
        .key(loc.1)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading key list {uri}"))?;
    let (file, spool) = create_spool()?;
    let mut writer = BufWriter::new(file);
    while let Some(chunk) = out
        .body
        .try_next()
        .await
        .with_context(|| format!("reading key list {uri}"))?
    {
        writer
            .write_all(&chunk)
            .with_context(|| format!("writing {}", spool.0.display()))?;
    }
    writer
        .flush()
        .with_context(|| format!("writing {}", spool.0.display()))?;
    Ok((spool.0.clone(), spool))
}

/// Which listed objects `--from` keeps.
#[derive(Debug, Clone, Default)]
pub struct ListingFilter {
    /// Keep only keys matching one of these.
    pub include: Option<PatternSet>,
    /// Drop keys matching one of these.
    pub exclude: Option<PatternSet>,
    /// Keep only these storage classes (empty: all).
    pub classes: Vec<String>,
    /// Objects already in this class (the target) are left out at planning time.
    pub skip_class: String,
}

impl ListingFilter {
    /// True when an object of `class` at `key` belongs in the job.
    pub fn keeps(&self, key: &str, class: &str) -> bool {
        self.include.as_ref().is_none_or(|p| p.matches(key))
            && !self.exclude.as_ref().is_some_and(|p| p.matches(key))
            && (self.classes.is_empty() || self.classes.iter().any(|c| c == class))
            && class != self.skip_class
    }
}

/// Lists `loc` (ListObjectsV2, 1,000 keys per page) into a key list spool, keeping what
/// `filter` keeps: the listing is streamed to disk, never held in memory.
pub async fn list_prefix(
    s3: &aws_sdk_s3::Client,
    loc: &S3Location,
    filter: &ListingFilter,
) -> anyhow::Result<KeyList> {
    let name = loc.to_string();
    let (file, spool) = create_spool()?;
    let mut out = BufWriter::new(file);
    let (mut listed, mut kept, mut pages) = (0u64, 0u64, 0u64);
    let mut token = None;
    loop {
        pages += 1;
        let page = s3
            .list_objects_v2()
            .bucket(&loc.bucket)
            .prefix(&loc.prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListObjectsV2", &e))
            .with_context(|| format!("listing {name}"))?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            listed += 1;
            let class = o.storage_class().map(|c| c.as_str()).unwrap_or("STANDARD");
            if filter.keeps(key, class) {
                kept += 1;
                out.write_all(key.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .with_context(|| format!("writing {}", spool.0.display()))?;
            }
        }
        if listed > 0 && listed % 100_000 < 1000 {
            tracing::info!("listed {listed} objects under {name}, {kept} kept");
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", spool.0.display()))?;
    tracing::info!("listed {listed} objects under {name}, {kept} kept");
    let mut list = KeyList::from_spool(spool, &name, InputFormat::Keys)?;
    list.list_pages = pages;
    Ok(list)
}

/// Reads a list in S3 and scans it as `format` (see [`KeyList::open`]).
pub async fn fetch_key_list(
    s3: &aws_sdk_s3::Client,
    uri: &str,
    format: Option<InputFormat>,
    bucket: &str,
) -> anyhow::Result<KeyList> {
    let (path, spool) = fetch_raw(s3, uri).await?;
    KeyList::open(path, uri, Some(spool), format, bucket)
}

/// The first line of a file (for format detection); empty when it cannot be read.
fn first_line(path: &std::path::Path) -> String {
    let mut line = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = BufReader::new(f).read_until(b'\n', &mut line);
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

/// Converts a CSV list into a manifest-format spool (see [`KeyLine::encode`]): an S3 Batch
/// Operations CSV (`bucket,key[,versionId]`, keys URL-encoded, no header) or a pairs list
/// (`s3://src/key,s3://dst/key`). One source bucket per job, the job's `bucket`; keys S3 cannot
/// hold are refused naming the CSV line.
fn convert_csv(
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
            .with_context(|| format!("writing {}", spool.0.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", spool.0.display()))?;
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
            .with_context(|| format!("writing {}", spool.0.display()))?;
        let f = File::open(&spool.0).with_context(|| format!("reading {}", spool.0.display()))?;
        for e in KeyReader::new(BufReader::new(f)) {
            if matches(&e.with_context(|| format!("reading {}", spool.0.display()))?) {
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

impl KeyList {
    /// Pass 1 for a list already on disk (`spool` is removed with the list): detects or takes
    /// its format, converts a Batch Operations CSV to keys, then validates and fingerprints.
    pub fn open(
        path: PathBuf,
        name: &str,
        spool: Option<Spool>,
        format: Option<InputFormat>,
        bucket: &str,
    ) -> anyhow::Result<Self> {
        let format = format.unwrap_or_else(|| detect_format(name, &first_line(&path)));
        match format {
            InputFormat::Keys => Self::read(path, name, spool, false, format),
            InputFormat::BatchCsv | InputFormat::Pairs => {
                let f = File::open(&path).with_context(|| format!("opening key list {name}"))?;
                let converted = convert_csv(BufReader::new(f), name, bucket, format)?;
                Self::from_spool(converted, name, format)
            }
            InputFormat::Inventory => bail!(
                "{name}: an inventory manifest.json is read with --format inventory, not as a key list"
            ),
        }
    }

    /// Pass 1 for a list thaw wrote into `spool` (from a CSV, a pairs list, an inventory or a
    /// listing): its lines may pin versions and name destinations.
    pub fn from_spool(spool: Spool, name: &str, format: InputFormat) -> anyhow::Result<Self> {
        Self::read(spool.0.clone(), name, Some(spool), true, format)
    }

    fn read(
        path: PathBuf,
        name: &str,
        spool: Option<Spool>,
        entries: bool,
        format: InputFormat,
    ) -> anyhow::Result<Self> {
        let read = File::open(&path).with_context(|| format!("opening key list {name}"))?;
        let (fp, fields) = fingerprint_of(BufReader::new(read), name, entries)?;
        Ok(Self {
            path,
            name: name.to_owned(),
            _spool: spool,
            entries,
            format,
            known_objects: None,
            list_pages: 0,
            fields,
            count: fp.count(),
            fingerprint: fp.finish(),
        })
    }

    /// Pass 1: reads `input` (a path, or `-` for stdin) once, validating every line.
    /// Fails naming the first bad line; an empty list is accepted here (planning refuses it).
    pub fn scan(input: &str) -> anyhow::Result<Self> {
        if input == "-" {
            let (file, spool) = create_spool()?;
            let mut tee = Tee {
                inner: std::io::stdin().lock(),
                copy: BufWriter::new(file),
            };
            let (fp, fields) = fingerprint_of(BufReader::new(&mut tee), "<stdin>", false)?;
            tee.copy
                .flush()
                .with_context(|| format!("writing {}", spool.0.display()))?;
            return Ok(Self {
                path: spool.0.clone(),
                name: "<stdin>".to_owned(),
                _spool: Some(spool),
                entries: false,
                format: InputFormat::Keys,
                known_objects: None,
                list_pages: 0,
                fields,
                count: fp.count(),
                fingerprint: fp.finish(),
            });
        }
        let path = PathBuf::from(input);
        let file = File::open(&path).with_context(|| format!("opening key list {input}"))?;
        let (fp, fields) = fingerprint_of(BufReader::new(file), input, false)?;
        Ok(Self {
            path,
            name: input.to_owned(),
            _spool: None,
            entries: false,
            format: InputFormat::Keys,
            known_objects: None,
            list_pages: 0,
            fields,
            count: fp.count(),
            fingerprint: fp.finish(),
        })
    }

    /// The name used in messages (the path, or `<stdin>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Streams the list's entries again (pass 1 validated them).
    pub fn reopen(&self) -> anyhow::Result<KeyReader<BufReader<File>>> {
        let file = File::open(&self.path)
            .with_context(|| format!("opening key list {} again", self.name))?;
        Ok(reader(BufReader::new(file), self.entries))
    }
}

/// Builds lot bodies one at a time from a second read of the key list, re-fingerprinting as it
/// goes so a list that changed since pass 1 is noticed.
struct LotBodies<R> {
    reader: KeyReader<R>,
    sizes: Vec<u64>,
    next: usize,
    fp: Fingerprint,
    failed: bool,
    name: String,
}

impl<R: BufRead> Iterator for LotBodies<R> {
    type Item = anyhow::Result<(u32, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.sizes.len() {
            return None;
        }
        let lot = self.next;
        self.next += 1;
        let mut body = Vec::new();
        for _ in 0..self.sizes[lot] {
            match self.reader.next() {
                Some(Ok(line)) => {
                    let text = line.encode();
                    self.fp.add(&text);
                    body.extend_from_slice(text.as_bytes());
                    body.push(b'\n');
                }
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(anyhow!(e).context(format!(
                        "key list {} changed since it was validated",
                        self.name
                    ))));
                }
                None => {
                    self.failed = true;
                    return Some(Err(anyhow!(
                        "key list {} changed since it was validated: it ended in lot {lot}",
                        self.name
                    )));
                }
            }
        }
        match u32::try_from(lot) {
            Ok(lot) => Some(Ok((lot, body))),
            Err(_) => {
                self.failed = true;
                Some(Err(anyhow!("too many lots")))
            }
        }
    }
}

impl<R: BufRead> LotBodies<R> {
    /// Reads what is left and checks the list is the one pass 1 saw.
    fn finish(mut self, expected: &str) -> anyhow::Result<()> {
        for item in self.reader.by_ref() {
            let line = item.with_context(|| format!("key list {}", self.name))?;
            self.fp.add(&line.encode());
        }
        if self.fp.finish() != expected {
            bail!(
                "key list {} changed since it was validated; nothing was recorded, launch again",
                self.name
            );
        }
        Ok(())
    }
}

/// The `s3://` URI of lot `lot`'s manifest.
pub fn manifest_uri(control: &S3Location, lot: u32) -> String {
    format!(
        "s3://{}/{}",
        control.bucket,
        control.key(&lot_manifest_name(lot))
    )
}

async fn put_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutObject", &e))
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

/// Pass 2: uploads one manifest per lot (`sizes[i]` keys for lot `i`, in input order) under
/// `control`, at most [`MANIFEST_UPLOADS`] at once, and checks the list did not change.
pub async fn upload_manifests(
    s3: &aws_sdk_s3::Client,
    control: &S3Location,
    keys: &KeyList,
    sizes: &[u64],
) -> anyhow::Result<()> {
    let mut bodies = LotBodies {
        reader: keys.reopen()?,
        sizes: sizes.to_vec(),
        next: 0,
        fp: Fingerprint::default(),
        failed: false,
        name: keys.name.clone(),
    };
    futures::stream::iter(&mut bodies)
        .map(|item| async move {
            let (lot, body) = item?;
            let key = control.key(&lot_manifest_name(lot));
            put_object(s3, &control.bucket, &key, body, "text/plain; charset=utf-8").await
        })
        .buffer_unordered(MANIFEST_UPLOADS)
        .try_collect::<()>()
        .await?;
    bodies.finish(&keys.fingerprint)
}

/// Uploads `job.json` (the pretty-printed spec) under the job's control location.
pub async fn put_job_spec(s3: &aws_sdk_s3::Client, spec: &JobSpec) -> anyhow::Result<()> {
    let body = serde_json::to_vec_pretty(spec).context("serialising the job spec")?;
    let key = spec.control.key(JOB_SPEC_NAME);
    put_object(s3, &spec.control.bucket, &key, body, "application/json").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_filter() {
        let f = ListingFilter {
            include: Some(PatternSet::parse("*.gz")),
            exclude: Some(PatternSet::parse("*tmp*")),
            classes: vec!["GLACIER".into()],
            skip_class: "STANDARD_IA".into(),
        };
        assert!(f.keeps("a/b.gz", "GLACIER"));
        assert!(!f.keeps("a/b.txt", "GLACIER"));
        assert!(!f.keeps("a/tmp.gz", "GLACIER"));
        assert!(!f.keeps("a/b.gz", "STANDARD"));
        let all = ListingFilter {
            skip_class: "STANDARD_IA".into(),
            ..Default::default()
        };
        assert!(all.keeps("x", "STANDARD"));
        assert!(!all.keeps("x", "STANDARD_IA"));
    }

    fn bodies<'a>(input: &'a [u8], sizes: &[u64]) -> LotBodies<&'a [u8]> {
        LotBodies {
            reader: KeyReader::new(input),
            sizes: sizes.to_vec(),
            next: 0,
            fp: Fingerprint::default(),
            failed: false,
            name: "test".into(),
        }
    }

    fn pass1(input: &[u8]) -> String {
        fingerprint_of(input, "test", false)
            .map(|(fp, _)| fp)
            .expect("valid")
            .finish()
    }

    #[test]
    fn lots_concatenate_to_normalised_input() {
        let input = b"a\r\n\nb c\n+%20\nd";
        let mut it = bodies(input, &[2, 2]);
        let got: Vec<_> = it.by_ref().map(|r| r.expect("lot")).collect();
        assert_eq!(
            got,
            vec![(0, b"a\nb c\n".to_vec()), (1, b"+%20\nd\n".to_vec())]
        );
        it.finish(&pass1(input)).expect("unchanged");
    }

    #[test]
    fn changed_list_is_noticed() {
        // shorter than planned
        let mut it = bodies(b"a\nb\n", &[2, 2]);
        assert!(it.next().expect("lot 0").is_ok());
        let e = it.next().expect("lot 1").unwrap_err().to_string();
        assert!(e.contains("changed"), "{e}");
        assert!(it.next().is_none());
        // longer than planned
        let mut it = bodies(b"a\nb\nc\n", &[2]);
        assert!(it.next().expect("lot 0").is_ok());
        assert!(it.finish(&pass1(b"a\nb\n")).is_err());
        // same length, other keys
        let mut it = bodies(b"a\nx\n", &[2]);
        assert!(it.next().expect("lot 0").is_ok());
        assert!(it.finish(&pass1(b"a\nb\n")).is_err());
    }

    #[test]
    fn invalid_line_is_named() {
        let e = fingerprint_of(&b"ok\n\xff\n"[..], "keys.txt", false).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "key list keys.txt: line 2: key is not valid UTF-8"
        );
    }

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

    #[test]
    fn manifest_uris() {
        let control = S3Location::new("ctl", "thaw/").join("job1");
        assert_eq!(
            manifest_uri(&control, 3),
            "s3://ctl/thaw/job1/lots/00003.txt"
        );
    }
}
