//! `coordinator status JOB`: one line per lot and job totals, or one JSON document with
//! `--json`.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;

use anyhow::Context;
use serde_json::{json, Value};
use thaw_common::checkpoint::{Counters, LotState};
use thaw_common::plan::KeyOrder;
use thaw_common::progress::{now_secs, LotItem};
use thaw_common::task::TaskId;

use super::{out, Global};
use crate::expiry::{lots_at_risk, Expiry};
use crate::fleet::window::live_count;
use crate::ids::rfc3339;
use crate::job::{check_complete, load_job};
use crate::liveness::{liveness_with, Heartbeats, Liveness, DEFAULT_STALE_AFTER};

/// Flags of `coordinator status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Job id (printed by `coordinator launch`).
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Print one JSON document instead of a table.
    #[arg(long, env = "THAW_JSON")]
    pub json: bool,
    /// Refresh until the job is finished (a live view on a terminal, plain lines otherwise).
    #[arg(long, env = "THAW_WATCH")]
    pub watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, env = "THAW_WATCH_INTERVAL", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub interval: u64,
    /// Seconds without a heartbeat after which a RUNNING lot is shown as stale.
    #[arg(long, env = "THAW_STALE_AFTER", default_value_t = DEFAULT_STALE_AFTER, value_parser = clap::value_parser!(i64).range(1..))]
    pub stale_after: i64,
}

/// Runs `coordinator status`.
pub async fn run(g: &Global, args: StatusArgs) -> anyhow::Result<()> {
    let aws = g.aws()?;
    let table = g.progress(aws);
    let job = load_job(&table, &args.job).await?;
    let tty = std::io::stdout().is_terminal();
    let mut rates = Rates::default();
    // With --watch, heartbeats are judged by whether they change between refreshes.
    let mut beats = Heartbeats::default();
    loop {
        let lots = table
            .lots(&args.job)
            .await
            .with_context(|| format!("reading the lots of job {}", args.job))?;
        let now = now_secs();
        beats.observe(&lots, now);
        let live = liveness_with(&job, aws, &lots, now, args.stale_after, &beats).await?;
        rates.sample(now, &lots);
        if let Err(e) = check_complete(&job, &lots) {
            tracing::warn!("{e:#}");
        }
        let view = View {
            job: &args.job,
            lots: &lots,
            live: &live,
            rates: &rates,
            now,
            restore_days: job.spec.restore_days,
            window: job.window(),
        };
        if args.json {
            let mut text =
                serde_json::to_string_pretty(&view.json()).context("serialising the status")?;
            text.push('\n');
            out(&text)?;
        } else if !args.watch || tty {
            let clear = if args.watch { "\x1b[H\x1b[2J" } else { "" };
            out(&format!("{clear}{}", view.text()))?;
        } else {
            out(&format!("{}\n", view.total_line()))?;
        }
        if !args.watch || finished(&lots) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(args.interval)).await;
    }
}

/// True when no lot will change any more without a command (every lot SUCCEEDED, FAILED or
/// CANCELLED).
pub fn finished(lots: &[LotItem]) -> bool {
    lots.iter().all(|l| {
        matches!(
            l.state,
            LotState::Succeeded | LotState::Failed | LotState::Cancelled
        )
    })
}

/// Keys done over time, for the rate (keys/s over the last minute) and the ETA.
#[derive(Debug, Default)]
pub struct Rates {
    samples: VecDeque<(i64, BTreeMap<u32, u64>)>,
}

impl Rates {
    /// Records the keys done per lot at `now`, keeping a minute of history.
    pub fn sample(&mut self, now: i64, lots: &[LotItem]) {
        self.samples.push_back((
            now,
            lots.iter().map(|l| (l.lot, l.counters.done())).collect(),
        ));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, _)| now - t > 60) {
            self.samples.pop_front();
        }
    }

    /// Keys per second of one lot (`Some(lot)`) or of the job (`None`), once there are two
    /// samples at least a second apart.
    pub fn rate(&self, lot: Option<u32>) -> Option<f64> {
        let (t0, first) = self.samples.front()?;
        let (t1, last) = self.samples.back()?;
        if t1 - t0 < 1 {
            return None;
        }
        let sum = |m: &BTreeMap<u32, u64>| match lot {
            Some(l) => m.get(&l).copied().unwrap_or(0),
            None => m.values().sum(),
        };
        Some(sum(last).saturating_sub(sum(first)) as f64 / (t1 - t0) as f64)
    }
}

/// Seconds left at `rate` keys/s for `left` keys.
fn eta(left: u64, rate: Option<f64>) -> Option<u64> {
    match rate {
        Some(r) if r > 0.0 => Some((left as f64 / r).ceil() as u64),
        _ => None,
    }
}

/// Everything one rendering of the status needs.
struct View<'a> {
    job: &'a str,
    lots: &'a [LotItem],
    live: &'a BTreeMap<u32, Liveness>,
    rates: &'a Rates,
    now: i64,
    /// `--restore-days` of the job (restored copies expire after it).
    restore_days: u32,
    /// The job's window (`--max-tasks`).
    window: u32,
}

impl View<'_> {
    fn stale(&self, lot: u32) -> Option<&str> {
        match self.live.get(&lot) {
            Some(Liveness::Stale(r) | Liveness::Interrupted(r)) => Some(r),
            _ => None,
        }
    }

    fn json(&self) -> Value {
        let mut doc = status_json(self.job, self.lots, self.now);
        if let Some(items) = doc["lots"].as_array_mut() {
            for (v, l) in items.iter_mut().zip(self.lots) {
                let rate = self.rates.rate(Some(l.lot));
                v["stale"] = json!(self.stale(l.lot).is_some());
                v["stale_reason"] = json!(self.stale(l.lot));
                v["retries"] = json!(l.retries);
                v["rate_keys_s"] = json!(rate);
                v["eta_s"] = json!(eta(
                    l.counters.keys_total.saturating_sub(l.counters.done()),
                    rate
                ));
            }
        }
        let expiring = lots_at_risk(self.lots, self.restore_days, self.now);
        if let Some(items) = doc["lots"].as_array_mut() {
            for (v, l) in items.iter_mut().zip(self.lots) {
                let e = expiring.iter().find(|(n, _)| *n == l.lot).map(|(_, e)| e);
                v["restore_expiry"] = e.map_or(Value::Null, expiry_json);
            }
        }
        doc["totals"]["restore_expiry_at_risk"] = json!(expiring.len());
        let (sum, _) = totals(self.lots);
        let rate = self.rates.rate(None);
        doc["totals"]["stale"] = json!(self
            .lots
            .iter()
            .filter(|l| self.stale(l.lot).is_some())
            .count());
        doc["totals"]["rate_keys_s"] = json!(rate);
        doc["totals"]["window"] = json!({"live": live_count(self.live), "max_tasks": self.window});
        doc["totals"]["eta_s"] = json!(eta(sum.keys_total.saturating_sub(sum.done()), rate));
        doc
    }

    fn text(&self) -> String {
        let mut t = status_text(self.job, self.lots, self.now);
        for l in self.lots {
            if let Some(r) = self.stale(l.lot) {
                t.push_str(&format!(
                    "lot {}: STALE ({r}): `coordinator retry {}` relaunches it\n",
                    l.lot, self.job
                ));
            }
        }
        let expiring = lots_at_risk(self.lots, self.restore_days, self.now);
        for (lot, e) in &expiring {
            t.push_str(&expiry_line(*lot, e, self.now, self.job));
        }
        if !expiring.is_empty() {
            t.push_str(&format!(
                "restore expiry: {} WAITING lots may lose their restored copies before they are copied\n",
                expiring.len()
            ));
        }
        t.push_str(&format!(
            "window: {} live of {} max (--max-tasks)\n",
            live_count(self.live),
            self.window
        ));
        if let Some(r) = self.rates.rate(None) {
            let (sum, _) = totals(self.lots);
            let eta = eta(sum.keys_total.saturating_sub(sum.done()), Some(r))
                .map(|s| format!("{s}s"))
                .unwrap_or_else(|| "-".into());
            t.push_str(&format!(
                "rate: {r:.1} keys/s over the last minute, ETA {eta}\n"
            ));
        }
        t
    }

    fn total_line(&self) -> String {
        let (sum, states) = totals(self.lots);
        let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
        let rate = self
            .rates
            .rate(None)
            .map(|r| format!(", {r:.1} keys/s"))
            .unwrap_or_default();
        format!(
            "job {}: {}/{} keys done ({:.1}%), {} failed{rate}; lots: {}",
            self.job,
            sum.done(),
            sum.keys_total,
            percent(&sum),
            sum.failed,
            states.join(", ")
        )
    }
}

/// One lot's restore expiry, for the `--json` document.
fn expiry_json(e: &Expiry) -> Value {
    match e {
        Expiry::Safe => Value::Null,
        Expiry::AtRisk {
            expires_at,
            copy_start,
        } => json!({"verdict": "at_risk", "expires_at": expires_at, "copy_start": copy_start}),
        Expiry::Expired { expires_at } => json!({"verdict": "expired", "expires_at": expires_at}),
    }
}

/// One lot's restore expiry, as a line of the table.
fn expiry_line(lot: u32, e: &Expiry, now: i64, job: &str) -> String {
    let hours = |secs: i64| format!("{:.1} h", secs as f64 / 3600.0);
    match e {
        Expiry::Safe => String::new(),
        Expiry::AtRisk {
            expires_at,
            copy_start,
        } => format!(
            "lot {lot}: WAITING, its restored copies may expire in {} ({}), before its copy starts (in about {}): keep `coordinator follow {job}` running\n",
            hours(expires_at - now),
            rfc3339_secs(*expires_at),
            hours(copy_start - now),
        ),
        Expiry::Expired { expires_at } => format!(
            "lot {lot}: WAITING, its restored copies may have expired {} ago ({}): its next run requests (and pays for) those restores again\n",
            hours(now - expires_at),
            rfc3339_secs(*expires_at),
        ),
    }
}

/// Epoch seconds as RFC 3339 (UTC).
fn rfc3339_secs(t: i64) -> String {
    rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64))
}

fn totals(lots: &[LotItem]) -> (Counters, BTreeMap<&'static str, u64>) {
    let mut sum = Counters::default();
    let mut states = BTreeMap::new();
    for l in lots {
        sum.add(&l.counters);
        *states.entry(l.state.as_str()).or_insert(0) += 1;
    }
    (sum, states)
}

fn counters_json(c: &Counters) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("keys_total".into(), json!(c.keys_total));
    m.insert("restore_requested".into(), json!(c.restore_requested));
    m.insert("restored".into(), json!(c.restored));
    m.insert("copied".into(), json!(c.copied));
    m.insert("skipped".into(), json!(c.skipped));
    m.insert("failed".into(), json!(c.failed));
    m.insert("bytes_copied".into(), json!(c.bytes_copied));
    m.insert("throttled".into(), json!(c.throttled));
    m.insert("tier_fallbacks".into(), json!(c.tier_fallbacks));
    m
}

fn heartbeat_age(l: &LotItem, now: i64) -> Option<i64> {
    l.heartbeat_at.map(|t| (now - t).max(0))
}

/// The `--json` document.
fn status_json(job: &str, lots: &[LotItem], now: i64) -> Value {
    let items: Vec<Value> = lots
        .iter()
        .map(|l| {
            let mut m = serde_json::Map::new();
            m.insert("lot".into(), json!(l.lot));
            m.insert("state".into(), json!(l.state.as_str()));
            m.extend(counters_json(&l.counters));
            m.insert("attempt".into(), json!(l.attempt));
            m.insert("task".into(), json!(l.task));
            m.insert("heartbeat_age_s".into(), json!(heartbeat_age(l, now)));
            m.insert("last_error".into(), json!(l.last_error));
            m.insert("next_check_at".into(), json!(l.next_check_at));
            m.insert("key_order".into(), json!(l.key_order.as_str()));
            m.insert("ready_look".into(), ready_look_json(l));
            m.insert("events_counted".into(), json!(l.current_events()));
            Value::Object(m)
        })
        .collect();
    let (sum, states) = totals(lots);
    let mut t = counters_json(&sum);
    t.insert("lots".into(), json!(lots.len()));
    t.insert("states".into(), json!(states));
    t.insert("sorted_lots".into(), json!(sorted_lots(lots)));
    json!({ "job_id": job, "lots": items, "totals": Value::Object(t) })
}

/// Lots whose keys are in the bucket's key order: their restores are looked at by listing.
fn sorted_lots(lots: &[LotItem]) -> usize {
    lots.iter()
        .filter(|l| l.key_order == KeyOrder::Sorted)
        .count()
}

/// `follow`'s last look at a WAITING lot's restores, or null.
fn ready_look_json(l: &LotItem) -> Value {
    match l.current_ready_look() {
        Some(r) => json!({ "done": r.done, "looked": r.looked, "by": r.by.as_str(), "at": r.at }),
        None => Value::Null,
    }
}

/// A lot's next check, and `follow`'s last look at its restores when it is about this run.
fn next_check_text(l: &LotItem, next_check_at: i64, now: i64) -> String {
    let look = match l.current_ready_look() {
        Some(r) => format!(
            "; restores done at the last look: {}/{} ({}, {}s ago)",
            r.done,
            r.looked,
            r.by.as_str(),
            (now - r.at).max(0)
        ),
        None => String::new(),
    };
    let events = match l.current_events() {
        Some(n) => format!("; restore events counted: {n}"),
        None => String::new(),
    };
    format!(
        "lot {}: next check in {}s{look}{events}\n",
        l.lot,
        (next_check_at - now).max(0)
    )
}

fn percent(c: &Counters) -> f64 {
    if c.keys_total == 0 {
        0.0
    } else {
        c.done() as f64 * 100.0 / c.keys_total as f64
    }
}

/// A task id short enough for a table cell: the task id of an ARN, the local id, or (a task id
/// given by hand) its first 31 characters.
fn short_task(task: &str) -> String {
    let t = match task.parse::<TaskId>() {
        Ok(id) => id.short(),
        Err(_) => task.to_owned(),
    };
    if t.chars().count() > 32 {
        t.chars().take(31).chain(['…']).collect()
    } else {
        t
    }
}

/// The human table.
fn status_text(job: &str, lots: &[LotItem], now: i64) -> String {
    let mut out = format!("job {job}\n");
    out.push_str(&format!(
        "{:>5}  {:<11} {:>19} {:>6} {:>9} {:>9} {:>7} {:>7}  {:<32} {:>9}\n",
        "LOT",
        "STATE",
        "DONE/TOTAL",
        "%",
        "COPIED",
        "SKIPPED",
        "FAILED",
        "ATTEMPT",
        "TASK",
        "HEARTBEAT"
    ));
    for l in lots {
        let c = &l.counters;
        out.push_str(&format!(
            "{:>5}  {:<11} {:>19} {:>5.1}% {:>9} {:>9} {:>7} {:>7}  {:<32} {:>9}\n",
            l.lot,
            l.state.as_str(),
            format!("{}/{}", c.done(), c.keys_total),
            percent(c),
            c.copied,
            c.skipped,
            c.failed,
            l.attempt,
            l.task
                .as_deref()
                .map(short_task)
                .unwrap_or_else(|| "-".into()),
            heartbeat_age(l, now)
                .map(|a| format!("{a}s"))
                .unwrap_or_else(|| "-".into()),
        ));
    }
    let (sum, states) = totals(lots);
    out.push_str(&format!(
        "total: {} lots, {}/{} keys done ({:.1}%), copied {}, skipped {}, failed {}, restore requested {}, restored {}, {} bytes copied, {} throttled\n",
        lots.len(),
        sum.done(),
        sum.keys_total,
        percent(&sum),
        sum.copied,
        sum.skipped,
        sum.failed,
        sum.restore_requested,
        sum.restored,
        sum.bytes_copied,
        sum.throttled
    ));
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{s} {n}")).collect();
    out.push_str(&format!("states: {}\n", states.join(", ")));
    let sorted = sorted_lots(lots);
    out.push_str(&format!(
        "restores looked at: {sorted} lots by listing (keys in key order), {} by HEAD\n",
        lots.len() - sorted
    ));
    for l in lots {
        if let Some(e) = &l.last_error {
            out.push_str(&format!("lot {}: {e}\n", l.lot));
        }
        if let Some(t) = l.next_check_at {
            out.push_str(&next_check_text(l, t, now));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::fixtures::LotItemBuilder;

    fn lot(n: u32, state: LotState, done: u64) -> LotItem {
        LotItemBuilder::new(n, 10)
            .state(state)
            .copied(done)
            .task("arn:aws:ecs:us-east-1:123:task/thaw/0123456789abcdef")
            .heartbeat_at(100)
            .build()
    }

    #[test]
    fn json_document() {
        let lots = [lot(0, LotState::Running, 5), lot(1, LotState::Pending, 0)];
        let v = status_json("j", &lots, 130);
        assert_eq!(v["job_id"], "j");
        assert_eq!(v["lots"][0]["heartbeat_age_s"], 30);
        assert_eq!(v["lots"][0]["state"], "RUNNING");
        assert_eq!(v["lots"][1]["last_error"], Value::Null);
        assert_eq!(v["totals"]["copied"], 5);
        assert_eq!(v["totals"]["keys_total"], 20);
        assert_eq!(v["totals"]["lots"], 2);
        assert_eq!(v["totals"]["states"]["PENDING"], 1);
    }

    #[test]
    fn text_table() {
        let lots = [lot(0, LotState::Running, 5)];
        let t = status_text("j", &lots, 130);
        assert!(t.contains("5/10"), "{t}");
        assert!(t.contains("50.0%"), "{t}");
        assert!(t.contains("0123456789abcdef"), "{t}");
        assert!(t.contains("states: RUNNING 1"), "{t}");
        assert_eq!(short_task("local:host:42"), "local:host:42");
    }

    #[test]
    fn key_order_and_the_last_readiness_look() {
        use thaw_common::progress::{LookBy, ReadyLook};
        let look = ReadyLook {
            done: 3,
            looked: 8,
            by: LookBy::List,
            at: 100,
            attempt: 1,
        };
        let waiting = LotItemBuilder::new(0, 10)
            .state(LotState::Waiting)
            .key_order(KeyOrder::Sorted)
            .next_check_at(190)
            .ready_look(look)
            .build();
        let running = LotItemBuilder::new(1, 10)
            .state(LotState::Running)
            .ready_look(look)
            .build();
        let lots = [waiting, running];
        let v = status_json("j", &lots, 130);
        assert_eq!(v["lots"][0]["key_order"], "sorted");
        assert_eq!(v["lots"][0]["ready_look"]["done"], 3);
        assert_eq!(v["lots"][0]["ready_look"]["by"], "list");
        // a look is about a WAITING lot: not shown once the lot runs again
        assert_eq!(v["lots"][1]["ready_look"], Value::Null);
        assert_eq!(v["lots"][1]["key_order"], "scattered");
        assert_eq!(v["totals"]["sorted_lots"], 1);
        let t = status_text("j", &lots, 130);
        assert!(
            t.contains(
                "lot 0: next check in 60s; restores done at the last look: 3/8 (list, 30s ago)"
            ),
            "{t}"
        );
        assert!(t.contains("1 lots by listing"), "{t}");
    }

    #[test]
    fn restore_events_counted_for_a_waiting_lot() {
        use thaw_common::progress::EventsCounted;
        let mut waiting = LotItemBuilder::new(0, 10)
            .state(LotState::Waiting)
            .next_check_at(190)
            .build();
        waiting.attempt = 2;
        waiting.events = Some(EventsCounted {
            counted: 7,
            attempt: 2,
        });
        // counted for an older run: not shown
        let mut older = waiting.clone();
        older.lot = 1;
        older.attempt = 3;
        let lots = [waiting, older];
        let v = status_json("j", &lots, 130);
        assert_eq!(v["lots"][0]["events_counted"], 7);
        assert_eq!(v["lots"][1]["events_counted"], Value::Null);
        let t = status_text("j", &lots, 130);
        assert!(
            t.contains("lot 0: next check in 60s; restore events counted: 7\n"),
            "{t}"
        );
        assert!(t.contains("lot 1: next check in 60s\n"), "{t}");
    }

    #[test]
    fn rates_and_eta() {
        let mut r = Rates::default();
        r.sample(100, &[lot(0, LotState::Running, 2)]);
        assert_eq!(r.rate(None), None);
        r.sample(104, &[lot(0, LotState::Running, 10)]);
        assert_eq!(r.rate(None), Some(2.0));
        assert_eq!(r.rate(Some(0)), Some(2.0));
        assert_eq!(eta(10, Some(2.0)), Some(5));
        assert_eq!(eta(10, Some(0.0)), None);
        // samples older than a minute are dropped
        r.sample(200, &[lot(0, LotState::Running, 10)]);
        assert_eq!(r.rate(None), Some(0.0));
    }

    #[test]
    fn waiting_lots_past_their_restore_expiry_are_called_out() {
        let mut cp = thaw_common::checkpoint::LotCheckpoint::new(10);
        cp.restore_requested.set(3, true);
        cp.restore_requested_at = Some(0);
        let waiting = LotItemBuilder::new(7, 10)
            .state(LotState::Waiting)
            .checkpoint(cp)
            .next_check_at(Some(100))
            .build();
        let lots = [waiting, lot(1, LotState::Running, 5)];
        let (live, rates) = (BTreeMap::new(), Rates::default());
        let view = |now| View {
            job: "j",
            lots: &lots,
            live: &live,
            rates: &rates,
            now,
            restore_days: 1,
            window: 2,
        };
        let early = view(3600);
        assert!(!early.text().contains("restore expiry"), "{}", early.text());
        assert_eq!(early.json()["totals"]["restore_expiry_at_risk"], 0);
        let late = view(2 * 86_400);
        let t = late.text();
        assert!(t.contains("lot 7: WAITING, its restored copies may have expired 24.0 h ago (1970-01-02T00:00:00Z)"), "{t}");
        assert!(t.contains("restore expiry: 1 WAITING lots"), "{t}");
        assert!(!t.contains("lot 1: WAITING"), "{t}");
        let v = late.json();
        assert_eq!(v["totals"]["restore_expiry_at_risk"], 1);
        assert_eq!(v["lots"][0]["restore_expiry"]["verdict"], "expired");
        assert_eq!(v["lots"][1]["restore_expiry"], Value::Null);
    }

    #[test]
    fn finished_means_nothing_moves_by_itself() {
        assert!(finished(&[
            lot(0, LotState::Succeeded, 10),
            lot(1, LotState::Failed, 9)
        ]));
        assert!(!finished(&[
            lot(0, LotState::Succeeded, 10),
            lot(1, LotState::Waiting, 1)
        ]));
    }
}
