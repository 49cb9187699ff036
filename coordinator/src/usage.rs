//! Usage errors: a command line that parses but asks for something impossible. They exit with
//! code 2, like clap's own, wherever in the coordinator they are found.

use std::fmt;

/// A command line that parses but asks for something impossible; exits with code 2 like clap's
/// own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Wraps a message as a usage error.
pub fn usage(msg: impl fmt::Display) -> anyhow::Error {
    UsageError(msg.to_string()).into()
}

/// True when the error (or anything in its chain) is a usage error.
pub fn is_usage(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<UsageError>())
}
