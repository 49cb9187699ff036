//! Writing CloudWatch metric documents (EMF, see [`thaw_common::emf`]) on stderr: one every
//! `emf_interval` while the run goes (`running_tasks` = 1), one at its end (`running_tasks` = 0),
//! each with what changed since the previous one. Only with JSON log lines: there every stderr
//! line is one JSON object and the task's log driver ships it to CloudWatch Logs, which turns
//! these documents into metrics. The counters are the lot's own (the tracker's), so the
//! documents of a run add up to what that run did.

use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use thaw_common::checkpoint::Counters;
use thaw_common::emf::{document, Deltas};
use tokio::sync::Notify;

use crate::Ctx;

/// The documents of one run: what the previous one reported.
struct Emitter {
    job: String,
    lot: u32,
    reported: Counters,
}

impl Emitter {
    /// Writes the document of what changed since the last one (from the run's start for the
    /// first), as one line on stderr.
    fn emit(&mut self, now: Counters, running: bool) {
        let deltas = Deltas::between(&self.reported, &now);
        self.reported = now;
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let doc = document(&self.job, self.lot, timestamp_ms, &deltas, running);
        // One write of the whole line, under the lock the log lines take too: lines never mix.
        // A closed stderr loses metrics, never the run.
        let _ = writeln!(std::io::stderr().lock(), "{doc}");
    }
}

/// Writes a document every `emf_interval` until `finish` is notified, then the last one. Returns
/// at once, writing nothing, when the settings have no interval (human log lines).
pub async fn emf_loop(ctx: Arc<Ctx>, finish: Arc<Notify>) {
    let Some(every) = ctx.settings.emf_interval else {
        return;
    };
    let mut emitter = Emitter {
        job: ctx.spec.job_id.clone(),
        lot: ctx.lot,
        reported: ctx.tracker.snapshot().counters,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {
                emitter.emit(ctx.tracker.snapshot().counters, true);
            }
            _ = finish.notified() => break,
        }
    }
    emitter.emit(ctx.tracker.snapshot().counters, false);
}
