//! The summary schema: the types every provider fills and every renderer reads.
//!
//! `Summary` is what lands in `summary.json`. Its input-derived fields (`post_id`, `title`,
//! `source`, `images[].file`) are set by postmill from the post itself; a model only ever
//! fills an [`Extract`], which is checked against this type before it is kept.

pub mod markdown;
pub mod schema;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Bumped whenever the shape of `summary.json` changes. Not part of a job's identity: a
/// kept answer of an older version is re-rendered in the new shape, without a request
/// (version 2 only added a category, `source.published_at` and `provenance`).
pub const SCHEMA_VERSION: u32 = 2;

/// The kind of an interview question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 自我介绍
    SelfIntro,
    /// 八股: textbook knowledge questions.
    Fundamentals,
    /// 项目: questions about the candidate's own projects, internships, papers.
    Project,
    /// 场景题 / system design: how to design or handle something, not tied to the
    /// candidate's own project.
    Scenario,
    /// 代码题 / 手撕: the coding task itself.
    Coding,
    /// HR, motivation, career, teamwork, "why our company".
    Behavioral,
    Other,
}

impl Category {
    /// Every category, in schema order.
    pub const ALL: [Category; 7] = [
        Category::SelfIntro,
        Category::Fundamentals,
        Category::Project,
        Category::Scenario,
        Category::Coding,
        Category::Behavioral,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::SelfIntro => "self_intro",
            Category::Fundamentals => "fundamentals",
            Category::Project => "project",
            Category::Scenario => "scenario",
            Category::Coding => "coding",
            Category::Behavioral => "behavioral",
            Category::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub category: Category,
    /// The question as asked, in the post's language.
    pub text: String,
    #[serde(default)]
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Round {
    /// The round's name as the post gives it: 一面, 二面, HR面...
    pub name: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodingProblem {
    pub text: String,
    /// The LeetCode problem number, when the post gives one.
    pub leetcode: Option<u32>,
}

/// Everything a model (or the local extractor) derives from a post.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    pub company: Option<String>,
    pub position: Option<String>,
    pub rounds: Vec<Round>,
    pub coding_problems: Vec<CodingProblem>,
    pub topics: Vec<String>,
    pub key_experiences: Vec<String>,
    pub tips: Vec<String>,
    pub advice: Vec<String>,
    pub overview: String,
}

/// One image's transcription inside a combined answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageTranscription {
    /// The file name exactly as given in the request.
    pub file: String,
    /// All text visible in the image, line by line.
    pub text: String,
}

/// The answer to a combined request: every image's text plus the summary.
///
/// `images` comes first on purpose: models write their answer in the schema's property
/// order, so the transcriptions are written before (and inform) the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CombinedAnswer {
    pub images: Vec<ImageTranscription>,
    #[serde(flatten)]
    pub extract: Extract,
}

/// One post's summary inside a packed answer, named by the id the request gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackedSummary {
    /// The post's id exactly as given in the request.
    pub post_id: String,
    #[serde(flatten)]
    pub extract: Extract,
}

/// The answer to a packed request: one summary per post. Only its schema is used as such:
/// the answer is read post by post ([`parse_packed`]), so one broken summary costs only
/// its own post a retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackedAnswer {
    pub posts: Vec<PackedSummary>,
}

/// Reads a packed answer entry by entry: the array must be there, each entry is checked
/// against [`PackedSummary`] on its own (an entry that fails says why, with its id when it
/// has one).
pub fn parse_packed(text: &str) -> Result<Vec<Result<PackedSummary, PackedEntryError>>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Loose {
        posts: Vec<serde_json::Value>,
    }
    let loose: Loose = serde_json::from_str(text)?;
    Ok(loose
        .posts
        .into_iter()
        .map(|v| {
            let post_id = v.get("post_id").and_then(serde_json::Value::as_str).map(str::to_string);
            serde_json::from_value::<PackedSummary>(v).map_err(|e| PackedEntryError { post_id, message: e.to_string() })
        })
        .collect())
}

/// A packed answer's entry that is not a valid summary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the summary of {} in a packed answer is invalid: {message}", post_id.as_deref().unwrap_or("a post"))]
pub struct PackedEntryError {
    pub post_id: Option<String>,
    pub message: String,
}

/// The answer to an OCR request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OcrAnswer {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub path: String,
    pub url: Option<String>,
    /// The post's publication time (RFC 3339), when the input gives one.
    #[serde(default)]
    pub published_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    Ok,
    Failed,
    Pending,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageEntry {
    pub file: String,
    pub status: ImageStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedBy {
    pub provider: String,
    pub model: String,
    /// RFC 3339 UTC.
    pub at: String,
}

/// What identifies the work a summary came from, so that a run that lost its state can
/// adopt a finished summary (its inputs unchanged) instead of paying for it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The key of the job whose answer this summary renders (`combined:…`, `summary:…`).
    pub job: String,
    /// SHA-256 (hex) over the post's text and image bytes.
    pub inputs_sha256: String,
    pub prompt_version: u32,
    pub schema_version: u32,
}

/// `summary.json`, schema_version 2 (version 1 files lack `provenance` and
/// `source.published_at`, and never use the `scenario` category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub post_id: String,
    pub title: Option<String>,
    pub source: Source,
    #[serde(flatten)]
    pub extract: Extract,
    pub images: Vec<ImageEntry>,
    pub produced_by: ProducedBy,
    #[serde(default)]
    pub provenance: Option<Provenance>,
}
