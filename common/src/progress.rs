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
use crate::upload_record::{UploadEntry, UploadSlot};

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

/// One lot's row, as read back from the table.
#[derive(Debug, Clone, PartialEq)]
pub struct LotItem {
    /// Lot number.
    pub lot: u32,
    /// Current state.
    pub state: LotState,
    /// Run number; bumped by every launch.
    pub attempt: u64,
    /// Counters of the latest checkpoint.
    pub counters: Counters,
    /// ECS task ARN or `local:<host>:<pid>` of the latest run.
    pub task: Option<String>,
    /// Last sign of life from the worker (epoch seconds).
    pub heartbeat_at: Option<i64>,
    /// Last write (epoch seconds).
    pub updated_at: Option<i64>,
    /// When the lot is WAITING: the earliest time worth relaunching it (epoch seconds).
    pub next_check_at: Option<i64>,
    /// Why the lot last failed or could not launch.
    pub last_error: Option<String>,
    /// Set when the lot is FAILED because its worker could not be started (not because of its
    /// keys).
    pub launch_failure: Option<LaunchFailure>,
    /// Location of the lot manifest.
    pub manifest: String,
    /// Finished keys, restore requests and failures.
    pub checkpoint: LotCheckpoint,
    /// Multipart uploads the latest run had open, by manifest position (aborted on resume), and
    /// source versions it was about to delete, as `<position>:delete` (read them with
    /// [`crate::upload_record::entries`]).
    pub uploads: BTreeMap<String, String>,
    /// When the latest run started processing (epoch seconds).
    pub started_at: Option<i64>,
    /// When the latest attempt was launched (epoch seconds).
    pub launched_at: Option<i64>,
    /// Relaunches after a failure or a lost worker (`follow --max-attempts` counts these).
    pub retries: u64,
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

/// The item's launch failure: its `launch_failure` attribute, or for items written before it
/// existed, the prefix of its `last_error`.
fn launch_failure(item: &HashMap<String, AttributeValue>) -> Option<LaunchFailure> {
    let error = get_s(item, "last_error");
    LaunchFailure::read(get_s(item, "launch_failure").as_deref(), error.as_deref())
}

impl LotItem {
    fn parse(job: &str, item: &HashMap<String, AttributeValue>) -> Result<Self> {
        let lot: i64 = get_n(item, SK).unwrap_or(JOB_ITEM_LOT);
        let bad = |what: &str| ProgressError::Malformed {
            job: job.to_owned(),
            lot,
            what: what.to_owned(),
        };
        let state = get_s(item, "state")
            .ok_or_else(|| bad("no state"))?
            .parse::<LotState>()
            .map_err(|e| bad(&e))?;
        let keys_total: u64 = get_n(item, "keys_total").ok_or_else(|| bad("no keys_total"))?;
        if keys_total > crate::plan::MAX_LOT_SIZE {
            return Err(bad(&format!(
                "keys_total {keys_total} is over the lot limit"
            )));
        }
        let len = keys_total as usize;
        let counters = Counters {
            keys_total,
            restore_requested: get_n(item, "restore_requested").unwrap_or(0),
            restored: get_n(item, "restored").unwrap_or(0),
            copied: get_n(item, "copied").unwrap_or(0),
            skipped: get_n(item, "skipped").unwrap_or(0),
            failed: get_n(item, "failed").unwrap_or(0),
            bytes_copied: get_n(item, "bytes_copied").unwrap_or(0),
        };
        let mut failed = BTreeMap::new();
        if let Some(AttributeValue::M(groups)) = item.get("failures") {
            for (code, g) in groups {
                if let AttributeValue::M(g) = g {
                    failed.insert(
                        code.clone(),
                        FailedGroup {
                            message: get_s(g, "message").unwrap_or_default(),
                            keys: Bitmap::from_bytes(get_b(g, "keys"), len),
                        },
                    );
                }
            }
        }
        let uploads = match item.get("uploads") {
            Some(AttributeValue::M(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                .collect(),
            _ => BTreeMap::new(),
        };
        Ok(Self {
            lot: u32::try_from(lot).map_err(|_| bad("lot out of range"))?,
            state,
            attempt: get_n(item, "attempt").unwrap_or(0),
            counters,
            task: get_s(item, "task"),
            heartbeat_at: get_n(item, "heartbeat_at"),
            updated_at: get_n(item, "updated_at"),
            next_check_at: get_n(item, "next_check_at"),
            last_error: get_s(item, "last_error"),
            launch_failure: launch_failure(item),
            manifest: get_s(item, "manifest").unwrap_or_default(),
            checkpoint: LotCheckpoint {
                done: Bitmap::from_bytes(get_b(item, "done_keys"), len),
                skipped: Bitmap::from_bytes(get_b(item, "skipped_keys"), len),
                restore_requested: Bitmap::from_bytes(get_b(item, "restore_keys"), len),
                failed,
                counters,
                restore_requested_at: get_n(item, "restore_requested_at"),
                requests: match item.get("requests") {
                    Some(AttributeValue::M(m)) => m
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                        .collect(),
                    _ => BTreeMap::new(),
                },
            },
            started_at: get_n(item, "started_at"),
            launched_at: get_n(item, "launched_at"),
            retries: get_n(item, "retries").unwrap_or(0),
            uploads,
        })
    }
}

/// The job's own row: a summary for `coordinator jobs` and the full spec for everyone else.
#[derive(Debug, Clone, PartialEq)]
pub struct JobItem {
    /// Job id.
    pub job_id: String,
    /// The job spec as JSON (the same document as `job.json`).
    pub spec_json: String,
    /// Launcher that started the job (`ecs` or `local`).
    pub launcher: String,
    /// The launcher's settings as JSON, so `retry` can launch the same way.
    pub launch_json: String,
}

/// A job as `coordinator jobs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    /// Job id.
    pub job_id: String,
    /// When the job was recorded (epoch seconds).
    pub created_at: Option<i64>,
    /// The job spec as JSON.
    pub spec_json: String,
    /// `ecs` or `local`.
    pub launcher: String,
}

/// Access to the progress table.
#[derive(Debug, Clone)]
pub struct ProgressTable {
    client: Client,
    table: String,
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
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.table
    }

    /// Fails with [`ProgressError::NoTable`] unless the table exists.
    pub async fn check_exists(&self) -> Result<()> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "ResourceNotFoundException") => {
                Err(ProgressError::NoTable(self.table.clone()))
            }
            Err(e) => Err(AwsError::from_sdk("DescribeTable", &e).into()),
        }
    }

    /// Creates the table (on-demand billing) unless it exists; returns true when it was created.
    pub async fn create_if_missing(&self) -> Result<bool> {
        match self.check_exists().await {
            Ok(()) => return Ok(false),
            Err(ProgressError::NoTable(_)) => {}
            Err(e) => return Err(e),
        }
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let ks = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        let built = (|| {
            Ok::<_, aws_sdk_dynamodb::error::BuildError>((
                attr(PK, ScalarAttributeType::S)?,
                attr(SK, ScalarAttributeType::N)?,
                ks(PK, KeyType::Hash)?,
                ks(SK, KeyType::Range)?,
            ))
        })()
        .map_err(|e| AwsError {
            operation: "CreateTable",
            code: "BuildError".into(),
            message: e.to_string(),
            status: None,
        })?;
        let res = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(built.0)
            .attribute_definitions(built.1)
            .key_schema(built.2)
            .key_schema(built.3)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if is_code(&e, "ResourceInUseException") => return Ok(false),
            Err(e) => return Err(AwsError::from_sdk("CreateTable", &e).into()),
        }
        // Wait for ACTIVE (seconds on AWS, at once on emulators).
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeTable", &e))?;
            let active = d
                .table()
                .and_then(|t| t.table_status())
                .map(|st| st.as_str() == "ACTIVE")
                .unwrap_or(false);
            if active {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        Ok(true)
    }

    /// Reads the job item.
    pub async fn get_job(&self, job: &str) -> Result<Option<JobItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(job, JOB_ITEM_LOT)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        Ok(out.item().map(|item| JobItem {
            job_id: job.to_owned(),
            spec_json: get_s(item, "spec").unwrap_or_default(),
            launcher: get_s(item, "launcher").unwrap_or_default(),
            launch_json: get_s(item, "launch").unwrap_or_default(),
        }))
    }

    /// Writes the job item unless it exists; returns false when it already did.
    pub async fn put_job_if_absent(
        &self,
        job: &JobItem,
        summary: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut item = key(&job.job_id, JOB_ITEM_LOT);
        item.insert("kind".into(), s("JOB"));
        item.insert("spec".into(), s(&job.spec_json));
        item.insert("launcher".into(), s(&job.launcher));
        item.insert("launch".into(), s(&job.launch_json));
        item.insert("created_at".into(), n(now_secs()));
        for (k, v) in summary {
            item.insert((*k).to_owned(), v.clone());
        }
        self.put_if_absent(item).await
    }

    /// Writes a PENDING lot item unless it exists (a re-launch never resets progress).
    pub async fn put_lot_if_absent(
        &self,
        job: &str,
        lot: u32,
        keys_total: u64,
        manifest: &str,
    ) -> Result<bool> {
        let mut item = key(job, i64::from(lot));
        item.insert("kind".into(), s("LOT"));
        item.insert("state".into(), s(LotState::Pending.as_str()));
        item.insert("attempt".into(), n(0));
        item.insert("keys_total".into(), n(keys_total));
        for c in [
            "restore_requested",
            "restored",
            "copied",
            "skipped",
            "failed",
            "bytes_copied",
        ] {
            item.insert(c.into(), n(0));
        }
        item.insert("manifest".into(), s(manifest));
        item.insert("uploads".into(), AttributeValue::M(HashMap::new()));
        item.insert("updated_at".into(), n(now_secs()));
        self.put_if_absent(item).await
    }

    async fn put_if_absent(&self, item: HashMap<String, AttributeValue>) -> Result<bool> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_code(&e, "ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.map_err("PutItem", e)),
        }
    }

    /// Reads one lot.
    pub async fn get_lot(&self, job: &str, lot: u32) -> Result<Option<LotItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(job, i64::from(lot))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.map_err("GetItem", e))?;
        out.item().map(|i| LotItem::parse(job, i)).transpose()
    }

    /// Reads every lot of a job, in lot order.
    pub async fn lots(&self, job: &str) -> Result<Vec<LotItem>> {
        let mut lots = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :j AND #sk >= :zero")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":j", s(job))
                .expression_attribute_values(":zero", n(0))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.map_err("Query", e))?;
            for item in out.items() {
                lots.push(LotItem::parse(job, item)?);
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        lots.sort_by_key(|l| l.lot);
        Ok(lots)
    }

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

    /// Every job item in the table (a Scan that keeps only `lot = -1` items), newest first.
    pub async fn jobs(&self) -> Result<Vec<JobSummary>> {
        let mut jobs = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#sk = :job")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":job", n(JOB_ITEM_LOT))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.map_err("Scan", e))?;
            for item in out.items() {
                jobs.push(JobSummary {
                    job_id: get_s(item, PK).unwrap_or_default(),
                    created_at: get_n(item, "created_at"),
                    spec_json: get_s(item, "spec").unwrap_or_default(),
                    launcher: get_s(item, "launcher").unwrap_or_default(),
                });
            }
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        jobs.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(b.job_id.cmp(&a.job_id))
        });
        Ok(jobs)
    }

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
    /// failure (attribute `launch_failure`, removed by the next claim) and `error` as its
    /// `last_error`.
    pub async fn set_launch_failed(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        failure: LaunchFailure,
        error: &str,
    ) -> Result<()> {
        let expr = "SET #st = :st, last_error = :err, launch_failure = :lf, updated_at = :now";
        let vals = vec![
            (":st", s(LotState::Failed.as_str())),
            (":err", s(error)),
            (":lf", s(failure.as_str())),
        ];
        self.fenced_update(job, lot, attempt, expr, vals).await
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
                "SET #st = :st, task = :task, heartbeat_at = :now, updated_at = :now, started_at = :now REMOVE next_check_at"
            }
            None => "SET #st = :st, heartbeat_at = :now, updated_at = :now, started_at = :now REMOVE next_check_at",
        };
        self.fenced_update(job, lot, attempt, expr, vals).await
    }

    /// Writes one entry of the lot's `uploads` map (an upload being created or open, or a source
    /// version to delete after its copy), so a run that dies leaves a trace the next run
    /// finishes or cleans up from.
    pub async fn put_upload_entry(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        entry: &UploadEntry,
    ) -> Result<()> {
        self.set_in_uploads(job, lot, attempt, &entry.name(), &entry.value())
            .await
    }

    /// Removes one entry of the lot's `uploads` map (the upload completed or was aborted, the
    /// source version was deleted, or no copy was made).
    pub async fn remove_upload_entry(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        slot: UploadSlot,
    ) -> Result<()> {
        self.remove_from_uploads(job, lot, attempt, &slot.name())
            .await
    }

    async fn set_in_uploads(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        name: &str,
        value: &str,
    ) -> Result<()> {
        self.fenced_update_named(
            job,
            lot,
            attempt,
            "SET uploads.#i = :v, updated_at = :now",
            vec![(":v", s(value))],
            &[("#i", name.to_owned())],
        )
        .await
    }

    async fn remove_from_uploads(
        &self,
        job: &str,
        lot: u32,
        attempt: u64,
        name: &str,
    ) -> Result<()> {
        self.fenced_update_named(
            job,
            lot,
            attempt,
            "REMOVE uploads.#i SET updated_at = :now",
            vec![],
            &[("#i", name.to_owned())],
        )
        .await
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
            "SET #st = :st, heartbeat_at = :now, updated_at = :now, restore_requested = :rr, restored = :rs, copied = :cp, skipped = :sk, failed = :fl, bytes_copied = :by, done_keys = :done, skipped_keys = :skipped, restore_keys = :rkeys, failures = :failures",
        );
        let mut vals = vec![
            (":st", s(state.as_str())),
            (":rr", n(c.restore_requested)),
            (":rs", n(c.restored)),
            (":cp", n(c.copied)),
            (":sk", n(c.skipped)),
            (":fl", n(c.failed)),
            (":by", n(c.bytes_copied)),
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
        if let Some(t) = cp.restore_requested_at {
            expr.push_str(", restore_requested_at = :rat");
            vals.push((":rat", n(t)));
        }
        if let Some(t) = next_check_at {
            expr.push_str(", next_check_at = :next");
            vals.push((":next", n(t)));
        }
        self.fenced_update(job, lot, attempt, &expr, vals).await
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
            .expression_attribute_values(":now", n(now_secs()));
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

#[cfg(test)]
mod launch_failure_tests {
    use super::*;

    fn failed_item(extra: &[(&str, &str)]) -> HashMap<String, AttributeValue> {
        let mut item = key("j", 0);
        item.insert("state".into(), s(LotState::Failed.as_str()));
        item.insert("keys_total".into(), n(1));
        for (k, v) in extra {
            item.insert((*k).to_owned(), s(*v));
        }
        item
    }

    #[test]
    fn launch_failures_read_back_old_and_new() {
        let read = |extra: &[(&str, &str)]| {
            LotItem::parse("j", &failed_item(extra))
                .expect("item")
                .launch_failure
        };
        let new = [
            ("launch_failure", "run_task"),
            ("last_error", "launch failed: RunTask: RESOURCE:MEMORY"),
        ];
        assert_eq!(read(&new), Some(LaunchFailure::RunTask));
        // written by an older thaw: only the message says it
        let old = [("last_error", "launch failed: RunTask: RESOURCE:MEMORY")];
        assert_eq!(read(&old), Some(LaunchFailure::Unrecorded));
        assert_eq!(read(&[("last_error", "NoSuchKey: gone")]), None);
        assert_eq!(read(&[]), None);
    }
}
