//! Pacing of the worker's S3 requests.
//!
//! [`RateLimiter`]: restore requests at the worker's configured share of the account's rate (AWS
//! allows about 1,000 RestoreObject requests per second per account and Region, shared by every
//! worker). [`Pacing`]: adaptive pacing (AIMD) of HEAD/GET, COPY/PUT and RESTORE requests, one
//! [`Aimd`] each: unpaced until S3 pushes back (refuses a third of a second's requests with
//! `503 SlowDown`), then paced at a little under the rate S3 was serving (cut by [`DECREASE`]
//! at most once a second), and raised again by about 5% a second while it does not. The pacer hears every attempt
//! (the SDK's own retries included) through [`PacingInterceptor`], installed on the worker's S3
//! clients, so it slows down on the first SlowDown rather than after the SDK gave up.
//!
//! Why our own AIMD rather than the SDK's adaptive retry mode: the SDK keeps one client rate
//! limiter per retry partition, so a SlowDown on COPY would also slow the HEADs (S3 limits them
//! separately: 3,500 PUT/COPY and 5,500 GET/HEAD per second per prefix), and its CUBIC limiter
//! starts from the rate it measured over its own attempts, which our key-level retries skew.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use tokio::time::Instant;

/// Spaces calls evenly at `rate` per second (no bursts). The rate can change while calls wait
/// (the worker's share of the restore budget, see [`crate::budget`]): slots are not booked
/// ahead, a waiting call takes the next free slot at the rate of that moment.
#[derive(Debug)]
pub struct RateLimiter {
    slots: std::sync::Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    interval: Duration,
    next: Instant,
}

fn interval_of(rate: f64) -> Duration {
    if rate.is_finite() && rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::ZERO
    }
}

impl RateLimiter {
    /// A limiter for `rate` calls per second; a rate of 0 or less means unlimited.
    pub fn new(rate: f64) -> Self {
        Self {
            slots: std::sync::Mutex::new(Slots {
                interval: interval_of(rate),
                next: Instant::now(),
            }),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A poisoned lock only means a task panicked mid-update of plain numbers.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rate now, calls per second (0: unlimited).
    pub fn rate(&self) -> f64 {
        let interval = self.slots().interval;
        if interval.is_zero() {
            0.0
        } else {
            1.0 / interval.as_secs_f64()
        }
    }

    /// Changes the rate (a positive, finite one; anything else is ignored): the next free slot
    /// is one new interval after the last call. True when it changed.
    pub fn set_rate(&self, rate: f64) -> bool {
        if !(rate.is_finite() && rate > 0.0) {
            return false;
        }
        let interval = interval_of(rate);
        let mut slots = self.slots();
        if slots.interval == interval {
            return false;
        }
        let last = slots.next.checked_sub(slots.interval);
        slots.interval = interval;
        if let Some(last) = last {
            slots.next = last + interval;
        }
        true
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut slots = self.slots();
                if slots.interval.is_zero() {
                    return;
                }
                let now = Instant::now();
                if slots.next <= now {
                    slots.next = now + slots.interval;
                    return;
                }
                slots.next - now
            };
            tokio::time::sleep(wait.min(MAX_NAP)).await;
        }
    }
}

/// How much the pace drops on a SlowDown: to this share of the rate S3 was serving.
pub const DECREASE: f64 = 0.9;
/// The slowest pace: one request every 2 seconds.
pub const MIN_RATE: f64 = 0.5;
/// The measuring window (and the shortest time between two decreases or two increases).
const WINDOW: f64 = 1.0;
/// The longest a waiting request sleeps before it looks at the pace again.
const MAX_NAP: Duration = Duration::from_millis(100);

/// Additive-increase, multiplicative-decrease pace of one kind of request. Pure: times are
/// seconds on any monotonic clock, passed in.
///
/// S3's SlowDown is the answer to a rate: past it, the share of requests refused grows with the
/// pace. A share that does not (a 503 now and then, whatever the pace) says nothing about the
/// rate, and cutting on it would spiral the pace down to nothing. So the pace is cut only in a
/// window where S3 refused at least [`MIN_REFUSED`] requests and more than a third of them.
#[derive(Debug, Clone)]
pub struct Aimd {
    /// Requests per second; `None`: unpaced (S3 never pushed back hard yet).
    rate: Option<f64>,
    /// Successes of the last two windows (times), the measure of what S3 serves.
    successes: VecDeque<f64>,
    /// When the rate last changed.
    changed_at: f64,
    /// The current window: when it began, its answers, and its SlowDowns.
    window: (f64, u32, u32),
    /// SlowDowns heard (for the summary).
    pub throttles: u64,
    /// When the first answer was heard: before two windows passed, what S3 served is measured
    /// over the time since (not over two windows, which would halve it at the start).
    first: Option<f64>,
}

/// SlowDowns a window must hold before the pace is cut.
pub const MIN_REFUSED: u32 = 3;

impl Default for Aimd {
    fn default() -> Self {
        Self {
            rate: None,
            successes: VecDeque::new(),
            changed_at: f64::NEG_INFINITY,
            window: (0.0, 0, 0),
            throttles: 0,
            first: None,
        }
    }
}

impl Aimd {
    /// The current pace, requests per second (`None`: unpaced).
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    fn served(&mut self, now: f64) -> f64 {
        while self
            .successes
            .front()
            .is_some_and(|t| *t < now - 2.0 * WINDOW)
        {
            self.successes.pop_front();
        }
        let observed = now - self.first.unwrap_or(now);
        self.successes.len() as f64 / observed.clamp(WINDOW / 4.0, 2.0 * WINDOW)
    }

    /// Counts an answer in the current window (a new one after [`WINDOW`]).
    fn count(&mut self, now: f64, refused: bool) {
        self.first.get_or_insert(now);
        if now - self.window.0 >= WINDOW {
            self.window = (now, 0, 0);
        }
        self.window.1 += 1;
        self.window.2 += u32::from(refused);
    }

    fn pushed_back(&self) -> bool {
        let (_, answers, refused) = self.window;
        refused >= MIN_REFUSED && refused * 3 > answers
    }

    /// A request succeeded at `now`: measured, and the pace goes up by 5% (at least one request
    /// per second) once per window while S3 does not push back.
    pub fn success(&mut self, now: f64) {
        self.count(now, false);
        self.successes.push_back(now);
        self.served(now);
        if let Some(r) = self.rate {
            if now - self.changed_at >= WINDOW && !self.pushed_back() {
                self.rate = Some(r + (r * 0.05).max(1.0));
                self.changed_at = now;
            }
        }
    }

    /// S3 answered SlowDown at `now`. When it pushes back (see [`Aimd`]), the pace drops to
    /// [`DECREASE`] times what S3 served (the first time) or times itself (later), once per
    /// window (the answers to requests sent before a cut say nothing of the new pace).
    pub fn throttled(&mut self, now: f64) {
        self.throttles += 1;
        self.count(now, true);
        if now - self.changed_at < WINDOW || !self.pushed_back() {
            return;
        }
        // Not paced yet and not a window of answers heard: S3's refusals of a first burst come
        // back before its successes (a 503 is quick, a copy is not), so what it serves is not
        // known yet; a cut now would start from nothing.
        if self.rate.is_none() && now - self.first.unwrap_or(now) < WINDOW {
            return;
        }
        // The first cut starts from what S3 served; later ones from the pace itself: once paced,
        // what S3 "served" is bounded by what this worker sent (few requests while the SDK backs
        // off its retries), and cutting to it spirals the pace down to nothing.
        let served = self.served(now);
        let base = match self.rate {
            Some(r) => r,
            None if served > 0.0 => served,
            None => MIN_RATE / DECREASE,
        };
        self.rate = Some((base * DECREASE).max(MIN_RATE));
        self.changed_at = now;
    }
}

/// The kinds of S3 request S3 limits separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// GET and HEAD (5,500/s per prefix).
    Head,
    /// PUT, COPY, POST, DELETE (3,500/s per prefix).
    Copy,
    /// RestoreObject (1,000/s per account and Region).
    Restore,
}

impl Kind {
    /// The kind of an S3 request, from its method and URI.
    pub fn of(method: &str, uri: &str) -> Self {
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
        if method == "POST"
            && query
                .split('&')
                .any(|p| p == "restore" || p.starts_with("restore="))
        {
            Kind::Restore
        } else if matches!(method, "GET" | "HEAD") {
            Kind::Head
        } else {
            Kind::Copy
        }
    }
}

/// One paced kind: its AIMD and the next free slot.
#[derive(Debug)]
struct Lane {
    aimd: Aimd,
    next: Instant,
}

/// The worker's adaptive pacing of HEAD, COPY and RESTORE requests.
#[derive(Debug)]
pub struct Pacing {
    epoch: Instant,
    lanes: [std::sync::Mutex<Lane>; 3],
}

impl Default for Pacing {
    fn default() -> Self {
        let lane = || {
            std::sync::Mutex::new(Lane {
                aimd: Aimd::default(),
                next: Instant::now(),
            })
        };
        Self {
            epoch: Instant::now(),
            lanes: [lane(), lane(), lane()],
        }
    }
}

impl Pacing {
    fn lane(&self, kind: Kind) -> std::sync::MutexGuard<'_, Lane> {
        let i = kind as usize;
        // A poisoned lock only means a task panicked mid-update of plain numbers.
        self.lanes[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// Waits for a slot for one request of `kind` at its current pace. Slots are not booked
    /// ahead: a waiting request takes the next free slot when it comes, at the pace of that
    /// moment, so a pace raised meanwhile applies at once (64 keys booked at a low pace would
    /// otherwise keep to it for as long as their slots last).
    pub async fn acquire(&self, kind: Kind) {
        loop {
            let wait = {
                let mut lane = self.lane(kind);
                let Some(rate) = lane.aimd.rate() else {
                    return;
                };
                let now = Instant::now();
                let interval = Duration::from_secs_f64(1.0 / rate);
                if lane.next <= now {
                    // no slots saved up while nobody waited: the next one an interval from now
                    lane.next = now + interval;
                    return;
                }
                lane.next - now
            };
            tokio::time::sleep(wait.min(MAX_NAP)).await;
        }
    }

    /// Hears one attempt's answer: a success, a SlowDown, or neither (other errors).
    pub fn heard(&self, kind: Kind, status: u16) {
        let now = self.now();
        let mut lane = self.lane(kind);
        if (200..300).contains(&status) {
            lane.aimd.success(now);
        } else if status == 503 {
            lane.aimd.throttled(now);
        }
    }

    /// SlowDowns heard per kind, and the current paces (for the summary line).
    pub fn to_json(&self) -> serde_json::Value {
        let one = |k: Kind| {
            let lane = self.lane(k);
            serde_json::json!({"slow_downs": lane.aimd.throttles, "rate": lane.aimd.rate().map(|r| (r * 10.0).round() / 10.0)})
        };
        serde_json::json!({"head": one(Kind::Head), "copy": one(Kind::Copy), "restore": one(Kind::Restore)})
    }

    /// `client` with this pacing hearing every attempt it makes.
    pub fn instrument(self: &Arc<Self>, client: aws_sdk_s3::Client) -> aws_sdk_s3::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(PacingInterceptor(self.clone()))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// Feeds every S3 attempt's HTTP status to the [`Pacing`].
#[derive(Debug)]
pub struct PacingInterceptor(Arc<Pacing>);

impl Intercept for PacingInterceptor {
    fn name(&self) -> &'static str {
        "thaw pacing"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The request is gone (sent) by the time the answer is read: note its kind now.
        let req = context.request();
        cfg.interceptor_state()
            .store_put(KindOfAttempt(Kind::of(req.method(), req.uri())));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(kind), Some(resp)) = (cfg.load::<KindOfAttempt>(), context.response()) {
            self.0.heard(kind.0, resp.status().as_u16());
        }
        Ok(())
    }
}

/// The kind of the attempt in flight, kept in the operation's config bag.
#[derive(Debug, Clone)]
struct KindOfAttempt(Kind);

impl Storable for KindOfAttempt {
    type Storer = StoreReplace<Self>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_calls() {
        let l = RateLimiter::new(10.0);
        let t0 = Instant::now();
        for _ in 0..11 {
            l.acquire().await;
        }
        // 11 calls at 10/s: the last one starts 1 s after the first
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
    }

    #[test]
    fn aimd_is_unpaced_until_s3_pushes_back_then_just_under_what_s3_served() {
        let mut a = Aimd::default();
        // 100 successes over 2 s: S3 served 50/s.
        for i in 0..100 {
            a.success(f64::from(i) * 0.02);
        }
        assert_eq!(a.rate(), None);
        // Two SlowDowns in a window are not yet a push back; the third (of 3 answers) is.
        a.throttled(2.0);
        a.throttled(2.01);
        assert_eq!(a.rate(), None);
        a.throttled(2.02);
        let cut = a.rate().expect("paced");
        assert!((cut - 0.9 * 49.0).abs() < 1e-9, "{cut}");
        // More SlowDowns in the same second: the answers to requests sent before the cut.
        a.throttled(2.1);
        a.throttled(2.5);
        assert_eq!(a.rate(), Some(cut));
        assert_eq!(a.throttles, 5);
        // A second later, at most what was served, times DECREASE.
        for t in [3.2, 3.21, 3.22] {
            a.throttled(t);
        }
        assert!(a.rate().is_some_and(|r| r < cut), "{:?}", a.rate());
    }

    #[test]
    fn what_s3_served_at_the_start_is_measured_over_the_time_observed() {
        // 30 successes in the first half second, then (a second in) S3 pushes back: it served
        // about 30/s over the second observed, not the 15/s a two-second window would say.
        let mut a = Aimd::default();
        for i in 0..30 {
            a.success(f64::from(i) / 60.0);
        }
        for t in [1.0, 1.01, 1.02] {
            a.throttled(t);
        }
        let cut = a.rate().expect("paced");
        assert!(cut > 0.9 * 25.0, "{cut}");
    }

    #[test]
    fn the_refusals_of_a_first_burst_wait_for_its_successes() {
        // 34 SlowDowns answered before any of the 30 successes of the same burst
        let mut a = Aimd::default();
        for i in 0..34 {
            a.throttled(0.2 + f64::from(i) * 0.001);
        }
        assert_eq!(
            a.rate(),
            None,
            "nothing measured yet: no cut to the slowest pace"
        );
        for i in 0..30 {
            a.success(0.3 + f64::from(i) * 0.01);
        }
        for t in [1.3, 1.31, 1.32] {
            a.throttled(t);
        }
        let cut = a.rate().expect("paced after a window");
        assert!(cut > 0.9 * 20.0, "from what S3 served: {cut}");
    }

    #[test]
    fn once_paced_a_cut_starts_from_the_pace_not_from_a_trickle_of_successes() {
        let mut a = Aimd::default();
        for i in 0..60 {
            a.success(f64::from(i) / 30.0);
        }
        for t in [2.0, 2.01, 2.02] {
            a.throttled(t);
        }
        let first = a.rate().expect("paced");
        // the SDK backs off its retries: one success in the next two seconds, SlowDowns still
        // coming for requests sent before the cut
        a.success(3.5);
        let before = a.rate().expect("paced");
        assert!(before >= first);
        for t in [4.6, 4.61, 4.62] {
            a.throttled(t);
        }
        let second = a.rate().expect("paced");
        assert!(
            (second - before * DECREASE).abs() < 1e-9,
            "{before} -> {second}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pace_raised_while_requests_wait_applies_at_once() {
        let pacing = Arc::new(Pacing::default());
        pacing.lane(Kind::Copy).aimd.rate = Some(1.0);
        let t0 = Instant::now();
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let p = pacing.clone();
                tokio::spawn(async move { p.acquire(Kind::Copy).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // At 1/s, 20 waiting requests would take 19 s; raised to 100/s they finish at once.
        pacing.lane(Kind::Copy).aimd.rate = Some(100.0);
        for w in waiters {
            w.await.expect("waiter");
        }
        assert!(
            Instant::now() - t0 < Duration::from_secs(3),
            "{:?}",
            Instant::now() - t0
        );
    }

    #[test]
    fn a_503_now_and_then_is_no_push_back() {
        // One answer in five refused whatever the pace (not S3's SlowDown): never paced.
        let mut a = Aimd::default();
        for i in 0..1000 {
            let t = f64::from(i) * 0.01;
            if i % 5 == 4 {
                a.throttled(t);
            } else {
                a.success(t);
            }
        }
        assert_eq!(a.rate(), None);
        assert_eq!(a.throttles, 200);
    }

    #[test]
    fn aimd_climbs_back_while_no_slow_down_comes_and_never_stops() {
        let mut a = Aimd::default();
        for t in [0.0, 1.0, 1.1, 1.2] {
            a.throttled(t); // nothing served in a whole window: the slowest pace
        }
        assert_eq!(a.rate(), Some(MIN_RATE));
        let mut t = 1.5;
        for _ in 0..10 {
            t += 1.0;
            a.success(t);
        }
        // +1/s per second (5% when larger)
        assert_eq!(a.rate(), Some(MIN_RATE + 10.0));
        for _ in 0..100 {
            t += 1.0;
            a.success(t);
        }
        assert!(a.rate().is_some_and(|r| r > 100.0), "{:?}", a.rate());
    }

    #[test]
    fn requests_are_sorted_as_s3_limits_them() {
        assert_eq!(Kind::of("HEAD", "http://h/b/k"), Kind::Head);
        assert_eq!(Kind::of("GET", "http://h/b/k?tagging"), Kind::Head);
        assert_eq!(Kind::of("PUT", "http://h/b/k?x-id=CopyObject"), Kind::Copy);
        assert_eq!(Kind::of("POST", "http://h/b/k?uploadId=1"), Kind::Copy);
        assert_eq!(Kind::of("DELETE", "http://h/b/k"), Kind::Copy);
        assert_eq!(Kind::of("POST", "http://h/b/k?restore"), Kind::Restore);
        assert_eq!(
            Kind::of("POST", "http://h/b/k?restore&x-id=RestoreObject"),
            Kind::Restore
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spaces_requests_only_after_a_slow_down() {
        let p = Pacing::default();
        let t0 = Instant::now();
        for _ in 0..50 {
            p.acquire(Kind::Copy).await;
        }
        assert_eq!(Instant::now(), t0, "unpaced before any SlowDown");
        p.heard(Kind::Copy, 503);
        tokio::time::sleep(Duration::from_secs(1)).await; // a whole window heard, nothing served
        for _ in 0..3 {
            p.heard(Kind::Copy, 503);
        }
        assert_eq!(p.lane(Kind::Copy).aimd.rate(), Some(MIN_RATE));
        p.heard(Kind::Head, 200);
        assert_eq!(
            p.lane(Kind::Head).aimd.rate(),
            None,
            "kinds are paced apart"
        );
        p.heard(Kind::Copy, 404); // neither success nor SlowDown
        assert_eq!(p.lane(Kind::Copy).aimd.throttles, 4);
        let t1 = Instant::now();
        for _ in 0..3 {
            p.acquire(Kind::Copy).await;
        }
        // 3 requests at 0.5/s: the third starts 4 s after the first
        assert_eq!(Instant::now() - t1, Duration::from_secs(4));
        assert_eq!(p.to_json()["copy"]["slow_downs"], 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_rate_applies_to_calls_already_waiting() {
        let l = Arc::new(RateLimiter::new(0.1)); // one call every 10 s
        l.acquire().await;
        let t0 = Instant::now();
        let waiting = tokio::spawn({
            let l = l.clone();
            async move {
                for _ in 0..4 {
                    l.acquire().await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(l.set_rate(10.0));
        assert!(!l.set_rate(10.0), "same rate: no change");
        assert!(!l.set_rate(0.0), "a zero rate is ignored, not unlimited");
        assert!((l.rate() - 10.0).abs() < 1e-9);
        waiting.await.expect("joined");
        // 4 calls at 10/s after one at 0.1/s: the first 0.1 s after the last call, not 10 s.
        let took = Instant::now() - t0;
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_millis(600), "{took:?}");
        // Slower again: the next call waits the new interval.
        assert!(l.set_rate(1.0));
        let t1 = Instant::now();
        l.acquire().await;
        l.acquire().await;
        assert!(Instant::now() - t1 >= Duration::from_millis(900));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited() {
        let l = RateLimiter::new(0.0);
        let t0 = Instant::now();
        for _ in 0..100 {
            l.acquire().await;
        }
        assert_eq!(Instant::now(), t0);
    }
}
