//! The subcommands, one file (or folder) each, and what they share: the global flags with the AWS
//! configuration loaded once per command, usage errors and writing to stdout.

pub mod cancel;
pub mod estimate;
pub mod events;
pub mod failures;
pub mod follow;
pub mod init;
pub mod jobs;
pub mod launch;
pub mod retry;
pub mod status;
pub mod timeline;

use std::io::Write;

use anyhow::Context;
use thaw_common::aws::{Aws, AwsArgs, SetupError};
use thaw_common::progress::ProgressTable;

pub use crate::usage::{is_usage, usage};

/// Flags every subcommand accepts, and the AWS configuration they lead to.
#[derive(Debug)]
pub struct Global {
    /// AWS connection flags.
    pub aws_args: AwsArgs,
    /// DynamoDB progress table.
    pub table: String,
    /// The AWS configuration, loaded once for the whole command; an error is reported only by
    /// the commands that need AWS, when they first do (`launch --dry-run` can do without).
    aws: Result<Aws, SetupError>,
}

impl Global {
    /// Loads the AWS configuration from the flags (no request is sent).
    pub async fn load(aws_args: AwsArgs, table: String) -> Self {
        let aws = Aws::load(&aws_args).await;
        Self {
            aws_args,
            table,
            aws,
        }
    }

    /// No AWS configuration, for a command that makes no AWS call: `aws()` says so.
    pub fn offline(aws_args: AwsArgs, table: String) -> Self {
        Self {
            aws_args,
            table,
            aws: Err(SetupError::NotLoaded),
        }
    }

    /// The AWS configuration, or why it could not be loaded.
    pub fn aws(&self) -> anyhow::Result<&Aws> {
        match &self.aws {
            Ok(aws) => Ok(aws),
            Err(e) => Err(anyhow::Error::new(e.clone()).context("loading the AWS configuration")),
        }
    }

    /// The progress table named by `--table`.
    pub fn progress(&self, aws: &Aws) -> ProgressTable {
        ProgressTable::new(aws.dynamodb(), &self.table)
    }
}

/// Writes `text` to stdout; a closed pipe (`coordinator status ... | head`) is not an error.
pub fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
