//! A job as the commands that operate it (`status`, `retry`, `follow`, `cancel`, `failures`,
//! `report`) find it in the progress table: its spec and how its workers are launched.

use anyhow::{anyhow, bail, Context};
use thaw_common::aws::Aws;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::spec::JobSpec;

use crate::launcher::{LaunchSettings, Launcher, WorkerEnv};

/// A job as recorded in the table: its spec and how its workers are launched.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job spec (`job.json`).
    pub spec: JobSpec,
    /// Launcher settings given at launch.
    pub settings: LaunchSettings,
}

/// Reads the job item; a missing job is a clear error.
pub async fn load_job(table: &ProgressTable, job: &str) -> anyhow::Result<Job> {
    let item = table
        .get_job(job)
        .await?
        .ok_or_else(|| anyhow!("job {job} not found in table {}", table.name()))?;
    let spec: JobSpec = serde_json::from_str(&item.spec_json)
        .with_context(|| format!("job {job}: unreadable job spec in the table"))?;
    let settings: LaunchSettings = serde_json::from_str(&item.launch_json)
        .with_context(|| format!("job {job}: unreadable launcher settings in the table"))?;
    Ok(Job { spec, settings })
}

impl Job {
    /// A launcher that starts workers the way the job's `launch` did, reporting to `table`.
    pub fn launcher(&self, table: &str, aws: &Aws) -> Launcher {
        Launcher::new(aws, &self.settings, WorkerEnv::new(&self.spec, table, aws))
    }

    /// The ECS cluster, for ECS jobs.
    pub fn cluster(&self) -> Option<&str> {
        match &self.settings {
            LaunchSettings::Ecs(s) => Some(&s.cluster),
            LaunchSettings::Local(_) => None,
        }
    }
}

/// Fails when the job has fewer lot items than its spec says: a `launch` that stopped while
/// recording them. Running the same `launch --job-id` again finishes it.
pub fn check_complete(job: &Job, lots: &[LotItem]) -> anyhow::Result<()> {
    if lots.len() as u64 != u64::from(job.spec.lots) {
        bail!(
            "job {} has {} of its {} lots recorded: run the same `coordinator launch --job-id {}` again to finish recording it",
            job.spec.job_id,
            lots.len(),
            job.spec.lots,
            job.spec.job_id
        );
    }
    Ok(())
}
