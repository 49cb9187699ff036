//! The drainer of `follow --events`: [`RECEIVERS`] loops long-polling the queue (ReceiveMessage,
//! 10 messages, 20 s wait), each message read ([`thaw_common::restore_event`]), mapped to its
//! lots ([`super::lot_map`]), counted ([`super::tally`]) and then deleted (DeleteMessageBatch):
//! a message is deleted only once counted, so one that fails to count comes back after its
//! visibility timeout. Foreign, stale, other and malformed messages are deleted too (counted as
//! such): one `follow --events` drains a queue at a time, and a restore event of a key of no open
//! lot of the job is deleted (see the README: jobs on the same bucket at once need a queue each).
//! A receive loop that panics is started again; receive errors are kept in [`Health`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message as SqsMessage, QueueAttributeName,
};
use thaw_common::aws::AwsError;
use thaw_common::progress::now_secs;
use thaw_common::restore_event::{parse, Message, RestoreEvent};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tracing::warn;

use super::lot_map::LotMap;
use super::tally::{Tally, Totals};

/// Receive loops at once.
pub const RECEIVERS: usize = 16;
/// Messages per ReceiveMessage (SQS's most).
const BATCH: i32 = 10;
/// Long-poll wait (SQS's most).
const WAIT_SECS: i32 = 20;
/// Pause after a failed receive.
const BACKOFF: Duration = Duration::from_secs(5);

/// How the drainer is doing, beside what it counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// Restore events whose restored copy had already expired (old messages): deleted.
    pub stale: u64,
    /// Failed ReceiveMessage calls this session.
    pub receive_errors: u64,
    /// The last receive error, until a receive succeeds again.
    pub last_error: Option<String>,
    /// Receive loops started again after a panic.
    pub restarts: u64,
}

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
    /// Receive errors, stale events, restarts.
    pub health: Arc<Mutex<Health>>,
    /// Woken when a WAITING lot becomes due.
    pub wake: Arc<Notify>,
    /// Set once the "queue shared?" warning is out.
    pub warned_shared: AtomicBool,
}

/// Why `follow --events` refuses a queue at start.
#[derive(Debug, thiserror::Error)]
#[error("events queue {queue} is not reachable: {error}")]
pub struct Unreachable {
    /// The queue URL.
    pub queue: String,
    /// The GetQueueAttributes error.
    pub error: AwsError,
}

/// Asks the queue for its ARN (GetQueueAttributes): a wrong URL, region or permission fails here,
/// once, rather than in every receive.
pub async fn check(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<(), Unreachable> {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| Unreachable {
            queue: queue_url.to_owned(),
            error: AwsError::from_sdk("GetQueueAttributes", &e),
        })?;
    Ok(())
}

/// Starts the receive loops under a supervisor that starts again any loop that panics; they
/// stop when the returned set is dropped.
pub fn start(sqs: aws_sdk_sqs::Client, drain: Drain) -> JoinSet<()> {
    let drain = Arc::new(drain);
    let mut supervisor = JoinSet::new();
    supervisor.spawn(async move {
        let mut loops = JoinSet::new();
        for _ in 0..RECEIVERS {
            loops.spawn(receive_loop(sqs.clone(), drain.clone()));
        }
        // the loops never return: a loop that ends panicked
        while let Some(ended) = loops.join_next().await {
            let why = ended.err().map_or("ended".to_owned(), |e| e.to_string());
            warn!("events: a receive loop stopped ({why}); starting it again");
            drain.with_health(|h| h.restarts += 1);
            loops.spawn(receive_loop(sqs.clone(), drain.clone()));
        }
    });
    supervisor
}

async fn receive_loop(sqs: aws_sdk_sqs::Client, drain: Arc<Drain>) {
    loop {
        if let Err(e) = drain.round(&sqs).await {
            warn!("{e:#}; receiving again in {}s", BACKOFF.as_secs());
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

/// Whether the foreign messages outnumber the counted ones (enough of them to mean something):
/// another job's events in the queue, most likely.
pub fn looks_shared(t: &Totals) -> bool {
    t.foreign > t.counted && t.foreign >= 10
}

impl Drain {
    /// One receive, its messages counted and deleted.
    async fn round(&self, sqs: &aws_sdk_sqs::Client) -> anyhow::Result<()> {
        let received = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT_SECS)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ReceiveMessage", &e));
        let out = match received {
            Ok(out) => {
                self.with_health(|h| h.last_error = None);
                out
            }
            Err(e) => {
                self.with_health(|h| {
                    h.receive_errors += 1;
                    h.last_error = Some(e.to_string());
                });
                return Err(e.into());
            }
        };
        let now = now_secs();
        let mut done = Vec::new();
        for m in out.messages() {
            match self.take(m, now) {
                Ok(()) => done.extend(m.receipt_handle().map(str::to_owned)),
                Err(e) => warn!("{e:#}; the message comes back after its visibility timeout"),
            }
        }
        self.delete(sqs, done).await
    }

    /// Counts one message received at `now` (Unix seconds).
    fn take(&self, m: &SqsMessage, now: i64) -> anyhow::Result<()> {
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
        if event.is_stale(now) {
            self.with_health(|h| h.stale += 1);
            return Ok(());
        }
        let lots = self.lots_of(&event)?;
        if lots.is_empty() {
            let shared = self.with_tally(|t| {
                t.totals.foreign += 1;
                looks_shared(&t.totals)
            });
            if shared && !self.warned_shared.swap(true, Ordering::Relaxed) {
                warn!(
                    queue = self.queue_url,
                    "events: more restore events of other buckets or keys than of this job: \
                     queue shared? They are deleted: run one follow --events per queue, and give \
                     jobs on the same bucket a queue each (events setup --queue NAME)"
                );
            }
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
        if !lots.is_empty() {
            return Ok(lots);
        }
        for k in e.decoded_keys() {
            let lots = self.map.lots_of(&k)?;
            if !lots.is_empty() {
                return Ok(lots);
            }
        }
        Ok(Vec::new())
    }

    fn with_tally<T>(&self, f: impl FnOnce(&mut Tally) -> T) -> T {
        let mut t = self
            .tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut t)
    }

    fn with_health<T>(&self, f: impl FnOnce(&mut Health) -> T) -> T {
        let mut h = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut h)
    }

    /// Deletes counted messages, 10 per request; the entries DeleteMessageBatch reports failed
    /// are sent once more.
    async fn delete(&self, sqs: &aws_sdk_sqs::Client, handles: Vec<String>) -> anyhow::Result<()> {
        for chunk in handles.chunks(10) {
            let failed = self.delete_batch(sqs, chunk).await?;
            if failed.is_empty() {
                continue;
            }
            let again: Vec<String> = failed.into_iter().map(|(h, _)| h).collect();
            let still = self.delete_batch(sqs, &again).await?;
            if let Some((_, why)) = still.first() {
                // counted already: a message not deleted comes back and is counted again,
                // which only brings a look forward
                warn!(
                    failed = still.len(),
                    "DeleteMessageBatch, sent twice: {why}"
                );
            }
        }
        Ok(())
    }

    /// One DeleteMessageBatch of up to 10 handles: the handles it reports failed, with why.
    async fn delete_batch(
        &self,
        sqs: &aws_sdk_sqs::Client,
        handles: &[String],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let entries = handles
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
        Ok(failed_handles(handles, out.failed()))
    }
}

/// The handles of the failed entries (their ids are indices into `handles`), with the reason.
fn failed_handles(
    handles: &[String],
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
) -> Vec<(String, String)> {
    failed
        .iter()
        .filter_map(|f| {
            let h = handles.get(f.id().parse::<usize>().ok()?)?;
            Some((h.clone(), f.message().unwrap_or(f.code()).to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::LotState;
    use thaw_common::plan::KeyRange;
    use thaw_common::progress::LotItem;
    use thaw_common::restore_event::envelope;

    fn range(a: &str, b: &str) -> KeyRange {
        KeyRange {
            first: a.into(),
            last: b.into(),
        }
    }

    fn drain() -> Drain {
        // lot 0 holds "a b" .. "a c"; lot 1 "a+" .. "a+z"
        drain_of(LotMap::of_ranges(vec![
            (range("a b", "a c"), 0),
            (range("a+", "a+z"), 1),
        ]))
    }

    fn drain_of(map: LotMap) -> Drain {
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
            map,
            tally: Arc::new(Mutex::new(tally)),
            health: Arc::new(Mutex::new(Health::default())),
            wake: Arc::new(Notify::new()),
            warned_shared: AtomicBool::new(false),
        }
    }

    /// 2021-11-12T00:00:00Z: before the fixtures' expiry (2021-11-13).
    const NOW: i64 = 1_636_675_200;
    const EXPIRY: &str = "2021-11-13T00:00:00.000Z";

    fn message(body: &str) -> SqsMessage {
        SqsMessage::builder().body(body).receipt_handle("r").build()
    }

    /// The lots of an event of `key` in bucket `b`.
    fn lots_of_key(d: &Drain, key: &str) -> Vec<u32> {
        d.lots_of(&RestoreEvent {
            bucket: "b".into(),
            key: key.into(),
            version_id: None,
            expiry: None,
            source_class: None,
        })
        .expect("lookup")
    }

    #[test]
    fn messages_are_counted_by_lot_and_kind() {
        let d = drain();
        let of = |key: &str| lots_of_key(&d, key);
        assert_eq!(of("a b"), vec![0]);
        // as sent first: "a+b" is a key of lot 1
        assert_eq!(of("a+b"), vec![1]);
        // maps nowhere as sent, so URL-decoded: "a%20bz" is "a bz"
        assert_eq!(of("a%20bz"), vec![0]);
        assert!(of("zz").is_empty());

        for body in [
            envelope("b", "a b", None, EXPIRY),
            envelope("other-bucket", "a b", None, EXPIRY),
            envelope("b", "zz", None, EXPIRY),
            envelope("b", "a b", None, EXPIRY)
                .replace("Object Restore Completed", "Object Created"),
            "garbage".to_owned(),
        ] {
            d.take(&message(&body), NOW).expect("taken");
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
        d.take(&message(&envelope("b", "a b", None, EXPIRY)), NOW)
            .expect("taken");
        let woke = tokio::time::timeout(std::time::Duration::ZERO, d.wake.notified()).await;
        assert!(woke.is_err(), "one of two keys: not due yet");
        d.take(&message(&envelope("b", "a c", None, EXPIRY)), NOW)
            .expect("taken");
        // the permit is stored: the next wait returns at once (a broken wake fails, not hangs)
        tokio::time::timeout(std::time::Duration::from_secs(5), d.wake.notified())
            .await
            .expect("woken");
    }

    #[test]
    fn an_event_whose_copy_expired_is_stale_and_not_counted() {
        let d = drain();
        let after = NOW + 2 * 86_400;
        d.take(&message(&envelope("b", "a b", None, EXPIRY)), after)
            .expect("taken");
        assert_eq!(d.with_tally(|t| t.totals.counted), 0);
        assert_eq!(d.with_tally(|t| t.counted(0)), 0);
        assert_eq!(d.with_health(|h| h.stale), 1);
    }

    #[test]
    fn a_literal_plus_next_to_an_escape_maps_percent_decoded_first() {
        let d = drain_of(LotMap::of_ranges(vec![
            (range("a b", "a b"), 0),
            (range("a+b", "a+b"), 1),
        ]));
        let of = |key: &str| lots_of_key(&d, key);
        // "a+%62" is "a+b" (lot 1) percent-decoded, "a b" (lot 0) form-decoded
        assert_eq!(of("a+%62"), vec![1]);
        assert_eq!(of("a+b"), vec![1], "as sent");
        assert_eq!(of("a%20b"), vec![0]);
    }

    #[test]
    fn foreign_messages_outnumbering_counted_ones_look_shared_once() {
        let d = drain();
        for i in 0..9 {
            d.take(
                &message(&envelope("other", &format!("k{i}"), None, EXPIRY)),
                NOW,
            )
            .expect("taken");
        }
        assert!(
            !looks_shared(&d.with_tally(|t| t.totals)),
            "too few to tell"
        );
        d.take(&message(&envelope("b", "zz", None, EXPIRY)), NOW)
            .expect("taken");
        assert!(looks_shared(&d.with_tally(|t| t.totals)));
        assert!(d.warned_shared.load(Ordering::Relaxed), "warned");
        let t = Totals {
            counted: 20,
            foreign: 15,
            ..Totals::default()
        };
        assert!(!looks_shared(&t), "fewer foreign than counted");
    }

    #[test]
    fn failed_delete_entries_map_back_to_their_handles() {
        use aws_sdk_sqs::types::BatchResultErrorEntry;
        let handles: Vec<String> = ["h0", "h1", "h2"].map(String::from).to_vec();
        let entry = |id: &str| {
            BatchResultErrorEntry::builder()
                .id(id)
                .sender_fault(false)
                .code("InternalError")
                .build()
                .expect("entry")
        };
        let failed = failed_handles(&handles, &[entry("2"), entry("0"), entry("9")]);
        assert_eq!(
            failed,
            vec![
                ("h2".to_owned(), "InternalError".to_owned()),
                ("h0".to_owned(), "InternalError".to_owned())
            ]
        );
    }
}
