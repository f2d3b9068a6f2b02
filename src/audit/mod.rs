//! Ledger reports: where the quota went, from the store or from log files.
//!
//! [`build`] turns attempt records into a [`Report`]: counts per Pacific day × project ×
//! key × model, the requests that could not have succeeded ("wasted"), estimated cost,
//! and plain-language findings with stable codes. [`audit_files`] does the same from
//! files: postmill's own `usage.jsonl`, or the log of the legacy script ([`legacy`]).
//! Nothing here prints a key: records carry key names, and legacy logs are redacted.

mod analysis;
pub mod legacy;
mod pylit;
mod render;

use crate::attempt::AttemptRecord;
use crate::attempt::Outcome;
use crate::config::Price;
use crate::ledger;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use legacy::{Item, LegacyLog, is_legacy, parse_legacy};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: line {line} is not a usage record: {source}")]
    Usage { path: PathBuf, line: usize, source: serde_json::Error },
    #[error("{path}: neither a postmill usage.jsonl nor a log of the legacy script")]
    UnknownFormat { path: PathBuf },
}

/// A line of `usage.jsonl` that is not a record (and not a torn last line).
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct UsageLineError {
    pub line: usize,
    pub source: serde_json::Error,
}

/// A plain-language observation. `code` is stable (scripts may match on it); `message`
/// is for people and may change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub message: String,
}

impl Finding {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Finding { code, message: message.into() }
    }
}

/// Request counts, tokens and cost of a group of attempts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub requests: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub quota_exhausted: u64,
    pub model_not_found: u64,
    pub key_rejected: u64,
    pub server_error: u64,
    pub timeout: u64,
    pub blocked: u64,
    pub bad_output: u64,
    pub bad_request: u64,
    /// Requests sent by a run that died before their answer came: possibly billed.
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown: u64,
    pub billing: u64,
    pub param_refused: u64,
    pub unreachable: u64,
    /// Outcomes this version does not know (from a newer postmill).
    #[serde(skip_serializing_if = "is_zero")]
    pub other: u64,
    /// Requests that could not have succeeded.
    pub wasted: u64,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub thinking_tokens: u64,
    /// Estimated USD; `None` when no attempt of the group has a price.
    pub cost_usd: Option<f64>,
    /// Posts summarised by successful requests, and those requests.
    #[serde(skip)]
    pub posts: u64,
    #[serde(skip)]
    pub post_requests: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Counts {
    fn add(&mut self, rec: &AttemptRecord, wasted: bool, price: Option<&Price>) {
        self.requests += 1;
        if matches!(rec.outcome.as_str(), ledger::UNKNOWN | ledger::STARTED) {
            self.unknown += 1;
        } else {
            self.count_outcome(rec);
        }
        self.wasted += u64::from(wasted);
        if rec.outcome == Outcome::Ok.as_str()
            && let Some(n) = rec.posts.filter(|n| *n > 0)
        {
            self.posts += u64::from(n);
            self.post_requests += 1;
        }
        self.add_tokens(rec, price);
    }

    fn count_outcome(&mut self, rec: &AttemptRecord) {
        match Outcome::parse(&rec.outcome) {
            Some(Outcome::Ok) => self.ok += 1,
            Some(Outcome::RateLimited) => self.rate_limited += 1,
            Some(Outcome::QuotaExhausted) => self.quota_exhausted += 1,
            Some(Outcome::ModelNotFound) => self.model_not_found += 1,
            Some(Outcome::KeyRejected) => self.key_rejected += 1,
            Some(Outcome::ServerError) => self.server_error += 1,
            Some(Outcome::Timeout) => self.timeout += 1,
            Some(Outcome::Blocked) => self.blocked += 1,
            Some(Outcome::BadOutput) => self.bad_output += 1,
            Some(Outcome::BadRequest) => self.bad_request += 1,
            Some(Outcome::Billing) => self.billing += 1,
            Some(Outcome::ParamRefused) => self.param_refused += 1,
            Some(Outcome::Unreachable) => self.unreachable += 1,
            None => self.other += 1,
        }
    }

    fn add_tokens(&mut self, rec: &AttemptRecord, price: Option<&Price>) {
        let (prompt, output, thinking) = tokens(rec);
        self.prompt_tokens += prompt;
        self.output_tokens += output;
        self.thinking_tokens += thinking;
        if let Some(p) = price {
            // The output price covers thinking tokens too: Gemini bills them as output.
            let cost = (prompt as f64 * p.input + (output + thinking) as f64 * p.output) / 1e6;
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + cost);
        }
    }

    /// The count of one outcome, for renderers that walk `Outcome::ALL`.
    pub fn outcome(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::RateLimited => self.rate_limited,
            Outcome::QuotaExhausted => self.quota_exhausted,
            Outcome::ModelNotFound => self.model_not_found,
            Outcome::KeyRejected => self.key_rejected,
            Outcome::ServerError => self.server_error,
            Outcome::Timeout => self.timeout,
            Outcome::Blocked => self.blocked,
            Outcome::BadOutput => self.bad_output,
            Outcome::BadRequest => self.bad_request,
            Outcome::Billing => self.billing,
            Outcome::ParamRefused => self.param_refused,
            Outcome::Unreachable => self.unreachable,
        }
    }

    /// Rounds the cost to a millionth of a dollar, so reports do not show float noise.
    fn finish(&mut self) {
        self.cost_usd = self.cost_usd.map(|c| (c * 1e6).round() / 1e6);
    }
}

fn tokens(rec: &AttemptRecord) -> (u64, u64, u64) {
    (rec.prompt_tokens.unwrap_or(0), rec.output_tokens.unwrap_or(0), rec.thoughts_tokens.unwrap_or(0))
}

/// One line of the table: a Pacific day × project × key × model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The Pacific calendar day, `None` for records without a time (legacy logs).
    pub day: Option<String>,
    pub project: String,
    pub key: String,
    /// The model, or [`LIST_MODELS`] for ListModels calls.
    pub model: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// The model column of ListModels calls, which name no model.
pub const LIST_MODELS: &str = "(list models)";

/// The 429s of one pool and quota: which limit the server enforced, and what delay it quoted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRefusal {
    pub provider: String,
    pub project: String,
    pub model: String,
    /// `rate_limited` (per minute) or `quota_exhausted` (per day).
    pub outcome: String,
    pub quota_id: Option<String>,
    /// The limit the server named (`quotaValue`).
    pub quota_value: Option<u64>,
    pub count: u64,
    pub retry_delay_ms_min: Option<u64>,
    pub retry_delay_ms_max: Option<u64>,
}

/// The audit of a set of attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    pub attempts: u64,
    pub wasted: u64,
    /// Why requests were wasted: `model_not_found`, `pool_exhausted`, `before_retry_delay`.
    pub wasted_by_reason: BTreeMap<&'static str, u64>,
    /// Every outcome of the contract, with zero counts too.
    pub by_outcome: BTreeMap<String, u64>,
    /// Failed requests by how far their failure reached: `request`, `pool`, `key`,
    /// `provider` (billing, an unreachable host).
    pub by_scope: BTreeMap<String, u64>,
    pub by_model: BTreeMap<String, Counts>,
    pub rows: Vec<Row>,
    pub totals: Counts,
    /// What a post cost: posts summarised per successful summary request (above 1 when
    /// requests were packed), tokens and USD per post over every attempt. `None` when no
    /// post was summarised (or the log does not say).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posts_per_request: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_post: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_post_usd: Option<f64>,
    /// Every 429, grouped by pool and quota.
    pub quota_refusals: Vec<QuotaRefusal>,
    /// What a legacy log says about each piece of work; empty for postmill ledgers,
    /// whose posts live in the store.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn to_json(&self) -> String {
        // Only strings, numbers and string-keyed maps: serialisation cannot fail.
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    pub fn to_table(&self) -> String {
        render::table(self)
    }

    pub fn to_csv(&self) -> String {
        render::csv(self)
    }
}

/// Builds the report of `records`, keeping the Pacific days from `since` to `until`
/// (inclusive). Waste is judged over every record, so an exhaustion seen the day before
/// `since` still counts; findings and figures cover the kept days only.
pub fn build(
    records: &[AttemptRecord],
    prices: &BTreeMap<String, Price>,
    since: Option<Date>,
    until: Option<Date>,
    extra_findings: Vec<Finding>,
) -> Report {
    let analysis = analysis::analyse(records);
    let filtered = analysis.filter(since, until);

    let mut by_outcome: BTreeMap<String, u64> = Outcome::ALL.iter().map(|o| (o.as_str().to_string(), 0)).collect();
    let mut by_scope: BTreeMap<String, u64> = BTreeMap::new();
    let mut wasted_by_reason: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut groups: BTreeMap<(Option<Date>, &str, &str, &str), Counts> = BTreeMap::new();
    let mut by_model: BTreeMap<String, Counts> = BTreeMap::new();
    let mut totals = Counts::default();
    for ev in &filtered.kept {
        let rec = ev.rec;
        let model = model_label(rec);
        let price = prices.get(model);
        let wasted = ev.waste.is_some();
        *by_outcome.entry(rec.outcome.clone()).or_default() += 1;
        if let Some(scope) = Outcome::parse(&rec.outcome).and_then(Outcome::scope) {
            *by_scope.entry(scope.as_str().to_string()).or_default() += 1;
        }
        if let Some(w) = ev.waste {
            *wasted_by_reason.entry(w.as_str()).or_default() += 1;
        }
        let key = (ev.day, rec.project.as_str(), rec.key_id.as_str(), model);
        groups.entry(key).or_default().add(rec, wasted, price);
        by_model.entry(model.to_string()).or_default().add(rec, wasted, price);
        totals.add(rec, wasted, price);
    }
    let rows = groups
        .into_iter()
        .map(|((day, project, key, model), mut counts)| {
            counts.finish();
            Row {
                day: day.map(|d| d.to_string()),
                project: project.into(),
                key: key.into(),
                model: model.into(),
                counts,
            }
        })
        .collect();
    by_model.values_mut().for_each(Counts::finish);
    let quota_refusals = quota_refusals(filtered.kept.iter().map(|ev| ev.rec));
    totals.finish();

    // What the caller knows (a legacy log's lost work) comes first: it is the headline.
    let mut findings = extra_findings;
    findings.extend(analysis::findings(&analysis, &filtered, prices));
    let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let posts = totals.posts as f64;
    let all_tokens = (totals.prompt_tokens + totals.output_tokens + totals.thinking_tokens) as f64;
    let posts_per_request = (totals.post_requests > 0).then(|| round3(posts / totals.post_requests as f64));
    let tokens_per_post = (totals.posts > 0).then(|| round3(all_tokens / posts));
    let cost_per_post_usd = totals.cost_usd.filter(|_| totals.posts > 0).map(|c| (c / posts * 1e6).round() / 1e6);
    Report {
        since: since.map(|d| d.to_string()),
        until: until.map(|d| d.to_string()),
        attempts: totals.requests,
        wasted: totals.wasted,
        wasted_by_reason,
        by_outcome,
        by_scope,
        by_model,
        rows,
        totals,
        posts_per_request,
        tokens_per_post,
        cost_per_post_usd,
        quota_refusals,
        items: Vec::new(),
        findings,
    }
}

fn quota_refusals<'a>(records: impl Iterator<Item = &'a AttemptRecord>) -> Vec<QuotaRefusal> {
    type Group<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, Option<u64>);
    let mut groups: BTreeMap<Group, (u64, Option<u64>, Option<u64>)> = BTreeMap::new();
    for r in records.filter(|r| matches!(r.outcome.as_str(), "rate_limited" | "quota_exhausted")) {
        let key = (
            r.provider.as_str(),
            r.project.as_str(),
            r.model.as_str(),
            r.outcome.as_str(),
            r.quota_id.as_deref(),
            r.quota_value,
        );
        let (count, lo, hi) = groups.entry(key).or_default();
        *count += 1;
        if let Some(d) = r.retry_delay_ms {
            *lo = Some(lo.map_or(d, |l| l.min(d)));
            *hi = Some(hi.map_or(d, |h| h.max(d)));
        }
    }
    groups
        .into_iter()
        .map(|((provider, project, model, outcome, quota_id, quota_value), (count, lo, hi))| QuotaRefusal {
            provider: provider.into(),
            project: project.into(),
            model: model.into(),
            outcome: outcome.into(),
            quota_id: quota_id.map(str::to_string),
            quota_value,
            count,
            retry_delay_ms_min: lo,
            retry_delay_ms_max: hi,
        })
        .collect()
}

fn model_label(rec: &AttemptRecord) -> &str {
    if rec.stage == "list_models" || rec.model.is_empty() { LIST_MODELS } else { &rec.model }
}

/// Reads `usage.jsonl`, skipping torn lines (see [`parse_usage_jsonl_torn`]).
pub fn parse_usage_jsonl(text: &str) -> Result<Vec<AttemptRecord>, UsageLineError> {
    parse_usage_jsonl_torn(text).map(|(records, _)| records)
}

/// Reads `usage.jsonl`. A line that starts a record and does not parse was torn by a crash
/// mid-write (the next run starts on a fresh line after it): it is skipped, and its number
/// returned. Any other bad line is an error: the file is not what it claims to be.
pub fn parse_usage_jsonl_torn(text: &str) -> Result<(Vec<AttemptRecord>, Vec<usize>), UsageLineError> {
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    let mut records = Vec::with_capacity(lines.len());
    let mut torn = Vec::new();
    for (n, (line, l)) in lines.iter().enumerate() {
        match serde_json::from_str::<AttemptRecord>(l) {
            Ok(r) => records.push(r),
            Err(_) if n + 1 == lines.len() || (l.starts_with('{') && !l.ends_with('}')) => torn.push(*line),
            Err(source) => {
                return Err(UsageLineError { line: *line, source });
            }
        }
    }
    Ok((records, torn))
}

/// One record per attempt: an attempt written ahead has a `started` line and, once
/// answered, an outcome line with the same id; the last line wins, and one still `started`
/// is `unknown` (its run died with the request in flight). Order is that of first sight.
pub fn settle(records: Vec<AttemptRecord>) -> Vec<AttemptRecord> {
    let mut out: Vec<AttemptRecord> = Vec::with_capacity(records.len());
    let mut seen: std::collections::HashMap<(String, i64), usize> = std::collections::HashMap::new();
    for rec in records {
        match rec.attempt {
            Some(id) => match seen.get(&(rec.run_id.clone(), id)) {
                Some(&i) => out[i] = rec,
                None => {
                    seen.insert((rec.run_id.clone(), id), out.len());
                    out.push(rec);
                }
            },
            None => out.push(rec),
        }
    }
    for rec in &mut out {
        if rec.outcome == ledger::STARTED {
            rec.outcome = ledger::UNKNOWN.into();
        }
    }
    out
}

/// Audits log files: each is sniffed as `usage.jsonl` or a legacy log, and all are
/// merged into one report. Keys of legacy logs are named across all of them at once.
pub fn audit_files(
    paths: &[PathBuf],
    prices: &BTreeMap<String, Price>,
    since: Option<Date>,
    until: Option<Date>,
) -> Result<Report, AuditError> {
    let mut records = Vec::new();
    let mut items = Vec::new();
    let mut extra = Vec::new();
    let mut keys = legacy::KeyNames::default();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| AuditError::Read { path: path.clone(), source })?;
        if is_legacy(&text) {
            let name = file_name(path);
            let mut log = legacy::parse_legacy_with(&text, &mut keys);
            for rec in &mut log.attempts {
                rec.run_id = format!("legacy:{name}");
            }
            extra.extend(analysis::legacy_findings(&name, &log));
            items.extend(log.items.into_iter().map(|it| Item { source: name.clone(), ..it }));
            records.extend(log.attempts);
        } else if text.trim().is_empty() || text.trim_start().starts_with('{') {
            let (parsed, torn) = parse_usage_jsonl_torn(&text).map_err(|e| AuditError::Usage {
                path: path.clone(),
                line: e.line,
                source: e.source,
            })?;
            if !torn.is_empty() {
                let lines: Vec<String> = torn.iter().map(usize::to_string).collect();
                tracing::warn!(
                    "{}: skipped {} line(s) torn by a crash mid-write (line {})",
                    path.display(),
                    torn.len(),
                    lines.join(", ")
                );
            }
            records.extend(settle(parsed));
        } else {
            return Err(AuditError::UnknownFormat { path: path.clone() });
        }
    }
    let mut report = build(&records, prices, since, until, extra);
    report.items = items;
    Ok(report)
}

fn file_name(path: &Path) -> String {
    legacy::redact(&path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned()))
}
