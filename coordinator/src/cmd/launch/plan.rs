//! The plan of a launch: the flags and what pass 1 learned about the key list in, the lots and
//! the job spec out. Pure: no AWS call, no file, no clock (the caller reads the list, stats the
//! worker binary and reads the time first), so every rule here is unit-tested.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{anyhow, Context};
use thaw_common::input::{expand_dates, Date, InputFormat};
use thaw_common::leave_out::LeaveOut;
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::spec::{
    poll_delay, Destination, JobSpec, S3Location, WorkerSettings, MAX_REQUESTED_PART_SIZE,
    MIN_PART_SIZE,
};

use super::args::{LaunchArgs, LauncherKind};
use crate::cmd::usage;
use crate::fleet::sizing::Sizing;
use crate::ids::{generate_job_id, rfc3339, validate_job_id};
use crate::keylist::{ListFacts, ListFields};
use crate::launcher::ecs::EcsSettings;
use crate::launcher::local::LocalSettings;
use crate::launcher::LaunchSettings;

/// Default number of keys per lot.
pub const DEFAULT_LOT_SIZE: u64 = 5000;

/// The largest object CopyObject copies, and the largest part UploadPartCopy takes: 5 GiB.
const MAX_COPY: u64 = 5 * 1024 * MIB;
const MIB: u64 = 1024 * 1024;

/// What a plan takes from outside the flags and the list.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// Now: names a job without `--job-id` and dates its spec.
    pub now: SystemTime,
    /// Today, for the date placeholders of `--from`.
    pub today: Date,
    /// The progress table (`--table`).
    pub table: &'a str,
    /// The worker binary, found and checked (`--launcher local` only).
    pub worker_bin: Option<&'a Path>,
}

/// Everything decided before the first AWS call.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The job spec; its bucket Regions and ACL decision are filled in by the pre-flight checks.
    pub spec: JobSpec,
    /// Every bucket copies go to, other than the source (checked, and their Regions recorded).
    pub dest_buckets: BTreeSet<String>,
    /// Keys per lot, in lot order.
    pub sizes: Vec<u64>,
    /// How the workers are started.
    pub settings: LaunchSettings,
    /// `--drop-object-lock`: copy locked objects into destinations without Object Lock without
    /// their lock settings instead of refusing the job.
    pub drop_object_lock: bool,
}

/// Checks what needs neither the key list nor the worker binary, so a typo costs no download:
/// the same checks [`plan`] makes, in the same order.
pub fn check_flags(a: &LaunchArgs, cx: &PlanContext) -> anyhow::Result<()> {
    job_id(a, cx.now)?;
    check_tuning(a)?;
    if a.launcher == LauncherKind::Ecs {
        ecs_settings(a)?;
    }
    let source = source_location(a, cx.today)?;
    destination(a, source.as_ref())?;
    Ok(())
}

/// Plans the job: flags and list facts in, lots and spec out.
pub fn plan(a: &LaunchArgs, keys: &ListFacts, cx: &PlanContext) -> anyhow::Result<Plan> {
    let job_id = job_id(a, cx.now)?;
    check_tuning(a)?;
    let settings = launch_settings(a, cx.worker_bin)?;
    let split = match (a.lots, a.lot_size) {
        (Some(n), _) => LotSpec::Count(n),
        (None, Some(k)) => LotSpec::Size(k),
        (None, None) => LotSpec::Size(DEFAULT_LOT_SIZE),
    };
    let sizes = lot_sizes(keys.count, split).with_context(|| format!("key list {}", keys.name))?;
    let lots = u32::try_from(sizes.len()).context("too many lots")?;
    let max_tasks = window(a, &settings, lots, keys.count);
    let source = source_location(a, cx.today)?;
    let destination = destination(a, source.as_ref())?;
    if a.dest.is_some() && keys.format == InputFormat::Pairs {
        return Err(usage(
            "--dest cannot be used with a pairs list: the list names each destination",
        ));
    }
    let (dest_buckets, pair_buckets) = dest_buckets(&a.bucket, keys.fields, destination.as_ref());
    let control_bucket = a.control_bucket.as_deref().unwrap_or(&a.bucket);
    let spec = JobSpec {
        job_id: job_id.clone(),
        bucket: a.bucket.clone(),
        target_class: a.storage_class,
        restore_tier: a.restore_tier,
        restore_days: a.restore_days,
        keys_total: keys.count,
        lots,
        control: S3Location::new(control_bucket, &a.control_prefix).join(&job_id),
        table: cx.table.to_owned(),
        created_at: rfc3339(cx.now),
        tool_version: thaw_common::TOOL_VERSION.to_owned(),
        input_fingerprint: keys.fingerprint.to_owned(),
        worker: worker_settings(a, workers_at_once(&settings, lots, max_tasks)),
        destination,
        source_prefix: source.map(|l| l.prefix),
        overwrite: a.overwrite,
        delete_source_version: a.delete_source_version,
        bucket_regions: Default::default(),
        dest_buckets: pair_buckets,
        copy_acls: false,
        input_format: keys.format.to_string(),
        request_payer: a.request_payer,
        dest_kms_key: dest_kms_key(a, &dest_buckets)?,
        drop_object_lock_at: Vec::new(),
        leave_out: leave_out(a),
        restore_budget: None,
        max_tasks: Some(max_tasks),
    };
    Ok(Plan {
        spec,
        dest_buckets,
        sizes,
        settings,
        drop_object_lock: a.drop_object_lock,
    })
}

/// `--min-size` and `--min-age` as the job spec keeps them.
pub fn leave_out(a: &LaunchArgs) -> LeaveOut {
    LeaveOut {
        min_size: a.min_size.map(|s| s.0),
        min_age_secs: a.min_age.map(|d| d.0),
    }
}

/// `--job-id` checked, or an id made from the time.
fn job_id(a: &LaunchArgs, now: SystemTime) -> anyhow::Result<String> {
    match &a.job_id {
        Some(id) => {
            validate_job_id(id).map_err(usage)?;
            Ok(id.clone())
        }
        None => Ok(generate_job_id(now)),
    }
}

/// The numbers and combinations of flags S3 or thaw cannot work with.
fn check_tuning(a: &LaunchArgs) -> anyhow::Result<()> {
    if !(a.restore_rate.is_finite() && a.restore_rate > 0.0) {
        return Err(usage(format!(
            "--restore-rate must be a positive number, not {}",
            a.restore_rate
        )));
    }
    if a.multipart_threshold == 0 || a.multipart_threshold > MAX_COPY {
        return Err(usage(format!(
            "--multipart-threshold must be between 1 and {MAX_COPY} bytes (5 GiB, the CopyObject limit), not {}",
            a.multipart_threshold
        )));
    }
    if a.part_size < MIN_PART_SIZE || a.part_size > MAX_REQUESTED_PART_SIZE {
        // S3 takes parts up to 5 GiB, but one part is one request with its own timeout, and
        // the retry unit: 1 GiB parts already reach S3's 5 TB object limit in 10,000 parts.
        return Err(usage(format!(
            "--part-size must be between {MIN_PART_SIZE} (5 MiB) and {MAX_REQUESTED_PART_SIZE} (1 GiB) bytes, not {}",
            a.part_size
        )));
    }
    if a.bucket.is_empty() {
        return Err(usage("--bucket must not be empty"));
    }
    if a.delete_source_version && a.overwrite {
        // Deleting a current version brings the one before it back; with --overwrite, a re-run
        // after a crash could copy that older data over the copy it just made.
        return Err(usage(
            "--delete-source-version cannot be combined with --overwrite",
        ));
    }
    Ok(())
}

/// How the workers are started; a local launch needs the worker binary the caller found.
fn launch_settings(a: &LaunchArgs, worker_bin: Option<&Path>) -> anyhow::Result<LaunchSettings> {
    match a.launcher {
        LauncherKind::Ecs => Ok(LaunchSettings::Ecs(ecs_settings(a)?)),
        LauncherKind::Local => {
            let bin = worker_bin.ok_or_else(|| anyhow!("no worker binary for --launcher local"))?;
            Ok(LaunchSettings::Local(LocalSettings {
                worker_bin: bin.to_string_lossy().into_owned(),
                // One number bounds the local workers: the lower of --parallel and --max-tasks.
                parallel: a
                    .parallel
                    .min(a.max_tasks.map_or(u64::MAX, u64::from))
                    .max(1) as usize,
            }))
        }
    }
}

/// The ECS settings; a task definition and subnets are required.
fn ecs_settings(a: &LaunchArgs) -> anyhow::Result<EcsSettings> {
    let task_definition = a
        .task_definition
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| usage("--launcher ecs needs --task-definition"))?;
    let subnets = nonempty(&a.subnets);
    if subnets.is_empty() {
        return Err(usage("--launcher ecs needs --subnets"));
    }
    Ok(EcsSettings {
        cluster: a.cluster.clone(),
        task_definition,
        container: a.container.clone(),
        subnets,
        security_groups: nonempty(&a.security_groups),
        assign_public_ip: a.assign_public_ip,
        spot: a.spot,
        launch_concurrency: a.launch_concurrency as usize,
    })
}

fn nonempty(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `--from`, its date placeholders filled in for `today`: the prefix whose objects the job
/// takes, which must be in `--bucket`.
pub fn source_location(a: &LaunchArgs, today: Date) -> anyhow::Result<Option<S3Location>> {
    let Some(from) = &a.from else {
        return Ok(None);
    };
    let prefix = expand_dates(from, today).map_err(|e| usage(format!("--from: {e}")))?;
    let loc = S3Location::parse(&prefix).map_err(|e| usage(format!("--from: {e}")))?;
    if loc.bucket != a.bucket {
        return Err(usage(format!(
            "--from names bucket '{}' but --bucket is '{}'",
            loc.bucket, a.bucket
        )));
    }
    Ok(Some(loc))
}

/// Where copies go (`--dest`); `None` in place, including a `--dest` naming the source itself.
/// Keys keep their path below the `--from` prefix (or their whole key for lists).
fn destination(a: &LaunchArgs, source: Option<&S3Location>) -> anyhow::Result<Option<Destination>> {
    let Some(d) = &a.dest else {
        return Ok(None);
    };
    let loc = S3Location::parse(d).map_err(|e| usage(format!("--dest: {e}")))?;
    let strip_prefix = source.map(|s| s.prefix.clone()).unwrap_or_default();
    if loc.bucket == a.bucket && loc.prefix == strip_prefix {
        return Ok(None); // the same place: in place
    }
    Ok(Some(Destination {
        bucket: loc.bucket,
        prefix: loc.prefix,
        strip_prefix,
        overwrite: a.overwrite,
    }))
}

/// Every bucket copies go to other than `source`, and those a pairs list names (recorded in the
/// spec: workers refuse any other).
fn dest_buckets(
    source: &str,
    fields: &ListFields,
    destination: Option<&Destination>,
) -> (BTreeSet<String>, Vec<String>) {
    let pair_buckets = fields
        .dest_buckets
        .iter()
        .filter(|b| *b != source)
        .cloned()
        .collect();
    let mut all = fields.dest_buckets.clone();
    all.extend(destination.map(|d| d.bucket.clone()));
    all.remove(source);
    (all, pair_buckets)
}

/// `--dest-kms-key`, which only copies into other buckets than the source take (copies within
/// the source bucket keep each object's own encryption).
fn dest_kms_key(a: &LaunchArgs, dest_buckets: &BTreeSet<String>) -> anyhow::Result<Option<String>> {
    let Some(key) = &a.dest_kms_key else {
        return Ok(None);
    };
    if key.trim().is_empty() {
        return Err(usage("--dest-kms-key must not be empty"));
    }
    if dest_buckets.is_empty() {
        return Err(usage(
            "--dest-kms-key applies to copies into other buckets (--dest or a pairs list); copies within the source bucket keep each object's encryption",
        ));
    }
    Ok(Some(key.trim().to_owned()))
}

/// The window (`--max-tasks`): as given, or as many tasks as the restore rate keeps busy (see
/// [`Sizing`]); locally the local launcher's `--parallel`, which `--max-tasks` may lower.
fn window(a: &LaunchArgs, settings: &LaunchSettings, lots: u32, keys_total: u64) -> u32 {
    if let LaunchSettings::Local(s) = settings {
        return u32::try_from(s.parallel).unwrap_or(u32::MAX).max(1);
    }
    a.max_tasks.unwrap_or_else(|| {
        Sizing {
            restore_rate: a.restore_rate,
            lots,
            keys_total,
            concurrency: a.concurrency,
            max_wait_secs: a.max_wait,
            poll_secs: poll_delay("GLACIER", a.restore_tier, a.poll_interval).as_secs(),
            interval_secs: crate::fleet::sizing::FOLLOW_INTERVAL_SECS,
        }
        .default_window()
    })
}

/// Workers running at once: the window on ECS, at most `--parallel` locally.
fn workers_at_once(settings: &LaunchSettings, lots: u32, window: u32) -> u64 {
    match settings {
        LaunchSettings::Ecs(_) => u64::from(lots.min(window)),
        LaunchSettings::Local(s) => u64::from(lots).min(s.parallel as u64),
    }
    .max(1)
}

/// The workers' tuning; the job's restore rate is shared by the workers running at once.
fn worker_settings(a: &LaunchArgs, at_once: u64) -> WorkerSettings {
    WorkerSettings {
        concurrency: a.concurrency as usize,
        restore_rate: a.restore_rate / at_once as f64,
        max_wait_secs: a.max_wait,
        poll_interval_secs: a.poll_interval,
        multipart_threshold: a.multipart_threshold,
        part_size: a.part_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::{Duration, UNIX_EPOCH};
    use thaw_common::storage::{RestoreTier, StorageClass};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: LaunchArgs,
    }

    /// `launch` flags as a person types them (after `coordinator launch`).
    fn args(flags: &[&str]) -> LaunchArgs {
        let argv = ["launch"].iter().chain(flags);
        Cli::try_parse_from(argv).expect("flags parse").a
    }

    /// An ECS launch of keys.txt from bucket `src`; `extra` flags replace the defaults of the
    /// same name, and `--from` replaces keys.txt.
    fn ecs(extra: &[&str]) -> LaunchArgs {
        let defaults = [
            ("--bucket", "src"),
            ("--storage-class", "standard_ia"),
            ("--job-id", "j1"),
            ("--task-definition", "thaw-worker:3"),
            ("--subnets", "subnet-1, ,subnet-2"),
        ];
        let mut flags: Vec<&str> = Vec::new();
        if !extra.contains(&"--from") {
            flags.push("keys.txt");
        }
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                flags.extend([flag, value]);
            }
        }
        flags.extend_from_slice(extra);
        args(&flags)
    }

    fn cx() -> PlanContext<'static> {
        PlanContext {
            now: UNIX_EPOCH + Duration::from_secs(20_454 * 86_400 + 3_600),
            today: Date::from_days(20_454), // 2026-01-01
            table: "t",
            worker_bin: None,
        }
    }

    fn facts(count: u64, format: InputFormat, fields: &ListFields) -> ListFacts<'_> {
        ListFacts {
            name: "keys.txt",
            format,
            fields,
            count,
            fingerprint: "fnv1a64:0000000000000001",
        }
    }

    fn plan_of(a: &LaunchArgs, count: u64) -> anyhow::Result<Plan> {
        plan(
            a,
            &facts(count, InputFormat::Keys, &ListFields::default()),
            &cx(),
        )
    }

    fn usage_text(r: anyhow::Result<impl std::fmt::Debug>) -> String {
        let e = r.expect_err("refused");
        assert!(crate::cmd::is_usage(&e), "not a usage error: {e:#}");
        format!("{e:#}")
    }

    #[test]
    fn spec_from_flags_and_list() {
        let p = plan_of(&ecs(&["--lots", "3", "--restore-rate", "300"]), 10).expect("plan");
        assert_eq!(p.sizes, vec![4, 3, 3]);
        let s = &p.spec;
        assert_eq!((s.job_id.as_str(), s.bucket.as_str()), ("j1", "src"));
        assert_eq!(s.target_class, StorageClass::StandardIa);
        assert_eq!(s.restore_tier, RestoreTier::Bulk);
        assert_eq!((s.keys_total, s.lots, s.restore_days), (10, 3, 3));
        assert_eq!(s.control.to_string(), "s3://src/thaw/j1/");
        assert_eq!(s.table, "t");
        assert_eq!(s.created_at, "2026-01-01T01:00:00Z");
        assert_eq!(s.input_fingerprint, "fnv1a64:0000000000000001");
        assert_eq!(s.input_format, "keys");
        // the job's restore rate is shared by its three tasks
        assert_eq!(s.worker.restore_rate, 100.0);
        assert_eq!(
            (s.destination.clone(), s.source_prefix.clone()),
            (None, None)
        );
        assert!(p.dest_buckets.is_empty() && s.dest_buckets.is_empty());
        match &p.settings {
            LaunchSettings::Ecs(e) => {
                assert_eq!(e.subnets, vec!["subnet-1", "subnet-2"]);
                assert_eq!(e.task_definition, "thaw-worker:3");
            }
            other => panic!("{other:?}"),
        }
        // the default lot size, and a control bucket of its own
        let p = plan_of(&ecs(&["--control-bucket", "ctl"]), 12_000).expect("plan");
        assert_eq!(p.sizes, vec![5000, 5000, 2000]);
        assert_eq!(p.spec.control.to_string(), "s3://ctl/thaw/j1/");
    }

    #[test]
    fn the_window_is_asked_for_or_sized_from_the_restore_rate() {
        let p = plan_of(&ecs(&["--lots", "5", "--max-tasks", "2"]), 50).expect("plan");
        assert_eq!(p.spec.max_tasks, Some(2));
        // the restore rate is shared by the tasks of the window, not by every lot: the default
        // 1,000/s over 2
        assert_eq!(p.spec.worker.restore_rate, 500.0);
        // 100M keys at 1,000 restores/s: 42 tasks (see fleet::sizing)
        let p = plan_of(&ecs(&["--restore-rate", "1000"]), 100_000_000).expect("plan");
        assert_eq!((p.spec.lots, p.spec.max_tasks), (20_000, Some(42)));
        assert!(Cli::try_parse_from(["launch", "--bucket", "b", "--max-tasks", "0"]).is_err());
    }

    #[test]
    fn local_workers_share_the_restore_rate_they_run_with() {
        let a = args(&[
            "keys.txt",
            "--bucket",
            "src",
            "--storage-class",
            "GLACIER_IR",
            "--launcher",
            "local",
            "--parallel",
            "2",
            "--lots",
            "5",
        ]);
        let bin = Path::new("/opt/thaw/worker");
        let cx = PlanContext {
            worker_bin: Some(bin),
            ..cx()
        };
        let fields = ListFields::default();
        let p = plan(&a, &facts(50, InputFormat::Keys, &fields), &cx).expect("plan");
        assert_eq!(p.spec.worker.restore_rate, 500.0);
        assert_eq!(
            p.settings,
            LaunchSettings::Local(LocalSettings {
                worker_bin: "/opt/thaw/worker".into(),
                parallel: 2,
            })
        );
        // locally the window is --parallel, which --max-tasks may lower
        assert_eq!(p.spec.max_tasks, Some(2));
        let mut lower = args(&[
            "keys.txt",
            "--bucket",
            "src",
            "--storage-class",
            "GLACIER_IR",
        ]);
        lower.launcher = LauncherKind::Local;
        lower.parallel = 4;
        lower.max_tasks = Some(1);
        let p1 = plan(&lower, &facts(50, InputFormat::Keys, &fields), &cx).expect("plan");
        assert_eq!(p1.spec.max_tasks, Some(1));
        assert!(matches!(
            p1.settings,
            LaunchSettings::Local(LocalSettings { parallel: 1, .. })
        ));
        // a job id made from the clock
        assert!(
            p.spec.job_id.starts_with("20260101T010000Z-"),
            "{}",
            p.spec.job_id
        );
        // without the worker binary found by the caller there is no plan
        assert!(plan(&a, &facts(50, InputFormat::Keys, &fields), &self::cx()).is_err());
    }

    #[test]
    fn from_and_dest() {
        let a = ecs(&[
            "--from",
            "s3://src/logs/{today:%Y}/",
            "--dest",
            "s3://dst/copy/",
        ]);
        let p = plan_of(&a, 4).expect("plan");
        assert_eq!(p.spec.source_prefix.as_deref(), Some("logs/2026/"));
        let d = p.spec.destination.expect("destination");
        assert_eq!(
            (
                d.bucket.as_str(),
                d.prefix.as_str(),
                d.strip_prefix.as_str()
            ),
            ("dst", "copy/", "logs/2026/")
        );
        assert_eq!(p.dest_buckets, BTreeSet::from(["dst".to_owned()]));
        // --dest naming the --from prefix itself is in place
        let same = ecs(&["--from", "s3://src/logs/", "--dest", "s3://src/logs"]);
        assert_eq!(plan_of(&same, 4).expect("plan").spec.destination, None);
        let e = usage_text(plan_of(&ecs(&["--from", "s3://other/x/"]), 4));
        assert_eq!(e, "--from names bucket 'other' but --bucket is 'src'");
        let e = usage_text(plan_of(&ecs(&["--dest", "dst/x"]), 4));
        assert!(e.starts_with("--dest: "), "{e}");
    }

    #[test]
    fn pairs_lists_name_their_destinations() {
        let fields = ListFields {
            with_dest: 2,
            dest_buckets: BTreeSet::from(["src".to_owned(), "dst".to_owned()]),
            ..ListFields::default()
        };
        let pairs = facts(4, InputFormat::Pairs, &fields);
        let p = plan(&ecs(&[]), &pairs, &cx()).expect("plan");
        assert_eq!(p.spec.dest_buckets, vec!["dst"]);
        assert_eq!(p.dest_buckets, BTreeSet::from(["dst".to_owned()]));
        assert_eq!(p.spec.input_format, "pairs");
        let e = usage_text(plan(&ecs(&["--dest", "s3://dst/"]), &pairs, &cx()));
        assert!(e.contains("--dest cannot be used with a pairs list"), "{e}");
    }

    #[test]
    fn impossible_flags_are_usage_errors_before_the_list_is_read() {
        for (flags, wanted) in [
            (vec!["--job-id", "a/b"], "job id 'a/b' contains '/'"),
            (
                vec!["--restore-rate", "0"],
                "--restore-rate must be a positive number",
            ),
            (
                vec!["--multipart-threshold", "0"],
                "--multipart-threshold must be between 1",
            ),
            (
                vec!["--part-size", "1024"],
                "--part-size must be between 5242880",
            ),
            (
                vec!["--part-size", "5368709120"],
                "--part-size must be between 5242880 (5 MiB) and 1073741824 (1 GiB) bytes, not 5368709120",
            ),
            (vec!["--bucket", ""], "--bucket must not be empty"),
            (
                vec!["--delete-source-version", "--overwrite"],
                "--delete-source-version cannot be combined with --overwrite",
            ),
            (
                vec!["--task-definition", ""],
                "--launcher ecs needs --task-definition",
            ),
            (vec!["--subnets", " "], "--launcher ecs needs --subnets"),
            (vec!["--from", "s3://src/{someday:%Y}/"], "--from: "),
        ] {
            let a = ecs(&flags);
            let early = usage_text(check_flags(&a, &cx()));
            assert!(early.contains(wanted), "{flags:?}: {early}");
            assert_eq!(usage_text(plan_of(&a, 4)), early, "{flags:?}");
        }
        check_flags(&ecs(&[]), &cx()).expect("fine flags");
    }

    #[test]
    fn an_empty_list_is_named() {
        let e = plan_of(&ecs(&[]), 0).expect_err("no keys");
        assert_eq!(
            format!("{e:#}"),
            "key list keys.txt: the key list holds no keys"
        );
    }
}
