//! One pool (provider, project, model): its limits, its day's count, its exhaustion,
//! cooldown, breaker and pacing, and [`Pool::check`], the pure answer to "may a request
//! go now, and if not, when".
//!
//! The pool never touches the store: what it changes in its row comes back as a
//! [`RowWrite`] for the engine to persist once its lock is released.

use super::breaker::Breaker;
use super::pacing::{RequestPacer, TokenWindow};
use crate::attempt::{QuotaScope, QuotaSignal};
use crate::clock::{next_pacific_midnight, pacific_day};
use crate::config::Limits;
use crate::store::PoolRow;
use jiff::Timestamp;
use jiff::civil::Date;
use std::time::Duration;
use tokio::time::Instant;

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

/// Whether a pool can take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    Ready,
    /// Not before this instant (a cooldown, the breaker, pacing).
    WaitUntil(Instant),
    /// Not before this wall-clock time (the day's quota, a deferral).
    ExhaustedUntil(Timestamp),
}

/// A snapshot of a pool's row to persist. Rows are written after the engine's lock is
/// released, so two snapshots of one pool may reach the store in either order: the
/// version tells the newer one, and an older one arriving late is dropped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RowWrite {
    pub version: u64,
    pub row: PoolRow,
}

pub(crate) struct Pool {
    configured: Limits,
    row: PoolRow,
    row_version: u64,
    rpm: Option<RequestPacer>,
    tokens: TokenWindow,
    pub cooldown_until: Option<Instant>,
    /// When the current cooldown was decided: 429s to requests sent before it are echoes.
    pub cooldown_set_at: Option<Instant>,
    /// 429s in a row that named neither a quota nor a wait.
    pub bare_429s: u32,
    pub breaker: Breaker,
    day: Date,
    used_today: u32,
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

impl Pool {
    /// A pool as the store left it: its row, and the requests already counted on `day`.
    pub fn new(configured: Limits, row: PoolRow, day: Date, used_today: u32) -> Pool {
        let mut pool = Pool {
            configured,
            row,
            row_version: 0,
            rpm: None,
            tokens: TokenWindow::default(),
            cooldown_until: None,
            cooldown_set_at: None,
            bare_429s: 0,
            breaker: Breaker::default(),
            day,
            used_today,
        };
        pool.install_rpm();
        pool
    }

    fn limits(&self) -> Limits {
        effective_limits(self.configured, Some(&self.row))
    }

    pub fn rpm_limit(&self) -> Option<u32> {
        self.limits().rpm
    }

    pub fn rpd_limit(&self) -> Option<u32> {
        self.limits().rpd
    }

    pub fn exhausted_until(&self) -> Option<Timestamp> {
        self.row.exhausted_until.as_deref().and_then(|s| s.parse().ok())
    }

    /// The day's count as of `wall`: a new Pacific day starts from zero.
    fn used_on(&self, wall: Timestamp) -> u32 {
        if pacific_day(wall) == self.day { self.used_today } else { 0 }
    }

    /// Requests still allowed on `wall`'s day; `None` without a known daily limit.
    pub fn remaining_on(&self, wall: Timestamp) -> Option<u32> {
        Some(self.rpd_limit()?.saturating_sub(self.used_on(wall)))
    }

    /// Whether the pool is through for the day (or deferred) at `wall`, and until when.
    pub fn exhausted_at(&self, wall: Timestamp) -> Option<Timestamp> {
        if let Some(until) = self.exhausted_until().filter(|u| *u > wall) {
            return Some(until);
        }
        let rpd = self.rpd_limit()?;
        (self.used_on(wall) >= rpd).then(|| next_pacific_midnight(wall))
    }

    /// Whether a request of `tokens` may go at `now` (tokio time) and `wall` (the run's
    /// clock), checked in the order the reasons last: the day first, pacing last.
    pub fn check(&self, now: Instant, wall: Timestamp, tokens: u64) -> Check {
        if let Some(until) = self.exhausted_at(wall) {
            return Check::ExhaustedUntil(until);
        }
        if let Some(until) = self.cooldown_until.filter(|u| *u > now) {
            return Check::WaitUntil(until);
        }
        if let Some(at) = self.breaker.wait(now) {
            return Check::WaitUntil(at);
        }
        if let Some(at) = self.limits().tpm.and_then(|tpm| self.tokens.ready_at(now, tokens, tpm)) {
            return Check::WaitUntil(at);
        }
        if let Some(at) = self.rpm.as_ref().and_then(|p| p.ready_at(now)) {
            return Check::WaitUntil(at);
        }
        Check::Ready
    }

    /// Brings the day-bound state up to `wall`: a new Pacific day restarts the count, and
    /// an exhaustion that has passed is forgotten.
    pub fn refresh(&mut self, wall: Timestamp) {
        let today = pacific_day(wall);
        if self.day != today {
            self.day = today;
            self.used_today = 0;
        }
        if self.exhausted_until().is_some_and(|u| u <= wall) {
            self.row.exhausted_until = None;
        }
    }

    /// Takes the pool for a request of `tokens` sent at `now`, which `check` found ready
    /// after `refresh`: counted before it is sent. `Err(at)` if pacing refuses it after all.
    /// Returns the day to count it against in the store.
    pub fn take(&mut self, now: Instant, tokens: u64) -> Result<Date, Instant> {
        if let Some(pacer) = &mut self.rpm {
            pacer.take()?;
        }
        self.breaker.take();
        self.tokens.record(now, tokens);
        self.used_today += 1;
        Ok(self.day)
    }

    /// What the store counted for `day` after this pool's request: never below what was
    /// counted here, and kept only while it is still that day.
    pub fn merge_count(&mut self, day: Date, stored: u32) {
        if self.day == day {
            self.used_today = self.used_today.max(stored);
        }
    }

    fn row_write(&mut self) -> RowWrite {
        self.row_version += 1;
        RowWrite { version: self.row_version, row: self.row.clone() }
    }

    /// Marks the pool exhausted until `until` (the next Pacific midnight for a daily
    /// quota), to persist so a rerun before then sends nothing to it.
    pub fn exhaust(&mut self, until: Timestamp, quota_id: Option<String>) -> RowWrite {
        self.row.exhausted_until = Some(until.to_string());
        if quota_id.is_some() {
            self.row.quota_id = quota_id;
        }
        self.row_write()
    }

    /// Learns the limit a 429 stated (its quotaValue), if it is news.
    pub fn learn(&mut self, signal: &QuotaSignal) -> Option<RowWrite> {
        let value = signal.quota_value.filter(|v| *v > 0)?;
        let before = self.row.clone();
        let narrow = value.min(u64::from(u32::MAX)) as u32;
        match (signal.scope, signal.tokens) {
            (QuotaScope::PerDay, _) => self.row.learned_rpd = Some(narrow),
            (QuotaScope::PerMinute, true) => self.row.learned_tpm = Some(value),
            (QuotaScope::PerMinute, false) => self.row.learned_rpm = Some(narrow),
            (QuotaScope::Unknown, _) => {}
        }
        if self.row == before {
            return None;
        }
        self.install_rpm();
        Some(self.row_write())
    }

    /// Cools the pool for `delay` from `now` (a per-minute refusal it can sit out).
    pub fn cool(&mut self, now: Instant, delay: Duration) {
        self.cooldown_until = Some(now + delay);
        self.cooldown_set_at = Some(now);
    }

    /// Paces to the effective per-minute limit; a new limit starts a new pacer.
    fn install_rpm(&mut self) {
        let limit = self.rpm_limit().filter(|&n| n > 0);
        if self.rpm.as_ref().map(|p| p.limit()) != limit {
            self.rpm = limit.and_then(RequestPacer::new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool's state in one table row; unset fields are a fresh pool.
    #[derive(Default)]
    struct State {
        limits: Limits,
        used_today: u32,
        /// Seconds after `WALL` (negative: passed).
        exhausted_in: Option<i64>,
        cooldown_in: Option<u64>,
        /// Consecutive server errors, then whether a probe is out.
        failures: u32,
        probing: bool,
        /// (seconds before now, tokens) already sent.
        sent: &'static [(u64, u64)],
    }

    /// 23:00 in Los Angeles on 28 November 2026: next midnight is 08:00 UTC.
    const WALL: &str = "2026-11-29T07:00:00Z";
    const MIDNIGHT: &str = "2026-11-29T08:00:00Z";

    fn wall() -> Timestamp {
        WALL.parse().unwrap()
    }

    fn pool(s: &State, now: Instant) -> Pool {
        let row = PoolRow {
            exhausted_until: s.exhausted_in.map(|d| (wall() + jiff::SignedDuration::from_secs(d)).to_string()),
            ..Default::default()
        };
        let mut p = Pool::new(s.limits, row, pacific_day(wall()), s.used_today);
        p.cooldown_until = s.cooldown_in.map(|d| now + Duration::from_secs(d));
        let start = now - Duration::from_secs(100);
        for _ in 0..s.failures {
            p.breaker.failed(start, Duration::from_secs(2));
        }
        if s.probing {
            p.breaker.take();
        }
        for &(ago, n) in s.sent {
            p.tokens.record(now - Duration::from_secs(ago), n);
        }
        p
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn check_table() {
        use Check::*;
        let rpd = |n| Limits { rpd: Some(n), ..Default::default() };
        let tpm = |n| Limits { tpm: Some(n), ..Default::default() };
        let midnight: Timestamp = MIDNIGHT.parse().unwrap();
        let later = wall() + jiff::SignedDuration::from_hours(30);
        // Expected answers are built from `now` so they compare exactly.
        type Expect = fn(Instant) -> Check;
        let rows: Vec<(&str, State, Expect)> = vec![
            ("fresh", State::default(), |_| Ready),
            ("under rpd", State { limits: rpd(3), used_today: 2, ..Default::default() }, |_| Ready),
            ("rpd reached", State { limits: rpd(3), used_today: 3, ..Default::default() }, |_| {
                ExhaustedUntil(MIDNIGHT.parse().unwrap())
            }),
            ("exhausted later", State { exhausted_in: Some(30 * 3600), ..Default::default() }, |_| {
                ExhaustedUntil(WALL.parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_hours(30))
            }),
            ("exhaustion passed", State { exhausted_in: Some(-1), ..Default::default() }, |_| Ready),
            (
                "exhaustion beats a cooldown",
                State { exhausted_in: Some(60), cooldown_in: Some(30), ..Default::default() },
                |_| ExhaustedUntil(WALL.parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(60)),
            ),
            ("cooling", State { cooldown_in: Some(30), ..Default::default() }, |n| WaitUntil(n + secs(30))),
            ("two failures: closed", State { failures: 2, ..Default::default() }, |_| Ready),
            ("breaker pause over", State { failures: 3, ..Default::default() }, |_| Ready),
            ("probe out", State { failures: 3, probing: true, ..Default::default() }, |n| WaitUntil(n + secs(2))),
            ("tokens fit", State { limits: tpm(1000), sent: &[(10, 500)], ..Default::default() }, |_| Ready),
            ("tokens full", State { limits: tpm(1000), sent: &[(50, 500), (10, 500)], ..Default::default() }, |n| {
                WaitUntil(n + secs(10))
            }),
            ("tokens aged out", State { limits: tpm(1000), sent: &[(60, 1000)], ..Default::default() }, |_| Ready),
        ];
        let now = Instant::now();
        for (name, state, expect) in rows {
            let p = pool(&state, now);
            assert_eq!(p.check(now, wall(), 100), expect(now), "{name}");
        }
        // The day's count belongs to its day: after midnight the same pool is ready.
        let full = pool(&State { limits: rpd(3), used_today: 3, ..Default::default() }, now);
        assert_eq!(full.check(now, midnight, 1), Ready);
        assert_eq!(full.remaining_on(midnight), Some(3));
        assert_eq!(full.check(now, later, 1), Ready);
    }

    #[test]
    fn an_open_breaker_waits_out_its_pause() {
        let now = Instant::now();
        let mut p = pool(&State::default(), now);
        for _ in 0..3 {
            p.breaker.failed(now, secs(2));
        }
        assert_eq!(p.check(now, wall(), 1), Check::WaitUntil(now + secs(2)));
        assert_eq!(p.check(now + secs(2), wall(), 1), Check::Ready);
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_pacing_is_part_of_the_check() {
        let limits = Limits { rpm: Some(60), ..Default::default() };
        let mut p = Pool::new(limits, PoolRow::default(), pacific_day(wall()), 0);
        let now = Instant::now();
        assert_eq!(p.check(now, wall(), 1), Check::Ready);
        p.take(now, 1).unwrap();
        let period = secs(60).mul_f64(super::super::pacing::PACING_MARGIN / 60.0);
        assert_eq!(p.check(now, wall(), 1), Check::WaitUntil(now + period));
    }

    #[test]
    fn take_counts_and_refresh_rolls_the_day() {
        let now = Instant::now();
        let mut p = pool(&State { limits: Limits { rpd: Some(2), ..Default::default() }, ..Default::default() }, now);
        assert_eq!(p.take(now, 1).unwrap(), pacific_day(wall()));
        assert_eq!(p.remaining_on(wall()), Some(1));
        p.take(now, 1).unwrap();
        assert!(matches!(p.check(now, wall(), 1), Check::ExhaustedUntil(_)));
        let tomorrow: Timestamp = MIDNIGHT.parse().unwrap();
        p.refresh(tomorrow);
        assert_eq!(p.take(now, 1).unwrap(), pacific_day(tomorrow));
        assert_eq!(p.remaining_on(tomorrow), Some(1));
        // A count for a day that has gone no longer applies.
        p.merge_count(pacific_day(wall()), 9);
        assert_eq!(p.remaining_on(tomorrow), Some(1));
    }

    #[test]
    fn row_writes_are_versioned_and_learning_only_news() {
        let mut p = Pool::new(Limits::default(), PoolRow::default(), pacific_day(wall()), 0);
        let signal = QuotaSignal {
            scope: QuotaScope::PerMinute,
            tokens: false,
            quota_id: None,
            quota_value: Some(15),
            retry_delay: None,
        };
        assert_eq!(p.learn(&signal).map(|w| w.version), Some(1));
        assert_eq!(p.rpm_limit(), Some(15));
        assert!(p.learn(&signal).is_none());
        let w = p.exhaust(wall(), Some("q".into()));
        assert_eq!((w.version, w.row.quota_id.as_deref()), (2, Some("q")));
    }
}
