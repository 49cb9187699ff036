//! `coordinator`: splits a key list into lots, records them in the DynamoDB progress table and
//! launches one worker per lot (ECS Fargate tasks or local processes).
//!
//! This file only parses the command line, sets up logging, loads the AWS configuration once,
//! dispatches to `cmd::*` and turns errors into one `error: ...` line on stderr with exit code 1
//! (runtime) or 2 (usage).

/// Appends one formatted line to a `String` (command output is written at once with `cmd::out`).
macro_rules! push_line {
    ($buf:expr, $($arg:tt)*) => {{
        $buf.push_str(&format!($($arg)*));
        $buf.push('\n');
    }};
}

mod advice;
mod buckets;
mod cmd;
mod control;
mod due;
mod events;
mod expiry;
mod fleet;
mod ids;
mod job;
mod keylist;
mod launcher;
mod live;
mod liveness;
mod pricing;
mod proofs;
mod readiness;
mod restore_look;
mod usage;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use thaw_common::aws::AwsArgs;
use thaw_common::logging::{self, LogFormat};

/// Moves S3 objects out of archive storage classes: plans lots and launches workers.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    aws: AwsArgs,
    /// Format of log lines on stderr.
    #[arg(
        long,
        value_enum,
        env = "THAW_LOG_FORMAT",
        default_value = "human",
        global = true
    )]
    log_format: LogFormat,
    /// DynamoDB progress table.
    #[arg(
        long,
        env = "THAW_TABLE",
        default_value = "thaw-progress",
        global = true
    )]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates the progress table (and optionally the control bucket); safe to run again.
    Init(cmd::init::InitArgs),
    /// Validates a key list, uploads lot manifests, records the job and launches its lots.
    Launch(Box<cmd::launch::LaunchArgs>),
    /// Shows the progress of every lot of a job (`--watch` to follow it live).
    Status(cmd::status::StatusArgs),
    /// Relaunches the lots that failed, stopped, lost their worker or whose restores are due.
    Retry(cmd::retry::RetryArgs),
    /// Stays attached to a job and relaunches what is due until every lot is done.
    Follow(cmd::follow::FollowArgs),
    /// Stops every worker of a job and marks its lots CANCELLED (resumable with `retry`).
    Cancel(cmd::cancel::CancelArgs),
    /// Lists the jobs in the table, newest first.
    Jobs(cmd::jobs::JobsArgs),
    /// Prints the failed keys of a job (the format `launch` reads), or a CSV with the errors.
    Failures(cmd::failures::FailuresArgs),
    /// Writes a completion report (S3 Batch Operations columns) and a JSON summary.
    Report(cmd::failures::ReportArgs),
    /// Estimates what a job will cost (S3 requests, retrieval, early deletion, Fargate) before it runs.
    Estimate(Box<cmd::estimate::EstimateArgs>),
    /// Restore-completed events: `events setup` routes a bucket's events to an SQS queue.
    #[command(subcommand)]
    Events(cmd::events::EventsCommand),
}

/// Parses the command line. A value its parser refuses (`--storage-class COLD`) is one
/// `error: ...` line with exit code 2, like the usage errors the commands find; clap prints
/// every other error (and `--help`) its own way.
fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: invalid value"));
            std::process::exit(e.exit_code());
        }
        Err(e) => e.exit(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = parse();
    logging::init(cli.log_format);
    // `estimate --keys N` simulates a job with no list and no bucket: no AWS configuration
    // (whose chain would ask IMDS for a Region on a machine without AWS).
    let global = match &cli.command {
        Command::Estimate(a) if a.timeline.keys.is_some() => {
            cmd::Global::offline(cli.aws, cli.table)
        }
        _ => cmd::Global::load(cli.aws, cli.table).await,
    };
    let result = match cli.command {
        Command::Init(args) => cmd::init::run(&global, args).await,
        Command::Launch(args) => cmd::launch::run(&global, *args, cli.log_format).await,
        Command::Status(args) => cmd::status::run(&global, args).await,
        Command::Retry(args) => cmd::retry::run(&global, args).await,
        Command::Follow(args) => cmd::follow::run(&global, args).await,
        Command::Cancel(args) => cmd::cancel::run(&global, args).await,
        Command::Jobs(args) => cmd::jobs::run(&global, args).await,
        Command::Failures(args) => cmd::failures::run_failures(&global, args).await,
        Command::Report(args) => cmd::failures::run_report(&global, args).await,
        Command::Estimate(args) => cmd::estimate::run(&global, *args).await,
        Command::Events(command) => cmd::events::run(&global, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` joins the context chain with ": "; keep the message on one line.
            let msg = format!("{err:#}").replace(['\n', '\r'], " ");
            eprintln!("error: {msg}");
            if cmd::is_usage(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
