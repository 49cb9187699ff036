//! The merge of EventBridge into a bucket's notification configuration, facts in, verdict out.
//!
//! PutBucketNotificationConfiguration replaces the whole configuration: writing only
//! `EventBridgeConfiguration` would delete every topic, queue and Lambda destination the bucket
//! sends events to. So the setup reads the configuration, merges EventBridge into it, reads it
//! again just before writing (a change in between refuses), writes, and reads it back to check
//! that everything that was there still is.

use aws_sdk_s3::types::{
    EventBridgeConfiguration, LambdaFunctionConfiguration, NotificationConfiguration,
    QueueConfiguration, TopicConfiguration,
};

/// A bucket's notification configuration, as read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Current {
    /// SNS topic destinations.
    pub topics: Vec<TopicConfiguration>,
    /// SQS queue destinations.
    pub queues: Vec<QueueConfiguration>,
    /// Lambda function destinations.
    pub lambdas: Vec<LambdaFunctionConfiguration>,
    /// Whether EventBridge notifications are on.
    pub event_bridge: bool,
}

/// What to do with a configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Merge {
    /// EventBridge is on already: nothing to write.
    AlreadyOn,
    /// Write this: every destination as read, plus EventBridge.
    Write(NotificationConfiguration),
}

/// Why the setup refuses to write, or found the write did not do what it should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The configuration changed between the setup's two reads: someone else is changing it.
    #[error("the bucket's notification configuration changed while it was being read ({0}); nothing written: run the setup again once nobody else is changing it")]
    ChangedMeanwhile(String),
    /// A destination that was there before the write is gone after it.
    #[error("after the write, the bucket's notification configuration lacks {0}, which it had before: put it back by hand")]
    Lost(String),
    /// The write went through but EventBridge is still off.
    #[error("after the write, EventBridge notifications are still off on the bucket")]
    NotOn,
}

/// The verdict on `current`: nothing to do, or the configuration to write.
pub fn merge(current: &Current) -> Merge {
    if current.event_bridge {
        return Merge::AlreadyOn;
    }
    Merge::Write(
        NotificationConfiguration::builder()
            .set_topic_configurations(Some(current.topics.clone()))
            .set_queue_configurations(Some(current.queues.clone()))
            .set_lambda_function_configurations(Some(current.lambdas.clone()))
            .event_bridge_configuration(EventBridgeConfiguration::builder().build())
            .build(),
    )
}

/// `Ok` when the second read finds what the first found.
pub fn unchanged(first: &Current, second: &Current) -> Result<(), Refusal> {
    if first == second {
        return Ok(());
    }
    Err(Refusal::ChangedMeanwhile(format!(
        "{} then {}",
        summary(first),
        summary(second)
    )))
}

/// `Ok` when `after` (read back after the write) has every destination of `before` and
/// EventBridge on.
pub fn kept(before: &Current, after: &Current) -> Result<(), Refusal> {
    let lost = before
        .topics
        .iter()
        .filter(|t| !after.topics.contains(t))
        .map(|t| format!("topic {}", t.topic_arn()))
        .chain(
            before
                .queues
                .iter()
                .filter(|q| !after.queues.contains(q))
                .map(|q| format!("queue {}", q.queue_arn())),
        )
        .chain(
            before
                .lambdas
                .iter()
                .filter(|l| !after.lambdas.contains(l))
                .map(|l| format!("Lambda function {}", l.lambda_function_arn())),
        )
        .collect::<Vec<_>>();
    if !lost.is_empty() {
        return Err(Refusal::Lost(lost.join(", ")));
    }
    if !after.event_bridge {
        return Err(Refusal::NotOn);
    }
    Ok(())
}

/// "2 topic(s), 1 queue(s), 0 Lambda function(s), EventBridge off": for the output.
pub fn summary(c: &Current) -> String {
    format!(
        "{} topic(s), {} queue(s), {} Lambda function(s), EventBridge {}",
        c.topics.len(),
        c.queues.len(),
        c.lambdas.len(),
        if c.event_bridge { "on" } else { "off" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::Event;

    fn queue(arn: &str) -> QueueConfiguration {
        QueueConfiguration::builder()
            .id(format!("id-{arn}"))
            .queue_arn(arn)
            .events(Event::S3ObjectCreated)
            .build()
            .expect("queue configuration")
    }

    fn topic(arn: &str) -> TopicConfiguration {
        TopicConfiguration::builder()
            .topic_arn(arn)
            .events(Event::S3ObjectRemoved)
            .build()
            .expect("topic configuration")
    }

    fn with_queue_and_topic() -> Current {
        Current {
            topics: vec![topic("arn:aws:sns:eu-west-1:1:t")],
            queues: vec![queue("arn:aws:sqs:eu-west-1:1:q")],
            ..Current::default()
        }
    }

    #[test]
    fn merge_keeps_every_destination_and_adds_event_bridge() {
        let current = with_queue_and_topic();
        let Merge::Write(cfg) = merge(&current) else {
            panic!("EventBridge is off: something to write");
        };
        assert_eq!(cfg.topic_configurations(), current.topics.as_slice());
        assert_eq!(cfg.queue_configurations(), current.queues.as_slice());
        assert!(cfg.lambda_function_configurations().is_empty());
        assert!(cfg.event_bridge_configuration().is_some());
    }

    #[test]
    fn nothing_to_write_when_event_bridge_is_on() {
        let mut current = with_queue_and_topic();
        current.event_bridge = true;
        assert_eq!(merge(&current), Merge::AlreadyOn);
        assert!(matches!(merge(&Current::default()), Merge::Write(_)));
    }

    #[test]
    fn a_change_between_the_reads_refuses() {
        let first = with_queue_and_topic();
        assert_eq!(unchanged(&first, &first.clone()), Ok(()));
        let mut second = first.clone();
        second.queues.push(queue("arn:aws:sqs:eu-west-1:1:other"));
        let err = unchanged(&first, &second).expect_err("changed");
        assert!(err.to_string().contains("1 queue(s)") && err.to_string().contains("2 queue(s)"));
        let mut edited = first.clone();
        edited.queues = vec![queue("arn:aws:sqs:eu-west-1:1:renamed")];
        assert!(
            unchanged(&first, &edited).is_err(),
            "same counts, other destination"
        );
    }

    #[test]
    fn the_read_back_must_keep_everything_and_have_event_bridge_on() {
        let before = with_queue_and_topic();
        let mut after = before.clone();
        after.event_bridge = true;
        assert_eq!(kept(&before, &after), Ok(()));
        assert_eq!(kept(&before, &before), Err(Refusal::NotOn));
        let mut lost = after.clone();
        lost.queues.clear();
        assert_eq!(
            kept(&before, &lost),
            Err(Refusal::Lost("queue arn:aws:sqs:eu-west-1:1:q".into()))
        );
        // an extra destination someone added is no loss
        let mut more = after.clone();
        more.topics.push(topic("arn:aws:sns:eu-west-1:1:new"));
        assert_eq!(kept(&before, &more), Ok(()));
    }
}
