//! Key lists: every input `launch` and `estimate` take (a plain list, a Batch Operations CSV, a
//! pairs list, an S3 Inventory, a prefix listing, stdin or an object in S3) read into one
//! [`KeyList`] that can be read again.
//!
//! Pass 1 ([`KeyList::open`], [`KeyList::scan`]) streams the list once: every line is validated,
//! keys are counted and fingerprinted, and stdin, a list in S3 and every converted list are
//! spooled to a private temp file so they can be read again. Pass 2 (`crate::control`) re-reads
//! it to upload the lot manifests, so memory does not grow with the key count.

pub mod csv;
pub mod inventory;
pub mod left_out;
pub mod listing;
pub mod source;
pub mod spool;

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use thaw_common::cost::PlannedObject;
use thaw_common::input::{detect_format, InputFormat};
use thaw_common::keys::{KeyLine, KeyReader};
use thaw_common::sample::Reservoir;

use crate::ids::Fingerprint;
use spool::{create_spool, Spool, Tee};

/// A progress line every this many keys while a list is read.
const PROGRESS_EVERY: u64 = 1_000_000;

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

/// What pass 1 learned about a key list, without the list itself.
#[derive(Debug, Clone, Copy)]
pub struct ListFacts<'a> {
    /// How to name the list in messages.
    pub name: &'a str,
    /// What the list was read from.
    pub format: InputFormat,
    /// What its lines hold besides keys.
    pub fields: &'a ListFields,
    /// Keys in the list.
    pub count: u64,
    /// Fingerprint of the keys.
    pub fingerprint: &'a str,
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
    /// Objects `--min-size`/`--min-age` left out of the list (inventory and `--from` only).
    pub left_out: left_out::LeftOut,
    /// thaw's own control objects a `--from` listing met and left out (0 otherwise).
    pub control_left_out: u64,
    /// What its lines hold besides keys (versions, destinations).
    pub fields: ListFields,
    /// Keys in the list.
    pub count: u64,
    /// Fingerprint of the keys (see [`Fingerprint`]).
    pub fingerprint: String,
}

fn reader<R: BufRead>(input: R, entries: bool) -> KeyReader<R> {
    if entries {
        KeyReader::new(input)
    } else {
        KeyReader::user_list(input)
    }
}

pub(crate) fn fingerprint_of(
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

/// The first line of a file (for format detection); empty when it cannot be read.
fn first_line(path: &std::path::Path) -> String {
    let mut line = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = BufReader::new(f).read_until(b'\n', &mut line);
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
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
                let converted = csv::convert_csv(BufReader::new(f), name, bucket, format)?;
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
        Self::read(spool.path().to_path_buf(), name, Some(spool), true, format)
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
            control_left_out: 0,
            left_out: Default::default(),
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
                .with_context(|| format!("writing {}", spool.path().display()))?;
            return Ok(Self {
                path: spool.path().to_path_buf(),
                name: "<stdin>".to_owned(),
                _spool: Some(spool),
                entries: false,
                format: InputFormat::Keys,
                known_objects: None,
                list_pages: 0,
                control_left_out: 0,
                left_out: Default::default(),
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
            control_left_out: 0,
            left_out: Default::default(),
            fields,
            count: fp.count(),
            fingerprint: fp.finish(),
        })
    }

    /// What pass 1 learned about the list: all a plan needs of it.
    pub fn facts(&self) -> ListFacts<'_> {
        ListFacts {
            name: &self.name,
            format: self.format,
            fields: &self.fields,
            count: self.count,
            fingerprint: &self.fingerprint,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_line_is_named() {
        let e = fingerprint_of(&b"ok\n\xff\n"[..], "keys.txt", false).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "key list keys.txt: line 2: key is not valid UTF-8"
        );
    }
}
