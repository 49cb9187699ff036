//! What the table's items read back as: a lot's row, the job's row, a job summary.

use super::*;

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
    /// Launches in a row that could not start a worker (reset when a worker starts running).
    pub launch_failures: u64,
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
    /// How the lot's keys lie in the bucket's key order (listing or HEAD to look at restores).
    pub key_order: crate::plan::KeyOrder,
    /// While WAITING: what `follow`'s last look at its restores saw.
    pub ready_look: Option<super::ReadyLook>,
    /// A sorted lot's first and last key (lots recorded before ranges were: none).
    pub key_range: Option<crate::plan::KeyRange>,
    /// While WAITING: the restore-completed events `follow --events` counted for the run.
    pub events: Option<super::EventsCounted>,
}

/// The item's launch failure: its `launch_failure` attribute, or for items written before it
/// existed, the prefix of its `last_error`.
fn launch_failure(item: &HashMap<String, AttributeValue>) -> Option<LaunchFailure> {
    let error = get_s(item, "last_error");
    LaunchFailure::read(get_s(item, "launch_failure").as_deref(), error.as_deref())
}

impl LotItem {
    /// Lot `lot` of `keys` keys as `launch` records it: PENDING, never run, no progress.
    pub fn pending(lot: u32, keys: usize) -> Self {
        let checkpoint = crate::checkpoint::LotCheckpoint::new(keys);
        LotItem {
            lot,
            state: LotState::Pending,
            attempt: 0,
            counters: checkpoint.counters,
            task: None,
            heartbeat_at: None,
            updated_at: None,
            next_check_at: None,
            last_error: None,
            launch_failure: None,
            launch_failures: 0,
            manifest: String::new(),
            checkpoint,
            uploads: Default::default(),
            started_at: None,
            launched_at: None,
            retries: 0,
            key_order: Default::default(),
            ready_look: None,
            key_range: None,
            events: None,
        }
    }

    pub(super) fn parse(job: &str, item: &HashMap<String, AttributeValue>) -> Result<Self> {
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
        let counters = counters(item, keys_total);
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
            launch_failures: get_n(item, "launch_failures").unwrap_or(0),
            manifest: get_s(item, "manifest").unwrap_or_default(),
            checkpoint: LotCheckpoint {
                done: Bitmap::from_bytes(get_b(item, "done_keys"), len),
                skipped: Bitmap::from_bytes(get_b(item, "skipped_keys"), len),
                restore_requested: Bitmap::from_bytes(get_b(item, "restore_keys"), len),
                failed: failures(item, len),
                counters,
                restore_requested_at: get_n(item, "restore_requested_at"),
                restore_last_requested_at: get_n(item, "restore_last_requested_at"),
                requests: string_map(item, "requests", |v| v.as_n().ok()?.parse().ok()),
                left_out: left_out(item, len),
            },
            started_at: get_n(item, "started_at"),
            launched_at: get_n(item, "launched_at"),
            retries: get_n(item, "retries").unwrap_or(0),
            uploads: string_map(item, "uploads", |v| v.as_s().ok().cloned()),
            key_order: crate::plan::KeyOrder::read(get_s(item, "key_order").as_deref()),
            ready_look: super::ReadyLook::read(item),
            key_range: get_s(item, "first_key")
                .zip(get_s(item, "last_key"))
                .map(|(first, last)| crate::plan::KeyRange { first, last }),
            events: super::EventsCounted::read(item),
        })
    }
}

fn counters(item: &HashMap<String, AttributeValue>, keys_total: u64) -> Counters {
    Counters {
        keys_total,
        restore_requested: get_n(item, "restore_requested").unwrap_or(0),
        restored: get_n(item, "restored").unwrap_or(0),
        copied: get_n(item, "copied").unwrap_or(0),
        skipped: get_n(item, "skipped").unwrap_or(0),
        failed: get_n(item, "failed").unwrap_or(0),
        bytes_copied: get_n(item, "bytes_copied").unwrap_or(0),
        throttled: get_n(item, "throttled").unwrap_or(0),
        tier_fallbacks: get_n(item, "tier_fallbacks").unwrap_or(0),
        verified_etag: get_n(item, "verified_etag").unwrap_or(0),
        verified_checksum: get_n(item, "verified_checksum").unwrap_or(0),
        not_comparable: get_n(item, "not_comparable").unwrap_or(0),
    }
}

/// The `failures` map: per error code, its message and the bitmap of its keys.
fn failures(item: &HashMap<String, AttributeValue>, len: usize) -> BTreeMap<String, FailedGroup> {
    let Some(AttributeValue::M(groups)) = item.get("failures") else {
        return BTreeMap::new();
    };
    groups
        .iter()
        .filter_map(|(code, g)| {
            let AttributeValue::M(g) = g else { return None };
            let group = FailedGroup {
                message: get_s(g, "message").unwrap_or_default(),
                keys: Bitmap::from_bytes(get_b(g, "keys"), len),
            };
            Some((code.clone(), group))
        })
        .collect()
}

/// A map attribute whose values `value` reads (entries it cannot read are left out).
/// The left-out keys by reason; codes this build does not know are dropped.
fn left_out(
    item: &HashMap<String, AttributeValue>,
    len: usize,
) -> BTreeMap<crate::leave_out::LeftOutReason, Bitmap> {
    string_map(item, "left_out", |v| {
        Some(Bitmap::from_bytes(v.as_b().ok()?.as_ref(), len))
    })
    .into_iter()
    .filter_map(|(code, keys)| Some((crate::leave_out::LeftOutReason::from_code(&code)?, keys)))
    .collect()
}

fn string_map<T>(
    item: &HashMap<String, AttributeValue>,
    name: &str,
    value: impl Fn(&AttributeValue) -> Option<T>,
) -> BTreeMap<String, T> {
    match item.get(name) {
        Some(AttributeValue::M(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), value(v)?)))
            .collect(),
        _ => BTreeMap::new(),
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

#[cfg(test)]
mod left_out_tests {
    use super::*;
    use crate::leave_out::LeftOutReason;

    #[test]
    fn left_out_keys_read_back_by_reason() {
        let mut item = key("j", 0);
        item.insert("state".into(), s(LotState::Running.as_str()));
        item.insert("keys_total".into(), n(8));
        let bits = |i: usize| {
            let mut b = Bitmap::new(8);
            b.set(i, true);
            AttributeValue::B(Blob::new(b.as_bytes()))
        };
        item.insert(
            "left_out".into(),
            AttributeValue::M(
                [
                    ("MinSize".to_owned(), bits(1)),
                    ("MinAge".to_owned(), bits(2)),
                    // written by a newer thaw: not a reason this build knows
                    ("MinMood".to_owned(), bits(3)),
                ]
                .into_iter()
                .collect(),
            ),
        );
        let cp = LotItem::parse("j", &item).expect("item").checkpoint;
        let reasons: Vec<LeftOutReason> = cp.left_out.keys().copied().collect();
        assert_eq!(reasons, [LeftOutReason::MinSize, LeftOutReason::MinAge]);
        assert_eq!(cp.left_out_of(2), Some(LeftOutReason::MinAge));
        assert_eq!(cp.left_out_of(3), None);
    }
}
