//! What `launch` prints once its lots are launched, and its exit status: on ECS the tasks run
//! on, so the launch outcomes are reported; locally the workers have finished, so the lots' own
//! states are.

use std::collections::BTreeMap;

use anyhow::bail;
use thaw_common::checkpoint::LotState;
use thaw_common::progress::ProgressTable;
use thaw_common::spec::JobSpec;

use super::record::Selection;
use crate::cmd::{out, Global};
use crate::launcher::ecs::EcsSettings;
use crate::launcher::{LotOutcome, Outcome};

/// ` --table T` for the `next:` hint, unless the table is the default one.
pub fn table_flag(g: &Global) -> String {
    if g.table == "thaw-progress" {
        String::new()
    } else {
        format!(" --table {}", g.table)
    }
}

/// The lots whose launch failed or whose worker failed, with why.
fn failures(outcomes: &[LotOutcome]) -> Vec<(u32, String)> {
    outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Outcome::Failed { error, .. } => Some((o.lot, error.clone())),
            Outcome::Exited {
                status,
                success: false,
                ..
            } => Some((o.lot, format!("worker exited with {status}"))),
            _ => None,
        })
        .collect()
}

/// What an ECS launch prints: tasks run on, so the lots are only started.
pub fn report_ecs(
    g: &Global,
    spec: &JobSpec,
    s: &EcsSettings,
    sel: &Selection,
    outcomes: &[LotOutcome],
) -> anyhow::Result<()> {
    let started = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Started { .. }))
        .count();
    let elsewhere = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::ClaimedElsewhere))
        .count();
    let held = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::NotStarted))
        .count();
    let failed = failures(outcomes);
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(
        o,
        "{} keys in {} lots; manifests and job spec under {}",
        spec.keys_total,
        spec.lots,
        spec.control
    );
    push_line!(
        o,
        "launched {started} lots on ECS cluster {}; {} were already launched or running, {} succeeded, {} left for a retry, {elsewhere} claimed by another coordinator, {} failed to launch",
        s.cluster,
        sel.active,
        sel.succeeded,
        sel.other,
        failed.len()
    );
    let deferred = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Deferred { .. }))
        .count();
    if deferred > 0 {
        push_line!(
            o,
            "the account's Fargate quota is full: {} lots left as they were; `coordinator follow {}` starts them as tasks end",
            deferred + held,
            spec.job_id
        );
    } else if held > 0 {
        push_line!(
            o,
            "{held} lots left PENDING, not sent: ECS refused a lot of this launch (see above); fix the setup, then coordinator retry {}",
            spec.job_id
        );
    }
    if sel.window_full > 0 {
        push_line!(
            o,
            "{} lots wait PENDING for a slot of the window ({} tasks at once, --max-tasks): `coordinator follow {}` starts them as lots finish",
            sel.window_full,
            spec.max_tasks.unwrap_or(spec.lots),
            spec.job_id
        );
    }
    if sel.paced > 0 {
        push_line!(
            o,
            "{} lots wait PENDING to start at the restore rate (one `follow` look's worth at once): `coordinator follow {}` starts them",
            sel.paced,
            spec.job_id
        );
    }
    push_line!(
        o,
        "next: coordinator status {}{}",
        spec.job_id,
        table_flag(g)
    );
    out(&o)?;
    if let Some((lot, err)) = failed.first() {
        bail!(
            "{} of {} lots failed to launch (lot {lot}: {err})",
            failed.len(),
            outcomes.len()
        );
    }
    Ok(())
}

/// What a local launch prints once its workers exited, from the lots as they ended.
pub async fn report_local(
    g: &Global,
    table: &ProgressTable,
    spec: &JobSpec,
    outcomes: &[LotOutcome],
) -> anyhow::Result<()> {
    let lots = table.lots(&spec.job_id).await?;
    let mut states = BTreeMap::<&str, usize>::new();
    for l in &lots {
        *states.entry(l.state.as_str()).or_default() += 1;
    }
    let not_started = outcomes
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::NotStarted))
        .count();
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(
        o,
        "{} keys in {} lots; ran {} local workers",
        spec.keys_total,
        spec.lots,
        outcomes.len() - not_started
    );
    let states_text: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    push_line!(o, "lots: {}", states_text.join(", "));
    if let Some(n) = states.get(LotState::Waiting.as_str()) {
        push_line!(
            o,
            "{n} lots are WAITING for restores; they need another run once the restores complete"
        );
    }
    if not_started > 0 {
        push_line!(o, "{not_started} lots were not started (interrupted); launch again with --job-id {} to start them", spec.job_id);
    }
    push_line!(
        o,
        "next: coordinator status {}{}",
        spec.job_id,
        table_flag(g)
    );
    out(&o)?;
    let failed_lots: Vec<u32> = lots
        .iter()
        .filter(|l| l.state == LotState::Failed)
        .map(|l| l.lot)
        .collect();
    let failed = failures(outcomes);
    if !failed_lots.is_empty() || !failed.is_empty() {
        let detail = failed
            .first()
            .map(|(lot, e)| format!(" (lot {lot}: {e})"))
            .unwrap_or_default();
        bail!(
            "{} lots FAILED, {} workers failed{detail}",
            failed_lots.len(),
            failed.len()
        );
    }
    Ok(())
}
