//! The on-disk index of scattered lots' keys (`follow --events`): which lot holds a key, without
//! the key list in memory. Records of 12 bytes (the key's 64-bit hash, its lot) are written into
//! [`PARTITIONS`] files by hash; each file is then sorted in memory, one at a time, and a lookup
//! is a binary search with positional reads in one file. 100M keys make 1.2 GB on disk and at
//! most one partition (~4.7 MB) in memory while sorting.
//!
//! Two keys with the same hash (about one pair in 3,000 jobs of 100M keys) make a key map to
//! both lots: an event then only brings a look forward, which reconciles.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Partition files.
pub const PARTITIONS: u64 = 256;
/// Bytes per record: the key's hash (u64) and its lot (u32), little-endian.
pub const RECORD: usize = 12;

/// The 64-bit hash of a key (FNV-1a, then mixed so every bit depends on every byte).
pub fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64's finaliser
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn partition_of(hash: u64) -> usize {
    (hash % PARTITIONS) as usize
}

fn part_path(dir: &Path, p: usize) -> PathBuf {
    dir.join(format!("part-{p:03}"))
}

/// Writes records into partition files as keys come.
pub struct IndexBuilder {
    dir: PathBuf,
    parts: Vec<BufWriter<File>>,
    keys: u64,
}

impl IndexBuilder {
    /// Starts an index in `dir` (created; its partition files are overwritten).
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the events index directory {}", dir.display()))?;
        let parts = (0..PARTITIONS as usize)
            .map(|p| {
                let path = part_path(dir, p);
                File::create(&path)
                    .map(|f| BufWriter::with_capacity(16 * 1024, f))
                    .with_context(|| format!("creating {}", path.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            dir: dir.to_owned(),
            parts,
            keys: 0,
        })
    }

    /// One key of lot `lot`.
    pub fn add(&mut self, lot: u32, key: &str) -> anyhow::Result<()> {
        let hash = key_hash(key);
        let mut rec = [0u8; RECORD];
        rec[..8].copy_from_slice(&hash.to_le_bytes());
        rec[8..].copy_from_slice(&lot.to_le_bytes());
        let p = partition_of(hash);
        self.parts[p]
            .write_all(&rec)
            .with_context(|| format!("writing {}", part_path(&self.dir, p).display()))?;
        self.keys += 1;
        Ok(())
    }

    /// Sorts every partition, one at a time, and opens the index.
    pub fn finish(self) -> anyhow::Result<KeyIndex> {
        for (p, w) in self.parts.into_iter().enumerate() {
            let path = part_path(&self.dir, p);
            w.into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", path.display()))?;
            sort_partition(&path)?;
        }
        KeyIndex::open(&self.dir, self.keys)
    }
}

fn sort_partition(path: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    let mut recs: Vec<[u8; RECORD]> = bytes
        .chunks_exact(RECORD)
        .map(|c| {
            let mut r = [0u8; RECORD];
            r.copy_from_slice(c);
            r
        })
        .collect();
    drop(bytes);
    recs.sort_unstable_by_key(|r| (hash_of(r), lot_of(r)));
    recs.dedup();
    let mut out = BufWriter::new(
        File::create(path).with_context(|| format!("rewriting {}", path.display()))?,
    );
    for r in &recs {
        out.write_all(r)
            .with_context(|| format!("rewriting {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("rewriting {}", path.display()))
}

fn hash_of(r: &[u8; RECORD]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&r[..8]);
    u64::from_le_bytes(b)
}

fn lot_of(r: &[u8; RECORD]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&r[8..]);
    u32::from_le_bytes(b)
}

/// The sorted index: lookups by binary search in one partition file.
pub struct KeyIndex {
    parts: Vec<(File, u64)>,
    keys: u64,
    bytes: u64,
}

impl KeyIndex {
    fn open(dir: &Path, keys: u64) -> anyhow::Result<Self> {
        let mut bytes = 0;
        let parts = (0..PARTITIONS as usize)
            .map(|p| {
                let path = part_path(dir, p);
                let f = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
                let len = f.metadata()?.len();
                bytes += len;
                Ok((f, len / RECORD as u64))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { parts, keys, bytes })
    }

    /// Keys added.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The lots holding a key of this hash (none: not a key of the indexed lots).
    pub fn lots_of(&self, key: &str) -> anyhow::Result<Vec<u32>> {
        let hash = key_hash(key);
        let (file, n) = &self.parts[partition_of(hash)];
        let read = |i: u64| -> anyhow::Result<[u8; RECORD]> {
            let mut r = [0u8; RECORD];
            file.read_exact_at(&mut r, i * RECORD as u64)
                .context("reading the events index")?;
            Ok(r)
        };
        // the first record whose hash is >= the key's
        let (mut lo, mut hi) = (0u64, *n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if hash_of(&read(mid)?) < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut lots = Vec::new();
        while lo < *n {
            let r = read(lo)?;
            if hash_of(&r) != hash {
                break;
            }
            lots.push(lot_of(&r));
            lo += 1;
        }
        Ok(lots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("thaw-index-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn every_key_finds_its_lot_and_others_none() {
        let d = dir("lots");
        let mut b = IndexBuilder::new(&d).expect("builder");
        for i in 0..5000u32 {
            b.add(i % 7, &format!("k/{}", i.wrapping_mul(2_654_435_761)))
                .expect("add");
        }
        // a key in two lots (two versions of it), and the same key twice in one lot
        b.add(3, "shared").expect("add");
        b.add(5, "shared").expect("add");
        b.add(5, "shared").expect("add");
        let idx = b.finish().expect("index");
        assert_eq!(idx.keys(), 5003);
        assert_eq!(idx.bytes(), 5002 * RECORD as u64, "duplicates dropped");
        for i in 0..5000u32 {
            let key = format!("k/{}", i.wrapping_mul(2_654_435_761));
            assert_eq!(idx.lots_of(&key).expect("lookup"), vec![i % 7], "{key}");
        }
        assert_eq!(idx.lots_of("shared").expect("lookup"), vec![3, 5]);
        for key in ["k/", "nope", "K/0", "日本"] {
            assert!(idx.lots_of(key).expect("lookup").is_empty(), "{key}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let d = dir("empty");
        let idx = IndexBuilder::new(&d)
            .expect("builder")
            .finish()
            .expect("index");
        assert!(idx.lots_of("k").expect("lookup").is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn hashes_spread_over_partitions() {
        let mut seen = vec![0u32; PARTITIONS as usize];
        for i in 0..25_600 {
            seen[partition_of(key_hash(&format!("photos/2021/{i:08}.jpg")))] += 1;
        }
        // 100 per partition on average: none empty, none over three times that
        assert!(seen.iter().all(|&n| n > 0 && n < 300), "{seen:?}");
    }
}
