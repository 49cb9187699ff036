//! `coordinator jobs`: the jobs recorded in the progress table, newest first.

use std::collections::BTreeMap;

use serde_json::json;
use thaw_common::spec::JobSpec;

use super::{out, Global};

/// Flags of `coordinator jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// One JSON document instead of a table.
    #[arg(long, env = "THAW_JSON")]
    pub json: bool,
}

/// Runs `coordinator jobs`.
pub async fn run(g: &Global, args: JobsArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let jobs = table.jobs().await?;
    let mut rows = Vec::new();
    for j in &jobs {
        let spec: Option<JobSpec> = serde_json::from_str(&j.spec_json).ok();
        let mut states = BTreeMap::new();
        let mut done = 0;
        for l in table.lots(&j.job_id).await? {
            *states.entry(l.state.as_str()).or_insert(0u64) += 1;
            done += l.counters.done();
        }
        rows.push(json!({
            "job_id": j.job_id,
            "created": spec.as_ref().map(|s| s.created_at.clone()),
            "bucket": spec.as_ref().map(|s| s.bucket.clone()),
            "target_class": spec.as_ref().map(|s| s.target_class.as_str()),
            "keys_total": spec.as_ref().map(|s| s.keys_total),
            "keys_done": done,
            "lots": spec.as_ref().map(|s| s.lots),
            "launcher": j.launcher,
            "states": states,
        }));
    }
    if args.json {
        return out(&format!("{}\n", serde_json::to_string_pretty(&rows)?));
    }
    let mut o = format!(
        "{:<36}  {:<20}  {:<24} {:<12} {:>6} {:>15}  STATES\n",
        "JOB", "CREATED", "BUCKET", "TARGET", "LOTS", "DONE/KEYS"
    );
    for r in &rows {
        let states: Vec<String> = r["states"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
            .unwrap_or_default();
        let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
        o.push_str(&format!(
            "{:<36}  {:<20}  {:<24} {:<12} {:>6} {:>15}  {}\n",
            s("job_id"),
            s("created"),
            s("bucket"),
            s("target_class"),
            r["lots"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            format!(
                "{}/{}",
                r["keys_done"],
                r["keys_total"].as_u64().unwrap_or(0)
            ),
            states.join(", ")
        ));
    }
    if rows.is_empty() {
        o.push_str(&format!("(no jobs in table {})\n", g.table));
    }
    out(&o)
}
