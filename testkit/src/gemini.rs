//! A Gemini-compatible REST server (v1beta) that postmill's integration tests and
//! benchmarks run against, in-process on 127.0.0.1.
//!
//! It answers the way the real API does, bodies included (they are the real ones in
//! `tests/fixtures/gemini/`, with the model and quota figures substituted): keys map to
//! projects, quotas are per (project, model) with a sliding per-minute window and a
//! per-Pacific-day counter, ListModels is paginated, and faults can be scripted per model.
//! Everything the server saw is in a request log that never holds a key, only its name.

use crate::{answer, harness};

/// The posts a packed prompt holds, for tests that count who was sent where.
pub use crate::answer::packed_posts;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use answer::ImagePart;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// Input tokens billed per image (Gemini bills a small image as 258 tokens).
const TOKENS_PER_IMAGE: u64 = 258;
/// Thoughts a thinking model spends when its budget is not capped lower.
const DEFAULT_THOUGHTS: u64 = 120;
const PACIFIC: &str = "America/Los_Angeles";
/// The real API refuses a request body over this ("Request payload size exceeds the limit").
pub const REQUEST_LIMIT: usize = 20 * 1024 * 1024;
/// The image types the real API reads inline.
const READABLE_MIME: [&str; 5] = ["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"];

/// Whether a configured key works, and if not, which real refusal it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Valid,
    /// 403 "Your API key was reported as leaked."
    Leaked,
    /// 403 CONSUMER_SUSPENDED.
    Suspended,
}

#[derive(Debug, Clone)]
struct KeyEntry {
    name: String,
    project: String,
    status: KeyStatus,
}

/// Quotas of one (project, model) pool; `None` is unlimited.
///
/// Serializes as postmill's `[gemini.limits."<model>"]` table, so
/// [`ConfigBuilder::limits`](crate::config::ConfigBuilder::limits) takes the same value a
/// test gives the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Input tokens per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests per Pacific-time day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpd: Option<u32>,
}

impl Limits {
    pub fn rpm(mut self, n: u32) -> Self {
        self.rpm = Some(n);
        self
    }
    pub fn tpm(mut self, n: u64) -> Self {
        self.tpm = Some(n);
        self
    }
    pub fn rpd(mut self, n: u32) -> Self {
        self.rpd = Some(n);
        self
    }
}

/// A model the server lists and (if it supports `generateContent`) serves.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub id: String,
    pub display_name: String,
    pub methods: Vec<String>,
    /// Thinks unless `thinkingBudget: 0` is sent.
    pub thinks_by_default: bool,
    /// Refuses `thinkingBudget: 0` (gemini-2.5-pro).
    pub thinking_required: bool,
    /// ListModels' `outputTokenLimit`; a larger `maxOutputTokens` is a 400.
    pub output_token_limit: u64,
}

impl ModelSpec {
    /// A generative model, with the thinking behaviour its real namesake has.
    pub fn generative(id: &str) -> Self {
        ModelSpec {
            id: id.to_string(),
            display_name: display_name(id),
            methods: ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
                .map(String::from)
                .to_vec(),
            thinks_by_default: !id.contains("lite"),
            thinking_required: id.contains("pro"),
            output_token_limit: 65536,
        }
    }

    /// A model that only embeds: listed, but 404 for `generateContent`.
    pub fn embedding(id: &str) -> Self {
        ModelSpec {
            id: id.to_string(),
            display_name: display_name(id),
            methods: vec!["embedContent".to_string()],
            thinks_by_default: false,
            thinking_required: false,
            output_token_limit: 1,
        }
    }

    fn generates(&self) -> bool {
        self.methods.iter().any(|m| m == "generateContent")
    }

    fn to_json(&self) -> Value {
        let mut model = json!({
            "name": format!("models/{}", self.id),
            "version": "001",
            "displayName": self.display_name,
            "description": format!("Fake {}", self.display_name),
            "inputTokenLimit": if self.generates() { 1048576 } else { 2048 },
            "outputTokenLimit": self.output_token_limit,
            "supportedGenerationMethods": self.methods,
        });
        if self.generates() {
            let extra = json!({"temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2,
                "thinking": self.thinks_by_default || self.thinking_required});
            model.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        }
        model
    }
}

fn display_name(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
        })
        .collect::<Vec<String>>()
        .join(" ")
}

/// Project name that makes a limit apply to every project.
const ANY_PROJECT: &str = "*";

/// How the server is set up; built with the chainable methods below.
#[derive(Debug, Clone)]
pub struct GeminiConfig {
    keys: HashMap<String, KeyEntry>,
    limits: HashMap<(String, String), Limits>,
    models: Vec<ModelSpec>,
    page_size: usize,
    /// The most models a page holds whatever the client asks (the real API caps at 1000,
    /// and may send fewer): lets tests force a client through several pages.
    max_page_size: usize,
    latency: Duration,
    minute: Duration,
    port: u16,
}

impl Default for GeminiConfig {
    fn default() -> Self {
        GeminiConfig {
            keys: HashMap::new(),
            limits: HashMap::new(),
            models: vec![
                ModelSpec::generative("gemini-2.5-flash"),
                ModelSpec::generative("gemini-2.5-flash-lite"),
                ModelSpec::generative("gemini-flash-latest"),
                ModelSpec::generative("gemini-2.5-pro"),
                ModelSpec::embedding("text-embedding-004"),
            ],
            // Small on purpose: clients must follow `nextPageToken`.
            page_size: 2,
            max_page_size: 1000,
            latency: Duration::ZERO,
            minute: Duration::from_secs(60),
            port: 0,
        }
    }
}

impl GeminiConfig {
    /// A working key, named `name` in the log, spending `project`'s quota.
    pub fn key(self, key: &str, name: &str, project: &str) -> Self {
        self.key_with_status(key, name, project, KeyStatus::Valid)
    }

    pub fn key_with_status(mut self, key: &str, name: &str, project: &str, status: KeyStatus) -> Self {
        let entry = KeyEntry { name: name.into(), project: project.into(), status };
        self.keys.insert(key.into(), entry);
        self
    }

    /// Limits of one (project, model) pool.
    pub fn limits(mut self, project: &str, model: &str, limits: Limits) -> Self {
        self.limits.insert((project.into(), model.into()), limits);
        self
    }

    /// Limits of `model` in every project that has none of its own.
    pub fn limits_all(self, model: &str, limits: Limits) -> Self {
        self.limits(ANY_PROJECT, model, limits)
    }

    /// Replaces the served models (plain ids become generative models).
    pub fn models<I: IntoIterator<Item = ModelSpec>>(mut self, models: I) -> Self {
        self.models = models.into_iter().collect();
        self
    }

    pub fn max_page_size(mut self, n: usize) -> Self {
        self.max_page_size = n.max(1);
        self
    }

    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// Added to every answer.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Length of the per-minute window (shorten it in tests).
    pub fn minute(mut self, minute: Duration) -> Self {
        self.minute = minute;
        self
    }

    /// Port to bind on 127.0.0.1 (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A scripted misbehaviour, consumed by the next request to a model (or always applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 INTERNAL.
    Internal,
    /// 503 UNAVAILABLE "The model is overloaded."
    Overloaded,
    /// 429 RESOURCE_EXHAUSTED without QuotaFailure or RetryInfo.
    RateLimitedNoDetails,
    /// 200 with a complete HTTP message whose JSON is cut in half.
    TruncatedBody,
    /// 200 whose headers promise the whole body; half is sent, then the connection drops.
    ConnectionCut,
    /// Never answers.
    Hang,
    /// Answers normally after this long.
    Delay(Duration),
    /// `promptFeedback.blockReason = SAFETY`, no candidates.
    Blocked,
    /// `finishReason: MAX_TOKENS` with the answer's JSON cut short.
    MaxTokens,
    /// `finishReason: STOP` but the candidate's text is not valid JSON.
    InvalidJson,
    /// This status and body, verbatim (a fixture file, a 200 of 50 MB...).
    Raw { status: u16, body: std::sync::Arc<String> },
    /// A packed answer without the entry of this post.
    PackDrop(String),
    /// A packed answer whose entry of this post breaks the schema.
    PackBreak(String),
}

impl Fault {
    /// A fixture body of `tests/fixtures/gemini/`, answered with its own `error.code`.
    pub fn fixture(name: &str) -> Fault {
        let body = fixture_text(name);
        let status = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["error"]["code"].as_u64()).unwrap_or(200);
        Fault::Raw { status: status as u16, body: std::sync::Arc::new(body) }
    }

    /// Faults answered with an error status are refused before quota is spent.
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            Fault::Internal | Fault::Overloaded | Fault::RateLimitedNoDetails | Fault::Hang | Fault::Raw { .. }
        )
    }
}

/// The text of a fixture of `tests/fixtures/gemini/`.
pub fn fixture_text(name: &str) -> String {
    let path = crate::fixture_path(&format!("gemini/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One request as the server saw it. Holds the key's configured name, never the key.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub at: Instant,
    pub time: jiff::Timestamp,
    pub method: &'static str,
    /// Path without the query string (a `?key=` must not end up in any log).
    pub path: String,
    pub model: Option<String>,
    pub key_name: Option<String>,
    pub project: Option<String>,
    /// The key came in `x-goog-api-key`.
    pub key_in_header: bool,
    /// The key came as `?key=` in the URL (the real API accepts it; postmill must not do it).
    pub key_in_url: bool,
    /// Status answered; 0 when the server never answered (`Fault::Hang`).
    pub status: u16,
    pub prompt_tokens: u64,
    pub images: usize,
    /// The request's text parts (system instruction first).
    pub texts: Vec<String>,
    /// `responseMimeType`, and whether a response schema came with it.
    pub response_mime_type: Option<String>,
    pub has_schema: bool,
    /// The size of the request body.
    pub body_bytes: usize,
    /// The `mimeType` of each inline image.
    pub image_mimes: Vec<String>,
    /// The quota a 429 named, if any.
    pub quota_id: Option<String>,
    pub fault: Option<Fault>,
    /// `generationConfig.thinkingConfig` as sent, if any.
    pub thinking_config: Option<Value>,
    /// `generationConfig.maxOutputTokens` as sent, if any.
    pub max_output_tokens: Option<u64>,
}

#[derive(Debug)]
struct Pool {
    requests: VecDeque<Instant>,
    tokens: VecDeque<(Instant, u64)>,
    day: jiff::civil::Date,
    today: u32,
}

impl Pool {
    fn new() -> Self {
        Pool { requests: VecDeque::new(), tokens: VecDeque::new(), day: pacific_today(), today: 0 }
    }

    /// Drops what left the sliding window and resets the day counter at Pacific midnight.
    fn refresh(&mut self, now: Instant, minute: Duration) {
        while self.requests.front().is_some_and(|t| now.duration_since(*t) >= minute) {
            self.requests.pop_front();
        }
        while self.tokens.front().is_some_and(|(t, _)| now.duration_since(*t) >= minute) {
            self.tokens.pop_front();
        }
        let today = pacific_today();
        if today != self.day {
            self.day = today;
            self.today = 0;
        }
    }
}

fn pacific_today() -> jiff::civil::Date {
    jiff::Timestamp::now().in_tz(PACIFIC).expect("tz database is bundled").date()
}

#[derive(Debug)]
struct ServerState {
    config: GeminiConfig,
    pools: HashMap<(String, String), Pool>,
    faults: harness::FaultScript<Fault>,
    log: Vec<LoggedRequest>,
    next_id: u64,
}

type Shared = Arc<Mutex<ServerState>>;

/// A running fake Gemini server; stops when dropped.
pub struct FakeGemini {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGemini {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGemini {
    /// Binds 127.0.0.1 (on the configured port, by default a free one) and serves.
    pub async fn start(config: GeminiConfig) -> FakeGemini {
        let port = config.port;
        let state = Arc::new(Mutex::new(ServerState {
            config,
            pools: HashMap::new(),
            faults: harness::FaultScript::default(),
            log: Vec::new(),
            next_id: 0,
        }));
        let app = Router::new()
            .route("/v1beta/models", get(list_models))
            .route("/v1beta/models/{model_action}", post(generate_content))
            // Past axum's 2 MB default, so that the 20 MiB rule above is the one that answers.
            .layer(DefaultBodyLimit::max(4 * REQUEST_LIMIT))
            .with_state(state.clone());
        let (addr, task) = harness::serve(port, app, "fake Gemini server").await;
        FakeGemini { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`, to be used as the provider's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// `generateContent` requests to `model`, whatever they were answered.
    pub fn requests_to(&self, model: &str) -> usize {
        self.lock().log.iter().filter(|r| r.model.as_deref() == Some(model)).count()
    }

    pub fn count_status(&self, status: u16) -> usize {
        self.lock().log.iter().filter(|r| r.status == status).count()
    }

    /// Requests that carried their key in the URL.
    pub fn key_in_url_count(&self) -> usize {
        self.lock().log.iter().filter(|r| r.key_in_url).count()
    }

    pub fn list_model_requests(&self) -> usize {
        self.lock().log.iter().filter(|r| r.path == "/v1beta/models").count()
    }

    /// Requests counted today against (project, model).
    pub fn used_today(&self, project: &str, model: &str) -> u32 {
        let mut state = self.lock();
        let minute = state.config.minute;
        state.pools.get_mut(&(project.into(), model.into())).map_or(0, |p| {
            p.refresh(Instant::now(), minute);
            p.today
        })
    }

    /// Pretends `n` requests were already spent today in (project, model).
    pub fn set_used_today(&self, project: &str, model: &str, n: u32) {
        let mut state = self.lock();
        state.pools.entry((project.into(), model.into())).or_insert_with(Pool::new).today = n;
    }

    /// Midnight in Los Angeles: every daily counter starts again.
    pub fn reset_day(&self) {
        self.lock().pools.values_mut().for_each(|p| p.today = 0);
    }

    /// Queues a fault for the next request to `model` (after those already queued).
    pub fn push_fault(&self, model: &str, fault: Fault) {
        self.lock().faults.push(model, [fault]);
    }

    pub fn push_faults<I: IntoIterator<Item = Fault>>(&self, model: &str, faults: I) {
        self.lock().faults.push(model, faults);
    }

    /// Applies `fault` to every request to `model` once the queue is empty; `None` stops it.
    pub fn set_always(&self, model: &str, fault: Option<Fault>) {
        self.lock().faults.set_always(model, fault);
    }

    /// Answers every request to `model` with `fault` for `window` from now: an outage
    /// that passes by itself.
    pub fn outage(&self, model: &str, fault: Fault, window: Duration) {
        self.lock().faults.set_until(model, fault, Instant::now() + window);
    }

    pub fn set_limits(&self, project: &str, model: &str, limits: Limits) {
        self.lock().config.limits.insert((project.into(), model.into()), limits);
    }

    pub fn set_key_status(&self, key: &str, status: KeyStatus) {
        if let Some(entry) = self.lock().config.keys.get_mut(key) {
            entry.status = status;
        }
    }

    /// Retires a model: it leaves ListModels and answers 404 from now on.
    pub fn remove_model(&self, model: &str) {
        self.lock().config.models.retain(|m| m.id != model);
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

/// What a handler decided under the lock; sent after the lock is released.
enum Reply {
    Json(StatusCode, Value),
    TruncatedBody(Value),
    ConnectionCut(Value),
    Hang,
    Raw(u16, std::sync::Arc<String>),
}

/// Who called: the key's entry if known, and how the key travelled.
struct Caller {
    key: Option<String>,
    in_header: bool,
    in_url: bool,
}

fn caller(headers: &HeaderMap, query: &HashMap<String, String>) -> Caller {
    let header_key = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let url_key = query.get("key").cloned();
    Caller { in_header: header_key.is_some(), in_url: url_key.is_some(), key: header_key.or(url_key) }
}

impl ServerState {
    fn new_log(&self, path: &str, caller: &Caller) -> LoggedRequest {
        let entry = caller.key.as_ref().and_then(|k| self.config.keys.get(k));
        LoggedRequest {
            at: Instant::now(),
            time: jiff::Timestamp::now(),
            method: "GET",
            path: path.to_string(),
            model: None,
            key_name: entry.map(|e| e.name.clone()),
            project: entry.map(|e| e.project.clone()),
            key_in_header: caller.in_header,
            key_in_url: caller.in_url,
            status: 0,
            prompt_tokens: 0,
            images: 0,
            texts: Vec::new(),
            response_mime_type: None,
            has_schema: false,
            body_bytes: 0,
            image_mimes: Vec::new(),
            quota_id: None,
            fault: None,
            thinking_config: None,
            max_output_tokens: None,
        }
    }

    /// The refusal for a missing, unknown, leaked or suspended key; the project otherwise.
    fn authorize(&self, caller: &Caller) -> Result<String, Reply> {
        let Some(key) = &caller.key else {
            return Err(google_error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                "PERMISSION_DENIED",
            ));
        };
        match self.config.keys.get(key) {
            None => Err(fixture_reply(400, "400-api-key-invalid.json")),
            Some(e) if e.status == KeyStatus::Leaked => Err(fixture_reply(403, "403-key-leaked.json")),
            Some(e) if e.status == KeyStatus::Suspended => Err(fixture_reply(403, "403-consumer-suspended.json")),
            Some(e) => Ok(e.project.clone()),
        }
    }

    fn limits_for(&self, project: &str, model: &str) -> Limits {
        let limits = &self.config.limits;
        limits
            .get(&(project.into(), model.into()))
            .or_else(|| limits.get(&(ANY_PROJECT.into(), model.into())))
            .copied()
            .unwrap_or_default()
    }

    fn take_fault(&mut self, model: &str) -> Option<Fault> {
        self.faults.take(model)
    }

    fn list_models(&mut self, query: &HashMap<String, String>, caller: &Caller) -> Reply {
        let mut log = self.new_log("/v1beta/models", caller);
        let reply = self.authorize(caller).and_then(|_| self.models_page(query));
        let reply = reply.unwrap_or_else(|refusal| refusal);
        log.status = reply_status(&reply);
        self.log.push(log);
        reply
    }

    fn models_page(&self, query: &HashMap<String, String>) -> Result<Reply, Reply> {
        let size = query
            .get("pageSize")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(self.config.page_size)
            .min(self.config.max_page_size);
        let models = &self.config.models;
        let start = match query.get("pageToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => {
                let last = decode_page_token(token)
                    .ok_or_else(|| google_error(400, "Invalid page token.", "INVALID_ARGUMENT"))?;
                models.iter().position(|m| m.id == last).map(|i| i + 1).unwrap_or(models.len())
            }
        };
        let page: Vec<&ModelSpec> = models.iter().skip(start).take(size).collect();
        let mut body = json!({ "models": page.iter().map(|m| m.to_json()).collect::<Vec<_>>() });
        if start + page.len() < models.len()
            && let Some(last) = page.last()
        {
            body["nextPageToken"] = Value::String(page_token(&last.id));
        }
        Ok(Reply::Json(StatusCode::OK, body))
    }

    fn generate(&mut self, model_action: &str, caller: &Caller, body: &[u8]) -> (Reply, Duration) {
        let path = format!("/v1beta/models/{model_action}");
        let mut log = self.new_log(&path, caller);
        log.method = "POST";
        let (model, action) = model_action.split_once(':').unwrap_or((model_action, ""));
        log.model = Some(model.to_string());
        let mut delay = self.config.latency;
        log.body_bytes = body.len();
        let reply = if body.len() > REQUEST_LIMIT {
            Err(fixture_reply(400, "400-payload-too-large.json"))
        } else {
            self.decide(model, action, caller, body, &mut log, &mut delay)
        };
        let reply = reply.unwrap_or_else(|refusal| refusal);
        log.status = reply_status(&reply);
        self.log.push(log);
        (reply, delay)
    }

    /// The whole decision for one generateContent request, in the real API's order:
    /// key, method, model, request validity, then quotas.
    fn decide(
        &mut self,
        model: &str,
        action: &str,
        caller: &Caller,
        body: &[u8],
        log: &mut LoggedRequest,
        delay: &mut Duration,
    ) -> Result<Reply, Reply> {
        let project = self.authorize(caller)?;
        if action != "generateContent" {
            return Err(google_error(404, "Method not found.", "NOT_FOUND"));
        }
        let spec = self.config.models.iter().find(|m| m.id == model && m.generates()).cloned();
        let Some(spec) = spec else {
            return Err(model_not_found(model));
        };
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            let config = field(&v, "generationConfig").cloned().unwrap_or(Value::Null);
            log.thinking_config = field(&config, "thinkingConfig").cloned();
            log.max_output_tokens = field(&config, "maxOutputTokens").and_then(Value::as_u64);
        }
        let request = GenerateRequest::parse(body, &spec).inspect_err(|_| {
            // What was sent, even when refused: a test asserts no unreadable type went out.
            log.image_mimes = sent_mimes(body);
        })?;
        log.image_mimes = request.mimes.clone();
        log.prompt_tokens = request.prompt_tokens();
        log.images = request.images.len();
        log.texts = request.texts.clone();
        log.response_mime_type = request.response_mime_type.clone();
        log.has_schema = request.schema.is_some();

        let fault = self.take_fault(model);
        log.fault = fault.clone();
        match &fault {
            Some(Fault::Internal) => return Err(fixture_reply(500, "500-internal.json")),
            Some(Fault::Overloaded) => return Err(fixture_reply(503, "503-overloaded.json")),
            Some(Fault::RateLimitedNoDetails) => {
                return Err(fixture_reply(429, "429-no-details.json"));
            }
            Some(Fault::Hang) => return Err(Reply::Hang),
            Some(Fault::Raw { status, body }) => return Err(Reply::Raw(*status, body.clone())),
            Some(Fault::Delay(d)) => *delay += *d,
            _ => {}
        }
        debug_assert!(!fault.as_ref().is_some_and(Fault::is_refusal));

        self.spend_quota(&project, model, request.prompt_tokens(), log)?;
        self.next_id += 1;
        let answer = request.answer(&spec, fault.as_ref(), self.next_id);
        Ok(match fault {
            Some(Fault::TruncatedBody) => Reply::TruncatedBody(answer),
            Some(Fault::ConnectionCut) => Reply::ConnectionCut(answer),
            _ => Reply::Json(StatusCode::OK, answer),
        })
    }

    /// Counts the request against its pool, or refuses it with the real 429 (a refused
    /// request does not count).
    fn spend_quota(&mut self, project: &str, model: &str, tokens: u64, log: &mut LoggedRequest) -> Result<(), Reply> {
        let limits = self.limits_for(project, model);
        let minute = self.config.minute;
        let now = Instant::now();
        let pool = self.pools.entry((project.into(), model.into())).or_insert_with(Pool::new);
        pool.refresh(now, minute);
        let refusal = if limits.rpd == Some(0) {
            Some(limit_zero(model))
        } else if let Some(rpd) = limits.rpd.filter(|rpd| pool.today >= *rpd) {
            Some(per_day(model, rpd))
        } else if let Some(rpm) = limits.rpm.filter(|rpm| pool.requests.len() >= *rpm as usize) {
            let oldest = pool.requests[pool.requests.len() - rpm as usize];
            Some(per_minute_requests(model, rpm, (oldest + minute).saturating_duration_since(now)))
        } else if let Some(tpm) = limits.tpm {
            let used: u64 = pool.tokens.iter().map(|(_, n)| n).sum();
            (used + tokens > tpm).then(|| {
                let wait = tokens_free_at(&pool.tokens, used + tokens - tpm, minute, now);
                per_minute_tokens(model, tpm, wait)
            })
        } else {
            None
        };
        if let Some((quota_id, reply)) = refusal {
            log.quota_id = Some(quota_id);
            return Err(reply);
        }
        pool.requests.push_back(now);
        pool.tokens.push_back((now, tokens));
        pool.today += 1;
        Ok(())
    }
}

/// When enough tokens will have left the window for `excess` more to fit (the whole
/// window if the request alone exceeds the limit).
fn tokens_free_at(tokens: &VecDeque<(Instant, u64)>, excess: u64, minute: Duration, now: Instant) -> Duration {
    let mut freed = 0;
    for (at, n) in tokens {
        freed += n;
        if freed >= excess {
            return (*at + minute).saturating_duration_since(now);
        }
    }
    minute
}

fn reply_status(reply: &Reply) -> u16 {
    match reply {
        Reply::Json(status, _) => status.as_u16(),
        Reply::TruncatedBody(_) | Reply::ConnectionCut(_) => 200,
        Reply::Hang => 0,
        Reply::Raw(status, _) => *status,
    }
}

async fn list_models(
    AxumState(state): AxumState<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (reply, latency) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        (state.list_models(&query, &caller(&headers, &query)), state.config.latency)
    };
    send(reply, latency).await
}

async fn generate_content(
    AxumState(state): AxumState<Shared>,
    Path(model_action): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (reply, delay) = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        state.generate(&model_action, &caller(&headers, &query), &body)
    };
    send(reply, delay).await
}

async fn send(reply: Reply, delay: Duration) -> Response {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match reply {
        Reply::Json(status, body) => {
            (status, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response()
        }
        Reply::TruncatedBody(body) => {
            let text = body.to_string();
            let half = text.as_bytes()[..text.len() / 2].to_vec();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], half).into_response()
        }
        Reply::ConnectionCut(body) => connection_cut(body.to_string().into_bytes()),
        Reply::Hang => std::future::pending().await,
        Reply::Raw(status, body) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            body.as_str().to_owned(),
        )
            .into_response(),
    }
}

/// Promises the whole body in Content-Length, sends half, then fails the body stream so
/// hyper drops the connection mid-message.
fn connection_cut(full: Vec<u8>) -> Response {
    let total = full.len();
    let half = Bytes::from(full[..total / 2].to_vec());
    let chunks = futures::stream::unfold(Some(half), |half| async move {
        match half {
            Some(bytes) => Some((Ok::<Bytes, std::io::Error>(bytes), None)),
            None => {
                // Let the first half reach the client before the connection goes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Err(std::io::Error::other("connection cut by fault injection")), None))
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .header(header::CONTENT_LENGTH, total)
        .body(Body::from_stream(chunks))
        .expect("valid response")
}

// ---------------------------------------------------------------------------------------
// Requests and answers

/// The parts of a generateContent request that shape the answer.
#[derive(Debug)]
struct GenerateRequest {
    texts: Vec<String>,
    images: Vec<ImagePart>,
    /// The `mimeType` of each image.
    mimes: Vec<String>,
    chars: usize,
    response_mime_type: Option<String>,
    schema: Option<Value>,
    max_output_tokens: Option<u64>,
    thinking_budget: Option<i64>,
}

/// Fields the real API knows; anything else is a 400 "Unknown name" there.
const REQUEST_FIELDS: &[&str] =
    &["contents", "systemInstruction", "generationConfig", "safetySettings", "tools", "toolConfig", "cachedContent"];
const GENERATION_CONFIG_FIELDS: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
];

/// The real API takes both spellings of every field (proto JSON mapping).
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// `obj[name]` under either spelling.
fn field<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.iter().find(|(k, _)| camel(k) == name).map(|(_, v)| v)
}

fn check_fields(obj: &Value, known: &[&str], at: &str) -> Result<(), Reply> {
    let Some(map) = obj.as_object() else {
        return Ok(());
    };
    match map.keys().find(|k| !known.contains(&camel(k).as_str())) {
        None => Ok(()),
        Some(unknown) => {
            let place = if at.is_empty() { String::new() } else { format!(" at '{at}'") };
            Err(google_error(
                400,
                &format!("Invalid JSON payload received. Unknown name \"{unknown}\"{place}: Cannot find field."),
                "INVALID_ARGUMENT",
            ))
        }
    }
}

fn invalid(message: &str) -> Reply {
    google_error(400, message, "INVALID_ARGUMENT")
}

impl GenerateRequest {
    fn parse(body: &[u8], spec: &ModelSpec) -> Result<GenerateRequest, Reply> {
        let body: Value =
            serde_json::from_slice(body).map_err(|e| invalid(&format!("Invalid JSON payload received. {e}")))?;
        check_fields(&body, REQUEST_FIELDS, "")?;
        let config = field(&body, "generationConfig").cloned().unwrap_or(Value::Null);
        check_fields(&config, GENERATION_CONFIG_FIELDS, "generation_config")?;

        let mut request = GenerateRequest {
            texts: Vec::new(),
            images: Vec::new(),
            mimes: Vec::new(),
            chars: 0,
            response_mime_type: field(&config, "responseMimeType").and_then(Value::as_str).map(str::to_string),
            schema: None,
            max_output_tokens: field(&config, "maxOutputTokens").and_then(Value::as_u64),
            thinking_budget: field(&config, "thinkingConfig")
                .and_then(|t| field(t, "thinkingBudget"))
                .and_then(Value::as_i64),
        };
        request.read_schema(&config)?;
        if let Some(max) = request.max_output_tokens.filter(|m| *m > spec.output_token_limit) {
            return Err(invalid(&format!(
                "Unable to submit request because it has a maxOutputTokens value of {max} but the supported range is from 1 (inclusive) to {} (exclusive). Update the value and try again.",
                spec.output_token_limit + 1
            )));
        }
        if request.thinking_budget == Some(0) && spec.thinking_required {
            return Err(invalid("Budget 0 is invalid. This model only works in thinking mode."));
        }
        if let Some(system) = field(&body, "systemInstruction") {
            request.read_parts(system, "system_instruction")?;
        }
        let contents = field(&body, "contents").and_then(Value::as_array).cloned().unwrap_or_default();
        if contents.is_empty() {
            return Err(invalid("* GenerateContentRequest.contents: contents is not specified\n"));
        }
        for (i, content) in contents.iter().enumerate() {
            request.read_parts(content, &format!("contents[{i}]"))?;
        }
        Ok(request)
    }

    fn read_schema(&mut self, config: &Value) -> Result<(), Reply> {
        let schema = field(config, "responseSchema");
        let json_schema = field(config, "responseJsonSchema");
        if schema.is_some() && json_schema.is_some() {
            return Err(invalid(
                "* GenerateContentRequest.generation_config.response_schema: only one of response_schema and response_json_schema may be set.\n",
            ));
        }
        self.schema = schema.or(json_schema).cloned();
        if self.schema.is_some() && self.response_mime_type.as_deref() != Some("application/json") {
            return Err(invalid(
                "* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be application/json when a response schema is set.\n",
            ));
        }
        Ok(())
    }

    fn read_parts(&mut self, content: &Value, at: &str) -> Result<(), Reply> {
        let parts = field(content, "parts").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut last_text: Option<String> = None;
        for (j, part) in parts.iter().enumerate() {
            if let Some(text) = field(part, "text").and_then(Value::as_str) {
                self.chars += text.chars().count();
                self.texts.push(text.to_string());
                last_text = Some(text.to_string());
            } else if let Some(inline) = field(part, "inlineData") {
                let mime = field(inline, "mimeType").and_then(Value::as_str).unwrap_or_default();
                unreadable_mime(mime, &format!("{at}.parts[{j}]"))?;
                self.mimes.push(mime.to_string());
                let data = field(inline, "data").and_then(Value::as_str).unwrap_or_default();
                let bytes = BASE64.decode(data).map_err(|_| {
                    invalid(&format!(
                        "Invalid value at '{at}.parts[{j}].inline_data.data' (TYPE_BYTES), Base64 decoding failed"
                    ))
                })?;
                let file = last_text.take().as_deref().and_then(answer::announced_file);
                self.images.push(ImagePart::new(file, &bytes));
            }
        }
        Ok(())
    }

    fn prompt_tokens(&self) -> u64 {
        answer::estimate_tokens(self.chars, self.images.len(), TOKENS_PER_IMAGE)
    }

    fn thoughts(&self, spec: &ModelSpec) -> u64 {
        match self.thinking_budget {
            Some(0) => 0,
            Some(b) if b > 0 => (b as u64).min(DEFAULT_THOUGHTS),
            Some(_) => DEFAULT_THOUGHTS,
            None if spec.thinks_by_default || spec.thinking_required => DEFAULT_THOUGHTS,
            None => 0,
        }
    }

    /// The text a model would give: schema-shaped JSON, or plain text when none was asked.
    fn answer_text(&self) -> String {
        let json_wanted = self.response_mime_type.as_deref() == Some("application/json");
        let schema = self
            .schema
            .clone()
            .or_else(|| json_wanted.then(|| self.texts.iter().find_map(|t| answer::schema_in_text(t))).flatten());
        match schema {
            Some(schema) => answer::generate_for(&schema, &self.images, &self.texts).to_string(),
            None if json_wanted => json!({"text": "fake answer"}).to_string(),
            None => {
                let mut lines = vec![format!("Fake answer to {} text part(s).", self.texts.len())];
                lines.extend(self.images.iter().enumerate().map(|(i, img)| answer::transcription(img, i)));
                lines.join("\n")
            }
        }
    }

    /// The generateContent response body, with `fault` shaping it if it is one of the
    /// 200-status ones.
    fn answer(&self, spec: &ModelSpec, fault: Option<&Fault>, id: u64) -> Value {
        let prompt = self.prompt_tokens();
        if fault == Some(&Fault::Blocked) {
            let mut body = fixture("blocked-prompt.json");
            body["usageMetadata"] = json!({"promptTokenCount": prompt, "totalTokenCount": prompt});
            return body;
        }
        let mut text = self.answer_text();
        let mut finish = "STOP";
        match fault {
            Some(Fault::MaxTokens) => {
                text = cut_chars(&text, text.chars().count() / 2);
                finish = "MAX_TOKENS";
            }
            Some(Fault::PackDrop(id)) | Some(Fault::PackBreak(id)) => {
                let mut v: Value = serde_json::from_str(&text).expect("the fake's own answer is JSON");
                if let Some(posts) = v.get_mut("posts").and_then(Value::as_array_mut) {
                    if matches!(fault, Some(Fault::PackDrop(_))) {
                        posts.retain(|p| p["post_id"] != id.as_str());
                    } else if let Some(p) = posts.iter_mut().find(|p| p["post_id"] == id.as_str()) {
                        p["rounds"] = json!("not a list of rounds");
                    }
                }
                text = v.to_string();
            }
            Some(Fault::InvalidJson) => {
                // A trailing comma: invalid JSON however a client strips fences or prose.
                if let Some(pos) = text.rfind('}') {
                    text.insert(pos, ',');
                } else {
                    text.push_str(" {");
                }
            }
            _ => {}
        }
        let mut thoughts = self.thoughts(spec);
        let mut output = answer::estimate_tokens(text.chars().count(), 0, 0);
        if let Some(max) = self.max_output_tokens {
            // Thoughts come out of the same budget; what is left may not hold the answer,
            // or nothing at all (then the real API sends a candidate without parts).
            thoughts = thoughts.min(max);
            let room = max - thoughts;
            if output > room {
                text = cut_chars(&text, (room * 4) as usize);
                output = room;
                finish = "MAX_TOKENS";
            }
        }
        let content = if text.is_empty() {
            json!({"role": "model"})
        } else {
            json!({"parts": [{"text": text}], "role": "model"})
        };
        let mut details =
            vec![json!({"modality": "TEXT", "tokenCount": prompt - TOKENS_PER_IMAGE * self.images.len() as u64})];
        if !self.images.is_empty() {
            details.push(json!({"modality": "IMAGE", "tokenCount": TOKENS_PER_IMAGE * self.images.len() as u64}));
        }
        json!({
            "candidates": [{"content": content, "finishReason": finish, "index": 0}],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": output,
                "thoughtsTokenCount": thoughts,
                "totalTokenCount": prompt + output + thoughts,
                "promptTokensDetails": details,
            },
            "modelVersion": spec.id,
            "responseId": format!("fake{id:08x}"),
        })
    }
}

fn cut_chars(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

// ---------------------------------------------------------------------------------------
// Bodies: the real ones from tests/fixtures/gemini, figures substituted.

fn fixture(name: &str) -> Value {
    let text = match name {
        "400-api-key-invalid.json" => include_str!("../../tests/fixtures/gemini/400-api-key-invalid.json"),
        "403-consumer-suspended.json" => {
            include_str!("../../tests/fixtures/gemini/403-consumer-suspended.json")
        }
        "403-key-leaked.json" => include_str!("../../tests/fixtures/gemini/403-key-leaked.json"),
        "404-model-retired.json" => include_str!("../../tests/fixtures/gemini/404-model-retired.json"),
        "429-input-tokens-per-minute-free.json" => {
            include_str!("../../tests/fixtures/gemini/429-input-tokens-per-minute-free.json")
        }
        "429-limit-zero.json" => include_str!("../../tests/fixtures/gemini/429-limit-zero.json"),
        "429-no-details.json" => include_str!("../../tests/fixtures/gemini/429-no-details.json"),
        "429-per-day-free.json" => include_str!("../../tests/fixtures/gemini/429-per-day-free.json"),
        "429-requests-per-minute-paid.json" => {
            include_str!("../../tests/fixtures/gemini/429-requests-per-minute-paid.json")
        }
        "500-internal.json" => include_str!("../../tests/fixtures/gemini/500-internal.json"),
        "503-overloaded.json" => include_str!("../../tests/fixtures/gemini/503-overloaded.json"),
        "blocked-prompt.json" => include_str!("../../tests/fixtures/gemini/blocked-prompt.json"),
        "400-unsupported-mime-gif.json" => include_str!("../../tests/fixtures/gemini/400-unsupported-mime-gif.json"),
        "400-mime-type-must-be.json" => include_str!("../../tests/fixtures/gemini/400-mime-type-must-be.json"),
        "400-payload-too-large.json" => include_str!("../../tests/fixtures/gemini/400-payload-too-large.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixtures are valid JSON")
}

/// The real refusal of an inline image type Gemini does not read.
fn unreadable_mime(mime: &str, at: &str) -> Result<(), Reply> {
    if READABLE_MIME.contains(&mime) {
        return Ok(());
    }
    if mime == "image/gif" {
        return Err(fixture_reply(400, "400-unsupported-mime-gif.json"));
    }
    let mut body = fixture("400-mime-type-must-be.json");
    let message = body["error"]["message"].as_str().unwrap_or_default().replace("contents[0].parts[1]", at);
    body["error"]["message"] = Value::String(message);
    Err(Reply::Json(StatusCode::BAD_REQUEST, body))
}

/// The `mimeType` of every inline image of a request body, however malformed the rest.
fn sent_mimes(body: &[u8]) -> Vec<String> {
    let Ok(body) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let contents = field(&body, "contents").and_then(Value::as_array).cloned().unwrap_or_default();
    contents
        .iter()
        .flat_map(|c| field(c, "parts").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|p| Some(field(field(&p, "inlineData")?, "mimeType")?.as_str()?.to_string()))
        .collect()
}

fn fixture_reply(status: u16, name: &str) -> Reply {
    Reply::Json(StatusCode::from_u16(status).expect("valid status"), fixture(name))
}

fn google_error(code: u16, message: &str, status: &str) -> Reply {
    let body = json!({"error": {"code": code, "message": message, "status": status}});
    Reply::Json(StatusCode::from_u16(code).expect("valid status"), body)
}

fn model_not_found(model: &str) -> Reply {
    let mut body = fixture("404-model-retired.json");
    let message = body["error"]["message"].as_str().unwrap_or_default().replace("gemini-1.5-flash", model);
    body["error"]["message"] = Value::String(message);
    Reply::Json(StatusCode::NOT_FOUND, body)
}

/// The `details[]` entry of the given `@type` (e.g. "QuotaFailure").
fn detail<'a>(body: &'a mut Value, kind: &str) -> &'a mut Value {
    let details = body["error"]["details"].as_array_mut().expect("fixture has details");
    let suffix = format!(".{kind}");
    details
        .iter_mut()
        .find(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(&suffix)))
        .expect("fixture has the detail")
}

fn set_violation(body: &mut Value, model: &str, quota_value: impl ToString) {
    let violation = &mut detail(body, "QuotaFailure")["violations"][0];
    violation["quotaDimensions"]["model"] = Value::String(model.to_string());
    violation["quotaValue"] = Value::String(quota_value.to_string());
}

fn set_retry_delay(body: &mut Value, delay: String) {
    detail(body, "RetryInfo")["retryDelay"] = Value::String(delay);
}

fn quota_id(body: &mut Value) -> String {
    detail(body, "QuotaFailure")["violations"][0]["quotaId"].as_str().unwrap_or_default().to_string()
}

fn too_many(mut body: Value) -> (String, Reply) {
    (quota_id(&mut body), Reply::Json(StatusCode::TOO_MANY_REQUESTS, body))
}

/// protobuf Duration JSON: seconds with 0, 3, 6 or 9 fractional digits, like "45.837906927s".
fn proto_duration(d: Duration) -> String {
    let (secs, nanos) = (d.as_secs(), d.subsec_nanos());
    match nanos {
        0 => format!("{secs}s"),
        n if n % 1_000_000 == 0 => format!("{secs}.{:03}s", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{secs}.{:06}s", n / 1_000),
        n => format!("{secs}.{n:09}s"),
    }
}

fn per_minute_requests(model: &str, limit: u32, wait: Duration) -> (String, Reply) {
    let mut body = fixture("429-requests-per-minute-paid.json");
    set_violation(&mut body, model, limit);
    let violation = &mut detail(&mut body, "QuotaFailure")["violations"][0];
    violation["quotaId"] = json!("GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
    violation["quotaMetric"] = json!("generativelanguage.googleapis.com/generate_content_free_tier_requests");
    set_retry_delay(&mut body, proto_duration(wait));
    too_many(body)
}

fn per_minute_tokens(model: &str, limit: u64, wait: Duration) -> (String, Reply) {
    let mut body = fixture("429-input-tokens-per-minute-free.json");
    set_violation(&mut body, model, limit);
    // The real API rounds this one to whole seconds ("26s").
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    set_retry_delay(&mut body, format!("{secs}s"));
    too_many(body)
}

/// The daily refusal, with the real API's trap: a retry delay of a few seconds that means
/// nothing for a quota that frees at Pacific midnight.
fn per_day(model: &str, limit: u32) -> (String, Reply) {
    let mut body = fixture("429-per-day-free.json");
    set_violation(&mut body, model, limit);
    let now = jiff::Timestamp::now();
    let to_next_minute = Duration::from_nanos(60_000_000_000 - (now.as_nanosecond() % 60_000_000_000) as u64);
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .replace("limit: 20, model: gemini-2.5-flash-lite", &format!("limit: {limit}, model: {model}"))
        .replace("9.171728021s", &format!("{}.{:09}s", to_next_minute.as_secs(), to_next_minute.subsec_nanos()));
    body["error"]["message"] = Value::String(message);
    set_retry_delay(&mut body, format!("{}s", to_next_minute.as_secs()));
    too_many(body)
}

fn limit_zero(model: &str) -> (String, Reply) {
    let mut body = fixture("429-limit-zero.json");
    set_violation(&mut body, model, 0);
    let message = body["error"]["message"].as_str().unwrap_or_default().replace("gemini-2.5-pro", model);
    body["error"]["message"] = Value::String(message);
    too_many(body)
}

/// ListModels page tokens look like the real ones: base64 of a small protobuf holding the
/// last name returned (`Ch5tb2RlbHMv...` = field 1, 30 bytes, "models/...").
fn page_token(last_id: &str) -> String {
    let name = format!("models/{last_id}");
    let mut bytes = vec![0x0a, name.len() as u8];
    bytes.extend_from_slice(name.as_bytes());
    BASE64.encode(bytes)
}

fn decode_page_token(token: &str) -> Option<String> {
    let bytes = BASE64.decode(token).ok()?;
    let (&[0x0a, len], rest) = bytes.split_first_chunk::<2>()? else {
        return None;
    };
    // Tolerate a length byte larger than what follows: the real token in
    // list-models-page.json claims 30 bytes for a 28-byte name.
    let name = std::str::from_utf8(&rest[..rest.len().min(len as usize)]).ok()?;
    name.strip_prefix("models/").map(str::to_string)
}
