//! The batch digest: reads every `<output>/*/summary.json` and writes what the batch says
//! as a whole — `digest.json` for programs, `digest.md` and `report.html` for people.
//!
//! The digest only reads what the pipeline wrote, so it can be regenerated at any time
//! (after every `run`, or by `postmill digest`) over whatever summaries exist.
//!
//! Determinism: for the same summaries, `digest.md` and `report.html` are byte-identical
//! (they carry no clock). `digest.json` carries `generated_at`, which is kept from the
//! previous `digest.json` when nothing else changed, so regenerating over unchanged
//! summaries rewrites no file at all.

mod aggregate;
pub mod cluster;
mod html;
mod leetcode;
mod markdown;
mod svg;

use crate::atomic::{OutputError, write_atomic};
use crate::summary::{Category, Summary};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bumped whenever the shape of `digest.json` changes.
/// Version 2: `question_clusters` (near-duplicates merged) replace `frequent_questions`
/// (exact repeats only), and `months` counts posts by publication month.
pub const SCHEMA_VERSION: u32 = 2;

pub const JSON_FILE: &str = "digest.json";
pub const MARKDOWN_FILE: &str = "digest.md";
pub const HTML_FILE: &str = "report.html";

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("no output folder at {0}: run `postmill run` first")]
    Missing(PathBuf),
    #[error("cannot read the output folder {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Write(#[from] OutputError),
}

/// `digest.json`, schema_version 2. Field order is the file's key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    pub schema_version: u32,
    /// RFC 3339 UTC: when these figures were first generated.
    pub generated_at: String,
    pub posts: usize,
    pub questions: usize,
    /// Most posts first.
    pub companies: Vec<CompanyStats>,
    /// Every topic, merged case-insensitively, most posts first.
    pub topics: Vec<TopicCount>,
    /// Every category, in the schema's order, zeros included.
    pub categories: Vec<CategoryCount>,
    /// Coding problems grouped by LeetCode number (or by their text when they have none).
    pub coding_problems: Vec<ProblemGroup>,
    /// Every question, near-duplicates across posts merged: most posts first.
    pub question_clusters: Vec<QuestionCluster>,
    /// Posts per publication month (`YYYY-MM`, UTC), oldest first; `null` counts the posts
    /// whose source gives no date.
    pub months: Vec<MonthCount>,
    /// One entry per summary, in folder order.
    pub index: Vec<PostEntry>,
    /// Summary files that exist but could not be read.
    pub skipped: Vec<SkippedSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompanyStats {
    /// `null` gathers the posts that name no company.
    pub company: Option<String>,
    pub posts: usize,
    pub positions: Vec<String>,
    pub rounds: usize,
    pub questions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicCount {
    pub topic: String,
    /// Posts mentioning the topic (in their topics or in a question's).
    pub posts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCount {
    pub category: Category,
    pub questions: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemGroup {
    pub leetcode: Option<u32>,
    /// The problem's name as the posts most often give it.
    pub name: String,
    pub posts: usize,
    pub post_ids: Vec<String>,
}

/// One question as the posts ask it, in whatever words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionCluster {
    /// The representative wording: the one most like all the others (the shortest, then
    /// the first alphabetically, among equals).
    pub text: String,
    /// The category most askers gave it.
    pub category: Category,
    /// The questions' topics, most used first.
    pub topics: Vec<String>,
    /// Posts that ask it.
    pub posts: usize,
    pub companies: Vec<String>,
    pub rounds: Vec<String>,
    pub post_ids: Vec<String>,
    /// Every time it was asked, in post order.
    pub asked: Vec<AskedIn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AskedIn {
    pub post_id: String,
    pub round: String,
    pub text: String,
    /// The post's summary, relative to the output folder.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthCount {
    pub month: Option<String>,
    pub posts: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostEntry {
    pub post_id: String,
    pub title: Option<String>,
    pub company: Option<String>,
    pub position: Option<String>,
    pub rounds: Vec<String>,
    pub questions: usize,
    /// Relative to the output folder.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedSummary {
    pub path: String,
    pub reason: String,
}

/// A summary and the output folder entry it was read from.
#[derive(Debug, Clone)]
pub struct LoadedPost {
    /// The post's (safe) folder name under the output folder.
    pub dir: String,
    pub summary: Summary,
}

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct Written {
    pub posts: usize,
    pub skipped: usize,
    pub files: Vec<PathBuf>,
}

/// Reads every summary under `output` and writes the three digest files there.
pub fn generate(output: &Path) -> Result<Written, DigestError> {
    let (posts, skipped) = load(output)?;
    for s in &skipped {
        tracing::warn!("digest: skipped {}: {}", s.path, s.reason);
    }
    let mut digest = aggregate::build(&posts, skipped, now());
    let json_path = output.join(JSON_FILE);
    if let Some(old) = previous(&json_path)
        && (Digest { generated_at: old.generated_at.clone(), ..digest.clone() }) == old
    {
        digest.generated_at = old.generated_at;
    }
    let mut json = serde_json::to_string_pretty(&digest).expect("digest serialises");
    json.push('\n');
    let files = vec![output.join(MARKDOWN_FILE), output.join(HTML_FILE), json_path];
    write_atomic(&files[0], markdown::render(&digest).as_bytes())?;
    write_atomic(&files[1], html::render(&digest, &posts).as_bytes())?;
    write_atomic(&files[2], json.as_bytes())?;
    Ok(Written { posts: digest.posts, skipped: digest.skipped.len(), files })
}

/// Every readable summary under `output` (sorted by folder name, so the digest does not
/// depend on directory order), and the summary files that could not be read.
pub fn load(output: &Path) -> Result<(Vec<LoadedPost>, Vec<SkippedSummary>), DigestError> {
    let entries = std::fs::read_dir(output).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DigestError::Missing(output.to_path_buf()),
        _ => DigestError::Read { path: output.to_path_buf(), source },
    })?;
    let mut dirs: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        // `.postmill` (the state) and other hidden folders are never posts.
        .filter(|name| !name.starts_with('.'))
        .collect();
    dirs.sort();
    let mut posts = Vec::new();
    let mut skipped = Vec::new();
    for dir in dirs {
        let path = output.join(&dir).join("summary.json");
        // No summary.json: the post is not done yet (or the folder is not a post).
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let display = format!("{dir}/summary.json");
        match parse(&bytes) {
            Ok(summary) => posts.push(LoadedPost { dir, summary }),
            Err(reason) => skipped.push(SkippedSummary { path: display, reason }),
        }
    }
    Ok((posts, skipped))
}

fn parse(bytes: &[u8]) -> Result<Summary, String> {
    let summary: Summary = serde_json::from_slice(bytes).map_err(|e| format!("not a summary: {e}"))?;
    // Version 1 is a subset of version 2: read both, refuse what a newer postmill wrote.
    if !(1..=crate::summary::SCHEMA_VERSION).contains(&summary.schema_version) {
        return Err(format!(
            "schema_version {} is not one this postmill reads (1 to {})",
            summary.schema_version,
            crate::summary::SCHEMA_VERSION
        ));
    }
    Ok(summary)
}

fn previous(path: &Path) -> Option<Digest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// "1 post", "2 posts".
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("{n} {one}") } else { format!("{n} {many}") }
}

/// How a category is shown to people (the post's language first, as in `summary.md`).
fn category_label(c: Category) -> &'static str {
    match c {
        Category::SelfIntro => "自我介绍 self-intro",
        Category::Fundamentals => "八股 fundamentals",
        Category::Project => "项目 project",
        Category::Scenario => "场景题 scenario",
        Category::Coding => "代码题 coding",
        Category::Behavioral => "行为/HR behavioral",
        Category::Other => "其他 other",
    }
}

/// The label of a coding problem group: "LeetCode 54 螺旋矩阵".
fn problem_label(p: &ProblemGroup) -> String {
    match p.leetcode {
        Some(n) => format!("LeetCode {n} {}", p.name),
        None => p.name.clone(),
    }
}

/// A relative link to `path`: every byte but unreserved ASCII and `/` percent-encoded, so
/// a folder name with spaces, `#`, `?`, quotes or any script is one working link in
/// Markdown and in HTML alike.
fn href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sample(post_id: &str, title: &str, company: Option<&str>) -> Summary {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "post_id": post_id, "title": title,
            "source": {"path": format!("inputs/{post_id}"), "url": null},
            "company": company, "position": "算法工程师",
            "rounds": [{"name": "一面", "questions": [
                {"category": "self_intro", "text": "自我介绍", "topics": []},
                {"category": "fundamentals", "text": "讲讲 LoRA 的原理？", "topics": ["LoRA"]}
            ]}],
            "coding_problems": [{"text": "lc54. 螺旋矩阵", "leetcode": 54}],
            "topics": ["LoRA", "RAG"], "key_experiences": [], "tips": [], "advice": [], "overview": "",
            "images": [], "produced_by": {"provider": "local", "model": "extractor", "at": "2026-01-01T00:00:00Z"}
        }))
        .unwrap()
    }

    fn write_summary(output: &Path, dir: &str, s: &Summary) {
        std::fs::create_dir_all(output.join(dir)).unwrap();
        std::fs::write(output.join(dir).join("summary.json"), serde_json::to_vec(s).unwrap()).unwrap();
    }

    #[test]
    fn generate_skips_unreadable_summaries_and_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        write_summary(out, "b", &sample("b", "B", Some("美团")));
        write_summary(out, "a", &sample("a", "A", Some("美团")));
        std::fs::create_dir_all(out.join("broken")).unwrap();
        std::fs::write(out.join("broken/summary.json"), b"{not json").unwrap();
        std::fs::create_dir_all(out.join("pending")).unwrap();
        std::fs::create_dir_all(out.join(".postmill")).unwrap();

        let written = generate(out).unwrap();
        assert_eq!((written.posts, written.skipped), (2, 1));
        let digest: Digest = serde_json::from_slice(&std::fs::read(out.join(JSON_FILE)).unwrap()).unwrap();
        assert_eq!(digest.skipped[0].path, "broken/summary.json");
        let ids: Vec<&str> = digest.index.iter().map(|p| p.post_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);

        // Unchanged summaries: nothing is rewritten, an older generated_at included.
        let json = std::fs::read_to_string(out.join(JSON_FILE)).unwrap();
        let old = json.replace(&digest.generated_at, "2000-01-01T00:00:00Z");
        std::fs::write(out.join(JSON_FILE), &old).unwrap();
        let before: Vec<Vec<u8>> = written.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        let again = generate(out).unwrap();
        let after: Vec<Vec<u8>> = again.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        assert_eq!(before, after);

        // A changed summary makes a new digest, generated now.
        write_summary(out, "c", &sample("c", "C", Some("腾讯")));
        generate(out).unwrap();
        let digest: Digest = serde_json::from_slice(&std::fs::read(out.join(JSON_FILE)).unwrap()).unwrap();
        assert_eq!(digest.posts, 3);
        assert_ne!(digest.generated_at, "2000-01-01T00:00:00Z");
    }

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(href("a b#?/summary.md"), "a%20b%23%3F/summary.md");
        assert_eq!(href("美团/summary.md"), "%E7%BE%8E%E5%9B%A2/summary.md");
    }

    #[test]
    fn a_missing_output_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = generate(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, DigestError::Missing(_)), "{err}");
    }
}
