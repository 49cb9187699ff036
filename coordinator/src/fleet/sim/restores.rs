//! One lot's restore requests in the model: spans of time over which its worker sent them at an
//! even pace, and how many of them S3 has completed at a given time (each completes a uniformly
//! drawn delay after its request), as an expected count, so 5,000 keys cost a few float
//! operations instead of 5,000 events.

/// Restore requests sent evenly between `from` and `to` (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    from: f64,
    to: f64,
    keys: f64,
}

/// A lot's restore requests and the completion delay range `(lo, hi)` in seconds.
#[derive(Debug, Clone)]
pub struct Restores {
    spans: Vec<Span>,
    lo: f64,
    hi: f64,
}

impl Restores {
    /// No request yet; completions `lo..hi` seconds after each request.
    pub fn new(lo: f64, hi: f64) -> Self {
        Self {
            spans: Vec::new(),
            lo,
            hi: hi.max(lo),
        }
    }

    /// Records `keys` requests sent evenly from `from` to `to`.
    pub fn record(&mut self, from: f64, to: f64, keys: f64) {
        if keys > 0.0 {
            self.spans.push(Span {
                from,
                to: to.max(from),
                keys,
            });
        }
    }

    /// Requests recorded.
    pub fn requested(&self) -> f64 {
        self.spans.iter().map(|s| s.keys).sum()
    }

    /// Expected restores completed by `t`.
    pub fn completed(&self, t: f64) -> f64 {
        self.spans
            .iter()
            .map(|s| s.keys * self.share_done(s, t))
            .sum()
    }

    /// When the first request was sent (`None` before it).
    pub fn first_request(&self) -> Option<f64> {
        self.spans.iter().map(|s| s.from).min_by(f64::total_cmp)
    }

    /// When the last request was sent (`None` before the first).
    pub fn last_request(&self) -> Option<f64> {
        self.spans.iter().map(|s| s.to).max_by(f64::total_cmp)
    }

    /// Expected restores requested before `before` that completed after `from` and by `to`.
    pub fn requested_before_completed_between(&self, before: f64, from: f64, to: f64) -> f64 {
        self.spans
            .iter()
            .filter_map(|s| clip(s, before))
            .map(|s| s.keys * (self.share_done(&s, to) - self.share_done(&s, from)).max(0.0))
            .sum()
    }

    /// The request time of the oldest of the restores completed after `from` and by `to`: the
    /// earliest time before which at least `keys` of them were requested (expected counts),
    /// `None` when fewer than `keys` completed then.
    pub fn oldest_request_completed_between(&self, from: f64, to: f64, keys: f64) -> Option<f64> {
        let (first, last) = (self.first_request()?, self.last_request()?);
        let count = |before| self.requested_before_completed_between(before, from, to);
        if count(f64::INFINITY) < keys {
            return None;
        }
        let (mut lo, mut hi) = (first, last + 1.0);
        while hi - lo > 1.0 {
            let mid = (lo + hi) / 2.0;
            if count(mid) >= keys {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(lo)
    }

    /// P(S + D <= t) for S uniform over the span and D uniform over `lo..hi`.
    fn share_done(&self, s: &Span, t: f64) -> f64 {
        let width = s.to - s.from;
        if width <= 0.0 {
            return self.delay_cdf(t - s.from);
        }
        ((self.delay_integral(t - s.from) - self.delay_integral(t - s.to)) / width).clamp(0.0, 1.0)
    }

    /// P(D <= x).
    fn delay_cdf(&self, x: f64) -> f64 {
        let (lo, hi) = (self.lo, self.hi);
        if x < lo {
            0.0
        } else if x >= hi {
            1.0
        } else {
            (x - lo) / (hi - lo)
        }
    }

    /// The integral of P(D <= y) for y up to x.
    fn delay_integral(&self, x: f64) -> f64 {
        let (lo, hi) = (self.lo, self.hi);
        if x <= lo {
            0.0
        } else if x >= hi {
            (hi - lo) / 2.0 + (x - hi)
        } else {
            (x - lo) * (x - lo) / (2.0 * (hi - lo))
        }
    }
}

/// The part of span `s` requested before `before`, if any.
fn clip(s: &Span, before: f64) -> Option<Span> {
    if before <= s.from {
        return None;
    }
    if s.to <= before {
        return Some(*s);
    }
    let share = (before - s.from) / (s.to - s.from);
    Some(Span {
        from: s.from,
        to: before,
        keys: s.keys * share,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_follow_the_delay_range() {
        let mut r = Restores::new(10.0, 20.0);
        r.record(0.0, 0.0, 100.0);
        assert_eq!(r.completed(9.0), 0.0);
        assert!((r.completed(15.0) - 50.0).abs() < 1e-9);
        assert_eq!(r.completed(20.0), 100.0);
        // spread requests: nothing before the first could complete, all after the last + hi
        let mut s = Restores::new(10.0, 20.0);
        s.record(0.0, 100.0, 1000.0);
        assert_eq!(s.completed(10.0), 0.0);
        assert!(s.completed(60.0) > 0.0 && s.completed(60.0) < 1000.0);
        assert!((s.completed(120.0) - 1000.0).abs() < 1e-9);
        assert_eq!(
            (s.first_request(), s.last_request()),
            (Some(0.0), Some(100.0))
        );
        assert_eq!(Restores::new(1.0, 2.0).first_request(), None);
        // the expected count of a spread is the average over the span
        let mid = s.completed(65.0);
        let by_points: f64 = (0..1000)
            .map(|i| {
                let at = (i as f64 + 0.5) / 10.0;
                let mut one = Restores::new(10.0, 20.0);
                one.record(at, at, 1.0);
                one.completed(65.0)
            })
            .sum();
        assert!((mid - by_points).abs() < 1.0, "{mid} vs {by_points}");
    }

    #[test]
    fn completions_by_request_time() {
        // 1,000 requests over 0-100 s, each done 10-20 s later
        let mut r = Restores::new(10.0, 20.0);
        r.record(0.0, 100.0, 1000.0);
        let all = r.requested_before_completed_between(f64::INFINITY, 0.0, 200.0);
        assert!((all - 1000.0).abs() < 1e-9);
        // the first half of the requests all completed by 70 s
        let half = r.requested_before_completed_between(50.0, f64::NEG_INFINITY, 70.0);
        assert!((half - 500.0).abs() < 1e-9, "{half}");
        assert_eq!(r.requested_before_completed_between(0.0, 0.0, 200.0), 0.0);
        // completed between 60 and 70 s: requested from 40 s on
        let oldest = r.oldest_request_completed_between(60.0, 70.0, 0.5);
        assert!(
            oldest.is_some_and(|t| (40.0..45.0).contains(&t)),
            "{oldest:?}"
        );
        assert_eq!(r.oldest_request_completed_between(0.0, 5.0, 0.5), None);
    }

    #[test]
    fn a_fixed_delay_is_a_step() {
        let mut r = Restores::new(5.0, 5.0);
        r.record(0.0, 10.0, 10.0);
        assert_eq!(r.completed(4.9), 0.0);
        assert!((r.completed(10.0) - 5.0).abs() < 1e-9);
        assert_eq!(r.completed(15.0), 10.0);
    }
}
