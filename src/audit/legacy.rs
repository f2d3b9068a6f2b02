//! Reads the log of the Python script postmill replaces (`xhs-gemini-run.log`) and
//! rebuilds its API attempts as ledger records, so `postmill audit` can show where its
//! quota went.
//!
//! The format, as printed by that script:
//! - `使用模型: M` opens a piece of work with model `M` (the post summary or an image);
//! - `开始提问: Q` starts the post summary; the post text follows;
//! - `--- 图片 N OCR结果 ---` and `开始识别图片: PATH` start reading image `N`;
//! - `当前使用模型: M` sends a request to `M`;
//! - `调用Gemini API时发生错误: 429 RESOURCE_EXHAUSTED. {...}` is a failed request, with the
//!   error body as a Python dict repr;
//! - `已切换到新API密钥: AIza...` and `已切换到新模型: M` switch key or model, and the
//!   script then retries at once, without printing `当前使用模型`;
//! - `处理失败` gives the piece of work up; any other text after a request is its answer.
//!
//! The log has no timestamps, so records carry an empty `ts` (undated). It never names
//! the key a piece of work starts with: each piece starts afresh with the model of
//! `使用模型` (the log shows the model going back to it every time), so we take it that
//! it also starts with the configured key, `key#1`. Keys the log switches to are told
//! apart by the prefix it prints and named `key#2`, `key#3`... in order of appearance;
//! the prefixes themselves are never kept.

use super::pylit;
use crate::attempt::AttemptRecord;
use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The project of every legacy record: the log does not say which project a key is in.
pub const UNKNOWN_PROJECT: &str = "unknown";

/// One piece of work the script tried: the post summary or one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// The log file it comes from (set by `audit_files`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// `summary` or `image`.
    pub kind: &'static str,
    /// The post title for the summary, the image file name for an image.
    pub name: String,
    /// `ok`, `failed`, or `not_attempted`.
    pub status: &'static str,
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeySwitch {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelSwitch {
    pub from: String,
    pub to: String,
}

/// What a legacy log says happened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyLog {
    pub attempts: Vec<AttemptRecord>,
    pub items: Vec<Item>,
    pub key_switches: Vec<KeySwitch>,
    pub model_switches: Vec<ModelSwitch>,
    /// Error lines whose body could not be read as a Python literal.
    pub unreadable_bodies: usize,
}

/// Whether `text` looks like the legacy script's log rather than a `usage.jsonl`.
pub fn is_legacy(text: &str) -> bool {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    if first.is_some_and(|l| l.starts_with('{')) {
        return false;
    }
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("使用模型:") || l.starts_with(ERROR_PREFIX) || OCR_HEADER.is_match(l)
    })
}

/// Gives keys stable names across several logs: the unnamed starting key is `key#1`,
/// every other key `key#N` in order of first appearance.
#[derive(Debug, Default)]
pub struct KeyNames {
    // Maps the printed prefix to its name; lives only while parsing, never serialised.
    by_prefix: HashMap<String, String>,
}

impl KeyNames {
    pub const INITIAL: &'static str = "key#1";

    fn name(&mut self, prefix: &str) -> String {
        let next = self.by_prefix.len() + 2;
        self.by_prefix.entry(prefix.to_string()).or_insert_with(|| format!("key#{next}")).clone()
    }
}

/// Parses one legacy log with fresh key names.
pub fn parse_legacy(text: &str) -> LegacyLog {
    parse_legacy_with(text, &mut KeyNames::default())
}

/// Parses one legacy log, naming keys through `keys` (shared when auditing several logs).
pub fn parse_legacy_with(text: &str, keys: &mut KeyNames) -> LegacyLog {
    let mut p = LegacyParser::new(keys);
    for line in text.lines() {
        p.line(line.trim_end());
    }
    p.finish_item();
    p.log
}

const ERROR_PREFIX: &str = "调用Gemini API时发生错误:";

static OCR_HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^---\s*图片\s*(\d+)\s*OCR结果\s*---$").unwrap());
static ERROR_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^调用Gemini API时发生错误:\s*(\d{3})\s*([A-Z_]*)\.?\s*(.*)$").unwrap());
/// Anything that looks like the start of a Google API key: never copied out of the log.
/// Removes key-like text from anything taken from the log (the one rule of
/// [`crate::provider::redact`]).
pub fn redact(text: &str) -> String {
    crate::redact::redact(text, None)
}

/// The request in flight: sent, answer not yet seen.
struct Pending {
    model: String,
    key: String,
    stage: &'static str,
}

struct LegacyParser<'k> {
    keys: &'k mut KeyNames,
    log: LegacyLog,
    /// The model each piece of work starts with (`使用模型`).
    start_model: String,
    model: String,
    key: String,
    /// Index into `log.items` of the piece of work being read.
    current: Option<usize>,
    /// The item is done (failed or answered): a new request belongs to another one.
    resolved: bool,
    pending: Option<Pending>,
    /// A key or model switch was printed: the script retries without saying so.
    retry_expected: bool,
    /// Reading the post text after `开始提问`: its first line is the title.
    want_title: bool,
}

impl<'k> LegacyParser<'k> {
    fn new(keys: &'k mut KeyNames) -> Self {
        LegacyParser {
            keys,
            log: LegacyLog::default(),
            start_model: String::new(),
            model: String::new(),
            key: KeyNames::INITIAL.to_string(),
            current: None,
            resolved: false,
            pending: None,
            retry_expected: false,
            want_title: false,
        }
    }

    fn line(&mut self, line: &str) {
        let trimmed = line.trim();
        if let Some(model) = trimmed.strip_prefix("使用模型:") {
            self.start_model = model.trim().to_string();
            self.model = self.start_model.clone();
        } else if trimmed.starts_with("开始提问:") {
            self.open_item("summary", String::new());
            self.want_title = true;
        } else if let Some(caps) = OCR_HEADER.captures(trimmed) {
            self.open_item("image", format!("image {}", &caps[1]));
        } else if let Some(path) = trimmed.strip_prefix("开始识别图片:") {
            let file = path.trim().rsplit(['/', '\\']).next().unwrap_or_default();
            if let Some(i) = self.current.filter(|_| !file.is_empty()) {
                self.log.items[i].name = redact(file);
            }
        } else if trimmed.starts_with("提问内容:") || (trimmed.starts_with("模型 ") && trimmed.contains("配额已用完"))
        {
            // The prompt, and the script announcing a switch: nothing to record.
        } else if let Some(model) = trimmed.strip_prefix("当前使用模型:") {
            self.send(model.trim().to_string());
        } else if trimmed.starts_with(ERROR_PREFIX) {
            self.error(trimmed);
        } else if let Some(prefix) = trimmed.strip_prefix("已切换到新API密钥:") {
            let to = self.keys.name(prefix.trim());
            self.log.key_switches.push(KeySwitch { from: self.key.clone(), to: to.clone() });
            self.key = to;
            self.retry_expected = true;
        } else if let Some(model) = trimmed.strip_prefix("已切换到新模型:") {
            let to = model.trim().to_string();
            self.log.model_switches.push(ModelSwitch { from: self.model.clone(), to: to.clone() });
            self.model = to;
            self.retry_expected = true;
        } else if trimmed == "处理失败" {
            self.fail_item();
        } else if !trimmed.is_empty() {
            self.text(trimmed);
        }
    }

    fn open_item(&mut self, kind: &'static str, name: String) {
        self.finish_item();
        self.log.items.push(Item { source: String::new(), kind, name, status: "not_attempted", attempts: 0 });
        self.current = Some(self.log.items.len() - 1);
        self.start_item();
    }

    /// Each piece of work starts with the `使用模型` model and the starting key.
    fn start_item(&mut self) {
        self.resolved = false;
        self.want_title = false;
        self.retry_expected = false;
        self.model = self.start_model.clone();
        self.key = KeyNames::INITIAL.to_string();
    }

    fn stage(&self) -> &'static str {
        match self.current.map(|i| self.log.items[i].kind) {
            Some("image") => "ocr",
            _ => "summary",
        }
    }

    /// A request is sent. When the current item is already settled, the request belongs
    /// to an earlier item still waiting for its turn (the script asks for the post
    /// summary first but sends it after the images).
    fn send(&mut self, model: String) {
        self.want_title = false;
        if self.current.is_none() || self.resolved {
            self.finish_item();
            let waiting = self.log.items.iter().position(|it| it.status == "not_attempted" && it.attempts == 0);
            match waiting {
                Some(i) => self.current = Some(i),
                None => {
                    self.log.items.push(Item {
                        source: String::new(),
                        kind: "summary",
                        name: String::new(),
                        status: "not_attempted",
                        attempts: 0,
                    });
                    self.current = Some(self.log.items.len() - 1);
                }
            }
            self.start_item();
        }
        self.close_pending_unanswered();
        self.model = model;
        self.pending = Some(Pending { model: self.model.clone(), key: self.key.clone(), stage: self.stage() });
        if let Some(i) = self.current {
            self.log.items[i].attempts += 1;
        }
    }

    /// The request after a switch is implicit: the error or answer line is its only trace.
    fn ensure_pending(&mut self) {
        if self.pending.is_none() {
            self.send(self.model.clone());
        }
        self.retry_expected = false;
    }

    fn error(&mut self, line: &str) {
        self.ensure_pending();
        let pending = self.pending.take().expect("ensure_pending leaves a request in flight");
        let mut record = self.record(&pending, "bad_request");
        if let Some(caps) = ERROR_LINE.captures(line) {
            let status: u16 = caps[1].parse().unwrap_or(0);
            let body = caps.get(3).map_or("", |m| m.as_str());
            let parsed = body.find('{').and_then(|start| pylit::parse(&body[start..]).ok());
            if parsed.is_none() && !body.trim().is_empty() {
                self.log.unreadable_bodies += 1;
            }
            classify(&mut record, status, &caps[2], parsed.as_ref(), body);
        }
        self.log.attempts.push(record);
    }

    fn fail_item(&mut self) {
        self.close_pending_unanswered();
        if let Some(i) = self.current {
            self.log.items[i].status = "failed";
        }
        self.resolved = true;
    }

    /// A line the script did not label: the post text, or the answer to a request.
    fn text(&mut self, line: &str) {
        if self.want_title {
            if let Some(i) = self.current {
                self.log.items[i].name = redact(line);
            }
            self.want_title = false;
            return;
        }
        if self.pending.is_some() || self.retry_expected {
            self.ensure_pending();
            let pending = self.pending.take().expect("a request is in flight");
            let record = self.record(&pending, "ok");
            self.log.attempts.push(record);
            if let Some(i) = self.current {
                self.log.items[i].status = "ok";
            }
            self.resolved = true;
        }
    }

    /// A request whose answer the log never shows: recorded as a bad output, since
    /// nothing usable came of it.
    fn close_pending_unanswered(&mut self) {
        if let Some(pending) = self.pending.take() {
            let mut record = self.record(&pending, "bad_output");
            record.error = Some("the log shows no answer to this request".into());
            self.log.attempts.push(record);
        }
    }

    fn finish_item(&mut self) {
        self.close_pending_unanswered();
        if let Some(i) = self.current
            && self.log.items[i].status == "not_attempted"
            && self.log.items[i].attempts > 0
        {
            self.log.items[i].status = "failed";
        }
        self.current = None;
    }

    fn record(&self, pending: &Pending, outcome: &str) -> AttemptRecord {
        AttemptRecord {
            outcome: outcome.into(),
            ..AttemptRecord::new(
                String::new(),
                "legacy",
                pending.stage,
                "gemini",
                UNKNOWN_PROJECT,
                &pending.key,
                &pending.model,
            )
        }
    }
}

/// Fills the outcome and quota fields of a failed request from its status and body,
/// classifying a 429 by its `quotaId`, never by its `retryDelay` (as the contract says).
fn classify(record: &mut AttemptRecord, status: u16, status_text: &str, body: Option<&Value>, raw: &str) {
    record.http_status = Some(status);
    let error = body.map(|b| &b["error"]).filter(|e| e.is_object());
    let details: &[Value] = error.and_then(|e| e["details"].as_array()).map_or(&[], Vec::as_slice);
    let detail = |suffix: &str| details.iter().find(|d| d["@type"].as_str().is_some_and(|t| t.ends_with(suffix)));
    if let Some(violation) = detail("QuotaFailure").and_then(|d| d["violations"].get(0)) {
        record.quota_id = violation["quotaId"].as_str().map(str::to_string);
        record.quota_value = match &violation["quotaValue"] {
            Value::String(s) => s.parse().ok(),
            v => v.as_u64(),
        };
    }
    record.retry_delay_ms = detail("RetryInfo").and_then(|d| d["retryDelay"].as_str()).and_then(parse_delay_ms);
    let reason = detail("ErrorInfo").and_then(|d| d["reason"].as_str()).unwrap_or_default();
    let per_day = match &record.quota_id {
        Some(id) => id.contains("PerDay"),
        // Without details, the body text is all there is to go on.
        None => raw.contains("PerDay"),
    };
    record.outcome = match status {
        429 if per_day || record.quota_value == Some(0) => "quota_exhausted",
        429 => "rate_limited",
        404 => "model_not_found",
        400 if reason == "API_KEY_INVALID" => "key_rejected",
        401 | 403 => "key_rejected",
        408 | 504 => "timeout",
        500..=599 => "server_error",
        _ => "bad_request",
    }
    .into();
    let message = error.and_then(|e| e["message"].as_str()).unwrap_or_default();
    record.error = Some(short_error(status, status_text, record.quota_id.as_deref(), message));
}

/// `"9s"`, `"45.837906927s"` → milliseconds.
fn parse_delay_ms(text: &str) -> Option<u64> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// A one-line, key-free description: status, and the quota id or the message's first line.
fn short_error(status: u16, status_text: &str, quota_id: Option<&str>, message: &str) -> String {
    let head = format!("{status} {status_text}").trim().to_string();
    let detail = quota_id.map(str::to_string).unwrap_or_else(|| {
        let first = message.lines().next().unwrap_or_default();
        first.chars().take(160).collect()
    });
    let text = if detail.is_empty() { head } else { format!("{head}: {detail}") };
    redact(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/fixtures/legacy/xhs-gemini-run.log");

    #[test]
    fn sniffs_the_format() {
        assert!(is_legacy(SEED));
        assert!(!is_legacy("{\"ts\": \"2026-01-01T00:00:00Z\"}\n"));
        assert!(!is_legacy("hello\n"));
    }

    #[test]
    fn rebuilds_the_seed_run() {
        let log = parse_legacy(SEED);
        assert_eq!(log.attempts.len(), 10);
        assert_eq!(log.unreadable_bodies, 0);
        let daily: Vec<_> = log.attempts.iter().filter(|a| a.outcome == "quota_exhausted").collect();
        assert_eq!(daily.len(), 5);
        for a in &daily {
            assert_eq!(a.model, "gemini-2.5-flash-lite");
            assert_eq!(a.quota_value, Some(20));
            assert_eq!(a.key_id, "key#1");
            assert_eq!(a.quota_id.as_deref(), Some("GenerateRequestsPerDayPerProjectPerModel-FreeTier"));
        }
        let delays: Vec<_> = daily.iter().map(|a| a.retry_delay_ms.unwrap()).collect();
        assert_eq!(delays, [9000, 5000, 2000, 59000, 56000]);
        let missing: Vec<_> = log.attempts.iter().filter(|a| a.outcome == "model_not_found").collect();
        assert_eq!(missing.len(), 5);
        assert!(missing.iter().all(|a| a.model == "gemini-1.5-flash" && a.http_status == Some(404)));
        let keys: Vec<_> = missing.iter().map(|a| a.key_id.as_str()).collect();
        assert_eq!(keys, ["key#2", "key#3", "key#2", "key#3", "key#3"]);
        let stages: Vec<_> = log.attempts.iter().map(|a| a.stage.as_str()).collect();
        assert_eq!(stages[..8], ["ocr"; 8]);
        assert_eq!(stages[8..], ["summary"; 2]);
    }

    #[test]
    fn finds_every_item_failed() {
        let log = parse_legacy(SEED);
        let items: Vec<_> = log.items.iter().map(|i| (i.kind, i.name.as_str(), i.status, i.attempts)).collect();
        assert_eq!(
            items,
            [
                ("summary", "算法面经：美团大模型应用算法工程师", "failed", 2),
                ("image", "image_1.jpg", "failed", 2),
                ("image", "image_2.jpg", "failed", 2),
                ("image", "image_3.jpg", "failed", 2),
                ("image", "image_4.jpg", "failed", 2),
            ]
        );
        assert_eq!(log.key_switches.len(), 5);
        assert_eq!(log.model_switches.len(), 5);
        assert!(log.model_switches.iter().all(|s| s.from == "gemini-2.5-flash-lite" && s.to == "gemini-1.5-flash"));
    }

    #[test]
    fn never_keeps_key_prefixes() {
        let log = parse_legacy(SEED);
        let dump = format!("{:?}", log);
        assert!(!dump.contains("AIza"), "{dump}");
    }

    #[test]
    fn an_answer_after_a_switch_is_a_successful_retry() {
        let text = "使用模型: m1\n--- 图片 1 OCR结果 ---\n开始识别图片: /x/a.jpg\n当前使用模型: m1\n\
调用Gemini API时发生错误: 503 UNAVAILABLE. {'error': {'code': 503, 'message': 'overloaded', 'status': 'UNAVAILABLE'}}\n\
已切换到新模型: m2\n面试题：手写 attention\n";
        let log = parse_legacy(text);
        let got: Vec<_> = log.attempts.iter().map(|a| (a.model.as_str(), a.outcome.as_str())).collect();
        assert_eq!(got, [("m1", "server_error"), ("m2", "ok")]);
        assert_eq!(log.items[0].status, "ok");
        assert_eq!(log.items[0].name, "a.jpg");
    }

    #[test]
    fn per_minute_429_and_torn_body() {
        let text = "使用模型: m\n--- 图片 1 OCR结果 ---\n当前使用模型: m\n\
调用Gemini API时发生错误: 429 RESOURCE_EXHAUSTED. {'error': {'code': 429, 'details': [{'@type': 'x/google.rpc.QuotaFailure', 'violations': [{'quotaId': 'GenerateRequestsPerMinutePerProjectPerModel', 'quotaValue': '15'}]}, {'@type': 'x/google.rpc.RetryInfo', 'retryDelay': '45.8379s'}]}}\n\
当前使用模型: m\n调用Gemini API时发生错误: 429 RESOURCE_EXHAUSTED. {'error': {'code': 429, 'mess\n处理失败\n";
        let log = parse_legacy(text);
        assert_eq!(log.attempts[0].outcome, "rate_limited");
        assert_eq!(log.attempts[0].retry_delay_ms, Some(45838));
        assert_eq!(log.attempts[1].outcome, "rate_limited");
        assert_eq!(log.unreadable_bodies, 1);
        assert_eq!(log.items[0].status, "failed");
    }

    #[test]
    fn redacts_key_like_text() {
        assert_eq!(redact("key AIzaSyBHZw... used"), "key [key] used");
    }
}
