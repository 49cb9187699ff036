//! The drainer of `follow --events`: [`RECEIVERS`] loops long-polling the queue (ReceiveMessage,
//! 10 messages, 20 s wait), each message read ([`thaw_common::restore_event`]), mapped to its
//! lots ([`super::lot_map`]), counted ([`super::tally`]) and then deleted (DeleteMessageBatch):
//! a message is deleted only once counted, so one that fails to count comes back after its
//! visibility timeout. Foreign, other and malformed messages are deleted too (counted as such).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message as SqsMessage};
use thaw_common::aws::AwsError;
use thaw_common::restore_event::{parse, Message, RestoreEvent};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::warn;

use super::lot_map::LotMap;
use super::tally::Tally;

/// Receive loops at once.
pub const RECEIVERS: usize = 16;
/// Messages per ReceiveMessage (SQS's most).
const BATCH: i32 = 10;
/// Long-poll wait (SQS's most).
const WAIT_SECS: i32 = 20;
/// Pause after a failed receive.
const BACKOFF: Duration = Duration::from_secs(5);

/// What the drainer shares with `follow`.
pub struct Drain {
    /// The queue.
    pub queue_url: String,
    /// The job's bucket: events of other buckets are foreign.
    pub bucket: String,
    /// Key -> lots.
    pub map: LotMap,
    /// The counts.
    pub tally: Arc<Mutex<Tally>>,
    /// Woken when a WAITING lot becomes due.
    pub wake: Arc<Notify>,
}

/// Starts the receive loops; they stop when the set is dropped.
pub fn start(sqs: aws_sdk_sqs::Client, drain: Drain) -> JoinSet<()> {
    let drain = Arc::new(drain);
    let mut set = JoinSet::new();
    for _ in 0..RECEIVERS {
        let (sqs, drain) = (sqs.clone(), drain.clone());
        set.spawn(async move {
            loop {
                if let Err(e) = drain.round(&sqs).await {
                    warn!("{e:#}; receiving again in {}s", BACKOFF.as_secs());
                    tokio::time::sleep(BACKOFF).await;
                }
            }
        });
    }
    set
}

impl Drain {
    /// One receive, its messages counted and deleted.
    async fn round(&self, sqs: &aws_sdk_sqs::Client) -> anyhow::Result<()> {
        let out = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT_SECS)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ReceiveMessage", &e))?;
        let mut done = Vec::new();
        for m in out.messages() {
            match self.take(m) {
                Ok(()) => done.extend(m.receipt_handle().map(str::to_owned)),
                Err(e) => warn!("{e:#}; the message comes back after its visibility timeout"),
            }
        }
        self.delete(sqs, done).await
    }

    /// Counts one message.
    fn take(&self, m: &SqsMessage) -> anyhow::Result<()> {
        let body = m.body().unwrap_or_default();
        let event = match parse(body) {
            Ok(Message::Restored(e)) => e,
            Ok(Message::Ignored { .. }) => {
                self.with_tally(|t| t.totals.ignored += 1);
                return Ok(());
            }
            Err(e) => {
                warn!(message = m.message_id().unwrap_or_default(), "{e}; deleted");
                self.with_tally(|t| t.totals.malformed += 1);
                return Ok(());
            }
        };
        let lots = self.lots_of(&event)?;
        if lots.is_empty() {
            self.with_tally(|t| t.totals.foreign += 1);
            return Ok(());
        }
        let woke = self.with_tally(|t| lots.iter().fold(false, |w, lot| t.count(*lot) | w));
        if woke {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The lots of an event's key: as sent, else URL-decoded (see [`thaw_common::restore_event`]).
    fn lots_of(&self, e: &RestoreEvent) -> anyhow::Result<Vec<u32>> {
        if e.bucket != self.bucket {
            return Ok(Vec::new());
        }
        let lots = self.map.lots_of(&e.key)?;
        match e.decoded_key() {
            Some(k) if lots.is_empty() => self.map.lots_of(&k),
            _ => Ok(lots),
        }
    }

    fn with_tally<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        let mut t = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut t)
    }

    /// Deletes counted messages, 10 per request.
    async fn delete(&self, sqs: &aws_sdk_sqs::Client, handles: Vec<String>) -> anyhow::Result<()> {
        for chunk in handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(h)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeleteMessageBatch", &e))?;
            if let Some(f) = out.failed().first() {
                // counted already: a message not deleted comes back and is counted again,
                // which only brings a look forward
                warn!(
                    failed = out.failed().len(),
                    "DeleteMessageBatch: {}",
                    f.message().unwrap_or(f.code())
                );
            }
        }
        Ok(())
    }
}
