//! Is the move worth it? What the selection costs to store each month before and after the move
//! (with S3's billing minimums), its small and young objects, and how many months of savings
//! pay back the job's one-time cost. Pure: the sampled objects and prices in, numbers out.

use thaw_common::cost::{early_deletion_usd, PlannedAction, PlannedObject, Prices};
use thaw_common::storage::StorageClass;

pub use thaw_common::cost::{billed_bytes, SMALL};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What one object of `size` bytes costs a month in `class`, with its billing minimums (and
/// Intelligent-Tiering's monitoring charge for objects of 128 KB or more).
pub fn monthly_usd(class: &str, size: u64, prices: &Prices) -> f64 {
    let price = |c: &str| prices.storage_gb_month.get(c).copied().unwrap_or(0.0);
    let (at_class, at_standard) = billed_bytes(class, size);
    let monitoring = if class == "INTELLIGENT_TIERING" && size >= SMALL {
        prices.it_monitoring_per_1000 / 1000.0
    } else {
        0.0
    };
    at_class as f64 / GIB * price(class) + at_standard as f64 / GIB * price("STANDARD") + monitoring
}

/// True when moving small objects into `target` bills more than their bytes.
pub fn penalises_small(target: StorageClass) -> bool {
    matches!(
        target,
        StorageClass::StandardIa
            | StorageClass::OnezoneIa
            | StorageClass::GlacierIr
            | StorageClass::Glacier
            | StorageClass::DeepArchive
    )
}

/// A part of the selection, monthly storage before and after the move.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Monthly {
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// USD a month where they are now.
    pub before_usd: f64,
    /// USD a month after the move.
    pub after_usd: f64,
}

impl Monthly {
    fn add(&mut self, size: u64, before: f64, after: f64) {
        self.objects += 1;
        self.bytes += size;
        self.before_usd += before;
        self.after_usd += after;
    }

    fn scaled(mut self, weight: f64) -> Self {
        self.objects = (self.objects as f64 * weight).round() as u64;
        self.bytes = (self.bytes as f64 * weight).round() as u64;
        self.before_usd *= weight;
        self.after_usd *= weight;
        self
    }
}

/// The storage side of the advice, scaled to the whole list.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StorageAdvice {
    /// Every object found (missing ones left out).
    pub selection: Monthly,
    /// Objects under 128 KB the job moves into a class that bills them more than their bytes.
    pub small: Monthly,
    /// Objects the job moves out of a class before its minimum storage duration.
    pub young_objects: u64,
    /// What their early deletion costs (part of the one-time cost).
    pub young_early_deletion_usd: f64,
    /// The oldest minimum duration among them, in days (what `--min-age` would need).
    pub young_min_days: f64,
}

/// The monthly storage of the sampled objects before and after a move into `target`;
/// `source_removed`: the copies remove their source (`thaw_common::cost::source_removed`);
/// otherwise the source (or its old version) stays billed after the move, and is never billed
/// an early deletion.
pub fn storage_advice(
    objects: &[PlannedObject],
    weight: f64,
    target: StorageClass,
    source_removed: bool,
    prices: &Prices,
) -> StorageAdvice {
    let mut a = StorageAdvice::default();
    let target = target.as_str();
    for o in objects {
        let before = monthly_usd(&o.class, o.size, prices);
        let moved = matches!(
            o.action,
            PlannedAction::Copy | PlannedAction::RestoreThenCopy | PlannedAction::WaitThenCopy
        );
        if o.action == PlannedAction::Fail {
            continue;
        }
        let after = if moved {
            monthly_usd(target, o.size, prices) + if source_removed { 0.0 } else { before }
        } else {
            before
        };
        a.selection.add(o.size, before, after);
        if !moved {
            continue;
        }
        if o.size < SMALL && target_penalises(target) {
            a.small.add(o.size, before, after);
        }
        let early = if source_removed {
            early_deletion_usd(o, prices)
        } else {
            0.0
        };
        if early > 0.0 {
            a.young_objects += 1;
            a.young_early_deletion_usd += early;
            let min = prices.min_days.get(&o.class).copied().unwrap_or(0.0);
            a.young_min_days = a.young_min_days.max(min);
        }
    }
    a.selection = a.selection.scaled(weight);
    a.small = a.small.scaled(weight);
    a.young_objects = (a.young_objects as f64 * weight).round() as u64;
    a.young_early_deletion_usd *= weight;
    a
}

fn target_penalises(target: &str) -> bool {
    target.parse::<StorageClass>().is_ok_and(penalises_small)
}

/// Months until a move that lowers the monthly bill from `before` to `after` has saved its
/// one-time cost; `None` when it does not lower it.
pub fn payback_months(one_time_usd: f64, before: f64, after: f64) -> Option<f64> {
    (before > after).then(|| one_time_usd / (before - after))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    fn obj(class: &str, size: u64, action: PlannedAction) -> PlannedObject {
        PlannedObject {
            class: class.into(),
            size,
            age_days: None,
            action,
            restored_copy: true,
        }
    }

    #[test]
    fn billing_minimums() {
        assert_eq!(billed_bytes("STANDARD_IA", 20 * KIB), (128 * KIB, 0));
        assert_eq!(billed_bytes("GLACIER_IR", 1 << 20), (1 << 20, 0));
        assert_eq!(billed_bytes("DEEP_ARCHIVE", 20 * KIB), (52 * KIB, 8 * KIB));
        assert_eq!(billed_bytes("STANDARD", 20 * KIB), (20 * KIB, 0));
        let p = Prices::default();
        // 1 GiB in GLACIER: the GiB plus 32 KiB at $0.0036, 8 KiB at $0.023
        let want = (GIB + 32768.0) / GIB * 0.0036 + 8192.0 / GIB * 0.023;
        assert!((monthly_usd("GLACIER", 1 << 30, &p) - want).abs() < 1e-12);
        // Intelligent-Tiering monitors objects of 128 KB or more only
        let it = monthly_usd("INTELLIGENT_TIERING", 128 * KIB, &p);
        assert!((it - (128.0 * 1024.0 / GIB * 0.023 + 0.0025 / 1000.0)).abs() < 1e-15);
    }

    #[test]
    fn ten_million_small_objects_to_glacier_cost_more_than_their_bytes() {
        // 10M objects of 20 KiB (~191 GiB) in STANDARD moved to GLACIER
        let p = Prices::default();
        let one = [obj("STANDARD", 20 * KIB, PlannedAction::Copy)];
        let a = storage_advice(&one, 10_000_000.0, StorageClass::Glacier, true, &p);
        assert_eq!(a.small.objects, 10_000_000);
        let data_gib = 10_000_000.0 * 20.0 / (1024.0 * 1024.0);
        assert!(
            (a.selection.before_usd - data_gib * 0.023).abs() < 1e-6,
            "{a:?}"
        );
        // after: (20 + 32) KiB at the archive price, 8 KiB at STANDARD's, per object
        let after = 10_000_000.0 * (52.0 * 0.0036 + 8.0 * 0.023) / (1024.0 * 1024.0);
        assert!((a.selection.after_usd - after).abs() < 1e-6, "{a:?}");
        assert_eq!(a.small, a.selection);
    }

    #[test]
    fn skipped_failed_and_kept_sources() {
        let p = Prices::default();
        let objs = [
            obj("STANDARD_IA", 1 << 20, PlannedAction::Skip),
            obj("STANDARD", 0, PlannedAction::Fail),
            obj("GLACIER", 1 << 30, PlannedAction::RestoreThenCopy),
        ];
        let in_place = storage_advice(&objs, 1.0, StorageClass::StandardIa, true, &p);
        assert_eq!(in_place.selection.objects, 2);
        assert_eq!(in_place.small.objects, 0);
        let ia = monthly_usd("STANDARD_IA", 1 << 20, &p);
        let want = ia + monthly_usd("STANDARD_IA", 1 << 30, &p);
        assert!((in_place.selection.after_usd - want).abs() < 1e-12);
        // copied elsewhere (or in place in a versioned bucket), the source stays billed too
        let kept = storage_advice(&objs, 1.0, StorageClass::StandardIa, false, &p);
        let extra = monthly_usd("GLACIER", 1 << 30, &p);
        assert!((kept.selection.after_usd - want - extra).abs() < 1e-12);
    }

    #[test]
    fn young_objects_are_counted_with_their_early_deletion() {
        let p = Prices::default();
        let mut young = obj("DEEP_ARCHIVE", 1 << 30, PlannedAction::RestoreThenCopy);
        young.age_days = Some(60.0);
        let mut old = young.clone();
        old.age_days = Some(400.0);
        let objs = [young, old];
        let a = storage_advice(&objs, 10.0, StorageClass::Standard, true, &p);
        assert_eq!(a.young_objects, 10);
        // 120 of 180 days left: 4 months at $0.00099/GB, 10 GiB and their archive indexes
        let billed = 10.0 * (1.0 + 32.0 / (1024.0 * 1024.0));
        assert!(
            (a.young_early_deletion_usd - 4.0 * 0.00099 * billed).abs() < 1e-9,
            "{a:?}"
        );
        assert_eq!(a.young_min_days, 180.0);
        // a source that stays (a copy elsewhere, a versioned bucket) is never deleted early
        let kept = storage_advice(&objs, 10.0, StorageClass::Standard, false, &p);
        assert_eq!(
            (kept.young_objects, kept.young_early_deletion_usd),
            (0, 0.0)
        );
    }

    #[test]
    fn payback() {
        assert_eq!(payback_months(120.0, 50.0, 40.0), Some(12.0));
        assert_eq!(payback_months(120.0, 40.0, 50.0), None);
        assert_eq!(payback_months(120.0, 40.0, 40.0), None);
    }
}
