//! Writes the lot's `uploads` map (pending deletes of `--delete-source-version`, multipart
//! uploads being created or open) in groups: every key that needs a record waits for the next
//! group write, and one UpdateItem carries the records of all the keys in flight.
//!
//! Why: each write of the map rewrites the whole lot item, ~6 write units at 5,000 keys, and the
//! item is one DynamoDB partition's worth of writes (1,000 units/s). One UpdateItem per record
//! (two per `--delete-source-version` key) at 64 keys in flight asked for several thousand units
//! a second of that one item; throttled, a record failed its key. Grouped, the worker writes the
//! map at most once per [`RECORD_GAP`] (plus one write at once when the map was quiet), whatever
//! the number of keys in flight.
//!
//! The order a key sees is unchanged: its record is in the table before the step it covers
//! starts (the caller awaits the write), so recovery after a crash reads the same map as
//! before.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use thaw_common::progress::{ProgressError, ProgressTable};
use thaw_common::upload_record::{UploadChange, MAX_UPLOAD_CHANGES};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// The least time between two group writes of one lot's map: at most 10 writes a second, ~60
/// write units a second of a 5,000-key lot item.
pub const RECORD_GAP: Duration = Duration::from_millis(100);

/// The outcome of a group write, shared by every change it carried.
pub type WriteResult = Result<(), Arc<ProgressError>>;

/// What a change's group write did: its result, and whether this change is the one that counts
/// the write (the first of its group), so request counters count UpdateItems, not changes.
#[derive(Debug, Clone)]
pub struct Written {
    /// The group write's result.
    pub result: WriteResult,
    /// True for exactly one change of each group write.
    pub counts_the_write: bool,
}

/// Sends one group of changes (one UpdateItem in a run; a recorder in the tests).
pub type Sink = Arc<dyn Fn(Vec<UploadChange>) -> BoxFuture<'static, WriteResult> + Send + Sync>;

/// The group writer of one run's `uploads` map.
pub struct Records {
    inner: Arc<Inner>,
}

struct Inner {
    sink: Sink,
    gap: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: Vec<(UploadChange, oneshot::Sender<Written>)>,
    /// A flush loop is running (it takes everything queued before it stops).
    flushing: bool,
    /// When the last group was sent.
    last: Option<Instant>,
}

impl Records {
    /// Group writes of the map of `lot`, fenced on `attempt`.
    pub fn for_lot(table: ProgressTable, job: String, lot: u32, attempt: u64) -> Self {
        let sink: Sink = Arc::new(move |changes: Vec<UploadChange>| {
            let (table, job) = (table.clone(), job.clone());
            Box::pin(async move {
                table
                    .put_upload_changes(&job, lot, attempt, &changes)
                    .await
                    .map_err(Arc::new)
            })
        });
        Self::with_sink(sink, RECORD_GAP)
    }

    /// Group writes through `sink`, at least `gap` apart.
    pub fn with_sink(sink: Sink, gap: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                sink,
                gap,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Queues `change` and waits for the group write that carries it.
    pub async fn write(&self, change: UploadChange) -> Written {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = lock(&self.inner.state);
            state.queue.push((change, tx));
            !std::mem::replace(&mut state.flushing, true)
        };
        if start {
            tokio::spawn(flush_loop(self.inner.clone()));
        }
        rx.await.unwrap_or_else(|_| Written {
            result: Err(Arc::new(ProgressError::Aws(thaw_common::aws::AwsError {
                operation: "UpdateItem",
                code: "RecordNotWritten".into(),
                message: "the group write of the uploads map stopped before this record".into(),
                status: None,
            }))),
            counts_the_write: false,
        })
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves a queue that is still consistent.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends what is queued, one group at a time and at least `gap` apart, until the queue is empty.
async fn flush_loop(inner: Arc<Inner>) {
    loop {
        let last = lock(&inner.state).last;
        if let Some(last) = last {
            tokio::time::sleep_until(last + inner.gap).await;
        }
        let group: Vec<_> = {
            let mut state = lock(&inner.state);
            if state.queue.is_empty() {
                state.flushing = false;
                return;
            }
            state.last = Some(Instant::now());
            let n = state.queue.len().min(MAX_UPLOAD_CHANGES);
            state.queue.drain(..n).collect()
        };
        let (changes, waiters): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let result = (inner.sink)(changes).await;
        for (i, w) in waiters.into_iter().enumerate() {
            let _ = w.send(Written {
                result: result.clone(),
                counts_the_write: i == 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use thaw_common::upload_record::{UploadEntry, UploadSlot};

    use super::*;

    /// A sink that keeps every group it is sent; each write takes 20 ms.
    fn recording() -> (Sink, Arc<Mutex<Vec<Vec<UploadChange>>>>) {
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = groups.clone();
        let sink: Sink = Arc::new(move |changes| {
            let seen = seen.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                seen.lock().expect("lock").push(changes);
                Ok(())
            })
        });
        (sink, groups)
    }

    fn put(i: usize) -> UploadChange {
        UploadChange::Put(UploadEntry::pending_delete(
            i,
            1_700_000_000,
            format!("v{i}"),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn keys_in_flight_share_a_write() {
        let (sink, groups) = recording();
        let records = Arc::new(Records::with_sink(sink, RECORD_GAP));
        // 64 keys ask for their record at once, then for its removal.
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let r = records.clone();
                tokio::spawn(async move {
                    r.write(put(i)).await.result.expect("recorded");
                    r.write(UploadChange::Remove(UploadSlot::PendingDelete(i)))
                        .await
                        .result
                        .expect("forgotten");
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        let groups = groups.lock().expect("lock");
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        // 128 changes (one UpdateItem each before): the records share a group (or two, when the
        // first is sent before the others are queued), the removals the group after.
        assert!(sizes.len() <= 3, "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 128);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_is_capped_and_the_rest_follows() {
        let (sink, groups) = recording();
        let records = Arc::new(Records::with_sink(sink, RECORD_GAP));
        let tasks: Vec<_> = (0..250)
            .map(|i| {
                let r = records.clone();
                tokio::spawn(async move { r.write(put(i)).await.result })
            })
            .collect();
        for t in tasks {
            t.await.expect("task").expect("recorded");
        }
        let sizes: Vec<usize> = groups.lock().expect("lock").iter().map(Vec::len).collect();
        assert!(sizes.iter().all(|&n| n <= MAX_UPLOAD_CHANGES), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 250);
        assert!(sizes.len() <= 4, "{sizes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_write_fails_every_change_it_carried_and_the_next_one_goes() {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let sink: Sink = Arc::new(move |_changes| {
            let first = n.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                if first {
                    Err(Arc::new(ProgressError::Fenced {
                        job: "j".into(),
                        lot: 0,
                        attempt: 1,
                    }))
                } else {
                    Ok(())
                }
            })
        });
        let records = Records::with_sink(sink, RECORD_GAP);
        let written = records.write(put(1)).await;
        assert!(written.counts_the_write);
        let err = written.result.expect_err("fenced");
        assert!(matches!(*err, ProgressError::Fenced { .. }), "{err}");
        records
            .write(put(2))
            .await
            .result
            .expect("the next group is written");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
