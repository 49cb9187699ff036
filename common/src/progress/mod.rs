//! The DynamoDB progress table: one item per lot plus one job item, keyed by `job_id` (string)
//! and `lot` (number; the job item uses lot `-1`).
//!
//! Every write a worker makes is conditional on its `attempt`, so a stale worker (an old task that
//! is still alive) can never overwrite a newer run's progress: it gets [`ProgressError::Fenced`] and
//! stops. The schema is documented attribute by attribute in the README.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use crate::aws::AwsError;
use crate::bitmap::Bitmap;
use crate::checkpoint::{Counters, FailedGroup, LotCheckpoint, LotState};
use crate::task::LaunchFailure;

mod budget;
mod claims;
mod events;
mod item;
mod jobs;
mod lots;
mod ready;
mod runs;
mod schema;
mod uploads;

pub use budget::{budget_key, BUDGET_ITEM_LOT};
pub use events::EventsCounted;
pub use item::{JobItem, JobSummary, LotItem};
pub use ready::{LookBy, LookRequests, ReadyLook};

/// The lot number of a job's own item.
pub const JOB_ITEM_LOT: i64 = -1;
/// Partition key attribute.
pub const PK: &str = "job_id";
/// Sort key attribute.
pub const SK: &str = "lot";

/// Why a progress-table call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// The table does not exist.
    #[error("DynamoDB table '{0}' does not exist (create it with `coordinator init --table {0}`)")]
    NoTable(String),
    /// A newer attempt owns the lot (or the item changed under us).
    #[error("lot {lot} of job {job} belongs to a newer attempt than {attempt}")]
    Fenced {
        /// Job id.
        job: String,
        /// Lot number.
        lot: u32,
        /// The attempt that was refused.
        attempt: u64,
    },
    /// Any other AWS error.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// An item holds something thaw did not write.
    #[error("malformed item for job {job} lot {lot}: {what}")]
    Malformed {
        /// Job id.
        job: String,
        /// Lot number.
        lot: i64,
        /// What was wrong.
        what: String,
    },
}

type Result<T> = std::result::Result<T, ProgressError>;

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn key(job: &str, lot: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), s(job)), (SK.to_owned(), n(lot))])
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}
fn get_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}
fn get_b<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> &'a [u8] {
    item.get(name)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
        .unwrap_or(&[])
}

/// Access to the progress table.
#[derive(Debug, Clone)]
pub struct ProgressTable {
    client: Client,
    table: String,
    /// Seconds added to this machine's clock for the times it writes (a drill's skewed clock).
    clock_skew: i64,
}

fn is_code<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    e: &SdkError<E, R>,
    code: &str,
) -> bool {
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some(code))
}

impl ProgressTable {
    /// A handle on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            clock_skew: 0,
        }
    }

    /// The same table, writing its times on a clock `secs` ahead of this machine's (behind when
    /// negative): how drills give a worker a skewed clock.
    pub fn with_clock_skew(mut self, secs: i64) -> Self {
        self.clock_skew = secs;
        self
    }

    /// Now, on this handle's clock (epoch seconds).
    pub fn now(&self) -> i64 {
        now_secs() + self.clock_skew
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.table
    }

    async fn fenced_update(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        expr: &str,
        vals: Vec<(&str, AttributeValue)>,
    ) -> Result<()> {
        self.fenced_update_named(job, lot, attempt, expr, vals, &[])
            .await
    }

    /// An update of `attempt`'s lot, refused (as [`ProgressError::Fenced`]) once a newer attempt
    /// owns it; `#st` names `state`, `:now` is the current time, `names` adds other `#` names.
    async fn fenced_update_named(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        expr: &str,
        vals: Vec<(&str, AttributeValue)>,
        names: &[(&str, String)],
    ) -> Result<()> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .update_expression(expr)
            .condition_expression("attempt = :attempt")
            .expression_attribute_values(":attempt", n(attempt))
            .expression_attribute_values(":now", n(self.now()));
        if expr.contains("#st") {
            req = req.expression_attribute_names("#st", "state");
        }
        for (k, v) in names {
            req = req.expression_attribute_names(*k, v);
        }
        for (k, v) in vals {
            req = req.expression_attribute_values(k, v);
        }
        let res = req.send().await;
        self.fence_result(res.map(|_| ()), job, lot, attempt)
    }

    fn fence_result<E, R>(
        &self,
        res: std::result::Result<(), SdkError<E, R>>,
        job: &str,
        lot: u32,
        attempt: u64,
    ) -> Result<()>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        match res {
            Ok(()) => Ok(()),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => {
                Err(ProgressError::Fenced {
                    job: job.to_owned(),
                    lot,
                    attempt,
                })
            }
            Err(e) => Err(self.map_err("UpdateItem", e)),
        }
    }

    fn map_err<E, R>(&self, op: &'static str, e: SdkError<E, R>) -> ProgressError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        if is_code(&e, "ResourceNotFoundException") {
            ProgressError::NoTable(self.table.clone())
        } else {
            AwsError::from_sdk(op, &e).into()
        }
    }
}
