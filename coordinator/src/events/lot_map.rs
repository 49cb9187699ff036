//! Key -> lot for `follow --events`, without the key list in memory: the sorted lots' key ranges
//! (first and last key, recorded by `launch`) in a sorted vector searched by halves, and the
//! other lots (scattered, recorded before ranges were, or whose range overlaps another's) in an
//! on-disk [`KeyIndex`] built once per session from their manifests, one lot at a time.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use thaw_common::aws::AwsError;
use thaw_common::checkpoint::LotState;
use thaw_common::keys::KeyReader;
use thaw_common::plan::{KeyOrder, KeyRange};
use thaw_common::progress::LotItem;
use tracing::info;

use super::key_index::{IndexBuilder, KeyIndex};

/// Which lot holds a key.
pub struct LotMap {
    /// Disjoint ranges, by first key.
    ranges: Vec<Ranged>,
    /// The other lots' keys.
    index: Option<KeyIndex>,
}

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
    let mut overlaps = vec![false; ranges.len()];
    for i in 1..ranges.len() {
        if ranges[i].0.first.as_bytes() <= ranges[i - 1].0.last.as_bytes() {
            overlaps[i] = true;
            overlaps[i - 1] = true;
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
        for (lot, manifest) in &to_index {
            let body = manifest_body(s3, manifest).await?;
            for line in KeyReader::new(&body[..]) {
                let line = line.with_context(|| format!("lot manifest {manifest}"))?;
                b.add(*lot, &line.key)?;
            }
        }
        let index = b.finish()?;
        info!(
            lots = to_index.len(),
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
        if let Some((r, lot)) = after.checked_sub(1).map(|i| &self.ranges[i]) {
            if r.holds(key) {
                return Ok(vec![*lot]);
            }
        }
        match &self.index {
            Some(idx) => idx.lots_of(key),
            None => Ok(Vec::new()),
        }
    }
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
}
