//! OpenAI-compatible chat-completions servers (OpenAI, DashScope compatible mode, GLM,
//! vLLM, Ollama, llama.cpp server).
//!
//! Requests go to `{base_url}/chat/completions` with images as `data:` URIs and the
//! answer's shape as a strict `json_schema` `response_format`. Not every compatible
//! server takes `json_schema`: when one refuses it (a 400/422 naming the feature), the
//! model is remembered as a `json_object` model and the same `generate()` call repeats the
//! request at once with `json_object` and the schema written into the prompt. The retry is
//! made here rather than by the quota engine because it is a property of the server, not
//! a failure worth a backoff, a ledger row or another model; the refused request carried no
//! tokens. The answer is still checked against the schema's Rust type either way.
//!
//! The output budget is handled the same way: the field (`max_tokens` or
//! `max_completion_tokens`) and the cap a model takes are learned from its 400s (the four
//! wordings in `classify::output_refusal`) and the request is resent at once, fixed, and
//! the fix remembered for that model only.
//!
//! Models are validated against `GET {base_url}/models`; servers without it (a 404) make
//! [`Provider::list_models`] answer `Ok(None)` and the scheduler skips validation.

pub mod classify;
mod request;
pub mod response;

use crate::config::{ApiKey, RemoteConfig};
use crate::provider::network::{CONNECT_TIMEOUT, transport_failure};
use crate::provider::{Call, CallError, Failure, Generation, ModelInfo, Provider, Refusal, body};
use async_trait::async_trait;
use classify::ErrorBody;
use jiff::Timestamp;
use request::{OutputMode, TokenParam};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use response::AnswerKind;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// A chat-completions server.
pub struct OpenAiProvider {
    /// One client for every request, so connections are pooled across keys and models.
    client: reqwest::Client,
    base_url: String,
    /// Local servers take no key; a configured key means the server wants one.
    needs_key: bool,
    /// Models whose server refused a strict `json_schema`: they get `json_object`.
    json_object_models: Mutex<HashSet<String>>,
    /// The output budget's field and cap, per model, as its refusals taught them.
    token_params: Mutex<HashMap<String, TokenParam>>,
}

impl OpenAiProvider {
    pub fn new(config: &RemoteConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("postmill/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OpenAiProvider {
            client,
            base_url: config.base_url.trim_end_matches('/').to_string(),
            needs_key: !config.keys.is_empty(),
            json_object_models: Mutex::new(HashSet::new()),
            token_params: Mutex::new(HashMap::new()),
        })
    }

    fn token_param(&self, model: &str) -> TokenParam {
        let params = self.token_params.lock().unwrap_or_else(|e| e.into_inner());
        params.get(model).copied().unwrap_or_else(|| TokenParam::default_for(&self.base_url, model))
    }

    /// Learns from a refused output budget; `false` when there is nothing new to try.
    fn learn_refusal(&self, model: &str, refusal: Refusal) -> bool {
        let before = self.token_param(model);
        let after = match refusal {
            Refusal::MaxTokensName => TokenParam { completion_name: true, ..before },
            Refusal::OutputCap(Some(cap)) => TokenParam { cap: Some(before.cap.map_or(cap, |c| c.min(cap))), ..before },
            Refusal::OutputCap(None) | Refusal::Thinking => before,
        };
        if after == before {
            return false;
        }
        self.token_params.lock().unwrap_or_else(|e| e.into_inner()).insert(model.to_string(), after);
        true
    }

    fn output_mode(&self, model: &str) -> OutputMode {
        let models = self.json_object_models.lock().unwrap_or_else(|e| e.into_inner());
        if models.contains(model) { OutputMode::JsonObject } else { OutputMode::StrictSchema }
    }

    fn remember_json_object(&self, model: &str) {
        let mut models = self.json_object_models.lock().unwrap_or_else(|e| e.into_inner());
        models.insert(model.to_string());
    }

    /// One chat-completions request in `mode`.
    async fn complete(&self, call: &Call<'_>, mode: OutputMode) -> Result<Generation, Attempt> {
        let body = request::chat_body(call.model, call.task, call.budget, mode, self.token_param(call.model));
        let secret = call.key.map(ApiKey::secret);
        let url = format!("{}/chat/completions", self.base_url);
        let builder = authorized(self.client.post(&url).json(&body), secret);
        let (status, headers, bytes) = send(builder, secret).await.map_err(Attempt::Failed)?;
        if status.is_success() {
            return response::parse_completion(&bytes, AnswerKind::of(call.task)).map_err(Attempt::Failed);
        }
        let error = ErrorBody::parse(&bytes);
        let failed = call_error(status, &headers, &error, secret);
        if mode == OutputMode::StrictSchema && classify::rejects_schema(status.as_u16(), &error) {
            Err(Attempt::SchemaRejected(failed))
        } else {
            Err(Attempt::Failed(failed))
        }
    }
}

/// How one request ended, when it did not produce an answer.
enum Attempt {
    /// The server does not take strict `json_schema`: worth repeating with `json_object`.
    SchemaRejected(CallError),
    Failed(CallError),
}

impl Attempt {
    fn into_error(self) -> CallError {
        match self {
            Attempt::SchemaRejected(e) | Attempt::Failed(e) => e,
        }
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn needs_key(&self) -> bool {
        self.needs_key
    }

    async fn list_models(&self, key: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError> {
        let secret = key.map(ApiKey::secret);
        let url = format!("{}/models", self.base_url);
        let (status, headers, bytes) = send(authorized(self.client.get(&url), secret), secret).await?;
        // 405 too: some servers route every unknown GET to a POST-only handler.
        if matches!(status, StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED) {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(call_error(status, &headers, &ErrorBody::parse(&bytes), secret));
        }
        let list: ModelList = serde_json::from_slice(&bytes).map_err(|e| {
            CallError::new(Failure::ServerError, Some(status.as_u16()), format!("unreadable model list: {e}"))
        })?;
        // The listing says nothing about capabilities: anything listed is taken to chat.
        Ok(Some(list.data.into_iter().map(|m| ModelInfo { id: m.id, generates: true }).collect()))
    }

    async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError> {
        // At most one fix of each kind: the field's name, the cap, the schema mode.
        let mut result = self.complete_with_schema_fallback(&call).await;
        for _ in 0..2 {
            match &result {
                Err(e) if let Failure::Refused(refusal) = e.failure => {
                    if !self.learn_refusal(call.model, refusal) {
                        break;
                    }
                    tracing::warn!(
                        model = call.model,
                        "the server refused the output budget ({}); resending with {:?} for this model",
                        e.message,
                        self.token_param(call.model)
                    );
                    result = self.complete_with_schema_fallback(&call).await;
                }
                _ => break,
            }
        }
        result
    }
}

impl OpenAiProvider {
    async fn complete_with_schema_fallback(&self, call: &Call<'_>) -> Result<Generation, CallError> {
        let mode = self.output_mode(call.model);
        match self.complete(call, mode).await {
            Ok(generation) => Ok(generation),
            Err(Attempt::SchemaRejected(refused)) => {
                tracing::warn!(
                    model = call.model,
                    "server refused a strict json_schema ({}); using json_object for this model",
                    refused.message
                );
                self.remember_json_object(call.model);
                self.complete(call, OutputMode::JsonObject).await.map_err(Attempt::into_error)
            }
            Err(Attempt::Failed(e)) => Err(e),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ModelList {
    data: Vec<ListedModel>,
}

#[derive(Debug, Deserialize)]
struct ListedModel {
    id: String,
}

fn authorized(builder: reqwest::RequestBuilder, secret: Option<&str>) -> reqwest::RequestBuilder {
    // `bearer_auth` marks the header sensitive, so it never shows in a Debug print.
    match secret {
        Some(secret) => builder.bearer_auth(secret),
        None => builder,
    }
}

/// Sends a request and reads its body, up to [`body::MAX_BODY_BYTES`].
async fn send(
    builder: reqwest::RequestBuilder,
    secret: Option<&str>,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), CallError> {
    let response = builder.send().await.map_err(|e| transport_failure(&e, None, secret))?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = body::read_capped(response, body::MAX_BODY_BYTES).await.map_err(|e| match e {
        Ok(too_large) => too_large,
        Err(e) => transport_failure(&e, Some(status.as_u16()), secret),
    })?;
    Ok((status, headers, bytes))
}

fn call_error(status: StatusCode, headers: &HeaderMap, error: &ErrorBody, secret: Option<&str>) -> CallError {
    let failure = classify::classify(status.as_u16(), headers, error, Timestamp::now());
    let code = error.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
    let message = format!("HTTP {}{code}: {}", status.as_u16(), classify::redact(&error.message, secret));
    CallError::new(failure, Some(status.as_u16()), message)
}
