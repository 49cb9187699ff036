//! How long `follow` waits between two looks (and the simulation's `follow` with it).
//!
//! A look is a Query of every lot item (20,000 for 100M keys, some 10,000 read units): it is
//! worth doing when something can start. A WAITING lot whose restores come due before the
//! interval ends is one; a WAITING lot already due is not a reason to look again at once: the
//! look just made started it, or left it for lack of a slot (which only the end of a running
//! worker frees, seen at a look anyway) or because its restores are not ready enough yet. Looking
//! every second for those, as `follow` did, read a 100M-key job's lots 57,000 times instead of
//! some 4,800.

/// Seconds until the next look, within [1, `interval`]: until the earliest WAITING lot comes due
/// after `now` (`next_checks`: the WAITING lots' `next_check_at`), or the interval when none does
/// within it or when the window is full (`window_full`: due lots were left for a slot).
pub fn pause_secs(
    next_checks: impl IntoIterator<Item = i64>,
    now: i64,
    interval: u64,
    window_full: bool,
) -> u64 {
    let interval = interval.max(1);
    if window_full {
        return interval;
    }
    next_checks
        .into_iter()
        .filter(|t| *t > now)
        .min()
        .map_or(interval, |t| u64::try_from(t - now).unwrap_or(interval))
        .clamp(1, interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_the_next_lot_comes_due() {
        assert_eq!(pause_secs([105], 100, 30, false), 5);
        assert_eq!(pause_secs([101, 200], 100, 30, false), 1);
        assert_eq!(pause_secs([10_000], 100, 30, false), 30);
        assert_eq!(pause_secs([], 100, 30, false), 30);
    }

    #[test]
    fn due_lots_and_a_full_window_wait_for_the_interval() {
        // due already: started by the look just made, or held; not a reason to look at once
        assert_eq!(pause_secs([90, 100], 100, 30, false), 30);
        assert_eq!(pause_secs([90, 110], 100, 30, false), 10);
        // a full window: nothing starts before a worker ends, which the next look sees
        assert_eq!(pause_secs([90, 101], 100, 30, true), 30);
        assert_eq!(pause_secs([101], 100, 0, true), 1);
    }
}
