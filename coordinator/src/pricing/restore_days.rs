//! The restored copies' days: what `--restore-days` costs against one day, and the advice to
//! keep them one day where the fleet simulation shows no copy expires before it is made.
//!
//! A restored copy is billed as STANDARD storage until it expires, whenever it is copied
//! ([`thaw_common::cost::restored_copies_usd`]). With `follow` looking at WAITING lots before
//! it starts their tasks ([`crate::readiness`]: launched once 90% of a lot's restores are done,
//! and always 12 h before the first restored copies expire), a lot of Bulk restores is copied
//! well within a day of its restores completing: the simulation (`estimate --timeline`) copies
//! 1M to 100M keys of GLACIER and DEEP_ARCHIVE Bulk at `--restore-days 1` with no key expired
//! uncopied (README, "The 100M-key timeline").

use thaw_common::cost::Estimate;
use thaw_common::storage::RestoreTier;

/// Whether `--restore-days 1` is shown safe for restores at `tier` when `follow` runs: Bulk, as
/// the simulation shows for GLACIER and DEEP_ARCHIVE. Standard and Expedited restores finish
/// within hours too, but the advice is given only where the figures were taken.
pub fn one_day_is_safe(tier: RestoreTier) -> bool {
    tier == RestoreTier::Bulk
}

/// The lines `estimate` and `launch --dry-run` print about the restored copies: their storage
/// at the days asked against one day, and the advice when a shorter restore is safe and saves.
/// Nothing when the job restores nothing.
pub fn render(e: &Estimate, tier: RestoreTier) -> String {
    let mut o = String::new();
    if e.restores == 0 {
        return o;
    }
    let gib = e.restore_bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    push_line!(
        o,
        "restored copies: {gib:.1} GiB kept as STANDARD for --restore-days {} (+ to the next 00:00 UTC): ${:.2}; at --restore-days 1: ${:.2} (saving ${:.2})",
        e.restore_days,
        e.restored_copies_usd,
        e.restored_copies_one_day_usd,
        e.one_day_saving_usd()
    );
    if e.restore_days > 1 && one_day_is_safe(tier) {
        push_line!(
            o,
            "advice: --restore-days 1 is safe when `coordinator follow` runs (listing looks / events copy within a day of the restore): saves ${:.2}",
            e.one_day_saving_usd()
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(days: u32) -> Estimate {
        Estimate {
            restores: 1000,
            restore_bytes: 1000 << 30,
            restore_days: days,
            restored_copies_usd: 2.68,
            restored_copies_one_day_usd: 1.15,
            ..Estimate::default()
        }
    }

    #[test]
    fn the_saving_and_the_advice_for_bulk_only() {
        let s = render(&estimate(3), RestoreTier::Bulk);
        assert!(
            s.contains("1000.0 GiB kept as STANDARD for --restore-days 3 (+ to the next 00:00 UTC): $2.68; at --restore-days 1: $1.15 (saving $1.53)"),
            "{s}"
        );
        assert!(
            s.contains("advice: --restore-days 1 is safe when `coordinator follow` runs"),
            "{s}"
        );
        assert_eq!(s.lines().count(), 2);
        // Standard restores: the saving, no advice
        let std = render(&estimate(3), RestoreTier::Standard);
        assert_eq!(std.lines().count(), 1, "{std}");
        // already 1 day: no advice
        let one = render(
            &Estimate {
                restored_copies_usd: 1.15,
                ..estimate(1)
            },
            RestoreTier::Bulk,
        );
        assert!(
            one.contains("(saving $0.00)") && !one.contains("advice"),
            "{one}"
        );
        // nothing restored: nothing said
        assert_eq!(render(&Estimate::default(), RestoreTier::Bulk), "");
    }
}
