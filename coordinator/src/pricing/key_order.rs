//! Which of a job's lots are sorted, as `launch` decides it (`crate::control`: each lot's keys
//! through [`OrderCheck`]), for the cost of their first pass ([`SortedLots`]). The keys are
//! followed as they stream by, one lot at a time: memory holds the lot sizes and two keys.

use thaw_common::cost::SortedLots;
use thaw_common::keys::KeyLine;
use thaw_common::plan::{KeyOrder, OrderCheck};

use crate::keylist::KeyList;

/// Follows a list's keys through lots of `sizes` keys, in list order.
#[derive(Debug)]
pub struct LotOrders<'a> {
    sizes: &'a [u64],
    /// The lot being read, and the keys it still expects.
    lot: usize,
    left: u64,
    check: OrderCheck,
    sorted: SortedLots,
}

impl<'a> LotOrders<'a> {
    /// Lots of `sizes` keys (as `lot_sizes` plans them).
    pub fn new(sizes: &'a [u64]) -> Self {
        Self {
            sizes,
            lot: 0,
            left: sizes.first().copied().unwrap_or(0),
            check: OrderCheck::default(),
            sorted: SortedLots::default(),
        }
    }

    /// The list's next key.
    pub fn add(&mut self, line: &KeyLine) {
        while self.left == 0 && self.lot < self.sizes.len() {
            self.next_lot();
        }
        self.check.add(&line.key, line.version_id.is_some());
        self.left = self.left.saturating_sub(1);
    }

    /// Closes the lot being read and opens the next.
    fn next_lot(&mut self) {
        let check = std::mem::take(&mut self.check);
        if let Some(&keys) = self.sizes.get(self.lot) {
            self.sorted
                .add_lot(keys, check.finish() == KeyOrder::Sorted);
        }
        self.lot += 1;
        self.left = self.sizes.get(self.lot).copied().unwrap_or(0);
    }

    /// The lots seen, sorted or not.
    pub fn finish(mut self) -> SortedLots {
        while self.lot < self.sizes.len() {
            self.next_lot();
        }
        self.sorted
    }
}

/// The sorted lots of `keys` split in lots of `sizes` keys, from one more read of the list (for
/// an inventory, whose estimate reads no key otherwise).
pub fn sorted_lots(keys: &KeyList, sizes: &[u64]) -> anyhow::Result<SortedLots> {
    let mut orders = LotOrders::new(sizes);
    for line in keys.reopen()? {
        orders.add(&line?);
    }
    Ok(orders.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &str, version: Option<&str>) -> KeyLine {
        KeyLine {
            line: 0,
            key: key.to_owned(),
            version_id: version.map(str::to_owned),
            dest: None,
        }
    }

    fn orders(keys: &[&str], sizes: &[u64]) -> SortedLots {
        let mut o = LotOrders::new(sizes);
        for k in keys {
            o.add(&line(k, None));
        }
        o.finish()
    }

    #[test]
    fn each_lot_is_judged_on_its_own_keys() {
        let sorted: Vec<String> = (0..40).map(|i| format!("k/{i:02}")).collect();
        let sorted: Vec<&str> = sorted.iter().map(String::as_str).collect();
        // one step back in the second lot of 20: the first alone is listed
        let mut back = sorted.clone();
        back.swap(25, 26);
        let l = orders(&back, &[20, 20]);
        assert_eq!(
            (l.of_keys, l.keys, l.lots, l.first_pass_pages),
            (40, 20, 1, 1)
        );
        // a lot in descending order is scattered
        let reversed: Vec<&str> = sorted[..20].iter().rev().copied().collect();
        assert_eq!(orders(&reversed, &[20]).keys, 0);
        // a step back between two lots (two sorted files of an inventory) breaks neither
        let joined: Vec<&str> = sorted[..20].iter().chain(&sorted[..20]).copied().collect();
        assert_eq!(orders(&joined, &[20, 20]).keys, 40);
        // ... but breaks the lot that holds it
        assert_eq!(orders(&joined, &[15, 10, 15]).keys, 30);
        // sorted lots of 8 keys are too few to list (13 at least)
        let l = orders(&sorted[..16], &[8, 8]);
        assert_eq!((l.of_keys, l.keys), (16, 0));
    }

    #[test]
    fn a_pinned_key_makes_its_lot_scattered() {
        let keys: Vec<String> = (0..20).map(|i| format!("k/{i:02}")).collect();
        let mut o = LotOrders::new(&[20]);
        for (i, k) in keys.iter().enumerate() {
            o.add(&line(k, (i == 3).then_some("v1")));
        }
        assert_eq!(o.finish().keys, 0);
    }
}
