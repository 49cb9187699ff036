//! The SQS queue the events land in: created when missing (14 days' retention: a DEEP_ARCHIVE
//! Bulk restore takes up to 48 h and `follow` may be stopped meanwhile), and its policy letting
//! EventBridge send the rule's events (`aws:SourceArn` = the rule), merged into any policy the
//! queue already has.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use thaw_common::aws::AwsError;

use super::Change;

/// SQS's longest retention, in seconds (14 days).
pub const RETENTION_SECONDS: &str = "1209600";

/// A queue, as the setup found or made it.
#[derive(Debug, Clone)]
pub struct Queue {
    /// The queue URL (what `follow --events` takes).
    pub url: String,
    /// The queue ARN (the rule's target).
    pub arn: String,
    /// What the setup did to the queue itself (retention).
    pub change: Change,
    policy: Option<String>,
}

/// Why the queue could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// An SQS call failed.
    #[error("queue {queue}: {error}")]
    Aws {
        /// The queue name or URL.
        queue: String,
        /// The call's error.
        error: AwsError,
    },
    /// The queue has a policy that is not a JSON policy document: not overwritten.
    #[error("queue {0} has a policy that is not a JSON object with a Statement list; it is left as it is: let events.amazonaws.com send to it (aws:SourceArn = the rule) by hand")]
    ForeignPolicy(String),
    /// GetQueueUrl or CreateQueue answered without the queue's URL.
    #[error("queue {queue}: {op} returned no QueueUrl")]
    NoUrl {
        /// The queue name.
        queue: String,
        /// The call.
        op: &'static str,
    },
    /// GetQueueAttributes answered without the queue's ARN.
    #[error("queue {0}: GetQueueAttributes returned no QueueArn")]
    NoArn(String),
}

/// The statement that lets the rule `rule_arn` send to the queue `queue_arn`.
pub fn statement(sid: &str, queue_arn: &str, rule_arn: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    })
}

/// The queue policy with `wanted` in it (replacing a statement with the same Sid, keeping every
/// other one): `Ok(None)` when `existing` has it already, `Err(())` when `existing` is not a
/// policy document this can merge into.
pub fn merged_policy(existing: Option<&str>, wanted: &Value) -> Result<Option<String>, ()> {
    let mut doc = match existing.filter(|p| !p.trim().is_empty()) {
        None => json!({"Version": "2012-10-17", "Statement": []}),
        Some(text) => serde_json::from_str::<Value>(text).map_err(|_| ())?,
    };
    let statements = doc
        .get_mut("Statement")
        .and_then(Value::as_array_mut)
        .ok_or(())?;
    let sid = &wanted["Sid"];
    if statements.iter().any(|s| s == wanted) {
        return Ok(None);
    }
    statements.retain(|s| &s["Sid"] != sid);
    statements.push(wanted.clone());
    Ok(Some(doc.to_string()))
}

fn aws_error<E, R>(
    queue: &str,
    op: &'static str,
    e: &aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    QueueError::Aws {
        queue: queue.to_owned(),
        error: AwsError::from_sdk(op, e),
    }
}

/// The queue URL a call answered, or an error naming the call.
fn url_of(queue: &str, op: &'static str, url: Option<&str>) -> Result<String, QueueError> {
    url.filter(|u| !u.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| QueueError::NoUrl {
            queue: queue.to_owned(),
            op,
        })
}

/// Finds the queue `name`, or creates it; makes its retention 14 days.
pub async fn ensure(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Queue, QueueError> {
    let (url, mut change) = match sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => (
            url_of(name, "GetQueueUrl", out.queue_url())?,
            Change::Unchanged,
        ),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_queue_does_not_exist()) =>
        {
            let out = sqs
                .create_queue()
                .queue_name(name)
                .attributes(
                    QueueAttributeName::MessageRetentionPeriod,
                    RETENTION_SECONDS,
                )
                .send()
                .await
                .map_err(|e| aws_error(name, "CreateQueue", &e))?;
            (
                url_of(name, "CreateQueue", out.queue_url())?,
                Change::Created,
            )
        }
        Err(e) => return Err(aws_error(name, "GetQueueUrl", &e)),
    };
    let attrs = attributes(sqs, &url).await?;
    let arn = attrs
        .get(&QueueAttributeName::QueueArn)
        .cloned()
        .ok_or_else(|| QueueError::NoArn(url.clone()))?;
    if attrs
        .get(&QueueAttributeName::MessageRetentionPeriod)
        .map(String::as_str)
        != Some(RETENTION_SECONDS)
    {
        set(
            sqs,
            &url,
            QueueAttributeName::MessageRetentionPeriod,
            RETENTION_SECONDS,
        )
        .await?;
        change = Change::Updated;
    }
    Ok(Queue {
        url,
        arn,
        change,
        policy: attrs.get(&QueueAttributeName::Policy).cloned(),
    })
}

/// Lets the rule `rule_arn` send to `queue` (statement Sid `sid`), keeping the queue's other
/// statements.
pub async fn allow_rule(
    sqs: &aws_sdk_sqs::Client,
    queue: &Queue,
    sid: &str,
    rule_arn: &str,
) -> Result<Change, QueueError> {
    let wanted = statement(sid, &queue.arn, rule_arn);
    match merged_policy(queue.policy.as_deref(), &wanted) {
        Err(()) => Err(QueueError::ForeignPolicy(queue.url.clone())),
        Ok(None) => Ok(Change::Unchanged),
        Ok(Some(policy)) => {
            set(sqs, &queue.url, QueueAttributeName::Policy, &policy).await?;
            Ok(if queue.policy.is_some() {
                Change::Updated
            } else {
                Change::Created
            })
        }
    }
}

async fn attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<HashMap<QueueAttributeName, String>, QueueError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .map_err(|e| aws_error(url, "GetQueueAttributes", &e))?;
    Ok(out.attributes().cloned().unwrap_or_default())
}

async fn set(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
    value: &str,
) -> Result<(), QueueError> {
    sqs.set_queue_attributes()
        .queue_url(url)
        .attributes(name, value)
        .send()
        .await
        .map_err(|e| aws_error(url, "SetQueueAttributes", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: &str = "arn:aws:sqs:eu-west-1:111122223333:thaw-restore-data";
    const R: &str = "arn:aws:events:eu-west-1:111122223333:rule/thaw-restore-data";

    #[test]
    fn a_queue_without_policy_gets_one_statement() {
        let wanted = statement("s", Q, R);
        let policy = merged_policy(None, &wanted)
            .expect("merge")
            .expect("new policy");
        let doc: Value = serde_json::from_str(&policy).expect("json");
        assert_eq!(doc["Statement"], json!([wanted]));
        assert_eq!(
            doc["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            R
        );
        assert_eq!(
            doc["Statement"][0]["Principal"]["Service"],
            "events.amazonaws.com"
        );
        assert_eq!(
            merged_policy(Some(""), &wanted).expect("merge"),
            Some(policy)
        );
    }

    #[test]
    fn other_statements_are_kept_and_a_second_run_changes_nothing() {
        let wanted = statement("s", Q, R);
        let other = json!({"Sid": "theirs", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": Q});
        let existing = json!({"Version": "2012-10-17", "Statement": [other.clone(), statement("s", Q, "arn:old")]}).to_string();
        let policy = merged_policy(Some(&existing), &wanted)
            .expect("merge")
            .expect("changed");
        let doc: Value = serde_json::from_str(&policy).expect("json");
        assert_eq!(
            doc["Statement"],
            json!([other, wanted]),
            "ours replaced, theirs kept"
        );
        assert_eq!(merged_policy(Some(&policy), &wanted), Ok(None));
    }

    #[test]
    fn a_missing_queue_url_is_an_error() {
        assert_eq!(
            url_of("q", "GetQueueUrl", Some("https://x/q")).expect("url"),
            "https://x/q"
        );
        for missing in [None, Some("")] {
            let e = url_of("q", "CreateQueue", missing).expect_err("no url");
            assert_eq!(e.to_string(), "queue q: CreateQueue returned no QueueUrl");
        }
    }

    #[test]
    fn a_policy_that_cannot_be_merged_is_refused() {
        let wanted = statement("s", Q, R);
        assert_eq!(merged_policy(Some("not json"), &wanted), Err(()));
        assert_eq!(
            merged_policy(Some("{\"Version\":\"2012-10-17\"}"), &wanted),
            Err(())
        );
    }
}
