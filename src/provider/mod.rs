//! Providers: the one interface through which the scheduler asks a model for something.
//!
//! A provider turns a [`Task`] into an [`Answer`], or into a [`CallError`] whose
//! [`Failure`] tells the quota engine what happened (a 429 of which quota, a retired
//! model, a rejected key...). Providers decide nothing about retrying or routing: that is
//! the quota engine's job, the same for every provider.

pub mod body;
pub mod catalog;
pub mod gemini;
pub mod local;
pub mod network;
pub mod openai;
pub mod prompt;
pub mod redact;
pub mod values;

use crate::config::ApiKey;
use crate::summary::{CombinedAnswer, Extract, PackedEntryError, PackedSummary};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What a request is for; also the ledger's `stage` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Combined,
    Ocr,
    Summary,
    /// Several posts' summaries in one request.
    Packed,
    ListModels,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Combined => "combined",
            Stage::Ocr => "ocr",
            Stage::Summary => "summary",
            Stage::Packed => "packed",
            Stage::ListModels => "list_models",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "combined" => Stage::Combined,
            "ocr" => Stage::Ocr,
            "summary" => Stage::Summary,
            "packed" => Stage::Packed,
            "list_models" => Stage::ListModels,
            _ => return None,
        })
    }
}

/// An image as sent to a model: bytes plus the MIME type sniffed from them.
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// The file name inside the post (`image_1.jpg`), as the summary reports it.
    pub file: String,
    pub mime: &'static str,
    pub bytes: Arc<Vec<u8>>,
    /// Hex SHA-256 of `bytes`: identical images are read once.
    pub sha256: String,
}

/// A post's content, as providers see it.
#[derive(Debug, Clone)]
pub struct PostInput {
    pub post_id: String,
    pub title: Option<String>,
    pub text: String,
    pub images: Vec<ImageInput>,
}

/// One image's text as read by an earlier OCR request, for a split-mode summary.
#[derive(Debug, Clone)]
pub struct OcrText {
    pub file: String,
    /// `None` when the image could not be read (yet).
    pub text: Option<String>,
}

/// What a request asks for.
#[derive(Debug, Clone)]
pub enum Task {
    /// Text and all images at once; the answer carries the summary and each transcription.
    Combined { post: Arc<PostInput> },
    /// One image's text.
    Ocr { image: ImageInput },
    /// The summary of text plus images already read.
    Summary { post: Arc<PostInput>, ocr: Vec<OcrText> },
    /// The summaries of several posts (text plus images already read) in one request,
    /// answered post by post; `output_tokens` is the output budget the pack was sized for.
    Packed { posts: Vec<PackedPost>, output_tokens: u32 },
}

/// One post of a packed request.
#[derive(Debug, Clone)]
pub struct PackedPost {
    pub post: Arc<PostInput>,
    pub ocr: Vec<OcrText>,
}

impl Task {
    pub fn stage(&self) -> Stage {
        match self {
            Task::Combined { .. } => Stage::Combined,
            Task::Ocr { .. } => Stage::Ocr,
            Task::Summary { .. } => Stage::Summary,
            Task::Packed { .. } => Stage::Packed,
        }
    }

    /// The output budget a first attempt asks for: the server's default, except for a
    /// packed request, whose answer is as long as its posts' summaries together.
    pub fn initial_budget(&self) -> Budget {
        match self {
            Task::Packed { output_tokens, .. } => {
                Budget { max_output_tokens: Some(*output_tokens), thinking_off: false }
            }
            _ => Budget::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Combined(CombinedAnswer),
    Ocr(String),
    Summary(Extract),
    /// Each entry read on its own: a broken one does not spoil the others.
    Packed(Vec<Result<PackedSummary, PackedEntryError>>),
}

/// Token counts as reported by the server (any may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub thoughts_tokens: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub answer: Answer,
    pub usage: Usage,
    /// The model that answered, as the server names it.
    pub model_version: Option<String>,
}

/// Knobs the scheduler may turn on a retry of one job on one model. A budget belongs to
/// the model it was raised for: the scheduler never carries it to another model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// The output budget wanted; `None` leaves the server's default. Providers clamp it to
    /// what the model is known to allow (ListModels' `outputTokenLimit`, a cap a 400 named).
    pub max_output_tokens: Option<u32>,
    /// Ask the model to spend as little of the output budget on thinking as it accepts:
    /// what that means depends on the model family, which only the provider knows.
    pub thinking_off: bool,
}

/// The output budget asked for after a cut-off answer: "as much as the model allows",
/// clamped by the provider to the model's own cap.
pub const RAISED_OUTPUT_TOKENS: u32 = 65_536;

/// One request to make.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub key: Option<&'a ApiKey>,
    pub model: &'a str,
    pub task: &'a Task,
    pub budget: Budget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The id used in requests: `gemini-2.5-flash`, without `models/`.
    pub id: String,
    /// Whether it serves generation (`generateContent` for Gemini).
    pub generates: bool,
}

/// Which window a quota refusal speaks of. Every quota refusal is about one model's pool
/// (project × model): a billing stop is [`Failure::Billing`], not a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    /// A per-minute request or token quota: wait, then go on.
    PerMinute,
    /// A per-day quota (or a limit of zero, or a model's free allowance spent): nothing
    /// until the next Pacific midnight.
    PerDay,
    /// A 429 that says nothing about which quota.
    Unknown,
}

/// What a 429 said, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaSignal {
    pub scope: QuotaScope,
    /// Counts input tokens rather than requests.
    pub tokens: bool,
    pub quota_id: Option<String>,
    /// The limit the server enforces (`quotaValue`), learned for the pool from now on.
    pub quota_value: Option<u64>,
    /// `RetryInfo.retryDelay` or `Retry-After`; only meaningful for per-minute quotas.
    pub retry_delay: Option<Duration>,
}

/// A parameter of the request that the model refused. The same request without it (or with
/// the value it names) will do: never a reason to drop the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The output budget is above the model's cap; the cap when the message names it.
    OutputCap(Option<u32>),
    /// `max_tokens` is not taken (OpenAI o-series, gpt-5): `max_completion_tokens` is.
    MaxTokensName,
    /// The thinking setting sent (`thinkingBudget: 0` to a model that always thinks).
    Thinking,
}

/// How far a failure reaches: what else it tells the engine not to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Only this request (its content, one of its parameters, or its answer).
    Request,
    /// This model's pool of this project (a quota, a retired model, server trouble).
    Pool,
    /// This key (rejected, suspended, leaked): other keys go on.
    Key,
    /// The whole provider: every model on every key (an account out of credit, a host
    /// that cannot be reached).
    Provider,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Request => "request",
            Scope::Pool => "pool",
            Scope::Key => "key",
            Scope::Provider => "provider",
        }
    }
}

/// Why a request did not produce an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    RateLimited(QuotaSignal),
    /// The account is out of credit (OpenAI `insufficient_quota` that is not a rate):
    /// nothing on this provider answers until someone pays; no reset time.
    Billing,
    /// A parameter was refused; see [`Refusal`].
    Refused(Refusal),
    ModelNotFound,
    KeyRejected,
    ServerError,
    Timeout,
    /// The host could not be reached (DNS, refused, connect timeout): nothing was sent.
    Connection,
    /// The prompt or the answer was refused for safety (or a like reason).
    Blocked {
        reason: String,
    },
    /// The answer was not the JSON asked for; `truncated` when cut at the output limit.
    BadOutput {
        truncated: bool,
    },
    BadRequest,
    /// A local tool is missing (Tesseract, a language pack): retried on a later run.
    Unavailable,
}

/// The ledger's `outcome` column, one name per way a request can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    RateLimited,
    QuotaExhausted,
    ModelNotFound,
    KeyRejected,
    ServerError,
    Timeout,
    Blocked,
    BadOutput,
    BadRequest,
    Billing,
    ParamRefused,
    Unreachable,
}

impl Outcome {
    pub const ALL: [Outcome; 13] = [
        Outcome::Ok,
        Outcome::RateLimited,
        Outcome::QuotaExhausted,
        Outcome::ModelNotFound,
        Outcome::KeyRejected,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::Blocked,
        Outcome::BadOutput,
        Outcome::BadRequest,
        Outcome::Billing,
        Outcome::ParamRefused,
        Outcome::Unreachable,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RateLimited => "rate_limited",
            Outcome::QuotaExhausted => "quota_exhausted",
            Outcome::ModelNotFound => "model_not_found",
            Outcome::KeyRejected => "key_rejected",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::Blocked => "blocked",
            Outcome::BadOutput => "bad_output",
            Outcome::BadRequest => "bad_request",
            Outcome::Billing => "billing",
            Outcome::ParamRefused => "param_refused",
            Outcome::Unreachable => "unreachable",
        }
    }
    /// How far an outcome of this kind reaches, for `audit`.
    pub fn scope(self) -> Option<Scope> {
        Some(match self {
            Outcome::Ok => return None,
            Outcome::RateLimited | Outcome::QuotaExhausted | Outcome::ModelNotFound => Scope::Pool,
            Outcome::ServerError | Outcome::Timeout => Scope::Pool,
            Outcome::KeyRejected => Scope::Key,
            Outcome::Billing | Outcome::Unreachable => Scope::Provider,
            Outcome::Blocked | Outcome::BadOutput | Outcome::BadRequest | Outcome::ParamRefused => Scope::Request,
        })
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl Failure {
    pub fn outcome(&self) -> Outcome {
        match self {
            Failure::RateLimited(q) if q.scope == QuotaScope::PerDay => Outcome::QuotaExhausted,
            Failure::RateLimited(_) => Outcome::RateLimited,
            Failure::Billing => Outcome::Billing,
            Failure::Refused(_) => Outcome::ParamRefused,
            Failure::ModelNotFound => Outcome::ModelNotFound,
            Failure::KeyRejected => Outcome::KeyRejected,
            Failure::Connection => Outcome::Unreachable,
            Failure::ServerError | Failure::Unavailable => Outcome::ServerError,
            Failure::Timeout => Outcome::Timeout,
            Failure::Blocked { .. } => Outcome::Blocked,
            Failure::BadOutput { .. } => Outcome::BadOutput,
            Failure::BadRequest => Outcome::BadRequest,
        }
    }

    /// How far this failure reaches.
    pub fn scope(&self) -> Scope {
        match self {
            Failure::Unavailable => Scope::Provider,
            _ => self.outcome().scope().unwrap_or(Scope::Request),
        }
    }

    /// Whether a later run may well succeed where this one did not: such a failure never
    /// marks a job failed for good.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Failure::RateLimited(_)
                | Failure::Billing
                | Failure::ServerError
                | Failure::Timeout
                | Failure::Connection
                | Failure::Unavailable
        )
    }
}

/// A failed request: what went wrong, plus what the ledger needs to know about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub failure: Failure,
    pub http_status: Option<u16>,
    /// Tokens the server still counted (a blocked prompt has a prompt count).
    pub usage: Usage,
    /// A human message, already free of any key.
    pub message: String,
}

impl CallError {
    pub fn new(failure: Failure, http_status: Option<u16>, message: impl Into<String>) -> Self {
        CallError { failure, http_status, usage: Usage::default(), message: message.into() }
    }
}

/// The interface the scheduler and the quota engine use for every provider.
#[async_trait]
pub trait Provider: Send + Sync {
    /// `gemini`, `openai`, `local`: the ledger's `provider` column.
    fn name(&self) -> &'static str;
    /// Whether requests need an API key (and so pools per project).
    fn needs_key(&self) -> bool {
        true
    }
    /// Whether one request may carry text and images together.
    fn supports_combined(&self) -> bool {
        true
    }
    /// What a job's answer depends on for this provider beyond its inputs and the answer
    /// format: the local extractor's version, the Tesseract build and languages. It is part
    /// of the job's identity, so improving it redoes (free) local work. `None` for remote
    /// models, whose finished answers are never paid for twice.
    fn revision(&self, _stage: Stage) -> Option<String> {
        None
    }
    /// Checks, before the first request of `stage` in a run, that what this provider runs
    /// locally is installed (Tesseract and its languages for the local OCR). An error
    /// stops the run before anything is processed (exit 2, naming what to install).
    async fn check_setup(&self, _stage: Stage) -> Result<(), CallError> {
        Ok(())
    }
    /// Every model the server lists (all pages). `Ok(None)`: the server has no listing.
    async fn list_models(&self, key: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError>;
    async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError>;
}
