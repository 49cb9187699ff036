//! New lots start at the restore rate, through the ECS launcher (the test plays Fargate): at
//! `--restore-rate 0.2` and lots of 2 keys (0.1 lots a second, 3 per 30-second look of
//! `follow`), `launch` starts 3 of 12 lots although the window has room for all 12, a `follow`
//! session started next at most one look's worth more (none while the launch's lots are that
//! look's worth), and once lots have succeeded without a restore to request (readable objects),
//! `follow` stops pacing and fills the window.

use thaw_common::checkpoint::LotState;
use thaw_common::progress::ProgressTable;

use crate::ecs::*;
use crate::rig::*;

#[tokio::test(flavor = "multi_thread")]
async fn new_lots_start_at_the_restore_rate() {
    let moto = Moto::shared();
    let c = moto.clients().await;
    let (bucket, table, job) = (unique("paced"), unique("table"), unique("job"));
    init_table(moto, &table);
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = (0..24).map(|i| format!("pace/{i:03}")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "STANDARD", k.as_bytes().to_vec()))
        .collect();
    put_many(&c, &bucket, objects).await;
    let ecs = ecs_setup(moto, &c).await;
    let flags = ["--lots", "12", "--max-tasks", "12", "--restore-rate", "0.2"];
    let out = launch_ecs(moto, &ecs, &table, &bucket, &job, write_keys(&keys), &flags);
    let out = assert_success(out, "launch");
    assert!(
        stdout(&out).contains("9 lots wait PENDING to start at the restore rate"),
        "{}",
        stdout(&out)
    );
    assert_eq!(launched_tasks(&c, &ecs.cluster, &job).await.len(), 3);

    // A follow session started next may start at most one look's worth (3) more, not the
    // window's 9 free slots (none while the lots launch started count against its first look).
    let follow = |args: &[&str]| {
        let mut all = vec!["follow", job.as_str(), "--table", table.as_str()];
        all.extend_from_slice(args);
        stdout(&run_ok(moto, "coordinator", &all, &[]))
    };
    follow(&["--once"]);
    let tasks = launched_tasks(&c, &ecs.cluster, &job).await;
    assert!((3..=6).contains(&tasks.len()), "{tasks:?}");

    // Fargate runs them: those lots succeed without requesting a restore.
    for (arn, env) in &tasks {
        let out = run_worker_as_task(moto, env, arn);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let progress = ProgressTable::new(c.ddb.clone(), &table);
    let lots = progress.lots(&job).await.expect("lots");
    let succeeded = lots
        .iter()
        .filter(|l| l.state == LotState::Succeeded)
        .count();
    assert_eq!(succeeded, tasks.len(), "{lots:?}");
    assert!(lots.iter().all(|l| l.counters.restore_requested == 0));

    // Nothing to restore: the rest start at once, the window having room.
    follow(&["--once"]);
    assert_eq!(launched_tasks(&c, &ecs.cluster, &job).await.len(), 12);
}
