//! Time for the quota engine: Pacific-time days (the Gemini API's daily quotas reset at
//! midnight America/Los_Angeles) and a clock that tests can move.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::sync::LazyLock;

static PACIFIC: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZone::get("America/Los_Angeles").expect("tz database bundled with jiff"));

pub fn pacific() -> &'static TimeZone {
    &PACIFIC
}

/// The Pacific calendar day `ts` falls on: the day a daily quota counts it against.
pub fn pacific_day(ts: Timestamp) -> Date {
    ts.to_zoned_datetime(PACIFIC.clone()).date()
}

/// The first instant of the Pacific day after the one `ts` falls on: when daily quotas reset.
/// DST-correct: the day after a spring-forward day starts 23 hours after it began, the
/// day after a fall-back day 25 hours after.
pub fn next_pacific_midnight(ts: Timestamp) -> Timestamp {
    let tomorrow = pacific_day(ts).checked_add(1.day()).expect("date in range");
    tomorrow.to_zoned_datetime(PACIFIC.clone()).expect("midnight exists in America/Los_Angeles").timestamp()
}

/// Formats an instant for people: Pacific time and UTC.
pub fn describe(ts: Timestamp) -> String {
    let pt = ts.to_zoned_datetime(PACIFIC.clone());
    format!("{} ({})", pt.strftime("%Y-%m-%d %H:%M %Z"), ts.strftime("%Y-%m-%d %H:%M UTC"))
}

/// The source of "now". The process clock, shifted by `POSTMILL_NOW` when set: an RFC 3339
/// instant the run pretends to have started at. It exists so that tests (and a user checking
/// what tomorrow's run would do) can step over a Pacific midnight without waiting for one.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    offset_ns: i128,
}

impl Clock {
    pub fn system() -> Clock {
        let offset_ns = std::env::var("POSTMILL_NOW")
            .ok()
            .and_then(|s| s.parse::<Timestamp>().ok())
            .map(|fake| fake.as_nanosecond() - Timestamp::now().as_nanosecond())
            .unwrap_or(0);
        Clock { offset_ns }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_nanosecond(Timestamp::now().as_nanosecond() + self.offset_ns).expect("time in range")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn ordinary_day() {
        // 03:48 UTC on 29 Nov is 19:48 on 28 Nov in Los Angeles (PST, UTC-8).
        let now = ts("2026-11-29T03:48:00Z");
        assert_eq!(pacific_day(now).to_string(), "2026-11-28");
        assert_eq!(next_pacific_midnight(now), ts("2026-11-29T08:00:00Z"));
    }

    #[test]
    fn summer_time() {
        let now = ts("2026-07-01T12:00:00Z");
        assert_eq!(next_pacific_midnight(now), ts("2026-07-02T07:00:00Z"));
    }

    #[test]
    fn spring_forward_day_is_23_hours() {
        // 2026-03-08: clocks go from 02:00 PST to 03:00 PDT.
        let start = ts("2026-03-08T08:00:00Z"); // midnight PST
        let next = next_pacific_midnight(start);
        assert_eq!(next, ts("2026-03-09T07:00:00Z")); // midnight PDT
        assert_eq!(next.duration_since(start).as_secs(), 23 * 3600);
    }

    #[test]
    fn fall_back_day_is_25_hours() {
        // 2026-11-01: clocks go from 02:00 PDT back to 01:00 PST.
        let start = ts("2026-11-01T07:00:00Z");
        let next = next_pacific_midnight(start);
        assert_eq!(next, ts("2026-11-02T08:00:00Z"));
        assert_eq!(next.duration_since(start).as_secs(), 25 * 3600);
        // An instant in the repeated hour still belongs to 1 November.
        assert_eq!(pacific_day(ts("2026-11-01T09:30:00Z")).to_string(), "2026-11-01");
    }

    #[test]
    fn last_instant_before_midnight() {
        let now = ts("2026-11-29T07:59:59.999Z");
        assert_eq!(next_pacific_midnight(now), ts("2026-11-29T08:00:00Z"));
        assert_eq!(next_pacific_midnight(ts("2026-11-29T08:00:00Z")), ts("2026-11-30T08:00:00Z"));
    }

    #[test]
    fn described_in_both_zones() {
        let d = describe(ts("2026-11-29T08:00:00Z"));
        assert!(d.contains("2026-11-29 00:00 PST") && d.contains("08:00 UTC"), "{d}");
    }
}
