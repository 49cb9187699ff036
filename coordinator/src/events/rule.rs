//! The EventBridge rule on the default bus that forwards one bucket's "Object Restore Completed"
//! events to the queue, and its target.

use aws_sdk_eventbridge::types::{RuleState, Target};
use serde_json::{json, Value};
use thaw_common::aws::AwsError;

use super::Change;

/// Why the rule could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// An EventBridge call failed.
    #[error("EventBridge rule {rule}: {error}")]
    Aws {
        /// The rule name.
        rule: String,
        /// The call's error.
        error: AwsError,
    },
    /// PutRule answered without the rule's ARN, or PutTargets refused the target.
    #[error("EventBridge rule {rule}: {what}")]
    Refused {
        /// The rule name.
        rule: String,
        /// What went wrong.
        what: String,
    },
}

/// The event pattern: S3's restore-completed events of `bucket`.
pub fn pattern(bucket: &str) -> Value {
    json!({
        "source": ["aws.s3"],
        "detail-type": ["Object Restore Completed"],
        "detail": {"bucket": {"name": [bucket]}},
    })
}

/// Whether the rule as described (`pattern` text, `enabled`) is the one wanted.
pub fn is_wanted(described: Option<&str>, enabled: bool, wanted: &Value) -> bool {
    enabled
        && described
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .is_some_and(|p| &p == wanted)
}

fn aws_error<E, R>(
    rule: &str,
    op: &'static str,
    e: &aws_sdk_eventbridge::error::SdkError<E, R>,
) -> RuleError
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    RuleError::Aws {
        rule: rule.to_owned(),
        error: AwsError::from_sdk(op, e),
    }
}

/// Makes the rule `name` match `bucket`'s restore-completed events (creating or correcting it);
/// returns its ARN.
pub async fn ensure(
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    bucket: &str,
) -> Result<(String, Change), RuleError> {
    let wanted = pattern(bucket);
    let existing = match events.describe_rule().name(name).send().await {
        Ok(out) => Some(out),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(aws_error(name, "DescribeRule", &e)),
    };
    if let Some(out) = &existing {
        let enabled = out.state() == Some(&RuleState::Enabled);
        if let (true, Some(arn)) = (is_wanted(out.event_pattern(), enabled, &wanted), out.arn()) {
            return Ok((arn.to_owned(), Change::Unchanged));
        }
    }
    let out = events
        .put_rule()
        .name(name)
        .event_pattern(wanted.to_string())
        .state(RuleState::Enabled)
        .description(format!(
            "thaw: S3 Object Restore Completed events of bucket {bucket} to SQS"
        ))
        .send()
        .await
        .map_err(|e| aws_error(name, "PutRule", &e))?;
    let arn = out.rule_arn().ok_or_else(|| RuleError::Refused {
        rule: name.to_owned(),
        what: "PutRule returned no RuleArn".to_owned(),
    })?;
    let change = if existing.is_some() {
        Change::Updated
    } else {
        Change::Created
    };
    Ok((arn.to_owned(), change))
}

/// EventBridge's most targets on one rule.
pub const MAX_TARGETS: usize = 5;

/// What to do about the queue's target, given the rule's targets (id, ARN).
#[derive(Debug, PartialEq, Eq)]
pub enum TargetPlan {
    /// A target already sends to the queue.
    Present,
    /// Put a target with this id (added beside the others, or correcting our old one).
    Put(String),
    /// The rule has its 5 targets already, none of them the queue.
    Full,
}

/// How to make `queue_arn` (named `queue_name`) a target of a rule with `targets`: another
/// queue's target stays (two jobs on one bucket, a queue each, each get every event).
pub fn plan_target(targets: &[(&str, &str)], queue_name: &str, queue_arn: &str) -> TargetPlan {
    if targets.iter().any(|(_, arn)| *arn == queue_arn) {
        return TargetPlan::Present;
    }
    let id = super::setup::target_id(queue_name);
    if targets.len() >= MAX_TARGETS && !targets.iter().any(|(i, _)| *i == id) {
        return TargetPlan::Full;
    }
    TargetPlan::Put(id)
}

/// Makes the queue `queue_arn` (named `queue_name`) a target of the rule `name`, beside any
/// other queue's.
pub async fn ensure_target(
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    queue_name: &str,
    queue_arn: &str,
) -> Result<Change, RuleError> {
    let listed = events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .map_err(|e| aws_error(name, "ListTargetsByRule", &e))?;
    let targets: Vec<(&str, &str)> = listed.targets().iter().map(|t| (t.id(), t.arn())).collect();
    let id = match plan_target(&targets, queue_name, queue_arn) {
        TargetPlan::Present => return Ok(Change::Unchanged),
        TargetPlan::Full => {
            return Err(RuleError::Refused {
                rule: name.to_owned(),
                what: format!("the rule has {MAX_TARGETS} targets already (EventBridge's most): remove one, or use one of their queues"),
            })
        }
        TargetPlan::Put(id) => id,
    };
    let replaced = targets.iter().any(|(i, _)| *i == id);
    let target = Target::builder()
        .id(&id)
        .arn(queue_arn)
        .build()
        .map_err(|e| RuleError::Refused {
            rule: name.to_owned(),
            what: e.to_string(),
        })?;
    let out = events
        .put_targets()
        .rule(name)
        .targets(target)
        .send()
        .await
        .map_err(|e| aws_error(name, "PutTargets", &e))?;
    if out.failed_entry_count() > 0 {
        let why = out
            .failed_entries()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.error_code().unwrap_or("?"),
                    f.error_message().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(RuleError::Refused {
            rule: name.to_owned(),
            what: format!("PutTargets refused the queue target ({why})"),
        });
    }
    Ok(if replaced {
        Change::Updated
    } else {
        Change::Created
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_matches_one_bucket_s_restore_completed_events() {
        let p = pattern("data");
        assert_eq!(p["source"], json!(["aws.s3"]));
        assert_eq!(p["detail-type"], json!(["Object Restore Completed"]));
        assert_eq!(p["detail"]["bucket"]["name"], json!(["data"]));
    }

    #[test]
    fn a_rule_is_kept_only_when_enabled_with_the_same_pattern() {
        let wanted = pattern("data");
        let same = wanted.to_string();
        assert!(is_wanted(Some(&same), true, &wanted));
        assert!(!is_wanted(Some(&same), false, &wanted), "disabled");
        assert!(!is_wanted(
            Some(&pattern("other").to_string()),
            true,
            &wanted
        ));
        assert!(!is_wanted(None, true, &wanted));
        assert!(!is_wanted(Some("{"), true, &wanted));
    }

    #[test]
    fn a_second_queue_is_added_beside_the_first() {
        let a = "arn:aws:sqs:eu-west-1:1:thaw-restore-data";
        let b = "arn:aws:sqs:eu-west-1:1:job2";
        assert_eq!(
            plan_target(&[], "thaw-restore-data", a),
            TargetPlan::Put("thaw-restore-data".into())
        );
        // the stack's and older setups' target id
        let first = [("thaw-restore-queue", a)];
        assert_eq!(
            plan_target(&first, "thaw-restore-data", a),
            TargetPlan::Present
        );
        assert_eq!(
            plan_target(&first, "job2", b),
            TargetPlan::Put("job2".into())
        );
        let five: Vec<(String, String)> = (0..5)
            .map(|i| (format!("t{i}"), format!("arn:{i}")))
            .collect();
        let five: Vec<(&str, &str)> = five.iter().map(|(i, a)| (i.as_str(), a.as_str())).collect();
        assert_eq!(plan_target(&five, "job2", b), TargetPlan::Full);
        assert_eq!(
            plan_target(&five, "t3", b),
            TargetPlan::Put("t3".into()),
            "ours, to correct"
        );
    }
}
