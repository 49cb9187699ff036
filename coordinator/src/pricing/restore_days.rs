//! The restored copies' days: what `--restore-days` costs against the fewest safe days, and the
//! advice to keep them that short.
//!
//! S3 dates a restored copy's expiry from the restore *request* (request + days, rounded up to
//! the next 00:00 UTC) and bills it as STANDARD storage from the restore's completion to that
//! expiry, whenever it is copied ([`thaw_common::cost::restored_copy_days`]). So the days must
//! cover the slowest restore plus `follow`'s 12 h margin
//! ([`thaw_common::recheck::shortest_safe_restore_days`]): 1 day for GLACIER (Bulk within 12 h),
//! 3 days for DEEP_ARCHIVE Bulk (within 48 h): at 1 day a DEEP_ARCHIVE Bulk copy may expire
//! before, or hours after, its restore completes. With `follow` looking at WAITING lots before
//! it starts their tasks ([`crate::readiness`]), the simulation (`estimate --timeline`) copies
//! 1M to 100M keys at those days with no key expired uncopied (README, "The 100M-key
//! timeline").

use thaw_common::cost::Estimate;

/// `bytes` in the largest binary unit that keeps it 1 or more, one decimal (bytes whole).
fn size_label(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for u in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{value:.1} {u}"),
        None => format!("{bytes} B"),
    }
}

/// The lines `estimate` and `launch --dry-run` print about the restored copies: their storage
/// at the days asked against the shortest safe days, and the advice to ask those when they save
/// a cent or more (the simulation runs a lot twice at those days as at longer ones: 2 launches
/// per lot for DEEP_ARCHIVE Bulk at 3 and at 7 days), or a warning when fewer are asked.
/// When the copies remove their source the restored copies go with it, so the figures are
/// upper bounds ("at most"). Nothing when the job restores nothing.
pub fn render(e: &Estimate) -> String {
    let mut o = String::new();
    if e.restored_copy_bytes == 0 {
        return o;
    }
    let at_most = if e.restored_copies_end_at_copy {
        "at most "
    } else {
        ""
    };
    let saving = e.shortest_days_saving_usd();
    let shortest = e.shortest_restore_days;
    push_line!(
        o,
        "restored copies: {} kept as STANDARD from each restore's completion to its request + --restore-days {} (+ to the next 00:00 UTC): {at_most}${:.2}; at --restore-days {shortest}: {at_most}${:.2} (saving {at_most}${saving:.2})",
        size_label(e.restored_copy_bytes),
        e.restore_days,
        e.restored_copies_usd,
        e.restored_copies_shortest_usd,
    );
    if e.restore_days < shortest {
        push_line!(
            o,
            "warning: --restore-days {} is less than the slowest restore + `follow`'s 12 h margin: restored copies may expire before they are copied; ask {shortest}",
            e.restore_days
        );
    } else if e.restore_days > shortest && saving >= 0.01 {
        push_line!(
            o,
            "advice: --restore-days {shortest} is safe when `coordinator follow` runs (it covers the slowest restore + follow's 12 h margin; the expiry counts from the request): saves {at_most}${saving:.2}"
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
            restored_copy_bytes: 1000 << 30,
            restore_days: days,
            restored_copies_usd: 2.68,
            shortest_restore_days: 1,
            restored_copies_shortest_usd: 1.15,
            ..Estimate::default()
        }
    }

    #[test]
    fn the_saving_and_the_advice_at_the_shortest_safe_days() {
        let s = render(&estimate(3));
        assert!(
            s.contains("1000.0 GiB kept as STANDARD from each restore's completion to its request + --restore-days 3 (+ to the next 00:00 UTC): $2.68; at --restore-days 1: $1.15 (saving $1.53)"),
            "{s}"
        );
        assert!(
            s.contains("advice: --restore-days 1 is safe when `coordinator follow` runs"),
            "{s}"
        );
        assert_eq!(s.lines().count(), 2);
        // already at the shortest: no advice
        let one = render(&Estimate {
            restored_copies_usd: 1.15,
            ..estimate(1)
        });
        assert!(
            one.contains("(saving $0.00)") && !one.contains("advice") && !one.contains("warning"),
            "{one}"
        );
        // nothing restored: nothing said
        assert_eq!(render(&Estimate::default()), "");
    }

    #[test]
    fn deep_archive_bulk_is_advised_three_days_and_warned_below() {
        let deep = |days| Estimate {
            shortest_restore_days: 3,
            restored_copies_shortest_usd: 1.53,
            ..estimate(days)
        };
        let week = render(&deep(7));
        assert!(
            week.contains("at --restore-days 3: $1.53 (saving $1.15)")
                && week.contains("advice: --restore-days 3 is safe"),
            "{week}"
        );
        let one = render(&deep(1));
        assert!(
            one.contains("warning: --restore-days 1 is less than the slowest restore")
                && one.contains("ask 3")
                && !one.contains("advice"),
            "{one}"
        );
    }

    #[test]
    fn copies_removing_their_source_are_priced_at_most() {
        let e = Estimate {
            restored_copies_end_at_copy: true,
            ..estimate(3)
        };
        let s = render(&e);
        assert!(
            s.contains(
                ": at most $2.68; at --restore-days 1: at most $1.15 (saving at most $1.53)"
            ) && s.contains("saves at most $1.53"),
            "{s}"
        );
    }

    #[test]
    fn sizes_in_their_unit() {
        let small = Estimate {
            restored_copy_bytes: 5 << 20,
            ..estimate(3)
        };
        assert!(render(&small).contains("restored copies: 5.0 MiB kept"));
        assert_eq!(size_label(512), "512 B");
        assert_eq!(size_label(1536), "1.5 KiB");
        assert_eq!(size_label(3 << 40), "3.0 TiB");
    }

    #[test]
    fn less_than_a_cent_to_save_is_not_worth_a_word() {
        let tiny = Estimate {
            restored_copies_usd: 0.004,
            restored_copies_shortest_usd: 0.001,
            ..estimate(3)
        };
        assert!(!render(&tiny).contains("advice"));
    }
}
