//! The worker library run in-process against the moto emulator, with injected clients and a
//! shutdown future the test controls: a whole lot to SUCCEEDED (and a stale attempt fenced off
//! after it), and a shutdown while restores are pending to INTERRUPTED with its checkpoint, which
//! a rerun resumes without asking for the restore again.
//!
//! It starts its own emulator (`tests/moto_server.py` with the repository's `.venv`, or
//! `THAW_PYTHON`), with restores that take an hour, so `cargo test -p thaw-worker` runs it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::StorageClass;
use thaw_common::aws::AwsArgs;
use thaw_common::checkpoint::LotState;
use thaw_common::logging::LogFormat;
use thaw_common::progress::{LotItem, ProgressTable};
use thaw_worker::{run, Args, Clients, Outcome};

/// A running emulator; it exits by itself when this test process does.
struct Moto {
    _child: Child,
    endpoint: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate dir has a parent")
        .to_path_buf()
}

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = std::env::var_os("THAW_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
        assert!(
            python.exists(),
            "moto is not installed: run scripts/setup-venv (looked for {})",
            python.display()
        );
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/moto_server.py"))
            .env("PYTHONUNBUFFERED", "1")
            .env("THAW_MOTO_RESTORE_DELAY", "3600")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("moto stdout"))
            .read_line(&mut line)
            .expect("read moto port");
        let port: u16 = line
            .trim()
            .strip_prefix("PORT=")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("moto did not report its port: {line:?}"));
        Moto {
            _child: child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    })
}

fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "inproc-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// One lot of one job, written straight to the emulator as `launch` would.
struct Lot {
    s3: aws_sdk_s3::Client,
    ddb: aws_sdk_dynamodb::Client,
    bucket: String,
    table: String,
    job_id: String,
    keys: Vec<String>,
}

impl Lot {
    /// A lot of `standard` STANDARD objects followed by `glacier` GLACIER ones, to move into
    /// STANDARD_IA in place.
    async fn create(standard: usize, glacier: usize) -> Lot {
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&moto().endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        );
        let ddb = aws_sdk_dynamodb::Client::new(&conf);
        let (bucket, table, job_id) = (unique("bucket"), unique("table"), unique("job"));
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        let mut keys = Vec::new();
        for i in 0..standard + glacier {
            let class = if i < standard {
                StorageClass::Standard
            } else {
                StorageClass::Glacier
            };
            let key = format!("data/{i:03} {}.bin", class.as_str());
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .storage_class(class)
                .body(ByteStream::from(vec![i as u8; 100 + i]))
                .send()
                .await
                .expect("put object");
            keys.push(key);
        }
        let lot = Lot {
            s3,
            ddb,
            bucket,
            table,
            job_id,
            keys,
        };
        lot.write_job().await;
        lot
    }

    /// `job.json`, the lot manifest and the lot item.
    async fn write_job(&self) {
        let spec = serde_json::json!({
            "job_id": self.job_id, "bucket": self.bucket, "target_class": "STANDARD_IA",
            "restore_tier": "bulk", "restore_days": 2, "keys_total": self.keys.len(), "lots": 1,
            "control": {"bucket": self.bucket, "prefix": format!("thaw/{}/", self.job_id)},
            "table": self.table, "created_at": "2026-11-27T00:00:00Z", "tool_version": "test",
            "input_fingerprint": "test",
            "worker": {"concurrency": 4, "restore_rate": 100.0, "max_wait_secs": 600,
                       "poll_interval_secs": 1, "multipart_threshold": 5_368_709_120_u64,
                       "part_size": 268_435_456},
        });
        let put = |key: String, body: Vec<u8>| {
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
        };
        let control = format!("thaw/{}/", self.job_id);
        put(format!("{control}job.json"), spec.to_string().into_bytes())
            .await
            .expect("put job.json");
        let manifest: String = self.keys.iter().map(|k| format!("{k}\n")).collect();
        let manifest_key = format!("{control}lots/00000.txt");
        put(manifest_key.clone(), manifest.into_bytes())
            .await
            .expect("put manifest");
        let table = self.table();
        table.create_if_missing().await.expect("create table");
        table
            .put_lot_if_absent(
                &self.job_id,
                0,
                self.keys.len() as u64,
                &format!("s3://{}/{manifest_key}", self.bucket),
            )
            .await
            .expect("put lot");
    }

    fn table(&self) -> ProgressTable {
        ProgressTable::new(self.ddb.clone(), &self.table)
    }

    async fn item(&self) -> LotItem {
        self.table()
            .get_lot(&self.job_id, 0)
            .await
            .expect("get lot")
            .expect("lot item")
    }

    /// The worker's flags for this lot, as the coordinator would set them.
    fn args(&self, attempt: Option<u64>, max_wait: u64) -> Args {
        Args {
            job_id: self.job_id.clone(),
            lot: 0,
            attempt,
            table: self.table.clone(),
            control: format!("s3://{}/thaw/{}/", self.bucket, self.job_id),
            task_id: Some("in-process".into()),
            concurrency: None,
            restore_rate: None,
            max_wait: Some(max_wait),
            poll_interval: None,
            multipart_threshold: None,
            part_size: None,
            part_concurrency: 2,
            checkpoint_interval: 1,
            heartbeat: 30,
            shutdown_grace: 2,
            min_copy_rate: 8,
            key_timeout: None,
            stall_timeout: None,
            emf_interval: thaw_common::emf::EMIT_EVERY_SECS,
            log_format: LogFormat::Human,
            aws: AwsArgs::default(),
        }
    }

    fn clients(&self) -> Clients {
        let regional = self.s3.clone();
        Clients {
            s3: self.s3.clone(),
            s3_in: Box::new(move |_region| regional.clone()),
            table: self.table(),
        }
    }

    async fn class_of(&self, key: &str) -> String {
        let head = self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .expect("head");
        head.storage_class()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_else(|| "STANDARD".into())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lot_runs_to_succeeded_and_a_stale_attempt_is_then_fenced() {
    let lot = Lot::create(12, 0).await;
    let outcome = run(lot.args(None, 600), lot.clients(), std::future::pending())
        .await
        .expect("run");
    assert_eq!(outcome, Outcome::Ended(LotState::Succeeded));
    assert_eq!(outcome.exit_code(), 0);
    let item = lot.item().await;
    assert_eq!(item.state, LotState::Succeeded);
    assert_eq!(item.attempt, 1);
    assert_eq!(item.task.as_deref(), Some("in-process"));
    assert_eq!((item.counters.copied, item.counters.failed), (12, 0));
    assert!(item.uploads.is_empty(), "{:?}", item.uploads);
    for key in &lot.keys {
        assert_eq!(lot.class_of(key).await, "STANDARD_IA", "{key}");
    }

    // A worker still holding attempt 0 is refused and writes nothing.
    let outcome = run(
        lot.args(Some(0), 600),
        lot.clients(),
        std::future::pending(),
    )
    .await
    .expect("stale run");
    assert_eq!(outcome, Outcome::Fenced);
    assert_eq!(outcome.exit_code(), 3);
    let after = lot.item().await;
    assert_eq!((after.state, after.attempt), (LotState::Succeeded, 1));
    assert_eq!(after.updated_at, item.updated_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_while_restores_wait_interrupts_with_a_checkpoint_that_a_rerun_resumes() {
    let lot = Lot::create(6, 1).await;
    // Shut down once the checkpoint shows every readable key copied and the restore requested
    // (it takes an hour in this emulator, so the run is waiting for it by then).
    let (table, job) = (lot.table(), lot.job_id.clone());
    let shutdown = async move {
        loop {
            if let Ok(Some(item)) = table.get_lot(&job, 0).await {
                let c = &item.counters;
                if c.copied == 6 && c.restore_requested == 1 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        run(lot.args(None, 600), lot.clients(), shutdown),
    )
    .await
    .expect("the run stops on shutdown")
    .expect("run");
    assert_eq!(outcome, Outcome::Ended(LotState::Interrupted));
    let item = lot.item().await;
    assert_eq!(item.state, LotState::Interrupted);
    assert_eq!(item.counters.done(), 6);
    assert_eq!(item.counters.restore_requested, 1);
    assert!(item.checkpoint.restore_requested.get(6));
    assert!(!item.checkpoint.done.get(6));
    assert_eq!(item.checkpoint.requests.get("s3_restore"), Some(&1));

    // The rerun claims the next attempt, resumes from the checkpoint (no key copied twice, no
    // second restore request) and leaves the lot WAITING for the restore.
    let outcome = run(lot.args(None, 0), lot.clients(), std::future::pending())
        .await
        .expect("rerun");
    assert_eq!(outcome, Outcome::Ended(LotState::Waiting));
    let item = lot.item().await;
    assert_eq!(item.attempt, 2);
    assert_eq!(item.state, LotState::Waiting);
    assert!(item.next_check_at.is_some());
    assert_eq!((item.counters.copied, item.counters.done()), (6, 6));
    assert_eq!(item.checkpoint.requests.get("s3_restore"), Some(&1));
    assert_eq!(item.checkpoint.requests.get("s3_copy"), Some(&6));
    assert_eq!(lot.class_of(&lot.keys[6]).await, "GLACIER");
}
