//! The simulated timeline through the real binaries: `estimate` and `launch --dry-run` print it
//! next to the money, from a sample the emulator answered; `estimate --timeline --keys` needs no
//! list and no request.

use serde_json::Value;

use crate::rig::*;

/// 30 GLACIER objects in a new bucket, and their list.
async fn glacier_objects(moto: &Moto) -> (String, String) {
    let c = moto.clients().await;
    let bucket = unique("timeline");
    create_bucket(&c, &bucket).await;
    let mut keys = Vec::new();
    for i in 0..30 {
        let k = format!("t/{i:03}");
        put(&c, &bucket, &k, "GLACIER", k.as_bytes()).await;
        keys.push(k);
    }
    let file = write_keys(&keys).to_string_lossy().into_owned();
    (bucket, file)
}

#[tokio::test(flavor = "multi_thread")]
async fn estimate_prints_the_simulated_timeline() {
    let moto = Moto::shared();
    let (bucket, file) = glacier_objects(moto).await;
    let base = [
        "estimate",
        "--bucket",
        &bucket,
        "--storage-class",
        "STANDARD",
        "--lot-size",
        "10",
    ];
    let mut args = base.to_vec();
    args.push(&file);
    let text = stdout(&run_ok(moto, "coordinator", &args, &[]));
    let line = |start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no '{start}' line in:\n{text}"))
            .to_owned()
    };
    let timeline = line("timeline:");
    assert!(timeline.contains("restores requested by"), "{timeline}");
    assert!(timeline.contains("first copies at"), "{timeline}");
    assert!(timeline.contains("done by"), "{timeline}");
    let fleet = line("fleet:");
    assert!(fleet.contains("Fargate task-hours"), "{fleet}");
    assert!(
        fleet.contains("6 launches"),
        "3 lots, a restore and a copy run each: {fleet}"
    );

    // --timeline: the whole report, with the invariants the simulation checked
    let mut args = base.to_vec();
    args.extend(["--timeline", "--max-tasks", "2", &file]);
    let text = stdout(&run_ok(moto, "coordinator", &args, &[]));
    assert!(text.contains("30 RESTORE, 30 COPY"), "{text}");
    assert!(text.contains("at most 2 lots live (window 2)"), "{text}");
    assert!(
        text.contains("0 keys expired uncopied, 0 copied twice"),
        "{text}"
    );

    // --json carries it too
    let mut args = base.to_vec();
    args.extend(["--json", &file]);
    let doc: Value = serde_json::from_str(&stdout(&run_ok(moto, "coordinator", &args, &[])))
        .expect("estimate json");
    let t = &doc["timeline"];
    assert_eq!(
        (t["s3_restores"].as_u64(), t["s3_copies"].as_u64()),
        (Some(30), Some(30)),
        "{doc}"
    );
    assert_eq!(t["lots"].as_u64(), Some(3), "{doc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn estimate_simulates_a_job_without_its_list() {
    let moto = Moto::shared();
    let out = run_ok(
        moto,
        "coordinator",
        &[
            "estimate",
            "--storage-class",
            "STANDARD",
            "--timeline",
            "--keys",
            "50000",
            "--restore-rate",
            "1000",
        ],
        &[],
    );
    let text = stdout(&out);
    assert!(text.contains("50000 keys in 10 lots"), "{text}");
    assert!(text.contains("50000 RESTORE, 50000 COPY"), "{text}");
    assert!(text.contains("0 keys expired uncopied"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_the_timeline_next_to_the_money() {
    let moto = Moto::shared();
    let (bucket, file) = glacier_objects(moto).await;
    let table = unique("table");
    let job = unique("job");
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &file,
        &["--lots", "3", "--dry-run"],
    );
    let text = stdout(&out);
    let cost = text.find("cost estimate").expect("cost estimate");
    let timeline = text
        .find("timeline:")
        .unwrap_or_else(|| panic!("no timeline in:\n{text}"));
    assert!(timeline > cost, "{text}");
    assert!(text.contains("restores requested by"), "{text}");
    assert!(text.contains("Fargate task-hours"), "{text}");
}
