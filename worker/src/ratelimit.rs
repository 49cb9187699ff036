//! A pacing limiter for restore requests: AWS allows about 1,000 RestoreObject requests per
//! second per account and Region, shared by every worker, so each worker gets a share.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces calls evenly at `rate` per second (no bursts).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter for `rate` calls per second; a rate of 0 or less means unlimited.
    pub fn new(rate: f64) -> Self {
        let interval = if rate > 0.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_calls() {
        let l = RateLimiter::new(10.0);
        let t0 = Instant::now();
        for _ in 0..11 {
            l.acquire().await;
        }
        // 11 calls at 10/s: the last one starts 1 s after the first
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited() {
        let l = RateLimiter::new(0.0);
        let t0 = Instant::now();
        for _ in 0..100 {
            l.acquire().await;
        }
        assert_eq!(Instant::now(), t0);
    }
}
