//! Claims: every launch (and `cancel`) bumps a lot's `attempt` with a conditional write, which
//! is what fences off any older worker still alive.
//!
//! A claim whose response is lost (a timeout, a 500 after DynamoDB applied the write) is retried
//! by the SDK, and the retry finds the attempt already bumped: by itself. So every claim writes a
//! token of its own (`claim`), asks for the item as it was when the condition failed
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), and counts the claim as won when that item
//! holds its own token at the attempt it claimed: never "claimed elsewhere" for its own write.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::*;

/// A token no other claim carries: this host and process, the time, and a counter.
fn claim_token() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}:{}:{nanos}:{}",
        crate::task::hostname(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// `update` (a `SET ...` expression, maybe with a `REMOVE` part) also setting `claim`.
fn with_claim(update: &str) -> String {
    match update.strip_prefix("SET ") {
        Some(rest) => format!("SET claim = :claim, {rest}"),
        None => format!("SET claim = :claim {update}"),
    }
}

/// Whether a lot item as it was when a claim's condition failed (`old`) shows that this very
/// claim (`token`, from attempt `expected`) had already been applied: a lost response, retried.
fn already_ours(old: Option<&HashMap<String, AttributeValue>>, expected: u64, token: &str) -> bool {
    old.is_some_and(|item| {
        get_n::<u64>(item, "attempt") == Some(expected + 1)
            && get_s(item, "claim").as_deref() == Some(token)
    })
}

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
    /// launch claim and cancel, so no two callers can act on the same attempt. The claim's own
    /// token goes with it, so a retry of a claim that was applied reads as won.
    async fn bump_attempt(
        &self,
        job: &str,
        lot: u32,
        expected: u64,
        update: &str,
        condition: &str,
        vals: Vec<(&str, AttributeValue)>,
    ) -> Result<bool> {
        let token = claim_token();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression(with_claim(update))
            .condition_expression(format!("attempt = :expected AND {condition}"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_values(":claim", s(token.as_str()))
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":next", n(expected + 1))
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":now", n(self.now()));
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => {
                let old = match &e {
                    SdkError::ServiceError(se) => match se.err() {
                        UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                        _ => None,
                    },
                    _ => None,
                };
                Ok(already_ours(old, expected, &token))
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(attempt: u64, claim: Option<&str>) -> HashMap<String, AttributeValue> {
        let mut m = HashMap::from([("attempt".to_owned(), n(attempt))]);
        if let Some(c) = claim {
            m.insert("claim".to_owned(), s(c));
        }
        m
    }

    #[test]
    fn a_retried_claim_that_was_applied_is_ours() {
        let mine = item(4, Some("me"));
        assert!(already_ours(Some(&mine), 3, "me"));
        // another coordinator's claim of the same attempt
        assert!(!already_ours(Some(&item(4, Some("them"))), 3, "me"));
        // our token, but the lot moved on past our attempt (a later claim of ours or a cancel)
        assert!(!already_ours(Some(&item(5, Some("me"))), 3, "me"));
        // the attempt did not move: the condition failed on the state
        assert!(!already_ours(Some(&item(3, Some("me"))), 3, "me"));
        assert!(!already_ours(Some(&item(4, None)), 3, "me"));
        assert!(!already_ours(None, 3, "me"));
    }

    #[test]
    fn tokens_differ_and_expressions_carry_them() {
        assert_ne!(claim_token(), claim_token());
        assert_eq!(
            with_claim("SET attempt = :next REMOVE task"),
            "SET claim = :claim, attempt = :next REMOVE task"
        );
    }
}
