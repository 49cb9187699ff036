//! How late a WAITING lot may be looked at again. A restore that completes right after a look
//! keeps its copy `--restore-days` days from then (S3 rounds the expiry up to the next 00:00
//! UTC, never down), so a lot whose restores are still running is looked at again within
//! `restore_days` days less [`EXPIRY_MARGIN_SECS`], whatever the class's poll delay (48 h for
//! DEEP_ARCHIVE Bulk, longer than a 1-day copy lives): no restored copy expires uncopied between
//! two looks. Both `follow`'s readiness verdict and the worker's WAITING next check use it.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lot_is_looked_at_again_before_a_copy_made_now_expires() {
        // copies kept 1 day: within 12 h, well before a DEEP_ARCHIVE Bulk poll delay (48 h)
        assert_eq!(latest_recheck(1_000, 1), 1_000 + 12 * 3600);
        assert_eq!(latest_recheck(0, 7), 7 * 86_400 - 12 * 3600);
        assert_eq!(latest_recheck(0, 0), MIN_RECHECK_SECS);
    }
}
