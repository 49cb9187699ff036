//! The emulator rig: starts `tests/moto_server.py` (moto plus thaw's slow-restore and fault
//! wrapper) on a free port, builds SDK clients for it, runs the real `coordinator` and `worker`
//! binaries, and reads buckets and tables back (every page, through the SDK's paginators where
//! the SDK has one). The ECS side (cluster, task definition, the Fargate stand-in) is in `ecs`.
//!
//! Every test uses its own bucket, table, cluster and job names, so tests share one emulator
//! safely; tests that change the emulator's behaviour (delays, faults) start their own.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate dir has a parent")
        .to_path_buf()
}

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("THAW_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "moto is not installed: run scripts/setup-venv (looked for {})",
        venv.display()
    );
    venv
}

/// A running emulator; stopped when dropped (and by itself when this process exits).
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    port: u16,
}

impl Moto {
    /// Starts a new emulator with extra environment for the wrapper.
    pub fn start_with(env: &[(&str, &str)]) -> Moto {
        let mut cmd = Command::new(python());
        cmd.arg(repo_root().join("tests/moto_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("PYTHONUNBUFFERED", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start moto");
        let stdout = child.stdout.take().expect("moto stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read moto port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("moto did not report its port: {line:?}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        // Keep ECS tasks RUNNING until a test stops them (moto advances them on every Describe).
        moto.post(
            "/moto-api/state-manager/set-transition",
            r#"{"model_name":"ecs::task","transition":{"progression":"manual","times":1000000}}"#,
        );
        moto
    }

    /// Starts a new plain emulator.
    pub fn start() -> Moto {
        Self::start_with(&[])
    }

    /// The emulator shared by tests that do not change its behaviour.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// Changes the wrapper's behaviour (`restore_delay`, `s3_fault_rate`, ...).
    pub fn configure(&self, json: &str) {
        let (status, body) = self.post("/_thaw/config", json);
        assert_eq!(status, 200, "configure moto: {body}");
    }

    /// Requests counted by the wrapper, by operation (see `counts` for per-bucket counts).
    pub fn stats(&self) -> serde_json::Value {
        self.stats_query("")
    }

    /// The wrapper's request counts for `query` (`bucket=B`, `bucket=B&key=K`,
    /// `bucket=B&by_key=1`; values URL-encoded).
    pub fn stats_query(&self, query: &str) -> serde_json::Value {
        let (status, body) = http(self.port, "GET", &format!("/_thaw/stats?{query}"), &[], "");
        assert_eq!(status, 200, "stats {query}: {body}");
        serde_json::from_str(&body).expect("stats json")
    }

    /// A raw GET of the emulator.
    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, &[], "")
    }

    /// A raw POST to the emulator.
    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        http(
            self.port,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body,
        )
    }

    /// The default VPC's subnets (for awsvpc RunTask), from moto's EC2 query API.
    pub fn default_subnets(&self) -> Vec<String> {
        let body = "Action=DescribeSubnets&Version=2016-11-15&Filter.1.Name=default-for-az&Filter.1.Value.1=true";
        let (status, xml) = http(
            self.port,
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
                ),
            ],
            body,
        );
        assert_eq!(status, 200, "DescribeSubnets: {xml}");
        xml.split("<subnetId>")
            .skip(1)
            .filter_map(|s| s.split("</subnetId>").next())
            .map(str::to_owned)
            .collect()
    }

    /// Environment for a child process that talks to this emulator.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("THAW_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
        ]
    }

    /// SDK clients for this emulator.
    pub async fn clients(&self) -> Clients {
        self.clients_in(REGION).await
    }

    /// SDK clients for this emulator, signing for `region` (the wrapper refuses S3 requests
    /// signed for another Region than the bucket's, as S3 does).
    pub async fn clients_in(&self, region: &str) -> Clients {
        let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "rig");
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        Clients {
            s3,
            ddb: aws_sdk_dynamodb::Client::new(&conf),
            ecs: aws_sdk_ecs::Client::new(&conf),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Region every test uses.
pub const REGION: &str = "us-east-1";

/// SDK clients bound to an emulator.
#[derive(Clone)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub ecs: aws_sdk_ecs::Client,
}

fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    stream.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A name no other test uses (valid as a bucket, table, cluster or job id).
pub fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "thaw-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Path of a binary of this workspace (`worker`, `coordinator`), as built from the sources of
/// this checkout: the first call in a test process builds them (see [`build_binaries`]), so
/// `cargo test` alone never runs a stale worker left by an earlier build.
pub fn bin(name: &str) -> PathBuf {
    let p = build_binaries().join(name);
    assert!(p.exists(), "{} was not built", p.display());
    p
}

/// Builds the workspace's binaries once per test process, with the cargo that runs the tests
/// (`CARGO`, else `cargo` on the PATH), into the target directory and profile this test binary
/// was built in (`target/<profile>/deps/<test>`); returns `target/<profile>`. A failed build
/// fails the test that asked, with cargo's output.
pub fn build_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(repo_root())
            .args(["build", "--quiet", "--bins"])
            .args(["-p", "thaw-worker", "-p", "thaw-coordinator"])
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
        }
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("run {cargo:?} to build the binaries: {e}"));
        assert_success(out, "cargo build -p thaw-worker -p thaw-coordinator");
        profile_dir.to_path_buf()
    })
}

/// Runs a binary of the workspace with the emulator's environment; returns its output.
pub fn run(moto: &Moto, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin(name));
    cmd.args(args);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd.env("THAW_LOG_FORMAT", "human");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run binary")
}

/// Runs and asserts success, printing everything on failure.
pub fn run_ok(moto: &Moto, name: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let out = run(moto, name, args, extra_env);
    assert_success(out, &format!("{name} {args:?}"))
}

/// Asserts that `what` exited successfully, printing its stdout and stderr when not.
pub fn assert_success(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `coordinator launch --launcher local` with the tests' defaults (target STANDARD_IA, restores
/// polled every second), then `extra`, then `input` (none when empty: `--from` jobs).
pub fn launch_local(
    moto: &Moto,
    table: &str,
    bucket: &str,
    job: &str,
    input: impl AsRef<Path>,
    extra: &[&str],
) -> Output {
    let launcher = ["--launcher", "local"].map(str::to_owned);
    launch_with(moto, &launcher, [table, bucket, job], input.as_ref(), extra)
}

/// [`launch_local`], which must succeed.
pub fn launch_local_ok(
    moto: &Moto,
    table: &str,
    bucket: &str,
    job: &str,
    input: impl AsRef<Path>,
    extra: &[&str],
) -> Output {
    assert_success(
        launch_local(moto, table, bucket, job, input, extra),
        "launch",
    )
}

/// `launch` with `launcher` flags and the tests' defaults (see [`launch_local`]).
pub fn launch_with(
    moto: &Moto,
    launcher: &[String],
    [table, bucket, job]: [&str; 3],
    input: &Path,
    extra: &[&str],
) -> Output {
    let input = input.to_str().expect("utf-8 path");
    let mut args = vec!["launch"];
    args.extend(launcher.iter().map(String::as_str));
    args.extend([
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
    ]);
    args.extend_from_slice(extra);
    if !input.is_empty() {
        args.push(input);
    }
    run(moto, "coordinator", &args, &[])
}

/// `coordinator status JOB --json` of a job, parsed.
pub fn status_json(moto: &Moto, table: &str, job: &str) -> serde_json::Value {
    let out = run_ok(
        moto,
        "coordinator",
        &["status", job, "--table", table, "--json"],
        &[],
    );
    serde_json::from_str(&stdout(&out)).expect("status json")
}

/// The summary `coordinator report JOB` prints (its rows go to the default file), parsed.
pub fn report_summary(moto: &Moto, table: &str, job: &str) -> serde_json::Value {
    let out = run_ok(moto, "coordinator", &["report", job, "--table", table], &[]);
    serde_json::from_str(&stdout(&out)).expect("report summary")
}

/// Creates a bucket as AWS creates one today: ACLs disabled (Object Ownership "bucket owner
/// enforced"). [`create_legacy_bucket`] makes one that still uses ACLs.
pub async fn create_bucket(c: &Clients, bucket: &str) {
    create_legacy_bucket(c, bucket).await;
    disable_acls(c, bucket).await;
}

/// Creates a bucket without ownership controls, as buckets were before April 2023: ACLs on.
pub async fn create_legacy_bucket(c: &Clients, bucket: &str) {
    c.s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
}

/// Creates a bucket with Object Lock enabled (and so versioning), ACLs disabled.
pub async fn create_lock_bucket(c: &Clients, bucket: &str) {
    c.s3.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket with object lock");
    disable_acls(c, bucket).await;
}

/// Turns versioning on.
pub async fn enable_versioning(c: &Clients, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    c.s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
}

/// Sets Object Ownership "bucket owner enforced" (ACLs disabled), the default of new buckets.
pub async fn disable_acls(c: &Clients, bucket: &str) {
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    c.s3.put_bucket_ownership_controls()
        .bucket(bucket)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(
                    OwnershipControlsRule::builder()
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .expect("rule"),
                )
                .build()
                .expect("controls"),
        )
        .send()
        .await
        .expect("ownership controls");
}

/// Puts an object of a storage class with a body.
pub async fn put(c: &Clients, bucket: &str, key: &str, class: &str, body: &[u8]) {
    c.s3.put_object()
        .bucket(bucket)
        .key(key)
        .storage_class(StorageClass::from(class))
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

/// `n` GLACIER objects `k/000`.. in a new bucket; their keys in S3's order.
pub async fn archived(c: &Clients, bucket: &str, n: usize) -> Vec<String> {
    create_bucket(c, bucket).await;
    let keys: Vec<String> = (0..n).map(|i| format!("k/{i:03}")).collect();
    let objects = keys
        .iter()
        .map(|k| (k.clone(), "GLACIER", k.as_bytes().to_vec()))
        .collect();
    put_many(c, bucket, objects).await;
    keys
}

/// Puts many objects (key, class, body), 16 at a time: enough to be quick, not so many that a
/// loaded emulator starts failing requests.
pub async fn put_many(c: &Clients, bucket: &str, objects: Vec<(String, &'static str, Vec<u8>)>) {
    use futures::StreamExt;
    futures::stream::iter(objects)
        .for_each_concurrent(16, |(key, class, body)| async move {
            put(c, bucket, &key, class, &body).await;
        })
        .await;
}

/// Storage class of an object as S3 reports it (STANDARD when absent).
pub async fn class_of(c: &Clients, bucket: &str, key: &str) -> String {
    let h =
        c.s3.head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("head {key}: {e:?}"));
    h.storage_class()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|| "STANDARD".into())
}

/// Reads a whole object.
pub async fn get_body(c: &Clients, bucket: &str, key: &str) -> Vec<u8> {
    get_version_body(c, bucket, key, None).await
}

/// Reads a whole object, of one version when given.
pub async fn get_version_body(
    c: &Clients,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Vec<u8> {
    c.s3.get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key} (version {version:?}): {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

/// Every key under `prefix`, sorted (all pages of ListObjectsV2).
pub async fn list_keys(c: &Clients, bucket: &str, prefix: &str) -> Vec<String> {
    let pages: Vec<_> =
        c.s3.list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("list {bucket}/{prefix}: {e:?}"));
    let mut keys: Vec<String> = pages
        .iter()
        .flat_map(|p| p.contents())
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

/// The version ids of exactly `key` (not of other keys it prefixes), newest first.
pub async fn version_ids(c: &Clients, bucket: &str, key: &str) -> Vec<String> {
    // ListObjectVersions has no SDK paginator: one page, and the tests' few versions fit in it
    let page =
        c.s3.list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list versions of {bucket}/{key}: {e:?}"));
    assert_ne!(
        page.is_truncated(),
        Some(true),
        "versions of {key}: more than a page"
    );
    page.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .map(|v| v.version_id().expect("version id").to_owned())
        .collect()
}

/// Every DynamoDB table (all pages of ListTables).
pub async fn table_names(c: &Clients) -> Vec<String> {
    let pages: Vec<_> = c
        .ddb
        .list_tables()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("list tables");
    pages
        .iter()
        .flat_map(|p| p.table_names())
        .cloned()
        .collect()
}

/// Writes a key list file in a fresh temp dir and returns its path.
pub fn write_keys(keys: &[String]) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("keys"));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join("keys.txt");
    let mut text = keys.join("\n");
    text.push('\n');
    std::fs::write(&p, text).expect("write keys");
    p
}

/// Creates a table with `coordinator init`.
pub fn init_table(moto: &Moto, table: &str) {
    run_ok(moto, "coordinator", &["init", "--table", table], &[]);
}

/// The latest modification time of the `.rs` files under `dir`.
fn newest_source(dir: &Path) -> std::time::SystemTime {
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let t = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.metadata().and_then(|m| m.modified()).expect("mtime")
        } else {
            continue;
        };
        newest = newest.max(t);
    }
    newest
}

/// The binaries the tests run are built from the sources of this checkout: none is older than
/// a source file of the crates it is made of.
#[test]
fn binaries_are_built_from_these_sources() {
    for (name, crate_dir) in [("worker", "worker"), ("coordinator", "coordinator")] {
        let exe = bin(name);
        let built = exe.metadata().and_then(|m| m.modified()).expect("mtime");
        for dir in ["common/src", &format!("{crate_dir}/src")] {
            let newest = newest_source(&repo_root().join(dir));
            assert!(
                built >= newest,
                "{} is older than a source file under {dir}: a stale binary",
                exe.display()
            );
        }
    }
}
