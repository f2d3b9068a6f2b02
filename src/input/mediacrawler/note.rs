//! One MediaCrawler note record, reduced to what a post needs, whichever store it came
//! from: the title only when it says more than the description's start, topic markers
//! turned into hashtags once, both encodings of the list columns, and the publish time.
//!
//! Followed at MediaCrawler d6f7c5b (2026-08, `store/xhs/__init__.py::update_xhs_note`) and
//! 9e8c979 (2025-08): `title` is `note.title or desc[:255]`; `image_list` and `tag_list` are
//! comma-joined, and the SQLAlchemy store (since be306c6, 2025-09) writes them through
//! `json.dumps`, so the database holds a JSON string of the comma-joined text; `time` is
//! Xiaohongshu's milliseconds since the epoch.

use super::RecordProblem;
use regex::Regex;
use serde_json::Value;
use std::path::{Component, Path};
use std::sync::LazyLock;

/// Xiaohongshu's topic marker inside `desc`: `#面经[话题]#`.
static TOPIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"#\s*([^#\[\]\n]{1,64}?)\s*\[话题\]\s*#").expect("valid regex"));

/// Publish times before this are not Xiaohongshu's (it opened in 2013): a bad value.
const EARLIEST: i64 = 946_684_800; // 2000-01-01T00:00:00Z
/// Xiaohongshu and MediaCrawler's older text times are China's civil time.
const CRAWLER_ZONE: &str = "Asia/Shanghai";

/// A note record, reduced to what a post needs.
#[derive(Debug)]
pub(super) struct Note {
    pub id: String,
    pub title: Option<String>,
    pub desc: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub image_urls: Vec<String>,
    /// RFC 3339, UTC.
    pub published_at: Option<String>,
}

impl Note {
    /// Reads a record through `field`, which returns a field's text (lists comma-joined or
    /// as the JSON the database store writes).
    pub fn from_fields(field: impl Fn(&str) -> Option<String>) -> Result<Note, RecordProblem> {
        let text = |k: &str| field(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let id = text("note_id").ok_or(RecordProblem::NoId)?;
        // The id names a folder under `images/`: a separator or `..` must not reach elsewhere.
        let mut parts = Path::new(&id).components();
        if !matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)) {
            return Err(RecordProblem::BadId(id));
        }
        let desc = field("desc").unwrap_or_default().trim().to_string();
        let title = text("title").filter(|t| !is_start_of(t, &desc));
        let published_at = text("time").and_then(|t| {
            let at = published_at(&t);
            if at.is_none() {
                tracing::warn!("note {id}: `time` {t:?} is not a publish time; ignored");
            }
            at
        });
        Ok(Note {
            title,
            desc,
            tags: list(field("tag_list").as_deref()),
            url: text("note_url"),
            image_urls: list(field("image_list").as_deref()),
            published_at,
            id,
        })
    }

    /// `desc` with its topic markers as `#topic`, then the tags it does not already name
    /// as `#tag` on a line of their own: every topic once.
    pub fn body(&self) -> String {
        let mut topics: Vec<String> = Vec::new();
        let desc = TOPIC.replace_all(&self.desc, |c: &regex::Captures| {
            let topic = c[1].trim().to_string();
            let tag = format!("#{topic}");
            topics.push(topic);
            tag
        });
        let tags: Vec<String> = self.tags.iter().filter(|t| !topics.contains(t)).map(|t| format!("#{t}")).collect();
        match (desc.is_empty(), tags.is_empty()) {
            (_, true) => desc.into_owned(),
            (true, false) => tags.join(" "),
            (false, false) => format!("{desc}\n{}", tags.join(" ")),
        }
    }
}

/// Whether `title` is only the start of `desc` (MediaCrawler's `desc[:255]` for an untitled
/// note): as a heading it would repeat the description, and the prompt would carry it twice.
fn is_start_of(title: &str, desc: &str) -> bool {
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    let (title, desc) = (squash(title), squash(desc));
    !title.is_empty() && desc.starts_with(&title)
}

/// A list column: `a,b` as the file stores write it, `"a,b"` (a JSON string) as the
/// database store writes it, or a JSON array as other tools do.
fn list(raw: Option<&str>) -> Vec<String> {
    let raw = raw.unwrap_or_default().trim();
    let joined = match raw.chars().next() {
        Some('"') => serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw.to_string()),
        Some('[') => match serde_json::from_str::<Vec<Value>>(raw) {
            Ok(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            Err(_) => raw.to_string(),
        },
        _ => raw.to_string(),
    };
    joined.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "null").map(str::to_string).collect()
}

/// `time` as RFC 3339 UTC: milliseconds since the epoch (what the crawler stores), seconds
/// (older dumps), an RFC 3339 text, or `YYYY-MM-DD[ HH:MM[:SS]]` in China's time. A value out
/// of range (before 2000 or in the future) is none: the input is not trusted for it.
pub(super) fn published_at(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let ts = if let Ok(n) = raw.parse::<f64>() {
        if !n.is_finite() {
            return None;
        }
        // 10^11 seconds is the year 5138; 10^11 ms is 1973: the magnitude tells the unit.
        let seconds = if n.abs() >= 1e11 { n / 1000.0 } else { n };
        if !(EARLIEST as f64..=4e10).contains(&seconds) {
            return None;
        }
        jiff::Timestamp::from_second(seconds as i64).ok()?
    } else if let Ok(ts) = raw.parse::<jiff::Timestamp>() {
        ts
    } else {
        let civil = raw
            .parse::<jiff::civil::DateTime>()
            .or_else(|_| raw.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())))
            .ok()?;
        civil.in_tz(CRAWLER_ZONE).ok()?.timestamp()
    };
    let latest = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(48)).ok()?;
    (ts.as_second() >= EARLIEST && ts <= latest).then(|| ts.round(jiff::Unit::Second).unwrap_or(ts).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn note(fields: &[(&str, &str)]) -> Note {
        let map: HashMap<&str, &str> = fields.iter().copied().collect();
        Note::from_fields(|k| map.get(k).map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn untitled_notes_title_is_dropped() {
        let desc = "11张图是我的复盘 #面经[话题]# 一面问了 Redis";
        let n = note(&[("note_id", "a"), ("title", "11张图是我的复盘 #面经[话题]# 一面"), ("desc", desc)]);
        assert_eq!(n.title, None);
        let n = note(&[("note_id", "a"), ("title", "美团一面"), ("desc", desc)]);
        assert_eq!(n.title.as_deref(), Some("美团一面"));
    }

    #[test]
    fn topics_become_hashtags_once() {
        let n = note(&[
            ("note_id", "a"),
            ("desc", "11张图是我的复盘 #面经[话题]# #字节跳动[话题]#\n加油"),
            ("tag_list", "面经,字节跳动,秋招"),
        ]);
        assert_eq!(n.body(), "11张图是我的复盘 #面经 #字节跳动\n加油\n#秋招");
    }

    #[test]
    fn both_list_encodings() {
        assert_eq!(list(Some("http://a/1,http://a/2")), ["http://a/1", "http://a/2"]);
        assert_eq!(list(Some(r#""http://a/1,http://a/2""#)), ["http://a/1", "http://a/2"]);
        assert_eq!(list(Some(r#""\u9762\u7ecf,\u79cb\u62db""#)), ["面经", "秋招"]);
        assert_eq!(list(Some(r#"["x","y"]"#)), ["x", "y"]);
        assert_eq!(list(Some("null")), Vec::<String>::new());
        assert_eq!(list(Some(r#""""#)), Vec::<String>::new());
    }

    #[test]
    fn publish_times_in_every_form() {
        assert_eq!(published_at("1718000000000").as_deref(), Some("2024-06-10T06:13:20Z"));
        assert_eq!(published_at("1718000000").as_deref(), Some("2024-06-10T06:13:20Z"));
        assert_eq!(published_at("1718000000123.0").as_deref(), Some("2024-06-10T06:13:20Z"));
        assert_eq!(published_at("2024-06-10 14:13:20").as_deref(), Some("2024-06-10T06:13:20Z"));
        assert_eq!(published_at("2024-06-10").as_deref(), Some("2024-06-09T16:00:00Z"));
        assert_eq!(published_at("2024-06-10T06:13:20+00:00").as_deref(), Some("2024-06-10T06:13:20Z"));
        for bad in ["0", "-5", "99999999999999999999999", "NaN", "inf", "soon", "4102444800000"] {
            assert_eq!(published_at(bad), None, "{bad}");
        }
    }
}
