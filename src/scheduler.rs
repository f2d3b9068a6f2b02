//! The scheduler: turns one job's task into an answer, through the quota engine, with
//! at most `concurrency` requests in flight, recording every attempt in the ledger.
//!
//! The retry policy lives here, per job: the engine decides *where* a request may go;
//! this decides *whether* a failed job tries again, on which models, with what budget.

use crate::ledger::{AttemptRecord, Ledger};
use crate::provider::redact::shorten;
use crate::provider::{Budget, Call, Failure, Generation, Provider, Task};
use crate::quota::clock::Clock;
use crate::quota::estimate::task_tokens;
use crate::quota::{Decision, Permit, QuotaEngine};
use backon::BackoffBuilder;
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

/// Transient failures (5xx, timeouts, broken bodies) tolerated per model before a job
/// moves on to the next model of its list.
const TRANSIENT_TRIES: usize = 3;

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
    async fn reached(&self, level: u8) {
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
        let mut excluded: HashSet<String> = HashSet::new();
        let mut backoffs: HashMap<String, backon::ExponentialBackoff> = HashMap::new();
        let mut transient: HashMap<String, usize> = HashMap::new();
        let mut bad_output: HashMap<String, usize> = HashMap::new();
        let mut blocked = 0;
        let mut budget = task.initial_budget();
        let mut last_error = String::from("no model could be tried");
        loop {
            if self.shutdown.stopping() {
                return Err(JobError::Interrupted);
            }
            let candidates: Vec<String> = models.iter().filter(|m| !excluded.contains(*m)).cloned().collect();
            if candidates.is_empty() {
                return Err(JobError::Failed(last_error));
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
                    let changed = self.quota.changed.notified();
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                        _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
                    }
                    continue;
                }
                Decision::Exhausted(reset) => return Err(JobError::Deferred(reset)),
                Decision::NoRoute(why) => return Err(JobError::Failed(format!("{why}; last error: {last_error}"))),
            };
            let outcome = self.send(task, &permit, budget, post_id, job_ids).await;
            drop(slot);
            let failure = match outcome {
                Sent::Answer(generation) => {
                    self.quota.observe(&permit, Ok(()));
                    return Ok(Answered { generation, model: permit.pool.model });
                }
                Sent::Abandoned => return Err(JobError::Interrupted),
                Sent::Failed(e) => {
                    self.quota.observe(&permit, Err(&e.failure));
                    last_error = format!("{} on {}: {}", e.failure.outcome().as_str(), permit.pool.model, e.message);
                    e.failure
                }
            };
            let model = permit.pool.model.clone();
            match failure {
                // The engine has learned what it needs; the next acquire goes elsewhere or waits.
                Failure::RateLimited(_) | Failure::ModelNotFound | Failure::KeyRejected => {}
                Failure::ServerError | Failure::Timeout | Failure::Connection => {
                    let n = transient.entry(model.clone()).or_default();
                    *n += 1;
                    if *n >= TRANSIENT_TRIES {
                        excluded.insert(model);
                        continue;
                    }
                    let delay = backoffs
                        .entry(model)
                        .or_insert_with(|| {
                            backon::ExponentialBuilder::default()
                                .with_min_delay(Duration::from_millis(500))
                                .with_max_delay(Duration::from_secs(30))
                                .with_jitter()
                                .without_max_times()
                                .build()
                        })
                        .next()
                        .unwrap_or(Duration::from_secs(30));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.reached(1) => return Err(JobError::Interrupted),
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
                    // Thinking ate the output budget: retry with room to answer and no thinking.
                    budget = Budget { max_output_tokens: Some(32_768), thinking_off: true };
                }
                Failure::BadOutput { .. } => {
                    let n = bad_output.entry(model.clone()).or_default();
                    *n += 1;
                    if *n >= 2 || budget.thinking_off {
                        excluded.insert(model);
                        budget = task.initial_budget();
                    }
                }
                Failure::BadRequest => {
                    excluded.insert(model);
                }
                Failure::Unavailable => return Err(JobError::Unavailable(last_error)),
            }
        }
    }

    async fn send(&self, task: &Task, permit: &Permit, budget: Budget, post_id: Option<&str>, job_ids: &[i64]) -> Sent {
        let started = self.clock.now();
        let t0 = std::time::Instant::now();
        let call = Call { key: permit.key.as_ref(), model: &permit.pool.model, task, budget };
        let result = tokio::select! {
            r = self.provider.generate(call) => Some(r),
            _ = self.shutdown.reached(2) => None,
        };
        let latency_ms = t0.elapsed().as_millis() as u64;
        let mut record = AttemptRecord {
            ts: started.to_string(),
            run_id: self.run_id.clone(),
            post_id: post_id.map(str::to_string),
            stage: task.stage().as_str().into(),
            provider: permit.pool.provider.clone(),
            project: permit.pool.project.clone(),
            key_id: permit.key_id().to_string(),
            model: permit.pool.model.clone(),
            http_status: None,
            outcome: String::new(),
            quota_id: None,
            quota_value: None,
            retry_delay_ms: None,
            latency_ms,
            prompt_tokens: None,
            output_tokens: None,
            thoughts_tokens: None,
            error: None,
            posts: match task {
                Task::Packed { posts, .. } => Some(posts.len() as u32),
                Task::Combined { .. } | Task::Summary { .. } => Some(1),
                Task::Ocr { .. } => None,
            },
        };
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
        if let Err(e) = self.ledger.record(&record, job_ids) {
            tracing::error!("cannot record an attempt in the ledger: {e}");
        }
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
    use crate::config::ApiKey;
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
            match self.script.lock().unwrap().remove(0) {
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
        let quota = Arc::new(QuotaEngine::new("scripted", &[], Default::default(), store.clone(), Clock::system()));
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
        assert_eq!(answered.model, "b", "three transient failures on `a`, then `b`");
        assert_eq!(p.calls.lock().unwrap().len(), 4);
    }
}
