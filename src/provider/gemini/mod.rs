//! The Gemini REST API (`v1beta`): `generateContent` with inline images and structured
//! output, and paginated ListModels. The key travels only in the `x-goog-api-key` header.
//!
//! This module speaks the protocol, classifies what the server said (`classify`) and keeps
//! what it learned about each model: the output limit ListModels gives, and whether the
//! model refused a thinking setting. A refused thinking setting is resent at once without
//! it, here, like the OpenAI provider's schema fallback: it is a property of the model,
//! not a failure worth a backoff or another model. Whether to retry, wait or fall back
//! otherwise is decided by the quota engine and the scheduler.

pub mod classify;
pub mod request;
pub mod response;

use super::network::{CONNECT_TIMEOUT, transport_failure};
use super::{Call, CallError, Failure, Generation, ModelInfo, Provider, Refusal, body, values};
use crate::config::{ApiKey, RemoteConfig};
use async_trait::async_trait;
pub use classify::classify_error;
pub use response::parse_generation;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// What is known about one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelTraits {
    /// ListModels' `outputTokenLimit`.
    pub output_limit: Option<u32>,
    /// The model refused the thinking setting its family takes: send none.
    pub thinking_refused: bool,
}

pub struct GeminiProvider {
    client: reqwest::Client,
    base_url: String,
    traits: Mutex<HashMap<String, ModelTraits>>,
}

impl GeminiProvider {
    pub fn new(cfg: &RemoteConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("postmill/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GeminiProvider { client, base_url: cfg.base_url.clone(), traits: Mutex::new(HashMap::new()) })
    }

    fn traits(&self, model: &str) -> ModelTraits {
        self.traits.lock().unwrap_or_else(|e| e.into_inner()).get(model).copied().unwrap_or_default()
    }

    fn learn(&self, model: &str, change: impl FnOnce(&mut ModelTraits)) {
        change(self.traits.lock().unwrap_or_else(|e| e.into_inner()).entry(model.to_string()).or_default());
    }

    async fn generate_once(&self, call: &Call<'_>) -> Result<Generation, CallError> {
        let secret = call.key.map(ApiKey::secret);
        let url = format!("{}/v1beta/models/{}:generateContent", self.base_url, call.model);
        let body = request::body(call.model, call.task, call.budget, self.traits(call.model));
        let body = exchange(self.client.post(url).json(&body), secret).await?;
        parse_generation(call.task, &body)
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    values::seconds_text(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

/// Sends a request with the key in its header and returns the body of a 200 (read up to
/// [`body::MAX_BODY_BYTES`]); any other status is classified from its error body.
async fn exchange(req: reqwest::RequestBuilder, secret: Option<&str>) -> Result<String, CallError> {
    let req = match secret {
        Some(s) => req.header("x-goog-api-key", s),
        None => req,
    };
    let resp = req.send().await.map_err(|e| transport_failure(&e, None, secret))?;
    let status = resp.status().as_u16();
    let retry = retry_after(resp.headers());
    let bytes = body::read_capped(resp, body::MAX_BODY_BYTES).await.map_err(|e| match e {
        Ok(too_large) => too_large,
        Err(e) => transport_failure(&e, Some(status), secret),
    })?;
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if status != 200 {
        return Err(classify_error(status, &body, retry, secret));
    }
    Ok(body)
}

#[async_trait]
impl Provider for GeminiProvider {
    fn name(&self) -> &'static str {
        "gemini"
    }

    async fn list_models(&self, key: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError> {
        let secret = key.map(ApiKey::secret);
        let mut models = Vec::new();
        let mut page_token: Option<String> = None;
        // A bound on pages: a server that keeps sending tokens must not loop us forever.
        for _ in 0..100 {
            let mut req = self.client.get(format!("{}/v1beta/models", self.base_url)).query(&[("pageSize", "1000")]);
            if let Some(t) = &page_token {
                req = req.query(&[("pageToken", t)]);
            }
            let body = exchange(req, secret).await?;
            let v: Value = serde_json::from_str(&body).map_err(|e| {
                CallError::new(Failure::ServerError, Some(200), format!("unparseable ListModels page: {e}"))
            })?;
            for m in v.get("models").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(name) = m.get("name").and_then(Value::as_str) else { continue };
                let id = name.trim_start_matches("models/").to_string();
                let generates = m
                    .get("supportedGenerationMethods")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| ms.iter().any(|x| x == "generateContent"));
                // A limit of 0 (or an absurd one) is no limit worth clamping to.
                let limit = m.get("outputTokenLimit").and_then(values::limit_json).filter(|n| *n > 0);
                if let Some(limit) = limit {
                    self.learn(&id, |t| t.output_limit = Some(limit.min(u64::from(u32::MAX)) as u32));
                }
                models.push(ModelInfo { id, generates });
            }
            page_token = v.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string);
            if page_token.is_none() {
                return Ok(Some(models));
            }
        }
        Err(CallError::new(Failure::ServerError, Some(200), "ListModels did not end after 100 pages"))
    }

    async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError> {
        match self.generate_once(&call).await {
            Err(e) if e.failure == Failure::Refused(Refusal::Thinking) && !self.traits(call.model).thinking_refused => {
                tracing::warn!(
                    model = call.model,
                    "the model refused the thinking setting ({}); resending without one, and sending none to it from now on",
                    e.message
                );
                self.learn(call.model, |t| t.thinking_refused = true);
                self.generate_once(&call).await
            }
            other => other,
        }
    }
}
