//! "Worth it? Will it stick?": the advice `estimate` and `launch --dry-run` print after the
//! cost. From the objects the estimate already looked at (a HeadObject sample or an inventory's
//! columns) and two reads of the bucket's settings:
//!
//! - [`billing`]: the selection's monthly storage before and after the move, with S3's billing
//!   minimums (128 KB in the IA classes and Glacier Instant Retrieval, 40 KB more per object in
//!   GLACIER and DEEP_ARCHIVE), its small objects, its objects younger than their class's
//!   minimum duration, and the months until a cheaper class pays back the job's one-time cost;
//! - [`lifecycle`]: lifecycle rules and Intelligent-Tiering archive configurations that would
//!   move the copies on or delete them ([`reads`] gets them from S3);
//! - what `--min-size` and `--min-age` leave where it is.

pub mod billing;
pub mod lifecycle;
pub mod reads;

use thaw_common::cost::{Estimate, Prices};
use thaw_common::keys::KeyLine;
use thaw_common::leave_out::LeftOutReason;
use thaw_common::spec::Destination;
use thaw_common::storage::StorageClass;

use crate::keylist::KeyList;
use crate::pricing::source::SourceFate;
use crate::pricing::ObjectSample;
use billing::{payback_months, storage_advice, StorageAdvice};
use lifecycle::{judge_rules, old_version, CopyFacts, Match, OldVersion, RuleWarning, StickRule};

/// Where the job's copies go.
#[derive(Debug, Clone, Copy)]
pub struct AdviceJob<'a> {
    /// The source bucket.
    pub bucket: &'a str,
    /// `--dest`: copies go to this bucket and prefix (`None`: in place, or per pairs line).
    pub destination: Option<&'a Destination>,
    /// The class the copies are written in.
    pub target: StorageClass,
    /// What the copies do to their source objects.
    pub source: &'a SourceFate,
}

impl AdviceJob<'_> {
    /// The bucket whose rules apply to the copies.
    fn copies_bucket(&self) -> &str {
        self.destination.map_or(self.bucket, |d| d.bucket.as_str())
    }

    /// Where `entry`'s copy lands in [`AdviceJob::copies_bucket`]; `None` elsewhere.
    fn copy_key<'e>(&self, entry: &'e KeyLine) -> Option<std::borrow::Cow<'e, str>> {
        match (&entry.dest, self.destination) {
            (Some((b, k)), _) => (b == self.copies_bucket()).then_some(k.as_str().into()),
            (None, Some(d)) => Some(d.key_for(&entry.key).into()),
            (None, None) => Some(entry.key.as_str().into()),
        }
    }
}

/// Where objects are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeftOutAt {
    /// At planning, from the list's sizes and ages: left out of the lots (exact counts).
    Planning,
    /// By the workers after their HeadObject (counts estimated from the sample).
    Sample,
}

/// Objects left where they are, for one reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeftOutLine {
    /// `MinSize` or `MinAge`.
    pub reason: LeftOutReason,
    /// Objects (estimated from the sample when `at` is `sample`).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// `planning` or `sample`.
    pub at: LeftOutAt,
}

/// The old versions in-place copies leave in a versioned bucket (without
/// `--delete-source-version`), by what the lifecycle rules do to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OldVersions {
    /// Deleted by a NoncurrentVersionExpiration.
    pub expired: u64,
    /// Moved to a colder class by a NoncurrentVersionTransition, never deleted.
    pub transitioned: u64,
    /// Left as they are, billed as before.
    pub kept: u64,
}

/// The advice.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Advice {
    /// The target class.
    pub target: String,
    /// Monthly storage, small and young objects.
    pub storage: StorageAdvice,
    /// The job's one-time cost (the estimate's total).
    pub one_time_usd: f64,
    /// Months until the monthly savings pay it back (`None`: the move costs more a month).
    pub payback_months: Option<f64>,
    /// What `--min-size`/`--min-age` leave where it is.
    pub left_out: Vec<LeftOutLine>,
    /// Rules that would move the copies on or delete them.
    pub warnings: Vec<RuleWarning>,
    /// In-place copies in a versioned bucket: what happens to the old versions they leave.
    pub old_versions: Option<OldVersions>,
    /// Reads that could not be made, and other remarks.
    pub notes: Vec<String>,
}

/// The advice for a job whose objects `sample` describes and whose one-time cost `e` is.
pub async fn advise(
    s3: Option<&aws_sdk_s3::Client>,
    job: &AdviceJob<'_>,
    keys: &KeyList,
    sample: &ObjectSample,
    e: &Estimate,
    prices: &Prices,
) -> anyhow::Result<Advice> {
    let storage = storage_advice(
        &sample.objects,
        sample.weight,
        job.target,
        job.source.removed,
        prices,
    );
    let payback = payback_months(
        e.total_usd,
        storage.selection.before_usd,
        storage.selection.after_usd,
    );
    let mut notes: Vec<String> = job.source.note.iter().cloned().collect();
    let rules = match s3 {
        Some(s3) => read_rules(s3, job, &mut notes).await,
        None => {
            notes.push("no AWS access: lifecycle rules not checked".to_owned());
            Vec::new()
        }
    };
    let counts = count_keys(job, keys, &rules)?;
    let warnings = warnings(job, &counts.under, sample, &rules);
    notes.extend(unchecked_buckets(job, keys));
    Ok(Advice {
        target: job.target.to_string(),
        storage,
        one_time_usd: e.total_usd,
        payback_months: payback,
        left_out: left_out_lines(keys, sample),
        warnings,
        old_versions: counts.old_versions,
        notes,
    })
}

/// The lifecycle rules of the copies' bucket, and its Intelligent-Tiering configurations when
/// the copies go to INTELLIGENT_TIERING; reads that fail become notes.
async fn read_rules(
    s3: &aws_sdk_s3::Client,
    job: &AdviceJob<'_>,
    notes: &mut Vec<String>,
) -> Vec<StickRule> {
    let bucket = job.copies_bucket();
    let mut rules = reads::lifecycle_rules(s3, bucket)
        .await
        .unwrap_or_else(|n| {
            notes.push(n);
            Vec::new()
        });
    if job.target == StorageClass::IntelligentTiering {
        match reads::tiering_configurations(s3, bucket).await {
            Ok(r) => rules.extend(r),
            Err(n) => notes.push(n),
        }
    }
    rules
}

/// The job's copies counted against the rules: under each rule's prefix, and by what happens
/// to the old version an in-place copy leaves in a versioned bucket.
struct KeyCounts {
    under: Vec<u64>,
    old_versions: Option<OldVersions>,
}

/// Counts the copies under each rule's prefix and their old versions' fate: the list is read
/// once more when there are rules (without rules, every old version is kept).
fn count_keys(
    job: &AdviceJob<'_>,
    keys: &KeyList,
    rules: &[StickRule],
) -> anyhow::Result<KeyCounts> {
    let kept = job.source.old_version_kept;
    let mut under = vec![0u64; rules.len()];
    let mut old = kept.then(OldVersions::default);
    if rules.is_empty() {
        if let Some(o) = &mut old {
            o.kept = keys.count;
        }
        return Ok(KeyCounts {
            under,
            old_versions: old,
        });
    }
    for line in keys.reopen()? {
        let entry = line?;
        let Some(key) = job.copy_key(&entry) else {
            continue;
        };
        for (n, r) in under.iter_mut().zip(rules) {
            *n += u64::from(key.starts_with(r.filter.prefix.as_str()));
        }
        if let Some(o) = &mut old {
            match old_version(rules, &key) {
                OldVersion::Expired => o.expired += 1,
                OldVersion::Transitioned => o.transitioned += 1,
                OldVersion::Kept => o.kept += 1,
            }
        }
    }
    Ok(KeyCounts {
        under,
        old_versions: old,
    })
}

/// The rules' warnings for the copies, `under` each rule's prefix.
fn warnings(
    job: &AdviceJob<'_>,
    under: &[u64],
    sample: &ObjectSample,
    rules: &[StickRule],
) -> Vec<RuleWarning> {
    if rules.is_empty() {
        return Vec::new();
    }
    let sizes: Vec<u64> = sample.objects.iter().map(|o| o.size).collect();
    let facts = CopyFacts {
        target: job.target,
        keys_under_prefix: under,
        sizes: &sizes,
        exhaustive: sample.weight <= 1.0,
    };
    judge_rules(rules, &facts)
}

/// The note of the destination buckets a pairs list names whose rules were not read.
fn unchecked_buckets(job: &AdviceJob<'_>, keys: &KeyList) -> Option<String> {
    let others: Vec<&str> = keys
        .fields
        .dest_buckets
        .iter()
        .map(String::as_str)
        .filter(|b| *b != job.copies_bucket())
        .collect();
    (!others.is_empty()).then(|| {
        format!(
            "lifecycle rules of the pairs' destination buckets not checked: {}",
            others.join(", ")
        )
    })
}

/// What was left out at planning (exact) and what the sample says the workers will skip.
fn left_out_lines(keys: &KeyList, sample: &ObjectSample) -> Vec<LeftOutLine> {
    let planning = keys.left_out.by_reason.iter().map(|(r, g)| LeftOutLine {
        reason: *r,
        objects: g.objects,
        bytes: g.bytes,
        at: LeftOutAt::Planning,
    });
    let sampled = sample.left_out.iter().map(|(r, (n, b))| LeftOutLine {
        reason: *r,
        objects: (*n as f64 * sample.weight).round() as u64,
        bytes: (*b as f64 * sample.weight).round() as u64,
        at: LeftOutAt::Sample,
    });
    planning.chain(sampled).collect()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The advice as the lines both commands print.
pub fn render(a: &Advice) -> String {
    let mut o = String::from("worth it? will it stick?\n");
    let s = &a.storage;
    push_line!(
        o,
        "  storage a month: ${:.2} now, ${:.2} after the move to {}",
        s.selection.before_usd,
        s.selection.after_usd,
        a.target
    );
    match a.payback_months {
        Some(m) => push_line!(
            o,
            "  saves ${:.2} a month: the one-time ${:.2} pays back in {m:.1} months",
            s.selection.before_usd - s.selection.after_usd,
            a.one_time_usd
        ),
        None => push_line!(
            o,
            "  costs ${:.2} more a month (plus the one-time ${:.2}): a move for access, not for savings",
            s.selection.after_usd - s.selection.before_usd,
            a.one_time_usd
        ),
    }
    if s.small.objects > 0 {
        push_line!(
            o,
            "  small objects: {} under 128 KiB ({:.1} MiB) billed {} in {}: ${:.2} a month after vs ${:.2} now; --min-size 128KiB leaves them where they are",
            s.small.objects,
            mib(s.small.bytes),
            if matches!(a.target.as_str(), "GLACIER" | "DEEP_ARCHIVE") {
                "40 KiB more each"
            } else {
                "as 128 KiB each"
            },
            a.target,
            s.small.after_usd,
            s.small.before_usd
        );
    }
    if s.young_objects > 0 {
        push_line!(
            o,
            "  young objects: {} younger than their class's minimum duration (age since LastModified; S3 counts an object a lifecycle rule moved from its transition, so those may be billed more): early deletion ${:.2} (in the cost above); --min-age {}d leaves them for later",
            s.young_objects,
            s.young_early_deletion_usd,
            s.young_min_days.ceil() as u64
        );
    }
    o.push_str(&render_left_out(&a.left_out));
    if let Some(v) = &a.old_versions {
        o.push_str(&render_old_versions(v));
    }
    o.push_str(&render_rules(a));
    o
}

/// The lines of the old versions in-place copies leave in a versioned bucket.
fn render_old_versions(v: &OldVersions) -> String {
    let mut o = String::new();
    push_line!(
        o,
        "  versioned bucket: each in-place copy keeps the old version (noncurrent, billed as before: counted in \"after\" above); --delete-source-version deletes it"
    );
    if v.kept + v.transitioned > 0 {
        push_line!(
            o,
            "  warning: no lifecycle rule expires the old versions (NoncurrentVersionExpiration) of {} copies{}",
            v.kept + v.transitioned,
            if v.transitioned > 0 {
                format!(
                    " ({} of them moved to a colder class by a NoncurrentVersionTransition, still billed)",
                    v.transitioned
                )
            } else {
                String::new()
            }
        );
    }
    o
}

/// The lines of what `--min-size`/`--min-age` leave where it is.
fn render_left_out(left_out: &[LeftOutLine]) -> String {
    let mut o = String::new();
    for l in left_out {
        let why = match l.reason {
            LeftOutReason::MinAge => "younger than --min-age",
            LeftOutReason::MinSize => "smaller than --min-size",
        };
        let how = match l.at {
            LeftOutAt::Planning => "left out of the lots",
            LeftOutAt::Sample => {
                "(estimated from the sample) the workers will leave where they are after their HEAD"
            }
        };
        push_line!(
            o,
            "  left out: {} objects ({:.1} MiB) {why}: {how}",
            l.objects,
            mib(l.bytes)
        );
    }
    o
}

/// The warnings of the rules that would undo the move, and the notes.
fn render_rules(a: &Advice) -> String {
    let mut o = String::new();
    for w in &a.warnings {
        let keys = match w.matched {
            Match::Matches(n) => format!("matches {n} copies"),
            Match::MayMatch(n) => {
                format!("may match {n} copies (tags or sizes the sample cannot tell)")
            }
        };
        let actions: Vec<String> = w.actions.iter().map(ToString::to_string).collect();
        let kind = match w.kind {
            lifecycle::RuleKind::Lifecycle => "lifecycle rule",
            lifecycle::RuleKind::IntelligentTiering => "Intelligent-Tiering configuration",
        };
        push_line!(
            o,
            "  warning: {kind} '{}' {keys} and {}",
            w.id,
            actions.join(", then ")
        );
    }
    for n in &a.notes {
        push_line!(o, "  note: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_out_lines_say_why_and_where() {
        let lines = [
            LeftOutLine {
                reason: LeftOutReason::MinAge,
                objects: 3,
                bytes: 3 << 20,
                at: LeftOutAt::Planning,
            },
            LeftOutLine {
                reason: LeftOutReason::MinSize,
                objects: 7,
                bytes: 0,
                at: LeftOutAt::Sample,
            },
        ];
        assert_eq!(
            render_left_out(&lines),
            "  left out: 3 objects (3.0 MiB) younger than --min-age: left out of the lots\n  \
             left out: 7 objects (0.0 MiB) smaller than --min-size: (estimated from the sample) \
             the workers will leave where they are after their HEAD\n"
        );
        // the JSON document keeps the codes it had
        let json = serde_json::to_value(&lines[1]).expect("json");
        assert_eq!(
            (json["reason"].as_str(), json["at"].as_str()),
            (Some("MinSize"), Some("sample"))
        );
    }

    #[test]
    fn old_versions_warn_unless_every_one_expires() {
        let expired = OldVersions {
            expired: 5,
            ..OldVersions::default()
        };
        let text = render_old_versions(&expired);
        assert!(
            text.contains("each in-place copy keeps the old version"),
            "{text}"
        );
        assert!(!text.contains("warning"), "{text}");
        let kept = OldVersions {
            expired: 5,
            transitioned: 2,
            kept: 1,
        };
        let text = render_old_versions(&kept);
        assert!(
            text.contains("no lifecycle rule expires the old versions (NoncurrentVersionExpiration) of 3 copies (2 of them moved to a colder class"),
            "{text}"
        );
    }
}
