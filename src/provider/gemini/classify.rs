//! What a Gemini error answer means: its status, its Google RPC `details` and, where the
//! details are silent, its message, turned into a [`Failure`] with an explicit scope.
//!
//! The table (see the README, "Real services"): a 429 is about one model's pool; which window it
//! speaks of comes from `QuotaFailure.violations[].quotaId` (or an `ErrorInfo`'s
//! `quota_limit`), never from `retryDelay` — a per-day quota answers "retry in 9s" too, and
//! obeying it spends a request every few seconds against a wall that stands until Pacific
//! midnight. A limit of zero can never be met today. A 400 about the thinking setting is a
//! refused parameter (resend without it), never a reason to drop the model.

use crate::provider::redact::{redact, shorten};
use crate::provider::{CallError, Failure, QuotaScope, QuotaSignal, Refusal, values};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use std::time::Duration;

/// Classifies a non-2xx answer from its status and Google RPC error body.
pub fn classify_error(status: u16, body: &str, retry_after: Option<Duration>, secret: Option<&str>) -> CallError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let raw_message = error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default();
    let message = if raw_message.is_empty() { shorten(body, 200) } else { shorten(raw_message, 300) };
    let details: Vec<Value> =
        error.and_then(|e| e.get("details")).and_then(Value::as_array).cloned().unwrap_or_default();
    let reason = details.iter().find_map(|d| d.get("reason").and_then(Value::as_str)).unwrap_or_default();
    let failure = match status {
        429 => {
            let mut signal = classify_google(&details, retry_after);
            // The message is the only place some answers state `limit: 0`.
            if signal.quota_value.is_none() && LIMIT_ZERO.is_match(raw_message) {
                signal.quota_value = Some(0);
                signal.scope = QuotaScope::PerDay;
            }
            Failure::RateLimited(signal)
        }
        404 => Failure::ModelNotFound,
        400 if reason == "API_KEY_INVALID" => Failure::KeyRejected,
        400 if refuses_thinking(raw_message) => Failure::Refused(Refusal::Thinking),
        400 if let Some(cap) = output_cap(raw_message) => Failure::Refused(Refusal::OutputCap(cap)),
        401 | 403 => Failure::KeyRejected,
        408 => Failure::Timeout,
        500..=599 => Failure::ServerError,
        _ => Failure::BadRequest,
    };
    CallError::new(failure, Some(status), redact(&format!("HTTP {status}: {message}"), secret))
}

static LIMIT_ZERO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\blimit: 0\b").expect("valid regex"));

/// A 400 about `maxOutputTokens` above the model's range ("…has a maxOutputTokens value
/// of 70000 but the supported range is from 1 (inclusive) to 65537 (exclusive)…", the
/// wording reported in stackblitz-labs/bolt.diy#955): the cap when the message names it.
fn output_cap(message: &str) -> Option<Option<u32>> {
    static RANGE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?i)to (\d+) \(exclusive\)|to (\d+) \(inclusive\)").expect("valid regex"));
    let m = message.to_lowercase();
    if !(m.contains("maxoutputtokens") || m.contains("max_output_tokens")) {
        return None;
    }
    let cap = RANGE.captures(message).and_then(|c| match (c.get(1), c.get(2)) {
        (Some(exclusive), _) => values::limit_text(exclusive.as_str()).map(|n| n.saturating_sub(1)),
        (_, Some(inclusive)) => values::limit_text(inclusive.as_str()),
        _ => None,
    });
    Some(cap.filter(|n| *n > 0).map(|n| n.min(u64::from(u32::MAX)) as u32))
}

/// The two wordings of "this model does not take that thinking setting" (2.5 Pro, 3.x).
fn refuses_thinking(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("thinking_budget")
        || m.contains("thinkingbudget")
        || m.contains("thinking_level")
        || m.contains("thinkinglevel")
        || m.contains("only works in thinking mode")
        || (m.contains("budget") && m.contains("thinking"))
}

/// Classifies a Google RPC error's `details` (in any order, any of them missing).
pub fn classify_google(details: &[Value], retry_after: Option<Duration>) -> QuotaSignal {
    let mut signal = QuotaSignal {
        scope: QuotaScope::Unknown,
        tokens: false,
        quota_id: None,
        quota_value: None,
        retry_delay: retry_after,
    };
    let mut consider = |id: &str, value: Option<u64>| {
        let scope = scope_of(id, value);
        // The widest window wins: one per-day violation makes the whole refusal daily.
        if rank(scope) >= rank(signal.scope) {
            signal.scope = scope;
            signal.quota_id = Some(id.to_string()).filter(|s| !s.is_empty());
            signal.quota_value = value;
            signal.tokens = id.contains("Token");
        }
    };
    let mut delay = None;
    for detail in details {
        let kind = detail.get("@type").and_then(Value::as_str).unwrap_or_default();
        if kind.ends_with("google.rpc.RetryInfo") {
            delay = detail.get("retryDelay").and_then(Value::as_str).and_then(values::protobuf_duration).or(delay);
        } else if kind.ends_with("google.rpc.QuotaFailure") {
            let violations = detail.get("violations").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            for v in violations {
                let id = v.get("quotaId").and_then(Value::as_str).unwrap_or_default();
                consider(id, v.get("quotaValue").and_then(values::limit_json));
            }
        } else if kind.ends_with("google.rpc.ErrorInfo") {
            // Older (and regional) quota answers carry the limit here instead.
            let meta = detail.get("metadata");
            let id = meta.and_then(|m| m.get("quota_limit")).and_then(Value::as_str);
            if let Some(id) = id {
                consider(id, meta.and_then(|m| m.get("quota_limit_value")).and_then(values::limit_json));
            }
        }
    }
    if delay.is_some() {
        signal.retry_delay = delay;
    }
    signal
}

fn rank(scope: QuotaScope) -> u8 {
    match scope {
        QuotaScope::Unknown => 0,
        QuotaScope::PerMinute => 1,
        QuotaScope::PerDay => 2,
    }
}

/// The scope a quota id names. A limit of zero can never be met today, whatever its window.
pub fn scope_of(quota_id: &str, quota_value: Option<u64>) -> QuotaScope {
    if quota_value == Some(0) || quota_id.contains("PerDay") {
        QuotaScope::PerDay
    } else if quota_id.contains("PerMinute") || quota_id.contains("PerSecond") {
        QuotaScope::PerMinute
    } else {
        QuotaScope::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Outcome, Scope};

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The status a fixture was answered with: its `error.code`.
    fn status_of(body: &str) -> u16 {
        let v: Value = serde_json::from_str(body).unwrap();
        v["error"]["code"].as_u64().unwrap() as u16
    }

    /// A fixture, what it must classify as, how far that reaches, and (for quotas) the
    /// window and the limit read.
    type Row = (&'static str, Outcome, Scope, Option<QuotaScope>, Option<u64>);

    /// Every error fixture: its outcome, its scope, and (for quotas) window and limit.
    /// A new fixture file without a row here fails the test.
    #[test]
    fn every_error_fixture_classifies() {
        use Outcome::*;
        let table: &[Row] = &[
            ("400-api-key-invalid.json", KeyRejected, Scope::Key, None, None),
            ("400-mime-type-must-be.json", BadRequest, Scope::Request, None, None),
            ("400-payload-too-large.json", BadRequest, Scope::Request, None, None),
            ("400-thinking-budget-zero.json", ParamRefused, Scope::Request, None, None),
            ("400-thinking-cannot-be-disabled.json", ParamRefused, Scope::Request, None, None),
            ("400-unsupported-mime-gif.json", BadRequest, Scope::Request, None, None),
            ("403-consumer-suspended.json", KeyRejected, Scope::Key, None, None),
            ("403-key-leaked.json", KeyRejected, Scope::Key, None, None),
            ("404-model-retired.json", ModelNotFound, Scope::Pool, None, None),
            ("429-errorinfo-region-limit-zero.json", QuotaExhausted, Scope::Pool, Some(QuotaScope::PerDay), Some(0)),
            (
                "429-input-tokens-per-minute-free.json",
                RateLimited,
                Scope::Pool,
                Some(QuotaScope::PerMinute),
                Some(250_000),
            ),
            ("429-limit-zero.json", QuotaExhausted, Scope::Pool, Some(QuotaScope::PerDay), Some(0)),
            ("429-multi-violation-limit-zero.json", QuotaExhausted, Scope::Pool, Some(QuotaScope::PerDay), Some(0)),
            ("429-no-details.json", RateLimited, Scope::Pool, Some(QuotaScope::Unknown), None),
            ("429-per-day-free.json", QuotaExhausted, Scope::Pool, Some(QuotaScope::PerDay), Some(20)),
            ("429-requests-per-minute-paid.json", RateLimited, Scope::Pool, Some(QuotaScope::PerMinute), Some(1000)),
            ("500-internal.json", ServerError, Scope::Pool, None, None),
            ("503-overloaded.json", ServerError, Scope::Pool, None, None),
        ];
        let dir = format!("{}/tests/fixtures/gemini", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            let body = fixture(&name);
            let is_error = serde_json::from_str::<Value>(&body).unwrap().get("error").is_some();
            if !is_error {
                continue;
            }
            seen += 1;
            let row = table.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("{name}: no row in the table"));
            let e = classify_error(status_of(&body), &body, None, Some("AIzaSECRET"));
            assert_eq!(e.failure.outcome(), row.1, "{name}");
            assert_eq!(e.failure.scope(), row.2, "{name}");
            if let Failure::RateLimited(q) = &e.failure {
                assert_eq!(Some(q.scope), row.3, "{name}");
                assert_eq!(q.quota_value, row.4, "{name}");
            } else {
                assert_eq!(row.3, None, "{name}");
            }
            assert!(!e.message.contains("AIza"), "{name}: {}", e.message);
        }
        assert_eq!(seen, table.len());
    }

    #[test]
    fn per_day_keeps_its_meaningless_delay_but_not_its_scope() {
        let e = classify_error(429, &fixture("429-per-day-free.json"), None, None);
        let Failure::RateLimited(q) = e.failure else { panic!() };
        assert_eq!(q.quota_id.as_deref(), Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier"));
        assert_eq!(q.retry_delay, Some(Duration::from_secs(9)));
    }

    #[test]
    fn per_minute_delays_are_read() {
        let Failure::RateLimited(q) =
            classify_error(429, &fixture("429-requests-per-minute-paid.json"), None, None).failure
        else {
            panic!()
        };
        assert_eq!(q.retry_delay, Some(Duration::from_secs_f64(45.837906927)));
        let Failure::RateLimited(q) =
            classify_error(429, &fixture("429-input-tokens-per-minute-free.json"), None, None).failure
        else {
            panic!()
        };
        assert!(q.tokens);
        assert_eq!(q.retry_delay, Some(Duration::from_secs(26)));
    }

    #[test]
    fn an_output_budget_above_the_range_names_its_cap() {
        let body = serde_json::json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
            "Unable to submit request because it has a maxOutputTokens value of 70000 but the supported range is from 1 (inclusive) to 65537 (exclusive). Update the value and try again."}});
        let e = classify_error(400, &body.to_string(), None, None);
        assert_eq!(e.failure, Failure::Refused(Refusal::OutputCap(Some(65536))));
    }

    #[test]
    fn detail_order_does_not_matter() {
        let mut body: Value = serde_json::from_str(&fixture("429-per-day-free.json")).unwrap();
        body["error"]["details"].as_array_mut().unwrap().reverse();
        let s = classify_google(body["error"]["details"].as_array().unwrap(), None);
        assert_eq!(s.scope, QuotaScope::PerDay);
    }

    #[test]
    fn absurd_server_values_are_clamped_not_panics() {
        let mut body: Value = serde_json::from_str(&fixture("429-requests-per-minute-paid.json")).unwrap();
        for d in body["error"]["details"].as_array_mut().unwrap() {
            if d["@type"].as_str().unwrap().ends_with("RetryInfo") {
                d["retryDelay"] = "1e20s".into();
            }
            if d["@type"].as_str().unwrap().ends_with("QuotaFailure") {
                d["violations"][0]["quotaValue"] = "-5".into();
            }
        }
        let Failure::RateLimited(q) = classify_error(429, &body.to_string(), None, None).failure else { panic!() };
        assert_eq!(q.retry_delay, Some(values::MAX_DELAY));
        assert_eq!(q.quota_value, None);
    }

    proptest::proptest! {
        #[test]
        fn any_body_classifies_without_panic(status in 400u16..600, body in "\\PC{0,200}") {
            let _ = classify_error(status, &body, None, None);
        }

        #[test]
        fn any_details_classify_without_panic(delay in "\\PC{0,20}", value in "\\PC{0,20}", id in "[A-Za-z]{0,30}") {
            let details = serde_json::json!([
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": id, "quotaValue": value}]},
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "metadata": {"quota_limit": id, "quota_limit_value": value}},
            ]);
            let s = classify_google(details.as_array().unwrap(), None);
            if let Some(d) = s.retry_delay { proptest::prop_assert!(d <= values::MAX_DELAY); }
        }
    }
}
