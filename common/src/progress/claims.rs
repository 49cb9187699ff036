//! Claims: every launch (and `cancel`) bumps a lot's `attempt` with a conditional write, which
//! is what fences off any older worker still alive.

use super::*;

impl ProgressTable {
    /// Claims the next attempt of a lot for a launch: `attempt` goes from `expected` to
    /// `expected + 1` and the state to LAUNCHED, only if the lot is still at `expected` in state
    /// `seen` (nobody else claimed it, its worker did not finish meanwhile). Returns false when
    /// it moved on.
    pub async fn claim_launch(
        &self,
        job: &str,
        lot: u32,
        expected: u64,
        seen: LotState,
    ) -> Result<bool> {
        self.claim(job, lot, expected, seen, false).await
    }

    /// Like [`Self::claim_launch`], for a relaunch after a failure or a lost worker: also counts
    /// one more retry on the lot, in the same conditional write.
    pub async fn claim_retry(
        &self,
        job: &str,
        lot: u32,
        expected: u64,
        seen: LotState,
    ) -> Result<bool> {
        self.claim(job, lot, expected, seen, true).await
    }

    async fn claim(
        &self,
        job: &str,
        lot: u32,
        expected: u64,
        seen: LotState,
        count_retry: bool,
    ) -> Result<bool> {
        let expr = if count_retry {
            "SET attempt = :next, #st = :launched, updated_at = :now, launched_at = :now, retries = if_not_exists(retries, :zero) + :one REMOVE task, next_check_at, last_error, launch_failure"
        } else {
            "SET attempt = :next, #st = :launched, updated_at = :now, launched_at = :now REMOVE task, next_check_at, last_error, launch_failure"
        };
        let mut vals = vec![
            (":seen", s(seen.as_str())),
            (":launched", s(LotState::Launched.as_str())),
        ];
        if count_retry {
            vals.push((":zero", n(0)));
            vals.push((":one", n(1)));
        }
        // Only if nothing moved since the caller looked: same attempt and same state (a worker
        // that just finished, or another launcher, wins).
        self.bump_attempt(job, lot, expected, expr, "#st = :seen", vals)
            .await
    }

    /// Cancels a lot: bumps its attempt (so a worker still running is fenced off and stops) and
    /// sets CANCELLED, only if the lot is still at `expected` and not SUCCEEDED. Returns false
    /// when it moved on.
    pub async fn cancel_lot(&self, job: &str, lot: u32, expected: u64) -> Result<bool> {
        self.bump_attempt(
            job,
            lot,
            expected,
            "SET attempt = :next, #st = :cancelled, updated_at = :now",
            "#st <> :succeeded",
            vec![
                (":succeeded", s(LotState::Succeeded.as_str())),
                (":cancelled", s(LotState::Cancelled.as_str())),
            ],
        )
        .await
    }

    /// Moves a lot from attempt `expected` to `expected + 1` with `update` (which may use
    /// `:next`, `:now` and `#st` for `state`), only if the lot is still at `expected` and
    /// `condition` holds. Returns false when the lot moved on: the one mechanism behind every
    /// launch claim and cancel, so no two callers can act on the same attempt.
    async fn bump_attempt(
        &self,
        job: &str,
        lot: u32,
        expected: u64,
        update: &str,
        condition: &str,
        vals: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression(update)
            .condition_expression(format!("attempt = :expected AND {condition}"))
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":next", n(expected + 1))
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":now", n(now_secs()));
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }
}
