//! The quota engine: decides, for each request, which pool (provider, project, model) and
//! which key may be used *now*, and learns from every answer.
//!
//! Rules it enforces (see the contract's "Quota model"):
//! - configured (or learned) per-minute limits are paced so no 60 s window ever holds more
//!   than the limit; per-day counts are persisted per Pacific day;
//! - a per-minute 429 cools its pool for the server's `retryDelay`; a per-day 429 exhausts
//!   the pool until the next Pacific midnight, persisted; neither stacks on a 429 that
//!   answered a request sent before the pool was already cooling;
//! - keys share their project's pools, so a second key of an exhausted project is never
//!   tried; a 404 drops the model; a rejected key is disabled;
//! - a wait the server asks for beyond `max_wait` (or a run of 429s that say nothing)
//!   defers the pool until then instead of sleeping through it;
//! - consecutive 5xx/timeouts open the pool's circuit breaker: it pauses, then lets one
//!   probe through at growing intervals (up to minutes) until the server answers again;
//! - an account out of credit (billing) stops the whole provider.
//!
//! The state lives behind one std mutex, held only for in-memory decisions: the store is
//! read before it is taken (pools are loaded on first use) and written after it is
//! released. The day's count is still gated under the lock (checked and incremented in
//! one critical section), so concurrent acquires never exceed a daily limit; the store
//! only records it, before the permit is returned and the request sent.

use super::breaker::Tripped;
use super::keyring::KeyRing;
use super::pool::{Check, Pool, PoolId, RowWrite};
use crate::attempt::{Failure, QuotaScope, QuotaSignal};
use crate::clock::{Clock, describe, next_pacific_midnight, pacific_day};
use crate::config::{ApiKey, Limits, RetryPolicy};
use crate::store::{PoolRow, Store};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Backoff for 429s that say nothing: base and cap of the full-jitter exponential.
const BARE_429_BASE: Duration = Duration::from_secs(2);
const BARE_429_CAP: Duration = Duration::from_secs(120);

/// Leave to send one request.
#[derive(Debug, Clone)]
pub struct Permit {
    pub pool: PoolId,
    pub key: Option<ApiKey>,
    pub sent_at: Instant,
}

impl Permit {
    pub fn key_id(&self) -> &str {
        self.key.as_ref().map(|k| k.id.as_str()).unwrap_or("-")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Go(Permit),
    /// Nothing is ready; something may be at this instant (or when the state changes).
    Wait(Instant),
    /// Every pool these models could use is exhausted (or deferred) until then.
    Exhausted(Timestamp),
    /// No model or key is left at all.
    NoRoute(String),
    /// The provider as a whole will not answer in this run (billing): the reason.
    Stopped(String),
}

impl PartialEq for Permit {
    fn eq(&self, other: &Self) -> bool {
        self.pool == other.pool && self.key_id() == other.key_id() && self.sent_at == other.sent_at
    }
}

/// A pool's key in the engine: (project, model).
type PoolKey = (String, String);

/// The engine's wall clock (Pacific days, exhaustion times): the run's [`Clock`]. In
/// tests, a start moved on by tokio's paused time, so one `advance` moves pacing and the
/// Pacific day together.
#[derive(Debug, Clone, Copy)]
enum Wall {
    Run(Clock),
    #[cfg(test)]
    Tokio {
        start: Timestamp,
        origin: Instant,
    },
}

impl Wall {
    fn now(&self) -> Timestamp {
        match self {
            Wall::Run(clock) => clock.now(),
            #[cfg(test)]
            Wall::Tokio { start, origin } => *start + Instant::now().duration_since(*origin),
        }
    }
}

struct Inner {
    pools: HashMap<PoolKey, Pool>,
    keys: KeyRing,
    dropped: BTreeMap<String, String>,
    /// Why the provider stopped for this run (billing, an unreachable host), if it did.
    stopped: Option<String>,
    /// Connection failures in a row, across every pool: the host, not a pool, is down.
    unreachable_streak: u32,
}

impl Inner {
    /// Every (project, model) `models` could use, in the order `projects` gives.
    fn routes(&self, models: &[String], projects: &[String]) -> Vec<PoolKey> {
        let live = models.iter().filter(|m| !self.dropped.contains_key(*m));
        live.flat_map(|m| projects.iter().map(move |p| (p.clone(), m.clone()))).collect()
    }

    /// A pool `load_pools` brought in: pools are never removed, and the routes of a model
    /// list only shrink (keys get disabled, models dropped), so it is there.
    fn pool(&mut self, key: &PoolKey) -> &mut Pool {
        self.pools.get_mut(key).expect("load_pools loads a pool before it is used")
    }
}

/// What a decision leaves for the store, written once the lock is released.
#[derive(Default)]
struct Writes {
    rows: Vec<(RowWrite, &'static str)>,
    /// A request counted against its pool's day, to record before it is sent.
    count: Option<(PoolKey, Date)>,
}

/// The earliest a refused request could go, over the pools tried.
#[derive(Default)]
struct Earliest {
    wait: Option<Instant>,
    reset: Option<Timestamp>,
}

impl Earliest {
    fn add(&mut self, check: Check) {
        match check {
            Check::Ready => {}
            Check::WaitUntil(at) => self.wait = Some(self.wait.map_or(at, |w| w.min(at))),
            Check::ExhaustedUntil(at) => self.reset = Some(self.reset.map_or(at, |r| r.min(at))),
        }
    }

    /// A wait beats a reset: something may go within the run.
    fn decision(self) -> Decision {
        match (self.wait, self.reset) {
            (Some(at), _) => Decision::Wait(at),
            (None, Some(reset)) => Decision::Exhausted(reset),
            (None, None) => Decision::NoRoute("no usable pool".into()),
        }
    }
}

pub struct QuotaEngine {
    provider: String,
    store: Arc<Store>,
    wall: Wall,
    limits: BTreeMap<String, Limits>,
    policy: RetryPolicy,
    inner: Mutex<Inner>,
    /// The row version last written per pool. Held while writing rows (never with
    /// `inner`), so a snapshot that lost the race to the store does not overwrite a newer one.
    written: Mutex<HashMap<PoolKey, u64>>,
    /// Woken whenever the state changes in a way that may let a waiter go.
    pub changed: tokio::sync::Notify,
}

impl QuotaEngine {
    /// `keys` empty means a provider without keys (one pseudo-project named after it).
    pub fn new(
        provider: &str,
        keys: &[ApiKey],
        limits: BTreeMap<String, Limits>,
        store: Arc<Store>,
        clock: Clock,
    ) -> QuotaEngine {
        QuotaEngine {
            provider: provider.to_string(),
            store,
            wall: Wall::Run(clock),
            limits,
            policy: RetryPolicy::default(),
            inner: Mutex::new(Inner {
                pools: HashMap::new(),
                keys: KeyRing::new(provider, keys),
                dropped: BTreeMap::new(),
                stopped: None,
                unreachable_streak: 0,
            }),
            written: Mutex::new(HashMap::new()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The same engine under another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> QuotaEngine {
        self.policy = policy;
        self
    }

    /// The same engine with a wall clock that starts at `start` and follows tokio time.
    #[cfg(test)]
    fn on_tokio_time(mut self, start: Timestamp) -> QuotaEngine {
        self.wall = Wall::Tokio { start, origin: Instant::now() };
        self
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Why the provider stopped for this run, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.lock().stopped.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> Timestamp {
        self.wall.now()
    }

    /// Brings in, from the store, the pools `models` could use that are not in memory yet:
    /// read without the lock, inserted under it unless another caller was first.
    fn load_pools(&self, models: &[String]) {
        let missing: Vec<PoolKey> = {
            let inner = self.lock();
            let routes = inner.routes(models, &inner.keys.projects());
            routes.into_iter().filter(|k| !inner.pools.contains_key(k)).collect()
        };
        if missing.is_empty() {
            return;
        }
        let rows = self.store.pools().unwrap_or_default();
        let day = pacific_day(self.wall.now());
        let loaded: Vec<(PoolKey, Pool)> = missing
            .into_iter()
            .map(|(project, model)| {
                let row = rows
                    .iter()
                    .find(|r| r.provider == self.provider && r.project == project && r.model == model)
                    .cloned()
                    .unwrap_or_else(|| PoolRow {
                        provider: self.provider.clone(),
                        project: project.clone(),
                        model: model.clone(),
                        ..Default::default()
                    });
                let used = self.store.daily_requests(&self.provider, &project, &model, &day.to_string()).unwrap_or(0);
                let configured = self.limits.get(&model).copied().unwrap_or_default();
                ((project, model), Pool::new(configured, row, day, used))
            })
            .collect();
        let mut inner = self.lock();
        for (key, pool) in loaded {
            inner.pools.entry(key).or_insert(pool);
        }
    }

    /// Writes what a decision left, in order: the day's count (merged back, as the store
    /// may know of requests this engine did not make), then pool rows, newest per pool.
    fn persist(&self, writes: Writes) {
        if let Some((key, day)) = writes.count {
            let (project, model) = &key;
            // A failed count is not fatal: the in-memory count still gates this run.
            if let Ok(n) = self.store.add_daily_request(&self.provider, project, model, &day.to_string())
                && let Some(pool) = self.lock().pools.get_mut(&key)
            {
                pool.merge_count(day, n);
            }
        }
        if writes.rows.is_empty() {
            return;
        }
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        for (write, what) in writes.rows {
            let key = (write.row.project.clone(), write.row.model.clone());
            if written.get(&key).is_some_and(|&v| v >= write.version) {
                continue;
            }
            written.insert(key, write.version);
            if let Err(e) = self.store.save_pool(&write.row) {
                tracing::error!("cannot persist {what}: {e}");
            }
        }
    }

    /// Decides where the next request for a job whose models are `models` (in order of
    /// preference) may go. `tokens` is the request's estimated input.
    pub fn acquire(&self, models: &[String], tokens: u64) -> Decision {
        self.load_pools(models);
        let mut writes = Writes::default();
        let decision = self.decide(&mut self.lock(), models, tokens, &mut writes);
        self.persist(writes);
        decision
    }

    /// `acquire` under the lock: the first ready pool, taken (and counted) at once.
    fn decide(&self, inner: &mut Inner, models: &[String], tokens: u64, writes: &mut Writes) -> Decision {
        if let Some(why) = &inner.stopped {
            return Decision::Stopped(why.clone());
        }
        let projects = inner.keys.rotated_projects();
        if projects.is_empty() {
            return Decision::NoRoute("every API key was rejected".into());
        }
        let routes = inner.routes(models, &projects);
        if routes.is_empty() {
            return Decision::NoRoute(format!("no model left of {}", models.join(", ")));
        }
        let (now, wall) = (Instant::now(), self.wall.now());
        let mut earliest = Earliest::default();
        for key in routes {
            let pool = inner.pool(&key);
            pool.refresh(wall);
            let check = match pool.check(now, wall, tokens) {
                Check::Ready => match pool.take(now, tokens) {
                    Ok(day) => {
                        writes.count = Some((key.clone(), day));
                        return self.go(inner, key, now);
                    }
                    Err(at) => Check::WaitUntil(at),
                },
                Check::ExhaustedUntil(until) if pool.exhausted_until() != Some(until) => {
                    // The day's count reached its limit: say so in the store too.
                    writes.rows.push((pool.exhaust(until, None), "the exhaustion of a pool"));
                    Check::ExhaustedUntil(until)
                }
                other => other,
            };
            earliest.add(check);
        }
        earliest.decision()
    }

    fn go(&self, inner: &mut Inner, (project, model): PoolKey, now: Instant) -> Decision {
        let key = inner.keys.take_key(&project);
        Decision::Go(Permit { pool: PoolId { provider: self.provider.clone(), project, model }, key, sent_at: now })
    }

    /// Connection failures in a row (to any pool) after which the provider is taken as
    /// unreachable for this run: the run stops, and a later one resumes.
    const UNREACHABLE_AFTER: u32 = 4;

    /// Notes that the host could not be reached (`why` names the host and the cause). The
    /// first one is said once; enough of them in a row stop the provider for this run.
    pub fn unreachable(&self, why: &str) {
        let mut inner = self.lock();
        inner.unreachable_streak += 1;
        if inner.unreachable_streak == 1 {
            tracing::warn!("{why}; {}", crate::attempt::UNREACHABLE_HINT);
        }
        if inner.unreachable_streak >= Self::UNREACHABLE_AFTER && inner.stopped.is_none() {
            inner.stopped = Some(format!("{why}; {}", crate::attempt::UNREACHABLE_HINT));
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Learns from the answer to a permitted request.
    pub fn observe(&self, permit: &Permit, result: Result<(), &Failure>) {
        let mut writes = Writes::default();
        self.learn(&mut self.lock(), permit, result, &mut writes);
        self.persist(writes);
        self.changed.notify_waiters();
    }

    /// `observe` under the lock.
    fn learn(&self, inner: &mut Inner, permit: &Permit, result: Result<(), &Failure>, writes: &mut Writes) {
        let key = (permit.pool.project.clone(), permit.pool.model.clone());
        let trouble = matches!(result, Err(Failure::ServerError | Failure::Timeout | Failure::Connection));
        if !matches!(result, Err(Failure::Connection)) {
            inner.unreachable_streak = 0;
        }
        if !trouble && inner.pool(&key).breaker.answered() {
            tracing::info!(pool = %permit.pool, "the pool answers again: breaker closed");
        }
        match result {
            Ok(()) => inner.pool(&key).bare_429s = 0,
            Err(Failure::RateLimited(signal)) => {
                let pool = inner.pool(&key);
                if let Some(write) = pool.learn(signal) {
                    writes.rows.push((write, "a learned limit"));
                }
                self.rate_limited(pool, permit, signal, writes);
            }
            Err(Failure::Billing) if inner.stopped.is_none() => {
                let why = format!(
                    "billing: the {} account is out of credit (insufficient_quota); no model of this provider will answer until credit is added",
                    self.provider
                );
                tracing::error!("{why}");
                inner.stopped = Some(why);
            }
            Err(Failure::ServerError | Failure::Timeout | Failure::Connection) => {
                self.server_trouble(inner.pool(&key), permit);
            }
            Err(Failure::ModelNotFound) => {
                let model = &permit.pool.model;
                if inner.dropped.insert(model.clone(), "the server answered 404 for it".into()).is_none() {
                    tracing::warn!(model = %model, "model not found (404): dropped for this run");
                }
            }
            Err(Failure::KeyRejected) => {
                for project in inner.keys.disable(permit.key_id()) {
                    tracing::warn!(key = %permit.key_id(), project = %project, "key rejected: disabled for this run");
                }
            }
            Err(_) => {}
        }
    }

    fn server_trouble(&self, pool: &mut Pool, permit: &Permit) {
        match pool.breaker.failed(Instant::now(), self.policy.breaker_pause) {
            Tripped::ProbeFailed { pause } => {
                tracing::info!(pool = %permit.pool, pause_ms = pause.as_millis() as u64, "probe failed; pool stays paused");
            }
            Tripped::Opened { failures } => tracing::warn!(
                pool = %permit.pool,
                failures,
                "server trouble: pool paused, probing with one request at growing intervals"
            ),
            Tripped::No => {}
        }
    }

    /// A quota refusal: a daily wall exhausts the pool until Pacific midnight; a wait the
    /// run can sit out cools it; a wait beyond `max_wait`, or too many 429s that say
    /// nothing, defer it until a stated time.
    fn rate_limited(&self, pool: &mut Pool, permit: &Permit, signal: &QuotaSignal, writes: &mut Writes) {
        let wall = self.wall.now();
        if signal.scope == QuotaScope::PerDay {
            return self.daily_wall(pool, permit, signal, wall, writes);
        }
        let echo = pool.cooldown_set_at.is_some_and(|set| permit.sent_at < set);
        if echo {
            return;
        }
        let Some(delay) = self.minute_delay(pool, permit, signal, wall, writes) else { return };
        if delay > self.policy.max_wait {
            let until = wall + delay;
            writes.rows.push((pool.exhaust(until, signal.quota_id.clone()), "the exhaustion of a pool"));
            tracing::warn!(
                pool = %permit.pool,
                "the server asks to wait {}s, more than max_wait ({}s): pool deferred until {}",
                delay.as_secs(),
                self.policy.max_wait.as_secs(),
                describe(until)
            );
            return;
        }
        pool.cool(Instant::now(), delay);
        tracing::info!(pool = %permit.pool, delay_ms = delay.as_millis() as u64, "rate limited; pool cools down");
    }

    /// A per-day 429: the pool rests until the next Pacific midnight (once: an echo of a
    /// request sent before changes nothing).
    fn daily_wall(&self, pool: &mut Pool, permit: &Permit, signal: &QuotaSignal, wall: Timestamp, writes: &mut Writes) {
        if pool.exhausted_until().is_some_and(|u| u > wall) {
            return;
        }
        let until = next_pacific_midnight(wall);
        writes.rows.push((pool.exhaust(until, signal.quota_id.clone()), "the exhaustion of a pool"));
        let billing = if signal.quota_value == Some(0) {
            " (its limit is 0: this model has no free quota for this project; it needs billing enabled)"
        } else {
            ""
        };
        tracing::warn!(
            pool = %permit.pool,
            quota_id = signal.quota_id.as_deref().unwrap_or("-"),
            limit = signal.quota_value,
            "daily quota exhausted{billing}; this pool rests until {} — other keys of the project share it, so they are not tried",
            describe(until)
        );
    }

    /// The wait a per-minute or unexplained 429 asks for; `None` when it was one bare 429
    /// too many and the pool is deferred instead.
    fn minute_delay(
        &self,
        pool: &mut Pool,
        permit: &Permit,
        signal: &QuotaSignal,
        wall: Timestamp,
        writes: &mut Writes,
    ) -> Option<Duration> {
        match signal.retry_delay {
            Some(d) => Some(d),
            None if signal.scope == QuotaScope::Unknown => {
                pool.bare_429s += 1;
                if pool.bare_429s <= self.policy.bare_429_tries {
                    return Some(full_jitter(pool.bare_429s));
                }
                let until = wall + BARE_429_CAP;
                writes.rows.push((pool.exhaust(until, signal.quota_id.clone()), "the exhaustion of a pool"));
                tracing::warn!(
                    pool = %permit.pool,
                    "{} 429s in a row that name no quota and no wait; pool deferred until {}",
                    pool.bare_429s,
                    describe(until)
                );
                None
            }
            // A per-minute limit with no stated wait (DashScope's token limit): it clears
            // within the minute; a jittered backoff finds when.
            None => Some(full_jitter(2)),
        }
    }

    /// Drops a model before any request (ListModels did not list it).
    pub fn drop_model(&self, model: &str, reason: &str) {
        self.lock().dropped.insert(model.to_string(), reason.to_string());
    }

    pub fn disable_key(&self, key_id: &str) {
        self.lock().keys.disable(key_id);
    }

    pub fn dropped_models(&self) -> BTreeMap<String, String> {
        self.lock().dropped.clone()
    }

    /// Whether every pool `models` could use is known exhausted right now, without
    /// asking any server; `Some(reset)` then. Lets a rerun before the reset stop at once.
    pub fn all_exhausted(&self, models: &[String]) -> Option<Timestamp> {
        self.load_pools(models);
        let mut inner = self.lock();
        let wall = self.wall.now();
        let projects = inner.keys.projects();
        let mut earliest: Option<Timestamp> = None;
        for key in inner.routes(models, &projects) {
            let until = inner.pool(&key).exhausted_at(wall)?;
            earliest = Some(earliest.map_or(until, |e| e.min(until)));
        }
        earliest
    }

    /// The requests `models` can still take today, summed over every usable pool: `None`
    /// when some pool has no known daily limit (then the day is no wall). A pool exhausted
    /// for the day counts zero. What `auto` packing weighs the pending posts against.
    pub fn remaining_today(&self, models: &[String]) -> Option<u64> {
        self.load_pools(models);
        let mut inner = self.lock();
        let wall = self.wall.now();
        let projects = inner.keys.projects();
        let mut total = 0u64;
        for key in inner.routes(models, &projects) {
            let pool = inner.pool(&key);
            if pool.exhausted_until().is_some_and(|u| u > wall) {
                continue;
            }
            total += u64::from(pool.remaining_on(wall)?);
        }
        Some(total)
    }

    /// The keys that are still enabled.
    pub fn keys(&self) -> Vec<Option<ApiKey>> {
        self.lock().keys.keys()
    }

    /// Projects that have more than one key (rotating among them adds no quota).
    pub fn shared_projects(&self) -> Vec<(String, usize)> {
        self.lock().keys.shared_projects()
    }

    pub fn distinct_projects(&self) -> HashSet<String> {
        self.lock().keys.projects().into_iter().collect()
    }
}

/// Full jitter: uniform in [0, min(cap, base·2ⁿ)], so many clients refused together do
/// not all come back together.
fn full_jitter(n: u32) -> Duration {
    let ceiling = BARE_429_BASE.saturating_mul(1u32 << n.min(16)).min(BARE_429_CAP);
    ceiling.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::super::pacing::PACING_MARGIN;
    use super::*;

    fn engine(keys: &[(&str, &str)], limits: &[(&str, Limits)]) -> (tempfile::TempDir, QuotaEngine) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let keys: Vec<ApiKey> =
            keys.iter().map(|(n, p)| ApiKey::new(Some(n.to_string()), p.to_string(), format!("secret-{n}"))).collect();
        let limits = limits.iter().map(|(m, l)| (m.to_string(), *l)).collect();
        let e = QuotaEngine::new("gemini", &keys, limits, store, Clock::system());
        (dir, e)
    }

    fn models(m: &[&str]) -> Vec<String> {
        m.iter().map(|s| s.to_string()).collect()
    }

    fn limits(rpm: Option<u32>, tpm: Option<u64>, rpd: Option<u32>) -> Limits {
        Limits { rpm, tpm, rpd }
    }

    fn day_429() -> Failure {
        Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerDay,
            tokens: false,
            quota_id: Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier".into()),
            quota_value: Some(20),
            retry_delay: Some(Duration::from_secs(9)),
        })
    }

    fn minute_429(retry: u64) -> Failure {
        Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerMinute,
            tokens: false,
            quota_id: Some("GenerateRequestsPerMinutePerProjectPerModel-FreeTier".into()),
            quota_value: Some(15),
            retry_delay: Some(Duration::from_secs(retry)),
        })
    }

    fn cooldown(e: &QuotaEngine, project: &str, model: &str) -> Option<Instant> {
        e.lock().pools[&(project.to_string(), model.to_string())].cooldown_until
    }

    #[tokio::test]
    async fn daily_429_exhausts_the_project_not_just_the_key() {
        let (_d, e) = engine(&[("k1", "p"), ("k2", "p")], &[]);
        let m = models(&["flash-lite"]);
        let Decision::Go(p) = e.acquire(&m, 10) else { panic!() };
        e.observe(&p, Err(&day_429()));
        // Both keys share project p: nothing is ready, and it is a daily wall, not a wait.
        assert!(matches!(e.acquire(&m, 10), Decision::Exhausted(_)));
        assert!(e.all_exhausted(&m).is_some());
    }

    #[tokio::test]
    async fn another_project_still_serves() {
        let (_d, e) = engine(&[("k1", "p1"), ("k2", "p2")], &[]);
        let m = models(&["flash-lite"]);
        let Decision::Go(p) = e.acquire(&m, 10) else { panic!() };
        e.observe(&p, Err(&day_429()));
        let Decision::Go(q) = e.acquire(&m, 10) else { panic!() };
        assert_ne!(q.pool.project, p.pool.project);
    }

    #[tokio::test]
    async fn exhaustion_persists_across_engines() {
        let dir = tempfile::tempdir().unwrap();
        let keys = vec![ApiKey::new(Some("k".into()), "p".into(), "s".into())];
        let m = models(&["flash-lite"]);
        {
            let store = Arc::new(Store::open(dir.path()).unwrap());
            let e = QuotaEngine::new("gemini", &keys, BTreeMap::new(), store, Clock::system());
            let Decision::Go(p) = e.acquire(&m, 10) else { panic!() };
            e.observe(&p, Err(&day_429()));
        }
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let e = QuotaEngine::new("gemini", &keys, BTreeMap::new(), store, Clock::system());
        assert!(e.all_exhausted(&m).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn per_minute_cooldown_falls_back_then_in_flight_echo_does_not_stack() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["a", "b"]);
        let Decision::Go(p1) = e.acquire(&m, 10) else { panic!() };
        tokio::time::advance(Duration::from_millis(5)).await;
        let Decision::Go(p2) = e.acquire(&m, 10) else { panic!() };
        assert_eq!(p1.pool.model, "a");
        tokio::time::advance(Duration::from_millis(5)).await;
        e.observe(&p1, Err(&minute_429(30)));
        let until = cooldown(&e, "p", "a");
        assert_eq!(until, Some(Instant::now() + Duration::from_secs(30)));
        // p2 was in flight before the cooldown: its 429 must not push the cooldown out.
        tokio::time::advance(Duration::from_millis(5)).await;
        e.observe(&p2, Err(&minute_429(30)));
        assert_eq!(cooldown(&e, "p", "a"), until);
        // While `a` cools, the job goes to `b`.
        let Decision::Go(p3) = e.acquire(&m, 10) else { panic!() };
        assert_eq!(p3.pool.model, "b");
        // And the quotaValue became a known limit.
        assert_eq!(e.lock().pools[&("p".to_string(), "a".to_string())].rpm_limit(), Some(15));
    }

    #[tokio::test(start_paused = true)]
    async fn a_per_minute_cooldown_lasts_exactly_the_stated_wait() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["a"]);
        let Decision::Go(p) = e.acquire(&m, 10) else { panic!() };
        e.observe(&p, Err(&minute_429(30)));
        let start = Instant::now();
        assert_eq!(e.acquire(&m, 10), Decision::Wait(start + Duration::from_secs(30)));
        tokio::time::advance(Duration::from_secs(30) - Duration::from_millis(1)).await;
        assert_eq!(e.acquire(&m, 10), Decision::Wait(start + Duration::from_secs(30)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(matches!(e.acquire(&m, 10), Decision::Go(_)));
    }

    #[tokio::test]
    async fn configured_rpd_is_never_exceeded() {
        let (_d, e) = engine(&[("k", "p")], &[("m", limits(None, None, Some(3)))]);
        let m = models(&["m"]);
        for _ in 0..3 {
            assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        }
        assert!(matches!(e.acquire(&m, 1), Decision::Exhausted(_)));
    }

    /// Acquires race from several threads while the store is written outside the lock:
    /// the count is checked and taken in one critical section, so exactly `rpd` go, and
    /// the store records exactly those. Rounds, because a gate that let a stale count
    /// through would show only when threads interleave at the limit.
    #[test]
    fn configured_rpd_is_never_exceeded_by_concurrent_acquires() {
        const RPD: u32 = 40;
        const THREADS: usize = 8;
        for _round in 0..10 {
            let (_d, e) = engine(&[("k1", "p"), ("k2", "p")], &[("m", limits(None, None, Some(RPD)))]);
            let m = models(&["m"]);
            let start = std::sync::Barrier::new(THREADS);
            let granted: u32 = std::thread::scope(|s| {
                let workers: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let mut went = 0;
                            // Every thread asks until the day is through for it.
                            while let Decision::Go(_) = e.acquire(&m, 1) {
                                went += 1;
                            }
                            went
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).sum()
            });
            assert_eq!(granted, RPD);
            let day = pacific_day(e.now()).to_string();
            assert_eq!(e.store.daily_requests("gemini", "p", "m", &day).unwrap(), RPD);
            assert!(matches!(e.acquire(&m, 1), Decision::Exhausted(_)));
            assert_eq!(e.remaining_today(&m), Some(0));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_paces_with_burst_of_one() {
        const RPM: u32 = 60;
        let (_d, e) = engine(&[("k", "p")], &[("m", limits(Some(RPM), None, None))]);
        let m = models(&["m"]);
        let period = Duration::from_secs(60).mul_f64(PACING_MARGIN / f64::from(RPM));
        let start = Instant::now();
        // The n-th permit goes (n-1) periods after the first, never sooner.
        for n in 1..=5u32 {
            loop {
                match e.acquire(&m, 1) {
                    Decision::Go(p) => {
                        assert_eq!(p.sent_at - start, period * (n - 1), "permit {n}");
                        break;
                    }
                    Decision::Wait(at) => tokio::time::advance(at - Instant::now()).await,
                    other => panic!("{other:?}"),
                }
            }
        }
        // Idle time saves up no burst.
        tokio::time::advance(Duration::from_secs(300)).await;
        assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        assert_eq!(e.acquire(&m, 1), Decision::Wait(Instant::now() + period));
    }

    #[tokio::test]
    async fn tpm_window() {
        let (_d, e) = engine(&[("k", "p")], &[("m", limits(None, Some(1000), None))]);
        let m = models(&["m"]);
        assert!(matches!(e.acquire(&m, 600), Decision::Go(_)));
        assert!(matches!(e.acquire(&m, 600), Decision::Wait(_)));
        assert!(matches!(e.acquire(&m, 300), Decision::Go(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_day_resets_at_pacific_midnight() {
        // 23:59 in Los Angeles; midnight is 08:00 UTC.
        let midnight: Timestamp = "2026-11-29T08:00:00Z".parse().unwrap();
        let (_d, e) = engine(&[("k", "p")], &[("m", limits(None, None, Some(2)))]);
        let e = e.on_tokio_time("2026-11-29T07:59:00Z".parse().unwrap());
        let m = models(&["m"]);
        for _ in 0..2 {
            assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        }
        assert_eq!(e.acquire(&m, 1), Decision::Exhausted(midnight));
        assert_eq!(e.all_exhausted(&m), Some(midnight));
        assert_eq!(e.remaining_today(&m), Some(0));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(e.acquire(&m, 1), Decision::Exhausted(midnight));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(e.remaining_today(&m), Some(2));
        assert!(e.all_exhausted(&m).is_none());
        assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        let new_day = pacific_day(midnight).to_string();
        assert_eq!(e.store.daily_requests("gemini", "p", "m", &new_day).unwrap(), 1);
        assert_eq!(e.remaining_today(&m), Some(1));
    }

    #[tokio::test]
    async fn a_late_older_row_does_not_overwrite_a_newer_one() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["m"]);
        let Decision::Go(_) = e.acquire(&m, 1) else { panic!() };
        let (older, newer) = {
            let mut inner = e.lock();
            let pool = inner.pool(&("p".to_string(), "m".to_string()));
            (pool.exhaust(e.now(), Some("old".into())), pool.exhaust(e.now(), Some("new".into())))
        };
        let writes = |w: RowWrite| Writes { rows: vec![(w, "a test row")], count: None };
        e.persist(writes(newer));
        e.persist(writes(older));
        let rows = e.store.pools().unwrap();
        assert_eq!(rows.iter().map(|r| r.quota_id.as_deref()).collect::<Vec<_>>(), [Some("new")]);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_pauses_after_consecutive_trouble_then_probes_one_at_a_time() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["m"]);
        for _ in 0..3 {
            let Decision::Go(p) = e.acquire(&m, 1) else { panic!() };
            e.observe(&p, Err(&Failure::ServerError));
        }
        // Open: nothing goes until the pause is over.
        let Decision::Wait(at) = e.acquire(&m, 1) else { panic!() };
        assert_eq!(at.duration_since(Instant::now()), RetryPolicy::default().breaker_pause);
        tokio::time::advance(RetryPolicy::default().breaker_pause).await;
        // One probe; the others wait for its answer.
        let Decision::Go(probe) = e.acquire(&m, 1) else { panic!() };
        assert!(matches!(e.acquire(&m, 1), Decision::Wait(_)));
        // A failed probe doubles the pause.
        e.observe(&probe, Err(&Failure::Timeout));
        let Decision::Wait(at) = e.acquire(&m, 1) else { panic!() };
        assert_eq!(at.duration_since(Instant::now()), RetryPolicy::default().breaker_pause * 2);
        tokio::time::advance(RetryPolicy::default().breaker_pause * 2).await;
        // Any answer closes it, even one that is not a success (a blocked prompt).
        let Decision::Go(probe) = e.acquire(&m, 1) else { panic!() };
        e.observe(&probe, Err(&Failure::Blocked { reason: "SAFETY".into() }));
        assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
    }

    #[tokio::test]
    async fn waits_beyond_max_wait_and_endless_bare_429s_defer_the_pool() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["m"]);
        let Decision::Go(p) = e.acquire(&m, 1) else { panic!() };
        let absurd = QuotaSignal {
            scope: QuotaScope::PerMinute,
            tokens: false,
            quota_id: None,
            quota_value: None,
            retry_delay: Some(crate::provider::values::MAX_DELAY),
        };
        e.observe(&p, Err(&Failure::RateLimited(absurd)));
        let Decision::Exhausted(until) = e.acquire(&m, 1) else { panic!() };
        assert!(until > e.now() + jiff::SignedDuration::from_hours(24 * 300));

        let (_d, e) = engine(&[("k", "p")], &[]);
        let bare = Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::Unknown,
            tokens: false,
            quota_id: None,
            quota_value: None,
            retry_delay: None,
        });
        for _ in 0..=RetryPolicy::default().bare_429_tries {
            // Skip the cooldown each time: only the count matters here.
            e.lock().pools.values_mut().for_each(|p| p.cooldown_until = None);
            let Decision::Go(p) = e.acquire(&m, 1) else { panic!() };
            e.observe(&p, Err(&bare));
        }
        e.lock().pools.values_mut().for_each(|p| p.cooldown_until = None);
        assert!(matches!(e.acquire(&m, 1), Decision::Exhausted(_)));
    }

    #[tokio::test]
    async fn billing_stops_every_model() {
        let (_d, e) = engine(&[("k1", "p1"), ("k2", "p2")], &[]);
        let m = models(&["a", "b"]);
        let Decision::Go(p) = e.acquire(&m, 1) else { panic!() };
        e.observe(&p, Err(&Failure::Billing));
        assert!(matches!(e.acquire(&m, 1), Decision::Stopped(why) if why.contains("billing")));
    }

    #[tokio::test]
    async fn rejected_key_and_missing_model() {
        let (_d, e) = engine(&[("k1", "p"), ("k2", "p")], &[]);
        let m = models(&["a", "b"]);
        let Decision::Go(p) = e.acquire(&m, 1) else { panic!() };
        e.observe(&p, Err(&Failure::KeyRejected));
        let Decision::Go(q) = e.acquire(&m, 1) else { panic!() };
        assert_ne!(q.key_id(), p.key_id());
        e.observe(&q, Err(&Failure::ModelNotFound));
        let Decision::Go(r) = e.acquire(&m, 1) else { panic!() };
        assert_eq!(r.pool.model, "b");
        e.observe(&r, Err(&Failure::KeyRejected));
        assert!(matches!(e.acquire(&m, 1), Decision::NoRoute(_)));
    }
}
