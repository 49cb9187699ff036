//! A uniform sample of a stream of unknown length (reservoir sampling, Algorithm R) with a fixed
//! seed, so an estimate over the same list repeats exactly. Memory is bounded by the sample size,
//! not by the stream.

/// Keeps at most `size` items, each item of the stream equally likely to be kept.
#[derive(Debug, Clone)]
pub struct Reservoir<T> {
    size: usize,
    seen: u64,
    items: Vec<T>,
    rng: u64,
}

impl<T> Reservoir<T> {
    /// An empty reservoir keeping up to `size` items.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            seen: 0,
            items: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Offers the next item of the stream.
    pub fn offer(&mut self, item: T) {
        self.seen += 1;
        if self.items.len() < self.size {
            self.items.push(item);
        } else {
            let j = self.next_rand() % self.seen;
            if (j as usize) < self.size {
                self.items[j as usize] = item;
            }
        }
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The sample, taken out.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// How many stream items each kept item stands for (1 when everything was kept).
    pub fn weight(&self) -> f64 {
        if self.items.is_empty() {
            0.0
        } else {
            self.seen as f64 / self.items.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_all_when_small_and_size_when_large() {
        let mut r = Reservoir::new(10);
        for i in 0..5 {
            r.offer(i);
        }
        assert_eq!((r.items().len(), r.weight()), (5, 1.0));
        let mut r = Reservoir::new(10);
        for i in 0..10_000u32 {
            r.offer(i);
        }
        assert_eq!((r.items().len(), r.seen()), (10, 10_000));
        assert_eq!(r.weight(), 1000.0);
        // not just the first ten
        assert!(r.items().iter().any(|k| *k >= 10));
    }
}
