//! Turning a non-`2xx` chat-completions answer into a [`Failure`], and the header formats
//! that come with it.
//!
//! Compatible servers agree on status codes far more than on bodies, so the status leads
//! and the body only refines it: OpenAI and DashScope send `{"error":{"message","type",
//! "code"}}`, vLLM a top-level `{"message","type","code"}`, Ollama sometimes
//! `{"error":"text"}`, proxies HTML. All are read into one [`ErrorBody`].

use crate::provider::{Failure, QuotaScope, QuotaSignal};
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

/// Classifies a failed chat-completions or models request.
pub fn classify(status: u16, headers: &HeaderMap, body: &ErrorBody, now: Timestamp) -> Failure {
    let code = body.code.as_deref().unwrap_or_default();
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
    let daily = body.code.as_deref().is_some_and(|c| BILLING_CODES.contains(&c))
        || body.mentions("per day")
        || body.mentions("daily")
        || unit.is_some_and(|u| u.ends_with('D'));
    let tokens = header(headers, "x-ratelimit-remaining-tokens").is_some_and(is_zero)
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
    if let Some(n) = LIMIT.captures(message).and_then(|c| c[1].parse().ok()) {
        return Some(n);
    }
    if daily {
        return None;
    }
    let name = if tokens { "x-ratelimit-limit-tokens" } else { "x-ratelimit-limit-requests" };
    header(headers, name)?.trim().parse().ok()
}

/// When to try again: `retry-after-ms` (OpenAI, Azure), else `Retry-After` (seconds or an
/// HTTP date), else the reset time of the exhausted `x-ratelimit-*` limit. When the headers
/// do not say which limit ran out, the later of the two resets is taken: waiting a little
/// long costs less than a second 429.
pub fn retry_delay(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
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
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(value).ok()?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// An `x-ratelimit-reset-*` value: a Go duration (`1s`, `6m0s`, `1.5s`, `250ms`,
/// `1h2m3.5s`), or bare seconds as some servers send.
pub fn reset_duration(value: &str) -> Option<Duration> {
    static PART: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\d+(?:\.\d+)?|\.\d+)(h|ms|m|s|us|µs|ns)").unwrap());
    let mut rest = value.trim();
    if let Ok(secs) = rest.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
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
    Some(Duration::from_secs_f64(total))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

fn is_zero(value: &str) -> bool {
    value.trim().parse::<f64>().is_ok_and(|n| n <= 0.0)
}

/// A server message made safe to log: the key, OpenAI's masked echo of it
/// (`sk-abc1*****xyz9`) and anything sharing a prefix with it are cut out, and the
/// message is shortened.
pub fn redact(message: &str, secret: Option<&str>) -> String {
    static KEYLIKE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"sk-[^\s,.;:'`]+|\S*\*{3,}\S*|(?i:bearer)\s+\S+").unwrap());
    let mut out = message.to_string();
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        out = out.replace(secret, "<key>");
        let prefix: String = secret.chars().take(6).collect();
        if prefix.chars().count() == 6 {
            out = out
                .split(' ')
                .map(|word| if word.contains(&prefix) { "<key>" } else { word })
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    let out = KEYLIKE.replace_all(&out, "<key>");
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
    fn daily_and_billing_429s_are_per_day() {
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
        let Failure::RateLimited(q) = classify(429, &h, &billing, now()) else { panic!() };
        assert_eq!((q.scope, q.quota_value), (QuotaScope::PerDay, None));
        assert_eq!(q.quota_id.as_deref(), Some("insufficient_quota"));
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
}
