//! The local launcher: runs the worker binary as child processes on this machine, at most
//! `--parallel` at a time.
//!
//! Each child gets the same `THAW_*` variables an ECS task would (with human log lines) on top of
//! the inherited environment, which carries the AWS credentials. Its output goes where
//! [`WorkerOutput`] says: appended to one file per lot (`lot-00003.log` in the job's log folder)
//! and/or streamed to our stderr, each line prefixed with `[lot N] ` (by default, as `follow`
//! and `retry` run them: streamed only). Ctrl-C stops new lots from starting; running workers
//! receive the same signal from the terminal and checkpoint before they exit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};
use thaw_common::task::TaskId;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tracing::warn;

use super::WorkerEnv;
use crate::live::console::Console;

/// How local workers are run; part of the job item's `launch_json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LocalSettings {
    /// Path of the worker binary.
    pub worker_bin: String,
    /// Workers running at once.
    pub parallel: usize,
}

/// The `worker` binary next to this executable.
pub fn default_worker_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    Ok(exe.with_file_name(format!("worker{}", std::env::consts::EXE_SUFFIX)))
}

/// Fails unless `path` is an existing file.
pub fn check_worker_bin(path: &Path) -> anyhow::Result<()> {
    if !path.is_file() {
        bail!(
            "worker binary {} not found (pass --worker-bin)",
            path.display()
        );
    }
    Ok(())
}

/// Where the workers' output lines go.
#[derive(Debug, Clone)]
pub struct WorkerOutput {
    /// The folder of the lots' log files ([`lot_log_path`]), when they are kept.
    pub dir: Option<PathBuf>,
    /// Where they are streamed (`[lot N] ...`), when they are.
    pub stream: Option<Console>,
}

impl Default for WorkerOutput {
    /// Streamed to stderr, no files.
    fn default() -> Self {
        Self {
            dir: None,
            stream: Some(Console::plain()),
        }
    }
}

/// The log file of `lot` in the log folder `dir`: `dir/lot-00003.log`.
pub fn lot_log_path(dir: &Path, lot: u32) -> PathBuf {
    dir.join(format!("lot-{lot:05}.log"))
}

/// Runs workers as child processes.
#[derive(Debug)]
pub struct LocalLauncher {
    settings: LocalSettings,
    env: WorkerEnv,
    stop: Arc<AtomicBool>,
    output: WorkerOutput,
}

impl LocalLauncher {
    /// A launcher with these settings; workers get `env`.
    pub fn new(settings: LocalSettings, env: WorkerEnv) -> Self {
        Self {
            settings,
            env,
            stop: Arc::new(AtomicBool::new(false)),
            output: WorkerOutput::default(),
        }
    }

    /// Sends the workers' output to `output` from now on.
    pub fn set_output(&mut self, output: WorkerOutput) {
        self.output = output;
    }

    /// Its settings.
    pub fn settings(&self) -> &LocalSettings {
        &self.settings
    }

    /// From now on, the first Ctrl-C stops new lots from starting (running workers finish
    /// their checkpoint); a second one exits at once.
    pub fn watch_interrupts(&self) {
        let stop = Arc::clone(&self.stop);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            stop.store(true, Ordering::SeqCst);
            warn!("interrupted: no new lots will start; waiting for running workers (Ctrl-C again to quit now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        });
    }

    /// True once the user asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The environment of `attempt` of `lot`.
    pub fn vars(&self, lot: u32, attempt: u64) -> Vec<(String, String)> {
        self.env.vars(lot, attempt, "human")
    }

    /// Starts the worker of `attempt` of `lot`.
    pub fn spawn(&self, lot: u32, attempt: u64) -> anyhow::Result<LocalWorker> {
        let log = self.open_log(lot, attempt)?;
        let mut cmd = Command::new(&self.settings.worker_bin);
        // The coordinator's own tuning variables mean "for the whole job"; to a worker they would
        // override job.json (e.g. THAW_RESTORE_RATE per worker instead of per job).
        for var in WORKER_OVERRIDES {
            cmd.env_remove(var);
        }
        cmd.envs(self.vars(lot, attempt))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.settings.worker_bin))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("worker of lot {lot} exited before it could be tracked"))?;
        Ok(LocalWorker {
            child,
            lot,
            task: TaskId::local(pid),
            sink: Sink {
                lot,
                file: log.map(|f| Arc::new(Mutex::new(f))),
                stream: self.output.stream.clone(),
            },
        })
    }

    /// The lot's log file, opened for appending (a rerun adds to it), with a first line saying
    /// which attempt follows.
    fn open_log(&self, lot: u32, attempt: u64) -> anyhow::Result<Option<File>> {
        let Some(dir) = &self.output.dir else {
            return Ok(None);
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the log folder {}", dir.display()))?;
        let path = lot_log_path(dir, lot);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "--- lot {lot}, attempt {attempt}")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Some(file))
    }
}

/// Worker flags that must come from job.json, not from the coordinator's environment.
const WORKER_OVERRIDES: [&str; 8] = [
    "THAW_CONCURRENCY",
    "THAW_RESTORE_RATE",
    "THAW_MAX_WAIT",
    "THAW_POLL_INTERVAL",
    "THAW_MULTIPART_THRESHOLD",
    "THAW_PART_SIZE",
    "THAW_TASK_ID",
    "THAW_ATTEMPT",
];

/// A running worker process.
#[derive(Debug)]
pub struct LocalWorker {
    child: Child,
    lot: u32,
    task: TaskId,
    sink: Sink,
}

/// Where one worker's lines go.
#[derive(Debug, Clone)]
struct Sink {
    lot: u32,
    file: Option<Arc<Mutex<File>>>,
    stream: Option<Console>,
}

impl Sink {
    fn line(&self, text: &str) {
        if let Some(file) = &self.file {
            // A full disk loses log lines, never the worker's output being drained.
            if let Ok(mut f) = file.lock() {
                let _ = writeln!(f, "{text}");
            }
        }
        if let Some(console) = &self.stream {
            console.line(&format!("[lot {}] {text}", self.lot));
        }
    }
}

async fn pump(sink: Sink, stream: Option<impl AsyncRead + Unpin>) {
    let Some(stream) = stream else { return };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                sink.line(text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

impl LocalWorker {
    /// Its task id.
    pub fn task(&self) -> &TaskId {
        &self.task
    }

    /// Sends its output where the launcher's [`WorkerOutput`] says until it exits; returns its
    /// exit status.
    pub async fn wait(mut self) -> anyhow::Result<ExitStatus> {
        let out = self.child.stdout.take();
        let err = self.child.stderr.take();
        let (_, _, status) = tokio::join!(
            pump(self.sink.clone(), out),
            pump(self.sink.clone(), err),
            self.child.wait()
        );
        status.with_context(|| format!("waiting for the worker of lot {}", self.lot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_log_file_per_lot() {
        assert_eq!(
            lot_log_path(Path::new("thaw-logs/job-1"), 3),
            Path::new("thaw-logs/job-1/lot-00003.log")
        );
        assert_eq!(
            lot_log_path(Path::new("d"), 123_456),
            Path::new("d/lot-123456.log")
        );
    }

    #[test]
    fn missing_worker_bin() {
        let e = check_worker_bin(Path::new("/nonexistent/worker")).unwrap_err();
        assert!(e.to_string().contains("--worker-bin"), "{e}");
    }
}
