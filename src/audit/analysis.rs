//! Judges attempts: which requests could not have succeeded, and the findings a person
//! should read about them.
//!
//! Waste is judged per pool (provider, project, model), in send order:
//! - every `model_not_found` is wasted: the model was never there;
//! - a request sent once the pool's per-day 429 had *arrived* (its `ts + latency_ms`)
//!   and before the next Pacific midnight is wasted: the pool was known exhausted;
//! - a request sent once a per-minute 429 had arrived and before its `retryDelay` ran
//!   out is wasted. Requests already in flight when a 429 arrived are not: nobody could
//!   have known.
//!
//! The contract also counts as wasted a request to a model that an earlier ListModels
//! did not list. The ledger records that ListModels was called, not what it returned,
//! so that rule cannot be checked here; such a request ends in a 404, which the first
//! rule counts anyway.
//!
//! Records without a time (legacy logs) are taken in file order as one Pacific day:
//! exhaustion still applies to later requests of the pool, retry delays cannot be judged.

use super::legacy::{self, LegacyLog};
use super::{Finding, LIST_MODELS, model_label, tokens};
use crate::attempt::AttemptRecord;
use crate::config::Price;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;

/// Quota days are America/Los_Angeles calendar days.
static PACIFIC: LazyLock<TimeZone> = LazyLock::new(|| {
    // jiff is built with `tzdb-bundle-always`: the zone is compiled in.
    TimeZone::get("America/Los_Angeles").expect("the bundled tzdb has America/Los_Angeles")
});

/// Why a request could not have succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Waste {
    ModelNotFound,
    PoolExhausted,
    BeforeRetryDelay,
}

impl Waste {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Waste::ModelNotFound => "model_not_found",
            Waste::PoolExhausted => "pool_exhausted",
            Waste::BeforeRetryDelay => "before_retry_delay",
        }
    }
}

/// One attempt, placed in time.
pub(super) struct Event<'a> {
    pub rec: &'a AttemptRecord,
    pub at: Option<Timestamp>,
    /// The Pacific calendar day it was sent.
    pub day: Option<Date>,
    /// Its position in the input, which orders undated records.
    seq: usize,
    pub waste: Option<Waste>,
}

/// (provider, project, model): the unit quotas are counted in.
type Pool<'a> = (&'a str, &'a str, &'a str);

fn pool<'a>(rec: &'a AttemptRecord) -> Pool<'a> {
    (&rec.provider, &rec.project, &rec.model)
}

/// A span during which a pool was known to refuse requests.
struct Window {
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    seq: usize,
}

impl Window {
    fn covers(&self, ev: &Event) -> bool {
        match (ev.at, self.from, self.until) {
            (Some(t), Some(from), Some(until)) => from <= t && t < until,
            (None, None, _) => ev.seq > self.seq,
            _ => false,
        }
    }
}

pub(super) struct Analysis<'a> {
    /// Every attempt, in send order.
    events: Vec<Event<'a>>,
    /// Keys used on a pool while it was exhausted, per pool and Pacific day.
    rotations: BTreeMap<(Pool<'a>, Option<Date>), BTreeSet<&'a str>>,
}

/// The attempts of the days asked for.
pub(super) struct Filtered<'e, 'a> {
    pub kept: Vec<&'e Event<'a>>,
    undated_dropped: usize,
    since: Option<Date>,
    until: Option<Date>,
}

impl<'a> Analysis<'a> {
    pub(super) fn filter(&self, since: Option<Date>, until: Option<Date>) -> Filtered<'_, 'a> {
        let filtering = since.is_some() || until.is_some();
        let in_range = |d: Date| since.is_none_or(|s| d >= s) && until.is_none_or(|u| d <= u);
        let kept: Vec<_> = self.events.iter().filter(|e| e.day.map_or(!filtering, in_range)).collect();
        let undated_dropped = if filtering { self.events.iter().filter(|e| e.day.is_none()).count() } else { 0 };
        Filtered { kept, undated_dropped, since, until }
    }

    fn in_range(&self, day: Option<Date>, f: &Filtered) -> bool {
        match day {
            Some(d) => f.since.is_none_or(|s| d >= s) && f.until.is_none_or(|u| d <= u),
            None => f.since.is_none() && f.until.is_none(),
        }
    }
}

pub(super) fn analyse(records: &[AttemptRecord]) -> Analysis<'_> {
    let mut events: Vec<Event> = records
        .iter()
        .enumerate()
        .map(|(seq, rec)| {
            let at = rec.ts.parse::<Timestamp>().ok();
            let day = at.map(|t| t.to_zoned_datetime(PACIFIC.clone()).date());
            Event { rec, at, day, seq, waste: None }
        })
        .collect();
    // Stable: equal times and undated records keep their order in the input.
    events.sort_by_key(|e| e.at);

    let mut exhausted: HashMap<Pool, Vec<(Window, &str)>> = HashMap::new();
    let mut cooling: HashMap<Pool, Vec<Window>> = HashMap::new();
    let mut rotations: BTreeMap<(Pool, Option<Date>), BTreeSet<&str>> = BTreeMap::new();
    for ev in &mut events {
        let rec = ev.rec;
        if rec.stage == "list_models" {
            continue;
        }
        let p = pool(rec);
        let known_exhausted = exhausted.get(&p).and_then(|ws| ws.iter().find(|(w, _)| w.covers(ev)));
        ev.waste = if rec.outcome == "model_not_found" {
            Some(Waste::ModelNotFound)
        } else if let Some((_, first_key)) = known_exhausted {
            rotations.entry((p, ev.day)).or_default().extend([*first_key, rec.key_id.as_str()]);
            Some(Waste::PoolExhausted)
        } else if cooling.get(&p).is_some_and(|ws| ws.iter().any(|w| w.covers(ev))) {
            Some(Waste::BeforeRetryDelay)
        } else {
            None
        };
        // What the answer taught, from the moment it arrived.
        let arrived = ev.at.and_then(|t| t.checked_add(SignedDuration::from_millis(rec.latency_ms as i64)).ok());
        match (rec.outcome.as_str(), rec.retry_delay_ms) {
            ("quota_exhausted", _) => {
                let until = arrived.and_then(next_pacific_midnight);
                exhausted.entry(p).or_default().push((Window { from: arrived, until, seq: ev.seq }, &rec.key_id));
            }
            // Without times, a retry delay cannot be checked.
            ("rate_limited", Some(delay)) if arrived.is_some() => {
                let until = arrived.and_then(|a| a.checked_add(SignedDuration::from_millis(delay as i64)).ok());
                cooling.entry(p).or_default().push(Window { from: arrived, until, seq: ev.seq });
            }
            _ => {}
        }
    }
    Analysis { events, rotations }
}

fn next_pacific_midnight(t: Timestamp) -> Option<Timestamp> {
    let tomorrow = t.to_zoned_datetime(PACIFIC.clone()).date().tomorrow().ok()?;
    tomorrow.to_zoned_datetime(PACIFIC.clone()).ok().map(|z| z.timestamp())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn pool_label((provider, project, model): Pool) -> String {
    format!("{model} ({provider}, project {project})")
}

/// `9000` → `9s`, `45838` → `45.8s`.
fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{:.1}s", ms as f64 / 1000.0) }
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

/// Events of the kept days grouped by pool, in send order (ListModels left out).
fn by_pool<'e, 'a>(f: &Filtered<'e, 'a>) -> BTreeMap<Pool<'a>, Vec<&'e Event<'a>>> {
    let mut pools: BTreeMap<Pool, Vec<&Event>> = BTreeMap::new();
    for ev in f.kept.iter().filter(|e| e.rec.stage != "list_models") {
        pools.entry(pool(ev.rec)).or_default().push(ev);
    }
    pools
}

pub(super) fn findings(a: &Analysis, f: &Filtered, prices: &BTreeMap<String, Price>) -> Vec<Finding> {
    let pools = by_pool(f);
    let mut out = Vec::new();
    out.extend(quota_exhausted(&pools));
    out.extend(daily_quota_retried(&pools));
    out.extend(retry_before_delay(&pools));
    out.extend(retired_models(f));
    out.extend(same_project_rotation(a, f));
    out.extend(wasted_requests(f));
    out.extend(posts_unprocessed(f));
    out.extend(cost_unknown(f, prices));
    if f.undated_dropped > 0 {
        out.push(Finding::new(
            "undated_excluded",
            format!(
                "{} without a time (from a legacy log) left out by --since/--until.",
                plural(f.undated_dropped, "attempt was", "attempts were")
            ),
        ));
    }
    out
}

/// Pools whose last word was a per-day 429, and when they come back.
fn quota_exhausted(pools: &BTreeMap<Pool, Vec<&Event>>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, events) in pools {
        let Some(last) = events.iter().rposition(|e| e.rec.outcome == "quota_exhausted") else {
            continue;
        };
        if events[last + 1..].iter().any(|e| e.rec.outcome == "ok") {
            continue;
        }
        let ev = events[last];
        let limit = ev.rec.quota_value.map(|v| format!("; limit {v} a day")).unwrap_or_default();
        let (provider, project, model) = *p;
        let what = format!("{model} ({provider}, project {project}{limit})");
        let arrived = ev.at.and_then(|t| t.checked_add(SignedDuration::from_millis(ev.rec.latency_ms as i64)).ok());
        let message = match arrived.and_then(|t| Some((t, next_pacific_midnight(t)?))) {
            Some((at, reset)) => format!(
                "{what} is out of its per-day quota (last refusal at {}); work on it waits for the reset at {} ({}).",
                at.to_zoned_datetime(PACIFIC.clone()).strftime("%Y-%m-%d %H:%M %Z"),
                reset.to_zoned_datetime(PACIFIC.clone()).strftime("%Y-%m-%d %H:%M %Z"),
                reset.strftime("%Y-%m-%d %H:%M UTC"),
            ),
            None => format!(
                "{what} is out of its per-day quota; it comes back at the next midnight Pacific time \
                 (08:00 UTC, 07:00 UTC in summer). The log has no times, so which midnight is unknown."
            ),
        };
        out.push(Finding::new("quota_exhausted", message));
    }
    out
}

fn daily_quota_retried(pools: &BTreeMap<Pool, Vec<&Event>>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, events) in pools {
        let retried = events.iter().filter(|e| e.waste == Some(Waste::PoolExhausted)).count();
        if retried == 0 {
            continue;
        }
        let delays: Vec<u64> =
            events.iter().filter(|e| e.rec.outcome == "quota_exhausted").filter_map(|e| e.rec.retry_delay_ms).collect();
        let quoted = match (delays.iter().min(), delays.iter().max()) {
            (Some(lo), Some(hi)) if lo == hi => format!(" ({})", secs(*lo)),
            (Some(lo), Some(hi)) => format!(" ({} to {})", secs(*lo), secs(*hi)),
            _ => String::new(),
        };
        out.push(Finding::new(
            "daily_quota_retried",
            format!(
                "{} to {} after it had refused with its per-day quota the same Pacific day. \
                 A per-day quota comes back only at midnight Pacific: the retryDelay it quotes{quoted} \
                 is no reason to retry.",
                plural(retried, "request went", "requests went"),
                pool_label(*p)
            ),
        ));
    }
    out
}

fn retry_before_delay(pools: &BTreeMap<Pool, Vec<&Event>>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, events) in pools {
        let early = events.iter().filter(|e| e.waste == Some(Waste::BeforeRetryDelay)).count();
        if early > 0 {
            out.push(Finding::new(
                "retry_before_delay",
                format!(
                    "{} to {} before the retryDelay of its per-minute 429 had passed; the server refuses those.",
                    plural(early, "request went", "requests went"),
                    pool_label(*p)
                ),
            ));
        }
    }
    out
}

fn retired_models(f: &Filtered) -> Vec<Finding> {
    let mut missing: BTreeMap<&str, usize> = BTreeMap::new();
    for ev in f.kept.iter().filter(|e| e.rec.outcome == "model_not_found") {
        *missing.entry(model_label(ev.rec)).or_default() += 1;
    }
    missing
        .into_iter()
        .map(|(model, n)| {
            Finding::new(
                "retired_model",
                format!(
                    "{} to {model}, which the API does not serve (404 not found). Remove it from the \
                     model lists; `postmill models` shows the models the API serves.",
                    plural(n, "request went", "requests went")
                ),
            )
        })
        .collect()
}

fn same_project_rotation(a: &Analysis, f: &Filtered) -> Vec<Finding> {
    let mut out = Vec::new();
    for (((_, project, model), day), keys) in &a.rotations {
        if keys.len() < 2 || !a.in_range(*day, f) {
            continue;
        }
        let keys: Vec<&str> = keys.iter().copied().collect();
        let when = day.map(|d| format!(" on {d}")).unwrap_or_default();
        out.push(Finding::new(
            "same_project_rotation",
            format!(
                "Keys {} of project {project} were all used on {model} while its per-day quota was exhausted{when}. \
                 Keys of one project share its quota: rotating among them adds none.",
                keys.join(", ")
            ),
        ));
    }
    out
}

fn wasted_requests(f: &Filtered) -> Vec<Finding> {
    let count = |w: Waste| f.kept.iter().filter(|e| e.waste == Some(w)).count();
    let parts: Vec<String> = [
        (count(Waste::ModelNotFound), "to a model the API does not serve"),
        (count(Waste::PoolExhausted), "to a pool already known to be exhausted for the day"),
        (count(Waste::BeforeRetryDelay), "before the retryDelay of a 429 had passed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, why)| format!("{n} {why}"))
    .collect();
    if parts.is_empty() {
        return Vec::new();
    }
    let wasted = f.kept.iter().filter(|e| e.waste.is_some()).count();
    vec![Finding::new(
        "wasted_requests",
        format!(
            "{wasted} of {} could not have succeeded: {}.",
            plural(f.kept.len(), "request", "requests"),
            parts.join("; ")
        ),
    )]
}

/// Posts with requests in the ledger but no summary among them.
fn posts_unprocessed(f: &Filtered) -> Vec<Finding> {
    let mut done: BTreeMap<&str, bool> = BTreeMap::new();
    for ev in &f.kept {
        let Some(post) = ev.rec.post_id.as_deref() else {
            continue;
        };
        let summarised = ev.rec.outcome == "ok" && matches!(ev.rec.stage.as_str(), "combined" | "summary");
        *done.entry(post).or_default() |= summarised;
    }
    let waiting: Vec<String> = done.into_iter().filter(|(_, d)| !d).map(|(p, _)| p.to_string()).collect();
    if waiting.is_empty() {
        return Vec::new();
    }
    vec![Finding::new(
        "items_unprocessed",
        format!(
            "{} tried but no summary came back in these requests: {}.",
            plural(waiting.len(), "post was", "posts were"),
            list(&waiting)
        ),
    )]
}

fn cost_unknown(f: &Filtered, prices: &BTreeMap<String, Price>) -> Vec<Finding> {
    let mut unpriced: BTreeMap<&str, u64> = BTreeMap::new();
    for ev in &f.kept {
        let model = model_label(ev.rec);
        let (p, o, t) = tokens(ev.rec);
        if model != LIST_MODELS && !prices.contains_key(model) && p + o + t > 0 {
            *unpriced.entry(model).or_default() += p + o + t;
        }
    }
    if unpriced.is_empty() {
        return Vec::new();
    }
    let names: Vec<String> = unpriced.iter().map(|(m, t)| format!("{m} ({t} tokens)")).collect();
    vec![Finding::new("cost_unknown", format!("No price in [prices] for {}: their cost is left blank.", list(&names)))]
}

/// What a legacy log says beyond its requests: lost work, key and model switches.
pub(super) fn legacy_findings(file: &str, log: &LegacyLog) -> Vec<Finding> {
    let mut out = vec![Finding::new(
        "no_timestamps",
        format!(
            "{file} has no timestamps: its {} are shown undated and taken as one Pacific day; \
             whether retries waited their retryDelay cannot be checked.",
            plural(log.attempts.len(), "request", "requests")
        ),
    )];
    for item in log.items.iter().filter(|i| i.kind == "summary" && i.status != "ok") {
        let title = if item.name.is_empty() { String::new() } else { format!(" of “{}”", item.name) };
        let how = match item.attempts {
            0 => "it was never requested".to_string(),
            n => format!("{} failed and nothing was saved", plural(n as usize, "request", "requests")),
        };
        out.push(Finding::new("post_lost", format!("The post summary{title} was lost: {how}.")));
    }
    let images: Vec<&legacy::Item> = log.items.iter().filter(|i| i.kind == "image").collect();
    let unread: Vec<String> = images.iter().filter(|i| i.status != "ok").map(|i| i.name.clone()).collect();
    if !unread.is_empty() {
        out.push(Finding::new(
            "items_unprocessed",
            format!(
                "{} of {} images were read; not read: {}.",
                images.len() - unread.len(),
                images.len(),
                list(&unread)
            ),
        ));
    }
    let daily = log.attempts.iter().any(|a| a.outcome == "quota_exhausted");
    if daily && !log.key_switches.is_empty() {
        let keys: BTreeSet<&str> = log
            .attempts
            .iter()
            .map(|a| a.key_id.as_str())
            .chain(log.key_switches.iter().flat_map(|s| [s.from.as_str(), s.to.as_str()]))
            .collect();
        out.push(Finding::new(
            "same_project_rotation",
            format!(
                "After per-day 429s the script switched API keys {} (among {}). A per-day quota counts per \
                 project, not per key: unless these keys belong to different projects (the log does not say), \
                 switching adds no quota.",
                plural(log.key_switches.len(), "time", "times"),
                keys.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut fallbacks: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &log.model_switches {
        *fallbacks.entry(s.to.as_str()).or_default() += 1;
    }
    for (model, n) in fallbacks {
        let failed = log.attempts.iter().filter(|a| a.model == model && a.outcome == "model_not_found").count();
        if failed > 0 {
            out.push(Finding::new(
                "fallback_model_missing",
                format!(
                    "The script fell back to {model} {}, a model the API does not serve: {} with 404.",
                    plural(n, "time", "times"),
                    plural(failed, "request failed", "requests failed")
                ),
            ));
        }
    }
    out
}
