//! The ECS launcher: one Fargate (or Fargate Spot) task per lot via RunTask.
//!
//! The request is first built as a plain [`RunTaskRequest`] in the ECS API's JSON shape, so
//! `--dry-run` can show it and tests can check the size of its overrides (ECS refuses more than
//! 8,192 characters), then sent through the SDK. Throttling and server errors are retried with
//! jittered exponential backoff on top of the SDK's own retries; the client token makes a retry
//! of the same attempt idempotent on AWS.

use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerOverride,
    KeyValuePair, LaunchType, NetworkConfiguration, Tag, TaskOverride,
};
use backon::{ExponentialBuilder, Retryable};
use thaw_common::aws::AwsError;
use thaw_common::task::{LaunchFailure, TaskId};
use tracing::warn;

use super::answer::{self, NotStarted};
use super::WorkerEnv;
use crate::ids::client_token;

/// The most characters ECS accepts in a RunTask `overrides` document.
pub const MAX_OVERRIDES_LEN: usize = 8192;

/// How ECS tasks are started; part of the job item's `launch_json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EcsSettings {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Task definition family[:revision] or ARN.
    pub task_definition: String,
    /// Name of the worker container in the task definition.
    pub container: String,
    /// Subnets for the task's network interface.
    pub subnets: Vec<String>,
    /// Security groups (none: the VPC's default group).
    pub security_groups: Vec<String>,
    /// Give the task a public IP (needed in public subnets without a NAT gateway).
    pub assign_public_ip: bool,
    /// Use Fargate Spot instead of on-demand Fargate.
    pub spot: bool,
    /// RunTask calls in flight.
    pub launch_concurrency: usize,
}

/// A name/value pair of the container environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TagKv {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// One capacity provider of the strategy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProvider {
    /// Provider name (`FARGATE_SPOT`).
    pub capacity_provider: String,
    /// Relative weight.
    pub weight: i32,
}

/// The awsvpc network settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsVpc {
    /// Subnets.
    pub subnets: Vec<String>,
    /// Security groups; left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    pub assign_public_ip: String,
}

/// Network configuration of the task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// The awsvpc settings.
    pub awsvpc_configuration: AwsVpc,
}

/// Environment overrides of one container.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContainerEnv {
    /// Container name.
    pub name: String,
    /// Variables set in it.
    pub environment: Vec<EnvVar>,
}

/// The task overrides (limited by ECS to 8,192 characters of JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    /// Per-container overrides.
    pub container_overrides: Vec<ContainerEnv>,
}

/// A RunTask request in the shape of the ECS API's JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskRequest {
    /// Cluster.
    pub cluster: String,
    /// Task definition.
    pub task_definition: String,
    /// Always 1.
    pub count: i32,
    /// `FARGATE`, unless a capacity provider strategy is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// `FARGATE_SPOT` with `--spot`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProvider>,
    /// awsvpc networking.
    pub network_configuration: Network,
    /// The job id (ListTasks can filter on it).
    pub started_by: String,
    /// `thaw:job` and `thaw:lot`.
    pub tags: Vec<TagKv>,
    /// Adds the cluster and service tags ECS manages.
    pub enable_ecs_managed_tags: bool,
    /// Idempotency token of this attempt.
    pub client_token: String,
    /// The worker's environment.
    pub overrides: Overrides,
}

impl RunTaskRequest {
    /// Length of the overrides as ECS measures them (their JSON).
    pub fn overrides_len(&self) -> usize {
        serde_json::to_string(&self.overrides)
            .map(|s| s.len())
            .unwrap_or(usize::MAX)
    }
}

/// The RunTask request for `attempt` of `lot`.
pub fn run_task_request(
    settings: &EcsSettings,
    env: &WorkerEnv,
    lot: u32,
    attempt: u64,
) -> RunTaskRequest {
    let (launch_type, capacity_provider_strategy) = if settings.spot {
        (
            None,
            vec![CapacityProvider {
                capacity_provider: "FARGATE_SPOT".into(),
                weight: 1,
            }],
        )
    } else {
        (Some("FARGATE".to_owned()), vec![])
    };
    RunTaskRequest {
        cluster: settings.cluster.clone(),
        task_definition: settings.task_definition.clone(),
        count: 1,
        launch_type,
        capacity_provider_strategy,
        network_configuration: Network {
            awsvpc_configuration: AwsVpc {
                subnets: settings.subnets.clone(),
                security_groups: settings.security_groups.clone(),
                assign_public_ip: if settings.assign_public_ip {
                    "ENABLED"
                } else {
                    "DISABLED"
                }
                .into(),
            },
        },
        started_by: env.job_id.clone(),
        tags: vec![
            TagKv {
                key: "thaw:job".into(),
                value: env.job_id.clone(),
            },
            TagKv {
                key: "thaw:lot".into(),
                value: lot.to_string(),
            },
        ],
        enable_ecs_managed_tags: true,
        client_token: client_token(&env.job_id, lot, attempt),
        overrides: Overrides {
            container_overrides: vec![ContainerEnv {
                name: settings.container.clone(),
                environment: env
                    .vars(lot, attempt, "json")
                    .into_iter()
                    .map(|(name, value)| EnvVar { name, value })
                    .collect(),
            }],
        },
    }
}

/// The request as SDK values (built once, cloned into every retry).
struct SdkParts {
    network: NetworkConfiguration,
    overrides: TaskOverride,
    strategy: Option<CapacityProviderStrategyItem>,
    tags: Vec<Tag>,
}

fn sdk_parts(req: &RunTaskRequest) -> anyhow::Result<SdkParts> {
    let vpc = &req.network_configuration.awsvpc_configuration;
    let awsvpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(vpc.subnets.clone()))
        .set_security_groups(if vpc.security_groups.is_empty() {
            None
        } else {
            Some(vpc.security_groups.clone())
        })
        .assign_public_ip(AssignPublicIp::from(vpc.assign_public_ip.as_str()))
        .build()
        .context("building the awsvpc configuration")?;
    let mut overrides = TaskOverride::builder();
    for c in &req.overrides.container_overrides {
        let mut co = ContainerOverride::builder().name(&c.name);
        for v in &c.environment {
            co = co.environment(
                KeyValuePair::builder()
                    .name(&v.name)
                    .value(&v.value)
                    .build(),
            );
        }
        overrides = overrides.container_overrides(co.build());
    }
    let strategy = match req.capacity_provider_strategy.first() {
        Some(cp) => Some(
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&cp.capacity_provider)
                .weight(cp.weight)
                .build()
                .context("building the capacity provider strategy")?,
        ),
        None => None,
    };
    Ok(SdkParts {
        network: NetworkConfiguration::builder()
            .awsvpc_configuration(awsvpc)
            .build(),
        overrides: overrides.build(),
        strategy,
        tags: req
            .tags
            .iter()
            .map(|t| Tag::builder().key(&t.key).value(&t.value).build())
            .collect(),
    })
}

/// True for RunTask errors worth another round of tries (the SDK has already retried each
/// call a few times; other server errors are left to it).
fn is_retryable(e: &AwsError) -> bool {
    matches!(e.code.as_str(), "ThrottlingException" | "ServerException")
}

/// Starts ECS tasks for a job.
#[derive(Debug)]
pub struct EcsLauncher {
    client: aws_sdk_ecs::Client,
    settings: EcsSettings,
    env: WorkerEnv,
}

impl EcsLauncher {
    /// A launcher with these settings; workers get `env`.
    pub fn new(client: aws_sdk_ecs::Client, settings: EcsSettings, env: WorkerEnv) -> Self {
        Self {
            client,
            settings,
            env,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &EcsSettings {
        &self.settings
    }

    /// Starts the task of `attempt` of `lot`. Throttling and server errors are tried again
    /// within the call (up to 10 times), so is a shortage of capacity (3 times: it may pass in
    /// seconds); the Fargate quota is not (it frees up only as tasks end). What is left is
    /// [`NotStarted`], passing or permanent (see [`super::answer`]).
    pub async fn run_task(&self, lot: u32, attempt: u64) -> Result<TaskId, NotStarted> {
        let req = run_task_request(&self.settings, &self.env, lot, attempt);
        let len = req.overrides_len();
        if len >= MAX_OVERRIDES_LEN {
            return Err(NotStarted::new(
                LaunchFailure::Refused,
                format!("task overrides are {len} characters, ECS accepts fewer than {MAX_OVERRIDES_LEN}"),
            ));
        }
        let parts = sdk_parts(&req)
            .map_err(|e| NotStarted::new(LaunchFailure::Refused, format!("{e:#}")))?;
        let once = || self.send_once(&req, &parts, lot, attempt);
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(3);
        once.retry(backoff)
            .when(|e: &Retry| e.0)
            .notify(|e: &Retry, wait: Duration| {
                warn!(lot, attempt, "{}; trying again in {wait:?}", e.1);
            })
            .await
            .map_err(|e| e.1)
    }

    /// One RunTask (with its own retries of throttling): the task, or why none was started and
    /// whether another try within this call is worth it.
    async fn send_once(
        &self,
        req: &RunTaskRequest,
        parts: &SdkParts,
        lot: u32,
        attempt: u64,
    ) -> Result<TaskId, Retry> {
        let send = || async {
            let mut call = self
                .client
                .run_task()
                .cluster(&req.cluster)
                .task_definition(&req.task_definition)
                .count(req.count)
                .network_configuration(parts.network.clone())
                .started_by(&req.started_by)
                .set_tags(Some(parts.tags.clone()))
                .enable_ecs_managed_tags(req.enable_ecs_managed_tags)
                .client_token(&req.client_token)
                .overrides(parts.overrides.clone());
            call = match &parts.strategy {
                Some(s) => call.capacity_provider_strategy(s.clone()),
                None => call.launch_type(LaunchType::Fargate),
            };
            call.send()
                .await
                .map_err(|e| AwsError::from_sdk("RunTask", &e))
        };
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(10);
        let out = send
            .retry(backoff)
            .when(is_retryable)
            .notify(|e: &AwsError, wait: Duration| {
                warn!(lot, attempt, "{e}; retrying in {wait:?}");
            })
            .await
            .map_err(|e| {
                let kind = answer::error_kind(&e.code, &e.message);
                Retry(false, NotStarted::new(kind, format!("RunTask: {e}")))
            })?;
        if let Some(f) = out.failures().first() {
            let reason = f.reason().unwrap_or("unknown failure");
            let kind = answer::failure_kind(reason);
            let again = kind == LaunchFailure::RunTask && !answer::is_quota(reason);
            let message = format!(
                "RunTask: {reason}{}{}",
                f.detail().map(|d| format!(" ({d})")).unwrap_or_default(),
                f.arn().map(|a| format!(" for {a}")).unwrap_or_default()
            );
            let why = if answer::is_quota(reason) {
                NotStarted::quota(message)
            } else {
                NotStarted::new(kind, message)
            };
            return Err(Retry(again, why));
        }
        out.tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(|arn| TaskId::Ecs(arn.to_owned()))
            .ok_or_else(|| {
                let why = "RunTask started no task and reported no failure";
                Retry(false, NotStarted::new(LaunchFailure::RunTask, why))
            })
    }
}

/// A RunTask that started nothing: whether to try again within the call, and why.
#[derive(Debug)]
struct Retry(bool, NotStarted);

/// Fails unless the cluster exists and is ACTIVE.
pub async fn check_cluster(client: &aws_sdk_ecs::Client, cluster: &str) -> anyhow::Result<()> {
    let out = match client.describe_clusters().clusters(cluster).send().await {
        Ok(out) => out,
        Err(e) => {
            let err = AwsError::from_sdk("DescribeClusters", &e);
            if err.code == "ClusterNotFoundException" {
                bail!("ECS cluster {cluster} not found");
            }
            return Err(err).with_context(|| format!("checking ECS cluster {cluster}"));
        }
    };
    match out.clusters().first().and_then(|c| c.status()) {
        Some("ACTIVE") => Ok(()),
        Some(status) => bail!("ECS cluster {cluster} not found (it is {status})"),
        None => bail!("ECS cluster {cluster} not found"),
    }
}

/// Fails unless the task definition exists and has a container named `container`.
pub async fn check_task_definition(
    client: &aws_sdk_ecs::Client,
    task_definition: &str,
    container: &str,
) -> anyhow::Result<()> {
    let out = client
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTaskDefinition", &e))
        .with_context(|| format!("ECS task definition {task_definition} not found"))?;
    let names: Vec<&str> = out
        .task_definition()
        .map(|td| td.container_definitions())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.name())
        .collect();
    if !names.contains(&container) {
        bail!(
            "ECS task definition {task_definition} has no container named '{container}' (it has: {}); pass --container",
            names.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::spec::S3Location;

    fn settings() -> EcsSettings {
        EcsSettings {
            cluster: "thaw".into(),
            task_definition: "thaw-worker:3".into(),
            container: "worker".into(),
            subnets: vec!["subnet-1".into(), "subnet-2".into()],
            security_groups: vec![],
            assign_public_ip: false,
            spot: false,
            launch_concurrency: 8,
        }
    }

    fn env(job: &str, table: &str, bucket: &str, prefix: &str) -> WorkerEnv {
        WorkerEnv {
            job_id: job.into(),
            table: table.into(),
            control: S3Location::new(bucket, prefix).join(job),
            region: "ap-southeast-2".into(),
            endpoint_url: Some("https://example.invalid:4566".into()),
        }
    }

    #[test]
    fn request_shape() {
        let r = run_task_request(&settings(), &env("j1", "t", "b", "thaw/"), 7, 2);
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["launchType"], "FARGATE");
        assert!(v.get("capacityProviderStrategy").is_none());
        let vpc = &v["networkConfiguration"]["awsvpcConfiguration"];
        assert!(
            vpc.get("securityGroups").is_none(),
            "empty groups are left out"
        );
        assert_eq!(vpc["assignPublicIp"], "DISABLED");
        assert_eq!(v["startedBy"], "j1");
        assert_eq!(v["clientToken"], "j1-7-2");
        assert_eq!(v["tags"][1]["value"], "7");
        let envs = &v["overrides"]["containerOverrides"][0];
        assert_eq!(envs["name"], "worker");
        let names: Vec<&str> = envs["environment"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        for n in [
            "THAW_JOB_ID",
            "THAW_LOT",
            "THAW_ATTEMPT",
            "THAW_TABLE",
            "THAW_CONTROL",
            "THAW_REGION",
            "THAW_ENDPOINT_URL",
            "THAW_LOG_FORMAT",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }

        let mut s = settings();
        s.spot = true;
        s.assign_public_ip = true;
        s.security_groups = vec!["sg-1".into()];
        let v = serde_json::to_value(run_task_request(&s, &env("j1", "t", "b", ""), 0, 1))
            .expect("json");
        assert!(v.get("launchType").is_none());
        assert_eq!(
            v["capacityProviderStrategy"][0]["capacityProvider"],
            "FARGATE_SPOT"
        );
        let vpc = &v["networkConfiguration"]["awsvpcConfiguration"];
        assert_eq!(vpc["securityGroups"][0], "sg-1");
        assert_eq!(vpc["assignPublicIp"], "ENABLED");
        sdk_parts(&run_task_request(&s, &env("j1", "t", "b", ""), 0, 1)).expect("sdk values");
    }

    #[test]
    fn overrides_stay_small_with_long_names() {
        // the longest names AWS allows: table 255, bucket 63, job id 36, and a long prefix
        let job = "j".repeat(36);
        let table = "t".repeat(255);
        let bucket = "b".repeat(63);
        let prefix = "p/".repeat(200);
        let mut s = settings();
        s.container = "c".repeat(255);
        let r = run_task_request(&s, &env(&job, &table, &bucket, &prefix), u32::MAX, u64::MAX);
        let len = r.overrides_len();
        assert!(len < MAX_OVERRIDES_LEN, "overrides are {len} characters");
        assert!(r.client_token.len() <= 64);
    }

    #[test]
    fn retryable_errors() {
        let e = |code: &str, status| AwsError {
            operation: "RunTask",
            code: code.into(),
            message: String::new(),
            status,
        };
        assert!(is_retryable(&e("ThrottlingException", Some(400))));
        assert!(is_retryable(&e("ServerException", Some(500))));
        assert!(!is_retryable(&e("HTTP500", Some(500))));
        assert!(!is_retryable(&e("ClientException", Some(400))));
        assert!(!is_retryable(&e("InvalidParameterException", Some(400))));
    }
}
