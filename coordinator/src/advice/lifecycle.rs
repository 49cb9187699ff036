//! Will the move stick? The bucket's lifecycle rules and Intelligent-Tiering archive
//! configurations, reduced to what they would do to the copies (a copy is a new object: a rule's
//! Days count from its new LastModified), and matched against the job's keys. Pure: the rules
//! and the facts about the keys in, a verdict per rule out.

use thaw_common::storage::StorageClass;

/// Lifecycle transitions leave objects under 128 KB alone when the configuration's
/// `TransitionDefaultMinimumObjectSize` is `all_storage_classes_128K` (the default of
/// configurations written since September 2024) and the rule sets no size of its own.
pub const TRANSITION_DEFAULT_MIN: u64 = 128 * 1024;

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RuleKind {
    /// A lifecycle rule (GetBucketLifecycleConfiguration).
    Lifecycle,
    /// An Intelligent-Tiering archive configuration (ListBucketIntelligentTieringConfigurations).
    IntelligentTiering,
}

/// When an action applies.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum When {
    /// This many days after the object was written (for a copy: after the copy).
    Days(i64),
    /// From this date (`YYYY-MM-DD`) on.
    Date(String),
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            When::Days(d) => write!(f, "{d} days after the copy"),
            When::Date(d) => write!(f, "from {d}"),
        }
    }
}

/// What a rule does to the current version of an object it matches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum RuleAction {
    /// Lifecycle transition to this class.
    Transition {
        /// The class objects are moved to.
        class: String,
        /// When.
        when: When,
    },
    /// Lifecycle expiration: the object is deleted (a delete marker in a versioned bucket).
    Expire {
        /// When.
        when: When,
    },
    /// Intelligent-Tiering moves objects not read for `days` days to this archive tier (then
    /// they need a restore to be read).
    Archive {
        /// `ARCHIVE_ACCESS` or `DEEP_ARCHIVE_ACCESS`.
        tier: String,
        /// Days without access.
        days: i64,
    },
}

impl std::fmt::Display for RuleAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleAction::Transition { class, when } => write!(f, "moves them to {class} {when}"),
            RuleAction::Expire { when } => write!(f, "expires (deletes) them {when}"),
            RuleAction::Archive { tier, days } => write!(
                f,
                "moves them to {tier} after {days} days without access (a restore to read)"
            ),
        }
    }
}

/// Which objects a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuleFilter {
    /// Key prefix (empty: every key).
    pub prefix: String,
    /// Tag conditions (thaw never reads tags: a rule with tags "may match").
    pub tags: usize,
    /// Only objects larger than this.
    pub size_greater_than: Option<u64>,
    /// Only objects smaller than this.
    pub size_less_than: Option<u64>,
}

/// One enabled rule, as read from the bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StickRule {
    /// The rule's ID.
    pub id: String,
    /// Lifecycle or Intelligent-Tiering.
    pub kind: RuleKind,
    /// Which objects.
    pub filter: RuleFilter,
    /// What it does to current versions.
    pub actions: Vec<RuleAction>,
    /// Which of its moves skip objects under 128 KB ([`TRANSITION_DEFAULT_MIN`]).
    pub floor: TransitionFloor,
    /// NoncurrentVersionExpiration: old versions are deleted this many days after they become
    /// noncurrent.
    pub noncurrent_expire_days: Option<i64>,
    /// NoncurrentVersionTransition: old versions are moved to a colder class (still kept).
    pub noncurrent_transition: bool,
}

/// Which moves leave objects under 128 KB where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TransitionFloor {
    /// Every move: lifecycle's `all_storage_classes_128K` (the default of configurations
    /// written since September 2024), and Intelligent-Tiering, which never tiers them.
    AllClasses,
    /// Every move but to GLACIER and DEEP_ARCHIVE: lifecycle's `varies_by_storage_class` (and
    /// configurations that say nothing, written before).
    AllButArchive,
}

impl TransitionFloor {
    /// True when a move by `action` skips objects under 128 KB.
    fn spares_small(self, action: &RuleAction) -> bool {
        match (self, action) {
            (_, RuleAction::Expire { .. }) => false,
            (TransitionFloor::AllClasses, _) => true,
            (TransitionFloor::AllButArchive, RuleAction::Transition { class, .. }) => {
                !matches!(class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
            }
            (TransitionFloor::AllButArchive, RuleAction::Archive { .. }) => true,
        }
    }
}

/// What the lifecycle rules do to the old version an in-place copy leaves in a versioned bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldVersion {
    /// A rule's NoncurrentVersionExpiration deletes it.
    Expired,
    /// A rule's NoncurrentVersionTransition moves it to a colder class, none deletes it.
    Transitioned,
    /// No rule touches it: billed as before, for good.
    Kept,
}

/// What `rules` do to the old version of `key` (prefix filters only: tags and sizes of
/// noncurrent rules are not looked at).
pub fn old_version(rules: &[StickRule], key: &str) -> OldVersion {
    let mut fate = OldVersion::Kept;
    for r in rules
        .iter()
        .filter(|r| key.starts_with(r.filter.prefix.as_str()))
    {
        if r.noncurrent_expire_days.is_some() {
            return OldVersion::Expired;
        }
        if r.noncurrent_transition {
            fate = OldVersion::Transitioned;
        }
    }
    fate
}

/// How sure the match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Match {
    /// Keys of the job the rule applies to (estimated from the sample when it has a size
    /// filter).
    Matches(u64),
    /// Keys under its prefix that it may apply to: its tags (never read) or sizes (not seen in
    /// the sample) cannot be told.
    MayMatch(u64),
}

/// A rule that would undo the move for some of the job's copies: the warning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleWarning {
    /// The rule's ID.
    pub id: String,
    /// Lifecycle or Intelligent-Tiering.
    pub kind: RuleKind,
    /// The actions that undo the move.
    pub actions: Vec<RuleAction>,
    /// Which keys.
    pub matched: Match,
}

/// What is known of the job's copies: where they land and their keys and sizes.
#[derive(Debug, Clone, Copy)]
pub struct CopyFacts<'a> {
    /// The class the copies are written in.
    pub target: StorageClass,
    /// Keys of the copies under each rule's prefix, by rule (same order as the rules).
    pub keys_under_prefix: &'a [u64],
    /// Sizes of the sampled objects.
    pub sizes: &'a [u64],
    /// True when the sizes are every object's (not a sample).
    pub exhaustive: bool,
}

/// Lower classes are colder; lifecycle only moves objects down this ladder (STANDARD_IA may move
/// to INTELLIGENT_TIERING, which may move to ONEZONE_IA and below).
fn rank(class: &str) -> u8 {
    match class {
        "STANDARD" => 0,
        "STANDARD_IA" => 1,
        "INTELLIGENT_TIERING" => 2,
        "ONEZONE_IA" => 3,
        "GLACIER_IR" => 4,
        "GLACIER" => 5,
        "DEEP_ARCHIVE" => 6,
        _ => 0,
    }
}

/// The actions of `rule` that would undo a move into `target`: transitions further down than
/// the target, expirations, and Intelligent-Tiering archive tiers for an INTELLIGENT_TIERING
/// target.
fn undoing(rule: &StickRule, target: StorageClass) -> Vec<RuleAction> {
    rule.actions
        .iter()
        .filter(|a| match a {
            RuleAction::Transition { class, .. } => rank(class) > rank(target.as_str()),
            RuleAction::Expire { .. } => true,
            RuleAction::Archive { .. } => target == StorageClass::IntelligentTiering,
        })
        .cloned()
        .collect()
}

/// The size range a rule's actions apply in: its own, or for a rule whose every undoing action
/// is a move its 128 KB floor applies to, objects of at least 128 KB.
fn size_range(rule: &StickRule, actions: &[RuleAction]) -> (Option<u64>, Option<u64>) {
    let f = &rule.filter;
    if f.size_greater_than.is_none()
        && f.size_less_than.is_none()
        && actions.iter().all(|a| rule.floor.spares_small(a))
    {
        return (Some(TRANSITION_DEFAULT_MIN - 1), None);
    }
    (f.size_greater_than, f.size_less_than)
}

/// The warning `rule` gives for the job's copies, if any: what it would do and to which keys.
pub fn judge_rule(
    rule: &StickRule,
    keys_under_prefix: u64,
    facts: &CopyFacts,
) -> Option<RuleWarning> {
    let actions = undoing(rule, facts.target);
    if actions.is_empty() || keys_under_prefix == 0 {
        return None;
    }
    let (gt, lt) = size_range(rule, &actions);
    let sized = gt.is_some() || lt.is_some();
    let share = if sized && !facts.sizes.is_empty() {
        let fits = facts
            .sizes
            .iter()
            .filter(|&&s| gt.is_none_or(|g| s > g) && lt.is_none_or(|l| s < l))
            .count();
        fits as f64 / facts.sizes.len() as f64
    } else {
        1.0
    };
    let estimated = (keys_under_prefix as f64 * share).round() as u64;
    let matched = if rule.filter.tags > 0 || (sized && facts.sizes.is_empty()) {
        Match::MayMatch(keys_under_prefix)
    } else if estimated > 0 {
        Match::Matches(estimated)
    } else if facts.exhaustive {
        return None;
    } else {
        // None of the sampled objects is in its size range; others may be.
        Match::MayMatch(keys_under_prefix)
    };
    Some(RuleWarning {
        id: rule.id.clone(),
        kind: rule.kind,
        actions,
        matched,
    })
}

/// The warnings of every rule for the job's copies.
pub fn judge_rules(rules: &[StickRule], facts: &CopyFacts) -> Vec<RuleWarning> {
    rules
        .iter()
        .zip(facts.keys_under_prefix)
        .filter_map(|(r, &n)| judge_rule(r, n, facts))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, prefix: &str, actions: Vec<RuleAction>) -> StickRule {
        StickRule {
            id: id.into(),
            kind: RuleKind::Lifecycle,
            filter: RuleFilter {
                prefix: prefix.into(),
                ..RuleFilter::default()
            },
            actions,
            floor: TransitionFloor::AllButArchive,
            noncurrent_expire_days: None,
            noncurrent_transition: false,
        }
    }

    fn to(class: &str, days: i64) -> RuleAction {
        RuleAction::Transition {
            class: class.into(),
            when: When::Days(days),
        }
    }

    fn facts<'a>(target: StorageClass, sizes: &'a [u64], exhaustive: bool) -> CopyFacts<'a> {
        CopyFacts {
            target,
            keys_under_prefix: &[],
            sizes,
            exhaustive,
        }
    }

    #[test]
    fn a_transition_down_from_the_target_undoes_the_move() {
        let r = rule("to-glacier", "logs/", vec![to("GLACIER", 30)]);
        let f = facts(StorageClass::Standard, &[1 << 20], false);
        let w = judge_rule(&r, 10, &f).expect("warning");
        assert_eq!(w.matched, Match::Matches(10));
        assert_eq!(w.id, "to-glacier");
        assert_eq!(
            w.actions[0].to_string(),
            "moves them to GLACIER 30 days after the copy"
        );
        // not a move down from DEEP_ARCHIVE, nor into the target itself
        assert_eq!(
            judge_rule(&r, 10, &facts(StorageClass::DeepArchive, &[], false)),
            None
        );
        assert_eq!(
            judge_rule(&r, 10, &facts(StorageClass::Glacier, &[], false)),
            None
        );
        // no key under its prefix: nothing to say
        assert_eq!(judge_rule(&r, 0, &f), None);
    }

    #[test]
    fn expirations_always_warn() {
        let r = rule(
            "expire",
            "",
            vec![RuleAction::Expire {
                when: When::Date("2027-01-01".into()),
            }],
        );
        let w = judge_rule(&r, 5, &facts(StorageClass::DeepArchive, &[], false)).expect("warning");
        assert_eq!(
            w.actions[0].to_string(),
            "expires (deletes) them from 2027-01-01"
        );
    }

    #[test]
    fn tags_and_unseen_sizes_may_match() {
        let mut tagged = rule("tagged", "", vec![to("GLACIER", 30)]);
        tagged.filter.tags = 1;
        let f = facts(StorageClass::Standard, &[1 << 20], false);
        assert_eq!(
            judge_rule(&tagged, 7, &f).map(|w| w.matched),
            Some(Match::MayMatch(7))
        );
        let mut big = rule("big-only", "", vec![to("GLACIER", 30)]);
        big.filter.size_greater_than = Some(10 << 20);
        // half the sample is in range: half the keys match
        let sizes = [1 << 20, 20 << 20];
        let half = facts(StorageClass::Standard, &sizes, false);
        assert_eq!(
            judge_rule(&big, 100, &half).map(|w| w.matched),
            Some(Match::Matches(50))
        );
        // none sampled in range: may match; none of every object: no warning
        let small = [1 << 20];
        assert_eq!(
            judge_rule(&big, 100, &facts(StorageClass::Standard, &small, false)).map(|w| w.matched),
            Some(Match::MayMatch(100))
        );
        assert_eq!(
            judge_rule(&big, 100, &facts(StorageClass::Standard, &small, true)),
            None
        );
    }

    #[test]
    fn the_128k_transition_default_spares_small_objects() {
        let mut r = rule("to-glacier", "", vec![to("GLACIER", 30)]);
        r.floor = TransitionFloor::AllClasses;
        let tiny = [1024, 2048];
        assert_eq!(
            judge_rule(&r, 2, &facts(StorageClass::Standard, &tiny, true)),
            None
        );
        let mixed = [1024, 1 << 20];
        assert_eq!(
            judge_rule(&r, 2, &facts(StorageClass::Standard, &mixed, true)).map(|w| w.matched),
            Some(Match::Matches(1))
        );
    }

    #[test]
    fn intelligent_tiering_archive_only_for_that_target() {
        let r = StickRule {
            kind: RuleKind::IntelligentTiering,
            ..rule(
                "archive",
                "data/",
                vec![RuleAction::Archive {
                    tier: "DEEP_ARCHIVE_ACCESS".into(),
                    days: 180,
                }],
            )
        };
        let it = facts(StorageClass::IntelligentTiering, &[], false);
        let w = judge_rule(&r, 3, &it).expect("warning");
        assert_eq!(w.kind, RuleKind::IntelligentTiering);
        // Intelligent-Tiering never tiers objects under 128 KB
        let small_only = StickRule {
            floor: TransitionFloor::AllClasses,
            ..r.clone()
        };
        let tiny = [1024];
        let facts_tiny = facts(StorageClass::IntelligentTiering, &tiny, true);
        assert_eq!(judge_rule(&small_only, 3, &facts_tiny), None);
        assert_eq!(
            judge_rule(&r, 3, &facts(StorageClass::Standard, &[], false)),
            None
        );
        let all = judge_rules(
            &[r.clone(), r],
            &CopyFacts {
                keys_under_prefix: &[3, 0],
                ..it
            },
        );
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn intelligent_tiering_is_below_standard_ia() {
        let r = rule("ia-to-it", "", vec![to("INTELLIGENT_TIERING", 30)]);
        let ia = facts(StorageClass::StandardIa, &[1 << 20], false);
        assert_eq!(
            judge_rule(&r, 4, &ia).map(|w| w.matched),
            Some(Match::Matches(4))
        );
        // an Intelligent-Tiering copy may still go down to ONEZONE_IA, not back up
        let down = rule("it-to-oz", "", vec![to("ONEZONE_IA", 30)]);
        let it = facts(StorageClass::IntelligentTiering, &[1 << 20], false);
        assert!(judge_rule(&down, 4, &it).is_some());
        let up = rule("to-ia", "", vec![to("STANDARD_IA", 30)]);
        assert_eq!(judge_rule(&up, 4, &it), None);
    }

    #[test]
    fn varies_by_storage_class_spares_small_objects_except_into_the_archives() {
        let tiny = [1024];
        let f = facts(StorageClass::Standard, &tiny, true);
        let mut ia = rule("to-ia", "", vec![to("STANDARD_IA", 30)]);
        ia.floor = TransitionFloor::AllButArchive;
        assert_eq!(judge_rule(&ia, 2, &f), None);
        let mut glacier = rule("to-glacier", "", vec![to("GLACIER", 30)]);
        glacier.floor = TransitionFloor::AllButArchive;
        assert_eq!(
            judge_rule(&glacier, 2, &f).map(|w| w.matched),
            Some(Match::Matches(2))
        );
        // all_storage_classes_128K spares them from GLACIER too
        glacier.floor = TransitionFloor::AllClasses;
        assert_eq!(judge_rule(&glacier, 2, &f), None);
    }

    #[test]
    fn old_versions_expired_transitioned_or_kept() {
        let mut expire = rule("old-expire", "logs/", vec![]);
        expire.noncurrent_expire_days = Some(30);
        let mut cheaper = rule("old-cheaper", "", vec![]);
        cheaper.noncurrent_transition = true;
        let rules = [expire, cheaper];
        assert_eq!(old_version(&rules, "logs/a"), OldVersion::Expired);
        assert_eq!(old_version(&rules, "data/a"), OldVersion::Transitioned);
        assert_eq!(old_version(&rules[..1], "data/a"), OldVersion::Kept);
    }
}
