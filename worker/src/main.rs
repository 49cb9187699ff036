//! `worker`: processes one lot of a thaw job. It restores the lot's archived objects, copies
//! every object in place with the job's target storage class, and checkpoints its progress in
//! the DynamoDB progress table so a re-run skips finished keys.
//!
//! It takes everything from the environment the coordinator sets in the RunTask overrides
//! (`THAW_JOB_ID`, `THAW_LOT`, `THAW_ATTEMPT`, `THAW_TABLE`, `THAW_CONTROL`, `THAW_REGION`,
//! `THAW_ENDPOINT_URL`), or from the same values as flags. This binary only parses them, builds
//! the AWS clients and the stop signal, and runs [`thaw_worker::run`].

use std::future::Future;
use std::process::ExitCode;

use clap::Parser;
use thaw_common::aws::Aws;
use thaw_common::logging;
use thaw_common::progress::ProgressTable;
use thaw_worker::{run, Args, Clients, Outcome};

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let format = args.log_format;
    logging::init(format);
    // First thing: on Fargate the worker is PID 1, which ignores a SIGTERM it has no handler for.
    let shutdown = stop_signal();
    match start(args, shutdown).await {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            // In containers every stderr line is one JSON object, this one too.
            match format {
                logging::LogFormat::Json => {
                    tracing::error!(error = %format!("{e:#}"), "worker stopped")
                }
                logging::LogFormat::Human => eprintln!("error: {e:#}"),
            }
            ExitCode::from(1)
        }
    }
}

/// Builds the clients from the AWS configuration and runs the worker.
async fn start(
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Outcome> {
    let aws = Aws::load(&args.aws).await?;
    let regions = aws.clone();
    let clients = Clients {
        s3: aws.s3(),
        s3_in: Box::new(move |region| regions.s3_in(region)),
        table: ProgressTable::new(aws.dynamodb(), &args.table).with_clock_skew(clock_skew()?),
    };
    run(args, clients, shutdown).await
}

/// `THAW_CLOCK_SKEW_SECS`: seconds to add to this machine's clock for the times the worker
/// writes to the progress table (drills of a worker whose clock is off; 0 when unset).
fn clock_skew() -> anyhow::Result<i64> {
    match std::env::var("THAW_CLOCK_SKEW_SECS") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("THAW_CLOCK_SKEW_SECS={v}: {e}")),
        _ => Ok(0),
    }
}

/// Resolves at the first SIGTERM or SIGINT. The handlers are installed now, not when the future
/// is first polled.
#[cfg(unix)]
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let wait = |kind: SignalKind| {
        let installed = signal(kind);
        async move {
            match installed {
                Ok(mut s) => {
                    s.recv().await;
                }
                // Without a handler this signal never stops the run (as without thaw's).
                Err(_) => std::future::pending().await,
            }
        }
    };
    let (term, int) = (wait(SignalKind::terminate()), wait(SignalKind::interrupt()));
    async move {
        tokio::select! {
            _ = term => {}
            _ = int => {}
        }
    }
}

/// Resolves at the first Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
