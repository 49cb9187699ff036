//! How fast new lots enter the fleet: no faster than the restore rate can take their keys.
//!
//! A lot that has not started (PENDING) spends its first run sending its restore requests, and
//! the running workers share the job's restore rate, so lots started together finish their
//! requests together. Started all at once (the whole window at the launch, or every slot freed
//! since the last look), they come back in lockstep: every slot ends at the same moment, and the
//! account's restore rate idles while the next cohort's tasks start (a minute or more on
//! Fargate). The fleet simulation shows it: a 10M-key GLACIER job at 1,000 restores/s used 69%
//! of the rate with a window of 29, 77% with 60. Paced at `restore rate / keys per lot` lots a
//! second (a token bucket holding one look's worth), cohorts stay small and overlap, each new
//! lot's requests start as the previous ones end, and the window no longer has to be large to keep
//! the rate busy. WAITING lots whose restores are due (copy runs) are not paced: they send no
//! restore request.

/// The pace of PENDING lots for one `follow` session (or one simulated job).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    at: i64,
}

impl Pace {
    /// `restore_rate` requests per second for lots of `keys_per_lot` keys, looked at every
    /// `interval_secs`: `restore_rate / keys_per_lot` lots a second, at most one look's worth
    /// (at least one lot) at once. Full at `now`.
    pub fn new(restore_rate: f64, keys_per_lot: f64, interval_secs: f64, now: i64) -> Self {
        let per_sec = (restore_rate.max(0.0) / keys_per_lot.max(1.0)).max(1e-9);
        let burst = (per_sec * interval_secs.max(1.0)).max(1.0);
        Self {
            per_sec,
            burst,
            tokens: burst,
            at: now,
        }
    }

    /// PENDING lots that may start at `now`.
    pub fn allowed(&mut self, now: i64) -> u32 {
        if now > self.at {
            let refill = (now - self.at) as f64 * self.per_sec;
            self.tokens = (self.tokens + refill).min(self.burst);
            self.at = now;
        }
        self.tokens.floor().clamp(0.0, f64::from(u32::MAX)) as u32
    }

    /// `n` PENDING lots were started.
    pub fn started(&mut self, n: u32) {
        self.tokens = (self.tokens - f64::from(n)).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lots_enter_at_the_restore_rate() {
        // 1,000 restores/s, lots of 5,000: 0.2 lots/s, 6 per 30-second look
        let mut p = Pace::new(1000.0, 5000.0, 30.0, 0);
        assert_eq!(p.allowed(0), 6);
        p.started(6);
        assert_eq!(p.allowed(0), 0);
        assert_eq!(p.allowed(10), 2);
        p.started(2);
        assert_eq!(p.allowed(15), 1);
        // an idle hour does not bank more than one look's worth
        assert_eq!(p.allowed(3600), 6);
        // a slow rate still lets one lot in
        let mut slow = Pace::new(1.0, 5000.0, 30.0, 0);
        assert_eq!(slow.allowed(0), 1);
        slow.started(1);
        assert_eq!(slow.allowed(4999), 0);
        assert_eq!(slow.allowed(5000), 1);
    }
}
