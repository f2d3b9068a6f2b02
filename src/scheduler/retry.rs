//! The retry policy of one job, as a pure state machine: what a failed attempt means for
//! the job (ask again, wait, a raised budget, this model no more, give up). The dispatcher
//! executes its verdicts; the quota engine decides, apart from this, what the same failure
//! means for the pool (cooldown, exhaustion, the breaker, a disabled key).
//!
//! - Transient trouble (5xx, timeouts, an unreachable host, quotas) never fails a job: it
//!   retries across its models until its deadline, then is left deferred for a later run
//!   (exit 75). The pool's circuit breaker, not a count, spaces the requests; a short
//!   backoff only spaces the job's own first retries.
//! - A budget (a raised output limit, thinking reduced) belongs to the model it was raised
//!   for and never travels to another one; a refused parameter never drops a model (the
//!   provider resends without it; twice refused, this job moves on, the model stays).
//!
//! Nothing here sleeps, sends or records: time comes in as `now`, so that every rule is a
//! row of the table tests below.

use crate::attempt::Failure;
use crate::task::{Budget, RAISED_OUTPUT_TOKENS};
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// What a job does after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Ask the quota engine again at once, the candidates unchanged: the engine has learned
    /// what the failure means for the pool (the next permit goes elsewhere, waits or
    /// defers), or the model has a try left for this job.
    Retry,
    /// Transient trouble: ask again at this instant (never past the job's deadline).
    RetryAfter(Instant),
    /// The answer was cut off: the model's next try for this job gets this budget.
    Resend { budget: Budget },
    /// This job is done with the model (every other job keeps it): the next try goes to
    /// another candidate.
    Exclude,
    /// The job ends without an answer.
    End(End),
}

/// Why a job ends without an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// It cannot succeed on any model (a reason for people).
    Failed(String),
    /// A local tool is missing; a later run may succeed.
    Unavailable(String),
    /// Its retry window is over: deferred, never failed. `ready_at` is when the pool it
    /// waits for may answer, when that is known (and past the window).
    OutOfTime { ready_at: Option<Instant> },
}

/// One job's retry state: which models it may still use, the budget each gets, the
/// failures counted so far, its own backoff and its deadline.
#[derive(Debug)]
pub struct RetryState {
    /// The job's models, in order of preference.
    models: Vec<String>,
    /// The budget a model starts with (a packed request asks for the room its posts need).
    initial: Budget,
    deadline: Instant,
    /// Models this job cannot use (blocked, refused twice, bad output): the model stays for
    /// every other job.
    excluded: HashSet<String>,
    budgets: HashMap<String, Budget>,
    bad_output: HashMap<String, usize>,
    refused: HashMap<String, usize>,
    /// Blocked answers, on any model: the second ends the job.
    blocked: usize,
    /// Off in tests only, so that pauses are exact.
    jitter: bool,
    /// Started at the first transient failure; it goes on growing across models.
    backoff: Option<ExponentialBackoff>,
    last_error: String,
}

impl RetryState {
    /// A job about to make its first attempt on `models`, until `deadline`.
    pub fn new(models: Vec<String>, initial: Budget, deadline: Instant) -> RetryState {
        RetryState {
            models,
            initial,
            deadline,
            excluded: HashSet::new(),
            budgets: HashMap::new(),
            bad_output: HashMap::new(),
            refused: HashMap::new(),
            blocked: 0,
            jitter: true,
            backoff: None,
            last_error: String::from("no model could be tried"),
        }
    }

    /// The models the next attempt may use, or why there is no next attempt. A job with no
    /// model left fails even when its time is also up: no later run would do better.
    pub fn candidates(&self, now: Instant) -> Result<Vec<String>, End> {
        let candidates: Vec<String> = self.models.iter().filter(|m| !self.excluded.contains(*m)).cloned().collect();
        if candidates.is_empty() {
            return Err(End::Failed(self.last_error.clone()));
        }
        if now >= self.deadline {
            return Err(End::OutOfTime { ready_at: None });
        }
        Ok(candidates)
    }

    /// The budget of this job's next attempt on `model`.
    pub fn budget(&self, model: &str) -> Budget {
        self.budgets.get(model).copied().unwrap_or(self.initial)
    }

    /// Whether the job may wait for a pool that will be ready at `at`: not past its window.
    pub fn wait_for_pool(&self, at: Instant) -> Result<(), End> {
        if at > self.deadline {
            return Err(End::OutOfTime { ready_at: Some(at) });
        }
        Ok(())
    }

    /// The end of a job no model or key can serve any more (`why`, from the engine).
    pub fn no_route(&self, why: &str) -> End {
        End::Failed(format!("{why}; last error: {}", self.last_error))
    }

    /// The last failure, for people: what a deferred or failed job says.
    pub fn last_error(&self) -> &str {
        &self.last_error
    }

    /// What the job does after its attempt on `model` failed with `failure` (`message` is
    /// the provider's words for it, already redacted).
    pub fn on_failure(&mut self, model: &str, failure: &Failure, message: &str, now: Instant) -> Verdict {
        self.last_error = format!("{} on {model}: {message}", failure.outcome().as_str());
        match failure {
            // The engine has learned what it needs: the next acquire goes elsewhere, waits,
            // or defers.
            Failure::RateLimited(_) | Failure::ModelNotFound | Failure::KeyRejected | Failure::Billing => {
                Verdict::Retry
            }
            Failure::ServerError | Failure::Timeout | Failure::Connection => Verdict::RetryAfter(self.pause(now)),
            Failure::Refused(_) => self.refused(model),
            Failure::Blocked { reason } => self.blocked(model, reason),
            Failure::BadOutput { truncated } => self.bad_output(model, *truncated),
            Failure::BadRequest => self.exclude(model),
            Failure::Unavailable => Verdict::End(End::Unavailable(self.last_error.clone())),
        }
    }

    /// The pool's breaker spaces requests once trouble lasts; this spaces the job's own
    /// first retries.
    fn pause(&mut self, now: Instant) -> Instant {
        let jitter = self.jitter;
        let delay = self.backoff.get_or_insert_with(|| backoff(jitter)).next().unwrap_or(Duration::from_secs(5));
        (now + delay).min(self.deadline)
    }

    /// The provider already resent without the refused setting; a second refusal means this
    /// job goes to its next model, the model stays.
    fn refused(&mut self, model: &str) -> Verdict {
        self.budgets.remove(model);
        let n = self.refused.entry(model.to_string()).or_default();
        *n += 1;
        if *n >= 2 { self.exclude(model) } else { Verdict::Retry }
    }

    fn blocked(&mut self, model: &str, reason: &str) -> Verdict {
        self.blocked += 1;
        let verdict = self.exclude(model);
        if self.blocked >= 2 {
            return Verdict::End(End::Failed(format!("blocked by the model ({reason}) twice")));
        }
        verdict
    }

    fn bad_output(&mut self, model: &str, truncated: bool) -> Verdict {
        let thinking_off = self.budget(model).thinking_off;
        if truncated && !thinking_off {
            // Thinking ate the output budget: retry on the same model with as much room as
            // it allows and as little thinking as it accepts.
            let budget = Budget { max_output_tokens: Some(RAISED_OUTPUT_TOKENS), thinking_off: true };
            self.budgets.insert(model.to_string(), budget);
            return Verdict::Resend { budget };
        }
        let n = self.bad_output.entry(model.to_string()).or_default();
        *n += 1;
        // With room and no thinking already, the model had its best chance.
        if *n >= 2 || thinking_off { self.exclude(model) } else { Verdict::Retry }
    }

    fn exclude(&mut self, model: &str) -> Verdict {
        self.excluded.insert(model.to_string());
        Verdict::Exclude
    }
}

/// The job's own pauses: from half a second, doubling, at most 5 s (plus up to as much
/// again with jitter), for as long as the job lasts.
fn backoff(jitter: bool) -> ExponentialBackoff {
    let config = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        // Short: long pauses are the breaker's, shared by the pool.
        .with_max_delay(Duration::from_secs(5))
        .without_max_times();
    if jitter { config.with_jitter() } else { config }.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{QuotaScope, QuotaSignal, Refusal};

    const MS: Duration = Duration::from_millis(1);
    const WINDOW: Duration = Duration::from_secs(120);

    fn base() -> Instant {
        // Any instant will do: the policy only ever compares and adds.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    /// A job on models `a` and `b` that went through `history` (each failure with the
    /// message "boom"), with an unjittered backoff so that its pauses are exact.
    fn after(initial: Budget, history: &[(&str, Failure)]) -> RetryState {
        let mut s = RetryState::new(vec!["a".into(), "b".into()], initial, base() + WINDOW);
        s.jitter = false;
        for (model, failure) in history {
            s.on_failure(model, failure, "boom", base());
        }
        s
    }

    fn fresh() -> RetryState {
        after(Budget::default(), &[])
    }

    fn packed() -> Budget {
        Budget { max_output_tokens: Some(8_000), thinking_off: false }
    }

    fn raised() -> Budget {
        Budget { max_output_tokens: Some(RAISED_OUTPUT_TOKENS), thinking_off: true }
    }

    fn per_minute() -> Failure {
        Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerMinute,
            tokens: false,
            quota_id: None,
            quota_value: None,
            retry_delay: None,
        })
    }

    fn blocked() -> Failure {
        Failure::Blocked { reason: "SAFETY".into() }
    }

    const CUT: Failure = Failure::BadOutput { truncated: true };
    const BAD: Failure = Failure::BadOutput { truncated: false };
    const REFUSED: Failure = Failure::Refused(Refusal::Thinking);

    struct Row {
        name: &'static str,
        before: RetryState,
        /// When the failure arrives, after `base()`.
        at: Duration,
        model: &'static str,
        failure: Failure,
        verdict: Verdict,
        /// The candidates afterwards (at `base()`), and the budgets `a` and `b` get next.
        candidates: Result<Vec<&'static str>, End>,
        budgets: (Budget, Budget),
    }

    fn row(name: &'static str, before: RetryState, model: &'static str, failure: Failure, verdict: Verdict) -> Row {
        let initial = before.initial;
        Row {
            name,
            before,
            at: Duration::ZERO,
            model,
            failure,
            verdict,
            candidates: Ok(vec!["a", "b"]),
            budgets: (initial, initial),
        }
    }

    impl Row {
        fn at(mut self, at: Duration) -> Row {
            self.at = at;
            self
        }
        fn leaves(mut self, candidates: &[&'static str]) -> Row {
            self.candidates = Ok(candidates.to_vec());
            self
        }
        fn ends(mut self, end: End) -> Row {
            self.candidates = Err(end);
            self
        }
        fn budgets(mut self, a: Budget, b: Budget) -> Row {
            self.budgets = (a, b);
            self
        }
    }

    fn failed(why: &str) -> End {
        End::Failed(why.to_string())
    }

    /// The engine's business (nothing changes for the job), and transient trouble: the
    /// job's own backoff, growing across models, capped, never past the deadline.
    fn pool_rows() -> Vec<Row> {
        let d = Budget::default();
        vec![
            row("per-minute 429", fresh(), "a", per_minute(), Verdict::Retry),
            row("model not found", fresh(), "a", Failure::ModelNotFound, Verdict::Retry),
            row("key rejected", fresh(), "a", Failure::KeyRejected, Verdict::Retry),
            row("billing", fresh(), "a", Failure::Billing, Verdict::Retry),
            row("5xx", fresh(), "a", Failure::ServerError, Verdict::RetryAfter(base() + 500 * MS)),
            row("timeout", fresh(), "a", Failure::Timeout, Verdict::RetryAfter(base() + 500 * MS)),
            row("unreachable", fresh(), "a", Failure::Connection, Verdict::RetryAfter(base() + 500 * MS)),
            row(
                "third transient, whatever the model",
                after(d, &[("a", Failure::ServerError), ("b", Failure::Timeout)]),
                "a",
                Failure::Connection,
                Verdict::RetryAfter(base() + 2000 * MS),
            ),
            row(
                "sixth transient: capped at 5 s",
                after(d, &vec![("a", Failure::ServerError); 5]),
                "a",
                Failure::ServerError,
                Verdict::RetryAfter(base() + 5000 * MS),
            ),
            row(
                "transient near the deadline",
                fresh(),
                "a",
                Failure::ServerError,
                Verdict::RetryAfter(base() + WINDOW),
            )
            .at(WINDOW - 100 * MS),
        ]
    }

    /// A refused parameter: once is the provider's business, twice moves the job on. A
    /// blocked answer: the next model once, then the job fails with the reason. A request
    /// the model will never take, a missing local tool.
    fn refusal_rows() -> Vec<Row> {
        let d = Budget::default();
        vec![
            row("refused once", fresh(), "a", REFUSED, Verdict::Retry),
            row("refused twice", after(d, &[("a", REFUSED)]), "a", REFUSED, Verdict::Exclude).leaves(&["b"]),
            row("refused, counted per model", after(d, &[("a", REFUSED)]), "b", REFUSED, Verdict::Retry),
            row("refused drops a raised budget", after(d, &[("a", CUT)]), "a", REFUSED, Verdict::Retry),
            row("refused, packed", after(packed(), &[("a", CUT)]), "a", REFUSED, Verdict::Retry),
            row("blocked", fresh(), "a", blocked(), Verdict::Exclude).leaves(&["b"]),
            row(
                "blocked twice",
                after(d, &[("a", blocked())]),
                "b",
                Failure::Blocked { reason: "OTHER".into() },
                Verdict::End(failed("blocked by the model (OTHER) twice")),
            )
            .ends(failed("blocked on b: boom")),
            row("bad request", fresh(), "a", Failure::BadRequest, Verdict::Exclude).leaves(&["b"]),
            row(
                "bad request on the last model",
                after(d, &[("a", Failure::BadRequest)]),
                "b",
                Failure::BadRequest,
                Verdict::Exclude,
            )
            .ends(failed("bad_request on b: boom")),
            row(
                "unavailable",
                fresh(),
                "a",
                Failure::Unavailable,
                Verdict::End(End::Unavailable("server_error on a: boom".into())),
            ),
        ]
    }

    /// Bad output: a cut-off answer first gets room and no thinking on the same model; a
    /// model that then fails again, or fails twice, is done for the job.
    fn bad_output_rows() -> Vec<Row> {
        let d = Budget::default();
        vec![
            row("cut off", fresh(), "a", CUT, Verdict::Resend { budget: raised() }).budgets(raised(), d),
            row("cut off, packed", after(packed(), &[]), "b", CUT, Verdict::Resend { budget: raised() })
                .budgets(packed(), raised()),
            row("cut off with room", after(d, &[("a", CUT)]), "a", CUT, Verdict::Exclude)
                .leaves(&["b"])
                .budgets(raised(), d),
            row("bad with room", after(d, &[("a", CUT)]), "a", BAD, Verdict::Exclude)
                .leaves(&["b"])
                .budgets(raised(), d),
            row("bad once", fresh(), "a", BAD, Verdict::Retry),
            row("bad twice", after(d, &[("a", BAD)]), "a", BAD, Verdict::Exclude).leaves(&["b"]),
            row("bad, counted per model", after(d, &[("a", BAD)]), "b", BAD, Verdict::Retry),
            row("bad then cut off", after(d, &[("a", BAD)]), "a", CUT, Verdict::Resend { budget: raised() })
                .budgets(raised(), d),
            row("bad, cut off, cut off", after(d, &[("a", BAD), ("a", CUT)]), "a", CUT, Verdict::Exclude)
                .leaves(&["b"])
                .budgets(raised(), d),
        ]
    }

    #[test]
    fn what_a_failure_means_for_the_job() {
        for r in [pool_rows(), refusal_rows(), bad_output_rows()].into_iter().flatten() {
            let mut s = r.before;
            let verdict = s.on_failure(r.model, &r.failure, "boom", base() + r.at);
            assert_eq!(verdict, r.verdict, "{}", r.name);
            let candidates = s.candidates(base());
            assert_eq!(candidates, r.candidates.map(|c| c.iter().map(|m| m.to_string()).collect()), "{}", r.name);
            assert_eq!((s.budget("a"), s.budget("b")), r.budgets, "{}", r.name);
            let said = format!("{} on {}: boom", r.failure.outcome().as_str(), r.model);
            assert_eq!(s.last_error(), said, "{}", r.name);
        }
    }

    /// What [`RetryState::candidates`] answers.
    type Candidates = Result<Vec<String>, End>;

    #[test]
    fn whether_a_job_gets_another_attempt() {
        let d = Budget::default();
        let all_out = || after(d, &[("a", Failure::BadRequest), ("b", blocked())]);
        let none = RetryState::new(vec![], d, base() + WINDOW);
        let rows: Vec<(&str, Candidates, Candidates)> = vec![
            ("fresh", fresh().candidates(base()), Ok(vec!["a".into(), "b".into()])),
            ("one model left", after(d, &[("a", blocked())]).candidates(base()), Ok(vec!["b".into()])),
            ("no model left", all_out().candidates(base()), Err(End::Failed("blocked on b: boom".into()))),
            (
                "no model left, out of time too: failed, not deferred",
                all_out().candidates(base() + WINDOW),
                Err(End::Failed("blocked on b: boom".into())),
            ),
            ("no model at all", none.candidates(base()), Err(End::Failed("no model could be tried".into()))),
            ("just before the deadline", fresh().candidates(base() + WINDOW - MS), Ok(vec!["a".into(), "b".into()])),
            ("at the deadline", fresh().candidates(base() + WINDOW), Err(End::OutOfTime { ready_at: None })),
        ];
        for (name, got, want) in rows {
            assert_eq!(got, want, "{name}");
        }
        let late = base() + WINDOW + MS;
        let waits = [
            ("a pool ready within the window", fresh().wait_for_pool(base() + WINDOW), Ok(())),
            ("a pool ready after it", fresh().wait_for_pool(late), Err(End::OutOfTime { ready_at: Some(late) })),
        ];
        for (name, got, want) in waits {
            assert_eq!(got, want, "{name}");
        }
        let routes = [
            (
                "no route, first attempt",
                fresh().no_route("no key left"),
                "no key left; last error: no model could be tried",
            ),
            (
                "no route after a failure",
                after(d, &[("a", per_minute())]).no_route("no key left"),
                "no key left; last error: rate_limited on a: boom",
            ),
        ];
        for (name, got, want) in routes {
            assert_eq!(got, End::Failed(want.into()), "{name}");
        }
    }

    #[test]
    fn the_jobs_own_backoff_starts_at_half_a_second_and_stays_short() {
        // The production backoff is jittered: each pause is its step plus up to as much again.
        let mut s = RetryState::new(vec!["a".into()], Budget::default(), base() + WINDOW);
        let steps = [500, 1000, 2000, 4000, 5000, 5000];
        for step in steps {
            let Verdict::RetryAfter(at) = s.on_failure("a", &Failure::ServerError, "boom", base()) else {
                panic!("a 5xx is retried after a pause")
            };
            let pause = at - base();
            assert!(pause >= step * MS && pause < 2 * step * MS, "{pause:?} for a step of {step} ms");
        }
    }
}
