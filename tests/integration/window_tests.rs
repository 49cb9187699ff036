//! The window on the emulator, through the ECS launcher (the test plays Fargate: it runs a real
//! worker for each task RunTask started): `launch --max-tasks 3` starts 3 of 12 lots, `follow`
//! fills the window as lots finish and never lets more than 3 lots have a live worker; a WAITING
//! lot whose restores are due takes the one free slot before a PENDING lot; `retry --max-tasks`
//! and `follow --max-tasks` change the window for good.

use std::collections::{BTreeMap, BTreeSet};

use thaw_common::checkpoint::LotState;
use thaw_common::progress::{LotItem, ProgressTable};

use crate::ecs::*;
use crate::rig::*;

/// A job of `lots` lots of 2 STANDARD keys each (copied into STANDARD_IA: no restores to wait
/// for), with its table, keys file and ECS setup, on the shared emulator.
async fn job(moto: &Moto, c: &Clients, lots: usize) -> EcsJob {
    let keys: Vec<String> = (0..lots * 2).map(|i| format!("win/{i:03}")).collect();
    EcsJob::new(moto, c, "window", "STANDARD", &keys).await
}

impl EcsJob {
    /// `coordinator <cmd> JOB --table T <args>`, which must succeed.
    fn coordinator(&self, moto: &Moto, cmd: &str, args: &[&str]) -> String {
        let mut all = vec![cmd, &self.job, "--table", &self.table];
        all.extend_from_slice(args);
        stdout(&run_ok(moto, "coordinator", &all, &[]))
    }

    /// Every task the job started, with its lot.
    async fn tasks(&self, c: &Clients) -> Vec<(String, u32, Vec<(String, String)>)> {
        launched_tasks(c, &self.ecs.cluster, &self.job)
            .await
            .into_iter()
            .map(|(arn, env)| {
                let lot = env
                    .iter()
                    .find(|(k, _)| k == "THAW_LOT")
                    .and_then(|(_, v)| v.parse().ok())
                    .expect("THAW_LOT");
                (arn, lot, env)
            })
            .collect()
    }
}

/// Lots with a live worker as the table says: LAUNCHED (claimed, task starting) or RUNNING.
fn live(lots: &[LotItem]) -> usize {
    lots.iter().filter(|l| l.state.is_active()).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_lots_through_a_window_of_three() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let j = job(moto, &c, 12).await;
    let out = assert_success(j.launch(moto, 12, &["--max-tasks", "3"]), "launch");
    assert!(
        stdout(&out).contains("9 lots wait PENDING for a slot of the window (3 tasks"),
        "{}",
        stdout(&out)
    );
    let status = status_json(moto, &j.table, &j.job);
    assert_eq!(status["totals"]["window"]["max_tasks"], 3, "{status}");

    // Play Fargate: run every task not run yet, one at a time, and let `follow --once` fill the
    // window after each; look at the live workers before and after every step.
    let mut ran: BTreeSet<String> = BTreeSet::new();
    let mut max_live = 0;
    for _ in 0..40 {
        let lots = j.lots(&c).await;
        let tasks = j.tasks(&c).await;
        let unrun: Vec<_> = tasks.iter().filter(|(a, _, _)| !ran.contains(a)).collect();
        // the workers Fargate would be running now, and the lots the table holds live
        max_live = max_live.max(unrun.len()).max(live(&lots));
        assert!(unrun.len() <= 3, "{} tasks at once", unrun.len());
        assert!(live(&lots) <= 3, "{} live lots: {lots:?}", live(&lots));
        let left = lots
            .iter()
            .filter(|l| l.state != LotState::Succeeded)
            .count();
        assert_eq!(unrun.len(), left.min(3), "the window is kept full");
        let Some((arn, _, env)) = unrun.first() else {
            break;
        };
        let out = run_worker_as_task(moto, env, arn);
        assert!(out.status.success(), "{}", stderr(&out));
        ran.insert(arn.clone());
        j.coordinator(moto, "follow", &["--once"]);
    }
    assert_eq!(max_live, 3, "the window was used whole");
    let lots = j.lots(&c).await;
    assert!(
        lots.iter().all(|l| l.state == LotState::Succeeded),
        "{lots:?}"
    );
    // every lot ran exactly once
    let mut per_lot: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, lot, _) in j.tasks(&c).await {
        *per_lot.entry(lot).or_default() += 1;
    }
    assert_eq!(per_lot.len(), 12, "{per_lot:?}");
    assert!(per_lot.values().all(|n| *n == 1), "{per_lot:?}");
    assert_eq!(ran.len(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_due_waiting_lot_takes_the_free_slot_before_a_pending_one() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let j = job(moto, &c, 3).await;
    assert_success(j.launch(moto, 3, &["--max-tasks", "1"]), "launch");
    let tasks = j.tasks(&c).await;
    assert_eq!(tasks.len(), 1, "one slot");
    assert_eq!(tasks[0].1, 0, "lot 0 first");
    // Lot 2 requested its restores earlier and they are due now: WAITING, no next look left.
    let pt = ProgressTable::new(c.ddb.clone(), &j.table);
    let lot2 = pt.get_lot(&j.job, 2).await.expect("get").expect("lot 2");
    pt.set_state(&j.job, 2, lot2.attempt, LotState::Waiting, None)
        .await
        .expect("waiting");
    // the window is full: nothing moves
    j.coordinator(moto, "follow", &["--once"]);
    assert_eq!(j.tasks(&c).await.len(), 1);
    // lot 0 finishes: its slot goes to the due WAITING lot 2, not to the PENDING lot 1
    let (arn, _, env) = &tasks[0];
    assert!(run_worker_as_task(moto, env, arn).status.success());
    let said = j.coordinator(moto, "follow", &["--once"]);
    assert!(
        said.contains("window 0 live of 1, 1 lots wait for a slot"),
        "{said}"
    );
    let lots = j.lots(&c).await;
    assert_eq!(lots[2].state, LotState::Launched, "{:?}", lots[2]);
    assert_eq!(lots[1].state, LotState::Pending, "{:?}", lots[1]);
    let launched: Vec<u32> = j.tasks(&c).await.iter().map(|t| t.1).collect();
    assert_eq!(launched.iter().filter(|l| **l == 2).count(), 1);
    assert!(!launched.contains(&1), "{launched:?}");

    // a wider window, for good: retry starts lot 1 beside lot 2, and the job keeps it
    let said = j.coordinator(moto, "retry", &["--max-tasks", "2"]);
    assert!(
        said.contains("lot 1 (PENDING, Pending): launched"),
        "{said}"
    );
    let status = status_json(moto, &j.table, &j.job);
    assert_eq!(status["totals"]["window"]["max_tasks"], 2, "{status}");
    assert_eq!(status["totals"]["window"]["live"], 2, "{status}");
    // and follow changes it the same way
    let said = j.coordinator(moto, "follow", &["--once", "--max-tasks", "3"]);
    assert!(said.contains("window set to 3 tasks at once"), "{said}");
    assert!(said.contains("window 2 live of 3"), "{said}");
    let status = status_json(moto, &j.table, &j.job);
    assert_eq!(status["totals"]["window"]["max_tasks"], 3, "{status}");
}
