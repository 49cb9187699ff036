//! The restore budget items: one per Region (key `#restore-budget:<region>`, lot `-2`, never a
//! job id: those take no `#`), holding the account's restore rate and one entry per live job
//! (see [`crate::budget`]). Each job writes only its own entry, a nested attribute updated in
//! place, so two jobs writing at once never lose each other's update.

use super::*;
use crate::budget::{Budget, JobDemand};

/// The lot number of a budget item (outside every job's lots and its job item).
pub const BUDGET_ITEM_LOT: i64 = -2;

/// The partition key of `region`'s budget item.
pub fn budget_key(region: &str) -> String {
    format!("#restore-budget:{region}")
}

fn entry_value(d: &JobDemand) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("rate".to_owned(), n(d.rate)),
        ("restoring".to_owned(), n(d.restoring)),
        ("at".to_owned(), n(d.at)),
    ]))
}

fn parse_entry(v: &AttributeValue) -> Option<JobDemand> {
    let m = v.as_m().ok()?;
    Some(JobDemand {
        rate: get_n(m, "rate")?,
        restoring: get_n(m, "restoring")?,
        at: get_n(m, "at")?,
    })
}

impl ProgressTable {
    /// Reads `region`'s budget (eventually consistent: half a read unit; an empty budget when
    /// the item does not exist). Entries that do not parse are left out.
    pub async fn get_budget(&self, region: &str) -> Result<Budget> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(&budget_key(region), BUDGET_ITEM_LOT)))
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(Budget::default());
        };
        let jobs = item
            .get("jobs")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .filter_map(|(j, v)| Some((j.clone(), parse_entry(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Budget {
            account_rate: get_n(item, "rate"),
            jobs,
        })
    }

    /// Sets the account's restore rate in `region` (`init --account-restore-rate`).
    pub async fn set_account_restore_rate(&self, region: &str, rate: f64) -> Result<()> {
        self.budget_req(region, &format!("SET #rate = :rate, {CREATE}"))
            .expression_attribute_names("#rate", "rate")
            .expression_attribute_values(":rate", n(rate))
            .send()
            .await
            .map_err(|e| self.map_err("UpdateItem", e))?;
        Ok(())
    }

    /// Writes the job's whole entry (its rate, restoring workers, and when), creating the
    /// budget item first when it is missing.
    pub async fn put_budget_entry(&self, region: &str, job: &str, entry: &JobDemand) -> Result<()> {
        self.budget_req(region, &format!("SET {CREATE}"))
            .send()
            .await
            .map_err(|e| self.map_err("UpdateItem", e))?;
        self.budget_req(region, "SET #jobs.#j = :entry")
            .condition_expression("attribute_exists(#jobs)")
            .expression_attribute_names("#j", job)
            .expression_attribute_values(":entry", entry_value(entry))
            .send()
            .await
            .map_err(|e| self.map_err("UpdateItem", e))?;
        Ok(())
    }

    /// Updates the job's restoring workers and its time; false (nothing written) when the job
    /// has no entry.
    pub async fn set_budget_restoring(
        &self,
        region: &str,
        job: &str,
        restoring: u32,
    ) -> Result<bool> {
        let res = self
            .budget_req(region, "SET #jobs.#j.#r = :r, #jobs.#j.#at = :now")
            .condition_expression("attribute_exists(#jobs.#j)")
            .expression_attribute_names("#j", job)
            .expression_attribute_names("#r", "restoring")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":r", n(restoring))
            .expression_attribute_values(":now", n(self.now()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// Removes `job`'s entry if it was last written at `at`; false (nothing removed) when it is
    /// gone or was refreshed meanwhile.
    pub async fn remove_budget_entry(&self, region: &str, job: &str, at: i64) -> Result<bool> {
        let res = self
            .budget_req(region, "REMOVE #jobs.#j")
            .condition_expression("#jobs.#j.#at = :at")
            .expression_attribute_names("#j", job)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    /// An update of `region`'s budget item with `expr` (`#jobs` names the entries map; with
    /// [`CREATE`] in it, `:empty` and `:kind` are bound).
    fn budget_req(
        &self,
        region: &str,
        expr: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(&budget_key(region), BUDGET_ITEM_LOT)))
            .update_expression(expr)
            .expression_attribute_names("#jobs", "jobs");
        if expr.contains(CREATE) {
            req = req
                .expression_attribute_names("#kind", "kind")
                .expression_attribute_values(":kind", s("BUDGET"))
                .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()));
        }
        req
    }
}

/// Creates the budget item's entries map when missing, never resetting it.
const CREATE: &str = "#jobs = if_not_exists(#jobs, :empty), #kind = :kind";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let d = JobDemand {
            rate: 12.5,
            restoring: 3,
            at: 1_700_000_000,
        };
        assert_eq!(parse_entry(&entry_value(&d)), Some(d));
        assert_eq!(parse_entry(&s("x")), None);
        assert!(budget_key("eu-west-1").starts_with('#'));
    }
}
