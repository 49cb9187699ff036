//! A run's writes to its lot: task, state, run start and checkpoints, each fenced by attempt.

use super::*;

impl ProgressTable {
    /// Records the task that runs `attempt` of a lot.
    pub async fn record_task(&self, job: &str, lot: u32, attempt: u64, task: &str) -> Result<()> {
        self.fenced_update(
            job,
            lot,
            attempt,
            "SET task = :task, updated_at = :now",
            vec![(":task", s(task))],
        )
        .await
    }

    /// Sets a lot's state (and optionally its last error) for `attempt`.
    pub async fn set_state(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        state: LotState,
        error: Option<&str>,
    ) -> Result<()> {
        let (expr, mut vals) = match error {
            Some(e) => (
                "SET #st = :st, last_error = :err, updated_at = :now",
                vec![(":err", s(e))],
            ),
            None => ("SET #st = :st, updated_at = :now", vec![]),
        };
        vals.push((":st", s(state.as_str())));
        self.fenced_update(job, lot, attempt, expr, vals).await
    }

    /// Marks `attempt` of a lot FAILED because its worker could not be started: the kind of
    /// failure (attribute `launch_failure`, removed by the next claim), `error` as its
    /// `last_error`, how many launches in a row failed (`launch_failures`, kept until a worker
    /// starts) and, for a passing failure, when to try again (`next_check_at`, on the
    /// coordinator's clock, which alone reads it).
    pub async fn set_launch_failed(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        failure: LaunchFailure,
        error: &str,
        in_a_row: u64,
    ) -> Result<()> {
        let mut expr = String::from("SET #st = :st, last_error = :err, launch_failure = :lf, launch_failures = :lfn, updated_at = :now");
        let mut vals = vec![
            (":st", s(LotState::Failed.as_str())),
            (":err", s(error)),
            (":lf", s(failure.as_str())),
            (":lfn", n(in_a_row)),
        ];
        if !failure.is_permanent() {
            expr.push_str(", next_check_at = :retry_at");
            vals.push((
                ":retry_at",
                n(self.now() + crate::task::launch_backoff(in_a_row)),
            ));
        }
        self.fenced_update(job, lot, attempt, &expr, vals).await
    }

    /// Marks the start of a worker run: RUNNING, a first heartbeat, and its task id when the
    /// worker knows it (on ECS the coordinator already recorded the task ARN).
    pub async fn start_run(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        task: Option<&str>,
    ) -> Result<()> {
        let mut vals = vec![(":st", s(LotState::Running.as_str()))];
        let expr = match task {
            Some(t) => {
                vals.push((":task", s(t)));
                "SET #st = :st, task = :task, heartbeat_at = :now, updated_at = :now, started_at = :now REMOVE next_check_at, launch_failures"
            }
            None => "SET #st = :st, heartbeat_at = :now, updated_at = :now, started_at = :now REMOVE next_check_at, launch_failures",
        };
        self.fenced_update(job, lot, attempt, expr, vals).await
    }

    /// Writes a full checkpoint: counters, bitmaps, failures, state and heartbeat (and, for a
    /// WAITING lot, when to look again).
    pub async fn write_checkpoint(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        cp: &LotCheckpoint,
        state: LotState,
        next_check_at: Option<i64>,
    ) -> Result<()> {
        let c = &cp.counters;
        let failures: HashMap<String, AttributeValue> = cp
            .failed
            .iter()
            .map(|(code, g)| {
                (
                    code.clone(),
                    AttributeValue::M(HashMap::from([
                        ("message".to_owned(), s(g.message.clone())),
                        (
                            "keys".to_owned(),
                            AttributeValue::B(Blob::new(g.keys.as_bytes())),
                        ),
                        ("count".to_owned(), n(g.keys.count())),
                    ])),
                )
            })
            .collect();
        let mut expr = String::from(
            "SET #st = :st, heartbeat_at = :now, updated_at = :now, restore_requested = :rr, restored = :rs, copied = :cp, skipped = :sk, failed = :fl, bytes_copied = :by, throttled = :thr, tier_fallbacks = :tfb, verified_etag = :vet, verified_checksum = :vck, not_comparable = :vnc, done_keys = :done, skipped_keys = :skipped, restore_keys = :rkeys, failures = :failures",
        );
        let mut vals = vec![
            (":st", s(state.as_str())),
            (":rr", n(c.restore_requested)),
            (":rs", n(c.restored)),
            (":cp", n(c.copied)),
            (":sk", n(c.skipped)),
            (":fl", n(c.failed)),
            (":by", n(c.bytes_copied)),
            (":thr", n(c.throttled)),
            (":tfb", n(c.tier_fallbacks)),
            (":vet", n(c.verified_etag)),
            (":vck", n(c.verified_checksum)),
            (":vnc", n(c.not_comparable)),
            (":done", AttributeValue::B(Blob::new(cp.done.as_bytes()))),
            (
                ":skipped",
                AttributeValue::B(Blob::new(cp.skipped.as_bytes())),
            ),
            (
                ":rkeys",
                AttributeValue::B(Blob::new(cp.restore_requested.as_bytes())),
            ),
            (":failures", AttributeValue::M(failures)),
        ];
        if !cp.requests.is_empty() {
            expr.push_str(", requests = :req");
            vals.push((
                ":req",
                AttributeValue::M(cp.requests.iter().map(|(k, v)| (k.clone(), n(v))).collect()),
            ));
        }
        if !cp.left_out.is_empty() {
            expr.push_str(", left_out = :lo");
            vals.push((
                ":lo",
                AttributeValue::M(
                    cp.left_out
                        .iter()
                        .map(|(r, keys)| {
                            (
                                r.code().to_owned(),
                                AttributeValue::B(Blob::new(keys.as_bytes())),
                            )
                        })
                        .collect(),
                ),
            ));
        }
        if let Some(t) = cp.restore_requested_at {
            expr.push_str(", restore_requested_at = :rat");
            vals.push((":rat", n(t)));
        }
        if let Some(t) = cp.restore_last_requested_at {
            expr.push_str(", restore_last_requested_at = :rlat");
            vals.push((":rlat", n(t)));
        }
        if let Some(t) = next_check_at {
            expr.push_str(", next_check_at = :next");
            vals.push((":next", n(t)));
        }
        self.fenced_update(job, lot, attempt, &expr, vals).await
    }
}
