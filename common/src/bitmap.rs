//! A fixed-size bitmap over a lot's manifest lines: the compact record of which keys are finished.
//!
//! 5,000 keys take 625 bytes, so a whole lot's progress fits in one DynamoDB item.

/// One bit per key of a lot, indexed by the key's position in the lot manifest (0-based).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitmap {
    bits: Vec<u8>,
    len: usize,
}

impl Bitmap {
    /// An all-clear bitmap of `len` bits.
    pub fn new(len: usize) -> Self {
        Self {
            bits: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// Rebuilds a bitmap of `len` bits from stored bytes; missing bytes read as clear and bits past
    /// `len` are ignored, so a damaged or foreign value never panics.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Self {
        let mut b = Self::new(len);
        let n = b.bits.len().min(bytes.len());
        b.bits[..n].copy_from_slice(&bytes[..n]);
        if !len.is_multiple_of(8) {
            if let Some(last) = b.bits.last_mut() {
                *last &= (1u8 << (len % 8)) - 1;
            }
        }
        b
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the bitmap has no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether bit `i` is set (false past the end).
    pub fn get(&self, i: usize) -> bool {
        i < self.len && self.bits[i / 8] & (1 << (i % 8)) != 0
    }

    /// Sets or clears bit `i` (ignored past the end).
    pub fn set(&mut self, i: usize, value: bool) {
        if i < self.len {
            if value {
                self.bits[i / 8] |= 1 << (i % 8);
            } else {
                self.bits[i / 8] &= !(1 << (i % 8));
            }
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Indexes of the set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count() {
        let mut b = Bitmap::new(5000);
        assert_eq!(b.as_bytes().len(), 625);
        b.set(0, true);
        b.set(4999, true);
        b.set(5000, true); // ignored
        assert!(b.get(0) && b.get(4999) && !b.get(1) && !b.get(5000));
        assert_eq!(b.count(), 2);
        b.set(0, false);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![4999]);
    }

    #[test]
    fn roundtrip_and_damage() {
        let mut b = Bitmap::new(10);
        b.set(9, true);
        assert_eq!(Bitmap::from_bytes(b.as_bytes(), 10), b);
        // too short, too long, stray high bits: no panic, sane result
        assert_eq!(Bitmap::from_bytes(&[], 10).count(), 0);
        assert_eq!(Bitmap::from_bytes(&[0xff, 0xff, 0xff], 10).count(), 10);
    }

    #[test]
    fn is_empty_only_without_bits() {
        assert!(Bitmap::new(0).is_empty());
        assert!(Bitmap::default().is_empty());
        assert!(!Bitmap::new(1).is_empty());
        assert_eq!(Bitmap::new(1).len(), 1);
    }

    #[test]
    fn clearing_a_bit_leaves_its_neighbours() {
        let mut b = Bitmap::new(20);
        for i in [3, 11, 12, 19] {
            b.set(i, true);
        }
        b.set(11, false);
        b.set(19, false);
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![3, 12]);
        assert_eq!(b.as_bytes(), &[0b0000_1000, 0b0001_0000, 0]);
        // past the end: ignored, never a panic
        b.set(20, false);
        assert!(!b.get(20) && !b.get(usize::MAX));
    }
}
