//! Log setup for both binaries: human-readable lines on a terminal, JSON lines in containers (so
//! CloudWatch Logs Insights can query the fields). Colour only when stderr is a terminal and
//! `NO_COLOR` is unset (<https://no-color.org>): files, pipes and CI logs get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

/// The log filter when `RUST_LOG` says nothing: `info`, without the AWS SDK's chatter, plus
/// `extra` directives (comma-separated, may be empty).
pub fn filter(extra: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let mut directives =
            "info,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_s3=warn".to_owned();
        if !extra.is_empty() {
            directives.push(',');
            directives.push_str(extra);
        }
        EnvFilter::new(directives)
    })
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides the default `info`.
pub fn init(format: LogFormat) {
    let filter = filter("");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .with_target(false);
    let result = match format {
        LogFormat::Human => builder.compact().try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// Whether human log lines carry ANSI colour: on a terminal, unless `NO_COLOR` is set to anything
/// but the empty string.
pub fn colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None), "files and pipes get plain text");
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, Some(OsStr::new("1"))));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
    }
}
