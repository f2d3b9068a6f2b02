//! A pool's circuit breaker: after consecutive 5xx/timeouts the pool pauses, then lets one
//! probe through at growing intervals until the server answers again.

use crate::config::RetryPolicy;
use std::time::Duration;
use tokio::time::Instant;

/// Closed: requests flow. After `THRESHOLD` consecutive 5xx/timeouts it opens: nothing is
/// sent until `open_until`, then one probe goes (the others wait); a failed probe doubles
/// the pause, up to [`RetryPolicy::BREAKER_CAP`]; any answer closes it.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    pause: Duration,
    probing: bool,
}

/// What one more failure did to the breaker, for the log.
#[derive(Debug, PartialEq)]
pub(crate) enum Tripped {
    /// Still closed (or already open and waiting): nothing to say.
    No,
    /// It opened after this many failures in a row.
    Opened { failures: u32 },
    /// The probe failed: the pool stays paused this long.
    ProbeFailed { pause: Duration },
}

impl Breaker {
    const THRESHOLD: u32 = 3;

    /// When the pool may send again, if not at `now`: the end of the pause, or, while a
    /// probe is out, one pause from now (its answer will wake the waiters sooner).
    pub fn wait(&self, now: Instant) -> Option<Instant> {
        let until = self.open_until?;
        if until > now {
            Some(until)
        } else if self.probing {
            Some(now + self.pause)
        } else {
            None
        }
    }

    /// A request is about to go: past an open breaker's pause, it is the probe.
    pub fn take(&mut self) {
        if self.open_until.is_some() {
            self.probing = true;
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }

    /// Any answer, even a refusal, means the server is up again: the breaker closes (and
    /// a probe that got one is no longer in flight). True when it was open.
    pub fn answered(&mut self) -> bool {
        let was_open = self.is_open();
        *self = Breaker::default();
        was_open
    }

    /// A 5xx, a timeout or a connection failure at `now`.
    pub fn failed(&mut self, now: Instant, first_pause: Duration) -> Tripped {
        self.failures += 1;
        if self.probing {
            self.probing = false;
            self.pause = (self.pause * 2).min(RetryPolicy::BREAKER_CAP);
            self.open_until = Some(now + self.pause);
            Tripped::ProbeFailed { pause: self.pause }
        } else if self.open_until.is_none() && self.failures >= Self::THRESHOLD {
            self.pause = first_pause;
            self.open_until = Some(now + self.pause);
            Tripped::Opened { failures: self.failures }
        } else {
            Tripped::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAUSE: Duration = Duration::from_secs(2);

    #[test]
    fn opens_at_the_threshold_and_doubles_on_failed_probes_up_to_the_cap() {
        let t = Instant::now();
        let mut b = Breaker::default();
        assert_eq!(b.failed(t, PAUSE), Tripped::No);
        assert_eq!(b.failed(t, PAUSE), Tripped::No);
        assert_eq!(b.wait(t), None);
        assert_eq!(b.failed(t, PAUSE), Tripped::Opened { failures: 3 });
        assert_eq!(b.wait(t), Some(t + PAUSE));
        // Past the pause one probe goes; the others wait a pause more.
        let t = t + PAUSE;
        assert_eq!(b.wait(t), None);
        b.take();
        assert_eq!(b.wait(t), Some(t + PAUSE));
        let mut pause = PAUSE;
        for _ in 0..10 {
            b.take();
            pause = (pause * 2).min(RetryPolicy::BREAKER_CAP);
            assert_eq!(b.failed(t, PAUSE), Tripped::ProbeFailed { pause });
        }
        assert_eq!(pause, RetryPolicy::BREAKER_CAP);
        assert!(b.answered());
        assert_eq!(b, Breaker::default());
        assert!(!b.answered());
    }

    #[test]
    fn a_failure_while_open_without_a_probe_changes_no_pause() {
        let t = Instant::now();
        let mut b = Breaker::default();
        for _ in 0..3 {
            b.failed(t, PAUSE);
        }
        // An echo of a request sent before it opened.
        assert_eq!(b.failed(t + Duration::from_secs(1), PAUSE), Tripped::No);
        assert_eq!(b.wait(t), Some(t + PAUSE));
    }
}
