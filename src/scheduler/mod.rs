//! The scheduler: turns one job's task into an answer, through the quota engine, with
//! at most `concurrency` requests in flight, recording every attempt in the ledger.
//!
//! The retry policy lives here, per job: the engine decides *where* a request may go;
//! this decides *whether* a failed job tries again, on which models, with what budget.
//!
//! - Transient trouble (5xx, timeouts, an unreachable host, quotas) never fails a job: it
//!   retries across its models for at most `job_window`, then is left deferred for a
//!   later run (exit 75). The pool's circuit breaker, not a count, spaces the requests.
//! - A budget (a raised output limit, thinking reduced) belongs to the model it was raised
//!   for and never travels to another one; a refused parameter never drops a model (the
//!   provider resends without it; twice refused, this job moves on, the model stays).

use crate::ledger::{AttemptRecord, Ledger};
use crate::provider::redact::shorten;
use crate::provider::{Budget, Call, Failure, Generation, Provider, RAISED_OUTPUT_TOKENS, Task};
use crate::quota::clock::Clock;
use crate::quota::estimate::task_tokens;
use crate::quota::{Decision, Permit, QuotaEngine};
use backon::BackoffBuilder;
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tracing::Instrument;

/// Why a job got no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum JobError {
    /// Every pool it could use is exhausted for the day; resume then.
    Deferred(Timestamp),
    /// It cannot succeed on any model (a reason for people).
    Failed(String),
    /// A local tool is missing; a later run may succeed.
    Unavailable(String),
    /// The run is shutting down.
    Interrupted,
}

/// Shutdown: the first signal stops new requests, the second abandons those in flight.
#[derive(Clone)]
pub struct Shutdown {
    level: watch::Receiver<u8>,
}

impl Shutdown {
    pub fn new() -> (watch::Sender<u8>, Shutdown) {
        let (tx, rx) = watch::channel(0);
        (tx, Shutdown { level: rx })
    }
    pub fn stopping(&self) -> bool {
        *self.level.borrow() >= 1
    }
    /// Resolves once the shutdown reaches `level` (never, when nobody can ask for one).
    pub async fn reached(&self, level: u8) {
        let mut rx = self.level.clone();
        // No sender left means nobody can ask for a shutdown any more: never reached.
        if rx.wait_for(|l| *l >= level).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

pub struct Dispatcher {
    pub provider: Arc<dyn Provider>,
    pub quota: Arc<QuotaEngine>,
    pub ledger: Arc<Ledger>,
    pub slots: Arc<Semaphore>,
    pub run_id: String,
    pub clock: Clock,
    pub shutdown: Shutdown,
    pub ocr_models: Vec<String>,
    pub summary_models: Vec<String>,
}

/// The answer and the model that gave it.
#[derive(Debug)]
pub struct Answered {
    pub generation: Generation,
    pub model: String,
}

impl Dispatcher {
    fn models_for(&self, task: &Task) -> &[String] {
        match task {
            Task::Ocr { .. } => &self.ocr_models,
            Task::Combined { .. } | Task::Summary { .. } | Task::Packed { .. } => &self.summary_models,
        }
    }

    /// Runs one job's request to an answer or a verdict.
    pub async fn request(&self, task: &Task, post_id: Option<&str>, job_ids: &[i64]) -> Result<Answered, JobError> {
        let span = tracing::info_span!("request", stage = task.stage().as_str(), post = post_id.unwrap_or("-"));
        self.request_inner(task, post_id, job_ids).instrument(span).await
    }

    async fn request_inner(&self, task: &Task, post_id: Option<&str>, job_ids: &[i64]) -> Result<Answered, JobError> {
        let models = self.models_for(task).to_vec();
        let tokens = task_tokens(task);
        let deadline = Instant::now() + self.quota.policy().job_window;
        // Models this job cannot use (blocked, refused twice, bad output): the model
        // stays for every other job.
        let mut excluded: HashSet<String> = HashSet::new();
        let mut budgets: HashMap<String, Budget> = HashMap::new();
        let mut bad_output: HashMap<String, usize> = HashMap::new();
        let mut refused: HashMap<String, usize> = HashMap::new();
        let mut backoff: Option<backon::ExponentialBackoff> = None;
        let mut blocked = 0;
        let mut last_error = String::from("no model could be tried");
        loop {
            if self.shutdown.stopping() {
                return Err(JobError::Interrupted);
            }
            let candidates: Vec<String> = models.iter().filter(|m| !excluded.contains(*m)).cloned().collect();
            if candidates.is_empty() {
                return Err(JobError::Failed(last_error));
            }
            if Instant::now() >= deadline {
                return Err(self.out_of_time(None, &last_error));
            }
            // A slot first, then the quota: pacing tokens are never spent on a request that
            // would then sit waiting for a slot.
            let slot = tokio::select! {
                s = self.slots.clone().acquire_owned() => s.expect("semaphore never closed"),
                _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
            };
            let permit = match self.quota.acquire(&candidates, tokens) {
                Decision::Go(p) => p,
                Decision::Wait(at) => {
                    drop(slot);
                    if at > deadline {
                        return Err(self.out_of_time(Some(at), &last_error));
                    }
                    let changed = self.quota.changed.notified();
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                        _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
                    }
                    continue;
                }
                Decision::Exhausted(reset) => return Err(JobError::Deferred(reset)),
                Decision::Stopped(_) => return Err(JobError::Deferred(self.clock.now())),
                Decision::NoRoute(why) => return Err(JobError::Failed(format!("{why}; last error: {last_error}"))),
            };
            let model = permit.pool.model.clone();
            // A packed request starts with the output budget its posts need.
            let budget = budgets.get(&model).copied().unwrap_or_else(|| task.initial_budget());
            let outcome = self.send(task, &permit, budget, post_id, job_ids).await;
            drop(slot);
            let failure = match outcome {
                Sent::Answer(generation) => {
                    self.quota.observe(&permit, Ok(()));
                    return Ok(Answered { generation, model });
                }
                Sent::Abandoned => return Err(JobError::Interrupted),
                Sent::Failed(e) => {
                    self.quota.observe(&permit, Err(&e.failure));
                    if e.failure == Failure::Connection {
                        self.quota.unreachable(&e.message);
                    }
                    last_error = format!("{} on {model}: {}", e.failure.outcome().as_str(), e.message);
                    e.failure
                }
            };
            match failure {
                // The engine has learned what it needs; the next acquire goes elsewhere,
                // waits, or defers.
                Failure::RateLimited(_) | Failure::ModelNotFound | Failure::KeyRejected | Failure::Billing => {}
                Failure::ServerError | Failure::Timeout | Failure::Connection => {
                    // The pool's breaker spaces requests once trouble lasts; this spaces the
                    // job's own first retries.
                    let delay = backoff
                        .get_or_insert_with(|| {
                            backon::ExponentialBuilder::default()
                                .with_min_delay(Duration::from_millis(500))
                                // Short: long pauses are the breaker's, shared by the pool.
                                .with_max_delay(Duration::from_secs(5))
                                .with_jitter()
                                .without_max_times()
                                .build()
                        })
                        .next()
                        .unwrap_or(Duration::from_secs(5));
                    let until = (Instant::now() + delay).min(deadline);
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
                    }
                }
                Failure::Refused(_) => {
                    // The provider already resent without the refused setting; a second
                    // refusal means this job goes to its next model, the model stays.
                    budgets.remove(&model);
                    let n = refused.entry(model.clone()).or_default();
                    *n += 1;
                    if *n >= 2 {
                        excluded.insert(model);
                    }
                }
                Failure::Blocked { reason } => {
                    blocked += 1;
                    excluded.insert(model);
                    if blocked >= 2 {
                        return Err(JobError::Failed(format!("blocked by the model ({reason}) twice")));
                    }
                }
                Failure::BadOutput { truncated: true } if !budget.thinking_off => {
                    // Thinking ate the output budget: retry on the same model with as much
                    // room as it allows and as little thinking as it accepts.
                    budgets.insert(model, Budget { max_output_tokens: Some(RAISED_OUTPUT_TOKENS), thinking_off: true });
                }
                Failure::BadOutput { .. } => {
                    let n = bad_output.entry(model.clone()).or_default();
                    *n += 1;
                    if *n >= 2 || budget.thinking_off {
                        excluded.insert(model);
                    }
                }
                Failure::BadRequest => {
                    excluded.insert(model);
                }
                Failure::Unavailable => return Err(JobError::Unavailable(last_error)),
            }
        }
    }

    /// A job that ran out of its retry window: deferred (never failed), to resume when the
    /// pool it waits for may answer, or at once in a later run.
    fn out_of_time(&self, ready_at: Option<Instant>, last_error: &str) -> JobError {
        let wait = ready_at.map(|at| at.saturating_duration_since(Instant::now())).unwrap_or_default();
        let resume = self.clock.now().checked_add(wait).unwrap_or_else(|_| self.clock.now());
        tracing::warn!(
            "still failing after the retry window ({}s); left deferred for a later run. Last error: {last_error}",
            self.quota.policy().job_window.as_secs()
        );
        JobError::Deferred(resume)
    }

    async fn send(&self, task: &Task, permit: &Permit, budget: Budget, post_id: Option<&str>, job_ids: &[i64]) -> Sent {
        // The latency counts from the attempt's `ts`, the write-ahead included: `ts + latency`
        // is when the answer arrived, which `audit` uses to tell requests in flight from waste.
        let started = self.clock.now();
        let t0 = std::time::Instant::now();
        let mut record = AttemptRecord {
            post_id: post_id.map(str::to_string),
            posts: match task {
                Task::Packed { posts, .. } => Some(posts.len() as u32),
                Task::Combined { .. } | Task::Summary { .. } => Some(1),
                Task::Ocr { .. } => None,
            },
            ..AttemptRecord::new(
                started.to_string(),
                &self.run_id,
                task.stage().as_str(),
                &permit.pool.provider,
                &permit.pool.project,
                permit.key_id(),
                &permit.pool.model,
            )
        };
        // Written ahead: a request the ledger cannot hold does not leave.
        let Some(attempt) = self.ledger.begin(&record, job_ids) else { return Sent::Abandoned };
        let call = Call { key: permit.key.as_ref(), model: &permit.pool.model, task, budget };
        let result = tokio::select! {
            r = self.provider.generate(call) => Some(r),
            _ = self.shutdown.reached(2) => None,
        };
        record.latency_ms = t0.elapsed().as_millis() as u64;
        let sent = match result {
            None => {
                record.outcome = "timeout".into();
                record.error = Some("abandoned at shutdown".into());
                Sent::Abandoned
            }
            Some(Ok(g)) => {
                record.http_status = (self.provider.name() != "local").then_some(200);
                record.outcome = "ok".into();
                record.prompt_tokens = g.usage.prompt_tokens;
                record.output_tokens = g.usage.output_tokens;
                record.thoughts_tokens = g.usage.thoughts_tokens;
                Sent::Answer(g)
            }
            Some(Err(e)) => {
                record.http_status = e.http_status;
                record.outcome = e.failure.outcome().as_str().into();
                record.prompt_tokens = e.usage.prompt_tokens;
                record.output_tokens = e.usage.output_tokens;
                record.thoughts_tokens = e.usage.thoughts_tokens;
                if let Failure::RateLimited(q) = &e.failure {
                    record.quota_id = q.quota_id.clone();
                    record.quota_value = q.quota_value;
                    record.retry_delay_ms = q.retry_delay.map(|d| d.as_millis() as u64);
                }
                record.error = Some(shorten(&e.message, 300));
                tracing::debug!(model = %permit.pool.model, key = permit.key_id(), outcome = %record.outcome, "{}", e.message);
                Sent::Failed(e)
            }
        };
        self.ledger.complete(attempt, &record);
        sent
    }
}

enum Sent {
    Answer(Generation),
    Failed(crate::provider::CallError),
    Abandoned,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKey, RetryPolicy};
    use crate::provider::{Answer, CallError, ModelInfo, PostInput, Usage};
    use crate::store::Store;
    use std::sync::Mutex;

    /// Answers each call with the next scripted result and remembers what it was asked.
    struct Scripted {
        script: Mutex<Vec<Result<(), Failure>>>,
        calls: Mutex<Vec<(String, Budget)>>,
    }

    #[async_trait::async_trait]
    impl Provider for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn list_models(&self, _: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError> {
            Ok(None)
        }
        async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError> {
            self.calls.lock().unwrap().push((call.model.to_string(), call.budget));
            let mut script = self.script.lock().unwrap();
            // The last entry repeats for ever.
            let next = if script.len() > 1 { script.remove(0) } else { script[0].clone() };
            match next {
                Ok(()) => Ok(Generation {
                    answer: Answer::Summary(Default::default()),
                    usage: Usage::default(),
                    model_version: None,
                }),
                Err(f) => Err(CallError::new(f, Some(200), "scripted")),
            }
        }
    }

    fn dispatcher(dir: &std::path::Path, script: Vec<Result<(), Failure>>) -> (Dispatcher, Arc<Scripted>) {
        let store = Arc::new(Store::open(dir).unwrap());
        let provider = Arc::new(Scripted { script: Mutex::new(script), calls: Mutex::new(Vec::new()) });
        let policy = RetryPolicy {
            breaker_pause: Duration::from_secs(60),
            job_window: Duration::from_secs(120),
            ..Default::default()
        };
        let quota = Arc::new(
            QuotaEngine::new("scripted", &[], Default::default(), store.clone(), Clock::system()).with_policy(policy),
        );
        let d = Dispatcher {
            provider: provider.clone(),
            quota,
            ledger: Arc::new(Ledger::open(store).unwrap()),
            slots: Arc::new(Semaphore::new(1)),
            run_id: "test".into(),
            clock: Clock::system(),
            shutdown: Shutdown::new().1,
            ocr_models: vec!["a".into(), "b".into()],
            summary_models: vec!["a".into(), "b".into()],
        };
        (d, provider)
    }

    fn task() -> Task {
        let post = Arc::new(PostInput { post_id: "p".into(), title: None, text: "一面".into(), images: vec![] });
        Task::Summary { post, ocr: vec![] }
    }

    #[tokio::test]
    async fn truncated_answer_retries_with_room_and_no_thinking_then_next_model() {
        let dir = tempfile::tempdir().unwrap();
        let truncated = Failure::BadOutput { truncated: true };
        let (d, p) = dispatcher(dir.path(), vec![Err(truncated.clone()), Err(truncated), Ok(())]);
        let answered = d.request(&task(), Some("p"), &[]).await.unwrap();
        assert_eq!(answered.model, "b");
        let calls = p.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3);
        assert_eq!((calls[0].0.as_str(), calls[0].1.thinking_off), ("a", false));
        assert_eq!((calls[1].0.as_str(), calls[1].1.thinking_off), ("a", true));
        assert!(calls[1].1.max_output_tokens.is_some());
        // The next model starts again from the default budget.
        assert_eq!((calls[2].0.as_str(), calls[2].1.thinking_off), ("b", false));
    }

    #[tokio::test]
    async fn blocked_goes_to_the_next_model_once_then_fails_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = Failure::Blocked { reason: "SAFETY".into() };
        let (d, p) = dispatcher(dir.path(), vec![Err(blocked.clone()), Err(blocked)]);
        let err = d.request(&task(), Some("p"), &[]).await.unwrap_err();
        assert!(matches!(&err, JobError::Failed(m) if m.contains("SAFETY")), "{err:?}");
        assert_eq!(p.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_then_move_on() {
        let dir = tempfile::tempdir().unwrap();
        let (d, p) = dispatcher(
            dir.path(),
            vec![Err(Failure::ServerError), Err(Failure::Timeout), Err(Failure::Connection), Ok(())],
        );
        let answered = d.request(&task(), Some("p"), &[]).await.unwrap();
        assert_eq!(answered.model, "b", "three transient failures on `a` pause its pool; the job goes to `b`");
        assert_eq!(p.calls.lock().unwrap().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_out_of_time_is_deferred_never_failed() {
        let dir = tempfile::tempdir().unwrap();
        let (d, p) = dispatcher(dir.path(), vec![Err(Failure::ServerError)]);
        let before = d.clock.now();
        match d.request(&task(), Some("p"), &[]).await {
            Err(JobError::Deferred(at)) => assert!(at >= before),
            other => panic!("{other:?}"),
        }
        // Both pools tripped their breakers (3 each), then were only probed, at a growing
        // pause (60 s, 120 s): two minutes of trouble cost a handful of requests.
        let calls = p.calls.lock().unwrap().len();
        assert!((6..=8).contains(&calls), "{calls}");
    }

    #[tokio::test]
    async fn a_refused_parameter_never_excludes_the_model_for_other_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let refused = Failure::Refused(crate::provider::Refusal::Thinking);
        let (d, p) = dispatcher(dir.path(), vec![Err(refused.clone()), Err(refused), Ok(())]);
        let answered = d.request(&task(), Some("p"), &[]).await.unwrap();
        assert_eq!(answered.model, "b");
        // The next job starts on `a` again: nothing was dropped.
        let answered = d.request(&task(), Some("p"), &[]).await.unwrap();
        assert_eq!(answered.model, "a");
        assert_eq!(p.calls.lock().unwrap()[3].0, "a");
        assert!(d.quota.dropped_models().is_empty());
    }
}
