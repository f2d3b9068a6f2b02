//! An OpenAI-compatible chat-completions server for postmill's tests and benchmarks,
//! in-process on 127.0.0.1.
//!
//! It speaks the shape that OpenAI, vLLM, DashScope and friends share: Bearer keys,
//! `/v1/models`, `/v1/chat/completions` with `image_url` data URIs and `response_format`,
//! and OpenAI's rate-limit signalling (`Retry-After`, `x-ratelimit-*`, the real 429 body).
//! The request log records, per request, the earliest time the server had allowed it, so a
//! test can assert that no request came before its `Retry-After`.

use crate::{answer, harness};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use answer::ImagePart;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// Prompt tokens billed per image (OpenAI's low-detail image cost).
const TOKENS_PER_IMAGE: u64 = 85;

/// How a 429 says when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 2` (whole seconds, rounded up).
    Seconds,
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
    HttpDate,
    /// No `Retry-After`; only `x-ratelimit-reset-requests`.
    Absent,
}

/// How the server is set up; built with the chainable methods below.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// key → (name, project).
    keys: HashMap<String, (String, String)>,
    models: Vec<String>,
    rpm: HashMap<String, u32>,
    list_models: bool,
    json_schema: bool,
    retry_after: RetryAfter,
    latency: Duration,
    minute: Duration,
    port: u16,
    caps: HashMap<String, CapRule>,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            keys: HashMap::new(),
            models: vec!["gpt-4o-mini".into(), "qwen-vl-plus".into()],
            rpm: HashMap::new(),
            list_models: true,
            json_schema: true,
            retry_after: RetryAfter::Seconds,
            latency: Duration::ZERO,
            minute: Duration::from_secs(60),
            port: 0,
            caps: HashMap::new(),
        }
    }
}

impl OpenAiConfig {
    /// A working key, named `name` in the log; keys of one project share rate limits.
    pub fn key(mut self, key: &str, name: &str, project: &str) -> Self {
        self.keys.insert(key.into(), (name.into(), project.into()));
        self
    }

    /// `model` refuses an output budget above `cap`, with the 400 `fixture` (a file of
    /// `tests/fixtures/openai-compatible/`).
    pub fn output_cap(mut self, model: &str, cap: u64, fixture: &str) -> Self {
        let rule = CapRule { cap: Some(cap), completion_only: false, body: Arc::new(fixture_text(fixture)) };
        self.caps.insert(model.into(), rule);
        self
    }

    /// `model` refuses `max_tokens` by name (o-series, gpt-5), and anything above `cap`.
    pub fn completion_tokens_only(mut self, model: &str, cap: u64) -> Self {
        let body = Arc::new(fixture_text("openai-400-max-tokens-unsupported.json"));
        self.caps.insert(model.into(), CapRule { cap: Some(cap), completion_only: true, body });
        self
    }

    pub fn models<I: IntoIterator<Item = S>, S: Into<String>>(mut self, models: I) -> Self {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Requests per minute for `model` (per project); unset means unlimited and no
    /// `x-ratelimit-*` headers, like most self-hosted servers.
    pub fn rpm(mut self, model: &str, rpm: u32) -> Self {
        self.rpm.insert(model.into(), rpm);
        self
    }

    /// `false`: `GET /v1/models` answers 404, like servers that lack it.
    pub fn list_models(mut self, enabled: bool) -> Self {
        self.list_models = enabled;
        self
    }

    /// `false`: `response_format: json_schema` is refused with a 400.
    pub fn json_schema(mut self, supported: bool) -> Self {
        self.json_schema = supported;
        self
    }

    pub fn retry_after(mut self, style: RetryAfter) -> Self {
        self.retry_after = style;
        self
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Length of the per-minute window (shorten it in tests).
    pub fn minute(mut self, minute: Duration) -> Self {
        self.minute = minute;
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A scripted misbehaviour, consumed by the next request to a model (or always applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An OpenAI-style error body with this status (500, 502, 503...).
    Status(u16),
    /// Never answers.
    Hang,
    /// Answers normally after this long.
    Delay(Duration),
    /// 200 with the JSON body cut in half.
    TruncatedBody,
    /// `finish_reason: "length"` with the content cut short.
    Length,
    /// `finish_reason: "stop"` but the content is not valid JSON.
    InvalidJson,
    /// This status, body and headers, verbatim (a fixture file, a 200 of 50 MB...).
    Raw { status: u16, body: Arc<String>, headers: Vec<(&'static str, String)> },
}

impl Fault {
    /// A fixture of `tests/fixtures/openai-compatible/`, answered with `status`.
    pub fn fixture(status: u16, name: &str) -> Fault {
        Fault::Raw { status, body: Arc::new(fixture_text(name)), headers: Vec::new() }
    }
}

/// The text of a fixture of `tests/fixtures/openai-compatible/`.
pub fn fixture_text(name: &str) -> String {
    let path = crate::fixture_path(&format!("openai-compatible/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A model's refusal of the output budget: above `cap` (in whichever field), or any use
/// of `max_tokens` when `completion_only`, answered with `body` as status 400.
#[derive(Debug, Clone)]
pub struct CapRule {
    pub cap: Option<u64>,
    pub completion_only: bool,
    pub body: Arc<String>,
}

/// One request as the server saw it. Holds the key's configured name, never the key.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub at: Instant,
    pub time: jiff::Timestamp,
    pub path: String,
    pub model: Option<String>,
    pub key_name: Option<String>,
    pub project: Option<String>,
    /// Status answered; 0 when the server never answered (`Fault::Hang`).
    pub status: u16,
    pub prompt_tokens: u64,
    pub images: usize,
    pub texts: Vec<String>,
    /// `response_format.type`, if one was sent.
    pub response_format: Option<String>,
    /// The output budget sent, and in which field (`max_tokens`, `max_completion_tokens`).
    pub max_tokens: Option<u64>,
    pub max_tokens_field: Option<&'static str>,
    /// The earliest time the server had allowed for this (project, model) by an earlier
    /// 429's `Retry-After` (or reset header when no `Retry-After` was sent).
    pub earliest_allowed: Option<Instant>,
    pub fault: Option<Fault>,
}

impl LoggedRequest {
    /// Came before the server said it could.
    pub fn early(&self) -> bool {
        self.earliest_allowed.is_some_and(|t| self.at < t)
    }
}

#[derive(Debug, Default)]
struct Pool {
    requests: VecDeque<Instant>,
    not_before: Option<Instant>,
}

#[derive(Debug)]
struct ServerState {
    config: OpenAiConfig,
    pools: HashMap<(String, String), Pool>,
    faults: harness::FaultScript<Fault>,
    log: Vec<LoggedRequest>,
    next_id: u64,
}

type Shared = Arc<Mutex<ServerState>>;

/// A running fake OpenAI-compatible server; stops when dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeOpenAi {
    pub async fn start(config: OpenAiConfig) -> FakeOpenAi {
        let port = config.port;
        let state = Arc::new(Mutex::new(ServerState {
            config,
            pools: HashMap::new(),
            faults: harness::FaultScript::default(),
            log: Vec::new(),
            next_id: 0,
        }));
        let app = Router::new()
            .route("/v1/models", get(list_models))
            .route("/v1/chat/completions", post(chat_completions))
            .with_state(state.clone());
        let (addr, task) = harness::serve(port, app, "fake OpenAI server").await;
        FakeOpenAi { addr, state, task }
    }

    /// `http://127.0.0.1:PORT/v1`: OpenAI-compatible base URLs include the version.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// Chat requests naming `model`, whatever they were answered.
    pub fn requests_to(&self, model: &str) -> usize {
        self.lock().log.iter().filter(|r| r.model.as_deref() == Some(model)).count()
    }

    pub fn count_status(&self, status: u16) -> usize {
        self.lock().log.iter().filter(|r| r.status == status).count()
    }

    /// Requests that arrived before an earlier 429 allowed them.
    pub fn early_requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.iter().filter(|r| r.early()).cloned().collect()
    }

    pub fn push_fault(&self, model: &str, fault: Fault) {
        self.lock().faults.push(model, [fault]);
    }

    pub fn set_always(&self, model: &str, fault: Option<Fault>) {
        self.lock().faults.set_always(model, fault);
    }

    /// Answers every request to `model` with `fault` for `window` from now.
    pub fn outage(&self, model: &str, fault: Fault, window: Duration) {
        self.lock().faults.set_until(model, fault, Instant::now() + window);
    }

    pub fn set_rpm(&self, model: &str, rpm: Option<u32>) {
        let mut state = self.lock();
        match rpm {
            Some(n) => state.config.rpm.insert(model.into(), n),
            None => state.config.rpm.remove(model),
        };
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

enum Reply {
    Json { status: StatusCode, body: Value, headers: Vec<(&'static str, String)> },
    TruncatedBody(Value),
    Hang,
    Raw { status: StatusCode, body: Arc<String>, headers: Vec<(&'static str, String)> },
}

fn raw(status: u16, body: Arc<String>, headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Raw { status: StatusCode::from_u16(status).expect("valid status"), body, headers }
}

impl Reply {
    fn status(&self) -> u16 {
        match self {
            Reply::Json { status, .. } | Reply::Raw { status, .. } => status.as_u16(),
            Reply::TruncatedBody(_) => 200,
            Reply::Hang => 0,
        }
    }
}

fn openai_error(status: u16, message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Reply {
    let body = json!({"error": {"message": message, "type": kind, "param": param, "code": code}});
    Reply::Json { status: StatusCode::from_u16(status).expect("valid status"), body, headers: Vec::new() }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|k| k.trim().to_string())
}

/// The real API echoes a masked key in its 401; a client must not pass that on either.
fn masked(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

impl ServerState {
    fn new_log(&self, path: &str, key: Option<&str>) -> LoggedRequest {
        let entry = key.and_then(|k| self.config.keys.get(k));
        LoggedRequest {
            at: Instant::now(),
            time: jiff::Timestamp::now(),
            path: path.to_string(),
            model: None,
            key_name: entry.map(|(name, _)| name.clone()),
            project: entry.map(|(_, project)| project.clone()),
            status: 0,
            prompt_tokens: 0,
            images: 0,
            texts: Vec::new(),
            response_format: None,
            max_tokens: None,
            max_tokens_field: None,
            earliest_allowed: None,
            fault: None,
        }
    }

    fn authorize(&self, key: Option<&str>) -> Result<String, Reply> {
        let Some(key) = key else {
            return Err(openai_error(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                None,
            ));
        };
        match self.config.keys.get(key) {
            Some((_, project)) => Ok(project.clone()),
            None => Err(openai_error(
                401,
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    masked(key)
                ),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            )),
        }
    }

    fn list_models(&mut self, key: Option<&str>) -> Reply {
        let mut log = self.new_log("/v1/models", key);
        let reply = if !self.config.list_models {
            openai_error(404, "Invalid URL (GET /v1/models)", "invalid_request_error", None, None)
        } else {
            match self.authorize(key) {
                Err(refusal) => refusal,
                Ok(_) => {
                    let data: Vec<Value> = self
                        .config
                        .models
                        .iter()
                        .map(|m| json!({"id": m, "object": "model", "created": 1_715_367_049, "owned_by": "system"}))
                        .collect();
                    Reply::Json {
                        status: StatusCode::OK,
                        body: json!({"object": "list", "data": data}),
                        headers: Vec::new(),
                    }
                }
            }
        };
        log.status = reply.status();
        self.log.push(log);
        reply
    }

    fn chat(&mut self, key: Option<&str>, body: &[u8]) -> (Reply, Duration) {
        let mut log = self.new_log("/v1/chat/completions", key);
        let mut delay = self.config.latency;
        let reply = self.decide(key, body, &mut log, &mut delay).unwrap_or_else(|refusal| refusal);
        log.status = reply.status();
        self.log.push(log);
        (reply, delay)
    }

    fn decide(
        &mut self,
        key: Option<&str>,
        body: &[u8],
        log: &mut LoggedRequest,
        delay: &mut Duration,
    ) -> Result<Reply, Reply> {
        let project = self.authorize(key)?;
        let request = ChatRequest::parse(body)?;
        log.model = Some(request.model.clone());
        log.prompt_tokens = request.prompt_tokens();
        log.images = request.images.len();
        log.texts = request.texts.clone();
        log.response_format = request.format_type.clone();
        log.max_tokens = request.max_tokens;
        log.max_tokens_field = request.max_tokens_field;
        let model = request.model.clone();
        if !self.config.models.contains(&model) {
            return Err(openai_error(
                404,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                None,
                Some("model_not_found"),
            ));
        }
        if request.format_type.as_deref() == Some("json_schema") {
            if !self.config.json_schema {
                return Err(openai_error(
                    400,
                    "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                    "invalid_request_error",
                    Some("response_format"),
                    None,
                ));
            }
            request.check_strict_schema()?;
        }
        if let Some(rule) = self.config.caps.get(&model) {
            let named = rule.completion_only && request.max_tokens_field == Some("max_tokens");
            if named {
                return Err(raw(400, rule.body.clone(), Vec::new()));
            }
            if rule.cap.is_some_and(|cap| request.max_tokens.is_some_and(|m| m > cap)) {
                let body = if rule.completion_only {
                    Arc::new(fixture_text("openai-400-max-tokens-too-large.json"))
                } else {
                    rule.body.clone()
                };
                return Err(raw(400, body, Vec::new()));
            }
        }
        let fault = self.faults.take(&model);
        log.fault = fault.clone();
        match &fault {
            Some(Fault::Raw { status, body, headers }) => return Err(raw(*status, body.clone(), headers.clone())),
            Some(Fault::Status(code)) => return Err(server_error(*code)),
            Some(Fault::Hang) => return Err(Reply::Hang),
            Some(Fault::Delay(d)) => *delay += *d,
            _ => {}
        }
        let headers = self.spend(&project, &model, log)?;
        self.next_id += 1;
        let body = request.answer(fault.as_ref(), self.next_id);
        Ok(match fault {
            Some(Fault::TruncatedBody) => Reply::TruncatedBody(body),
            _ => Reply::Json { status: StatusCode::OK, body, headers },
        })
    }

    /// Counts the request in its (project, model) window, or refuses it with OpenAI's 429.
    /// Returns the `x-ratelimit-*` headers for the answer.
    fn spend(
        &mut self,
        project: &str,
        model: &str,
        log: &mut LoggedRequest,
    ) -> Result<Vec<(&'static str, String)>, Reply> {
        let minute = self.config.minute;
        let style = self.config.retry_after;
        let rpm = self.config.rpm.get(model).copied();
        let now = log.at;
        let pool = self.pools.entry((project.into(), model.into())).or_default();
        log.earliest_allowed = pool.not_before;
        let Some(rpm) = rpm else {
            pool.requests.push_back(now);
            return Ok(Vec::new());
        };
        while pool.requests.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            pool.requests.pop_front();
        }
        let used = pool.requests.len();
        if used >= rpm as usize {
            let wait = (pool.requests[used - rpm as usize] + minute).saturating_duration_since(now);
            let (retry_after, allowed_in) = retry_after_header(style, wait);
            pool.not_before = Some(now + allowed_in);
            let mut headers = vec![
                ("x-ratelimit-limit-requests", rpm.to_string()),
                ("x-ratelimit-remaining-requests", "0".to_string()),
                ("x-ratelimit-reset-requests", go_duration(wait)),
            ];
            headers.extend(retry_after.map(|v| ("retry-after", v)));
            let message = format!(
                "Rate limit reached for {model} in organization org-{project} on requests per min (RPM): Limit {rpm}, Used {used}, Requested 1. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
                go_duration(wait)
            );
            let body = json!({"error": {"message": message, "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
            return Err(Reply::Json { status: StatusCode::TOO_MANY_REQUESTS, body, headers });
        }
        pool.requests.push_back(now);
        let reset = (pool.requests[0] + minute).saturating_duration_since(now);
        Ok(vec![
            ("x-ratelimit-limit-requests", rpm.to_string()),
            ("x-ratelimit-remaining-requests", (rpm as usize - used - 1).to_string()),
            ("x-ratelimit-reset-requests", go_duration(reset)),
        ])
    }
}

/// The `Retry-After` value for a wait, and how long from now it actually allows.
fn retry_after_header(style: RetryAfter, wait: Duration) -> (Option<String>, Duration) {
    match style {
        RetryAfter::Absent => (None, wait),
        RetryAfter::Seconds => {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            (Some(secs.to_string()), Duration::from_secs(secs))
        }
        RetryAfter::HttpDate => {
            // An HTTP date has whole seconds; round up so it never allows too early.
            let now = jiff::Timestamp::now();
            let at = now + jiff::SignedDuration::try_from(wait).expect("short wait");
            let at = jiff::Timestamp::from_second(at.as_second() + 1).expect("valid time");
            let printer = jiff::fmt::rfc2822::DateTimePrinter::new();
            let text = printer.timestamp_to_rfc9110_string(&at).expect("printable date");
            let allowed = at.duration_since(now).unsigned_abs();
            (Some(text), allowed)
        }
    }
}

/// OpenAI's duration format in `x-ratelimit-reset-*`: "20ms", "1.5s", "6m0s".
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let trim = |s: f64| {
        let text = format!("{s:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if ms < 60_000 {
        return format!("{}s", trim(ms as f64 / 1000.0));
    }
    format!("{}m{}s", ms / 60_000, trim((ms % 60_000) as f64 / 1000.0))
}

fn server_error(code: u16) -> Reply {
    let message = match code {
        503 => "The server is overloaded or not ready yet.",
        _ => "The server had an error while processing your request. Sorry about that!",
    };
    openai_error(code, message, "server_error", None, None)
}

async fn list_models(AxumState(state): AxumState<Shared>, headers: HeaderMap) -> Response {
    let (reply, latency) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        (state.list_models(bearer(&headers).as_deref()), state.config.latency)
    };
    send(reply, latency).await
}

async fn chat_completions(AxumState(state): AxumState<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let (reply, delay) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.chat(bearer(&headers).as_deref(), &body)
    };
    send(reply, delay).await
}

async fn send(reply: Reply, delay: Duration) -> Response {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match reply {
        Reply::Json { status, body, headers } => {
            let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(HeaderName::from_static(name), value);
                }
            }
            response
        }
        Reply::TruncatedBody(body) => {
            let text = body.to_string();
            let half = text.as_bytes()[..text.len() / 2].to_vec();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], half).into_response()
        }
        Reply::Hang => std::future::pending().await,
        Reply::Raw { status, body, headers } => {
            let mut response =
                (status, [(header::CONTENT_TYPE, "application/json")], body.as_str().to_owned()).into_response();
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(HeaderName::from_static(name), value);
                }
            }
            response
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests and answers

#[derive(Debug)]
struct ChatRequest {
    model: String,
    texts: Vec<String>,
    images: Vec<ImagePart>,
    chars: usize,
    format_type: Option<String>,
    schema: Option<Value>,
    strict: bool,
    max_tokens: Option<u64>,
    max_tokens_field: Option<&'static str>,
}

fn bad_request(message: &str, param: Option<&str>) -> Reply {
    openai_error(400, message, "invalid_request_error", param, None)
}

impl ChatRequest {
    fn parse(body: &[u8]) -> Result<ChatRequest, Reply> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| bad_request(&format!("We could not parse the JSON body of your request. ({e})"), None))?;
        let model =
            body["model"].as_str().ok_or_else(|| bad_request("you must provide a model parameter", None))?.to_string();
        let messages = body["messages"]
            .as_array()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad_request("Missing required parameter: 'messages'.", Some("messages")))?;
        let format = &body["response_format"];
        let mut request = ChatRequest {
            model,
            texts: Vec::new(),
            images: Vec::new(),
            chars: 0,
            format_type: format["type"].as_str().map(str::to_string),
            schema: format["json_schema"].get("schema").cloned(),
            strict: format["json_schema"]["strict"].as_bool().unwrap_or(false),
            max_tokens: body["max_completion_tokens"].as_u64().or(body["max_tokens"].as_u64()),
            max_tokens_field: if body.get("max_completion_tokens").is_some() {
                Some("max_completion_tokens")
            } else if body.get("max_tokens").is_some() {
                Some("max_tokens")
            } else {
                None
            },
        };
        for message in messages {
            request.read_content(&message["content"])?;
        }
        Ok(request)
    }

    fn read_content(&mut self, content: &Value) -> Result<(), Reply> {
        if let Some(text) = content.as_str() {
            self.push_text(text);
            return Ok(());
        }
        let mut last_text: Option<String> = None;
        for part in content.as_array().into_iter().flatten() {
            match part["type"].as_str() {
                Some("text") => {
                    let text = part["text"].as_str().unwrap_or_default();
                    self.push_text(text);
                    last_text = Some(text.to_string());
                }
                Some("image_url") => {
                    let url = part["image_url"]["url"].as_str().unwrap_or_default();
                    let bytes = image_bytes(url)?;
                    let file = last_text.take().as_deref().and_then(answer::announced_file);
                    self.images.push(ImagePart::new(file, &bytes));
                }
                other => {
                    return Err(bad_request(
                        &format!("Invalid content part type: {}", other.unwrap_or("null")),
                        Some("messages"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn push_text(&mut self, text: &str) {
        self.chars += text.chars().count();
        self.texts.push(text.to_string());
    }

    fn prompt_tokens(&self) -> u64 {
        answer::estimate_tokens(self.chars, self.images.len(), TOKENS_PER_IMAGE)
    }

    /// Strict structured output demands closed objects with every property required.
    fn check_strict_schema(&self) -> Result<(), Reply> {
        let Some(schema) = &self.schema else {
            return Err(bad_request(
                "Missing required parameter: 'response_format.json_schema.schema'.",
                Some("response_format.json_schema.schema"),
            ));
        };
        if !self.strict {
            return Ok(());
        }
        strict_problem(schema, "()").map_or(Ok(()), |problem| {
            Err(bad_request(&format!("Invalid schema for response_format: {problem}"), Some("response_format")))
        })
    }

    fn answer_text(&self) -> String {
        let schema = self.schema.clone().or_else(|| {
            matches!(self.format_type.as_deref(), Some("json_object") | None)
                .then(|| self.texts.iter().find_map(|t| answer::schema_in_text(t)))
                .flatten()
        });
        match (schema, self.format_type.as_deref()) {
            (Some(schema), _) => answer::generate_for(&schema, &self.images, &self.texts).to_string(),
            (None, Some("json_object")) => json!({"text": "fake answer"}).to_string(),
            (None, _) => {
                let mut lines = vec![format!("Fake answer to {} text part(s).", self.texts.len())];
                lines.extend(self.images.iter().enumerate().map(|(i, img)| answer::transcription(img, i)));
                lines.join("\n")
            }
        }
    }

    fn answer(&self, fault: Option<&Fault>, id: u64) -> Value {
        let mut content = self.answer_text();
        let mut finish = "stop";
        match fault {
            Some(Fault::Length) => {
                content = content.chars().take(content.chars().count() / 2).collect();
                finish = "length";
            }
            Some(Fault::InvalidJson) => match content.rfind('}') {
                Some(pos) => content.insert(pos, ','),
                None => content.push_str(" {"),
            },
            _ => {}
        }
        let mut completion = answer::estimate_tokens(content.chars().count(), 0, 0);
        if let Some(max) = self.max_tokens.filter(|max| completion > *max) {
            content = content.chars().take((max * 4) as usize).collect();
            completion = max;
            finish = "length";
        }
        let prompt = self.prompt_tokens();
        json!({
            "id": format!("chatcmpl-fake{id:08x}"),
            "object": "chat.completion",
            "created": jiff::Timestamp::now().as_second(),
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": null, "annotations": []},
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                    "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        })
    }
}

/// The bytes of a `data:` URL; other URLs stand for themselves (nothing is fetched).
fn image_bytes(url: &str) -> Result<Vec<u8>, Reply> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(url.as_bytes().to_vec());
    };
    let data = rest.split_once(";base64,").map(|(_, d)| d);
    data.and_then(|d| BASE64.decode(d).ok())
        .ok_or_else(|| bad_request("Invalid image URL: the data URL is not valid base64.", Some("messages")))
}

/// The first way `schema` breaks OpenAI's strict mode, worded like the real 400.
fn strict_problem(schema: &Value, context: &str) -> Option<String> {
    let map = schema.as_object()?;
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Some(format!(
                "In context={context}, 'additionalProperties' is required to be supplied and to be false."
            ));
        }
        let required: Vec<&str> =
            map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(missing) = props.keys().find(|k| !required.contains(&k.as_str())) {
            return Some(format!(
                "In context={context}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."
            ));
        }
        for (name, sub) in props {
            if let Some(problem) = strict_problem(sub, &format!("('properties', '{name}')")) {
                return Some(problem);
            }
        }
    }
    for key in ["items", "anyOf", "oneOf"] {
        let nested: Vec<&Value> = match map.get(key) {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(other) => vec![other],
            None => Vec::new(),
        };
        if let Some(problem) = nested.into_iter().find_map(|sub| strict_problem(sub, &format!("('{key}',)"))) {
            return Some(problem);
        }
    }
    None
}
