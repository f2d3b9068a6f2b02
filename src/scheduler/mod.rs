//! The scheduler: turns one job's task into an answer, through the quota engine, with
//! at most `concurrency` requests in flight, recording every attempt in the ledger.
//!
//! [`Dispatcher`] is the executor: a slot, a quota permit, the request, its ledger row.
//! What a failure means for the job (wait, next model, a raised budget, give up) is the
//! pure policy in [`retry`]; what it means for the pool is the quota engine's.

pub mod retry;

use crate::attempt::{AttemptRecord, Failure};
use crate::clock::Clock;
use crate::ledger::Ledger;
use crate::provider::{Call, CallError, Generation, Provider};
use crate::quota::estimate::task_tokens;
use crate::quota::{Decision, Permit, QuotaEngine};
use crate::redact::shorten;
use crate::task::{Budget, Task};
use jiff::Timestamp;
use retry::{End, RetryState, Verdict};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
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

/// Runs jobs' requests, one attempt after another as the job's [`RetryState`] decides.
/// Built with [`Dispatcher::new`]; callers read what they need through its accessors.
pub struct Dispatcher {
    provider: Arc<dyn Provider>,
    quota: Arc<QuotaEngine>,
    ledger: Arc<Ledger>,
    /// Requests in flight at most.
    slots: Arc<Semaphore>,
    run_id: String,
    clock: Clock,
    shutdown: Shutdown,
    ocr_models: Vec<String>,
    summary_models: Vec<String>,
}

/// The answer and the model that gave it.
#[derive(Debug)]
pub struct Answered {
    pub generation: Generation,
    pub model: String,
}

/// A request cleared to leave: its concurrency slot and its quota permit.
struct Cleared {
    slot: OwnedSemaphorePermit,
    permit: Permit,
}

impl Dispatcher {
    /// A dispatcher for run `run_id`: one request at a time and no model until
    /// [`Dispatcher::with_concurrency`] and [`Dispatcher::with_models`] say otherwise.
    pub fn new(
        provider: Arc<dyn Provider>,
        quota: Arc<QuotaEngine>,
        ledger: Arc<Ledger>,
        run_id: impl Into<String>,
        clock: Clock,
        shutdown: Shutdown,
    ) -> Dispatcher {
        Dispatcher {
            provider,
            quota,
            ledger,
            slots: Arc::new(Semaphore::new(1)),
            run_id: run_id.into(),
            clock,
            shutdown,
            ocr_models: Vec::new(),
            summary_models: Vec::new(),
        }
    }

    /// At most `n` requests in flight.
    pub fn with_concurrency(mut self, n: usize) -> Dispatcher {
        self.slots = Arc::new(Semaphore::new(n));
        self
    }

    /// The models each stage may use, in order of preference.
    pub fn with_models(mut self, ocr: Vec<String>, summary: Vec<String>) -> Dispatcher {
        self.set_models(ocr, summary);
        self
    }

    /// Replaces the models (once ListModels has cut the configured lists).
    pub fn set_models(&mut self, ocr: Vec<String>, summary: Vec<String>) {
        self.ocr_models = ocr;
        self.summary_models = summary;
    }

    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub fn ocr_models(&self) -> &[String] {
        &self.ocr_models
    }

    pub fn summary_models(&self) -> &[String] {
        &self.summary_models
    }

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

    /// Attempt after attempt: a slot and a permit, the request, then the policy's verdict.
    async fn request_inner(&self, task: &Task, post_id: Option<&str>, job_ids: &[i64]) -> Result<Answered, JobError> {
        let deadline = Instant::now() + self.quota.policy().job_window;
        // A packed request starts with the output budget its posts need.
        let mut retry = RetryState::new(self.models_for(task).to_vec(), task.initial_budget(), deadline);
        let tokens = task_tokens(task);
        loop {
            if self.shutdown.stopping() {
                return Err(JobError::Interrupted);
            }
            let candidates = retry.candidates(Instant::now()).map_err(|end| self.end(end, &retry))?;
            let Some(Cleared { slot, permit }) = self.clear(&candidates, tokens, &retry).await? else { continue };
            let model = permit.pool.model.clone();
            let sent = self.send(task, &permit, retry.budget(&model), post_id, job_ids).await;
            drop(slot);
            let error = match sent {
                Sent::Answer(generation) => return Ok(Answered { generation, model }),
                Sent::Abandoned => return Err(JobError::Interrupted),
                Sent::Failed(e) => e,
            };
            match retry.on_failure(&model, &error.failure, &error.message, Instant::now()) {
                Verdict::Retry | Verdict::Resend { .. } | Verdict::Exclude => {}
                Verdict::RetryAfter(at) => self.pause_until(at).await?,
                Verdict::End(end) => return Err(self.end(end, &retry)),
            }
        }
    }

    /// A slot first, then the quota: pacing tokens are never spent on a request that would
    /// then sit waiting for a slot. `None` once the job has waited for a pool: ask again.
    async fn clear(&self, candidates: &[String], tokens: u64, retry: &RetryState) -> Result<Option<Cleared>, JobError> {
        let slot = tokio::select! {
            s = self.slots.clone().acquire_owned() => s.expect("semaphore never closed"),
            _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
        };
        match self.quota.acquire(candidates, tokens) {
            Decision::Go(permit) => Ok(Some(Cleared { slot, permit })),
            Decision::Wait(at) => {
                // Nobody holds a slot while waiting for a pool.
                drop(slot);
                retry.wait_for_pool(at).map_err(|end| self.end(end, retry))?;
                let changed = self.quota.changed.notified();
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = changed => {}
                    _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
                }
                Ok(None)
            }
            Decision::Exhausted(reset) => Err(JobError::Deferred(reset)),
            Decision::Stopped(_) => Err(JobError::Deferred(self.clock.now())),
            Decision::NoRoute(why) => Err(self.end(retry.no_route(&why), retry)),
        }
    }

    /// Waits out the job's own backoff, unless the run stops meanwhile.
    async fn pause_until(&self, at: Instant) -> Result<(), JobError> {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => Ok(()),
            _ = self.shutdown.reached(1) => Err(JobError::Interrupted),
        }
    }

    /// The policy's end of a job, as the job's caller knows it.
    fn end(&self, end: End, retry: &RetryState) -> JobError {
        match end {
            End::Failed(why) => JobError::Failed(why),
            End::Unavailable(why) => JobError::Unavailable(why),
            End::OutOfTime { ready_at } => self.out_of_time(ready_at, retry.last_error()),
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

    /// One attempt: written ahead in the ledger, sent, completed with its outcome.
    async fn send(&self, task: &Task, permit: &Permit, budget: Budget, post_id: Option<&str>, job_ids: &[i64]) -> Sent {
        // The latency counts from the attempt's `ts`, the write-ahead included: `ts + latency`
        // is when the answer arrived, which `audit` uses to tell requests in flight from waste.
        let started = self.clock.now();
        let t0 = std::time::Instant::now();
        let mut record = self.attempt_record(task, permit, post_id, started);
        // Written ahead: a request the ledger cannot hold does not leave.
        let Some(attempt) = self.ledger.begin_off(&record, job_ids).await else { return Sent::Abandoned };
        let call = Call { key: permit.key.as_ref(), model: &permit.pool.model, task, budget };
        let result = tokio::select! {
            r = self.provider.generate(call) => Some(r),
            _ = self.shutdown.reached(2) => None,
        };
        record.latency_ms = t0.elapsed().as_millis() as u64;
        let sent = self.settle(&mut record, permit, result);
        // The engine learns first, before anything else awaits: a 429 that closed the pool
        // must close it before another job can take a permit for it.
        self.learn(permit, &sent);
        self.ledger.complete_off(attempt, &record).await;
        sent
    }

    /// What the quota engine learns from an attempt's end.
    fn learn(&self, permit: &Permit, sent: &Sent) {
        match sent {
            Sent::Answer(_) => self.quota.observe(permit, Ok(())),
            Sent::Failed(e) => {
                self.quota.observe(permit, Err(&e.failure));
                if e.failure == Failure::Connection {
                    self.quota.unreachable(&e.message);
                }
            }
            Sent::Abandoned => {}
        }
    }

    /// The ledger row of an attempt at its start.
    fn attempt_record(&self, task: &Task, permit: &Permit, post_id: Option<&str>, started: Timestamp) -> AttemptRecord {
        AttemptRecord {
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
        }
    }

    /// Fills the attempt's row with how it ended (`None`: abandoned at shutdown).
    fn settle(
        &self,
        record: &mut AttemptRecord,
        permit: &Permit,
        result: Option<Result<Generation, CallError>>,
    ) -> Sent {
        match result {
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
        }
    }
}

enum Sent {
    Answer(Generation),
    Failed(CallError),
    Abandoned,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKey, RetryPolicy};
    use crate::provider::{Answer, ModelInfo, PostInput, Usage};
    use crate::store::Store;
    use std::sync::Mutex;
    use std::time::Duration;

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
        let d = Dispatcher::new(
            provider.clone(),
            quota,
            Arc::new(Ledger::open(store).unwrap()),
            "test",
            Clock::system(),
            Shutdown::new().1,
        )
        .with_models(vec!["a".into(), "b".into()], vec!["a".into(), "b".into()]);
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
