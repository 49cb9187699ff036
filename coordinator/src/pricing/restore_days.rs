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

use thaw_common::cost::{Estimate, PlannedAction, PlannedObject, Prices};
use thaw_common::storage::RestoreTier;

use crate::fleet::sim::AwsModel;

/// Whether `--restore-days 1` is shown safe for restores at `tier` when `follow` runs: Bulk, as
/// the simulation shows for GLACIER and DEEP_ARCHIVE. Standard and Expedited restores finish
/// within hours too, but the advice is given only where the figures were taken.
pub fn one_day_is_safe(tier: RestoreTier) -> bool {
    tier == RestoreTier::Bulk
}

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
/// over 24-48 h, longer than a 1-day copy less `follow`'s 12 h margin: its lots are copied in
/// two runs instead of one (the simulation: 3 launches per lot at `--restore-days 1`, 2 at 3).
pub fn extra_run_usd(deep: bool, lots: u64, task_secs: f64, task_hour_usd: f64) -> f64 {
    if deep {
        lots as f64 * task_secs / 3600.0 * task_hour_usd
    } else {
        0.0
    }
}

/// The lines `estimate` and `launch --dry-run` print about the restored copies: their storage
/// at the days asked against one day, and the advice when a shorter restore is safe and saves
/// a cent or more, and more than the runs it adds (`extra_usd`, see [`extra_run_usd`]). Nothing when the job
/// restores nothing.
pub fn render(e: &Estimate, tier: RestoreTier, extra_usd: f64) -> String {
    let mut o = String::new();
    if e.restored_copy_bytes == 0 {
        return o;
    }
    let gib = e.restored_copy_bytes as f64 / (1024.0 * 1024.0 * 1024.0);
    let saving = e.one_day_saving_usd();
    push_line!(
        o,
        "restored copies: {gib:.1} GiB kept as STANDARD for --restore-days {} (+ to the next 00:00 UTC): ${:.2}; at --restore-days 1: ${:.2} (saving ${saving:.2})",
        e.restore_days,
        e.restored_copies_usd,
        e.restored_copies_one_day_usd,
    );
    if e.restore_days > 1 && one_day_is_safe(tier) && saving >= 0.01 && saving > extra_usd {
        let extra = if extra_usd > 0.0 {
            format!(" (less ${extra_usd:.2} of Fargate: DEEP_ARCHIVE lots copy in one more run)")
        } else {
            String::new()
        };
        push_line!(
            o,
            "advice: --restore-days 1 is safe when `coordinator follow` runs (listing looks / events copy within a day of the restore): saves ${saving:.2}{extra}"
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
            restored_copies_one_day_usd: 1.15,
            ..Estimate::default()
        }
    }

    #[test]
    fn the_saving_and_the_advice_for_bulk_only() {
        let s = render(&estimate(3), RestoreTier::Bulk, 0.0);
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
        let std = render(&estimate(3), RestoreTier::Standard, 0.0);
        assert_eq!(std.lines().count(), 1, "{std}");
        // already 1 day: no advice
        let one = render(
            &Estimate {
                restored_copies_usd: 1.15,
                ..estimate(1)
            },
            RestoreTier::Bulk,
            0.0,
        );
        assert!(
            one.contains("(saving $0.00)") && !one.contains("advice"),
            "{one}"
        );
        // nothing restored: nothing said
        assert_eq!(render(&Estimate::default(), RestoreTier::Bulk, 0.0), "");
    }

    #[test]
    fn deep_archive_advice_weighs_the_run_it_adds() {
        // 20,000 lots, 65 s each at $0.04937 a task-hour: $17.83
        let extra = extra_run_usd(true, 20_000, 65.0, 0.04937);
        assert!((extra - 20_000.0 * 65.0 / 3600.0 * 0.04937).abs() < 1e-9);
        assert_eq!(extra_run_usd(false, 20_000, 65.0, 0.04937), 0.0);
        // saving $1.53: more than $1, less than $2
        let s = render(&estimate(3), RestoreTier::Bulk, 1.0);
        assert!(
            s.contains(
                "saves $1.53 (less $1.00 of Fargate: DEEP_ARCHIVE lots copy in one more run)"
            ),
            "{s}"
        );
        assert!(!render(&estimate(3), RestoreTier::Bulk, 2.0).contains("advice"));
        // less than a cent to save: not worth a word
        let tiny = Estimate {
            restored_copies_usd: 0.004,
            restored_copies_one_day_usd: 0.001,
            ..estimate(3)
        };
        assert!(!render(&tiny, RestoreTier::Bulk, 0.0).contains("advice"));
    }
}
