//! The EventBridge rule on the default bus that forwards one bucket's "Object Restore Completed"
//! events to the queue, and its target.

use aws_sdk_eventbridge::types::{RuleState, Target};
use serde_json::{json, Value};
use thaw_common::aws::AwsError;

use super::Change;

/// The target id of the queue on the rule.
pub const TARGET_ID: &str = "thaw-restore-queue";

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

/// Makes the queue `queue_arn` a target of the rule `name`.
pub async fn ensure_target(
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    queue_arn: &str,
) -> Result<Change, RuleError> {
    let listed = events
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .map_err(|e| aws_error(name, "ListTargetsByRule", &e))?;
    let ours = listed.targets().iter().find(|t| t.id() == TARGET_ID);
    if ours.is_some_and(|t| t.arn() == queue_arn) {
        return Ok(Change::Unchanged);
    }
    let target = Target::builder()
        .id(TARGET_ID)
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
    Ok(if ours.is_some() {
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
}
