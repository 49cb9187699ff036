//! The simulated job: `launch` and `follow` driving lots through their runs against the model.
//!
//! `follow`'s look is thaw's own: the lot items go through [`crate::due::due_lots`], the window
//! picks which due lots start now, a WAITING lot among them starts only when thaw's readiness
//! verdict on its restores says so ([`super::look`]), and each run's restore share comes from the job's rate split
//! over the running workers. Everything else (tasks starting, restores completing, passes ending)
//! is an event on the [`Clock`].

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use thaw_common::checkpoint::LotState;
use thaw_common::plan::{lot_sizes, LotSpec};
use thaw_common::progress::LotItem;

use super::clock::{Clock, Event};
use super::look::{look, LookJob};
use super::model::{Archive, AwsModel};
use super::timeline::Timeline;
use super::worker::{LotModel, Phase, Run, WorkerModel, EPSILON};
use crate::fleet::pace::Pace;
use crate::fleet::pause::pause_secs;
use crate::fleet::quota::QuotaWindow;
use crate::fleet::window::{plan, Facts};
use crate::liveness::Liveness;
use crate::readiness::Verdict;
use thaw_common::budget::{Budget as RegionBudget, JobDemand, STALE_AFTER_SECS};
use thaw_common::recheck::latest_recheck;

/// The job to simulate, with the settings `launch` would give it.
#[derive(Debug, Clone)]
pub struct SimJob {
    /// Keys in the job.
    pub keys: u64,
    /// Keys per lot.
    pub lot_size: u64,
    /// The job's `--restore-rate`, shared by the running workers.
    pub restore_rate: f64,
    /// Days a restored copy stays (`--restore-days`).
    pub restore_days: u32,
    /// The window (`--max-tasks`): most lots with a live worker at once (the number of lots:
    /// every lot at once, as `launch` did before the window).
    pub max_tasks: u32,
    /// How the restore rate is shared.
    pub budget: Budget,
    /// PENDING lots start at the restore rate ([`crate::fleet::pace`]), not all at once.
    pub paced: bool,
    /// What each worker does and can do.
    pub worker: WorkerModel,
    /// `follow --interval`, seconds.
    pub follow_interval: f64,
    /// `follow --max-attempts`.
    pub max_attempts: u64,
    /// Worker task vCPU.
    pub task_vcpu: f64,
    /// Worker task memory, GB.
    pub task_gb: f64,
    /// Fargate Spot.
    pub spot: bool,
    /// `follow --ready-fraction`: a WAITING lot that is due is looked at first
    /// ([`super::look`]) and launched only when thaw's readiness verdict says so. `None`:
    /// what-if, `follow` before its looks (every due lot launched).
    pub ready_fraction: Option<f64>,
}

/// How the job's restore rate is shared by its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// thaw's restore budget ([`thaw_common::budget::Budget::worker_share`]): the job's part of
    /// the account rate shared by the workers sending restores as `follow` counted them at its
    /// last look (the rule of [`crate::fleet::budget::restoring_lots`]: RUNNING lots with
    /// restores left to request); a worker reads its share when it starts and at its
    /// checkpoints, so one that started since the last look is not counted yet and the shares
    /// may sum to more than the rate until the next look (S3 then serves the account's rate and
    /// no more: see [`Sim::reshare`]).
    Shared,
    /// What-if, the budget as first merged: lots whose tasks are still starting (LAUNCHED) count
    /// as restoring too, and hold a share while they send nothing.
    WhatIfStartingCounted,
    /// What-if, thaw before the restore budget: each worker gets `rate / window` when it starts,
    /// for its whole run (`launch` divided the rate by the lots on ECS).
    WhatIfFixed,
}

/// The simulated job's id in its Region's budget.
const SIM_JOB: &str = "sim";
/// Longest virtual time simulated before the job is called stuck.
const MAX_DAYS: f64 = 60.0;
/// Seconds between two checkpoints of a worker (`worker --checkpoint-interval`).
const CHECKPOINT_SECS: f64 = 5.0;

/// Simulates `job` against `model` until every key is copied.
pub fn simulate(job: &SimJob, model: &AwsModel) -> anyhow::Result<Timeline> {
    if job.keys == 0 {
        bail!("nothing to simulate: the job has no keys");
    }
    let mut sim = Sim::new(job, model)?;
    sim.clock.at(0.0, Event::Look);
    while let Some(event) = sim.clock.next() {
        if sim.clock.now() > MAX_DAYS * 86400.0 {
            bail!(
                "the simulated job is not done after {MAX_DAYS} days ({:.0} of {} keys copied)",
                sim.t.copied,
                job.keys
            );
        }
        sim.handle(event);
    }
    Ok(sim.finish())
}

/// The state of a simulation.
struct Sim<'a> {
    job: &'a SimJob,
    model: &'a AwsModel,
    clock: Clock,
    lots: Vec<LotModel>,
    items: Vec<LotItem>,
    runs: Vec<Run>,
    active: BTreeSet<usize>,
    live: u64,
    live_lots: BTreeMap<u32, Liveness>,
    quota: QuotaWindow,
    pace: Option<Pace>,
    waiting: BTreeSet<(i64, u32)>,
    restoring_seen: u32,
    pending_from: usize,
    finished_lots: usize,
    tokens: f64,
    bucket_at: f64,
    to_request: f64,
    restores_sent: f64,
    requested_at: f64,
    first_copy: Option<f64>,
    done_at: f64,
    task_secs: f64,
    did_work: Vec<bool>,
    lot_launches: Vec<u64>,
    t: Timeline,
}

impl<'a> Sim<'a> {
    fn new(job: &'a SimJob, model: &'a AwsModel) -> anyhow::Result<Self> {
        let sizes = lot_sizes(job.keys, LotSpec::Size(job.lot_size.max(1)))?;
        let (lo, hi) = model.restore_range(job.worker.archive, job.worker.tier);
        let lots: Vec<LotModel> = sizes
            .iter()
            .map(|&n| LotModel::new(n as f64, lo, hi))
            .collect();
        let items = (0..lots.len()).map(|i| pending_item(i as u32)).collect();
        let to_request = lots.iter().map(|l| l.to_request(job.worker.archive)).sum();
        let window = u64::from(job.max_tasks);
        let t = Timeline {
            keys: job.keys,
            lots: lots.len() as u64,
            window,
            restore_rate: job.restore_rate,
            account_restore_rate: model.account_restore_rate,
            ..Timeline::default()
        };
        Ok(Self {
            job,
            model,
            clock: Clock::default(),
            items,
            runs: Vec::new(),
            active: BTreeSet::new(),
            live: 0,
            live_lots: BTreeMap::new(),
            quota: QuotaWindow::new(job.max_tasks),
            waiting: BTreeSet::new(),
            restoring_seen: 0,
            pending_from: 0,
            finished_lots: 0,
            pace: (job.paced && job.worker.archive != Archive::None).then(|| {
                Pace::new(
                    job.restore_rate,
                    job.lot_size as f64,
                    job.follow_interval,
                    0,
                )
            }),
            tokens: model.launch_burst,
            bucket_at: 0.0,
            to_request,
            restores_sent: 0.0,
            requested_at: 0.0,
            first_copy: None,
            done_at: 0.0,
            task_secs: 0.0,
            did_work: Vec::new(),
            lot_launches: vec![0; lots.len()],
            lots,
            t,
        })
    }

    fn now(&self) -> f64 {
        self.clock.now()
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Look => self.look(),
            Event::Started { run } => self.started(run),
            Event::PassEnd { run, generation } => {
                if self.runs[run].generation == generation {
                    self.pass_end(run);
                }
            }
            Event::Poll { run } => self.copy_pass(run),
        }
    }

    /// One look of `follow`: relaunch what is due, within the window; look again after
    /// `follow`'s pause (until the earliest WAITING lot is due, at most the interval).
    fn look(&mut self) {
        if self.finished_lots == self.lots.len() {
            return;
        }
        let now = self.now();
        self.t.looks += 1;
        // A Query is billed by the bytes it reads, 4 KB a read unit (strongly consistent).
        self.t.ddb_read_units +=
            (self.items.len() as f64 * self.model.lot_item_bytes / 4096.0).ceil() as u64;
        let window = self.quota.size(now as i64);
        let candidates = self.candidates(now as i64, window);
        let verdict = plan(&Facts {
            lots: &candidates,
            live: &self.live_lots,
            now: now as i64,
            window,
            max_retries: Some(self.job.max_attempts.saturating_sub(1)),
            only: None,
        });
        let window_full = verdict.window_full() > 0;
        let launch = match &mut self.pace {
            Some(p) => p.admit(verdict.launch, now as i64),
            None => verdict.launch,
        };
        let launch = self.worth_a_task(launch, now);
        for (item, _) in launch {
            if !self.launch(item.lot as usize) {
                let running = u32::try_from(self.live).unwrap_or(u32::MAX);
                self.quota.refused(running, now as i64);
                break;
            }
        }
        if self.job.budget != Budget::WhatIfFixed {
            self.count_restoring();
            self.reshare();
        }
        let next_checks = self.waiting.iter().map(|&(t, _)| t);
        let interval = self.job.follow_interval.max(1.0) as u64;
        let pause = pause_secs(next_checks, now as i64, interval, window_full);
        self.clock.at(now + pause as f64, Event::Look);
    }

    /// The lots of `launch` worth a task now, as `follow`'s readiness look decides
    /// ([`super::look`]): PENDING lots all; WAITING lots when the verdict launches them, the
    /// others looked at again when it says (their next check moved, as `follow` records it).
    fn worth_a_task(
        &mut self,
        launch: Vec<(LotItem, crate::due::Due)>,
        now: f64,
    ) -> Vec<(LotItem, crate::due::Due)> {
        let Some(ready_fraction) = self.job.ready_fraction else {
            return launch;
        };
        let w = &self.job.worker;
        let job = LookJob {
            archive: w.archive,
            tier: w.tier,
            restore_days: self.job.restore_days,
            poll_interval: w.poll_interval,
            ready_fraction,
        };
        let mut keep = Vec::with_capacity(launch.len());
        for (item, why) in launch {
            if item.state != LotState::Waiting {
                keep.push((item, why));
                continue;
            }
            let lot = item.lot as usize;
            let (verdict, pages) = look(&self.lots[lot], &job, now);
            self.t.readiness_looks += 1;
            self.t.s3_lists += pages;
            self.t.s3_manifest_gets += 1;
            match verdict {
                Verdict::Launch(_) => keep.push((item, why)),
                Verdict::Defer(next) => {
                    self.t.deferred_looks += 1;
                    self.t.ddb_writes += 1;
                    if let Some(at) = self.items[lot].next_check_at {
                        self.waiting.remove(&(at, item.lot));
                    }
                    self.items[lot].next_check_at = Some(next);
                    self.waiting.insert((next, item.lot));
                }
            }
        }
        keep
    }

    /// The lot items the window's plan can pick from at `now` with `window` slots: the WAITING
    /// lots whose restores are due and the first `window` PENDING lots (the plan takes due
    /// restores first, then PENDING lots in lot order, at most `window`: the other items cannot
    /// change what it launches, and leaving them out keeps a look of a 20,000-lot job cheap).
    fn candidates(&mut self, now: i64, window: u32) -> Vec<LotItem> {
        let mut lots: Vec<LotItem> = self
            .waiting
            .range(..=(now, u32::MAX))
            .map(|&(_, lot)| self.items[lot as usize].clone())
            .collect();
        while self
            .items
            .get(self.pending_from)
            .is_some_and(|l| l.state != LotState::Pending)
        {
            self.pending_from += 1;
        }
        lots.extend(
            self.items[self.pending_from..]
                .iter()
                .filter(|l| l.state == LotState::Pending)
                .take(window as usize)
                .cloned(),
        );
        lots
    }

    /// RunTask for `lot`, paced by the launch rate; false when refused for the running-task
    /// quota (the lot stays due, and the session's window shrinks to what runs).
    fn launch(&mut self, lot: usize) -> bool {
        if self.live >= self.model.max_running_tasks {
            self.t.refused_launches += 1;
            return false;
        }
        let at = self.launch_slot();
        let started = at + self.model.task_start_secs + self.model.worker_overhead_secs;
        let run = self.runs.len();
        self.active.insert(run);
        self.runs.push(Run {
            lot,
            launched: at,
            started,
            phase: Phase::Starting,
            generation: 0,
            share: 0.0,
        });
        self.did_work.push(false);
        self.lot_launches[lot] += 1;
        self.lots[lot].run = Some(run);
        if let Some(at) = self.items[lot].next_check_at {
            self.waiting.remove(&(at, lot as u32));
        }
        self.items[lot].state = LotState::Launched;
        self.items[lot].next_check_at = None;
        self.live += 1;
        self.live_lots.insert(lot as u32, Liveness::Live);
        self.t.launches += 1;
        self.t.ddb_writes += 1;
        self.t.peak_tasks = self.t.peak_tasks.max(self.live);
        self.t.max_live = self.t.max_live.max(self.live);
        self.clock.at(started, Event::Started { run });
        true
    }

    /// When the next RunTask may go: a token bucket of `launch_burst` refilled at `launch_rate`.
    fn launch_slot(&mut self) -> f64 {
        let t = self.now().max(self.bucket_at);
        let m = self.model;
        self.tokens = (self.tokens + (t - self.bucket_at) * m.launch_rate).min(m.launch_burst);
        self.bucket_at = t;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return t;
        }
        let at = t + (1.0 - self.tokens) / m.launch_rate;
        self.tokens = 0.0;
        self.bucket_at = at;
        at
    }

    /// The worker is up: it reads its lot and starts its first pass.
    fn started(&mut self, run: usize) {
        let lot = self.runs[run].lot;
        self.items[lot].state = LotState::Running;
        self.t.ddb_writes += 1;
        self.t.s3_manifest_gets += 1;
        let left = self.lots[lot].to_request(self.job.worker.archive);
        if left > EPSILON {
            let now = self.now();
            self.runs[run].phase = Phase::Requesting {
                since: now,
                pace: 0.0,
                left,
            };
            self.reshare();
        } else {
            self.copy_pass(run);
        }
    }

    /// Gives every requesting worker its share of the job's restore rate again, moving the end
    /// of its pass. When the shares sum to more than the account's rate (workers that started
    /// since `follow`'s last look read a share computed without them), S3 serves the account's
    /// rate and no more: it answers the excess `503 SlowDown`, the workers' adaptive pacing
    /// follows what it serves, and the model splits the account's rate in proportion to the
    /// shares.
    fn reshare(&mut self) {
        let now = self.now();
        let cap = self.job.worker.restore_cap(self.model);
        let requesting: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&r| matches!(self.runs[r].phase, Phase::Requesting { .. }))
            .collect();
        if requesting.is_empty() {
            return;
        }
        let share = match self.job.budget {
            Budget::Shared | Budget::WhatIfStartingCounted => self.budget_share(),
            Budget::WhatIfFixed => self.job.restore_rate / f64::from(self.job.max_tasks.max(1)),
        };
        let asked = share.min(cap);
        let total = asked * requesting.len() as f64;
        let served = if total > self.model.account_restore_rate {
            self.model.account_restore_rate / total
        } else {
            1.0
        };
        self.t.max_shares = self.t.max_shares.max(total);
        self.t.max_sent = self.t.max_sent.max(total * served);
        for r in requesting {
            let Phase::Requesting { since, pace, left } = self.runs[r].phase else {
                continue;
            };
            let new_pace = asked * served;
            if new_pace == pace {
                continue;
            }
            let sent = (pace * (now - since)).min(left);
            self.requested(r, since, sent);
            let left = left - sent;
            let run = &mut self.runs[r];
            run.share = share;
            run.phase = Phase::Requesting {
                since: now,
                pace: new_pace,
                left,
            };
            run.generation += 1;
            let generation = run.generation;
            self.clock
                .at(now + left / new_pace, Event::PassEnd { run: r, generation });
        }
    }

    /// Run `run` sent `keys` restore requests (each after a HEAD) from `since` until now.
    fn requested(&mut self, run: usize, since: f64, keys: f64) {
        let now = self.now();
        let lot = self.runs[run].lot;
        self.lots[lot].restores.record(since, now, keys);
        self.restores_sent += keys;
        self.t.ddb_writes += ((now - since) / CHECKPOINT_SECS).ceil() as u64;
        self.to_request -= keys;
        // within half a key: the sum of fractions of a 100M-key job drifts past EPSILON
        if self.to_request < 0.5 && self.requested_at == 0.0 {
            self.requested_at = now;
        }
    }

    /// One worker's share under thaw's budget: this job alone in its Region's budget item, with
    /// the restoring lots `follow` counted at its last look.
    fn budget_share(&self) -> f64 {
        let now = self.now() as i64;
        let entry = JobDemand {
            rate: self.job.restore_rate,
            restoring: self.restoring_seen,
            at: now,
        };
        let budget = RegionBudget {
            account_rate: Some(self.model.account_restore_rate),
            jobs: [(SIM_JOB.to_owned(), entry)].into(),
        };
        budget
            .worker_share(SIM_JOB, now, STALE_AFTER_SECS)
            .unwrap_or(self.job.restore_rate)
    }

    /// `follow` counts the job's restoring lots as [`crate::fleet::budget::restoring_lots`] does
    /// (workers with restores left to request; in the what-if of the first budget, tasks
    /// starting with restores to request too) and writes the count to the budget.
    fn count_restoring(&mut self) {
        let archive = self.job.worker.archive;
        let starting_counted = self.job.budget == Budget::WhatIfStartingCounted;
        let n = self
            .active
            .iter()
            .map(|&r| &self.runs[r])
            .filter(|r| match r.phase {
                Phase::Starting => starting_counted && self.lots[r.lot].to_request(archive) > 0.0,
                Phase::Requesting { .. } => true,
                _ => false,
            })
            .count();
        self.restoring_seen = u32::try_from(n).unwrap_or(u32::MAX);
    }

    /// A pass over the lot's waiting keys: HEAD each, COPY those whose restore completed.
    fn copy_pass(&mut self, run: usize) {
        let now = self.now();
        let lot = &self.lots[self.runs[run].lot];
        let archive = self.job.worker.archive;
        let ready = lot.ready(archive, now);
        let waiting = lot.keys - lot.copied;
        let copying = 1 + self
            .active
            .iter()
            .filter(|&&r| matches!(self.runs[r].phase, Phase::Copying { .. }))
            .count();
        let rate = self.model.fleet_copy_rate() / copying as f64;
        let secs = self
            .job
            .worker
            .copy_pass_secs(self.model, waiting, ready, rate);
        self.t.s3_heads += waiting.round() as u64;
        self.t.ddb_writes += (secs / CHECKPOINT_SECS).ceil() as u64;
        let r = &mut self.runs[run];
        r.phase = Phase::Copying { ready, since: now };
        r.generation += 1;
        let generation = r.generation;
        self.clock
            .at(now + secs, Event::PassEnd { run, generation });
    }

    fn pass_end(&mut self, run: usize) {
        let now = self.now();
        let lot = self.runs[run].lot;
        match self.runs[run].phase {
            Phase::Requesting { since, left, .. } => {
                self.requested(run, since, left);
                self.did_work[run] = true;
                self.runs[run].phase = Phase::Sleeping;
                self.reshare();
            }
            Phase::Copying { ready, since } => self.copied(run, ready, since),
            _ => return,
        }
        if self.lots[lot].finished() {
            self.exit(run, LotState::Succeeded, None);
            return;
        }
        match self.job.worker.after_pass(self.runs[run].started, now) {
            Ok(at) => {
                self.runs[run].phase = Phase::Sleeping;
                self.clock.at(at, Event::Poll { run });
            }
            Err(next) => {
                // the worker's next check never outlives a copy made now (`worker/src/passes.rs`)
                let latest = latest_recheck(now as i64, self.job.restore_days) as f64;
                self.exit(run, LotState::Waiting, Some(next.min(latest)));
            }
        }
    }

    /// A copy pass begun at `since` copied `ready` keys, the restores completed since the last
    /// pass began and by `since`: counted, and checked against their expiry, which S3 dates
    /// from the restore request (taken as request + `--restore-days`, without S3's rounding up
    /// to midnight: the model's copies expire no later than S3's).
    fn copied(&mut self, run: usize, ready: f64, since: f64) {
        let now = self.now();
        let lot = &mut self.lots[self.runs[run].lot];
        if ready > EPSILON {
            let expired_before = now - f64::from(self.job.restore_days) * 86400.0;
            let from = lot.copied_through.unwrap_or(f64::NEG_INFINITY);
            let expired =
                lot.restores
                    .requested_before_completed_between(expired_before, from, since);
            self.t.expired_uncopied += expired.min(ready);
            self.first_copy.get_or_insert(now);
        }
        if ready >= 1.0 {
            self.did_work[run] = true;
        }
        lot.copied += ready;
        lot.copied_through = Some(since);
        if lot.copied > lot.keys + EPSILON {
            self.t.copied_twice += lot.copied - lot.keys;
        }
        self.t.copied += ready;
        self.runs[run].phase = Phase::Sleeping;
    }

    /// The worker checkpoints its lot as `state` and its task stops.
    fn exit(&mut self, run: usize, state: LotState, next_check: Option<f64>) {
        let now = self.now();
        let r = &mut self.runs[run];
        r.phase = Phase::Done;
        self.active.remove(&run);
        self.task_secs += self.model.billed_secs(now - r.launched);
        let lot = r.lot;
        self.lots[lot].run = None;
        let item = &mut self.items[lot];
        item.state = state;
        item.next_check_at = next_check.map(|t| t.ceil() as i64);
        if let Some(at) = item.next_check_at {
            self.waiting.insert((at, lot as u32));
        }
        self.live -= 1;
        self.live_lots.remove(&(lot as u32));
        self.t.ddb_writes += 1;
        if !self.did_work[run] {
            self.t.idle_runs += 1;
        }
        if state == LotState::Succeeded {
            self.done_at = now;
            self.finished_lots += 1;
        }
        self.reshare();
    }

    fn finish(mut self) -> Timeline {
        let job = self.job;
        let t = &mut self.t;
        t.s3_restores = self.restores_sent.round() as u64;
        t.s3_heads += t.s3_restores;
        t.s3_copies = t.copied.round() as u64;
        t.restores_requested_h = self.requested_at / 3600.0;
        t.restore_utilization = if self.requested_at > 0.0 {
            t.s3_restores as f64 / self.requested_at / self.model.account_restore_rate
        } else {
            0.0
        };
        t.first_copy_h = self.first_copy.unwrap_or(0.0) / 3600.0;
        t.done_h = self.done_at / 3600.0;
        t.task_hours = self.task_secs / 3600.0;
        t.max_launches_per_lot = self.lot_launches.iter().copied().max().unwrap_or(0);
        t.fargate_usd = t.task_hours
            * self
                .model
                .task_hour_price(job.task_vcpu, job.task_gb, job.spot);
        self.t
    }
}

/// A PENDING lot item as `launch` records it (the model keeps the keys' progress itself).
fn pending_item(lot: u32) -> LotItem {
    LotItem::pending(lot, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use thaw_common::storage::RestoreTier;

    fn small(archive: Archive, tier: RestoreTier, max_tasks: u32) -> SimJob {
        SimJob {
            keys: 1200,
            lot_size: 100,
            restore_rate: 50.0,
            restore_days: 3,
            max_tasks,
            budget: Budget::Shared,
            paced: true,
            worker: WorkerModel {
                archive,
                tier,
                concurrency: 64.0,
                max_wait: 600.0,
                poll_interval: None,
                object_bytes: 1e6,
            },
            follow_interval: 30.0,
            max_attempts: 3,
            task_vcpu: 1.0,
            task_gb: 2.0,
            spot: false,
            ready_fraction: Some(crate::readiness::DEFAULT_READY_FRACTION),
        }
    }

    /// The invariants of any finished job: the window and the restore rate held, every key
    /// copied exactly once, none after its restored copy expired.
    fn check(job: &SimJob, t: &Timeline) {
        let n = u64::from(job.max_tasks);
        assert!(t.max_live <= n, "{} live in a window of {n}", t.max_live);
        // S3 serves no more than the account's rate, whatever the shares sum to
        assert!(
            t.max_sent <= AwsModel::default().account_restore_rate + 1e-6,
            "{t:?}"
        );
        // the shares themselves: the job's rate, plus at most a full share for each worker that
        // started since the last look (at most the window)
        assert!(
            t.max_shares <= job.restore_rate * f64::from(job.max_tasks.max(1)) + 1e-6,
            "{t:?}"
        );
        assert_eq!(t.expired_uncopied, 0.0, "{t:?}");
        assert_eq!(t.copied_twice, 0.0, "{t:?}");
        assert!((t.copied - job.keys as f64).abs() < 1e-6, "{t:?}");
        assert_eq!(t.s3_copies, job.keys);
        assert!(t.task_hours > 0.0 && t.done_h >= t.first_copy_h);
    }

    #[test]
    fn a_small_job_keeps_its_window_budget_and_restores() {
        for archive in [Archive::Glacier, Archive::Deep, Archive::None] {
            for tier in [
                RestoreTier::Bulk,
                RestoreTier::Standard,
                RestoreTier::Expedited,
            ] {
                for (window, budget) in [
                    (3, Budget::Shared),
                    (12, Budget::Shared),
                    (2, Budget::WhatIfStartingCounted),
                    (1, Budget::WhatIfFixed),
                    (12, Budget::WhatIfFixed),
                ] {
                    let job = SimJob {
                        budget,
                        ..small(archive, tier, window)
                    };
                    let t = simulate(&job, &AwsModel::default()).expect("simulated");
                    check(&job, &t);
                    let restores = if archive == Archive::None { 0 } else { 1200 };
                    assert_eq!(t.s3_restores, restores, "{archive:?} {tier:?}");
                    assert_eq!(t.lots, 12);
                }
            }
        }
    }

    #[test]
    fn the_task_quota_refuses_launches_past_it() {
        let job = small(Archive::Glacier, RestoreTier::Bulk, 12);
        let model = AwsModel {
            max_running_tasks: 4,
            ..AwsModel::default()
        };
        let t = simulate(&job, &model).expect("simulated");
        check(&job, &t);
        assert!(t.peak_tasks <= 4 && t.refused_launches > 0, "{t:?}");
    }

    #[test]
    fn a_job_that_cannot_finish_is_an_error() {
        let job = small(Archive::Glacier, RestoreTier::Bulk, 0);
        let e = simulate(&job, &AwsModel::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not done after"), "{e}");
    }

    /// 1M GLACIER Bulk keys in lots of 5,000 at the account's rate.
    fn million(budget: Budget, paced: bool, window: u32) -> SimJob {
        SimJob {
            keys: 1_000_000,
            lot_size: 5000,
            restore_rate: 1000.0,
            budget,
            paced,
            ..small(Archive::Glacier, RestoreTier::Bulk, window)
        }
    }

    #[test]
    fn lots_paced_at_the_restore_rate_keep_it_busy() {
        let m = AwsModel::default();
        let paced = simulate(&million(Budget::Shared, true, 45), &m).expect("paced");
        let unpaced = simulate(&million(Budget::Shared, false, 45), &m).expect("unpaced");
        check(&million(Budget::Shared, true, 45), &paced);
        assert!(paced.restore_utilization > 0.9, "{paced:?}");
        assert!(
            unpaced.restore_utilization < paced.restore_utilization,
            "{unpaced:?}"
        );
    }

    #[test]
    fn the_first_look_at_the_end_of_the_restore_time_copies_each_lot_in_one_run() {
        let m = AwsModel::default();
        let job = million(Budget::Shared, true, 45);
        let t = simulate(&job, &m).expect("12 h");
        assert_eq!((t.lots, t.launches), (200, 400), "{t:?}");
        // looked at after 5 h, before most restores are done: without follow's readiness look
        // each early look starts a task for little
        let mut early = job.clone();
        early.worker.poll_interval = Some(5 * 3600);
        early.ready_fraction = None;
        let e = simulate(&early, &m).expect("5 h");
        assert!(e.launches > 600, "{e:?}");
        assert!(e.task_hours > t.task_hours);
        // with it the early looks defer the lots, and each is still launched once more
        early.ready_fraction = job.ready_fraction;
        let looked = simulate(&early, &m).expect("5 h, looked at");
        check(&early, &looked);
        assert_eq!(
            (looked.launches, looked.max_launches_per_lot),
            (400, 2),
            "{looked:?}"
        );
        assert!(looked.deferred_looks > 0, "{looked:?}");
    }

    /// `--restore-days 1`, restores of `archive` at Bulk, copied by `follow` with its
    /// readiness look.
    fn one_day(archive: Archive, keys: u64) -> SimJob {
        SimJob {
            keys,
            lot_size: 5000,
            restore_rate: 1000.0,
            restore_days: 1,
            ..small(archive, RestoreTier::Bulk, 45)
        }
    }

    #[test]
    fn the_shortest_safe_days_expire_nowhere_and_fewer_do() {
        let m = AwsModel::default();
        // S3 dates the expiry from the request: GLACIER Bulk (5-12 h) at 1 day and DEEP_ARCHIVE
        // Bulk (24-48 h) at 3 days cover the slowest restore + the 12 h margin: each lot runs
        // twice, one run requesting its restores, one copying them, and none expires
        for (archive, days) in [(Archive::Glacier, 1), (Archive::Deep, 3)] {
            let job = SimJob {
                restore_days: days,
                ..one_day(archive, 1_000_000)
            };
            let t = simulate(&job, &m).expect("simulated");
            // nothing expires uncopied, every key copied once (check)
            check(&job, &t);
            assert_eq!(t.max_launches_per_lot, 2, "{archive:?} {t:?}");
            assert_eq!(t.launches, 2 * t.lots, "{archive:?} {t:?}");
            assert_eq!(t.idle_runs, 0, "{archive:?} {t:?}");
        }
        // DEEP_ARCHIVE Bulk at 1 day: a restore takes 24 h or more, so request + 1 day is gone
        // by the time it completes (S3's rounding to midnight keeps some for hours): the check
        // counts every key expired
        let job = one_day(Archive::Deep, 100_000);
        let t = simulate(&job, &m).expect("simulated");
        assert!(t.expired_uncopied > 0.99 * 100_000.0, "{t:?}");
    }

    #[test]
    fn restores_finishing_within_one_look_launch_each_lot_once_more() {
        // restores done 1-2 h after their request, polled at 1 h: the first look after them
        // finds most done; the lot runs once to request and once to copy
        let m = AwsModel {
            restore_window: Some((3600.0, 7200.0)),
            ..AwsModel::default()
        };
        let mut job = one_day(Archive::Glacier, 100_000);
        job.worker.poll_interval = Some(3600);
        let t = simulate(&job, &m).expect("simulated");
        check(&job, &t);
        assert_eq!((t.launches, t.max_launches_per_lot), (40, 2), "{t:?}");
        assert!(t.deferred_looks > 0, "{t:?}");
    }

    #[test]
    fn a_lot_is_launched_before_its_first_copies_expire_even_if_few_are_done() {
        // restores spread over 2-36 h with copies kept 2 days (36 h + the 12 h margin), and a
        // lot launched only when every restore is done: its first copies expire 48 h after
        // their request, so the look launches it at 36 h after its first request, before the
        // last restores (asked later) are done, and a later run copies the rest
        let m = AwsModel {
            restore_window: Some((2.0 * 3600.0, 36.0 * 3600.0)),
            ..AwsModel::default()
        };
        let job = SimJob {
            restore_days: 2,
            ready_fraction: Some(1.0),
            ..one_day(Archive::Glacier, 100_000)
        };
        let t = simulate(&job, &m).expect("simulated");
        check(&job, &t);
        assert!(t.max_launches_per_lot > 2, "{t:?}");
    }
}
