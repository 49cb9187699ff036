//! The per-key verdicts: given what HeadObject says about a key's source and target, and what
//! the job asks, what the worker does next.
//!
//! Pure, so every branch is tested without AWS, and the time is passed in. [`decide`] is the
//! archive/restore state machine of one object (the coordinator's estimate uses it too);
//! [`judge`] wraps it with the worker's rules around a copy (job prefix and destinations,
//! a destination newer than its source or already a copy, a pinned version no longer current,
//! a source version gone under `--delete-source-version`) and says which object to look at
//! next when it needs more facts, so the worker sends no request a verdict does not need.
//! [`recover_pending_delete`] judges what a crashed run left between a copy and the delete of
//! its source version, and [`delete_versions`] and [`check_copy`] the copy such a delete relies on.

use crate::leave_out::{LeaveOut, LeftOutReason};
use crate::spec::JobSpec;
use crate::storage::{RestoreTier, StorageClass};

/// Where an object's restore stands, from the `x-amz-restore` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreStatus {
    /// No restore was requested (or its temporary copy expired).
    None,
    /// `ongoing-request="true"`: S3 is still bringing it back.
    InProgress,
    /// `ongoing-request="false"`: a readable temporary copy exists.
    Restored,
}

/// Parses the `x-amz-restore` header value.
pub fn parse_restore_header(header: Option<&str>) -> RestoreStatus {
    match header {
        None => RestoreStatus::None,
        Some(h) if h.replace(' ', "").contains("ongoing-request=\"true\"") => {
            RestoreStatus::InProgress
        }
        Some(h) if h.contains("ongoing-request") => RestoreStatus::Restored,
        Some(_) => RestoreStatus::None,
    }
}

/// What HeadObject told us about one object, reduced to what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// The storage class S3 reports (`STANDARD` when the header is absent).
    pub storage_class: String,
    /// `x-amz-archive-status` for Intelligent-Tiering objects in an archive tier.
    pub archive_status: Option<String>,
    /// Restore state from `x-amz-restore`.
    pub restore: RestoreStatus,
    /// The object is encrypted with a customer-provided key (SSE-C): it cannot be copied without it.
    pub sse_customer: bool,
}

impl ObjectHead {
    /// True for the slowest archives: DEEP_ARCHIVE and Intelligent-Tiering's Deep Archive Access
    /// tier (no Expedited retrieval, restores take up to 48 hours).
    pub fn is_deep_archive(&self) -> bool {
        self.storage_class == "DEEP_ARCHIVE"
            || self.archive_status.as_deref() == Some("DEEP_ARCHIVE_ACCESS")
    }

    /// True when S3 must restore the object before it can be read or copied.
    pub fn is_archived(&self) -> bool {
        match self.storage_class.as_str() {
            "GLACIER" | "DEEP_ARCHIVE" => true,
            "INTELLIGENT_TIERING" => self.archive_status.is_some(),
            _ => false,
        }
    }
}

/// The next step for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Already in the target class and readable: nothing to write.
    Skip,
    /// Ask S3 to restore it; `days` is `None` for Intelligent-Tiering archive tiers.
    Restore {
        /// How long the temporary copy lives.
        days: Option<u32>,
    },
    /// A restore is under way: look again later.
    Wait,
    /// Readable now: copy it in place with the target class.
    Copy,
    /// It cannot be done; recorded as a failed key with this code and message.
    Fail {
        /// Short error code for reports (S3's own code where there is one).
        code: String,
        /// Human explanation.
        message: String,
    },
}

/// The job settings the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Goal {
    /// Class every object must end in.
    pub target: StorageClass,
    /// Restore tier for archived objects.
    pub tier: RestoreTier,
    /// Restore validity in days.
    pub days: u32,
    /// Copies go onto the source object itself: an object already in the target class is done.
    /// For copies elsewhere the destination is checked before, and every readable source is copied.
    pub in_place: bool,
}

/// The failure of an object encrypted with a customer-provided key (SSE-C): thaw cannot copy it.
pub const SSE_C_CODE: &str = "SSECustomerKeyRequired";

/// Decides the next step for an object. `restore_requested` is true when this lot already asked
/// for its restore and that request is still within its validity, so it is never sent twice.
pub fn decide(head: &ObjectHead, goal: Goal, restore_requested: bool) -> Next {
    if head.sse_customer {
        return Next::Fail {
            code: SSE_C_CODE.into(),
            message: "object is encrypted with a customer-provided key (SSE-C); thaw cannot copy it without the key".into(),
        };
    }
    let archived = head.is_archived();
    let done_here = goal.in_place && head.storage_class == goal.target.as_str();
    if !archived && done_here {
        return Next::Skip;
    }
    if !archived {
        return Next::Copy;
    }
    match head.restore {
        RestoreStatus::Restored => {
            if done_here {
                // Moving into an archive class: the archived object already is where it should be.
                Next::Skip
            } else {
                Next::Copy
            }
        }
        RestoreStatus::InProgress => Next::Wait,
        RestoreStatus::None if done_here => Next::Skip,
        RestoreStatus::None if restore_requested => Next::Wait,
        RestoreStatus::None => {
            // The tier is the job's, except where it cannot be had: see [`restore_tier_for`].
            let days = (head.storage_class != "INTELLIGENT_TIERING").then_some(goal.days);
            Next::Restore { days }
        }
    }
}

/// The tier a restore of this object is asked at: the job's, but Standard for a DEEP_ARCHIVE
/// object in an Expedited job (it has no Expedited tier: S3 refuses it on every run).
pub fn restore_tier_for(head: &ObjectHead, job_tier: RestoreTier) -> RestoreTier {
    if job_tier == RestoreTier::Expedited && head.is_deep_archive() {
        RestoreTier::Standard
    } else {
        job_tier
    }
}

/// The tier a restore falls back to on `503 GlacierExpeditedRetrievalNotAvailable` (no
/// Expedited capacity now): Standard, asked at once. `None` for any other answer.
pub fn fallback_tier(code: &str, asked: RestoreTier) -> Option<RestoreTier> {
    (code == "GlacierExpeditedRetrievalNotAvailable" && asked == RestoreTier::Expedited)
        .then_some(RestoreTier::Standard)
}

/// Error codes that mean "the object is archived and not (or no longer) restored": on a copy, the
/// key goes back to waiting for its restore instead of failing. moto says
/// `ObjectNotInActiveTierError`, AWS and LocalStack `InvalidObjectState`.
pub fn is_not_restored_code(code: &str) -> bool {
    matches!(code, "InvalidObjectState" | "ObjectNotInActiveTierError")
}

/// A key's failure as reports show it: a short code (S3's own where there is one) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Short error code.
    pub code: String,
    /// Human explanation.
    pub message: String,
}

impl Failure {
    /// A failure with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// An object as HeadObject described it, reduced to what the verdicts compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    /// Class and archive/restore state.
    pub head: ObjectHead,
    /// Size in bytes.
    pub size: u64,
    /// ETag as S3 reports it.
    pub etag: Option<String>,
    /// Version id (none for an object written before versioning, whose id is `"null"`).
    pub version_id: Option<String>,
    /// Last-Modified, epoch seconds.
    pub last_modified: Option<i64>,
    /// Encrypted with SSE-KMS or DSSE-KMS: a copy gets another ETag.
    pub kms: bool,
}

impl ObjectFacts {
    /// True when this object is in `class` with `src`'s size: what a copy of `src` into that
    /// class looks like (the ETag may still differ, see [`ObjectFacts::same_etag`]).
    pub fn sized_like_copy_of(&self, src: &ObjectFacts, class: StorageClass) -> bool {
        self.head.storage_class == class.as_str() && self.size == src.size
    }

    /// True when both objects report the same ETag (a one-request copy of an object without
    /// SSE-KMS keeps its source's; multipart and SSE-KMS copies do not).
    pub fn same_etag(&self, other: &ObjectFacts) -> bool {
        self.etag.is_some() && self.etag == other.etag
    }

    /// True when both times are known and this object was written after `other` (S3 reports
    /// whole seconds).
    pub fn newer_than(&self, other: &ObjectFacts) -> bool {
        matches!((self.last_modified, other.last_modified), (Some(a), Some(b)) if a > b)
    }

    /// The version id as S3 names it in requests (`"null"` for objects written before
    /// versioning).
    pub fn version(&self) -> &str {
        self.version_id.as_deref().unwrap_or("null")
    }
}

/// What a HeadObject found: the object, or S3's answer that it is not there (`NoSuchKey`,
/// `NoSuchVersion`) or could not be read.
pub type Look = Result<ObjectFacts, Failure>;

/// The job's rules for every key of it, from its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Source bucket.
    pub bucket: String,
    /// Class every object must end in.
    pub target: StorageClass,
    /// Restore tier.
    pub tier: RestoreTier,
    /// Restore validity in days.
    pub days: u32,
    /// `--from` jobs: every key must be under it.
    pub source_prefix: Option<String>,
    /// Buckets other than the source that the job's pairs list may name as destinations.
    pub dest_buckets: Vec<String>,
    /// Newer objects in the way may be replaced (`--overwrite`, job-wide or for `--dest`).
    pub overwrite: bool,
    /// Delete the copied source version after a verified copy.
    pub delete_source_version: bool,
    /// Objects left where they are (`--min-size`, `--min-age`).
    pub leave_out: LeaveOut,
}

impl Rules {
    /// The rules a job spec sets.
    pub fn of(spec: &JobSpec) -> Self {
        Self {
            bucket: spec.bucket.clone(),
            target: spec.target_class,
            tier: spec.restore_tier,
            days: spec.restore_days,
            source_prefix: spec.source_prefix.clone(),
            dest_buckets: spec.dest_buckets.clone(),
            overwrite: spec.overwrite || spec.destination.as_ref().is_some_and(|d| d.overwrite),
            delete_source_version: spec.delete_source_version,
            leave_out: spec.leave_out,
        }
    }

    /// The goal of the state machine for a copy in place or elsewhere.
    pub fn goal(&self, in_place: bool) -> Goal {
        Goal {
            target: self.target,
            tier: self.tier,
            days: self.days,
            in_place,
        }
    }
}

/// True when a restore this lot requested at `requested_at` (epoch seconds) should still have
/// its readable copy at `now`: then it is never requested again.
pub fn restore_still_valid(requested_at: Option<i64>, days: u32, now: i64) -> bool {
    requested_at.is_some_and(|t| now < t.saturating_add(i64::from(days) * 86_400))
}

/// What is known about one manifest entry when it is judged.
#[derive(Debug, Clone)]
pub struct KeyFacts<'a> {
    /// The source key.
    pub key: &'a str,
    /// The version the manifest pins.
    pub pinned: Option<&'a str>,
    /// The entry's own destination bucket (pairs lists).
    pub dest_bucket: Option<&'a str>,
    /// The copy goes onto the source key itself.
    pub in_place: bool,
    /// When this lot asked for the key's restore, if it did (and it is not known lost).
    pub restore_requested_at: Option<i64>,
    /// The time of the judgement, epoch seconds.
    pub now: i64,
    /// HeadObject of the source (the pinned version, or the current one), once looked at.
    pub source: Option<Look>,
    /// HeadObject of the current object where the copy goes (in place: the source key's
    /// current version), once looked at.
    pub target: Option<Look>,
}

/// An object a verdict needs to look at before it can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// The source: the pinned version, or the current one.
    Source,
    /// The current object where the copy goes.
    Target,
}

/// What the worker does with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Look at this object (HeadObject), then judge again.
    Need(Fact),
    /// Nothing to write: the key counts as done (skipped).
    Skip,
    /// The current object already is the copy of the pinned version: delete that version
    /// (`--delete-source-version`), then the key counts as skipped.
    DeleteSourceThenSkip,
    /// The key fails for this run.
    Fail(Failure),
    /// Ask S3 to restore the source; `days` is `None` for Intelligent-Tiering archive tiers.
    Restore {
        /// How long the temporary copy lives.
        days: Option<u32>,
    },
    /// Its restore is under way: look again later.
    Wait,
    /// Copy it now.
    Copy,
    /// Leave it where it is (`--min-size`, `--min-age`): the key counts as done (skipped), with
    /// this reason in the report.
    LeaveOut(LeftOutReason),
}

const OUTSIDE_PREFIX: &str = "the manifest names a key outside the job's --from prefix: refused";
const OUTSIDE_DESTINATIONS: &str =
    "the manifest names a destination bucket the job was not launched with: refused";
const DESTINATION_NEWER: &str =
    "the destination object is newer than the source: not overwritten without --overwrite";
const NOT_CURRENT: &str = "the pinned version is no longer the current one: copying it in place would hide newer data (use --overwrite to copy it anyway)";

/// The worker's verdict on a key from what it knows so far: a rule of the job refuses it, or the
/// object to look at next, or the step the state machine ([`decide`]) gives once the checks
/// around a copy pass. Objects are asked for only when a verdict depends on them, in this order:
/// the source, then (copies elsewhere, pinned versions in place, sources gone under
/// `--delete-source-version`) the target.
pub fn judge(rules: &Rules, k: &KeyFacts) -> Verdict {
    if let Some(refused) = refused_entry(rules, k) {
        return Verdict::Fail(refused);
    }
    let src = match &k.source {
        None => return Verdict::Need(Fact::Source),
        Some(Ok(s)) => s,
        Some(Err(gone)) => return source_missing(rules, k, gone),
    };
    if let Some(reason) = left_out(rules, k, src) {
        return Verdict::LeaveOut(reason);
    }
    let checked = if k.in_place {
        pinned_in_place(rules, k, src)
    } else {
        destination_in_the_way(rules, k, src)
    };
    if let Some(verdict) = checked {
        return verdict;
    }
    let requested = restore_still_valid(k.restore_requested_at, rules.days, k.now);
    match decide(&src.head, rules.goal(k.in_place), requested) {
        Next::Skip => Verdict::Skip,
        Next::Restore { days } => Verdict::Restore { days },
        Next::Wait => Verdict::Wait,
        Next::Copy => Verdict::Copy,
        Next::Fail { code, message } => Verdict::Fail(Failure { code, message }),
    }
}

/// Why an object the job would move stays where it is (`--min-size`, `--min-age`), decided
/// from its HeadObject before any other request; an object in place already in the target class
/// is not left out but skipped as done.
fn left_out(rules: &Rules, k: &KeyFacts, src: &ObjectFacts) -> Option<LeftOutReason> {
    if k.in_place && src.head.storage_class == rules.target.as_str() {
        return None;
    }
    rules.leave_out.reason(src.size, src.last_modified, k.now)
}

/// A manifest line the job does not cover: a key outside its `--from` prefix, or a destination
/// bucket it was not launched with (an edited manifest must not reach other objects).
fn refused_entry(rules: &Rules, k: &KeyFacts) -> Option<Failure> {
    if let Some(prefix) = &rules.source_prefix {
        if !k.key.starts_with(prefix.as_str()) {
            return Some(Failure::new("OutsideJobPrefix", OUTSIDE_PREFIX));
        }
    }
    match k.dest_bucket {
        Some(b) if b != rules.bucket && !rules.dest_buckets.iter().any(|d| d == b) => {
            Some(Failure::new("OutsideJobDestinations", OUTSIDE_DESTINATIONS))
        }
        _ => None,
    }
}

/// The source is not there. Under `--delete-source-version` an earlier run may have copied and
/// deleted this version (for a copy elsewhere, the only one), then died before its checkpoint:
/// done when its copy is in the target class.
fn source_missing(rules: &Rules, k: &KeyFacts, gone: &Failure) -> Verdict {
    let maybe_deleted = rules.delete_source_version
        && (gone.code == "NoSuchVersion" || (gone.code == "NoSuchKey" && !k.in_place));
    if !maybe_deleted {
        return Verdict::Fail(gone.clone());
    }
    match &k.target {
        None => Verdict::Need(Fact::Target),
        Some(Ok(t)) if t.head.storage_class == rules.target.as_str() => Verdict::Skip,
        Some(Err(e)) if e.code != "NoSuchKey" => Verdict::Fail(e.clone()),
        Some(_) => Verdict::Fail(gone.clone()),
    }
}

/// A copy elsewhere: the destination already is the copy (target class, same size, and same
/// ETag or newer than the source), or is newer than the source and never replaced without
/// `--overwrite`. `None`: go on with the source.
fn destination_in_the_way(rules: &Rules, k: &KeyFacts, src: &ObjectFacts) -> Option<Verdict> {
    let dest = match &k.target {
        None => return Some(Verdict::Need(Fact::Target)),
        Some(Ok(d)) => d,
        Some(Err(e)) if e.code == "NoSuchKey" => return None,
        Some(Err(e)) => return Some(Verdict::Fail(e.clone())),
    };
    let newer = dest.newer_than(src);
    if dest.sized_like_copy_of(src, rules.target) && (dest.same_etag(src) || newer) {
        return Some(Verdict::Skip);
    }
    if newer && !rules.overwrite {
        return Some(Verdict::Fail(Failure::new(
            "DestinationNewer",
            DESTINATION_NEWER,
        )));
    }
    None
}

/// In place, a pinned version is copied only while it is the current one: copying an older
/// version on top would hide newer data (`--overwrite` allows it). When the current version
/// already is its copy (target class, same size and ETag) the key is done, and under
/// `--delete-source-version` the pinned version goes. `None`: go on with the source.
fn pinned_in_place(rules: &Rules, k: &KeyFacts, src: &ObjectFacts) -> Option<Verdict> {
    let pinned = k.pinned?;
    if rules.overwrite {
        return None;
    }
    let current = match &k.target {
        None => return Some(Verdict::Need(Fact::Target)),
        Some(Ok(c)) => c,
        Some(Err(e)) => return Some(Verdict::Fail(e.clone())),
    };
    if current.version() == pinned {
        return None;
    }
    if !(current.sized_like_copy_of(src, rules.target) && current.same_etag(src)) {
        return Some(Verdict::Fail(Failure::new(
            "NotCurrentVersion",
            NOT_CURRENT,
        )));
    }
    Some(if rules.delete_source_version {
        Verdict::DeleteSourceThenSkip
    } else {
        Verdict::Skip
    })
}

/// True when a failed copy's error proves no object was written: a definite refusal (4xx) of a
/// request made before the copy could exist. After a timeout, a 5xx, or a refused
/// CompleteMultipartUpload (perhaps the retry of one that succeeded) a copy may exist.
pub fn made_no_copy(operation: &str, status: Option<u16>) -> bool {
    matches!(
        operation,
        "GetObjectAcl"
            | "GetObjectTagging"
            | "CopyObject"
            | "CreateMultipartUpload"
            | "UploadPartCopy"
    ) && is_definite_refusal(status)
}

/// True for a 4xx answer: the request was refused and did nothing.
pub fn is_definite_refusal(status: Option<u16>) -> bool {
    status.is_some_and(|s| (400..500).contains(&s))
}

/// The versions a delete after a copy works on: the source version to delete and the version
/// of the copy to verify first (the version the copy created, or, in a destination without
/// versioning, `None`: the current object). A source without a known version is never deleted,
/// and in place (a versioned bucket) the copy must be a new version of its own.
pub fn delete_versions<'s, 'c>(
    in_place: bool,
    source_version: Option<&'s str>,
    copied: Option<&'c str>,
) -> Result<(&'s str, Option<&'c str>), Failure> {
    let Some(version) = source_version else {
        return Err(Failure::new(
            "NoSourceVersion",
            "S3 reported no version id for the source: nothing deleted",
        ));
    };
    match copied {
        Some(v) if in_place && v == version => Err(Failure::new(
            "CopyNotVerified",
            "the copy and the source are the same version: nothing deleted",
        )),
        None if in_place => Err(Failure::new(
            "CopyNotVerified",
            "the in-place copy has no version id: source version kept",
        )),
        v => Ok((version, v)),
    }
}

/// Checks that `copy` is what a copy of a `source_size`-byte object into `target` looks like
/// before its source version is deleted.
pub fn check_copy(
    copy: &ObjectFacts,
    source_size: u64,
    target: StorageClass,
) -> Result<(), Failure> {
    if copy.head.storage_class == target.as_str() && copy.size == source_size {
        return Ok(());
    }
    Err(Failure::new(
        "CopyNotVerified",
        format!(
            "the copy is {} bytes in {}, expected {} bytes in {}: source version kept",
            copy.size,
            copy.head.storage_class,
            source_size,
            target.as_str()
        ),
    ))
}

/// Checks the proof of a copy (see [`crate::verify::compare_heads`]) before its source version is
/// deleted: a mismatch keeps the source ([`crate::verify::MISMATCH_CODE`]); a verified or not
/// comparable copy leaves the decision to [`check_copy`].
pub fn check_copy_proof(proof: &crate::verify::Proof) -> Result<(), Failure> {
    match proof.mismatch_message() {
        Some(message) => Err(Failure::new(crate::verify::MISMATCH_CODE, message)),
        None => Ok(()),
    }
}

/// What a run finds of a source version an earlier run recorded to delete after its copy.
#[derive(Debug, Clone)]
pub struct PendingDeleteFacts<'a> {
    /// When the record was written (before the copy), epoch seconds.
    pub recorded_at: Option<i64>,
    /// The recorded source version.
    pub version: &'a str,
    /// The current object where the copy went; `None`: nothing there.
    pub target: Option<&'a ObjectFacts>,
    /// The recorded source version; `None`: it is gone.
    pub source: Option<&'a ObjectFacts>,
    /// Objects above this size were copied in parts (their copies have other ETags).
    pub multipart_threshold: u64,
}

/// What to do with a pending delete an earlier run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The source version is gone and its copy is there: count the key copied (`bytes`, the
    /// copy's size) and drop the record.
    Copied {
        /// Size of the copy.
        bytes: u64,
    },
    /// The copy is there and the source version still is: delete it, count the key copied and
    /// drop the record.
    DeleteSource,
    /// No copy to show for it: drop the record; the key is processed as usual.
    Drop,
}

/// Judges a pending delete. The copy counts as made when the target is in the target class with
/// the source version's size, is another version, was written after the record (a minute of
/// clock skew allowed), and has the source's ETag (unless a multipart or SSE-KMS copy, whose
/// ETags differ). A source version already gone counts as deleted when a target in the target
/// class was written after the record.
pub fn recover_pending_delete(target_class: StorageClass, p: &PendingDeleteFacts) -> Recovery {
    let written_after = |c: &ObjectFacts| match (p.recorded_at, c.last_modified) {
        (Some(r), Some(m)) => m >= r - 60,
        (None, _) => true,
        (Some(_), None) => false,
    };
    let Some(source) = p.source else {
        return match p.target {
            Some(c) if c.head.storage_class == target_class.as_str() && written_after(c) => {
                Recovery::Copied { bytes: c.size }
            }
            _ => Recovery::Drop,
        };
    };
    let etags_comparable = source.size <= p.multipart_threshold && !source.kms;
    let copied = p.target.is_some_and(|c| {
        c.sized_like_copy_of(source, target_class)
            && c.version_id.as_deref() != Some(p.version)
            && written_after(c)
            && (!etags_comparable || c.same_etag(source))
    });
    if copied {
        Recovery::DeleteSource
    } else {
        Recovery::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_proved_not_its_source_keeps_its_source_version() {
        use crate::verify::{By, Proof, Reason, MISMATCH_CODE};
        let bad = Proof::Mismatch {
            by: By::ETag,
            source: "a".into(),
            copy: "b".into(),
        };
        let refused = check_copy_proof(&bad).expect_err("a mismatch deletes nothing");
        assert_eq!(refused.code, MISMATCH_CODE);
        assert!(refused.message.contains("the source is kept"));
        let good = Proof::Verified {
            by: By::ETag,
            value: "a".into(),
        };
        assert_eq!(check_copy_proof(&good), Ok(()));
        assert_eq!(
            check_copy_proof(&Proof::NotComparable(Reason::SourceKms)),
            Ok(())
        );
    }

    const GOAL: Goal = Goal {
        target: StorageClass::StandardIa,
        tier: RestoreTier::Bulk,
        days: 3,
        in_place: true,
    };

    #[test]
    fn copies_elsewhere_copy_even_objects_in_the_target_class() {
        let elsewhere = Goal {
            in_place: false,
            ..GOAL
        };
        assert_eq!(
            decide(&head("STANDARD_IA", RestoreStatus::None), elsewhere, false),
            Next::Copy
        );
        let into_glacier = Goal {
            target: StorageClass::Glacier,
            ..elsewhere
        };
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), into_glacier, false),
            Next::Restore { days: Some(3) }
        );
    }

    fn head(class: &str, restore: RestoreStatus) -> ObjectHead {
        ObjectHead {
            storage_class: class.into(),
            archive_status: None,
            restore,
            sse_customer: false,
        }
    }

    #[test]
    fn restore_header() {
        assert_eq!(parse_restore_header(None), RestoreStatus::None);
        assert_eq!(
            parse_restore_header(Some("ongoing-request=\"true\"")),
            RestoreStatus::InProgress
        );
        assert_eq!(
            parse_restore_header(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
            )),
            RestoreStatus::Restored
        );
    }

    #[test]
    fn archived_without_restore_is_restored() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), GOAL, false),
            Next::Restore { days: Some(3) }
        );
        assert_eq!(
            decide(&head("DEEP_ARCHIVE", RestoreStatus::None), GOAL, false),
            Next::Restore { days: Some(3) }
        );
    }

    #[test]
    fn restore_never_requested_twice() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), GOAL, true),
            Next::Wait
        );
    }

    #[test]
    fn in_progress_waits_and_restored_copies() {
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::InProgress), GOAL, false),
            Next::Wait
        );
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::Restored), GOAL, true),
            Next::Copy
        );
    }

    #[test]
    fn not_archived_copies_or_skips() {
        for class in [
            "STANDARD",
            "GLACIER_IR",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
        ] {
            assert_eq!(
                decide(&head(class, RestoreStatus::None), GOAL, false),
                Next::Copy,
                "{class}"
            );
        }
        assert_eq!(
            decide(&head("STANDARD_IA", RestoreStatus::None), GOAL, false),
            Next::Skip
        );
    }

    #[test]
    fn intelligent_tiering_archive_has_no_days() {
        let mut h = head("INTELLIGENT_TIERING", RestoreStatus::None);
        h.archive_status = Some("ARCHIVE_ACCESS".into());
        assert_eq!(decide(&h, GOAL, false), Next::Restore { days: None });
    }

    #[test]
    fn deep_archive_in_an_expedited_job_is_restored_at_standard() {
        // Issue 12: it used to fail `InvalidTier` on every run, so a mixed job never finished.
        let goal = Goal {
            tier: RestoreTier::Expedited,
            ..GOAL
        };
        let deep = head("DEEP_ARCHIVE", RestoreStatus::None);
        assert_eq!(decide(&deep, goal, false), Next::Restore { days: Some(3) });
        assert_eq!(
            restore_tier_for(&deep, RestoreTier::Expedited),
            RestoreTier::Standard
        );
        // GLACIER + Expedited keeps its tier; other tiers are the job's for every class.
        let glacier = head("GLACIER", RestoreStatus::None);
        assert!(matches!(
            decide(&glacier, goal, false),
            Next::Restore { .. }
        ));
        assert_eq!(
            restore_tier_for(&glacier, RestoreTier::Expedited),
            RestoreTier::Expedited
        );
        assert_eq!(
            restore_tier_for(&deep, RestoreTier::Bulk),
            RestoreTier::Bulk
        );
    }

    #[test]
    fn intelligent_tiering_deep_archive_is_restored_at_standard_in_expedited_jobs() {
        let goal = Goal {
            tier: RestoreTier::Expedited,
            ..GOAL
        };
        let mut h = head("INTELLIGENT_TIERING", RestoreStatus::None);
        h.archive_status = Some("DEEP_ARCHIVE_ACCESS".into());
        assert!(h.is_deep_archive());
        assert_eq!(decide(&h, goal, false), Next::Restore { days: None });
        assert_eq!(
            restore_tier_for(&h, RestoreTier::Expedited),
            RestoreTier::Standard
        );
        h.archive_status = Some("ARCHIVE_ACCESS".into());
        assert!(!h.is_deep_archive());
        assert_eq!(decide(&h, goal, false), Next::Restore { days: None });
        assert_eq!(
            restore_tier_for(&h, RestoreTier::Expedited),
            RestoreTier::Expedited
        );
    }

    #[test]
    fn no_expedited_capacity_falls_back_to_standard() {
        assert_eq!(
            fallback_tier(
                "GlacierExpeditedRetrievalNotAvailable",
                RestoreTier::Expedited
            ),
            Some(RestoreTier::Standard)
        );
        assert_eq!(
            fallback_tier(
                "GlacierExpeditedRetrievalNotAvailable",
                RestoreTier::Standard
            ),
            None
        );
        assert_eq!(fallback_tier("SlowDown", RestoreTier::Expedited), None);
    }

    #[test]
    fn sse_c_fails() {
        let mut h = head("GLACIER", RestoreStatus::Restored);
        h.sse_customer = true;
        assert!(
            matches!(decide(&h, GOAL, false), Next::Fail { code, .. } if code == "SSECustomerKeyRequired")
        );
    }

    #[test]
    fn into_archive_class() {
        let goal = Goal {
            target: StorageClass::Glacier,
            ..GOAL
        };
        assert_eq!(
            decide(&head("GLACIER", RestoreStatus::None), goal, false),
            Next::Skip
        );
        assert_eq!(
            decide(&head("STANDARD", RestoreStatus::None), goal, false),
            Next::Copy
        );
        assert_eq!(
            decide(&head("DEEP_ARCHIVE", RestoreStatus::None), goal, false),
            Next::Restore { days: Some(3) }
        );
    }

    #[test]
    fn not_restored_codes() {
        assert!(is_not_restored_code("InvalidObjectState"));
        assert!(is_not_restored_code("ObjectNotInActiveTierError"));
        assert!(!is_not_restored_code("NoSuchKey"));
    }

    // --- judge: the worker's rules around a copy ---

    const NOW: i64 = 1_795_000_000;

    fn rules() -> Rules {
        Rules {
            bucket: "src".into(),
            target: StorageClass::StandardIa,
            tier: RestoreTier::Bulk,
            days: 3,
            source_prefix: None,
            dest_buckets: vec![],
            overwrite: false,
            delete_source_version: false,
            leave_out: LeaveOut::default(),
        }
    }

    fn obj(
        class: &str,
        size: u64,
        etag: &str,
        version: Option<&str>,
        modified: i64,
    ) -> ObjectFacts {
        ObjectFacts {
            head: head(class, RestoreStatus::None),
            size,
            etag: Some(etag.into()),
            version_id: version.map(str::to_owned),
            last_modified: Some(modified),
            kms: false,
        }
    }

    fn key(name: &str) -> KeyFacts<'_> {
        KeyFacts {
            key: name,
            pinned: None,
            dest_bucket: None,
            in_place: true,
            restore_requested_at: None,
            now: NOW,
            source: None,
            target: None,
        }
    }

    fn elsewhere(name: &str) -> KeyFacts<'_> {
        KeyFacts {
            in_place: false,
            ..key(name)
        }
    }

    fn gone(code: &str) -> Failure {
        Failure::new(code, format!("{code} message"))
    }

    fn fail_code(v: &Verdict) -> Option<&str> {
        match v {
            Verdict::Fail(f) => Some(f.code.as_str()),
            _ => None,
        }
    }

    #[test]
    fn judge_looks_at_the_source_first_and_only_it_in_place() {
        let k = key("a");
        assert_eq!(judge(&rules(), &k), Verdict::Need(Fact::Source));
        let k = KeyFacts {
            source: Some(Ok(obj("GLACIER", 10, "e", Some("v1"), NOW - 100))),
            ..k
        };
        assert_eq!(judge(&rules(), &k), Verdict::Restore { days: Some(3) });
        let k = KeyFacts {
            source: Some(Ok(obj("STANDARD_IA", 10, "e", None, NOW - 100))),
            ..k
        };
        assert_eq!(judge(&rules(), &k), Verdict::Skip);
    }

    #[test]
    fn keys_outside_the_job_prefix_are_refused_before_any_request() {
        let r = Rules {
            source_prefix: Some("logs/2024/".into()),
            ..rules()
        };
        let v = judge(&r, &key("logs/2023/a"));
        assert_eq!(fail_code(&v), Some("OutsideJobPrefix"));
        assert!(
            matches!(&v, Verdict::Fail(f) if f.message == "the manifest names a key outside the job's --from prefix: refused")
        );
        assert_eq!(judge(&r, &key("logs/2024/a")), Verdict::Need(Fact::Source));
    }

    #[test]
    fn destinations_outside_the_job_are_refused_before_any_request() {
        let r = Rules {
            dest_buckets: vec!["d1".into(), "d2".into()],
            ..rules()
        };
        let to = |b: &'static str| KeyFacts {
            dest_bucket: Some(b),
            ..elsewhere("a")
        };
        let v = judge(&r, &to("d3"));
        assert_eq!(fail_code(&v), Some("OutsideJobDestinations"));
        assert!(
            matches!(&v, Verdict::Fail(f) if f.message == "the manifest names a destination bucket the job was not launched with: refused")
        );
        assert_eq!(judge(&r, &to("d2")), Verdict::Need(Fact::Source));
        // A pair whose destination is the source bucket needs no listing.
        assert_eq!(judge(&r, &to("src")), Verdict::Need(Fact::Source));
    }

    #[test]
    fn a_copy_elsewhere_looks_at_its_destination() {
        let src = obj("GLACIER", 10, "e1", None, NOW - 1000);
        let k = KeyFacts {
            source: Some(Ok(src.clone())),
            ..elsewhere("a")
        };
        assert_eq!(judge(&rules(), &k), Verdict::Need(Fact::Target));
        let with = |t: Look| KeyFacts {
            target: Some(t),
            ..k.clone()
        };
        // Nothing there: the source goes through the state machine.
        let v = judge(&rules(), &with(Err(gone("NoSuchKey"))));
        assert_eq!(v, Verdict::Restore { days: Some(3) });
        // Any other answer fails the key with it.
        let v = judge(&rules(), &with(Err(gone("AccessDenied"))));
        assert_eq!(v, Verdict::Fail(gone("AccessDenied")));
    }

    #[test]
    fn a_destination_that_already_is_the_copy_is_skipped() {
        let src = obj("GLACIER", 10, "e1", None, NOW - 1000);
        let k = |t: ObjectFacts| KeyFacts {
            source: Some(Ok(src.clone())),
            target: Some(Ok(t)),
            ..elsewhere("a")
        };
        // Same class, size and ETag.
        let same = obj("STANDARD_IA", 10, "e1", None, NOW - 2000);
        assert_eq!(judge(&rules(), &k(same)), Verdict::Skip);
        // Same class and size, another ETag (multipart, SSE-KMS) but newer than the source.
        let newer = obj("STANDARD_IA", 10, "e2", None, NOW - 10);
        assert_eq!(judge(&rules(), &k(newer)), Verdict::Skip);
        // Same class and size, another ETag, older: copied again.
        let older = obj("STANDARD_IA", 10, "e2", None, NOW - 2000);
        assert_eq!(
            judge(&rules(), &k(older)),
            Verdict::Restore { days: Some(3) }
        );
        // Another class: copied again.
        let other_class = obj("STANDARD", 10, "e1", None, NOW - 2000);
        assert_eq!(
            judge(&rules(), &k(other_class)),
            Verdict::Restore { days: Some(3) }
        );
    }

    #[test]
    fn a_newer_destination_is_never_replaced_without_overwrite() {
        let src = obj("STANDARD", 10, "e1", None, NOW - 1000);
        let k = KeyFacts {
            source: Some(Ok(src)),
            target: Some(Ok(obj("STANDARD", 99, "e9", None, NOW - 10))),
            ..elsewhere("a")
        };
        let v = judge(&rules(), &k);
        assert_eq!(fail_code(&v), Some("DestinationNewer"));
        assert!(
            matches!(&v, Verdict::Fail(f) if f.message == "the destination object is newer than the source: not overwritten without --overwrite")
        );
        let overwrite = Rules {
            overwrite: true,
            ..rules()
        };
        assert_eq!(judge(&overwrite, &k), Verdict::Copy);
        // Same second, or an unknown time, is not newer.
        let mut same_time = k.clone();
        same_time.target = Some(Ok(obj("STANDARD", 99, "e9", None, NOW - 1000)));
        assert_eq!(judge(&rules(), &same_time), Verdict::Copy);
        let mut unknown = obj("STANDARD", 99, "e9", None, 0);
        unknown.last_modified = None;
        same_time.target = Some(Ok(unknown));
        assert_eq!(judge(&rules(), &same_time), Verdict::Copy);
    }

    fn pinned(version: &'static str) -> KeyFacts<'static> {
        KeyFacts {
            pinned: Some(version),
            source: Some(Ok(obj("GLACIER", 10, "e1", Some(version), NOW - 1000))),
            ..key("a")
        }
    }

    #[test]
    fn a_pinned_version_in_place_must_still_be_the_current_one() {
        let k = pinned("v1");
        assert_eq!(judge(&rules(), &k), Verdict::Need(Fact::Target));
        let with = |t: Look| KeyFacts {
            target: Some(t),
            ..pinned("v1")
        };
        // Still current: the state machine goes on.
        let current = obj("GLACIER", 10, "e1", Some("v1"), NOW - 1000);
        assert_eq!(
            judge(&rules(), &with(Ok(current))),
            Verdict::Restore { days: Some(3) }
        );
        // A newer version that is not its copy: refused.
        let newer = obj("STANDARD", 12, "e5", Some("v2"), NOW - 10);
        let v = judge(&rules(), &with(Ok(newer.clone())));
        assert_eq!(fail_code(&v), Some("NotCurrentVersion"));
        assert!(
            matches!(&v, Verdict::Fail(f) if f.message == "the pinned version is no longer the current one: copying it in place would hide newer data (use --overwrite to copy it anyway)")
        );
        // Same size and class but another ETag is no copy either.
        let lookalike = obj("STANDARD_IA", 10, "e5", Some("v2"), NOW - 10);
        let v = judge(&rules(), &with(Ok(lookalike)));
        assert_eq!(fail_code(&v), Some("NotCurrentVersion"));
        // The current object cannot be read: the key fails with that answer.
        let v = judge(&rules(), &with(Err(gone("NoSuchKey"))));
        assert_eq!(v, Verdict::Fail(gone("NoSuchKey")));
    }

    #[test]
    fn overwrite_copies_a_pinned_version_without_looking_at_the_current_one() {
        let overwrite = Rules {
            overwrite: true,
            ..rules()
        };
        assert_eq!(
            judge(&overwrite, &pinned("v1")),
            Verdict::Restore { days: Some(3) }
        );
    }

    #[test]
    fn an_object_written_before_versioning_is_version_null() {
        let k = KeyFacts {
            target: Some(Ok(obj("GLACIER", 10, "e1", None, NOW - 1000))),
            ..pinned("null")
        };
        assert_eq!(judge(&rules(), &k), Verdict::Restore { days: Some(3) });
    }

    #[test]
    fn a_pinned_version_already_copied_in_place_is_skipped_or_deleted() {
        let copy = obj("STANDARD_IA", 10, "e1", Some("v2"), NOW - 10);
        let k = KeyFacts {
            target: Some(Ok(copy)),
            ..pinned("v1")
        };
        assert_eq!(judge(&rules(), &k), Verdict::Skip);
        let delete = Rules {
            delete_source_version: true,
            ..rules()
        };
        assert_eq!(judge(&delete, &k), Verdict::DeleteSourceThenSkip);
    }

    #[test]
    fn a_source_gone_under_delete_source_version_is_done_when_its_copy_is_there() {
        let delete = Rules {
            delete_source_version: true,
            ..rules()
        };
        let k = KeyFacts {
            source: Some(Err(gone("NoSuchVersion"))),
            ..pinned("v1")
        };
        // Without the flag the key fails at once.
        assert_eq!(judge(&rules(), &k), Verdict::Fail(gone("NoSuchVersion")));
        assert_eq!(judge(&delete, &k), Verdict::Need(Fact::Target));
        let with = |t: Look| KeyFacts {
            target: Some(t),
            ..k.clone()
        };
        let copy = obj("STANDARD_IA", 10, "e", Some("v2"), NOW);
        assert_eq!(judge(&delete, &with(Ok(copy))), Verdict::Skip);
        let other = obj("STANDARD", 10, "e", Some("v2"), NOW);
        assert_eq!(
            judge(&delete, &with(Ok(other))),
            Verdict::Fail(gone("NoSuchVersion"))
        );
        assert_eq!(
            judge(&delete, &with(Err(gone("NoSuchKey")))),
            Verdict::Fail(gone("NoSuchVersion"))
        );
        assert_eq!(
            judge(&delete, &with(Err(gone("SlowDown")))),
            Verdict::Fail(gone("SlowDown"))
        );
    }

    #[test]
    fn a_missing_key_is_a_deleted_source_only_for_copies_elsewhere() {
        let delete = Rules {
            delete_source_version: true,
            ..rules()
        };
        let in_place = KeyFacts {
            source: Some(Err(gone("NoSuchKey"))),
            ..key("a")
        };
        assert_eq!(judge(&delete, &in_place), Verdict::Fail(gone("NoSuchKey")));
        let moved = KeyFacts {
            in_place: false,
            ..in_place
        };
        assert_eq!(judge(&delete, &moved), Verdict::Need(Fact::Target));
        assert_eq!(judge(&rules(), &moved), Verdict::Fail(gone("NoSuchKey")));
        let v = judge(
            &rules(),
            &KeyFacts {
                source: Some(Err(gone("AccessDenied"))),
                ..key("a")
            },
        );
        assert_eq!(v, Verdict::Fail(gone("AccessDenied")));
    }

    #[test]
    fn a_restore_is_asked_once_within_its_validity() {
        let glacier = Some(Ok(obj("GLACIER", 10, "e", None, NOW - 10)));
        let asked = |at: i64| KeyFacts {
            source: glacier.clone(),
            restore_requested_at: Some(at),
            ..key("a")
        };
        assert_eq!(judge(&rules(), &asked(NOW - 86_400)), Verdict::Wait);
        assert_eq!(
            judge(&rules(), &asked(NOW - 3 * 86_400)),
            Verdict::Restore { days: Some(3) }
        );
        assert!(restore_still_valid(Some(NOW), 3, NOW + 3 * 86_400 - 1));
        assert!(!restore_still_valid(Some(NOW), 3, NOW + 3 * 86_400));
        assert!(!restore_still_valid(Some(NOW), 0, NOW));
        assert!(!restore_still_valid(None, 3, NOW));
    }

    #[test]
    fn state_machine_failures_pass_through() {
        let mut h = head("GLACIER", RestoreStatus::Restored);
        h.sse_customer = true;
        let src = ObjectFacts {
            head: h,
            ..obj("GLACIER", 1, "e", None, NOW)
        };
        let k = KeyFacts {
            source: Some(Ok(src)),
            ..key("a")
        };
        assert_eq!(
            fail_code(&judge(&rules(), &k)),
            Some("SSECustomerKeyRequired")
        );
        let restored = KeyFacts {
            source: Some(Ok(ObjectFacts {
                head: head("GLACIER", RestoreStatus::Restored),
                ..obj("GLACIER", 1, "e", None, NOW)
            })),
            ..key("a")
        };
        assert_eq!(judge(&rules(), &restored), Verdict::Copy);
        let in_progress = KeyFacts {
            source: Some(Ok(ObjectFacts {
                head: head("GLACIER", RestoreStatus::InProgress),
                ..obj("GLACIER", 1, "e", None, NOW)
            })),
            ..key("a")
        };
        assert_eq!(judge(&rules(), &in_progress), Verdict::Wait);
    }

    #[test]
    fn small_and_young_objects_are_left_out_after_their_head() {
        let r = Rules {
            leave_out: LeaveOut {
                min_size: Some(128 * 1024),
                min_age_secs: Some(90 * 86_400),
            },
            ..rules()
        };
        let with = |o: ObjectFacts| KeyFacts {
            source: Some(Ok(o)),
            ..key("a")
        };
        let old = NOW - 100 * 86_400;
        let small = with(obj("GLACIER", 1024, "e", None, old));
        assert_eq!(judge(&r, &small), Verdict::LeaveOut(LeftOutReason::MinSize));
        let young = with(obj("DEEP_ARCHIVE", 1 << 20, "e", None, NOW - 86_400));
        assert_eq!(judge(&r, &young), Verdict::LeaveOut(LeftOutReason::MinAge));
        // large and old enough: restored as usual; already in the target class: skipped
        let big = with(obj("GLACIER", 1 << 20, "e", None, old));
        assert!(matches!(judge(&r, &big), Verdict::Restore { .. }));
        let done = with(obj("STANDARD_IA", 1024, "e", None, old));
        assert_eq!(judge(&r, &done), Verdict::Skip);
        // copied elsewhere, decided before the destination is looked at (no HEAD spent)
        let elsewhere_small = KeyFacts {
            source: Some(Ok(obj("GLACIER", 1024, "e", None, old))),
            ..elsewhere("a")
        };
        assert_eq!(
            judge(&r, &elsewhere_small),
            Verdict::LeaveOut(LeftOutReason::MinSize)
        );
        // without the flags nothing is left out
        assert!(matches!(judge(&rules(), &small), Verdict::Restore { .. }));
    }

    #[test]
    fn object_facts_compare() {
        let a = obj("STANDARD_IA", 10, "e1", Some("v1"), NOW);
        let b = obj("GLACIER", 10, "e1", None, NOW - 1);
        assert!(a.sized_like_copy_of(&b, StorageClass::StandardIa));
        assert!(!a.sized_like_copy_of(&b, StorageClass::Glacier));
        assert!(!obj("STANDARD_IA", 11, "e1", None, NOW)
            .sized_like_copy_of(&b, StorageClass::StandardIa));
        assert!(a.same_etag(&b));
        assert!(!a.same_etag(&obj("GLACIER", 10, "e2", None, NOW)));
        let no_etag = ObjectFacts {
            etag: None,
            ..b.clone()
        };
        assert!(!no_etag.same_etag(&no_etag.clone()));
        assert!(a.newer_than(&b) && !b.newer_than(&a) && !a.newer_than(&a));
        assert_eq!((a.version(), b.version()), ("v1", "null"));
    }

    #[test]
    fn rules_come_from_the_spec() {
        use crate::fixtures::JobSpecBuilder;
        use crate::spec::Destination;
        let spec = || JobSpecBuilder::new("j", "src").restore_days(5);
        let r = Rules::of(&spec().build());
        assert_eq!(
            r,
            Rules {
                bucket: "src".into(),
                target: StorageClass::StandardIa,
                tier: RestoreTier::Bulk,
                days: 5,
                ..rules()
            }
        );
        let dest = |overwrite: bool| Destination {
            bucket: "d".into(),
            prefix: String::new(),
            strip_prefix: String::new(),
            overwrite,
        };
        let r = Rules::of(
            &spec()
                .destination(dest(true))
                .source_prefix("x/")
                .dest_buckets(&["d"])
                .delete_source_version(true)
                .build(),
        );
        assert!(r.overwrite && r.delete_source_version);
        assert_eq!(
            (r.source_prefix.as_deref(), r.dest_buckets.clone()),
            (Some("x/"), vec!["d".to_owned()])
        );
        assert!(!Rules::of(&spec().destination(dest(false)).build()).overwrite);
        assert!(Rules::of(&spec().overwrite(true).build()).overwrite);
        assert!(!r.goal(false).in_place && r.goal(true).in_place);
    }

    #[test]
    fn only_refusals_before_the_object_exists_prove_no_copy() {
        assert!(made_no_copy("CopyObject", Some(403)));
        assert!(made_no_copy("UploadPartCopy", Some(412)));
        assert!(made_no_copy("GetObjectAcl", Some(404)));
        assert!(!made_no_copy("CopyObject", Some(500)));
        assert!(!made_no_copy("CopyObject", None));
        assert!(!made_no_copy("CompleteMultipartUpload", Some(400)));
        assert!(!made_no_copy("HeadObject", Some(404)));
        assert!(is_definite_refusal(Some(499)) && !is_definite_refusal(Some(503)));
    }

    #[test]
    fn the_versions_of_a_delete_after_a_copy() {
        fn copy<'c>(
            r: Result<(&str, Option<&'c str>), Failure>,
        ) -> Result<Option<&'c str>, String> {
            r.map(|(source, copy)| {
                assert_eq!(source, "v1");
                copy
            })
            .map_err(|f| f.code)
        }
        assert_eq!(
            copy(delete_versions(true, Some("v1"), Some("v2"))),
            Ok(Some("v2"))
        );
        assert_eq!(copy(delete_versions(false, Some("v1"), None)), Ok(None));
        assert_eq!(
            copy(delete_versions(false, Some("v1"), Some("v1"))),
            Ok(Some("v1"))
        );
        assert_eq!(
            delete_versions(true, Some("v1"), Some("v1")),
            Err(Failure::new(
                "CopyNotVerified",
                "the copy and the source are the same version: nothing deleted"
            ))
        );
        assert_eq!(
            delete_versions(true, Some("v1"), None),
            Err(Failure::new(
                "CopyNotVerified",
                "the in-place copy has no version id: source version kept"
            ))
        );
        assert_eq!(
            delete_versions(true, None, Some("v2")),
            Err(Failure::new(
                "NoSourceVersion",
                "S3 reported no version id for the source: nothing deleted"
            ))
        );
    }

    #[test]
    fn a_copy_is_verified_by_class_and_size() {
        let copy = obj("STANDARD_IA", 10, "e", Some("v2"), NOW);
        assert_eq!(check_copy(&copy, 10, StorageClass::StandardIa), Ok(()));
        assert_eq!(
            check_copy(&copy, 11, StorageClass::StandardIa),
            Err(Failure::new(
                "CopyNotVerified",
                "the copy is 10 bytes in STANDARD_IA, expected 11 bytes in STANDARD_IA: source version kept"
            ))
        );
        assert!(check_copy(&copy, 10, StorageClass::Glacier).is_err());
    }

    fn pending<'a>(
        target: Option<&'a ObjectFacts>,
        source: Option<&'a ObjectFacts>,
    ) -> PendingDeleteFacts<'a> {
        PendingDeleteFacts {
            recorded_at: Some(NOW),
            version: "v1",
            target,
            source,
            multipart_threshold: 100,
        }
    }

    #[test]
    fn a_pending_delete_is_finished_when_its_copy_is_shown() {
        let class = StorageClass::StandardIa;
        let source = obj("GLACIER", 10, "e1", Some("v1"), NOW - 5000);
        let copy = obj("STANDARD_IA", 10, "e1", Some("v2"), NOW + 5);
        let p = pending(Some(&copy), Some(&source));
        assert_eq!(recover_pending_delete(class, &p), Recovery::DeleteSource);
        // A minute of clock skew is allowed, not more.
        let skewed = obj("STANDARD_IA", 10, "e1", Some("v2"), NOW - 60);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&skewed), Some(&source))),
            Recovery::DeleteSource
        );
        let before = obj("STANDARD_IA", 10, "e1", Some("v2"), NOW - 61);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&before), Some(&source))),
            Recovery::Drop
        );
        // A record without its time accepts any copy time; a copy without one is not shown.
        let untimed = PendingDeleteFacts {
            recorded_at: None,
            ..pending(Some(&before), Some(&source))
        };
        assert_eq!(
            recover_pending_delete(class, &untimed),
            Recovery::DeleteSource
        );
        let no_time = ObjectFacts {
            last_modified: None,
            ..copy.clone()
        };
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&no_time), Some(&source))),
            Recovery::Drop
        );
    }

    #[test]
    fn a_pending_delete_without_a_copy_is_dropped() {
        let class = StorageClass::StandardIa;
        let source = obj("GLACIER", 10, "e1", Some("v1"), NOW - 5000);
        assert_eq!(
            recover_pending_delete(class, &pending(None, Some(&source))),
            Recovery::Drop
        );
        // The target is the recorded version itself (in place, no copy made).
        let itself = obj("STANDARD_IA", 10, "e1", Some("v1"), NOW + 5);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&itself), Some(&source))),
            Recovery::Drop
        );
        for (c, s) in [("STANDARD", 10), ("STANDARD_IA", 11)] {
            let other = obj(c, s, "e1", Some("v2"), NOW + 5);
            assert_eq!(
                recover_pending_delete(class, &pending(Some(&other), Some(&source))),
                Recovery::Drop,
                "{c} {s}"
            );
        }
    }

    #[test]
    fn pending_delete_etags_count_only_for_single_part_non_kms_copies() {
        let class = StorageClass::StandardIa;
        let copy = obj("STANDARD_IA", 10, "other", Some("v2"), NOW + 5);
        let single = obj("GLACIER", 10, "e1", Some("v1"), NOW - 5000);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&copy), Some(&single))),
            Recovery::Drop
        );
        let multipart = PendingDeleteFacts {
            multipart_threshold: 9,
            ..pending(Some(&copy), Some(&single))
        };
        assert_eq!(
            recover_pending_delete(class, &multipart),
            Recovery::DeleteSource
        );
        let kms = ObjectFacts {
            kms: true,
            ..single.clone()
        };
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&copy), Some(&kms))),
            Recovery::DeleteSource
        );
    }

    #[test]
    fn a_pending_delete_whose_source_is_gone_counts_its_copy() {
        let class = StorageClass::StandardIa;
        let copy = obj("STANDARD_IA", 12, "x", Some("v2"), NOW + 5);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&copy), None)),
            Recovery::Copied { bytes: 12 }
        );
        let old = obj("STANDARD_IA", 12, "x", Some("v2"), NOW - 61);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&old), None)),
            Recovery::Drop
        );
        let other = obj("STANDARD", 12, "x", Some("v2"), NOW + 5);
        assert_eq!(
            recover_pending_delete(class, &pending(Some(&other), None)),
            Recovery::Drop
        );
        assert_eq!(
            recover_pending_delete(class, &pending(None, None)),
            Recovery::Drop
        );
    }

    #[test]
    fn a_restore_header_without_ongoing_request_says_nothing() {
        assert_eq!(
            parse_restore_header(Some("expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"")),
            RestoreStatus::None
        );
    }
}
