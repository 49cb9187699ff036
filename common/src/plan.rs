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

#[cfg(test)]
mod tests {
    use super::*;

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
