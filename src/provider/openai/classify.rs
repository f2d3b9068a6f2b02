//! Turning a non-`2xx` chat-completions answer into a [`Failure`], and the header formats
//! that come with it.
//!
//! Compatible servers agree on status codes far more than on bodies, so the status leads
//! and the body only refines it: OpenAI and DashScope send `{"error":{"message","type",
//! "code"}}`, vLLM a top-level `{"message","type","code"}`, Ollama sometimes
//! `{"error":"text"}`, proxies HTML. All are read into one [`ErrorBody`].
//!
//! The dialects differ where it matters most (see the README, "Real services"): OpenAI's
//! `insufficient_quota` is billing (the whole provider stops), DashScope sends the same code
//! for its per-minute token limit (link `#token-limit`: a wait); DashScope's
//! `AllocationQuota.FreeTierOnly` is one model's allowance (that pool, not the key); and a
//! 400 that names the output budget's cap, or refuses `max_tokens`, is a refused parameter
//! to resend at once, never a reason to drop the model.

use crate::provider::{Failure, QuotaScope, QuotaSignal, Refusal, values};
use jiff::Timestamp;
use regex::Regex;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::sync::LazyLock;
use std::time::Duration;

/// The parts of an error body that classification looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    pub message: String,
    /// `code` (a string, or a number turned into one).
    pub code: Option<String>,
    /// `type`, e.g. `invalid_request_error`.
    pub kind: Option<String>,
    /// `param`: the request field refused, when the server says.
    pub param: Option<String>,
}

impl ErrorBody {
    pub fn parse(body: &[u8]) -> ErrorBody {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return ErrorBody { message: String::from_utf8_lossy(body).trim().to_string(), ..Default::default() };
        };
        let inner = match value.get("error") {
            Some(Value::String(message)) => {
                return ErrorBody { message: message.clone(), ..Default::default() };
            }
            Some(e @ Value::Object(_)) => e,
            _ => &value,
        };
        let text = |key: &str| match inner.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        ErrorBody {
            message: text("message").unwrap_or_else(|| value.to_string()),
            code: text("code"),
            kind: text("type"),
            param: text("param"),
        }
    }

    fn mentions(&self, needle: &str) -> bool {
        self.message.to_lowercase().contains(needle)
            || self.code.as_deref().is_some_and(|c| c.to_lowercase().contains(needle))
    }
}

/// Error codes that say the same thing whatever the status: a missing model (OpenAI,
/// DashScope; GLM's `1211`), a key or account refused (DashScope's `Arrearage` is an
/// unpaid account, sent as a 400), input or output refused by a moderation filter (Azure,
/// DashScope, GLM's `1301`).
const MODEL_CODES: [&str; 2] = ["model_not_found", "1211"];
const KEY_CODES: [&str; 3] = ["invalid_api_key", "InvalidApiKey", "Arrearage"];
const BLOCKED_CODES: [&str; 4] = ["content_filter", "data_inspection_failed", "DataInspectionFailed", "1301"];
/// 429 codes of an exhausted balance (OpenAI, GLM's `1113`): no point retrying this minute.
const BILLING_CODES: [&str; 2] = ["insufficient_quota", "1113"];
/// DashScope: this model's free allowance is spent; the key serves its other models.
const FREE_TIER_CODES: [&str; 1] = ["AllocationQuota.FreeTierOnly"];

/// Classifies a failed chat-completions or models request.
pub fn classify(status: u16, headers: &HeaderMap, body: &ErrorBody, now: Timestamp) -> Failure {
    let code = body.code.as_deref().unwrap_or_default();
    if FREE_TIER_CODES.contains(&code) || body.kind.as_deref().is_some_and(|k| FREE_TIER_CODES.contains(&k)) {
        return Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::PerDay,
            tokens: false,
            quota_id: Some(FREE_TIER_CODES[0].to_string()),
            quota_value: None,
            retry_delay: None,
        });
    }
    if status == 429 && BILLING_CODES.contains(&code) && !is_dashscope_token_limit(body) {
        return Failure::Billing;
    }
    if matches!(status, 400 | 422)
        && let Some(refusal) = output_refusal(body)
    {
        return Failure::Refused(refusal);
    }
    if MODEL_CODES.contains(&code) {
        return Failure::ModelNotFound;
    }
    if KEY_CODES.contains(&code) {
        return Failure::KeyRejected;
    }
    if BLOCKED_CODES.contains(&code) {
        return Failure::Blocked { reason: code.to_string() };
    }
    match status {
        401 | 403 => Failure::KeyRejected,
        // Only a 404 that speaks of the model retires it: a bare 404 is a wrong base_url,
        // which no other model would fix either.
        404 if body.mentions("model") => Failure::ModelNotFound,
        408 => Failure::Timeout,
        429 => Failure::RateLimited(rate_limit_signal(headers, body, now)),
        500..=599 => Failure::ServerError,
        _ => Failure::BadRequest,
    }
}

/// DashScope's per-minute token limit wears OpenAI's billing code; only its help link
/// (`…/error-code#token-limit`) tells them apart.
fn is_dashscope_token_limit(body: &ErrorBody) -> bool {
    body.message.contains("#token-limit")
}

/// A 400 about the output budget: `max_tokens` refused by name (o-series, gpt-5), or a
/// budget above the model's cap, in any of the four wordings servers use (the cap they
/// name is read, clamped like any server value).
pub fn output_refusal(body: &ErrorBody) -> Option<Refusal> {
    static CAP: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        [
            // OpenAI: "This model supports at most 16384 completion tokens"
            r"supports at most (\d+)",
            // DashScope: "Range of max_tokens should be [1, 8192]"; DeepSeek: "the valid range of max_tokens is [1, 8192]"
            r"range of max_(?:completion_)?tokens[^\[]*\[\s*\d+\s*,\s*(\d+)\s*\]",
            // Volcengine: "expected a value <= 12288"
            r"expected a value <=\s*(\d+)",
        ]
        .iter()
        .map(|p| Regex::new(&format!("(?i){p}")).expect("valid regex"))
        .collect()
    });
    let names_budget = body.mentions("max_tokens")
        || body.mentions("max_completion_tokens")
        || body.param.as_deref().is_some_and(|p| p.contains("tokens"));
    if !names_budget {
        return None;
    }
    if body.mentions("unsupported parameter") || body.code.as_deref() == Some("unsupported_parameter") {
        return Some(Refusal::MaxTokensName);
    }
    let cap = CAP.iter().find_map(|re| re.captures(&body.message)?.get(1).and_then(|m| values::limit_text(m.as_str())));
    let too_large = cap.is_some() || body.mentions("too large") || body.mentions("range");
    too_large.then(|| Refusal::OutputCap(cap.filter(|c| *c > 0).map(|c| c.min(u64::from(u32::MAX)) as u32)))
}

/// Whether a failure means "this server does not do strict `json_schema`", so that the
/// request is worth repeating with `json_object`. Servers word it many ways (vLLM: 400
/// `response_format ... not supported`; older llama.cpp: 422; DashScope: 400 mentioning
/// `json_schema`), so any 400/422 that names the feature counts.
pub fn rejects_schema(status: u16, body: &ErrorBody) -> bool {
    let names_feature =
        ["response_format", "json_schema", "structured output", "guided_json"].iter().any(|n| body.mentions(n));
    match status {
        400 => names_feature,
        422 => names_feature || body.mentions("not supported"),
        _ => false,
    }
}

/// What a 429 says about which limit ran out and when it comes back.
///
/// Per minute unless the server says otherwise: an exhausted balance (`insufficient_quota`)
/// and messages naming a per-day limit (`requests per day (RPD)`) are treated as
/// a daily quota, so the pool is parked instead of hammered.
pub fn rate_limit_signal(headers: &HeaderMap, body: &ErrorBody, now: Timestamp) -> QuotaSignal {
    let unit = limit_unit(&body.message);
    let token_limit = is_dashscope_token_limit(body);
    let daily = !token_limit
        && (body.code.as_deref().is_some_and(|c| BILLING_CODES.contains(&c))
            || body.mentions("per day")
            || body.mentions("daily")
            || unit.is_some_and(|u| u.ends_with('D')));
    let tokens = token_limit
        || header(headers, "x-ratelimit-remaining-tokens").is_some_and(is_zero)
        || unit.is_some_and(|u| u.starts_with('T'));
    let quota_id = match (body.code.as_deref().or(body.kind.as_deref()), unit) {
        (Some(code), Some(unit)) => Some(format!("{code}:{unit}")),
        (Some(code), None) => Some(code.to_string()),
        (None, unit) => unit.map(str::to_string),
    };
    QuotaSignal {
        scope: if daily { QuotaScope::PerDay } else { QuotaScope::PerMinute },
        tokens,
        quota_id,
        quota_value: quota_value(headers, &body.message, tokens, daily),
        retry_delay: retry_delay(headers, now),
    }
}

/// The unit OpenAI names in its rate-limit message: `... on tokens per min (TPM): Limit ...`.
fn limit_unit(message: &str) -> Option<&'static str> {
    static UNIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\((RPM|TPM|RPD|TPD)\)").unwrap());
    let found = UNIT.captures(message)?.get(1)?.as_str();
    ["RPM", "TPM", "RPD", "TPD"].into_iter().find(|u| *u == found)
}

/// The limit that was hit: OpenAI's message says `Limit 200000`; otherwise the
/// `x-ratelimit-limit-*` header of the exhausted kind, which describes the per-minute window
/// and so is not used for a daily quota.
fn quota_value(headers: &HeaderMap, message: &str, tokens: bool, daily: bool) -> Option<u64> {
    static LIMIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bLimit:? (\d+)").unwrap());
    if let Some(n) = LIMIT.captures(message).and_then(|c| values::limit_text(&c[1])) {
        return Some(n);
    }
    if daily {
        return None;
    }
    let name = if tokens { "x-ratelimit-limit-tokens" } else { "x-ratelimit-limit-requests" };
    values::limit_text(header(headers, name)?)
}

/// When to try again: `retry-after-ms` (OpenAI, Azure), else `Retry-After` (seconds or an
/// HTTP date), else the reset time of the exhausted `x-ratelimit-*` limit. When the headers
/// do not say which limit ran out, the later of the two resets is taken: waiting a little
/// long costs less than a second 429.
pub fn retry_delay(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    if let Some(delay) = header(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| values::seconds(ms / 1000.0))
    {
        return Some(delay);
    }
    if let Some(delay) = header(headers, "retry-after").and_then(|v| retry_after(v, now)) {
        return Some(delay);
    }
    let reset = |kind: &str| header(headers, &format!("x-ratelimit-reset-{kind}")).and_then(reset_duration);
    let empty = |kind: &str| header(headers, &format!("x-ratelimit-remaining-{kind}")).is_some_and(is_zero);
    match (empty("requests"), empty("tokens")) {
        (true, false) => reset("requests"),
        (false, true) => reset("tokens"),
        _ => reset("requests").max(reset("tokens")),
    }
}

/// A `Retry-After` value: delay-seconds (fractions tolerated) or an HTTP date, which is
/// turned into the time left from `now` (zero when already past).
pub fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return values::seconds(secs);
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(value).ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO).min(values::MAX_DELAY))
}

/// An `x-ratelimit-reset-*` value: a Go duration (`1s`, `6m0s`, `1.5s`, `250ms`,
/// `1h2m3.5s`), or bare seconds as some servers send.
pub fn reset_duration(value: &str) -> Option<Duration> {
    static PART: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\d+(?:\.\d+)?|\.\d+)(h|ms|m|s|us|µs|ns)").unwrap());
    let mut rest = value.trim();
    if let Ok(secs) = rest.parse::<f64>() {
        return values::seconds(secs);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let caps = PART.captures(rest)?;
        let n: f64 = caps[1].parse().ok()?;
        total += n * match &caps[2] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            _ => 1e-9,
        };
        rest = &rest[caps[0].len()..];
    }
    values::seconds(total)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn is_zero(value: &str) -> bool {
    value.trim().parse::<f64>().is_ok_and(|n| n <= 0.0)
}

/// A server's message made fit for a log line: redacted by the one rule
/// ([`crate::provider::redact::redact`]) and cut to 300 characters.
pub fn redact(message: &str, secret: Option<&str>) -> String {
    let out = crate::provider::redact::redact(message, secret);
    let mut short: String = out.chars().take(300).collect();
    if out.chars().count() > 300 {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_str(v).unwrap())).collect()
    }

    fn now() -> Timestamp {
        "2025-06-01T12:00:00Z".parse().unwrap()
    }

    fn openai_error(message: &str, kind: &str, code: &str) -> ErrorBody {
        let body = serde_json::json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
        ErrorBody::parse(body.to_string().as_bytes())
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        assert_eq!(retry_after("7", now()), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 1.5 ", now()), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after("Sun, 01 Jun 2025 12:00:42 GMT", now()), Some(Duration::from_secs(42)));
        assert_eq!(retry_after("Sun, 01 Jun 2025 11:00:00 GMT", now()), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now()), None);
        assert_eq!(retry_after("-3", now()), None);
    }

    #[test]
    fn reset_durations_in_go_format() {
        let ms = |s: &str| reset_duration(s).map(|d| d.as_millis());
        assert_eq!(ms("1s"), Some(1000));
        assert_eq!(ms("6m0s"), Some(360_000));
        assert_eq!(ms("1.5s"), Some(1500));
        assert_eq!(ms("250ms"), Some(250));
        assert_eq!(ms("1h2m3.5s"), Some(3_723_500));
        assert_eq!(ms("2m59.56s"), Some(179_560));
        assert_eq!(ms("3"), Some(3000));
        assert_eq!(ms(""), None);
        assert_eq!(ms("1x"), None);
        assert_eq!(ms("s"), None);
    }

    #[test]
    fn retry_delay_prefers_headers_in_order() {
        let h = headers(&[("retry-after", "3"), ("x-ratelimit-reset-requests", "20s")]);
        assert_eq!(retry_delay(&h, now()), Some(Duration::from_secs(3)));
        let h = headers(&[("retry-after-ms", "1250"), ("retry-after", "3")]);
        assert_eq!(retry_delay(&h, now()), Some(Duration::from_millis(1250)));
        let h = headers(&[("x-ratelimit-reset-requests", "1s"), ("x-ratelimit-reset-tokens", "6m0s")]);
        assert_eq!(retry_delay(&h, now()), Some(Duration::from_secs(360)));
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-remaining-tokens", "1200"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(retry_delay(&h, now()), Some(Duration::from_secs(1)));
        assert_eq!(retry_delay(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn openai_tpm_429_is_per_minute_tokens_with_its_limit() {
        let body = openai_error(
            "Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 5000.",
            "tokens",
            "rate_limit_exceeded",
        );
        let h = headers(&[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "1.5s")]);
        let Failure::RateLimited(q) = classify(429, &h, &body, now()) else { panic!() };
        assert_eq!(q.scope, QuotaScope::PerMinute);
        assert!(q.tokens);
        assert_eq!(q.quota_id.as_deref(), Some("rate_limit_exceeded:TPM"));
        assert_eq!(q.quota_value, Some(200_000));
        assert_eq!(q.retry_delay, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn daily_429s_are_per_day_and_billing_is_billing() {
        let rpd = openai_error(
            "Rate limit reached ... on requests per day (RPD): Limit 200, Used 200",
            "requests",
            "rate_limit_exceeded",
        );
        let Failure::RateLimited(q) = classify(429, &HeaderMap::new(), &rpd, now()) else { panic!() };
        assert_eq!((q.scope, q.tokens, q.quota_value), (QuotaScope::PerDay, false, Some(200)));
        let billing = openai_error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        );
        let h = headers(&[("x-ratelimit-limit-requests", "500")]);
        assert_eq!(classify(429, &h, &billing, now()), Failure::Billing);
    }

    #[test]
    fn statuses_and_codes_classify() {
        let none = ErrorBody::default();
        let h = HeaderMap::new();
        assert_eq!(classify(401, &h, &none, now()), Failure::KeyRejected);
        assert_eq!(classify(403, &h, &none, now()), Failure::KeyRejected);
        let missing = openai_error(
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        );
        assert_eq!(classify(404, &h, &missing, now()), Failure::ModelNotFound);
        assert_eq!(classify(400, &h, &missing, now()), Failure::ModelNotFound);
        let ollama = ErrorBody::parse(br#"{"error":"model \"llava:13b\" not found, try pulling it first"}"#);
        assert_eq!(classify(404, &h, &ollama, now()), Failure::ModelNotFound);
        let bare = ErrorBody::parse(b"<html>404 Not Found</html>");
        assert_eq!(classify(404, &h, &bare, now()), Failure::BadRequest);
        assert_eq!(classify(400, &h, &none, now()), Failure::BadRequest);
        assert_eq!(classify(408, &h, &none, now()), Failure::Timeout);
        assert_eq!(classify(503, &h, &none, now()), Failure::ServerError);
        let key = openai_error("Incorrect API key provided", "invalid_request_error", "invalid_api_key");
        assert_eq!(classify(400, &h, &key, now()), Failure::KeyRejected);
    }

    #[test]
    fn error_bodies_of_each_server_shape() {
        let vllm =
            ErrorBody::parse(br#"{"object":"error","message":"bad","type":"BadRequestError","param":null,"code":400}"#);
        assert_eq!((vllm.message.as_str(), vllm.code.as_deref()), ("bad", Some("400")));
        let html = ErrorBody::parse(b"  <h1>502</h1> ");
        assert_eq!(html.message, "<h1>502</h1>");
    }

    #[test]
    fn schema_rejections_are_recognised() {
        let vllm = ErrorBody::parse(
            br#"{"object":"error","message":"response_format type json_schema is not supported","code":400}"#,
        );
        assert!(rejects_schema(400, &vllm));
        assert!(rejects_schema(422, &ErrorBody { message: "Not supported".into(), ..Default::default() }));
        assert!(!rejects_schema(400, &ErrorBody { message: "image too large".into(), ..Default::default() }));
        assert!(!rejects_schema(500, &vllm));
    }

    #[test]
    fn redaction_removes_key_echoes() {
        let secret = "sk-proj-ABCDEF0123456789xyz9";
        let msg =
            format!("Incorrect API key provided: sk-proj-****************xyz9. Also {secret} and Bearer {secret}");
        let out = redact(&msg, Some(secret));
        assert!(!out.contains("xyz9") && !out.contains("sk-proj") && !out.contains("ABCDEF"), "{out}");
        let glm = "1a2b3c4d5e6f.AbCdEfGh";
        let out = redact("invalid token 1a2b3c4d5e6f.Ab", Some(glm));
        assert!(!out.contains("1a2b3c"), "{out}");
        assert_eq!(redact("model not found", None), "model not found");
    }

    fn fixture(name: &str) -> ErrorBody {
        let path = format!("{}/tests/fixtures/openai-compatible/{name}", env!("CARGO_MANIFEST_DIR"));
        ErrorBody::parse(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
    }

    /// Stands for any quota refusal in the table below; the window column says which.
    fn rate_limited() -> Failure {
        Failure::RateLimited(QuotaSignal {
            scope: QuotaScope::Unknown,
            tokens: false,
            quota_id: None,
            quota_value: None,
            retry_delay: None,
        })
    }

    /// Every file of `tests/fixtures/openai-compatible/`, with the status it came with:
    /// what it means and how far it reaches. A new fixture without a row fails the test.
    #[test]
    fn every_fixture_classifies_by_dialect() {
        use crate::provider::Scope;
        let day = Some(QuotaScope::PerDay);
        let minute = Some(QuotaScope::PerMinute);
        let table: &[(&str, u16, Failure, Scope, Option<QuotaScope>)] = &[
            (
                "dashscope-400-max-tokens-range.json",
                400,
                Failure::Refused(Refusal::OutputCap(Some(8192))),
                Scope::Request,
                None,
            ),
            (
                "deepseek-400-max-tokens-range.json",
                400,
                Failure::Refused(Refusal::OutputCap(Some(8192))),
                Scope::Request,
                None,
            ),
            (
                "openai-400-max-tokens-too-large.json",
                400,
                Failure::Refused(Refusal::OutputCap(Some(16384))),
                Scope::Request,
                None,
            ),
            (
                "volcengine-400-max-completion-tokens.json",
                400,
                Failure::Refused(Refusal::OutputCap(Some(12288))),
                Scope::Request,
                None,
            ),
            (
                "openai-400-max-tokens-unsupported.json",
                400,
                Failure::Refused(Refusal::MaxTokensName),
                Scope::Request,
                None,
            ),
            ("dashscope-403-free-tier-only.json", 403, rate_limited(), Scope::Pool, day),
            ("dashscope-429-token-limit.json", 429, rate_limited(), Scope::Pool, minute),
            ("openai-429-insufficient-quota.json", 429, Failure::Billing, Scope::Provider, None),
            ("openai-429-rpm.json", 429, rate_limited(), Scope::Pool, minute),
            ("ollama-404-model.json", 404, Failure::ModelNotFound, Scope::Pool, None),
        ];
        let dir = format!("{}/tests/fixtures/openai-compatible", env!("CARGO_MANIFEST_DIR"));
        let files: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
        assert_eq!(files.len(), table.len(), "{files:?}");
        let h = headers(&[
            ("retry-after", "20"),
            ("x-ratelimit-limit-requests", "3"),
            ("x-ratelimit-remaining-requests", "0"),
        ]);
        for name in files {
            let (_, status, want, scope, window) =
                table.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("{name}: no row in the table"));
            let got = classify(*status, &h, &fixture(&name), now());
            match (window, &got) {
                // A quota refusal: its window is what matters (its delay comes from headers).
                (Some(w), Failure::RateLimited(q)) => assert_eq!(q.scope, *w, "{name}"),
                (None, got) => assert_eq!(got, want, "{name}"),
                (Some(_), other) => panic!("{name}: {other:?}"),
            }
            assert_eq!(got.scope(), *scope, "{name}");
        }
    }

    #[test]
    fn dashscope_token_limit_is_a_minute_of_tokens_not_a_day_nor_billing() {
        let Failure::RateLimited(q) =
            classify(429, &HeaderMap::new(), &fixture("dashscope-429-token-limit.json"), now())
        else {
            panic!()
        };
        assert_eq!((q.scope, q.tokens), (QuotaScope::PerMinute, true));
        let Failure::RateLimited(q) =
            classify(403, &HeaderMap::new(), &fixture("dashscope-403-free-tier-only.json"), now())
        else {
            panic!()
        };
        assert_eq!(q.quota_id.as_deref(), Some("AllocationQuota.FreeTierOnly"));
    }

    #[test]
    fn absurd_header_values_are_clamped() {
        let h = headers(&[("retry-after", "315360000")]);
        assert_eq!(retry_delay(&h, now()), Some(values::MAX_DELAY));
        let h = headers(&[("retry-after", "1e20")]);
        assert_eq!(retry_delay(&h, now()), Some(values::MAX_DELAY));
        let h = headers(&[("retry-after-ms", "1e300")]);
        assert_eq!(retry_delay(&h, now()), Some(values::MAX_DELAY));
        assert_eq!(reset_duration("99999999999999999999h"), Some(values::MAX_DELAY));
        let h = headers(&[("x-ratelimit-limit-requests", "-4"), ("x-ratelimit-remaining-requests", "0")]);
        let body = ErrorBody { message: "slow down".into(), ..Default::default() };
        let Failure::RateLimited(q) = classify(429, &h, &body, now()) else { panic!() };
        assert_eq!(q.quota_value, None);
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_never_panic(v in "\\PC{0,40}") {
            let _ = retry_after(&v, now());
            if let Some(d) = reset_duration(&v) { proptest::prop_assert!(d <= values::MAX_DELAY); }
            if let Ok(value) = HeaderValue::from_str(&v) {
                let mut h = HeaderMap::new();
                for name in ["retry-after", "retry-after-ms", "x-ratelimit-reset-requests", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests"] {
                    h.insert(HeaderName::from_static(name), value.clone());
                }
                let _ = classify(429, &h, &ErrorBody::default(), now());
            }
        }

        #[test]
        fn error_bodies_never_panic(status in 400u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let parsed = ErrorBody::parse(&body);
            let _ = classify(status, &HeaderMap::new(), &parsed, now());
        }
    }
}
