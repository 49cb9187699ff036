//! `coordinator events setup` on the emulator: the queue, its policy, the EventBridge rule and
//! target, and EventBridge merged into the bucket's notification configuration without losing a
//! destination; refusals when that cannot be done safely; and the restore-completed events that
//! then reach the queue (tests/emulator_events.py emits them when each restore ends, spread
//! over a window, lost or repeated on demand).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, QueueConfiguration, RestoreRequest, S3KeyFilter,
    TopicConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::rig::*;

async fn sqs(moto: &Moto) -> aws_sdk_sqs::Client {
    let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "rig");
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&moto.endpoint)
        .credentials_provider(creds)
        .load()
        .await;
    aws_sdk_sqs::Client::new(&conf)
}

/// A queue of someone else's, and its ARN.
async fn their_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    (url, arn)
}

/// The bucket sends object-created events to a queue, removals to a topic and restores to a
/// Lambda function: what `events setup` must keep.
async fn existing_destinations(c: &Clients, bucket: &str, queue_arn: &str) {
    let cfg = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .id("their-queue")
                .queue_arn(queue_arn)
                .events(Event::S3ObjectCreated)
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(
                            S3KeyFilter::builder()
                                .filter_rules(
                                    FilterRule::builder()
                                        .name(FilterRuleName::Prefix)
                                        .value("incoming/")
                                        .build(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
                .expect("queue configuration"),
        )
        .topic_configurations(
            TopicConfiguration::builder()
                .id("their-topic")
                .topic_arn("arn:aws:sns:us-east-1:123456789012:their-topic")
                .events(Event::S3ObjectRemoved)
                .build()
                .expect("topic configuration"),
        )
        .lambda_function_configurations(
            LambdaFunctionConfiguration::builder()
                .id("their-function")
                .lambda_function_arn("arn:aws:lambda:us-east-1:123456789012:function:theirs")
                .events(Event::S3ObjectRestoreCompleted)
                .build()
                .expect("lambda configuration"),
        )
        .build();
    c.s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(cfg)
        .send()
        .await
        .expect("put notification configuration");
}

/// (queue ids, topic ids, lambda ids, EventBridge on) of the bucket's configuration.
async fn destinations(c: &Clients, bucket: &str) -> (Vec<String>, Vec<String>, Vec<String>, bool) {
    let out =
        c.s3.get_bucket_notification_configuration()
            .bucket(bucket)
            .send()
            .await
            .expect("get notification configuration");
    let ids = |it: Vec<Option<&str>>| it.into_iter().map(|i| i.unwrap_or("").to_owned()).collect();
    (
        ids(out.queue_configurations().iter().map(|q| q.id()).collect()),
        ids(out.topic_configurations().iter().map(|t| t.id()).collect()),
        ids(out
            .lambda_function_configurations()
            .iter()
            .map(|l| l.id())
            .collect()),
        out.event_bridge_configuration().is_some(),
    )
}

fn setup(moto: &Moto, bucket: &str) -> std::process::Output {
    run(
        moto,
        "coordinator",
        &["events", "setup", "--bucket", bucket],
        &[],
    )
}

/// The queue URL `events setup` printed.
pub(crate) fn queue_url(out: &std::process::Output) -> String {
    stdout(out)
        .lines()
        .find_map(|l| l.strip_prefix("queue URL: "))
        .unwrap_or_else(|| panic!("no queue URL in {}", stdout(out)))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_keeps_every_destination_and_a_second_run_changes_nothing() {
    build_binaries();
    let moto = Moto::shared();
    let c = moto.clients().await;
    let q = sqs(moto).await;
    let bucket = unique("evkeep");
    create_bucket(&c, &bucket).await;
    let (_, arn) = their_queue(&q, &unique("theirs")).await;
    existing_destinations(&c, &bucket, &arn).await;

    let first = assert_success(setup(moto, &bucket), "events setup");
    let text = stdout(&first);
    assert!(
        text.contains(&format!("queue thaw-restore-{bucket}: created")),
        "{text}"
    );
    assert!(text.contains(": created\n") && text.contains("EventBridge notifications: updated (was: 1 topic(s), 1 queue(s), 1 Lambda function(s), EventBridge off)"), "{text}");
    let (queues, topics, lambdas, on) = destinations(&c, &bucket).await;
    assert_eq!(
        (queues, topics, lambdas, on),
        (
            vec!["their-queue".to_owned()],
            vec!["their-topic".to_owned()],
            vec!["their-function".to_owned()],
            true
        )
    );
    let kept =
        c.s3.get_bucket_notification_configuration()
            .bucket(&bucket)
            .send()
            .await
            .expect("read back");
    let rules = kept.queue_configurations()[0]
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules().to_vec())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "the queue's key filter is kept");
    assert_eq!(rules[0].value(), Some("incoming/"));
    let url = queue_url(&first);
    let attrs = q
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes");
    let attrs = attrs.attributes().expect("attributes");
    assert_eq!(
        attrs[&QueueAttributeName::MessageRetentionPeriod],
        "1209600"
    );
    let policy: serde_json::Value =
        serde_json::from_str(&attrs[&QueueAttributeName::Policy]).expect("policy json");
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Principal"]["Service"], "events.amazonaws.com");
    assert!(
        statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":rule/thaw-restore-{bucket}"))),
        "{policy}"
    );

    let writes_before =
        moto.stats_query(&format!("bucket={bucket}"))["s3:PUT:bucket?notification"].clone();
    let second = assert_success(setup(moto, &bucket), "events setup again");
    let text = stdout(&second);
    let steps: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("queue URL") && !l.starts_with("next:"))
        .collect();
    assert_eq!(steps.len(), 5, "{text}");
    assert!(steps.iter().all(|l| l.contains(": unchanged")), "{text}");
    assert_eq!(queue_url(&second), url);
    assert_eq!(
        moto.stats_query(&format!("bucket={bucket}"))["s3:PUT:bucket?notification"],
        writes_before,
        "the second run wrote nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_refuses_when_the_configuration_cannot_be_read() {
    build_binaries();
    let moto = Moto::start();
    let c = moto.clients().await;
    let q = sqs(&moto).await;
    let bucket = unique("evdeny");
    create_bucket(&c, &bucket).await;
    let (_, arn) = their_queue(&q, &unique("theirs")).await;
    existing_destinations(&c, &bucket, &arn).await;
    moto.configure(&format!(r#"{{"deny_notification_reads": ["{bucket}"]}}"#));

    let out = setup(&moto, &bucket);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("cannot read the notification configuration") && err.contains("AccessDenied"),
        "{err}"
    );
    moto.configure(r#"{"deny_notification_reads": []}"#);
    let (queues, topics, lambdas, on) = destinations(&c, &bucket).await;
    assert_eq!(
        (queues.len(), topics.len(), lambdas.len(), on),
        (1, 1, 1, false)
    );
    assert_eq!(
        moto.stats_query(&format!("bucket={bucket}"))["s3:PUT:bucket?notification"],
        1,
        "only the test's own write"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_refuses_a_configuration_changed_meanwhile_or_refused_by_s3() {
    build_binaries();
    let moto = Moto::start();
    let c = moto.clients().await;
    let q = sqs(&moto).await;

    // someone adds a topic between the setup's two reads
    let raced = unique("evrace");
    create_bucket(&c, &raced).await;
    moto.configure(&format!(
        r#"{{"notification_change_after_read": "{raced}"}}"#
    ));
    let out = setup(&moto, &raced);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("changed while it was being read"),
        "{}",
        stderr(&out)
    );
    let (_, topics, _, on) = destinations(&c, &raced).await;
    assert_eq!(
        (topics, on),
        (vec!["added-meanwhile".to_owned()], false),
        "theirs kept, nothing written"
    );

    // a destination of the existing configuration is gone: S3 refuses the whole write
    let stale = unique("evstale");
    create_bucket(&c, &stale).await;
    let (url, arn) = their_queue(&q, &unique("gone")).await;
    existing_destinations(&c, &stale, &arn).await;
    q.delete_queue()
        .queue_url(&url)
        .send()
        .await
        .expect("delete queue");
    let out = setup(&moto, &stale);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("S3 refused the merged notification configuration"),
        "{}",
        stderr(&out)
    );
    let (queues, _, _, on) = destinations(&c, &stale).await;
    assert_eq!((queues, on), (vec!["their-queue".to_owned()], false));
}

/// Receives (and deletes) every message of the queue until `expected` arrived and the queue
/// then stays empty for a few receives; the key of each event, counted.
pub(crate) async fn drain(
    q: &aws_sdk_sqs::Client,
    url: &str,
    expected: usize,
) -> (BTreeMap<String, usize>, Vec<serde_json::Value>) {
    let mut keys = BTreeMap::new();
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut quiet = 0;
    while Instant::now() < deadline && (events.len() < expected || quiet < 3) {
        let out = q
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if out.messages().is_empty() {
            quiet += 1;
        } else {
            quiet = 0;
        }
        for m in out.messages() {
            let event: serde_json::Value =
                serde_json::from_str(m.body().expect("body")).expect("event json");
            let key = event["detail"]["object"]["key"]
                .as_str()
                .expect("key")
                .to_owned();
            *keys.entry(key).or_insert(0) += 1;
            events.push(event);
            q.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().expect("handle"))
                .send()
                .await
                .expect("delete");
        }
    }
    (keys, events)
}

pub(crate) async fn archive_and_restore(c: &Clients, bucket: &str, keys: &[String]) {
    put_many(
        c,
        bucket,
        keys.iter()
            .map(|k| (k.clone(), "GLACIER", b"archived".to_vec()))
            .collect(),
    )
    .await;
    for k in keys {
        c.s3.restore_object()
            .bucket(bucket)
            .key(k)
            .restore_request(RestoreRequest::builder().days(1).build())
            .send()
            .await
            .expect("restore");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_finished_restore_sends_one_event_and_other_buckets_none() {
    build_binaries();
    let moto = Moto::start();
    moto.configure(r#"{"restore_delay": 1, "restore_delay_max": 4}"#);
    let c = moto.clients().await;
    let q = sqs(&moto).await;
    let bucket = unique("evmine");
    let other = unique("evother");
    create_bucket(&c, &bucket).await;
    create_bucket(&c, &other).await;
    let out = assert_success(setup(&moto, &bucket), "events setup");
    let url = queue_url(&out);
    // the other bucket sends its events to EventBridge too, with its own rule and queue
    let other_out = assert_success(setup(&moto, &other), "events setup of the other bucket");
    let other_url = queue_url(&other_out);

    let mine: Vec<String> = (0..12).map(|i| format!("dir/a key+{i}.bin")).collect();
    let theirs: Vec<String> = (0..4).map(|i| format!("theirs-{i}")).collect();
    archive_and_restore(&c, &bucket, &mine).await;
    archive_and_restore(&c, &other, &theirs).await;

    let (keys, events) = drain(&q, &url, mine.len()).await;
    let expected: BTreeMap<String, usize> = mine.iter().map(|k| (k.clone(), 1)).collect();
    assert_eq!(
        keys, expected,
        "one event per restored object of the bucket, the key as is"
    );
    for e in &events {
        assert_eq!(e["source"], "aws.s3");
        assert_eq!(e["detail-type"], "Object Restore Completed");
        assert_eq!(e["detail"]["bucket"]["name"], bucket.as_str());
        assert_eq!(e["detail"]["source-storage-class"], "GLACIER");
        assert_eq!(e["detail"]["object"]["size"], 8);
        assert!(e["detail"]["restore-expiry-time"].is_string(), "{e}");
    }
    let (their_keys, _) = drain(&q, &other_url, theirs.len()).await;
    assert_eq!(
        their_keys.len(),
        theirs.len(),
        "the other bucket's events went to its own queue"
    );
    assert_eq!(
        moto.stats_query(&format!("bucket={bucket}"))["events:RestoreCompleted"],
        12
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_can_be_lost_or_repeated_as_configured() {
    build_binaries();
    let moto = Moto::start();
    // every 4th event lost; of those sent, every 3rd sent twice
    moto.configure(r#"{"restore_delay": 1, "restore_delay_max": 3, "event_drop_rate": 0.25, "event_duplicate_rate": 0.3333333333}"#);
    let c = moto.clients().await;
    let q = sqs(&moto).await;
    let bucket = unique("evloss");
    create_bucket(&c, &bucket).await;
    let url = queue_url(&assert_success(setup(&moto, &bucket), "events setup"));
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    archive_and_restore(&c, &bucket, &keys).await;

    // 8 restores: 2 events lost, 6 sent, 2 of those twice: 8 messages for 6 keys
    let (seen, events) = drain(&q, &url, 8).await;
    assert_eq!(events.len(), 8, "{seen:?}");
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(seen.values().filter(|&&n| n == 2).count(), 2, "{seen:?}");
    let stats = moto.stats_query(&format!("bucket={bucket}"));
    assert_eq!(
        (
            &stats["events:RestoreCompleted"],
            &stats["events:dropped"],
            &stats["events:duplicated"]
        ),
        (
            &serde_json::json!(8),
            &serde_json::json!(2),
            &serde_json::json!(2)
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_only_turns_event_bridge_on_and_makes_no_queue() {
    build_binaries();
    let moto = Moto::shared();
    let c = moto.clients().await;
    let q = sqs(moto).await;
    let bucket = unique("evonly");
    create_bucket(&c, &bucket).await;
    let (_, arn) = their_queue(&q, &unique("theirs")).await;
    existing_destinations(&c, &bucket, &arn).await;
    let args = [
        "events",
        "setup",
        "--bucket",
        bucket.as_str(),
        "--bucket-only",
    ];

    let out = run_ok(moto, "coordinator", &args, &[]);
    assert_eq!(
        stdout(&out),
        format!("bucket {bucket} EventBridge notifications: updated (was: 1 topic(s), 1 queue(s), 1 Lambda function(s), EventBridge off)\n")
    );
    assert!(destinations(&c, &bucket).await.3, "EventBridge on");
    let queue = q
        .get_queue_url()
        .queue_name(format!("thaw-restore-{bucket}"))
        .send()
        .await;
    assert!(queue.is_err(), "no queue made: {queue:?}");
    let again = run_ok(moto, "coordinator", &args, &[]);
    assert!(
        stdout(&again).contains("EventBridge notifications: unchanged"),
        "{}",
        stdout(&again)
    );
}
