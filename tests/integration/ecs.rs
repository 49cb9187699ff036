//! The ECS side of the rig: a cluster and task definition on the emulator, `launch` with the ECS
//! launcher, and the Fargate stand-in that reads back what RunTask was asked for and runs a real
//! worker with exactly that environment.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use crate::rig::{bin, launch_with, unique, Clients, Moto};

/// [`launch_local`] with the ECS launcher, sending the tasks to `ecs`.
pub fn launch_ecs(
    moto: &Moto,
    ecs: &EcsSetup,
    table: &str,
    bucket: &str,
    job: &str,
    input: impl AsRef<Path>,
    extra: &[&str],
) -> Output {
    let mut launcher = vec!["--launcher".to_owned(), "ecs".to_owned()];
    launcher.extend(ecs.launch_args());
    launch_with(moto, &launcher, [table, bucket, job], input.as_ref(), extra)
}

/// The ECS pieces a launch needs on the emulator.
pub struct EcsSetup {
    pub cluster: String,
    pub task_definition: String,
    pub subnets: Vec<String>,
}

impl EcsSetup {
    /// The `launch` flags that send its tasks here (`--cluster` ... `--security-groups`; moto
    /// 5.2.5 crashes on an awsvpc RunTask without security groups).
    pub fn launch_args(&self) -> Vec<String> {
        [
            "--cluster",
            &self.cluster,
            "--task-definition",
            &self.task_definition,
            "--subnets",
            &self.subnets.join(","),
            "--security-groups",
            "sg-12345678",
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// Creates a cluster and a Fargate task definition moto accepts (container-level memory set).
pub async fn ecs_setup(moto: &Moto, c: &Clients) -> EcsSetup {
    use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
    let cluster = unique("cluster");
    c.ecs
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .expect("create cluster");
    let family = unique("family");
    c.ecs
        .register_task_definition()
        .family(&family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("1024")
        .memory("2048")
        .container_definitions(
            ContainerDefinition::builder()
                .name("worker")
                .image("thaw-worker:test")
                .memory(2048)
                .essential(true)
                .build(),
        )
        .send()
        .await
        .expect("register task definition");
    EcsSetup {
        cluster,
        task_definition: family,
        subnets: moto.default_subnets(),
    }
}

/// The Fargate stand-in: every task the job started, with the environment of its container
/// overrides, read back through ListTasks(startedBy) + DescribeTasks.
pub async fn launched_tasks(
    c: &Clients,
    cluster: &str,
    job: &str,
) -> Vec<(String, Vec<(String, String)>)> {
    let pages: Vec<_> = c
        .ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(job)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("list tasks");
    let arns: Vec<String> = pages.iter().flat_map(|p| p.task_arns()).cloned().collect();
    if arns.is_empty() {
        return vec![];
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let desc = c
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .expect("describe tasks");
        for t in desc.tasks() {
            let env = t
                .overrides()
                .map(|o| o.container_overrides())
                .unwrap_or_default()
                .iter()
                .flat_map(|co| co.environment())
                .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                .collect();
            out.push((t.task_arn().unwrap_or_default().to_owned(), env));
        }
    }
    out
}

/// Runs a worker the way Fargate would: with exactly the environment from the task's overrides
/// (plus credentials, which a task role provides on AWS).
pub fn run_worker_as_task(moto: &Moto, task_env: &[(String, String)], task_arn: &str) -> Output {
    let mut cmd = Command::new(bin("worker"));
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("THAW_TASK_ID", task_arn);
    let _ = moto;
    for (k, v) in task_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run worker")
}

/// A job on the shared emulator launched through the ECS launcher: its bucket (holding `keys` in
/// `class`), table, keys file and ECS setup.
pub struct EcsJob {
    pub table: String,
    pub bucket: String,
    pub job: String,
    pub file: std::path::PathBuf,
    pub ecs: EcsSetup,
}

impl EcsJob {
    /// Creates the bucket (named after `name`) with one object per key, the table and the ECS setup.
    pub async fn new(
        moto: &Moto,
        c: &Clients,
        name: &str,
        class: &'static str,
        keys: &[String],
    ) -> Self {
        let bucket = unique(name);
        let table = unique("table");
        crate::rig::init_table(moto, &table);
        crate::rig::create_bucket(c, &bucket).await;
        let objects = keys
            .iter()
            .map(|k| (k.clone(), class, k.as_bytes().to_vec()))
            .collect();
        crate::rig::put_many(c, &bucket, objects).await;
        EcsJob {
            table,
            bucket,
            job: unique("job"),
            file: crate::rig::write_keys(keys),
            ecs: ecs_setup(moto, c).await,
        }
    }

    /// `launch --lots N <extra>` of this job with the ECS launcher.
    pub fn launch(&self, moto: &Moto, lots: usize, extra: &[&str]) -> Output {
        let lots = lots.to_string();
        let mut args = vec!["--lots", &lots];
        args.extend_from_slice(extra);
        launch_ecs(
            moto,
            &self.ecs,
            &self.table,
            &self.bucket,
            &self.job,
            &self.file,
            &args,
        )
    }

    /// The job's lot items.
    pub async fn lots(&self, c: &Clients) -> Vec<thaw_common::progress::LotItem> {
        thaw_common::progress::ProgressTable::new(c.ddb.clone(), &self.table)
            .lots(&self.job)
            .await
            .expect("lots")
    }
}
