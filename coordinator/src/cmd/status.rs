//! `coordinator status JOB`: one line per lot and job totals, or one JSON document with
//! `--json`.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use thaw_common::checkpoint::Counters;
use thaw_common::progress::{now_secs, LotItem};

use super::{out, Global};

/// Flags of `coordinator status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Job id (printed by `coordinator launch`).
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Print one JSON document instead of a table.
    #[arg(long, env = "THAW_JSON")]
    pub json: bool,
}

/// Runs `coordinator status`.
pub async fn run(g: &Global, args: StatusArgs) -> anyhow::Result<()> {
    let aws = g.aws().await?;
    let table = g.progress(&aws);
    if table.get_job(&args.job).await?.is_none() {
        bail!("job {} not found in table {}", args.job, g.table);
    }
    let lots = table
        .lots(&args.job)
        .await
        .with_context(|| format!("reading the lots of job {}", args.job))?;
    let now = now_secs();
    if args.json {
        let doc = status_json(&args.job, &lots, now);
        let mut text = serde_json::to_string_pretty(&doc).context("serialising the status")?;
        text.push('\n');
        out(&text)
    } else {
        out(&status_text(&args.job, &lots, now))
    }
}

fn totals(lots: &[LotItem]) -> (Counters, BTreeMap<&'static str, u64>) {
    let mut sum = Counters::default();
    let mut states = BTreeMap::new();
    for l in lots {
        sum.add(&l.counters);
        *states.entry(l.state.as_str()).or_insert(0) += 1;
    }
    (sum, states)
}

fn counters_json(c: &Counters) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("keys_total".into(), json!(c.keys_total));
    m.insert("restore_requested".into(), json!(c.restore_requested));
    m.insert("restored".into(), json!(c.restored));
    m.insert("copied".into(), json!(c.copied));
    m.insert("skipped".into(), json!(c.skipped));
    m.insert("failed".into(), json!(c.failed));
    m.insert("bytes_copied".into(), json!(c.bytes_copied));
    m
}

fn heartbeat_age(l: &LotItem, now: i64) -> Option<i64> {
    l.heartbeat_at.map(|t| (now - t).max(0))
}

/// The `--json` document.
fn status_json(job: &str, lots: &[LotItem], now: i64) -> Value {
    let items: Vec<Value> = lots
        .iter()
        .map(|l| {
            let mut m = serde_json::Map::new();
            m.insert("lot".into(), json!(l.lot));
            m.insert("state".into(), json!(l.state.as_str()));
            m.extend(counters_json(&l.counters));
            m.insert("attempt".into(), json!(l.attempt));
            m.insert("task".into(), json!(l.task));
            m.insert("heartbeat_age_s".into(), json!(heartbeat_age(l, now)));
            m.insert("last_error".into(), json!(l.last_error));
            m.insert("next_check_at".into(), json!(l.next_check_at));
            Value::Object(m)
        })
        .collect();
    let (sum, states) = totals(lots);
    let mut t = counters_json(&sum);
    t.insert("lots".into(), json!(lots.len()));
    t.insert("states".into(), json!(states));
    json!({ "job_id": job, "lots": items, "totals": Value::Object(t) })
}

fn percent(c: &Counters) -> f64 {
    if c.keys_total == 0 {
        0.0
    } else {
        c.done() as f64 * 100.0 / c.keys_total as f64
    }
}

/// A task id short enough for a table cell: the task id of an ARN, or the local id.
fn short_task(task: &str) -> String {
    let t = if task.starts_with("arn:") {
        task.rsplit('/').next().unwrap_or(task)
    } else {
        task
    };
    if t.chars().count() > 32 {
        t.chars().take(31).chain(['…']).collect()
    } else {
        t.to_owned()
    }
}

/// The human table.
fn status_text(job: &str, lots: &[LotItem], now: i64) -> String {
    let mut out = format!("job {job}\n");
    out.push_str(&format!(
        "{:>5}  {:<11} {:>19} {:>6} {:>9} {:>9} {:>7} {:>7}  {:<32} {:>9}\n",
        "LOT",
        "STATE",
        "DONE/TOTAL",
        "%",
        "COPIED",
        "SKIPPED",
        "FAILED",
        "ATTEMPT",
        "TASK",
        "HEARTBEAT"
    ));
    for l in lots {
        let c = &l.counters;
        out.push_str(&format!(
            "{:>5}  {:<11} {:>19} {:>5.1}% {:>9} {:>9} {:>7} {:>7}  {:<32} {:>9}\n",
            l.lot,
            l.state.as_str(),
            format!("{}/{}", c.done(), c.keys_total),
            percent(c),
            c.copied,
            c.skipped,
            c.failed,
            l.attempt,
            l.task
                .as_deref()
                .map(short_task)
                .unwrap_or_else(|| "-".into()),
            heartbeat_age(l, now)
                .map(|a| format!("{a}s"))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    let (sum, states) = totals(lots);
    out.push_str(&format!(
        "total: {} lots, {}/{} keys done ({:.1}%), copied {}, skipped {}, failed {}, restore requested {}, restored {}, {} bytes copied\n",
        lots.len(),
        sum.done(),
        sum.keys_total,
        percent(&sum),
        sum.copied,
        sum.skipped,
        sum.failed,
        sum.restore_requested,
        sum.restored,
        sum.bytes_copied
    ));
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    out.push_str(&format!("states: {}\n", states.join(", ")));
    for l in lots {
        if let Some(e) = &l.last_error {
            out.push_str(&format!("lot {}: {e}\n", l.lot));
        }
        if let Some(t) = l.next_check_at {
            out.push_str(&format!(
                "lot {}: next check in {}s\n",
                l.lot,
                (t - now).max(0)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::checkpoint::{LotCheckpoint, LotState};

    fn lot(n: u32, state: LotState, done: u64) -> LotItem {
        let mut cp = LotCheckpoint::new(10);
        cp.counters.copied = done;
        LotItem {
            lot: n,
            state,
            attempt: 1,
            counters: cp.counters,
            task: Some("arn:aws:ecs:us-east-1:123:task/thaw/0123456789abcdef".into()),
            heartbeat_at: Some(100),
            updated_at: None,
            next_check_at: None,
            last_error: None,
            manifest: String::new(),
            checkpoint: cp,
            uploads: BTreeMap::new(),
        }
    }

    #[test]
    fn json_document() {
        let lots = [lot(0, LotState::Running, 5), lot(1, LotState::Pending, 0)];
        let v = status_json("j", &lots, 130);
        assert_eq!(v["job_id"], "j");
        assert_eq!(v["lots"][0]["heartbeat_age_s"], 30);
        assert_eq!(v["lots"][0]["state"], "RUNNING");
        assert_eq!(v["lots"][1]["last_error"], Value::Null);
        assert_eq!(v["totals"]["copied"], 5);
        assert_eq!(v["totals"]["keys_total"], 20);
        assert_eq!(v["totals"]["lots"], 2);
        assert_eq!(v["totals"]["states"]["PENDING"], 1);
    }

    #[test]
    fn text_table() {
        let lots = [lot(0, LotState::Running, 5)];
        let t = status_text("j", &lots, 130);
        assert!(t.contains("5/10"), "{t}");
        assert!(t.contains("50.0%"), "{t}");
        assert!(t.contains("0123456789abcdef"), "{t}");
        assert!(t.contains("states: RUNNING 1"), "{t}");
        assert_eq!(short_task("local:host:42"), "local:host:42");
    }
}
