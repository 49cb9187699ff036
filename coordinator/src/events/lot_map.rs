//! Key -> lot for `follow --events`, without the key list in memory: the sorted lots' key ranges
//! (first and last key, recorded by `launch`) in a sorted vector searched by halves, and the
//! other lots (scattered, recorded before ranges were, or whose range overlaps another's) in an
//! on-disk [`KeyIndex`] built once per session from their manifests, read [`MANIFESTS`] at a
//! time. A lot whose manifest cannot be read is left unmapped (a warning): its events are not
//! counted and its scheduled checks stand. A key in a sorted lot's range that an indexed lot
//! also holds maps to both.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotState;
use thaw_common::keys::KeyReader;
use thaw_common::plan::{KeyOrder, KeyRange};
use thaw_common::progress::LotItem;
use tracing::{info, warn};

use super::key_index::{IndexBuilder, KeyIndex};

/// Which lot holds a key.
pub struct LotMap {
    /// Disjoint ranges, by first key.
    ranges: Vec<Ranged>,
    /// The other lots' keys.
    index: Option<KeyIndex>,
}

/// Manifests read at once while building the index.
const MANIFESTS: usize = 16;

/// A sorted lot's key range, and the lot.
type Ranged = (KeyRange, u32);
/// A lot to index, and its manifest.
type ToIndex = (u32, String);

/// The lots not yet SUCCEEDED, split: disjoint ranges of sorted lots (by first key), and the lots
/// to index.
pub fn split(lots: &[LotItem]) -> (Vec<Ranged>, Vec<ToIndex>) {
    let open = lots.iter().filter(|l| l.state != LotState::Succeeded);
    let mut ranges = Vec::new();
    let mut index = Vec::new();
    for l in open {
        match (&l.key_range, l.key_order) {
            (Some(r), KeyOrder::Sorted) => ranges.push((r.clone(), l.lot)),
            _ => index.push((l.lot, l.manifest.clone())),
        }
    }
    ranges.sort_by(|a, b| a.0.first.as_bytes().cmp(b.0.first.as_bytes()));
    // each range against the furthest-reaching one before it (a long range may cover several)
    let mut overlaps = vec![false; ranges.len()];
    let mut furthest: Option<usize> = None;
    for i in 0..ranges.len() {
        if let Some(f) = furthest {
            if ranges[i].0.first.as_bytes() <= ranges[f].0.last.as_bytes() {
                overlaps[i] = true;
                overlaps[f] = true;
            }
            if ranges[i].0.last.as_bytes() > ranges[f].0.last.as_bytes() {
                furthest = Some(i);
            }
        } else {
            furthest = Some(i);
        }
    }
    let mut disjoint = Vec::new();
    for (r, overlap) in ranges.into_iter().zip(overlaps) {
        if overlap {
            let manifest = lots
                .iter()
                .find(|l| l.lot == r.1)
                .map(|l| l.manifest.clone())
                .unwrap_or_default();
            index.push((r.1, manifest));
        } else {
            disjoint.push(r);
        }
    }
    (disjoint, index)
}

impl LotMap {
    /// A map of ranges only (no lot needs the index): disjoint, by first key ([`split`]'s).
    pub fn of_ranges(ranges: Vec<Ranged>) -> Self {
        Self {
            ranges,
            index: None,
        }
    }

    /// Builds the map of the job's open lots, the index (if any lot needs one) under `dir`.
    pub async fn build(
        s3: &aws_sdk_s3::Client,
        lots: &[LotItem],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let (ranges, to_index) = split(lots);
        if to_index.is_empty() {
            return Ok(Self::of_ranges(ranges));
        }
        let started = Instant::now();
        let mut b = IndexBuilder::new(dir)?;
        let mut reads = futures::stream::iter(&to_index)
            .map(|(lot, manifest)| async move { (*lot, manifest_keys(s3, manifest).await) })
            .buffered(MANIFESTS);
        let mut unmapped = 0usize;
        while let Some((lot, keys)) = reads.next().await {
            match keys {
                Ok(keys) => {
                    for key in &keys {
                        b.add(lot, key)?;
                    }
                }
                Err(e) => {
                    unmapped += 1;
                    warn!(
                        lot,
                        "{e:#}; its events are not counted (its scheduled checks stand)"
                    );
                }
            }
        }
        let index = b.finish()?;
        info!(
            lots = to_index.len(),
            unmapped,
            keys = index.keys(),
            bytes = index.bytes(),
            secs = started.elapsed().as_secs_f64(),
            dir = %dir.display(),
            "events: index of scattered lots built"
        );
        Ok(Self {
            ranges,
            index: Some(index),
        })
    }

    /// Sorted lots mapped by range.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Keys in the on-disk index.
    pub fn indexed_keys(&self) -> u64 {
        self.index.as_ref().map_or(0, KeyIndex::keys)
    }

    /// The lots that may hold `key` (none: not a key of this job's open lots).
    pub fn lots_of(&self, key: &str) -> anyhow::Result<Vec<u32>> {
        let after = self
            .ranges
            .partition_point(|(r, _)| r.first.as_bytes() <= key.as_bytes());
        let mut lots = match &self.index {
            Some(idx) => idx.lots_of(key)?,
            None => Vec::new(),
        };
        if let Some((r, lot)) = after.checked_sub(1).map(|i| &self.ranges[i]) {
            if r.holds(key) && !lots.contains(lot) {
                lots.push(*lot);
            }
        }
        Ok(lots)
    }
}

/// The keys of a lot's manifest (all of them, or an error: a lot is mapped whole or not at all).
async fn manifest_keys(s3: &aws_sdk_s3::Client, manifest: &str) -> anyhow::Result<Vec<String>> {
    let body = manifest_body(s3, manifest).await?;
    KeyReader::new(&body[..])
        .map(|line| {
            line.map(|l| l.key)
                .with_context(|| format!("lot manifest {manifest}"))
        })
        .collect()
}

async fn manifest_body(s3: &aws_sdk_s3::Client, manifest: &str) -> anyhow::Result<Vec<u8>> {
    let (bucket, key) = thaw_common::spec::object_uri(manifest)
        .with_context(|| format!("bad manifest location '{manifest}'"))?;
    Ok(s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetObject", &e))
        .with_context(|| format!("reading lot manifest {manifest}"))?
        .body
        .collect()
        .await
        .with_context(|| format!("reading lot manifest {manifest}"))?
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(n: u32, range: Option<(&str, &str)>, state: LotState) -> LotItem {
        let mut l = LotItem::pending(n, 10);
        l.state = state;
        l.manifest = format!("s3://c/lot-{n}");
        if let Some((a, b)) = range {
            l.key_order = KeyOrder::Sorted;
            l.key_range = Some(KeyRange {
                first: a.into(),
                last: b.into(),
            });
        }
        l
    }

    #[test]
    fn sorted_lots_by_range_the_rest_indexed() {
        let lots = vec![
            lot(0, Some(("m", "p")), LotState::Waiting),
            lot(1, Some(("a", "c")), LotState::Waiting),
            lot(2, None, LotState::Waiting),
            lot(3, Some(("d", "f")), LotState::Succeeded),
            // overlaps lot 5: both indexed
            lot(4, Some(("t", "v")), LotState::Waiting),
            lot(5, Some(("u", "w")), LotState::Pending),
        ];
        let (ranges, index) = split(&lots);
        let order: Vec<u32> = ranges.iter().map(|r| r.1).collect();
        assert_eq!(order, vec![1, 0]);
        let indexed: Vec<u32> = index.iter().map(|r| r.0).collect();
        assert_eq!(indexed, vec![2, 4, 5]);
        assert_eq!(index[0].1, "s3://c/lot-2");
        let map = LotMap::of_ranges(ranges);
        let of = |k: &str| map.lots_of(k).expect("lookup");
        assert_eq!(of("a"), vec![1]);
        assert_eq!(of("b/x y"), vec![1]);
        assert_eq!(of("c"), vec![1]);
        assert!(of("c0").is_empty(), "between ranges");
        assert!(of("e").is_empty(), "a succeeded lot's range");
        assert_eq!(of("n"), vec![0]);
        assert!(of("A").is_empty() && of("q").is_empty());
    }

    #[test]
    fn a_long_range_covering_several_makes_them_all_indexed() {
        // A covers B and C; C does not touch B: each is compared with A's end, not B's
        let lots = vec![
            lot(0, Some(("a", "z")), LotState::Waiting),
            lot(1, Some(("b", "c")), LotState::Waiting),
            lot(2, Some(("e", "g")), LotState::Waiting),
            lot(3, Some(("zz", "zzz")), LotState::Waiting),
        ];
        let (ranges, index) = split(&lots);
        let ranged: Vec<u32> = ranges.iter().map(|r| r.1).collect();
        assert_eq!(ranged, vec![3]);
        let mut indexed: Vec<u32> = index.iter().map(|r| r.0).collect();
        indexed.sort_unstable();
        assert_eq!(indexed, vec![0, 1, 2]);
    }

    #[test]
    fn a_scattered_lots_key_in_a_sorted_lots_range_maps_to_both() {
        let d = std::env::temp_dir().join(format!("thaw-lotmap-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let mut b = IndexBuilder::new(&d).expect("builder");
        b.add(7, "f").expect("add");
        let map = LotMap {
            ranges: vec![(
                KeyRange {
                    first: "a".into(),
                    last: "m".into(),
                },
                1,
            )],
            index: Some(b.finish().expect("index")),
        };
        let mut of_f = map.lots_of("f").expect("lookup");
        of_f.sort_unstable();
        assert_eq!(of_f, vec![1, 7]);
        assert_eq!(map.lots_of("g").expect("lookup"), vec![1]);
        assert!(map.lots_of("n").expect("lookup").is_empty());
        let _ = std::fs::remove_dir_all(&d);
    }
}
