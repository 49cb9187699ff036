//! Lines on stderr that keep a live display whole: while one is drawn, a line written under it
//! would be overwritten by its next frame (or leave pieces of it behind), so lines go through
//! the display, which clears itself, writes the line above and draws itself again. Without a
//! display they are written as they are.

use std::io::{self, Write};

use indicatif::MultiProgress;
use thaw_common::logging;
use tracing_subscriber::fmt::MakeWriter;

/// Where lines meant for stderr go: straight there, or above a live display.
#[derive(Debug, Clone, Default)]
pub struct Console {
    bars: Option<MultiProgress>,
}

impl Console {
    /// Writes to stderr as it is.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Writes above `bars`.
    pub fn over(bars: MultiProgress) -> Self {
        Self { bars: Some(bars) }
    }

    /// Writes `line` and a newline. A closed stderr loses the line, never the job.
    pub fn line(&self, line: &str) {
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        text.push('\n');
        let _ = self.write_all(text.as_bytes());
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let write = || std::io::stderr().lock().write_all(buf);
        match &self.bars {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }

    /// Until the guard is dropped, this thread's log lines are written through this console
    /// (human format, coloured: a live display is only drawn on a terminal that takes colour).
    /// The filter is the global one's (`RUST_LOG`, else `info` without the SDKs' chatter),
    /// and unless `launches` the launcher's per-lot lines ("worker started", "worker exited")
    /// are left out: the display shows the lots' states.
    pub fn capture_logs(&self, launches: bool) -> tracing::subscriber::DefaultGuard {
        let filter = logging::filter(if launches {
            ""
        } else {
            "coordinator::launcher=warn"
        });
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(self.clone())
            .with_ansi(true)
            .with_target(false)
            .compact()
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

/// One log event: the formatter writes it whole, once.
pub struct EventWriter(Console);

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for Console {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter(self.clone())
    }
}
