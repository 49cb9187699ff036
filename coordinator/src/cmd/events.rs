//! `coordinator events setup`: makes the restore-completed events of a bucket reach an SQS
//! queue (the queue and its policy, the EventBridge rule and its target, EventBridge on in the
//! bucket's notification configuration) and prints the queue URL for `follow --events`.
//! Safe to run again: what is already as needed is left alone and reported `unchanged`.

use anyhow::Context;

use super::{out, usage, Global};
use crate::events::{self, notification, queue, rule};

/// Subcommands of `coordinator events`.
#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Routes a bucket's "Object Restore Completed" events to an SQS queue and prints its URL.
    ///
    /// Creates (or checks) the SQS queue (14 days' retention) with a policy letting EventBridge
    /// send to it, an EventBridge rule on the default bus matching the bucket's restore-completed
    /// events with the queue as target, and turns EventBridge notifications on for the bucket:
    /// the bucket's notification configuration is read, EventBridge merged into it (every topic,
    /// queue and Lambda destination kept), read again, written and read back. It refuses, leaving
    /// the configuration as it was, when it cannot be read, changes between the two reads, or S3
    /// refuses the merged configuration (e.g. an existing destination that is no longer valid).
    /// Run it again any time: what is already in place is left as it is.
    Setup(SetupArgs),
}

/// Flags of `coordinator events setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// The bucket whose restores to hear about (the job's source bucket).
    #[arg(long)]
    pub bucket: String,
    /// The SQS queue name [default: thaw-restore-<bucket>, dots as dashes]. Several buckets may
    /// share one queue: each gets its own rule and policy statement. Two jobs on the same bucket
    /// at once need a queue each (one `follow --events` per queue): a second queue is added as
    /// another target of the bucket's rule (up to 5), the first one kept.
    /// task-defs/iam/coordinator.json covers queues named thaw-restore-*.
    #[arg(long, conflicts_with = "bucket_only")]
    pub queue: Option<String>,
    /// Only turn EventBridge notifications on for the bucket (same read-merge-write): the
    /// queue and rule come from elsewhere, e.g. task-defs/stack.yaml with
    /// EnableRestoreEvents=true (a second rule to the same queue would send every event twice).
    #[arg(long)]
    pub bucket_only: bool,
}

/// Runs `coordinator events ...`.
pub async fn run(g: &Global, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Setup(args) => setup(g, args).await,
    }
}

async fn setup(g: &Global, args: SetupArgs) -> anyhow::Result<()> {
    let queue_name = args
        .queue
        .clone()
        .unwrap_or_else(|| events::default_queue_name(&args.bucket));
    if !events::valid_queue_name(&queue_name) {
        return Err(usage(format!(
            "--queue {queue_name}: an SQS queue name is 1 to 80 letters, digits, '-' and '_'"
        )));
    }
    let aws = g.aws()?;
    if args.bucket_only {
        let change = bucket_notifications(&aws.s3(), &args.bucket).await?;
        return out(&format!("{change}\n"));
    }
    let sqs = aws_sdk_sqs::Client::new(&aws.config);
    let eventbridge = aws_sdk_eventbridge::Client::new(&aws.config);
    let s3 = aws.s3();
    let rule_name = events::rule_name(&args.bucket);
    let mut o = String::new();

    let q = queue::ensure(&sqs, &queue_name).await?;
    push_line!(o, "queue {queue_name}: {}", q.change.word());
    let (rule_arn, change) = rule::ensure(&eventbridge, &rule_name, &args.bucket).await?;
    push_line!(o, "rule {rule_name}: {}", change.word());
    let change = queue::allow_rule(&sqs, &q, &rule_name, &rule_arn).await?;
    push_line!(
        o,
        "queue policy (EventBridge may send from {rule_name}): {}",
        change.word()
    );
    let change = rule::ensure_target(&eventbridge, &rule_name, &queue_name, &q.arn).await?;
    push_line!(
        o,
        "rule target {}: {}",
        events::setup::target_id(&queue_name),
        change.word()
    );
    out(&o)?;
    o.clear();

    let (change, before) = notification::enable_event_bridge(&s3, &args.bucket)
        .await
        .with_context(|| {
            format!(
                "turning EventBridge notifications on for bucket {}",
                args.bucket
            )
        })?;
    push_line!(
        o,
        "bucket {} EventBridge notifications: {} (was: {before})",
        args.bucket,
        change.word()
    );
    push_line!(o, "queue URL: {}", q.url);
    push_line!(o, "next: coordinator follow --events {} ...", q.url);
    out(&o)
}

/// Turns EventBridge notifications on for `bucket`; the output line saying what it did.
async fn bucket_notifications(s3: &aws_sdk_s3::Client, bucket: &str) -> anyhow::Result<String> {
    let (change, before) = notification::enable_event_bridge(s3, bucket)
        .await
        .with_context(|| format!("turning EventBridge notifications on for bucket {bucket}"))?;
    Ok(format!(
        "bucket {bucket} EventBridge notifications: {} (was: {before})",
        change.word()
    ))
}
