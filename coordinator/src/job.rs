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
    /// Local workers run at most the window at once (`--max-tasks` recorded with the job, which
    /// `launch` sets to `--parallel` and `follow`/`retry --max-tasks` may change).
    pub fn launcher(&self, table: &str, aws: &Aws) -> Launcher {
        let mut settings = self.settings.clone();
        if let (LaunchSettings::Local(s), Some(n)) = (&mut settings, self.spec.max_tasks) {
            s.parallel = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        Launcher::new(aws, &settings, WorkerEnv::new(&self.spec, table, aws))
    }

    /// How many lots may have a live worker once `follow` or `retry` launched at one look: the
    /// window on ECS; locally every lot, since the local launcher itself runs at most the window
    /// of workers at once and waits for them (the due lots stream through it in window order).
    pub fn launch_window(&self) -> u32 {
        match self.settings {
            LaunchSettings::Ecs(_) => self.window(),
            LaunchSettings::Local(_) => u32::MAX,
        }
    }

    /// The window: lots with a live worker at once (`--max-tasks`; every lot for jobs launched
    /// before the window existed).
    pub fn window(&self) -> u32 {
        self.spec.max_tasks.unwrap_or(self.spec.lots).max(1)
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

/// Sets the job's window (`follow --max-tasks`, `retry --max-tasks`) in its item, where every
/// later command reads it, and in `job`. A conditional write: a change by another coordinator
/// meanwhile is read back and the new window written over it.
pub async fn set_max_tasks(
    table: &ProgressTable,
    job: &mut Job,
    max_tasks: u32,
) -> anyhow::Result<()> {
    let id = job.spec.job_id.clone();
    for _ in 0..5 {
        let item = table
            .get_job(&id)
            .await?
            .ok_or_else(|| anyhow!("job {id} not found in table {}", table.name()))?;
        let mut spec: JobSpec = serde_json::from_str(&item.spec_json)
            .with_context(|| format!("job {id}: unreadable job spec in the table"))?;
        spec.max_tasks = Some(max_tasks);
        let new = serde_json::to_string(&spec).context("serialising the job spec")?;
        if table.replace_job_spec(&id, &item.spec_json, &new).await? {
            job.spec = spec;
            return Ok(());
        }
    }
    bail!("job {id}: its item kept changing while the window was set; try again")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::ecs::EcsSettings;
    use crate::launcher::local::LocalSettings;
    use thaw_common::fixtures::JobSpecBuilder;

    fn ecs() -> LaunchSettings {
        LaunchSettings::Ecs(EcsSettings {
            cluster: "c".into(),
            task_definition: "t".into(),
            container: "worker".into(),
            subnets: vec!["s".into()],
            security_groups: vec![],
            assign_public_ip: false,
            spot: false,
            launch_concurrency: 8,
        })
    }

    #[test]
    fn a_job_from_before_the_window_runs_every_lot_at_once() {
        let spec = JobSpecBuilder::new("j", "b").lots(40).max_tasks(7).build();
        let mut json: serde_json::Value = serde_json::to_value(&spec).expect("json");
        json.as_object_mut().expect("object").remove("max_tasks");
        let old: JobSpec = serde_json::from_value(json).expect("an old spec reads");
        assert_eq!(old.max_tasks, None);
        let job = |spec: JobSpec, settings| Job { spec, settings };
        assert_eq!(job(old.clone(), ecs()).window(), 40);
        assert_eq!(job(spec.clone(), ecs()).window(), 7);
        assert_eq!(job(spec.clone(), ecs()).launch_window(), 7);
        // locally the launcher keeps to the window: follow and retry hand it every due lot
        let local = LaunchSettings::Local(LocalSettings {
            worker_bin: "/bin/worker".into(),
            parallel: 4,
        });
        assert_eq!(job(spec, local).launch_window(), u32::MAX);
    }
}
