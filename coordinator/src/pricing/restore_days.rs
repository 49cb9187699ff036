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

use thaw_common::cost::{Estimate, PlannedAction, PlannedObject, Prices};

use crate::fleet::sim::AwsModel;

/// [`extra_run_usd`] of a job whose sampled `objects` are mostly DEEP_ARCHIVE restores, in
/// `lots`, with workers of `vcpu` and `gb` (`spot`), at `prices` and the simulation's task start.
pub fn extra_run_usd_of(
    objects: &[PlannedObject],
    lots: u64,
    (vcpu, gb, spot): (f64, f64, bool),
    prices: &Prices,
) -> f64 {
    let restores = objects
        .iter()
        .filter(|o| o.action == PlannedAction::RestoreThenCopy);
    let (n, deep) = restores.fold((0, 0), |(n, d), o| {
        (n + 1, d + usize::from(o.class == "DEEP_ARCHIVE"))
    });
    let model = AwsModel {
        prices: prices.clone(),
        ..AwsModel::default()
    };
    extra_run_usd(
        deep * 2 > n,
        lots,
        model.task_start_secs + model.worker_overhead_secs,
        model.task_hour_price(vcpu, gb, spot),
    )
}

/// What one more run per lot costs in Fargate time: a task start and the worker's start-up
/// (`task_secs`) for each of `lots`, at `task_hour_usd`. DEEP_ARCHIVE Bulk restores complete
/// over 24-48 h, longer than the shortest safe copy less `follow`'s 12 h margin allows one look
/// to wait: its lots may be copied in one more run than with longer days.
pub fn extra_run_usd(deep: bool, lots: u64, task_secs: f64, task_hour_usd: f64) -> f64 {
    if deep {
        lots as f64 * task_secs / 3600.0 * task_hour_usd
    } else {
        0.0
    }
}

/// Below this a dollar figure rounds to $0.00 and is not worth a word.
const HALF_A_CENT: f64 = 0.005;

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
/// a cent or more, and more than the runs they may add (`extra_usd`, see [`extra_run_usd`]).
/// When the copies remove their source the restored copies go with it, so the figures are
/// upper bounds ("at most"). Nothing when the job restores nothing.
pub fn render(e: &Estimate, extra_usd: f64) -> String {
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
    } else if e.restore_days > shortest && saving >= 0.01 && saving > extra_usd {
        let extra = if extra_usd >= HALF_A_CENT {
            format!(" (less ${extra_usd:.2} of Fargate: DEEP_ARCHIVE lots may copy in one more run)")
        } else {
            String::new()
        };
        push_line!(
            o,
            "advice: --restore-days {shortest} is safe when `coordinator follow` runs (it covers the slowest restore + follow's 12 h margin; the expiry counts from the request): saves {at_most}${saving:.2}{extra}"
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
        let s = render(&estimate(3), 0.0);
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
        let one = render(
            &Estimate {
                restored_copies_usd: 1.15,
                ..estimate(1)
            },
            0.0,
        );
        assert!(
            one.contains("(saving $0.00)") && !one.contains("advice") && !one.contains("warning"),
            "{one}"
        );
        // nothing restored: nothing said
        assert_eq!(render(&Estimate::default(), 0.0), "");
    }

    #[test]
    fn deep_archive_bulk_is_advised_three_days_and_warned_below() {
        let deep = |days| Estimate {
            shortest_restore_days: 3,
            restored_copies_shortest_usd: 1.53,
            ..estimate(days)
        };
        let week = render(&deep(7), 0.0);
        assert!(
            week.contains("at --restore-days 3: $1.53 (saving $1.15)")
                && week.contains("advice: --restore-days 3 is safe"),
            "{week}"
        );
        let one = render(&deep(1), 0.0);
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
        let s = render(&e, 0.0);
        assert!(
            s.contains(": at most $2.68; at --restore-days 1: at most $1.15 (saving at most $1.53)")
                && s.contains("saves at most $1.53"),
            "{s}"
        );
    }

    #[test]
    fn sizes_in_their_unit_and_no_fargate_below_half_a_cent() {
        let small = Estimate {
            restored_copy_bytes: 5 << 20,
            ..estimate(3)
        };
        assert!(render(&small, 0.0).contains("restored copies: 5.0 MiB kept"));
        assert_eq!(size_label(512), "512 B");
        assert_eq!(size_label(1536), "1.5 KiB");
        assert_eq!(size_label(3 << 40), "3.0 TiB");
        let s = render(&estimate(3), 0.004);
        assert!(s.contains("saves $1.53\n") || s.ends_with("saves $1.53\n"), "{s}");
        assert!(!s.contains("Fargate"), "{s}");
    }

    #[test]
    fn deep_archive_advice_weighs_the_run_it_adds() {
        // 20,000 lots, 65 s each at $0.04937 a task-hour: $17.83
        let extra = extra_run_usd(true, 20_000, 65.0, 0.04937);
        assert!((extra - 20_000.0 * 65.0 / 3600.0 * 0.04937).abs() < 1e-9);
        assert_eq!(extra_run_usd(false, 20_000, 65.0, 0.04937), 0.0);
        // saving $1.53: more than $1, less than $2
        let s = render(&estimate(3), 1.0);
        assert!(
            s.contains(
                "saves $1.53 (less $1.00 of Fargate: DEEP_ARCHIVE lots may copy in one more run)"
            ),
            "{s}"
        );
        assert!(!render(&estimate(3), 2.0).contains("advice"));
        // less than a cent to save: not worth a word
        let tiny = Estimate {
            restored_copies_usd: 0.004,
            restored_copies_shortest_usd: 0.001,
            ..estimate(3)
        };
        assert!(!render(&tiny, 0.0).contains("advice"));
    }
}
