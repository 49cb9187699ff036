//! The restore budget on the emulator: a job's workers restore at their share of the job's rate
//! and follow it when the share written for the job changes; two jobs launched side by side in
//! one table share the account's budget. Rates are checked as the emulator's per-second request
//! counts (GET /_thaw/rates), never as durations.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use thaw_common::budget::{Budget, JobDemand, STALE_AFTER_SECS};
use thaw_common::progress::{now_secs, ProgressTable};

use crate::rig::*;

/// Archived objects in a new bucket: `n` GLACIER keys; returns the bucket and the key list.
async fn glacier_bucket(c: &Clients, what: &str, n: usize) -> (String, Vec<String>) {
    let bucket = unique(what);
    create_bucket(c, &bucket).await;
    let keys: Vec<String> = (0..n).map(|i| format!("cold/{i:04}")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(c, &bucket, objects).await;
    (bucket, keys)
}

/// RestoreObject requests on `bucket` the emulator saw, by the epoch second they arrived in.
fn restores_per_second(moto: &Moto, bucket: &str) -> BTreeMap<i64, u64> {
    let (status, body) = moto.get(&format!("/_thaw/rates?bucket={bucket}&op=s3:RestoreObject"));
    assert_eq!(status, 200, "rates: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("rates json");
    v.as_object()
        .expect("object")
        .iter()
        .map(|(s, n)| (s.parse().expect("second"), n.as_u64().expect("count")))
        .collect()
}

/// `coordinator launch --launcher local` of `keys` in `lots` lots, restoring at `rate` per
/// second, with worker logs under `logs` and a checkpoint (and share) tick every second.
fn launch(
    moto: &Moto,
    [table, bucket, job]: [&str; 3],
    keys: &Path,
    lots: usize,
    rate: f64,
    logs: &Path,
) -> std::process::Output {
    let (lots, rate) = (lots.to_string(), rate.to_string());
    let logs = logs.to_str().expect("utf-8");
    let args = [
        "launch",
        "--launcher",
        "local",
        "--table",
        table,
        "--bucket",
        bucket,
        "--storage-class",
        "STANDARD_IA",
        "--poll-interval",
        "1",
        "--job-id",
        job,
        "--lots",
        &lots,
        "--parallel",
        &lots,
        "--restore-rate",
        &rate,
        "--log-dir",
        logs,
        keys.to_str().expect("utf-8"),
    ];
    run(
        moto,
        "coordinator",
        &args,
        &[("THAW_CHECKPOINT_INTERVAL", "1")],
    )
}

/// The restore rate each worker of `job` ended with (its summary line), by lot log file.
fn final_rates(logs: &Path, job: &str) -> Vec<f64> {
    let dir = logs.join(job);
    let mut rates = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("log");
        let summary = text
            .lines()
            .rev()
            .filter_map(|l| l.find('{').map(|i| &l[i..]))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v.get("pacing").is_some())
            .unwrap_or_else(|| panic!("no summary in the log of {job}:\n{text}"));
        rates.push(summary["restore_rate"].as_f64().expect("restore_rate"));
    }
    rates
}

/// A job of 3 lots restores at its rate (each worker a third of it), and its workers follow the
/// share when the job's entry changes: raised tenfold while they run, the emulator sees more
/// restores per second than the old rate allowed, never more than the new one, and every worker
/// ends on the new share.
#[tokio::test(flavor = "multi_thread")]
async fn workers_follow_the_share_written_for_their_job() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    init_table(moto, &table);
    let (bucket, keys) = glacier_bucket(&c, "budget", 120).await;
    let list = write_keys(&keys);
    let job = unique("job");
    let logs = std::env::temp_dir().join(unique("logs"));
    let (old_rate, new_rate, workers) = (6.0, 60.0, 3u32);
    let launched = std::thread::spawn({
        let (table, bucket, job, logs) = (table.clone(), bucket.clone(), job.clone(), logs.clone());
        move || launch(moto, [&table, &bucket, &job], &list, 3, old_rate, &logs)
    });
    // Raise the job's rate once the workers are well into their restores.
    let progress = ProgressTable::new(c.ddb.clone(), &table);
    while restores_per_second(moto, &bucket).values().sum::<u64>() < 24 {
        assert!(
            !launched.is_finished(),
            "the job ended before its share changed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let budget = progress.get_budget(REGION).await.expect("budget");
    let mut entry = budget.jobs[&job];
    assert_eq!(
        (entry.rate, entry.restoring),
        (old_rate, workers),
        "{budget:?}"
    );
    let changed_at = now_secs();
    entry.rate = new_rate;
    entry.at = progress.now();
    progress
        .put_budget_entry(REGION, &job, &entry)
        .await
        .expect("raise the share");
    assert_success(launched.join().expect("launch thread"), "launch");

    let seen = restores_per_second(moto, &bucket);
    eprintln!("restores per second (share raised at {changed_at}): {seen:?}");
    assert_eq!(seen.values().sum::<u64>(), 120, "{seen:?}");
    // Counted over every 3 s window on one side of the change, with two requests more per
    // worker (one token bucket of each worker's limiter): evenly spaced requests straddle the
    // seconds' edges, and a stall of the shared emulator on a loaded machine lands a second's
    // requests in the next. A worker ignoring its limiter sends its 40 keys in a second or two.
    let tolerance = 2 * u64::from(workers);
    const WINDOW: i64 = 3;
    let first = seen.keys().next().copied().unwrap_or(changed_at);
    let last = seen.keys().next_back().copied().unwrap_or(changed_at);
    for start in first..=last {
        let end = start + WINDOW - 1;
        let cap = match (end < changed_at, start >= changed_at) {
            (true, _) => old_rate,
            (_, true) => new_rate,
            _ => continue, // straddles the change
        };
        let n: u64 = seen.range(start..=end).map(|(_, n)| n).sum();
        assert!(
            n <= (cap * WINDOW as f64) as u64 + tolerance,
            "{n} restores in {start}..={end} (cap {cap}/s, share raised at {changed_at}): {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|(s, n)| *s >= changed_at && *n > old_rate as u64 + tolerance),
        "the raised share never showed: {seen:?}"
    );
    let share = new_rate / f64::from(workers);
    assert_eq!(final_rates(&logs, &job), vec![share; 3]);
}

/// Two jobs launched side by side in one table, with an account budget of 40 restores per
/// second (`init --account-restore-rate`), each asking for 80: the budget gives each half, the
/// shares read back sum to the account's, and no worker ever restored faster than a job alone
/// may (20 for each of its 2 workers), let alone at its spec's 40.
#[tokio::test(flavor = "multi_thread")]
async fn jobs_side_by_side_share_the_account_budget() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let table = unique("table");
    run_ok(
        moto,
        "coordinator",
        &["init", "--table", &table, "--account-restore-rate", "40"],
        &[],
    );
    let logs = std::env::temp_dir().join(unique("logs"));
    let mut jobs = Vec::new();
    for what in ["side-a", "side-b"] {
        let (bucket, keys) = glacier_bucket(&c, what, 20).await;
        jobs.push((bucket, write_keys(&keys), unique("job")));
    }
    std::thread::scope(|s| {
        let runs: Vec<_> = jobs
            .iter()
            .map(|(bucket, list, job)| {
                let (table, logs) = (&table, &logs);
                s.spawn(move || launch(moto, [table, bucket, job], list, 2, 80.0, logs))
            })
            .collect();
        for r in runs {
            assert_success(r.join().expect("launch thread"), "launch");
        }
    });

    let mut budget: Budget = ProgressTable::new(c.ddb.clone(), &table)
        .get_budget(REGION)
        .await
        .expect("budget");
    assert_eq!(budget.account_rate, Some(40.0), "{budget:?}");
    // Each local launch gave its part back when its workers exited; the shares its workers
    // used were those of the 2 restoring workers it registered at the start.
    for entry in budget.jobs.values_mut() {
        assert_eq!(entry.restoring, 0, "{entry:?}");
        entry.restoring = 2;
    }
    let now = now_secs();
    let parts = budget.allowances(now, STALE_AFTER_SECS);
    assert_eq!(parts.values().sum::<f64>(), 40.0, "{parts:?}");
    let mut shares = 0.0;
    for (bucket, _, job) in &jobs {
        let entry = budget.jobs[job];
        assert_eq!((entry.rate, entry.restoring), (80.0, 2), "{budget:?}");
        // Both entries fresh: each job gets half, each of its two workers a quarter.
        let share = budget.worker_share(job, now, STALE_AFTER_SECS);
        assert_eq!(share, Some(10.0), "{budget:?}");
        shares += 2.0 * share.unwrap_or(0.0);
        for rate in final_rates(&logs, job) {
            assert!(
                rate == 10.0 || rate == 20.0,
                "job {job}: a worker at {rate}/s"
            );
        }
        assert_eq!(restores_per_second(moto, bucket).values().sum::<u64>(), 20);
    }
    assert!(shares <= 40.0, "the workers' shares sum to {shares}");
}

/// `status` calls out a WAITING lot whose restored copies may have expired before it was
/// copied: the job's lot requests its restores and ends WAITING; its restores are then made
/// two days old (the test plays the passing days) on a job restoring for one day.
#[tokio::test(flavor = "multi_thread")]
async fn status_calls_out_waiting_lots_past_their_restore_expiry() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "3600")]);
    let c = moto.clients().await;
    let table = unique("table");
    init_table(&moto, &table);
    let (bucket, keys) = glacier_bucket(&c, "expiry", 6).await;
    let job = unique("job");
    launch_local_ok(
        &moto,
        &table,
        &bucket,
        &job,
        write_keys(&keys),
        &["--lots", "2", "--max-wait", "1", "--restore-days", "1"],
    );
    let st = status_json(&moto, &table, &job);
    assert_eq!(st["totals"]["states"]["WAITING"], 2, "{st}");
    assert_eq!(st["totals"]["restore_expiry_at_risk"], 0, "{st}");

    let two_days_ago = now_secs() - 2 * 86_400;
    c.ddb
        .update_item()
        .table_name(&table)
        .key("job_id", AttributeValue::S(job.clone()))
        .key("lot", AttributeValue::N("1".into()))
        .update_expression("SET restore_requested_at = :t")
        .expression_attribute_values(":t", AttributeValue::N(two_days_ago.to_string()))
        .send()
        .await
        .expect("age the restores of lot 1");

    let st = status_json(&moto, &table, &job);
    assert_eq!(st["totals"]["restore_expiry_at_risk"], 1, "{st}");
    assert_eq!(
        st["lots"][0]["restore_expiry"],
        serde_json::Value::Null,
        "{st}"
    );
    assert_eq!(
        st["lots"][1]["restore_expiry"]["verdict"], "expired",
        "{st}"
    );
    assert_eq!(
        st["lots"][1]["restore_expiry"]["expires_at"],
        two_days_ago + 86_400,
        "{st}"
    );
    let text = stdout(&run_ok(
        &moto,
        "coordinator",
        &["status", &job, "--table", &table],
        &[],
    ));
    assert!(
        text.contains("lot 1: WAITING, its restored copies may have expired 24.0 h ago"),
        "{text}"
    );
    assert!(text.contains("restore expiry: 1 WAITING lots"), "{text}");
}

/// `follow` re-shares the job's budget as the lots it runs change: its entry (made wrong and
/// old by the test) is rewritten with the workers sending restores (none: the lots the look
/// starts are copy runs whose tasks are still starting, and tasks starting hold no share), and
/// with none once the job is done.
#[tokio::test(flavor = "multi_thread")]
async fn follow_rewrites_the_restoring_lots_of_its_job() {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "3600")]);
    let c = moto.clients().await;
    let table = unique("table");
    init_table(&moto, &table);
    let (bucket, keys) = glacier_bucket(&c, "follow", 6).await;
    let job = unique("job");
    launch_local_ok(
        &moto,
        &table,
        &bucket,
        &job,
        write_keys(&keys),
        &["--lots", "3", "--parallel", "3", "--max-wait", "1"],
    );
    let progress = ProgressTable::new(c.ddb.clone(), &table);
    let mut entry = progress.get_budget(REGION).await.expect("budget").jobs[&job];
    assert_eq!(entry.restoring, 0, "the local launch's workers have exited");
    entry.restoring = 7;
    entry.at -= 3600;
    progress
        .put_budget_entry(REGION, &job, &entry)
        .await
        .expect("a wrong entry");
    // Entries of other jobs: one whose coordinator stopped writing two days ago (removed by this
    // follow's refresh), one an hour ago (kept: only ignored while stale).
    let other = |at_ago: i64| JobDemand {
        rate: 5.0,
        restoring: 1,
        at: entry.at + 3600 - at_ago,
    };
    for (j, ago) in [("ended-job", 2 * 86_400), ("paused-job", 3600)] {
        progress
            .put_budget_entry(REGION, j, &other(ago))
            .await
            .expect("another job's entry");
    }

    // Every lot is WAITING and due (restores polled every second): the look starts all three,
    // for their copies (`--ready-fraction 0`: their restores are not done, which would otherwise
    // keep them waiting).
    run_ok(
        &moto,
        "coordinator",
        &[
            "follow",
            &job,
            "--table",
            &table,
            "--once",
            "--ready-fraction",
            "0",
        ],
        &[],
    );
    let after = progress.get_budget(REGION).await.expect("budget").jobs[&job];
    assert_eq!(after.restoring, 0, "{after:?}");
    assert!(after.at > entry.at, "{after:?}");
    assert_eq!(after.rate, entry.rate, "the job's rate is the launch's");
    let jobs = progress.get_budget(REGION).await.expect("budget").jobs;
    assert!(!jobs.contains_key("ended-job"), "{jobs:?}");
    assert!(jobs.contains_key("paused-job"), "{jobs:?}");

    // The restores complete: `follow` drives the job to its end and gives its part back.
    moto.configure(r#"{"restore_delay": 0}"#);
    let out = run_ok(
        &moto,
        "coordinator",
        &["follow", &job, "--table", &table, "--interval", "1"],
        &[],
    );
    assert!(
        stdout(&out).contains("every lot SUCCEEDED"),
        "{}",
        stdout(&out)
    );
    let done = progress.get_budget(REGION).await.expect("budget").jobs[&job];
    assert_eq!(done.restoring, 0, "{done:?}");
}
