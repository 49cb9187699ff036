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

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotState;
    use thaw_common::plan::KeyRange;
    use thaw_common::progress::LotItem;
    use thaw_common::restore_event::envelope;

    fn drain() -> Drain {
        let range = |a: &str, b: &str| KeyRange {
            first: a.into(),
            last: b.into(),
        };
        let mut lot = LotItem::pending(0, 2);
        lot.state = LotState::Waiting;
        lot.counters.restore_requested = 2;
        lot.checkpoint.restore_requested.set(0, true);
        lot.checkpoint.restore_requested.set(1, true);
        let mut tally = Tally::new(1.0);
        tally.observe(&[lot]);
        Drain {
            queue_url: "q".into(),
            bucket: "b".into(),
            // lot 0 holds "a b" .. "a c"; lot 1 "a+" .. "a+z"
            map: LotMap::of_ranges(vec![(range("a b", "a c"), 0), (range("a+", "a+z"), 1)]),
            tally: Arc::new(Mutex::new(tally)),
            wake: Arc::new(Notify::new()),
        }
    }

    fn message(body: &str) -> SqsMessage {
        SqsMessage::builder().body(body).receipt_handle("r").build()
    }

    #[test]
    fn messages_are_counted_by_lot_and_kind() {
        let d = drain();
        let of = |key: &str| {
            d.lots_of(&RestoreEvent {
                bucket: "b".into(),
                key: key.into(),
                version_id: None,
                expiry: None,
                source_class: None,
            })
            .expect("lookup")
        };
        assert_eq!(of("a b"), vec![0]);
        // as sent first: "a+b" is a key of lot 1
        assert_eq!(of("a+b"), vec![1]);
        // maps nowhere as sent, so URL-decoded: "a%20bz" is "a bz"
        assert_eq!(of("a%20bz"), vec![0]);
        assert!(of("zz").is_empty());

        for body in [
            envelope("b", "a b", None, "x"),
            envelope("other-bucket", "a b", None, "x"),
            envelope("b", "zz", None, "x"),
            envelope("b", "a b", None, "x").replace("Object Restore Completed", "Object Created"),
            "garbage".to_owned(),
        ] {
            d.take(&message(&body)).expect("taken");
        }
        let totals = d.with_tally(|t| t.totals);
        assert_eq!(
            (
                totals.counted,
                totals.foreign,
                totals.ignored,
                totals.malformed
            ),
            (1, 2, 1, 1)
        );
        assert_eq!(d.with_tally(|t| t.counted(0)), 1);
    }

    #[tokio::test]
    async fn the_event_that_makes_a_lot_due_wakes_follow() {
        let d = drain();
        d.take(&message(&envelope("b", "a b", None, "x")))
            .expect("taken");
        let woke = tokio::time::timeout(std::time::Duration::ZERO, d.wake.notified()).await;
        assert!(woke.is_err(), "one of two keys: not due yet");
        d.take(&message(&envelope("b", "a c", None, "x")))
            .expect("taken");
        // the permit is stored: the next wait returns at once
        d.wake.notified().await;
    }
}
