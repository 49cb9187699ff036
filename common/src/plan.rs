//! Lot planning: how many keys each lot gets.
//!
//! Lots keep input order: lot 0 holds the first keys of the list. With `--lots N` the sizes differ
//! by at most one key; with `--lot-size K` every lot but the last holds exactly K keys.

/// How the user asked for the list to be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LotSpec {
    /// Exactly this many lots (fewer when there are fewer keys than lots).
    Count(u64),
    /// Lots of this many keys (the last may be smaller).
    Size(u64),
}

/// The largest lot thaw accepts: its checkpoint bitmaps must fit one DynamoDB item (400 KB).
pub const MAX_LOT_SIZE: u64 = 200_000;

/// Why a split cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The input held no keys.
    #[error("the key list holds no keys")]
    NoKeys,
    /// `--lots 0` or `--lot-size 0`.
    #[error("the number of lots and the lot size must be at least 1")]
    Zero,
    /// A lot would be larger than [`MAX_LOT_SIZE`].
    #[error("lots of {0} keys are too large: at most {MAX_LOT_SIZE} keys per lot (use more lots)")]
    TooLarge(u64),
}

/// Sizes of the lots for `total` keys, in lot order.
pub fn lot_sizes(total: u64, spec: LotSpec) -> Result<Vec<u64>, PlanError> {
    if total == 0 {
        return Err(PlanError::NoKeys);
    }
    let sizes = match spec {
        LotSpec::Count(0) | LotSpec::Size(0) => return Err(PlanError::Zero),
        LotSpec::Count(n) => {
            let n = n.min(total);
            let base = total / n;
            let extra = total % n;
            (0..n)
                .map(|i| base + u64::from(i < extra))
                .collect::<Vec<_>>()
        }
        LotSpec::Size(k) => {
            let n = total.div_ceil(k);
            (0..n)
                .map(|i| if i + 1 < n { k } else { total - k * (n - 1) })
                .collect()
        }
    };
    match sizes.iter().max() {
        Some(&m) if m > MAX_LOT_SIZE => Err(PlanError::TooLarge(m)),
        _ => Ok(sizes),
    }
}

/// How a lot's keys lie in the bucket's key order, as the plan saw them. Sorted lots (a prefix
/// listing, an inventory, a key list in S3's order) have their restores looked at with a few
/// ListObjectsV2 pages; scattered ones with one HeadObject per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyOrder {
    /// Every key after the previous one in S3's order (UTF-8 bytes), none pinning a version.
    Sorted,
    /// Anything else, and lots recorded before the order was (read back as scattered).
    #[default]
    Scattered,
}

impl KeyOrder {
    /// The name stored on the lot item and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sorted => "sorted",
            Self::Scattered => "scattered",
        }
    }

    /// The order a stored name says; anything else (no name: an older item) is scattered.
    pub fn read(name: Option<&str>) -> Self {
        match name {
            Some("sorted") => Self::Sorted,
            _ => Self::Scattered,
        }
    }
}

/// The first and last key of a sorted lot (S3's order): `follow --events` finds the lot of a key
/// by these, without its key list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyRange {
    /// The lot's first key.
    pub first: String,
    /// The lot's last key.
    pub last: String,
}

impl KeyRange {
    /// Whether `key` lies within the range (S3's order: UTF-8 bytes).
    pub fn holds(&self, key: &str) -> bool {
        self.first.as_bytes() <= key.as_bytes() && key.as_bytes() <= self.last.as_bytes()
    }
}

/// How a lot's keys lie: their order, and for a sorted lot with keys, its range.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LotOrder {
    /// The order.
    pub order: KeyOrder,
    /// First and last key, for a sorted lot.
    pub range: Option<KeyRange>,
}

/// Follows a lot's keys as they come and tells their [`KeyOrder`].
#[derive(Debug, Default)]
pub struct OrderCheck {
    first: Option<String>,
    last: Option<String>,
    unsorted: bool,
}

impl OrderCheck {
    /// One more key of the lot (`pinned`: its line names a version, which a listing does not
    /// show).
    pub fn add(&mut self, key: &str, pinned: bool) {
        if self.unsorted {
            return;
        }
        if self.first.is_none() {
            self.first = Some(key.to_owned());
        }
        if pinned
            || self
                .last
                .as_deref()
                .is_some_and(|l| l.as_bytes() >= key.as_bytes())
        {
            self.unsorted = true;
            self.first = None;
            self.last = None;
            return;
        }
        self.last = Some(key.to_owned());
    }

    /// The order of the keys seen.
    pub fn finish(self) -> KeyOrder {
        self.lot_order().order
    }

    /// The order of the keys seen and, when sorted, their range.
    pub fn lot_order(self) -> LotOrder {
        if self.unsorted {
            return LotOrder {
                order: KeyOrder::Scattered,
                range: None,
            };
        }
        let range = self
            .first
            .zip(self.last)
            .map(|(first, last)| KeyRange { first, last });
        LotOrder {
            order: KeyOrder::Sorted,
            range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_follows_s3_byte_order_and_pins() {
        let order = |keys: &[(&str, bool)]| {
            let mut c = OrderCheck::default();
            for (k, pinned) in keys {
                c.add(k, *pinned);
            }
            c.finish()
        };
        assert_eq!(
            order(&[("a/1", false), ("a/10", false), ("a/2", false)]),
            KeyOrder::Sorted
        );
        // "B" (0x42) sorts before "a" (0x61) in S3's order
        assert_eq!(order(&[("a", false), ("B", false)]), KeyOrder::Scattered);
        assert_eq!(order(&[("a", false), ("a", false)]), KeyOrder::Scattered);
        assert_eq!(order(&[("a", false), ("b", true)]), KeyOrder::Scattered);
        assert_eq!(
            order(&[("b", false), ("a", false), ("c", false)]),
            KeyOrder::Scattered
        );
        assert_eq!(KeyOrder::read(Some("sorted")), KeyOrder::Sorted);
        assert_eq!(KeyOrder::read(None), KeyOrder::Scattered);
        assert_eq!(
            KeyOrder::read(Some(KeyOrder::Scattered.as_str())),
            KeyOrder::Scattered
        );
    }

    #[test]
    fn a_sorted_lot_has_its_first_and_last_key() {
        let lot = |keys: &[&str]| {
            let mut c = OrderCheck::default();
            for k in keys {
                c.add(k, false);
            }
            c.lot_order()
        };
        let sorted = lot(&["a/1", "a/2", "b"]);
        assert_eq!(sorted.order, KeyOrder::Sorted);
        let range = sorted.range.expect("range");
        assert_eq!((range.first.as_str(), range.last.as_str()), ("a/1", "b"));
        assert!(range.holds("a/1") && range.holds("a/15") && range.holds("b"));
        assert!(!range.holds("a") && !range.holds("b/") && !range.holds("B"));
        assert_eq!(lot(&["b", "a"]).range, None);
        assert_eq!(lot(&[]).range, None);
    }

    #[test]
    fn count_balances_within_one() {
        let s = lot_sizes(100_003, LotSpec::Count(20)).expect("plan");
        assert_eq!(s.len(), 20);
        assert_eq!(s.iter().sum::<u64>(), 100_003);
        let (min, max) = (s.iter().min().unwrap(), s.iter().max().unwrap());
        assert!(max - min <= 1);
        // larger lots first, so order is stable and predictable
        assert!(s.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn size_gives_ceil_lots() {
        let s = lot_sizes(12_001, LotSpec::Size(5000)).expect("plan");
        assert_eq!(s, vec![5000, 5000, 2001]);
        assert_eq!(
            lot_sizes(10_000, LotSpec::Size(5000)).unwrap(),
            vec![5000, 5000]
        );
    }

    #[test]
    fn one_key() {
        assert_eq!(lot_sizes(1, LotSpec::Count(20)).unwrap(), vec![1]);
        assert_eq!(lot_sizes(1, LotSpec::Size(5000)).unwrap(), vec![1]);
    }

    #[test]
    fn more_lots_than_keys() {
        assert_eq!(lot_sizes(3, LotSpec::Count(10)).unwrap(), vec![1, 1, 1]);
    }

    #[test]
    fn errors() {
        assert_eq!(lot_sizes(0, LotSpec::Count(3)), Err(PlanError::NoKeys));
        assert_eq!(lot_sizes(5, LotSpec::Count(0)), Err(PlanError::Zero));
        assert_eq!(lot_sizes(5, LotSpec::Size(0)), Err(PlanError::Zero));
        assert_eq!(
            lot_sizes(1_000_000, LotSpec::Count(2)),
            Err(PlanError::TooLarge(500_000))
        );
    }

    #[test]
    fn the_largest_lot_is_accepted_one_more_key_is_not() {
        assert_eq!(
            lot_sizes(MAX_LOT_SIZE, LotSpec::Count(1)),
            Ok(vec![MAX_LOT_SIZE])
        );
        assert_eq!(
            lot_sizes(MAX_LOT_SIZE + 1, LotSpec::Count(1)),
            Err(PlanError::TooLarge(MAX_LOT_SIZE + 1))
        );
        assert_eq!(
            lot_sizes(MAX_LOT_SIZE + 1, LotSpec::Size(MAX_LOT_SIZE + 1)),
            Err(PlanError::TooLarge(MAX_LOT_SIZE + 1))
        );
    }
}
