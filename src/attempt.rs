//! The attempt vocabulary: how a request ended ([`Failure`], [`Outcome`]), how far that
//! reaches ([`Scope`]), what a 429 said ([`QuotaSignal`]), the tokens counted ([`Usage`]),
//! and the ledger's row for one attempt ([`AttemptRecord`]).
//!
//! A leaf: providers produce these, the quota engine and the retry policy read them, the
//! store and the ledger keep them, audit counts them; none of those reaches into another.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Token counts as reported by the server (any may be absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub thoughts_tokens: Option<u64>,
}

/// What a user can do about an unreachable host ([`Failure::Connection`]), said with it.
pub const UNREACHABLE_HINT: &str = "check the network connection or HTTPS_PROXY, or run offline with --provider local";

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
}

/// One API attempt, as written to `usage.jsonl` and the `attempts` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the request was sent, RFC 3339 UTC.
    pub ts: String,
    pub run_id: String,
    pub post_id: Option<String>,
    /// `combined|ocr|summary|packed|list_models`
    pub stage: String,
    pub provider: String,
    pub project: String,
    pub key_id: String,
    /// Empty for `list_models`.
    pub model: String,
    pub http_status: Option<u16>,
    /// `ok|rate_limited|quota_exhausted|model_not_found|key_rejected|server_error|timeout|blocked|bad_output|bad_request`
    pub outcome: String,
    pub quota_id: Option<String>,
    pub quota_value: Option<u64>,
    pub retry_delay_ms: Option<u64>,
    pub latency_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub thoughts_tokens: Option<u64>,
    /// A short, key-free description of what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The attempt's row id: the `started` line and its outcome line share it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i64>,
    /// How many posts' summaries the request asked for: 1 for a combined or summary
    /// request, several for a packed one, none for OCR and ListModels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posts: Option<u32>,
}

impl AttemptRecord {
    /// An attempt at its start: where it goes and when; its outcome and figures are filled
    /// in once it ends (`outcome` empty until then).
    pub fn new(
        ts: String,
        run_id: &str,
        stage: &str,
        provider: &str,
        project: &str,
        key_id: &str,
        model: &str,
    ) -> Self {
        AttemptRecord {
            ts,
            run_id: run_id.into(),
            post_id: None,
            stage: stage.into(),
            provider: provider.into(),
            project: project.into(),
            key_id: key_id.into(),
            model: model.into(),
            http_status: None,
            outcome: String::new(),
            quota_id: None,
            quota_value: None,
            retry_delay_ms: None,
            latency_ms: 0,
            prompt_tokens: None,
            output_tokens: None,
            thoughts_tokens: None,
            error: None,
            attempt: None,
            posts: None,
        }
    }
}

/// The outcome of an attempt written ahead of its request.
pub const STARTED: &str = "started";
/// The outcome of a `started` attempt whose run died before it was answered.
pub const UNKNOWN: &str = "unknown";
