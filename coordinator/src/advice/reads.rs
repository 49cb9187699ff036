//! The bucket settings that decide whether a move sticks, read from S3: its lifecycle rules
//! (GetBucketLifecycleConfiguration) and Intelligent-Tiering archive configurations
//! (ListBucketIntelligentTieringConfigurations), reduced to [`StickRule`]s. A bucket without
//! a configuration has no rules; a read that is refused (AccessDenied) or fails is a note for
//! the advice, never a failure of the command.

use aws_sdk_s3::types::{
    ExpirationStatus, IntelligentTieringConfiguration, IntelligentTieringStatus, LifecycleRule,
    TransitionDefaultMinimumObjectSize,
};
use thaw_common::aws::AwsError;

use super::lifecycle::{RuleAction, RuleFilter, RuleKind, StickRule, TransitionFloor, When};

/// The enabled lifecycle rules of `bucket`; `Err` is the note to print instead.
pub async fn lifecycle_rules(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<StickRule>, String> {
    let answer = s3
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await;
    let out = match answer {
        Ok(out) => out,
        Err(e) => {
            let err = AwsError::from_sdk("GetBucketLifecycleConfiguration", &e);
            if err.code == "NoSuchLifecycleConfiguration" {
                return Ok(Vec::new());
            }
            return Err(note("lifecycle configuration", bucket, &err));
        }
    };
    // Configurations that say nothing were written before the setting existed, when S3 behaved
    // as `varies_by_storage_class`.
    let floor = match out.transition_default_minimum_object_size() {
        Some(TransitionDefaultMinimumObjectSize::AllStorageClasses128K) => {
            TransitionFloor::AllClasses
        }
        _ => TransitionFloor::AllButArchive,
    };
    Ok(out
        .rules()
        .iter()
        .filter(|r| r.status() == &ExpirationStatus::Enabled)
        .map(|r| lifecycle_rule(r, floor))
        .collect())
}

/// The enabled Intelligent-Tiering archive configurations of `bucket`; `Err` is the note.
pub async fn tiering_configurations(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Vec<StickRule>, String> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = s3
            .list_bucket_intelligent_tiering_configurations()
            .bucket(bucket)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                let err = AwsError::from_sdk("ListBucketIntelligentTieringConfigurations", &e);
                note("Intelligent-Tiering configurations", bucket, &err)
            })?;
        rules.extend(
            out.intelligent_tiering_configuration_list()
                .iter()
                .filter(|c| c.status() == &IntelligentTieringStatus::Enabled)
                .map(tiering_rule),
        );
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(rules),
        }
    }
}

/// The one-line note of a read that could not be made.
fn note(what: &str, bucket: &str, err: &AwsError) -> String {
    format!(
        "cannot read the {what} of bucket {bucket} ({}): not checked",
        if err.code.is_empty() {
            err.message.as_str()
        } else {
            err.code.as_str()
        }
    )
}

fn date(d: &aws_smithy_types::DateTime) -> String {
    d.fmt(aws_smithy_types::date_time::Format::DateTime)
        .map(|s| s.chars().take(10).collect())
        .unwrap_or_else(|_| d.secs().to_string())
}

fn when(days: Option<i32>, on: Option<&aws_smithy_types::DateTime>) -> Option<When> {
    match (days, on) {
        (Some(d), _) => Some(When::Days(i64::from(d))),
        (None, Some(t)) => Some(When::Date(date(t))),
        _ => None,
    }
}

fn size(n: Option<i64>) -> Option<u64> {
    n.and_then(|n| u64::try_from(n).ok())
}

/// One lifecycle rule: its filter (the deprecated top-level Prefix too), what it does to
/// current versions, and whether it expires or moves noncurrent ones.
#[allow(deprecated)] // rules written before `Filter` existed still carry a top-level Prefix
fn lifecycle_rule(r: &LifecycleRule, floor: TransitionFloor) -> StickRule {
    let mut filter = RuleFilter {
        prefix: r.prefix().unwrap_or_default().to_owned(),
        ..RuleFilter::default()
    };
    if let Some(f) = r.filter() {
        if let Some(and) = f.and() {
            filter.prefix = and.prefix().unwrap_or_default().to_owned();
            filter.tags = and.tags().len();
            filter.size_greater_than = size(and.object_size_greater_than());
            filter.size_less_than = size(and.object_size_less_than());
        } else {
            if let Some(p) = f.prefix() {
                filter.prefix = p.to_owned();
            }
            filter.tags = usize::from(f.tag().is_some());
            filter.size_greater_than = size(f.object_size_greater_than());
            filter.size_less_than = size(f.object_size_less_than());
        }
    }
    let mut actions: Vec<RuleAction> = r
        .transitions()
        .iter()
        .filter_map(|t| {
            Some(RuleAction::Transition {
                class: t.storage_class()?.as_str().to_owned(),
                when: when(t.days(), t.date())?,
            })
        })
        .collect();
    if let Some(w) = r.expiration().and_then(|e| when(e.days(), e.date())) {
        actions.push(RuleAction::Expire { when: w });
    }
    StickRule {
        id: r.id().unwrap_or("(no ID)").to_owned(),
        kind: RuleKind::Lifecycle,
        filter,
        actions,
        floor,
        noncurrent_expire_days: r
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days())
            .map(i64::from),
        noncurrent_transition: !r.noncurrent_version_transitions().is_empty(),
    }
}

/// One Intelligent-Tiering configuration: its filter and archive tiers.
fn tiering_rule(c: &IntelligentTieringConfiguration) -> StickRule {
    let mut filter = RuleFilter::default();
    if let Some(f) = c.filter() {
        if let Some(and) = f.and() {
            filter.prefix = and.prefix().unwrap_or_default().to_owned();
            filter.tags = and.tags().len();
        } else {
            filter.prefix = f.prefix().unwrap_or_default().to_owned();
            filter.tags = usize::from(f.tag().is_some());
        }
    }
    StickRule {
        id: c.id().to_owned(),
        kind: RuleKind::IntelligentTiering,
        filter,
        actions: c
            .tierings()
            .iter()
            .map(|t| RuleAction::Archive {
                tier: t.access_tier().as_str().to_owned(),
                days: i64::from(t.days()),
            })
            .collect(),
        // Intelligent-Tiering keeps objects under 128 KB in Frequent Access
        floor: TransitionFloor::AllClasses,
        noncurrent_expire_days: None,
        noncurrent_transition: false,
    }
}
