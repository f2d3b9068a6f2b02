//! Per-minute pacing of one pool: requests through governor's GCRA (burst of one) and
//! estimated input tokens through a sliding 60 s window, both on tokio's clock.
//!
//! Every wait the engine hands out is slept with tokio time, so pacing reads tokio time
//! too: one clock, which a paused test runtime stops and moves for both.

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

pub(crate) const MINUTE: Duration = Duration::from_secs(60);
/// Spacing margin over the nominal interval: a server that counts requests in a
/// 60-second window must never see `limit + 1` of them because of scheduling jitter.
pub(crate) const PACING_MARGIN: f64 = 1.02;

/// governor's time source reading tokio's clock (governor's own default would run on
/// while a paused test runtime stands still).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TokioClock;

impl GovernorClock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Paces a pool's requests to a per-minute limit: one every `60 s · margin / limit`.
pub(crate) struct RequestPacer {
    limit: u32,
    limiter: Limiter,
    /// When governor lets the next request through, learned when the last one was taken:
    /// it lets [`RequestPacer::ready_at`] answer without consuming a cell.
    next: Option<Instant>,
}

impl RequestPacer {
    /// `None` for a limit of 0 (no limit known to pace to).
    pub fn new(limit: u32) -> Option<RequestPacer> {
        if limit == 0 {
            return None;
        }
        let period = MINUTE.mul_f64(PACING_MARGIN / f64::from(limit));
        // Burst of one: a full minute's allowance at once, then the steady rate, would put
        // twice the limit into one window.
        let quota = Quota::with_period(period)?;
        Some(RequestPacer { limit, limiter: RateLimiter::direct_with_clock(quota, TokioClock), next: None })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// When the next request may go, if not at `now`. Reads only; takes nothing.
    pub fn ready_at(&self, now: Instant) -> Option<Instant> {
        self.next.filter(|at| *at > now)
    }

    /// Takes the cell for a request about to be sent; `Err(at)` if governor refuses it
    /// (it does not when `ready_at` said ready, as both read the same clock).
    pub fn take(&mut self) -> Result<(), Instant> {
        if let Err(not_until) = self.limiter.check() {
            return Err(Instant::from_std(not_until.earliest_possible()));
        }
        // With a burst of one, a second check straight after a granted one is refused (a
        // refusal changes nothing) and its answer is when the next request conforms. Should
        // a whole period pass in between, the cell it took only makes pacing stricter.
        self.next = self.limiter.check().err().map(|n| Instant::from_std(n.earliest_possible()));
        Ok(())
    }
}

/// The estimated input tokens a pool sent in the last minute.
#[derive(Debug, Default)]
pub(crate) struct TokenWindow {
    sent: VecDeque<(Instant, u64)>,
}

impl TokenWindow {
    fn in_window(&self, now: Instant) -> impl Iterator<Item = &(Instant, u64)> {
        self.sent.iter().filter(move |(t, _)| now.duration_since(*t) < MINUTE)
    }

    /// When a request of `tokens` fits under `limit`, if it does not at `now`. A request
    /// larger than the whole limit goes alone into an empty window.
    pub fn ready_at(&self, now: Instant, tokens: u64, limit: u64) -> Option<Instant> {
        let used: u64 = self.in_window(now).map(|(_, n)| n).sum();
        if used == 0 || used + tokens <= limit {
            return None;
        }
        // The oldest sends leave the window first: the request fits once enough have left.
        let mut freed = 0;
        for (t, n) in self.in_window(now) {
            freed += n;
            if used - freed + tokens <= limit {
                return Some(*t + MINUTE);
            }
        }
        Some(now + MINUTE)
    }

    /// Records a request of `tokens` sent at `now`, forgetting those out of the window.
    pub fn record(&mut self, now: Instant, tokens: u64) {
        while self.sent.front().is_some_and(|(t, _)| now.duration_since(*t) >= MINUTE) {
            self.sent.pop_front();
        }
        self.sent.push_back((now, tokens));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_by_the_margined_period() {
        let period = MINUTE.mul_f64(PACING_MARGIN / 60.0);
        let mut p = RequestPacer::new(60).unwrap();
        let start = Instant::now();
        assert_eq!(p.ready_at(start), None);
        p.take().unwrap();
        assert_eq!(p.ready_at(start), Some(start + period));
        // Refused before its time, with the same answer, and the refusal costs nothing.
        assert_eq!(p.take(), Err(start + period));
        tokio::time::advance(period).await;
        assert_eq!(p.ready_at(Instant::now()), None);
        p.take().unwrap();
        assert_eq!(p.ready_at(Instant::now()), Some(start + period * 2));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_pacer_saves_up_no_burst() {
        let mut p = RequestPacer::new(60).unwrap();
        tokio::time::advance(MINUTE * 5).await;
        p.take().unwrap();
        assert!(p.take().is_err());
    }

    #[test]
    fn a_zero_limit_paces_nothing() {
        assert!(RequestPacer::new(0).is_none());
    }

    #[test]
    fn tokens_wait_for_the_oldest_sends_to_leave_the_window() {
        let t0 = Instant::now();
        let mut w = TokenWindow::default();
        w.record(t0, 600);
        w.record(t0 + Duration::from_secs(10), 300);
        // 100 more fit; 200 wait for the 600 to leave; 1000 for both.
        assert_eq!(w.ready_at(t0 + Duration::from_secs(20), 100, 1000), None);
        assert_eq!(w.ready_at(t0 + Duration::from_secs(20), 200, 1000), Some(t0 + MINUTE));
        assert_eq!(w.ready_at(t0 + Duration::from_secs(20), 1000, 1000), Some(t0 + Duration::from_secs(70)));
        // Past a minute the first send no longer counts.
        assert_eq!(w.ready_at(t0 + MINUTE, 700, 1000), None);
        // Larger than the whole limit: alone, into an empty window.
        assert_eq!(w.ready_at(t0 + Duration::from_secs(70), 5000, 1000), None);
    }
}
