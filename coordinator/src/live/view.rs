//! Drawing a launch for a person: on a terminal (human log lines, colour allowed, not
//! `TERM=dumb`), one live display (`indicatif`): a spinner per phase of the launch, then the
//! job's numbers refreshed from the progress table every second. Anywhere else (pipes, files,
//! CI logs, JSON logs, `NO_COLOR`), plain log lines without any escape sequence: a line every
//! ten seconds while a phase runs (and one when such a long phase is done: a quick launch that
//! fails prints only its error), one progress line every ten seconds while workers run and a
//! last one at the end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use thaw_common::progress::ProgressTable;
use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;

use super::console::Console;
use super::{duration_text, line, Rate, Snapshot};

/// How the live display refreshes on a terminal.
const LIVE_EVERY: Duration = Duration::from_secs(1);
/// How often a plain progress line is written.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// How a launch is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One live display, redrawn in place.
    Live,
    /// Plain log lines.
    Plain,
}

impl Mode {
    /// The mode for this process: live only with human log lines on a stderr that is a
    /// terminal taking colour and cursor movement.
    pub fn detect(human_logs: bool) -> Self {
        Self::choose(
            human_logs,
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            std::env::var_os("TERM").is_some_and(|t| t == "dumb"),
        )
    }

    /// The mode from the facts: live needs human logs on a terminal, without `NO_COLOR` (the
    /// display is drawn with escape sequences: those who asked for none get plain lines) and
    /// not a dumb terminal.
    pub fn choose(human_logs: bool, terminal: bool, no_color: bool, dumb: bool) -> Self {
        if human_logs && terminal && !no_color && !dumb {
            Mode::Live
        } else {
            Mode::Plain
        }
    }
}

/// Whether worker log lines are streamed to stderr (`[lot N] ...`) besides their files: with
/// `--verbose`, and always when stderr is not a terminal (CI logs keep everything).
pub fn stream_workers(verbose: bool, stderr_is_terminal: bool) -> bool {
    verbose || !stderr_is_terminal
}

/// The display of one launch.
#[derive(Debug)]
pub struct Display {
    bars: Option<MultiProgress>,
}

impl Display {
    /// A display in `mode`.
    pub fn new(mode: Mode) -> Self {
        let bars = (mode == Mode::Live)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8)));
        Self { bars }
    }

    /// True when it is drawn live (on a terminal).
    pub fn is_live(&self) -> bool {
        self.bars.is_some()
    }

    /// Where other lines go while the display is drawn.
    pub fn console(&self) -> Console {
        self.bars.clone().map(Console::over).unwrap_or_default()
    }

    /// Starts showing the phase `name` (e.g. "read and validate"): a spinner on a terminal;
    /// elsewhere a line every ten seconds while it runs and one when such a long phase is done
    /// (a quick launch that fails says one thing: its error).
    pub fn phase(&self, name: &'static str) -> Phase {
        let shown = match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(style("{spinner} {msg} {elapsed}"));
                bar.set_message(name);
                bar.enable_steady_tick(Duration::from_millis(120));
                Shown::Live(bars.clone(), bar)
            }
            None => Shown::Plain(PlainTicker::start(name)),
        };
        Phase {
            name,
            started: Instant::now(),
            shown: Some(shown),
        }
    }

    /// Shows job `job`'s numbers from `table` until [`Watch::finish`].
    pub fn watch(&self, table: ProgressTable, job: &str) -> Watch {
        let stop = Arc::new(Notify::new());
        let out = match &self.bars {
            Some(bars) => Out::Live(LiveBars::new(bars)),
            None => Out::Plain {
                job: job.to_owned(),
            },
        };
        let every = if self.bars.is_some() {
            LIVE_EVERY
        } else {
            PLAIN_EVERY
        };
        let task = tokio::spawn(watch_loop(table, job.to_owned(), out, every, stop.clone()));
        Watch { stop, task }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// One phase of a launch being shown; [`Phase::done`] says what it did. A phase dropped
/// without it (an error) leaves the screen.
#[derive(Debug)]
pub struct Phase {
    name: &'static str,
    started: Instant,
    shown: Option<Shown>,
}

/// How a phase is shown.
#[derive(Debug)]
enum Shown {
    /// A spinner in the display.
    Live(MultiProgress, ProgressBar),
    /// Lines while it runs long.
    Plain(PlainTicker),
}

impl Phase {
    /// Ends the phase, saying what it did (`detail`) and how long it took.
    pub fn done(mut self, detail: &str) {
        let took = duration_text(self.started.elapsed().as_secs_f64());
        let text = format!("{}: {detail} ({took})", self.name);
        match self.shown.take() {
            // Written above the display for good (a finished bar left in it would be lost at
            // its next redraw).
            Some(Shown::Live(bars, bar)) => {
                bar.finish_and_clear();
                let _ = bars.println(format!("✓ {text}"));
            }
            Some(Shown::Plain(ticker)) if ticker.stop() => tracing::info!("{text}"),
            Some(Shown::Plain(_)) | None => {}
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        match self.shown.take() {
            Some(Shown::Live(_, bar)) => bar.finish_and_clear(),
            Some(Shown::Plain(ticker)) => {
                ticker.stop();
            }
            None => {}
        }
    }
}

/// Says every [`PLAIN_EVERY`] that a phase is still running.
#[derive(Debug)]
struct PlainTicker {
    said: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PlainTicker {
    fn start(name: &'static str) -> Self {
        let said = Arc::new(AtomicBool::new(false));
        let flag = said.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(PLAIN_EVERY).await;
                flag.store(true, Ordering::SeqCst);
                let so_far = duration_text(started.elapsed().as_secs_f64());
                tracing::info!("{name}: running for {so_far}");
            }
        });
        Self { said, task }
    }

    /// Stops it; true when it said something (the phase was long enough to be reported).
    fn stop(&self) -> bool {
        self.task.abort();
        self.said.load(Ordering::SeqCst)
    }
}

/// The job's numbers being shown.
#[derive(Debug)]
pub struct Watch {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// Shows the numbers one last time and stops.
    pub async fn finish(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Where the numbers go.
enum Out {
    Live(LiveBars),
    Plain { job: String },
}

impl Out {
    fn show(&mut self, s: &Snapshot, rate: &Rate) {
        match self {
            Out::Live(bars) => bars.show(s, rate),
            Out::Plain { job } => tracing::info!(job = job.as_str(), "progress: {}", line(s, rate)),
        }
    }

    fn finish(self) {
        if let Out::Live(bars) = self {
            bars.finish();
        }
    }
}

/// The live display's lines: keys (a bar, rate and ETA), counts, lots by state, last error.
struct LiveBars {
    bars: MultiProgress,
    keys: ProgressBar,
    counts: ProgressBar,
    lots: ProgressBar,
    error: Option<ProgressBar>,
    /// The last numbers shown, as lines, written for good when the view ends.
    last: Vec<String>,
}

impl LiveBars {
    fn new(bars: &MultiProgress) -> Self {
        let text = || {
            let bar = bars.add(ProgressBar::new(0));
            bar.set_style(style("  {msg}"));
            bar
        };
        let keys = bars.add(ProgressBar::new(0));
        keys.set_style(style("{bar:32.cyan/blue} {msg}"));
        Self {
            bars: bars.clone(),
            keys,
            counts: text(),
            lots: text(),
            error: None,
            last: Vec::new(),
        }
    }

    fn show(&mut self, s: &Snapshot, rate: &Rate) {
        self.keys.set_length(s.keys_total);
        self.keys.set_position(s.done().min(s.keys_total));
        let left = s.keys_total.saturating_sub(s.done());
        let keys = format!("{}  {}", s.keys_text(), rate.text(left));
        self.keys.set_message(keys.clone());
        self.counts.set_message(s.counts_text());
        self.lots.set_message(s.lots_text());
        self.last = vec![
            keys,
            format!("  {}", s.counts_text()),
            format!("  {}", s.lots_text()),
        ];
        if let Some(e) = &s.last_error {
            let bar = self.error.get_or_insert_with(|| {
                let bar = self.bars.add(ProgressBar::new(0));
                bar.set_style(style("  {msg:.red}"));
                bar
            });
            bar.set_message(format!("last error: {e}"));
            self.last.push(format!("  last error: {e}"));
        }
    }

    /// Leaves the last numbers on screen as plain lines, and the cursor below them: the display
    /// is cleared and stops drawing (finished bars left in it would be redrawn or lost).
    fn finish(self) {
        let _ = self.bars.clear();
        self.bars.set_draw_target(ProgressDrawTarget::hidden());
        for bar in [
            Some(self.keys),
            Some(self.counts),
            Some(self.lots),
            self.error,
        ]
        .into_iter()
        .flatten()
        {
            bar.finish();
        }
        let console = Console::plain();
        if let Some((first, rest)) = self.last.split_first() {
            console.line(&format!("✓ {first}"));
            rest.iter().for_each(|l| console.line(l));
        }
    }
}

/// Reads the lots every `every` (at once first) and shows their numbers; when `stop` is
/// notified, reads and shows them one last time.
async fn watch_loop(
    table: ProgressTable,
    job: String,
    mut out: Out,
    every: Duration,
    stop: Arc<Notify>,
) {
    let started = Instant::now();
    let mut rate = Rate::new((every.as_secs_f64() * 3.0).max(30.0));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut said_error = false;
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = stop.notified() => true,
        };
        match table.lots(&job).await {
            Ok(items) => {
                let s = Snapshot::of(&items);
                rate.add(started.elapsed().as_secs_f64(), s.done());
                out.show(&s, &rate);
            }
            // Said once: the workers go on without the view.
            Err(e) if !said_error => {
                said_error = true;
                tracing::warn!(job, "cannot read the lots for the progress view: {e}");
            }
            Err(_) => {}
        }
        if last {
            out.finish();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_only_for_people_at_a_terminal() {
        assert_eq!(Mode::choose(true, true, false, false), Mode::Live);
        assert_eq!(
            Mode::choose(true, false, false, false),
            Mode::Plain,
            "a pipe"
        );
        assert_eq!(Mode::choose(false, true, false, false), Mode::Plain, "JSON");
        assert_eq!(
            Mode::choose(true, true, true, false),
            Mode::Plain,
            "NO_COLOR"
        );
        assert_eq!(
            Mode::choose(true, true, false, true),
            Mode::Plain,
            "TERM=dumb"
        );
    }

    #[test]
    fn worker_lines_are_streamed_unless_at_a_terminal() {
        assert!(!stream_workers(false, true));
        assert!(stream_workers(true, true), "--verbose");
        assert!(stream_workers(false, false), "a pipe keeps them");
        assert!(stream_workers(true, false));
    }
}
