//! What a person sees: log lines carry colour only on a terminal, and never with `NO_COLOR`;
//! files, pipes and CI logs get plain text.

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
