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
pub mod prepare;
pub mod prompt;
pub mod values;

pub use crate::attempt::{Failure, Outcome, QuotaScope, QuotaSignal, Refusal, Scope, Usage};
use crate::config::ApiKey;
pub use crate::redact;
use crate::summary::{CombinedAnswer, Extract, PackedEntryError, PackedSummary};
pub use crate::task::{Budget, ImageInput, OcrText, PackedPost, PostInput, RAISED_OUTPUT_TOKENS, Stage, Task};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Combined(CombinedAnswer),
    Ocr(String),
    Summary(Extract),
    /// Each entry read on its own: a broken one does not spoil the others.
    Packed(Vec<Result<PackedSummary, PackedEntryError>>),
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub answer: Answer,
    pub usage: Usage,
    /// The model that answered, as the server names it.
    pub model_version: Option<String>,
}

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
