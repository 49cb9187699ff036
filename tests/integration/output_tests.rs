//! What a person sees: log lines carry colour only on a terminal, and never with `NO_COLOR`;
//! files, pipes and CI logs get plain text. A local launch on a terminal shows one live view
//! (its phases, then the job's numbers) and keeps the workers' lines in one file per lot
//! (`--verbose` streams them too); in a pipe it writes plain progress lines and streams them.

use std::process::Command;

use crate::rig::*;

const ESC: &str = "\u{1b}[";

/// A one-lot local job of three STANDARD objects: `(table, bucket, job, keys file)`.
async fn small_job(moto: &Moto) -> (String, String, String, std::path::PathBuf) {
    let c = moto.clients().await;
    let (table, bucket, job) = (unique("tbl"), unique("bkt"), unique("job"));
    init_table(moto, &table);
    create_bucket(&c, &bucket).await;
    let keys: Vec<String> = (0..3).map(|i| format!("plain/{i}")).collect();
    for k in &keys {
        put(&c, &bucket, k, "STANDARD", b"x").await;
    }
    (table, bucket, job, write_keys(&keys))
}

/// The launch command line of [`small_job`], as one shell-quoted string for `script -c`.
fn launch_line(table: &str, bucket: &str, job: &str, keys: &std::path::Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    [
        quote(bin("coordinator").to_str().expect("utf-8 path")),
        "launch --launcher local --storage-class STANDARD_IA".into(),
        format!(
            "--table {} --bucket {} --job-id {}",
            quote(table),
            quote(bucket),
            quote(job)
        ),
        quote(keys.to_str().expect("utf-8 path")),
    ]
    .join(" ")
}

/// A fresh log folder for one launch.
fn log_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(unique("logs"))
}

/// The log file of lot 0 of `job` under `dir`, which must exist.
fn lot0_log(dir: &std::path::Path, job: &str) -> String {
    let path = dir.join(job).join("lot-00000.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `line` on a pseudo-terminal (util-linux `script`), returning what the terminal showed.
fn on_a_terminal(moto: &Moto, line: &str, no_color: bool) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", line, "/dev/null"]);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("THAW_LOG_FORMAT", "human").env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd
        .output()
        .expect("util-linux `script` runs (package bsdutils)");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "launch on a terminal failed: {shown}");
    shown
}

#[tokio::test]
async fn log_lines_are_plain_text_in_pipes_and_files() {
    let moto = Moto::shared();
    let (table, bucket, job, keys) = small_job(moto).await;
    let out = launch_local_ok(moto, &table, &bucket, &job, &keys, &[]);
    let err = stderr(&out);
    assert!(err.contains("lot manifests"), "the launch logged: {err}");
    assert!(
        err.contains("lot started"),
        "the worker's lines are relayed: {err}"
    );
    assert!(!err.contains(ESC), "no colour in a pipe: {err:?}");
}

#[tokio::test]
async fn log_lines_are_coloured_on_a_terminal_unless_no_color() {
    let moto = Moto::shared();
    let (table, bucket, job, keys) = small_job(moto).await;
    let shown = on_a_terminal(moto, &launch_line(&table, &bucket, &job, &keys), false);
    assert!(
        shown.contains("lot manifests"),
        "the launch logged: {shown}"
    );
    assert!(shown.contains(ESC), "colour on a terminal: {shown:?}");

    let (table, bucket, job, keys) = small_job(moto).await;
    let shown = on_a_terminal(moto, &launch_line(&table, &bucket, &job, &keys), true);
    assert!(
        shown.contains("lot manifests"),
        "the launch logged: {shown}"
    );
    assert!(!shown.contains(ESC), "NO_COLOR turns colour off: {shown:?}");
}

#[tokio::test]
async fn a_terminal_shows_the_live_view_and_worker_lines_go_to_files() {
    let moto = Moto::shared();
    let (table, bucket, job, keys) = small_job(moto).await;
    let dir = log_dir();
    let line = format!(
        "{} --log-dir '{}'",
        launch_line(&table, &bucket, &job, &keys),
        dir.display()
    );
    let shown = on_a_terminal(moto, &line, false);
    for phase in ["read and validate", "upload manifests", "record lots"] {
        assert!(shown.contains(phase), "phase {phase} shown: {shown}");
    }
    assert!(
        shown.contains("keys 3/3 (100%)"),
        "the view ends at 100%: {shown}"
    );
    assert!(shown.contains("lots 1: SUCCEEDED 1"), "{shown}");
    assert!(
        shown.contains("copied 3, skipped 0, failed 0, throttled 0"),
        "{shown}"
    );
    assert!(
        shown.contains(&dir.join(&job).display().to_string()),
        "the log folder is named: {shown}"
    );
    assert!(
        !shown.contains("[lot 0]") && !shown.contains("lot started"),
        "worker lines are not streamed on a terminal: {shown}"
    );
    let log = lot0_log(&dir, &job);
    assert!(log.starts_with("--- lot 0, attempt 1\n"), "{log}");
    assert!(log.contains("lot started"), "{log}");
    assert!(
        log.contains(r#""state":"SUCCEEDED""#),
        "the summary line: {log}"
    );
    assert!(!log.contains(ESC), "files get plain text: {log:?}");
}

#[tokio::test]
async fn verbose_streams_worker_lines_on_a_terminal() {
    let moto = Moto::shared();
    let (table, bucket, job, keys) = small_job(moto).await;
    let dir = log_dir();
    let line = format!(
        "{} --verbose --log-dir '{}'",
        launch_line(&table, &bucket, &job, &keys),
        dir.display()
    );
    let shown = on_a_terminal(moto, &line, false);
    assert!(shown.contains("[lot 0] "), "{shown}");
    assert!(shown.contains("lot started"), "{shown}");
    assert!(shown.contains("keys 3/3 (100%)"), "{shown}");
    assert!(lot0_log(&dir, &job).contains("lot started"));
}

#[tokio::test]
async fn pipes_get_plain_progress_lines_and_the_worker_lines() {
    let moto = Moto::shared();
    let (table, bucket, job, keys) = small_job(moto).await;
    let dir = log_dir();
    let dir_flag = dir.display().to_string();
    let out = launch_local_ok(
        moto,
        &table,
        &bucket,
        &job,
        &keys,
        &["--log-dir", &dir_flag],
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "progress: lots 1: SUCCEEDED 1 | keys 3/3 (100%) | copied 3, skipped 0, failed 0, throttled 0"
        ),
        "the last progress line: {err}"
    );
    assert!(err.contains("[lot 0] "), "streamed off a terminal: {err}");
    assert!(!err.contains(ESC), "no escape sequence in a pipe: {err:?}");
    let log = lot0_log(&dir, &job);
    assert!(log.contains("lot started"), "{log}");
    assert!(
        !log.contains("[lot 0]"),
        "files hold the lines as written: {log}"
    );
}
