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
use crate::pricing::ObjectSample;
use billing::{payback_months, storage_advice, StorageAdvice};
use lifecycle::{judge_rules, CopyFacts, Match, RuleWarning, StickRule};

/// Where the job's copies go.
#[derive(Debug, Clone, Copy)]
pub struct AdviceJob<'a> {
    /// The source bucket.
    pub bucket: &'a str,
    /// `--dest`: copies go to this bucket and prefix (`None`: in place, or per pairs line).
    pub destination: Option<&'a Destination>,
    /// The class the copies are written in.
    pub target: StorageClass,
    /// The source objects stay after their copy (copies elsewhere without
    /// `--delete-source-version`).
    pub source_kept: bool,
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

/// Objects left where they are, for one reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeftOutLine {
    /// `MinSize` or `MinAge`.
    pub reason: String,
    /// Objects (estimated from the sample when `at` is `sample`).
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// `planning` (left out of the lots) or `sample` (the workers will skip them).
    pub at: &'static str,
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
        job.source_kept,
        prices,
    );
    let payback = payback_months(
        e.total_usd,
        storage.selection.before_usd,
        storage.selection.after_usd,
    );
    let mut notes = Vec::new();
    let rules = match s3 {
        Some(s3) => read_rules(s3, job, &mut notes).await,
        None => {
            notes.push("no AWS access: lifecycle rules not checked".to_owned());
            Vec::new()
        }
    };
    let warnings = warnings(job, keys, sample, &rules)?;
    Ok(Advice {
        target: job.target.to_string(),
        storage,
        one_time_usd: e.total_usd,
        payback_months: payback,
        left_out: left_out_lines(keys, sample),
        warnings,
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

/// The rules' warnings: the list is read once more to count the copies under each prefix.
fn warnings(
    job: &AdviceJob<'_>,
    keys: &KeyList,
    sample: &ObjectSample,
    rules: &[StickRule],
) -> anyhow::Result<Vec<RuleWarning>> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let mut under = vec![0u64; rules.len()];
    for line in keys.reopen()? {
        let entry = line?;
        let Some(key) = job.copy_key(&entry) else {
            continue;
        };
        for (n, r) in under.iter_mut().zip(rules) {
            *n += u64::from(key.starts_with(r.filter.prefix.as_str()));
        }
    }
    let sizes: Vec<u64> = sample.objects.iter().map(|o| o.size).collect();
    let facts = CopyFacts {
        target: job.target,
        keys_under_prefix: &under,
        sizes: &sizes,
        exhaustive: sample.weight <= 1.0,
    };
    Ok(judge_rules(rules, &facts))
}

/// What was left out at planning (exact) and what the sample says the workers will skip.
fn left_out_lines(keys: &KeyList, sample: &ObjectSample) -> Vec<LeftOutLine> {
    let planning = keys.left_out.by_reason.iter().map(|(r, g)| LeftOutLine {
        reason: r.code().to_owned(),
        objects: g.objects,
        bytes: g.bytes,
        at: "planning",
    });
    let sampled = sample.left_out.iter().map(|(r, (n, b))| LeftOutLine {
        reason: r.code().to_owned(),
        objects: (*n as f64 * sample.weight).round() as u64,
        bytes: (*b as f64 * sample.weight).round() as u64,
        at: "sample",
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
            "  young objects: {} younger than their class's minimum duration: early deletion ${:.2} (in the cost above); --min-age {}d leaves them for later",
            s.young_objects,
            s.young_early_deletion_usd,
            s.young_min_days.ceil() as u64
        );
    }
    o.push_str(&render_left_out(&a.left_out));
    o.push_str(&render_rules(a));
    o
}

/// The lines of what `--min-size`/`--min-age` leave where it is.
fn render_left_out(left_out: &[LeftOutLine]) -> String {
    let mut o = String::new();
    for l in left_out {
        let why = match LeftOutReason::from_code(&l.reason) {
            Some(LeftOutReason::MinAge) => "younger than --min-age",
            _ => "smaller than --min-size",
        };
        let how = if l.at == "planning" {
            "left out of the lots"
        } else {
            "(estimated from the sample) the workers will leave where they are after their HEAD"
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
