//! The Gemini REST API (`v1beta`): `generateContent` with inline images and structured
//! output, and paginated ListModels. The key travels only in the `x-goog-api-key` header.
//!
//! This module only speaks the protocol and classifies what the server said; whether to
//! retry, wait or fall back is decided by the quota engine.

use super::redact::{redact, shorten};
use super::{Answer, Budget, Call, CallError, Failure, Generation, ModelInfo, Provider, Task, Usage, prompt};
use crate::config::{ApiKey, RemoteConfig};
use crate::quota::classify::classify_google;
use crate::summary::schema::response_schema;
use crate::summary::{CombinedAnswer, Extract, OcrAnswer, PackedAnswer};
use async_trait::async_trait;
use base64::Engine;
use serde_json::{Value, json};
use std::time::Duration;

pub struct GeminiProvider {
    client: reqwest::Client,
    base_url: String,
}

impl GeminiProvider {
    pub fn new(cfg: &RemoteConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(Duration::from_secs(20))
            .user_agent(concat!("postmill/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GeminiProvider { client, base_url: cfg.base_url.clone() })
    }

    fn request_body(task: &Task, budget: Budget) -> Value {
        let mut parts = Vec::new();
        let schema = match task {
            Task::Combined { post } => {
                parts.push(json!({"text": prompt::combined(post)}));
                for image in &post.images {
                    parts.push(json!({"text": prompt::image_label(&image.file)}));
                    parts.push(inline(image.mime, &image.bytes));
                }
                response_schema::<CombinedAnswer>()
            }
            Task::Ocr { image } => {
                parts.push(json!({"text": prompt::ocr(&image.file)}));
                parts.push(json!({"text": prompt::image_label(&image.file)}));
                parts.push(inline(image.mime, &image.bytes));
                response_schema::<OcrAnswer>()
            }
            Task::Summary { post, ocr } => {
                parts.push(json!({"text": prompt::summary(post, ocr)}));
                response_schema::<Extract>()
            }
            Task::Packed { posts, .. } => {
                parts.push(json!({"text": prompt::packed(posts)}));
                response_schema::<PackedAnswer>()
            }
        };
        let mut generation = json!({
            "responseMimeType": "application/json",
            "responseJsonSchema": schema,
        });
        if let Some(max) = budget.max_output_tokens {
            generation["maxOutputTokens"] = json!(max);
        }
        if budget.thinking_off {
            generation["thinkingConfig"] = json!({"thinkingBudget": 0});
        }
        json!({
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": generation,
        })
    }
}

fn inline(mime: &str, bytes: &[u8]) -> Value {
    json!({"inlineData": {
        "mimeType": mime,
        "data": base64::engine::general_purpose::STANDARD.encode(bytes),
    }})
}

/// Turns a transport error into a failure; reqwest's messages can carry the URL, never the
/// key (it is in a header), but they are scrubbed all the same.
fn transport_failure(err: &reqwest::Error, secret: Option<&str>) -> CallError {
    let failure = if err.is_timeout() {
        Failure::Timeout
    } else if err.is_connect() {
        Failure::Connection
    } else {
        // A body cut short, a reset connection mid-answer: retryable like a 5xx.
        Failure::ServerError
    };
    CallError::new(failure, err.status().map(|s| s.as_u16()), redact(&err.to_string(), secret))
}

/// Classifies a non-2xx answer from its status and Google RPC error body.
pub fn classify_error(status: u16, body: &str, retry_after: Option<Duration>, secret: Option<&str>) -> CallError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(|m| shorten(m, 300))
        .unwrap_or_else(|| shorten(body, 200));
    let details: Vec<Value> =
        error.and_then(|e| e.get("details")).and_then(Value::as_array).cloned().unwrap_or_default();
    let reason = details.iter().find_map(|d| d.get("reason").and_then(Value::as_str)).unwrap_or_default();
    let failure = match status {
        429 => Failure::RateLimited(classify_google(&details, retry_after)),
        404 => Failure::ModelNotFound,
        400 if reason == "API_KEY_INVALID" => Failure::KeyRejected,
        401 | 403 => Failure::KeyRejected,
        408 => Failure::Timeout,
        500..=599 => Failure::ServerError,
        _ => Failure::BadRequest,
    };
    CallError::new(failure, Some(status), redact(&format!("HTTP {status}: {message}"), secret))
}

/// Reads a 200 answer: the candidate's JSON text, parsed into the task's answer type.
// A CallError is as large as the Generation it replaces; boxing would buy nothing here.
#[allow(clippy::result_large_err)]
pub fn parse_generation(task: &Task, body: &str) -> Result<Generation, CallError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        CallError::new(Failure::ServerError, Some(200), format!("truncated or unparseable response body: {e}"))
    })?;
    let usage = parse_usage(&v);
    let fail = |failure: Failure, message: String| CallError { failure, http_status: Some(200), usage, message };
    if let Some(reason) = v.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
        return Err(fail(Failure::Blocked { reason: reason.to_string() }, format!("prompt blocked: {reason}")));
    }
    let Some(candidate) = v.pointer("/candidates/0") else {
        return Err(fail(Failure::BadOutput { truncated: false }, "response has no candidate".into()));
    };
    let finish = candidate.get("finishReason").and_then(Value::as_str).unwrap_or("STOP");
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                // Thought summaries are not the answer.
                .filter(|p| !p.get("thought").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let answer = match task {
        Task::Combined { .. } => serde_json::from_str::<CombinedAnswer>(&text).map(Answer::Combined),
        Task::Ocr { .. } => serde_json::from_str::<OcrAnswer>(&text).map(|a| Answer::Ocr(a.text)),
        Task::Summary { .. } => serde_json::from_str::<Extract>(&text).map(Answer::Summary),
        Task::Packed { .. } => crate::summary::parse_packed(&text).map(Answer::Packed),
    };
    match answer {
        Ok(answer) => Ok(Generation {
            answer,
            usage,
            model_version: v.get("modelVersion").and_then(Value::as_str).map(str::to_string),
        }),
        Err(e) => {
            let failure = match finish {
                "MAX_TOKENS" => Failure::BadOutput { truncated: true },
                "STOP" | "FINISH_REASON_UNSPECIFIED" => Failure::BadOutput { truncated: false },
                // SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, OTHER...
                other => Failure::Blocked { reason: other.to_string() },
            };
            Err(fail(failure, format!("answer does not match the schema (finishReason {finish}): {e}")))
        }
    }
}

fn parse_usage(v: &Value) -> Usage {
    let get = |k: &str| v.get("usageMetadata").and_then(|u| u.get(k)).and_then(Value::as_u64);
    Usage {
        prompt_tokens: get("promptTokenCount"),
        output_tokens: get("candidatesTokenCount"),
        thoughts_tokens: get("thoughtsTokenCount"),
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let s = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    s.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Duration::from_secs_f64)
}

/// Sends a request with the key in its header and returns the body of a 200; any other
/// status is classified from its Google RPC error body.
async fn exchange(req: reqwest::RequestBuilder, secret: Option<&str>) -> Result<String, CallError> {
    let req = match secret {
        Some(s) => req.header("x-goog-api-key", s),
        None => req,
    };
    let resp = req.send().await.map_err(|e| transport_failure(&e, secret))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| transport_failure(&e, secret))?;
    if status != 200 {
        return Err(classify_error(status, &body, retry_after(&headers), secret));
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
                let generates = m
                    .get("supportedGenerationMethods")
                    .and_then(Value::as_array)
                    .is_some_and(|ms| ms.iter().any(|x| x == "generateContent"));
                models.push(ModelInfo { id: name.trim_start_matches("models/").to_string(), generates });
            }
            page_token = v.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string);
            if page_token.is_none() {
                return Ok(Some(models));
            }
        }
        Err(CallError::new(Failure::ServerError, Some(200), "ListModels did not end after 100 pages"))
    }

    async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError> {
        let secret = call.key.map(ApiKey::secret);
        let url = format!("{}/v1beta/models/{}:generateContent", self.base_url, call.model);
        let req = self.client.post(url).json(&Self::request_body(call.task, call.budget));
        let body = exchange(req, secret).await?;
        parse_generation(call.task, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ImageInput, Outcome, PostInput, QuotaScope};
    use std::sync::Arc;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn summary_task() -> Task {
        let post = Arc::new(PostInput { post_id: "p".into(), title: None, text: "一面".into(), images: vec![] });
        Task::Summary { post, ocr: vec![] }
    }

    #[test]
    fn every_error_fixture_classifies() {
        let cases = [
            ("400-api-key-invalid.json", 400, Outcome::KeyRejected),
            ("403-consumer-suspended.json", 403, Outcome::KeyRejected),
            ("403-key-leaked.json", 403, Outcome::KeyRejected),
            ("404-model-retired.json", 404, Outcome::ModelNotFound),
            ("429-input-tokens-per-minute-free.json", 429, Outcome::RateLimited),
            ("429-limit-zero.json", 429, Outcome::QuotaExhausted),
            ("429-no-details.json", 429, Outcome::RateLimited),
            ("429-per-day-free.json", 429, Outcome::QuotaExhausted),
            ("429-requests-per-minute-paid.json", 429, Outcome::RateLimited),
            ("500-internal.json", 500, Outcome::ServerError),
            ("503-overloaded.json", 503, Outcome::ServerError),
        ];
        for (name, status, outcome) in cases {
            let e = classify_error(status, &fixture(name), None, Some("AIzaSECRET"));
            assert_eq!(e.failure.outcome(), outcome, "{name}");
            assert!(!e.message.contains("AIza"), "{name}: {}", e.message);
        }
    }

    #[test]
    fn day_quota_keeps_value() {
        let e = classify_error(429, &fixture("429-per-day-free.json"), None, None);
        let Failure::RateLimited(q) = e.failure else { panic!() };
        assert_eq!((q.scope, q.quota_value), (QuotaScope::PerDay, Some(20)));
    }

    #[test]
    fn blocked_truncated_ok_and_garbage() {
        let t = summary_task();
        let e = parse_generation(&t, &fixture("blocked-prompt.json")).unwrap_err();
        assert_eq!(e.failure, Failure::Blocked { reason: "SAFETY".into() });
        assert_eq!(e.usage.prompt_tokens, Some(812));
        let e = parse_generation(&t, &fixture("max-tokens-truncated.json")).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: true });
        assert_eq!(e.usage.thoughts_tokens, Some(1150));
        // The real ok body carries `{"overview":"..."}`: not a whole summary, so not kept.
        let e = parse_generation(&t, &fixture("ok-generate-content.json")).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: false });
        let e = parse_generation(&t, "{\"candidates\":[{\"content\":").unwrap_err();
        assert_eq!(e.failure, Failure::ServerError);
    }

    #[test]
    fn valid_answer_parses_with_usage() {
        let extract = Extract { overview: "美团一面".into(), ..Default::default() };
        let body = json!({
            "candidates": [{"content": {"parts": [{"text": serde_json::to_string(&extract).unwrap()}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
            "modelVersion": "gemini-2.5-flash"
        });
        let g = parse_generation(&summary_task(), &body.to_string()).unwrap();
        assert_eq!(g.answer, Answer::Summary(extract));
        assert_eq!(g.usage, Usage { prompt_tokens: Some(10), output_tokens: Some(5), thoughts_tokens: None });
    }

    #[test]
    fn request_carries_images_inline_with_labels() {
        let image = ImageInput {
            file: "image_1.png".into(),
            mime: "image/png",
            bytes: Arc::new(vec![1, 2, 3]),
            sha256: "x".into(),
        };
        let post =
            Arc::new(PostInput { post_id: "p".into(), title: Some("t".into()), text: "b".into(), images: vec![image] });
        let body = GeminiProvider::request_body(&Task::Combined { post }, Budget::default());
        let parts = body["contents"][0]["parts"].as_array().unwrap();
        assert_eq!(parts[1]["text"], "Image file: image_1.png");
        assert_eq!(parts[2]["inlineData"]["mimeType"], "image/png");
        assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
        assert!(body["generationConfig"]["responseJsonSchema"]["properties"]["images"].is_object());
    }
}
