//! 429 classification: which quota a refusal speaks of, from the body's
//! `QuotaFailure.violations[].quotaId`, never from `retryDelay`.
//!
//! The seed log shows why: a per-day quota answered "retry in 9s". Obeying that hint spends
//! a request every few seconds against a wall that stands until Pacific midnight.

use crate::provider::{QuotaScope, QuotaSignal};
use serde_json::Value;
use std::time::Duration;

/// Classifies a Google RPC error's `details` (in any order, any of them missing).
pub fn classify_google(details: &[Value], retry_after: Option<Duration>) -> QuotaSignal {
    let mut signal = QuotaSignal {
        scope: QuotaScope::Unknown,
        tokens: false,
        quota_id: None,
        quota_value: None,
        retry_delay: retry_after,
    };
    for detail in details {
        let kind = detail.get("@type").and_then(Value::as_str).unwrap_or_default();
        if kind.ends_with("google.rpc.RetryInfo") {
            if let Some(d) = detail.get("retryDelay").and_then(Value::as_str).and_then(parse_duration) {
                signal.retry_delay = Some(d);
            }
        } else if kind.ends_with("google.rpc.QuotaFailure") {
            let violations = detail.get("violations").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            for v in violations {
                let id = v.get("quotaId").and_then(Value::as_str).unwrap_or_default();
                let value = v.get("quotaValue").and_then(|q| match q {
                    Value::String(s) => s.parse::<u64>().ok(),
                    Value::Number(n) => n.as_u64(),
                    _ => None,
                });
                let scope = scope_of(id, value);
                // The widest window wins: one per-day violation makes the whole refusal daily.
                if rank(scope) >= rank(signal.scope) {
                    signal.scope = scope;
                    signal.quota_id = Some(id.to_string()).filter(|s| !s.is_empty());
                    signal.quota_value = value;
                    signal.tokens = id.contains("Token");
                }
            }
        }
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

/// Parses a protobuf JSON `Duration` ("45.837906927s", "9s", "0.5s").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let secs = s.trim().strip_suffix('s')?;
    let value: f64 = secs.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path)
            .or_else(|_| {
                std::fs::read_to_string(format!("{}/../shared/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR")))
            })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn classify_fixture(name: &str) -> QuotaSignal {
        let body = fixture(name);
        let details = body["error"]["details"].as_array().cloned().unwrap_or_default();
        classify_google(&details, None)
    }

    #[test]
    fn per_day_ignores_retry_delay_for_scope() {
        let s = classify_fixture("429-per-day-free.json");
        assert_eq!(s.scope, QuotaScope::PerDay);
        assert_eq!(s.quota_id.as_deref(), Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier"));
        assert_eq!(s.quota_value, Some(20));
        assert_eq!(s.retry_delay, Some(Duration::from_secs(9)));
        assert!(!s.tokens);
    }

    #[test]
    fn per_minute_requests_with_fractional_delay() {
        let s = classify_fixture("429-requests-per-minute-paid.json");
        assert_eq!(s.scope, QuotaScope::PerMinute);
        assert_eq!(s.quota_value, Some(1000));
        assert_eq!(s.retry_delay, Some(Duration::from_secs_f64(45.837906927)));
    }

    #[test]
    fn per_minute_tokens() {
        let s = classify_fixture("429-input-tokens-per-minute-free.json");
        assert_eq!(s.scope, QuotaScope::PerMinute);
        assert!(s.tokens);
        assert_eq!(s.quota_value, Some(250000));
        assert_eq!(s.retry_delay, Some(Duration::from_secs(26)));
    }

    #[test]
    fn limit_zero_is_daily() {
        let s = classify_fixture("429-limit-zero.json");
        assert_eq!(s.scope, QuotaScope::PerDay);
        assert_eq!(s.quota_value, Some(0));
    }

    #[test]
    fn bare_429_is_unknown() {
        let s = classify_fixture("429-no-details.json");
        assert_eq!(s.scope, QuotaScope::Unknown);
        assert_eq!(s.retry_delay, None);
    }

    #[test]
    fn detail_order_does_not_matter() {
        let mut body = fixture("429-per-day-free.json");
        body["error"]["details"].as_array_mut().unwrap().reverse();
        let s = classify_google(body["error"]["details"].as_array().unwrap(), None);
        assert_eq!(s.scope, QuotaScope::PerDay);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("9s"), Some(Duration::from_secs(9)));
        assert_eq!(parse_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("9"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
