//! `launch --dry-run`: the plan as it would be recorded and launched, then what the job will
//! cost. Nothing is uploaded, recorded or launched; the plan needs no AWS call (an `s3://` key
//! list was read before), the cost looks at the inventory's columns or a sample of the objects.

use thaw_common::aws::Aws;
use thaw_common::spec::JOB_SPEC_NAME;

use super::args::LaunchArgs;
use super::plan::Plan;
use super::preflight::copy_acls;
use crate::advice::{advise, render as render_advice, AdviceJob};
use crate::cmd::timeline::for_launch;
use crate::cmd::{out, Global};
use crate::control::manifest_uri;
use crate::keylist::KeyList;
use crate::launcher::{ecs, LaunchSettings, WorkerEnv};
use crate::pricing::source::source_fate;
use crate::pricing::{
    extra_heads_per_copy, from_inventory, in_place_share, load_prices, look_at, price, render,
    restore_days, CostSettings, ObjectSample, Sampling,
};

/// Prints the plan: the job, its lots, where its objects go and how its workers start.
pub fn print_plan(g: &Global, plan: &Plan, keys: &KeyList) -> anyhow::Result<()> {
    let spec = &plan.spec;
    let min = plan.sizes.iter().min().copied().unwrap_or(0);
    let max = plan.sizes.iter().max().copied().unwrap_or(0);
    let mut o = String::new();
    push_line!(o, "job {}", spec.job_id);
    push_line!(o, "dry run: nothing is uploaded, recorded or launched");
    push_line!(
        o,
        "keys: {} from {} ({})",
        spec.keys_total,
        keys.name(),
        spec.input_fingerprint
    );
    push_line!(o, "lots: {} ({min} to {max} keys each)", spec.lots);
    o.push_str(&keys.left_out.lines());
    if keys.control_left_out > 0 {
        push_line!(o, "{}", super::control_line(keys.control_left_out));
    }
    if let Some(n) = spec.max_tasks {
        push_line!(
            o,
            "window: at most {} lots with a live worker at once (--max-tasks)",
            n.min(spec.lots)
        );
    }
    push_line!(
        o,
        "objects: bucket {} -> {}, restore tier {} for {} days",
        spec.bucket,
        spec.target_class,
        spec.restore_tier,
        spec.restore_days
    );
    if let Some(d) = &spec.destination {
        push_line!(
            o,
            "copies to: s3://{}/{} (keys below '{}' keep their path)",
            d.bucket,
            d.prefix,
            d.strip_prefix
        );
    }
    if !plan.dest_buckets.is_empty() {
        let names: Vec<&str> = plan.dest_buckets.iter().map(String::as_str).collect();
        push_line!(o, "destination buckets: {}", names.join(", "));
    }
    if spec.delete_source_version {
        push_line!(
            o,
            "after each verified copy, the copied source version is deleted"
        );
    }
    push_line!(o, "control: {}", spec.control);
    push_line!(o, "manifest of lot 0: {}", manifest_uri(&spec.control, 0));
    push_line!(o, "job spec: {}", spec.control.uri(JOB_SPEC_NAME));
    push_line!(o, "table: {}", g.table);
    push_line!(
        o,
        "worker settings: {}",
        serde_json::to_string(&spec.worker).unwrap_or_default()
    );
    o.push_str(&launcher_lines(&plan.settings, &worker_env(g, plan)));
    out(&o)
}

/// What the workers would be told, with the Region and endpoint from the flags and the
/// environment (the AWS configuration is not needed for a dry run).
fn worker_env(g: &Global, plan: &Plan) -> WorkerEnv {
    let env_var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let args = &g.aws_args;
    WorkerEnv {
        job_id: plan.spec.job_id.clone(),
        table: g.table.clone(),
        control: plan.spec.control.clone(),
        region: args
            .region
            .clone()
            .or_else(|| env_var("AWS_REGION"))
            .or_else(|| env_var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "<region from the AWS configuration>".into()),
        endpoint_url: args
            .endpoint_url
            .clone()
            .or_else(|| env_var("AWS_ENDPOINT_URL")),
    }
}

/// How lot 0's worker would start: its RunTask request, or its local command line.
fn launcher_lines(settings: &LaunchSettings, env: &WorkerEnv) -> String {
    let mut o = String::new();
    match settings {
        LaunchSettings::Ecs(s) => {
            let req = ecs::run_task_request(s, env, 0, 1);
            push_line!(o, "ECS RunTask request of lot 0:");
            push_line!(
                o,
                "{}",
                serde_json::to_string_pretty(&req).unwrap_or_default()
            );
        }
        LaunchSettings::Local(s) => {
            let vars: Vec<String> = env
                .vars(0, 1, "human")
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            push_line!(
                o,
                "local worker of lot 0 ({} at once): {} {}",
                s.parallel,
                vars.join(" "),
                s.worker_bin
            );
        }
    }
    o
}

/// The objects the cost is estimated from: an inventory's own columns (even without AWS
/// access), else a sample of HEADs.
async fn sample_objects(
    aws: &anyhow::Result<&Aws>,
    a: &LaunchArgs,
    plan: &Plan,
    keys: &KeyList,
) -> anyhow::Result<ObjectSample> {
    let spec = &plan.spec;
    match (&keys.known_objects, aws) {
        (Some(known), _) => from_inventory(known, keys, &plan.sizes),
        (None, Ok(aws)) => {
            look_at(
                &aws.s3(),
                &spec.bucket,
                keys,
                spec.destination.is_none(),
                spec.target_class,
                spec.restore_tier,
                &plan.sizes,
                Sampling {
                    size: a.sample as usize,
                    leave_out: spec.leave_out,
                    request_payer: spec.request_payer,
                },
            )
            .await
        }
        (None, Err(e)) => Err(anyhow::anyhow!("{e:#}")),
    }
}

/// The cost part of `--dry-run`: from the inventory when the input is one, else from a sample
/// looked at with HeadObject. A cost that cannot be estimated is said, and the plan still
/// stands.
pub async fn print_cost(
    aws: anyhow::Result<&Aws>,
    a: &LaunchArgs,
    plan: &Plan,
    keys: &KeyList,
) -> anyhow::Result<()> {
    let spec = &plan.spec;
    let prices = load_prices(a.prices.as_deref())?;
    let sample = match sample_objects(&aws, a, plan, keys).await {
        Ok(s) => s,
        Err(e) => return out(&format!("cost: not estimated: {e:#}\n")),
    };
    // One GetObjectAcl per copy when the bucket uses ACLs (what launch would decide).
    let acl_reads = match &aws {
        Ok(aws) => match copy_acls(&aws.s3(), a.acls, plan).await {
            Ok(true) => 1.0,
            _ => 0.0,
        },
        Err(_) => 0.0,
    };
    let reader = aws.as_ref().ok().map(|aws| aws.s3());
    let elsewhere = spec.destination.is_some() || keys.fields.with_dest > 0;
    let fate = source_fate(
        reader.as_ref(),
        &spec.bucket,
        spec.delete_source_version,
        elsewhere,
    )
    .await;
    let settings = cost_settings(a, plan, keys, acl_reads, fate.removed);
    let e = price(
        &sample,
        spec.target_class,
        spec.restore_tier,
        &settings,
        &prices,
    );
    let job = AdviceJob {
        bucket: &spec.bucket,
        destination: spec.destination.as_ref(),
        target: spec.target_class,
        source: &fate,
    };
    let advice = advise(reader.as_ref(), &job, keys, &sample, &e, &prices).await?;
    out(&format!(
        "cost estimate (us-east-1 prices unless --prices; Fargate at 1 vCPU/2 GB and 50 keys/s per task):\n{}{}",
        render(&e, &sample, u64::from(spec.lots)),
        restore_days::render(&e)
    ))?;
    out(&for_launch(
        a,
        u64::from(spec.lots),
        spec.keys_total,
        &spec.worker,
        &sample.objects,
    ))?;
    out(&render_advice(&advice))
}

/// The cost model's settings for this plan: Fargate at 1 vCPU/2 GB and 50 keys/s per task, and
/// the HeadObject calls and DynamoDB writes its flags add.
fn cost_settings(
    a: &LaunchArgs,
    plan: &Plan,
    keys: &KeyList,
    acl_reads: f64,
    source_removed: bool,
) -> CostSettings {
    let spec = &plan.spec;
    let extra_heads = extra_heads_per_copy(
        &keys.fields,
        keys.count,
        spec.destination.is_some(),
        spec.delete_source_version,
        spec.overwrite,
    );
    CostSettings {
        lots: u64::from(spec.lots),
        keys_per_second: 50.0,
        task_vcpu: 1.0,
        task_gb: 2.0,
        spot: a.spot,
        polls_per_restore: 0.0,
        multipart_threshold: spec.worker.multipart_threshold,
        part_size: spec.worker.part_size,
        extra_heads_per_copy: extra_heads + acl_reads,
        // Pending-delete records are grouped (worker/src/records.rs): at most 10 UpdateItems of
        // the ~6 KB lot item a second, ~170 per 5,000-key lot: ~200 write units per 1,000 keys.
        ddb_writes_per_1000: if spec.delete_source_version {
            204.0
        } else {
            4.0
        },
        list_requests: keys.list_pages,
        in_place: in_place_share(&keys.fields, keys.count, spec.destination.is_some()),
        source_removed,
        restore_days: spec.restore_days,
    }
}
