//! Numbers a server sends (delays, limits, sizes) read as the untrusted input they are:
//! parsed without panics, negatives and non-numbers refused, and clamped to a ceiling so
//! that `retryDelay: "1e20s"` is "very long" (which the engine turns into a deferral), not
//! an overflow.

use std::time::Duration;

/// No server wait is taken as longer than this; anything above the run's `max_wait` is a
/// deferral anyway, so the ceiling only has to keep the arithmetic finite.
pub const MAX_DELAY: Duration = Duration::from_secs(366 * 24 * 3600);

/// A count of seconds (fractions allowed) as a delay: `None` for NaN or a negative value,
/// clamped to [`MAX_DELAY`].
pub fn seconds(value: f64) -> Option<Duration> {
    if value.is_nan() || value < 0.0 {
        return None;
    }
    if value >= MAX_DELAY.as_secs_f64() {
        return Some(MAX_DELAY);
    }
    Duration::try_from_secs_f64(value).ok()
}

/// Seconds written as text (`Retry-After: 7`, ` 1.5 `, `1e20`).
pub fn seconds_text(text: &str) -> Option<Duration> {
    seconds(text.trim().parse::<f64>().ok()?)
}

/// A protobuf JSON `Duration` (`"45.837906927s"`, `"9s"`, `"0.5s"`, `"1e20s"`).
pub fn protobuf_duration(text: &str) -> Option<Duration> {
    seconds_text(text.trim().strip_suffix('s')?)
}

/// A limit (a quota value, a token cap): a non-negative integer, as a JSON number or a
/// string; fractions and negatives refused, anything above `u32::MAX` clamped.
pub fn limit_text(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok().or_else(|| {
        // "1e9" or a number too long for u64: read as a float, clamped.
        let f: f64 = text.trim().parse().ok()?;
        (f.is_finite() && f >= 0.0 && f.fract() == 0.0).then(|| f.min(u32::MAX as f64) as u64)
    })?;
    Some(n.min(u64::from(u32::MAX)))
}

/// A limit given as a JSON value (number or string).
pub fn limit_json(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::String(s) => limit_text(s),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(n) => Some(n.min(u64::from(u32::MAX))),
            None => limit_text(&n.to_string()),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_and_their_clamps() {
        assert_eq!(protobuf_duration("9s"), Some(Duration::from_secs(9)));
        assert_eq!(protobuf_duration("0.5s"), Some(Duration::from_millis(500)));
        assert_eq!(protobuf_duration("45.837906927s"), Some(Duration::from_secs_f64(45.837906927)));
        assert_eq!(protobuf_duration("1e20s"), Some(MAX_DELAY));
        assert_eq!(protobuf_duration("315360000s"), Some(MAX_DELAY));
        assert_eq!(protobuf_duration("s"), None);
        assert_eq!(protobuf_duration("infs"), Some(MAX_DELAY));
        assert_eq!(protobuf_duration("NaNs"), None);
        assert_eq!(protobuf_duration("9"), None);
        assert_eq!(protobuf_duration("-1s"), None);
        assert_eq!(seconds_text("315360000"), Some(MAX_DELAY));
        assert_eq!(seconds_text("7"), Some(Duration::from_secs(7)));
    }

    #[test]
    fn limits() {
        assert_eq!(limit_text("8192"), Some(8192));
        assert_eq!(limit_text("0"), Some(0));
        assert_eq!(limit_text("-1"), None);
        assert_eq!(limit_text("1.5"), None);
        assert_eq!(limit_text("99999999999999999999999"), Some(u64::from(u32::MAX)));
        assert_eq!(limit_json(&serde_json::json!(20)), Some(20));
        assert_eq!(limit_json(&serde_json::json!("20")), Some(20));
        assert_eq!(limit_json(&serde_json::json!(1e300)), Some(u64::from(u32::MAX)));
        assert_eq!(limit_json(&serde_json::json!(null)), None);
    }

    proptest! {
        #[test]
        fn no_text_panics_or_exceeds_the_ceiling(s in "\\PC{0,40}") {
            if let Some(d) = protobuf_duration(&s) { prop_assert!(d <= MAX_DELAY); }
            if let Some(d) = seconds_text(&s) { prop_assert!(d <= MAX_DELAY); }
            if let Some(n) = limit_text(&s) { prop_assert!(n <= u64::from(u32::MAX)); }
        }

        #[test]
        fn no_float_panics(f in proptest::num::f64::ANY) {
            if let Some(d) = seconds(f) { prop_assert!(d <= MAX_DELAY); }
        }
    }
}
