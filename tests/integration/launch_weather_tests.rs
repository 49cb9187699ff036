//! Launch weather on the emulator (tests/emulator_launch.py): the Fargate task quota is waited
//! out (the lot goes back to PENDING and `follow`'s window shrinks), not counted as a retry; ECS refusals (an inactive task definition, `iam:PassRole`
//! denied, `FARGATE_SPOT` missing from the cluster) end `follow` non-zero with the reason; a
//! Spot interruption does not use an attempt; a lost response to a successful claim still
//! launches the lot; and workers whose clocks are minutes off are neither relaunched nor fenced.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_common::task::LaunchFailure;

use crate::ecs::*;
use crate::rig::*;

/// A job of `lots` lots of 2 GLACIER keys each, with its table, keys file and ECS setup.
async fn job(moto: &Moto, c: &Clients, lots: usize) -> EcsJob {
    let keys: Vec<String> = (0..lots * 2).map(|i| format!("w/{i}")).collect();
    EcsJob::new(moto, c, "weather", "GLACIER", &keys).await
}

impl EcsJob {
    async fn tasks_per_lot(&self, c: &Clients) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (_, env) in launched_tasks(c, &self.ecs.cluster, &self.job).await {
            let lot = env
                .iter()
                .find(|(k, _)| k == "THAW_LOT")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            *m.entry(lot).or_insert(0) += 1;
        }
        m
    }

    /// `follow` with `args`, killed after `limit` (a follow that never ends fails the test).
    fn follow(&self, moto: &Moto, args: &[&str], limit: Duration) -> (Option<i32>, String) {
        let mut cmd = Command::new(bin("coordinator"));
        cmd.args(["follow", &self.job, "--table", &self.table])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("follow");
        let deadline = Instant::now() + limit;
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("follow output");
        (out.status.code(), stderr(&out))
    }
}

fn run_tasks(stats: &serde_json::Value) -> u64 {
    stats["RunTask"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fargate_quota_is_waited_out_not_counted() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 3).await;
    moto.configure(r#"{"ecs_task_quota": 2}"#);
    let out = j.launch(&moto, 3, &["--launch-concurrency", "1"]);
    // a full quota is no failure: the lot waits for a task to end
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Fargate quota is full"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("reached the limit on the number of tasks"),
        "{}",
        stderr(&out)
    );
    let lots = j.lots(&c).await;
    let waiting: Vec<&LotItem> = lots
        .iter()
        .filter(|l| l.state == LotState::Pending)
        .collect();
    assert_eq!(waiting.len(), 1, "back to PENDING: {lots:?}");
    let lot = waiting[0];
    assert_eq!(lot.launch_failure, None, "not a failure");
    assert_eq!(lot.launch_failures, 0, "not counted");
    assert!(
        lot.last_error
            .as_deref()
            .is_some_and(|e| e.contains("reached the limit")),
        "{lot:?}"
    );
    // the quota is not tried again within the call: it frees up only as tasks end
    assert_eq!(run_tasks(&moto.stats()), 3, "{}", moto.stats());

    // follow tries the lot once, meets the quota, and shrinks its window to the 2 tasks that
    // run instead of trying again at every look
    let out = run(
        &moto,
        "coordinator",
        &["follow", &j.job, "--table", &j.table, "--once"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Fargate quota is full at 2 tasks of this job: the window is 2"),
        "{}",
        stdout(&out)
    );
    assert_eq!(run_tasks(&moto.stats()), 4, "one RunTask, not one per lot");
    let again = &j.lots(&c).await[lot.lot as usize];
    assert_eq!(
        (again.state, again.launch_failures, again.retries),
        (LotState::Pending, 0, 0),
        "{again:?}"
    );

    // a task ends, the quota frees up: the lot starts, without counting a retry
    let (arn, _) = launched_tasks(&c, &j.ecs.cluster, &j.job).await.remove(0);
    c.ecs
        .stop_task()
        .cluster(&j.ecs.cluster)
        .task(&arn)
        .reason("Essential container in task exited")
        .send()
        .await
        .expect("stop");
    run_ok(
        &moto,
        "coordinator",
        &[
            "retry",
            &j.job,
            "--table",
            &j.table,
            "--lots",
            &lot.lot.to_string(),
        ],
        &[],
    );
    let after = j.lots(&c).await;
    let relaunched = &after[lot.lot as usize];
    assert_eq!(relaunched.state, LotState::Launched, "{relaunched:?}");
    assert_eq!(relaunched.retries, 0, "a launch failure is no retry");
    assert_eq!(j.tasks_per_lot(&c).await[&lot.lot.to_string()], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_task_definition_ends_follow_with_its_reason() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 2).await;
    assert_success(j.launch(&moto, 2, &[]), "launch");
    // lot 0 was interrupted; meanwhile someone deregistered the task definition
    let pt = ProgressTable::new(c.ddb.clone(), &j.table);
    let lot0 = pt.get_lot(&j.job, 0).await.expect("get").expect("lot");
    pt.set_state(&j.job, 0, lot0.attempt, LotState::Interrupted, None)
        .await
        .expect("interrupted");
    c.ecs
        .deregister_task_definition()
        .task_definition(format!("{}:1", j.ecs.task_definition))
        .send()
        .await
        .expect("deregister");
    let before = run_tasks(&moto.stats());
    let (code, err) = j.follow(&moto, &["--interval", "1"], Duration::from_secs(60));
    assert_eq!(
        code,
        Some(1),
        "follow ends non-zero, not relaunching forever: {err}"
    );
    assert!(err.contains("TaskDefinition is inactive"), "{err}");
    assert!(err.contains("coordinator retry"), "{err}");
    assert_eq!(
        run_tasks(&moto.stats()) - before,
        1,
        "one refused RunTask, not retried"
    );
    let lot0 = pt.get_lot(&j.job, 0).await.expect("get").expect("lot");
    assert_eq!(lot0.state, LotState::Failed);
    assert_eq!(lot0.launch_failure, Some(LaunchFailure::Refused));
    assert_eq!(lot0.retries, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn pass_role_denied_and_missing_spot_provider_are_refusals() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 1).await;
    moto.configure(r#"{"ecs_deny_pass_role": "arn:aws:iam::123456789012:role/thaw-task"}"#);
    let out = j.launch(&moto, 1, &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("iam:PassRole"), "{}", stderr(&out));
    let (code, err) = j.follow(&moto, &["--interval", "1"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("iam:PassRole"), "{err}");
    assert_eq!(
        j.lots(&c).await[0].launch_failure,
        Some(LaunchFailure::Refused)
    );

    // --spot on a cluster without the FARGATE_SPOT capacity provider
    moto.configure(r#"{"ecs_deny_pass_role": null}"#);
    let spot = job(&moto, &c, 1).await;
    let out = spot.launch(&moto, 1, &["--spot"]);
    assert!(!out.status.success());
    let lots = spot.lots(&c).await;
    assert_eq!(
        lots[0].launch_failure,
        Some(LaunchFailure::Refused),
        "{lots:?}"
    );
    assert!(
        lots[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("not associated with the cluster"),
        "{lots:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_interruption_does_not_use_an_attempt() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 1).await;
    assert_success(j.launch(&moto, 1, &[]), "launch");
    let pt = ProgressTable::new(c.ddb.clone(), &j.table);
    let lot0 = pt.get_lot(&j.job, 0).await.expect("get").expect("lot");
    pt.start_run(&j.job, 0, lot0.attempt, None)
        .await
        .expect("running");
    // Fargate Spot takes the capacity back before the worker records INTERRUPTED
    c.ecs
        .stop_task()
        .cluster(&j.ecs.cluster)
        .task(lot0.task.as_deref().expect("task"))
        .reason("Your Spot Task was interrupted.")
        .send()
        .await
        .expect("stop");
    // one attempt allowed: the interruption must not use it
    run_ok(
        &moto,
        "coordinator",
        &[
            "follow",
            &j.job,
            "--table",
            &j.table,
            "--once",
            "--max-attempts",
            "1",
        ],
        &[],
    );
    let lot0 = pt.get_lot(&j.job, 0).await.expect("get").expect("lot");
    assert_eq!(
        (lot0.state, lot0.retries, lot0.attempt),
        (LotState::Launched, 0, 2)
    );
    assert_eq!(j.tasks_per_lot(&c).await["0"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_response_to_a_successful_claim_still_launches_the_lot() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 2).await;
    moto.configure(r#"{"ddb_lose_claim_responses": 1}"#);
    let out = assert_success(j.launch(&moto, 2, &["--launch-concurrency", "1"]), "launch");
    assert!(
        !stdout(&out).contains("1 claimed by another coordinator"),
        "{}",
        stdout(&out)
    );
    let per_lot = j.tasks_per_lot(&c).await;
    assert_eq!(per_lot.len(), 2, "every lot has its task: {per_lot:?}");
    let lots = j.lots(&c).await;
    assert!(
        lots.iter()
            .all(|l| l.state == LotState::Launched && l.attempt == 1),
        "{lots:?}"
    );
}

/// Runs the ECS task of lot 0 as its worker would, with its clock `skew` seconds off, while
/// `follow` watches; nothing may be relaunched and the worker must finish unfenced.
async fn skewed_worker_is_left_alone(skew: i64) {
    let moto = Moto::start_with(&[("THAW_MOTO_RESTORE_DELAY", "12")]);
    let c = moto.clients().await;
    let j = job(&moto, &c, 1).await;
    assert_success(j.launch(&moto, 1, &[]), "launch");
    let (arn, env) = launched_tasks(&c, &j.ecs.cluster, &j.job).await.remove(0);
    let mut worker = Command::new(bin("worker"));
    worker
        .envs(moto.env())
        .envs(env)
        .env("THAW_TASK_ID", &arn)
        .env("THAW_CLOCK_SKEW_SECS", skew.to_string())
        .env("THAW_HEARTBEAT", "1")
        .env("THAW_MAX_WAIT", "180")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut worker = worker.spawn().expect("worker");
    let pt = ProgressTable::new(c.ddb.clone(), &j.table);
    let deadline = Instant::now() + Duration::from_secs(60);
    while pt
        .get_lot(&j.job, 0)
        .await
        .expect("get")
        .expect("lot")
        .state
        != LotState::Running
    {
        assert!(Instant::now() < deadline, "worker never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // follow looks every second and calls a lot stale after 20 s without a heartbeat change (the
    // worker beats every second; 20 s leaves room for a loaded CI machine, and a follow that
    // compared the skewed heartbeat with its own clock would still see it 300 s off)
    let (_, err) = j.follow(
        &moto,
        &["--interval", "1", "--stale-after", "20"],
        Duration::from_secs(8),
    );
    let status = worker.wait().expect("worker exit");
    assert_eq!(
        status.code(),
        Some(0),
        "worker not fenced (skew {skew}); follow said: {err}"
    );
    let lot0 = pt.get_lot(&j.job, 0).await.expect("get").expect("lot");
    assert_eq!(lot0.attempt, 1, "nothing relaunched (skew {skew}): {err}");
    assert_eq!(lot0.state, LotState::Succeeded, "{lot0:?}");
    assert_eq!(j.tasks_per_lot(&c).await["0"], 1, "one task (skew {skew})");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_five_minutes_behind_is_not_relaunched() {
    skewed_worker_is_left_alone(-300).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_five_minutes_ahead_is_not_relaunched() {
    skewed_worker_is_left_alone(300).await;
}

/// A refusal is a setup error every lot would meet: once ECS refuses one lot, `launch` sends no
/// RunTask for the lots it has not claimed yet and leaves them PENDING for `retry` after the fix,
/// instead of one refused RunTask (and one FAILED lot) per lot.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_launch_stops_sending_run_task_for_the_other_lots() {
    let moto = Moto::start();
    let c = moto.clients().await;
    let j = job(&moto, &c, 12).await;
    moto.configure(r#"{"ecs_deny_pass_role": "arn:aws:iam::123456789012:role/thaw-task"}"#);
    let before = run_tasks(&moto.stats());
    let out = j.launch(&moto, 12, &["--launch-concurrency", "2"]);
    assert!(!out.status.success(), "a refused launch fails");
    let sent = run_tasks(&moto.stats()) - before;
    assert!(sent <= 2, "at most the RunTasks already in flight: {sent}");
    assert!(
        stdout(&out).contains("left PENDING, not sent"),
        "{}",
        stdout(&out)
    );
    let lots = j.lots(&c).await;
    let refused = lots
        .iter()
        .filter(|l| l.launch_failure == Some(LaunchFailure::Refused))
        .count() as u64;
    let pending = lots.iter().filter(|l| l.state == LotState::Pending).count() as u64;
    assert_eq!(refused, sent, "each RunTask sent was refused and recorded");
    assert_eq!(refused + pending, 12, "the rest are untouched");
}
