//! How late a WAITING lot may be looked at again. S3 dates a restored copy's expiry from the
//! restore *request* (the request plus `--restore-days`, rounded up to the next 00:00 UTC), so a
//! restore still running at a look expires no sooner than its request + the days: a lot whose
//! restores are still running is looked at again within `restore_days` days less
//! [`EXPIRY_MARGIN_SECS`] (whatever the class's poll delay), and the days must cover the slowest
//! restore plus that margin ([`shortest_safe_restore_days`]), or a copy may expire before a look
//! sees it. Both `follow`'s readiness verdict and the worker's WAITING next check use it.

/// How long before a restored copy may expire its lot is looked at (or launched).
pub const EXPIRY_MARGIN_SECS: i64 = 12 * 3600;

/// The least time [`latest_recheck`] leaves before the next look.
pub const MIN_RECHECK_SECS: i64 = 3600;

/// The latest next look at a lot still waiting for restores, looked at `now` (epoch seconds):
/// `restore_days` days less the margin, at least [`MIN_RECHECK_SECS`] away.
pub fn latest_recheck(now: i64, restore_days: u32) -> i64 {
    let window = (i64::from(restore_days) * 86_400 - EXPIRY_MARGIN_SECS).max(MIN_RECHECK_SECS);
    now.saturating_add(window)
}

/// The fewest `--restore-days` that keep every restored copy until `follow` can copy it, for
/// restores taking up to `longest_secs`: S3 dates the expiry from the restore request (the
/// request plus the days, rounded up to the next 00:00 UTC), so the days must cover the slowest
/// restore plus
/// [`EXPIRY_MARGIN_SECS`] (not counting the rounding, which may add nothing). GLACIER Bulk
/// (12 h) + 12 h: 1 day; DEEP_ARCHIVE Bulk (48 h) + 12 h: 3 days.
pub fn shortest_safe_restore_days(longest_secs: f64) -> u32 {
    let secs = longest_secs.max(0.0) + EXPIRY_MARGIN_SECS as f64;
    ((secs / 86_400.0).ceil() as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_days_cover_the_slowest_restore_and_the_margin() {
        const H: f64 = 3600.0;
        assert_eq!(shortest_safe_restore_days(12.0 * H), 1);
        assert_eq!(shortest_safe_restore_days(12.0 * H + 1.0), 2);
        assert_eq!(shortest_safe_restore_days(48.0 * H), 3);
        assert_eq!(shortest_safe_restore_days(300.0), 1);
    }

    #[test]
    fn a_lot_is_looked_at_again_before_a_copy_made_now_expires() {
        // copies kept 1 day: within 12 h, well before a DEEP_ARCHIVE Bulk poll delay (48 h)
        assert_eq!(latest_recheck(1_000, 1), 1_000 + 12 * 3600);
        assert_eq!(latest_recheck(0, 7), 7 * 86_400 - 12 * 3600);
        assert_eq!(latest_recheck(0, 0), MIN_RECHECK_SECS);
    }
}
