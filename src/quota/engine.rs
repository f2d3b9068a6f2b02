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

use super::clock::{Clock, describe, next_pacific_midnight, pacific_day};
use crate::attempt::{Failure, QuotaScope, QuotaSignal};
use crate::config::{ApiKey, Limits, RetryPolicy};
use crate::store::{PoolRow, Store};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter, clock::Clock as _};
use jiff::Timestamp;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Spacing margin over the nominal interval: a server that counts requests in a
/// 60-second window must never see `limit + 1` of them because of scheduling jitter.
const PACING_MARGIN: f64 = 1.02;
const MINUTE: Duration = Duration::from_secs(60);
/// Backoff for 429s that say nothing: base and cap of the full-jitter exponential.
const BARE_429_BASE: Duration = Duration::from_secs(2);
const BARE_429_CAP: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId {
    pub provider: String,
    pub project: String,
    pub model: String,
}

impl std::fmt::Display for PoolId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.project, self.model)
    }
}

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

struct Pool {
    configured: Limits,
    row: PoolRow,
    rpm: Option<(u32, DefaultDirectRateLimiter)>,
    tokens: VecDeque<(Instant, u64)>,
    cooldown_until: Option<Instant>,
    /// When the current cooldown was decided: 429s to requests sent before it are echoes.
    cooldown_set_at: Option<Instant>,
    bare_429s: u32,
    breaker: Breaker,
    day: String,
    used_today: u32,
}

/// A pool's circuit breaker. Closed: requests flow. After `THRESHOLD` consecutive
/// 5xx/timeouts it opens: nothing is sent until `open_until`, then one probe goes (the
/// others wait); a failed probe doubles the pause, up to the cap; any answer closes it.
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    pause: Duration,
    probing: bool,
}

impl Breaker {
    const THRESHOLD: u32 = 3;
}

impl Pool {
    fn rpm_limit(&self) -> Option<u32> {
        effective_limits(self.configured, Some(&self.row)).rpm
    }
    fn tpm_limit(&self) -> Option<u64> {
        effective_limits(self.configured, Some(&self.row)).tpm
    }
    fn rpd_limit(&self) -> Option<u32> {
        effective_limits(self.configured, Some(&self.row)).rpd
    }
    fn exhausted_until(&self) -> Option<Timestamp> {
        self.row.exhausted_until.as_deref().and_then(|s| s.parse().ok())
    }
    fn install_rpm(&mut self) {
        let limit = self.rpm_limit().filter(|&n| n > 0);
        if self.rpm.as_ref().map(|(n, _)| *n) == limit {
            return;
        }
        self.rpm = limit.and_then(|n| {
            let period = MINUTE.mul_f64(PACING_MARGIN / f64::from(n));
            // Burst of one: a full minute's allowance at once, then the steady rate,
            // would put twice the limit into one window.
            Quota::with_period(period).map(|q| (n, RateLimiter::direct(q)))
        });
    }
    fn tokens_in_window(&mut self, now: Instant) -> u64 {
        while self.tokens.front().is_some_and(|(t, _)| now.duration_since(*t) >= MINUTE) {
            self.tokens.pop_front();
        }
        self.tokens.iter().map(|(_, n)| n).sum()
    }
}

struct KeyState {
    key: Option<ApiKey>,
    project: String,
    disabled: bool,
}

struct Inner {
    pools: HashMap<(String, String), Pool>,
    keys: Vec<KeyState>,
    next_key: HashMap<String, usize>,
    next_project: usize,
    dropped: BTreeMap<String, String>,
    /// Why the provider stopped for this run (billing, an unreachable host), if it did.
    stopped: Option<String>,
    /// Connection failures in a row, across every pool: the host, not a pool, is down.
    unreachable_streak: u32,
}

pub struct QuotaEngine {
    provider: String,
    store: Arc<Store>,
    clock: Clock,
    limits: BTreeMap<String, Limits>,
    policy: RetryPolicy,
    inner: Mutex<Inner>,
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
        let keys = if keys.is_empty() {
            vec![KeyState { key: None, project: provider.to_string(), disabled: false }]
        } else {
            keys.iter()
                .map(|k| KeyState { key: Some(k.clone()), project: k.project.clone(), disabled: false })
                .collect()
        };
        QuotaEngine {
            provider: provider.to_string(),
            store,
            clock,
            limits,
            policy: RetryPolicy::default(),
            inner: Mutex::new(Inner {
                pools: HashMap::new(),
                keys,
                next_key: HashMap::new(),
                next_project: 0,
                dropped: BTreeMap::new(),
                stopped: None,
                unreachable_streak: 0,
            }),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The same engine under another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> QuotaEngine {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Why the provider stopped for this run, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.lock().stopped.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The projects that still have a usable key, in configuration order.
    fn projects(inner: &Inner) -> Vec<String> {
        let mut seen = Vec::new();
        for k in inner.keys.iter().filter(|k| !k.disabled) {
            if !seen.contains(&k.project) {
                seen.push(k.project.clone());
            }
        }
        seen
    }

    fn pool_mut<'a>(&self, inner: &'a mut Inner, project: &str, model: &str) -> &'a mut Pool {
        let key = (project.to_string(), model.to_string());
        if !inner.pools.contains_key(&key) {
            let row = self
                .store
                .pools()
                .ok()
                .and_then(|rows| {
                    rows.into_iter().find(|r| r.provider == self.provider && r.project == project && r.model == model)
                })
                .unwrap_or_else(|| PoolRow {
                    provider: self.provider.clone(),
                    project: project.to_string(),
                    model: model.to_string(),
                    ..Default::default()
                });
            let day = pacific_day(self.clock.now()).to_string();
            let used_today = self.store.daily_requests(&self.provider, project, model, &day).unwrap_or(0);
            let mut pool = Pool {
                configured: self.limits.get(model).copied().unwrap_or_default(),
                row,
                rpm: None,
                tokens: VecDeque::new(),
                cooldown_until: None,
                cooldown_set_at: None,
                bare_429s: 0,
                breaker: Breaker::default(),
                day,
                used_today,
            };
            pool.install_rpm();
            inner.pools.insert(key.clone(), pool);
        }
        inner.pools.get_mut(&key).expect("pool just inserted")
    }

    /// Marks a pool exhausted until `until` (the next Pacific midnight for a daily quota)
    /// and persists it, so a rerun before then sends nothing to it.
    fn exhaust(&self, pool: &mut Pool, quota_id: Option<String>, until: Timestamp) {
        pool.row.exhausted_until = Some(until.to_string());
        if quota_id.is_some() {
            pool.row.quota_id = quota_id;
        }
        if let Err(e) = self.store.save_pool(&pool.row) {
            tracing::error!("cannot persist the exhaustion of a pool: {e}");
        }
    }

    /// Decides where the next request for a job whose models are `models` (in order of
    /// preference) may go. `tokens` is the request's estimated input.
    pub fn acquire(&self, models: &[String], tokens: u64) -> Decision {
        let mut inner = self.lock();
        let now = Instant::now();
        let wall = self.clock.now();
        let today = pacific_day(wall).to_string();
        if let Some(why) = &inner.stopped {
            return Decision::Stopped(why.clone());
        }
        let projects = Self::projects(&inner);
        if projects.is_empty() {
            return Decision::NoRoute("every API key was rejected".into());
        }
        let live: Vec<&String> = models.iter().filter(|m| !inner.dropped.contains_key(*m)).collect();
        if live.is_empty() {
            return Decision::NoRoute(format!("no model left of {}", models.join(", ")));
        }
        let mut earliest_wait: Option<Instant> = None;
        let mut earliest_reset: Option<Timestamp> = None;
        // Start from a rotating project so load spreads over projects serving one model.
        let start = inner.next_project % projects.len();
        for model in live.into_iter().cloned().collect::<Vec<_>>() {
            for i in 0..projects.len() {
                let project = &projects[(start + i) % projects.len()];
                let pool = self.pool_mut(&mut inner, project, &model);
                if pool.day != today {
                    pool.day = today.clone();
                    pool.used_today = 0;
                }
                if let Some(until) = pool.exhausted_until() {
                    if until > wall {
                        earliest_reset = Some(earliest_reset.map_or(until, |e| e.min(until)));
                        continue;
                    }
                    pool.row.exhausted_until = None;
                }
                if pool.rpd_limit().is_some_and(|rpd| pool.used_today >= rpd) {
                    let until = next_pacific_midnight(wall);
                    self.exhaust(pool, None, until);
                    earliest_reset = Some(earliest_reset.map_or(until, |e| e.min(until)));
                    continue;
                }
                if let Some(until) = pool.cooldown_until.filter(|u| *u > now) {
                    earliest_wait = Some(earliest_wait.map_or(until, |e| e.min(until)));
                    continue;
                }
                if let Some(until) = pool.breaker.open_until {
                    // Open: wait out the pause; then one probe at a time.
                    let next = if until > now {
                        Some(until)
                    } else if pool.breaker.probing {
                        Some(now + pool.breaker.pause)
                    } else {
                        None
                    };
                    if let Some(at) = next {
                        earliest_wait = Some(earliest_wait.map_or(at, |e| e.min(at)));
                        continue;
                    }
                }
                if let Some(tpm) = pool.tpm_limit() {
                    let used = pool.tokens_in_window(now);
                    // A request larger than the whole limit goes alone into an empty window.
                    if used > 0 && used + tokens > tpm {
                        let mut freed = 0;
                        let mut at = now + MINUTE;
                        for (t, n) in &pool.tokens {
                            freed += n;
                            if used - freed + tokens <= tpm {
                                at = *t + MINUTE;
                                break;
                            }
                        }
                        earliest_wait = Some(earliest_wait.map_or(at, |e| e.min(at)));
                        continue;
                    }
                }
                if let Some((_, limiter)) = &pool.rpm
                    && let Err(not_until) = limiter.check()
                {
                    let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
                    let at = now + wait;
                    earliest_wait = Some(earliest_wait.map_or(at, |e| e.min(at)));
                    continue;
                }
                // Ready: count it before it is sent. Past an open breaker's pause, it is the probe.
                if pool.breaker.open_until.is_some() {
                    pool.breaker.probing = true;
                }
                pool.tokens.push_back((now, tokens));
                pool.used_today += 1;
                if let Ok(n) = self.store.add_daily_request(&self.provider, project, &model, &today) {
                    pool.used_today = pool.used_today.max(n);
                }
                let project = project.clone();
                let key = Self::next_key(&mut inner, &project);
                inner.next_project = inner.next_project.wrapping_add(1);
                return Decision::Go(Permit {
                    pool: PoolId { provider: self.provider.clone(), project, model },
                    key,
                    sent_at: now,
                });
            }
        }
        match (earliest_wait, earliest_reset) {
            (Some(at), _) => Decision::Wait(at),
            (None, Some(reset)) => Decision::Exhausted(reset),
            (None, None) => Decision::NoRoute("no usable pool".into()),
        }
    }

    fn next_key(inner: &mut Inner, project: &str) -> Option<ApiKey> {
        let candidates: Vec<usize> = inner
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.disabled && k.project == project)
            .map(|(i, _)| i)
            .collect();
        let n = inner.next_key.entry(project.to_string()).or_insert(0);
        let pick = candidates[*n % candidates.len()];
        *n = n.wrapping_add(1);
        inner.keys[pick].key.clone()
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
        let mut inner = self.lock();
        if !matches!(result, Err(Failure::Connection)) {
            inner.unreachable_streak = 0;
        }
        let PoolId { project, model, .. } = &permit.pool;
        let trouble = matches!(result, Err(Failure::ServerError | Failure::Timeout | Failure::Connection));
        if !trouble {
            // Any answer, even a refusal, means the server is up again: the breaker closes
            // (and a probe that got one is no longer in flight).
            let pool = self.pool_mut(&mut inner, project, model);
            if pool.breaker.open_until.is_some() {
                tracing::info!(pool = %permit.pool, "the pool answers again: breaker closed");
            }
            pool.breaker = Breaker::default();
        }
        match result {
            Ok(()) => {
                self.pool_mut(&mut inner, project, model).bare_429s = 0;
            }
            Err(Failure::RateLimited(signal)) => {
                let pool = self.pool_mut(&mut inner, project, model);
                self.learn(pool, signal);
                self.rate_limited(pool, permit, signal);
            }
            Err(Failure::Billing) => {
                if inner.stopped.is_none() {
                    let why = format!(
                        "billing: the {} account is out of credit (insufficient_quota); no model of this provider will answer until credit is added",
                        self.provider
                    );
                    tracing::error!("{why}");
                    inner.stopped = Some(why);
                }
            }
            Err(Failure::ServerError | Failure::Timeout | Failure::Connection) => {
                let policy = self.policy;
                let pool = self.pool_mut(&mut inner, project, model);
                let b = &mut pool.breaker;
                b.failures += 1;
                let now = Instant::now();
                if b.probing {
                    b.probing = false;
                    b.pause = (b.pause * 2).min(RetryPolicy::BREAKER_CAP);
                    b.open_until = Some(now + b.pause);
                    tracing::info!(pool = %permit.pool, pause_ms = b.pause.as_millis() as u64, "probe failed; pool stays paused");
                } else if b.open_until.is_none() && b.failures >= Breaker::THRESHOLD {
                    b.pause = policy.breaker_pause;
                    b.open_until = Some(now + b.pause);
                    tracing::warn!(
                        pool = %permit.pool,
                        failures = b.failures,
                        "server trouble: pool paused, probing with one request at growing intervals"
                    );
                }
            }
            Err(Failure::ModelNotFound) => {
                if inner.dropped.insert(model.clone(), "the server answered 404 for it".into()).is_none() {
                    tracing::warn!(model = %model, "model not found (404): dropped for this run");
                }
            }
            Err(Failure::KeyRejected) => {
                let id = permit.key_id().to_string();
                for k in inner.keys.iter_mut().filter(|k| k.key.as_ref().is_some_and(|x| x.id == id)) {
                    if !k.disabled {
                        k.disabled = true;
                        tracing::warn!(key = %id, project = %k.project, "key rejected: disabled for this run");
                    }
                }
            }
            Err(_) => {}
        }
        drop(inner);
        self.changed.notify_waiters();
    }

    /// A quota refusal: a daily wall exhausts the pool until Pacific midnight; a wait the
    /// run can sit out cools it; a wait beyond `max_wait`, or too many 429s that say
    /// nothing, defer it until a stated time.
    fn rate_limited(&self, pool: &mut Pool, permit: &Permit, signal: &QuotaSignal) {
        let wall = self.clock.now();
        if signal.scope == QuotaScope::PerDay {
            if pool.exhausted_until().is_none_or(|u| u <= wall) {
                let until = next_pacific_midnight(wall);
                self.exhaust(pool, signal.quota_id.clone(), until);
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
            return;
        }
        let echo = pool.cooldown_set_at.is_some_and(|set| permit.sent_at < set);
        if echo {
            return;
        }
        let delay = match signal.retry_delay {
            Some(d) => d,
            None if signal.scope == QuotaScope::Unknown => {
                pool.bare_429s += 1;
                if pool.bare_429s > self.policy.bare_429_tries {
                    let until = wall + BARE_429_CAP;
                    self.exhaust(pool, signal.quota_id.clone(), until);
                    tracing::warn!(
                        pool = %permit.pool,
                        "{} 429s in a row that name no quota and no wait; pool deferred until {}",
                        pool.bare_429s,
                        describe(until)
                    );
                    return;
                }
                full_jitter(pool.bare_429s)
            }
            // A per-minute limit with no stated wait (DashScope's token limit): it clears
            // within the minute; a jittered backoff finds when.
            None => full_jitter(2),
        };
        if delay > self.policy.max_wait {
            let until = wall + delay;
            self.exhaust(pool, signal.quota_id.clone(), until);
            tracing::warn!(
                pool = %permit.pool,
                "the server asks to wait {}s, more than max_wait ({}s): pool deferred until {}",
                delay.as_secs(),
                self.policy.max_wait.as_secs(),
                describe(until)
            );
            return;
        }
        let now = Instant::now();
        pool.cooldown_until = Some(now + delay);
        pool.cooldown_set_at = Some(now);
        tracing::info!(pool = %permit.pool, delay_ms = delay.as_millis() as u64, "rate limited; pool cools down");
    }

    fn learn(&self, pool: &mut Pool, signal: &QuotaSignal) {
        let Some(value) = signal.quota_value.filter(|v| *v > 0) else { return };
        let before = pool.row.clone();
        match (signal.scope, signal.tokens) {
            (QuotaScope::PerDay, _) => pool.row.learned_rpd = Some(value.min(u64::from(u32::MAX)) as u32),
            (QuotaScope::PerMinute, true) => pool.row.learned_tpm = Some(value),
            (QuotaScope::PerMinute, false) => pool.row.learned_rpm = Some(value.min(u64::from(u32::MAX)) as u32),
            (QuotaScope::Unknown, _) => {}
        }
        if pool.row != before {
            pool.install_rpm();
            if let Err(e) = self.store.save_pool(&pool.row) {
                tracing::error!("cannot persist a learned limit: {e}");
            }
        }
    }

    /// Drops a model before any request (ListModels did not list it).
    pub fn drop_model(&self, model: &str, reason: &str) {
        self.lock().dropped.insert(model.to_string(), reason.to_string());
    }

    pub fn disable_key(&self, key_id: &str) {
        for k in self.lock().keys.iter_mut().filter(|k| k.key.as_ref().is_some_and(|x| x.id == key_id)) {
            k.disabled = true;
        }
    }

    pub fn dropped_models(&self) -> BTreeMap<String, String> {
        self.lock().dropped.clone()
    }

    /// Whether every pool `models` could use is known exhausted right now, without
    /// asking any server; `Some(reset)` then. Lets a rerun before the reset stop at once.
    pub fn all_exhausted(&self, models: &[String]) -> Option<Timestamp> {
        let mut inner = self.lock();
        let wall = self.clock.now();
        let projects = Self::projects(&inner);
        let mut latest_min: Option<Timestamp> = None;
        for model in models.iter().filter(|m| !inner.dropped.contains_key(*m)).cloned().collect::<Vec<_>>() {
            for project in &projects {
                let pool = self.pool_mut(&mut inner, project, &model);
                let exhausted = pool.exhausted_until().filter(|u| *u > wall).or_else(|| {
                    pool.rpd_limit().filter(|rpd| pool.used_today >= *rpd).map(|_| next_pacific_midnight(wall))
                });
                match exhausted {
                    Some(u) => latest_min = Some(latest_min.map_or(u, |m| m.min(u))),
                    None => return None,
                }
            }
        }
        latest_min
    }

    /// The requests `models` can still take today, summed over every usable pool: `None`
    /// when some pool has no known daily limit (then the day is no wall). A pool exhausted
    /// for the day counts zero. What `auto` packing weighs the pending posts against.
    pub fn remaining_today(&self, models: &[String]) -> Option<u64> {
        let mut inner = self.lock();
        let wall = self.clock.now();
        let today = pacific_day(wall).to_string();
        let projects = Self::projects(&inner);
        let mut total = 0u64;
        for model in models.iter().filter(|m| !inner.dropped.contains_key(*m)).cloned().collect::<Vec<_>>() {
            for project in &projects {
                let pool = self.pool_mut(&mut inner, project, &model);
                if pool.day != today {
                    pool.day = today.clone();
                    pool.used_today = 0;
                }
                if pool.exhausted_until().is_some_and(|u| u > wall) {
                    continue;
                }
                total += u64::from(pool.rpd_limit()?.saturating_sub(pool.used_today));
            }
        }
        Some(total)
    }

    /// The keys that are still enabled.
    pub fn keys(&self) -> Vec<Option<ApiKey>> {
        self.lock().keys.iter().filter(|k| !k.disabled).map(|k| k.key.clone()).collect()
    }

    /// Projects that have more than one key (rotating among them adds no quota).
    pub fn shared_projects(&self) -> Vec<(String, usize)> {
        let inner = self.lock();
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for k in inner.keys.iter().filter(|k| k.key.is_some()) {
            *count.entry(k.project.clone()).or_default() += 1;
        }
        count.into_iter().filter(|(_, n)| *n > 1).collect()
    }

    pub fn distinct_projects(&self) -> HashSet<String> {
        Self::projects(&self.lock()).into_iter().collect()
    }
}

/// The limits a pool lives by: for each, the stricter of the configured and the learned
/// one, so a config written from an old price page never outvotes what the server said.
pub fn effective_limits(configured: Limits, learned: Option<&PoolRow>) -> Limits {
    Limits {
        rpm: stricter(configured.rpm, learned.and_then(|r| r.learned_rpm)),
        tpm: stricter(configured.tpm, learned.and_then(|r| r.learned_tpm)),
        rpd: stricter(configured.rpd, learned.and_then(|r| r.learned_rpd)),
    }
}

fn stricter<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
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

    fn day_429() -> Failure {
        Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerDay,
            tokens: false,
            quota_id: Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier".into()),
            quota_value: Some(20),
            retry_delay: Some(Duration::from_secs(9)),
        })
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

    #[tokio::test]
    async fn per_minute_cooldown_falls_back_then_in_flight_echo_does_not_stack() {
        let (_d, e) = engine(&[("k", "p")], &[]);
        let m = models(&["a", "b"]);
        let Decision::Go(p1) = e.acquire(&m, 10) else { panic!() };
        let Decision::Go(p2) = e.acquire(&m, 10) else { panic!() };
        assert_eq!(p1.pool.model, "a");
        let minute = Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerMinute,
            tokens: false,
            quota_id: Some("GenerateRequestsPerMinutePerProjectPerModel-FreeTier".into()),
            quota_value: Some(15),
            retry_delay: Some(Duration::from_secs(30)),
        });
        e.observe(&p1, Err(&minute));
        let until = e.lock().pools[&("p".to_string(), "a".to_string())].cooldown_until;
        // p2 was in flight before the cooldown: its 429 must not push the cooldown out.
        tokio::time::sleep(Duration::from_millis(5)).await;
        e.observe(&p2, Err(&minute));
        assert_eq!(e.lock().pools[&("p".to_string(), "a".to_string())].cooldown_until, until);
        // While `a` cools, the job goes to `b`.
        let Decision::Go(p3) = e.acquire(&m, 10) else { panic!() };
        assert_eq!(p3.pool.model, "b");
        // And the quotaValue became a known limit.
        assert_eq!(e.lock().pools[&("p".to_string(), "a".to_string())].rpm_limit(), Some(15));
    }

    #[tokio::test]
    async fn configured_rpd_is_never_exceeded() {
        let (_d, e) = engine(&[("k", "p")], &[("m", Limits { rpm: None, tpm: None, rpd: Some(3) })]);
        let m = models(&["m"]);
        for _ in 0..3 {
            assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        }
        assert!(matches!(e.acquire(&m, 1), Decision::Exhausted(_)));
    }

    #[tokio::test]
    async fn rpm_paces_with_burst_of_one() {
        let (_d, e) = engine(&[("k", "p")], &[("m", Limits { rpm: Some(60), tpm: None, rpd: None })]);
        let m = models(&["m"]);
        assert!(matches!(e.acquire(&m, 1), Decision::Go(_)));
        match e.acquire(&m, 1) {
            Decision::Wait(at) => {
                let wait = at.duration_since(Instant::now());
                assert!(wait > Duration::from_millis(900) && wait <= Duration::from_millis(1021), "{wait:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn tpm_window() {
        let (_d, e) = engine(&[("k", "p")], &[("m", Limits { rpm: None, tpm: Some(1000), rpd: None })]);
        let m = models(&["m"]);
        assert!(matches!(e.acquire(&m, 600), Decision::Go(_)));
        assert!(matches!(e.acquire(&m, 600), Decision::Wait(_)));
        assert!(matches!(e.acquire(&m, 300), Decision::Go(_)));
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
