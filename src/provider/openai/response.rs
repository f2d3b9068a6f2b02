//! Reading a `200` chat-completions body into an [`Answer`].
//!
//! Two kinds of bad body are kept apart on purpose. A body that is not a completion at
//! all (cut off, not JSON, no choices) is the server's fault and retryable: `ServerError`.
//! A well-formed completion whose *content* is not the JSON asked for is the model's
//! answer: `BadOutput`, which the quota engine treats differently (a bigger budget, another
//! model), and which still spent tokens.

use crate::provider::{Answer, CallError, Failure, Generation, Task, Usage};
use crate::summary::{CombinedAnswer, Extract, OcrAnswer};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Completion {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: Option<Message>,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    content: Option<Content>,
    /// OpenAI's structured-output refusal, set instead of `content`.
    refusal: Option<String>,
}

/// A string for most servers; a list of parts for some (and for OpenAI in some modes).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

/// Which answer type a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    Combined,
    Ocr,
    Summary,
    Packed,
}

impl AnswerKind {
    pub fn of(task: &Task) -> AnswerKind {
        match task {
            Task::Combined { .. } => AnswerKind::Combined,
            Task::Ocr { .. } => AnswerKind::Ocr,
            Task::Summary { .. } => AnswerKind::Summary,
            Task::Packed { .. } => AnswerKind::Packed,
        }
    }
}

/// Parses a `200` body for a request expecting a `kind` answer.
// `CallError` is the Provider trait's error type; boxing it here would only unbox later.
#[allow(clippy::result_large_err)]
pub fn parse_completion(body: &[u8], kind: AnswerKind) -> Result<Generation, CallError> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| CallError::new(Failure::ServerError, Some(200), format!("unreadable completion body: {e}")))?;
    let usage = completion.usage.map(usage_of).unwrap_or_default();
    let fail = |failure: Failure, message: String| CallError { failure, http_status: Some(200), usage, message };
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(fail(Failure::ServerError, "completion without choices".into()));
    };
    match choice.finish_reason.as_deref() {
        Some("length") => {
            return Err(fail(Failure::BadOutput { truncated: true }, "answer cut at the output token limit".into()));
        }
        Some("content_filter") => {
            return Err(fail(
                Failure::Blocked { reason: "content_filter".into() },
                "answer withheld by the server's content filter".into(),
            ));
        }
        _ => {}
    }
    let message = choice.message.unwrap_or(Message { content: None, refusal: None });
    if let Some(refusal) = message.refusal.filter(|r| !r.trim().is_empty()) {
        return Err(fail(
            Failure::Blocked { reason: "refusal".into() },
            format!("model refused: {}", shorten(&refusal)),
        ));
    }
    let text = message.content.map(content_text).unwrap_or_default();
    let answer = parse_answer(kind, &text)
        .map_err(|e| fail(Failure::BadOutput { truncated: false }, format!("answer is not the JSON asked for: {e}")))?;
    if let Some(why) = crate::provider::body::absurd(&answer) {
        return Err(fail(Failure::BadOutput { truncated: false }, format!("answer refused as absurd: {why}")));
    }
    Ok(Generation { answer, usage, model_version: completion.model })
}

/// `completion_tokens` includes reasoning tokens on OpenAI; the ledger (like Gemini's
/// `candidatesTokenCount`) counts output and thoughts apart, so they are split here.
fn usage_of(u: WireUsage) -> Usage {
    let thoughts = u.completion_tokens_details.and_then(|d| d.reasoning_tokens);
    Usage {
        prompt_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens.map(|c| c.saturating_sub(thoughts.unwrap_or(0))),
        thoughts_tokens: thoughts,
    }
}

fn content_text(content: Content) -> String {
    match content {
        Content::Text(t) => t,
        Content::Parts(parts) => parts.into_iter().filter_map(|p| p.text).collect(),
    }
}

/// Parses answer text into its type (every answer type denies unknown fields, so a stray
/// shape is caught here rather than downstream).
pub fn parse_answer(kind: AnswerKind, text: &str) -> Result<Answer, serde_json::Error> {
    let json = strip_wrapping(text);
    Ok(match kind {
        AnswerKind::Combined => Answer::Combined(serde_json::from_str::<CombinedAnswer>(json)?),
        AnswerKind::Ocr => Answer::Ocr(serde_json::from_str::<OcrAnswer>(json)?.text),
        AnswerKind::Summary => Answer::Summary(serde_json::from_str::<Extract>(json)?),
        AnswerKind::Packed => Answer::Packed(crate::summary::parse_packed(json)?),
    })
}

/// Removes what models put around JSON in `json_object` mode: a leading `<think>` block
/// (Qwen3, DeepSeek-R1 served without a reasoning parser) and Markdown code fences.
pub fn strip_wrapping(text: &str) -> &str {
    let mut s = text.trim();
    if s.starts_with("<think>")
        && let Some(end) = s.find("</think>")
    {
        s = s[end + "</think>".len()..].trim();
    }
    if let Some(rest) = s.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        s = rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    s
}

fn shorten(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(content: serde_json::Value, finish: &str) -> Vec<u8> {
        json!({
            "model": "qwen-vl-max-2025",
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": finish }],
            "usage": { "prompt_tokens": 120, "completion_tokens": 50,
                       "completion_tokens_details": { "reasoning_tokens": 20 } },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn string_content_with_usage_split_into_output_and_thoughts() {
        let g = parse_completion(&body(json!("{\"text\":\"一面\"}"), "stop"), AnswerKind::Ocr).unwrap();
        assert_eq!(g.answer, Answer::Ocr("一面".into()));
        assert_eq!(g.usage, Usage { prompt_tokens: Some(120), output_tokens: Some(30), thoughts_tokens: Some(20) });
        assert_eq!(g.model_version.as_deref(), Some("qwen-vl-max-2025"));
    }

    #[test]
    fn array_content_and_fences_are_accepted() {
        let parts =
            json!([{ "type": "text", "text": "```json\n{\"text\":" }, { "type": "text", "text": "\"x\"}\n```" }]);
        let g = parse_completion(&body(parts, "stop"), AnswerKind::Ocr).unwrap();
        assert_eq!(g.answer, Answer::Ocr("x".into()));
    }

    #[test]
    fn think_block_is_skipped() {
        assert_eq!(strip_wrapping("<think>hmm {}</think>\n```\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_wrapping("  {\"a\":1} "), "{\"a\":1}");
    }

    #[test]
    fn finish_reasons_map_to_failures() {
        let e = parse_completion(&body(json!("{\"te"), "length"), AnswerKind::Ocr).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: true });
        assert_eq!(e.usage.prompt_tokens, Some(120));
        let e = parse_completion(&body(json!(null), "content_filter"), AnswerKind::Ocr).unwrap_err();
        assert!(matches!(e.failure, Failure::Blocked { .. }));
    }

    #[test]
    fn wrong_json_is_bad_output_but_broken_body_is_server_error() {
        let e = parse_completion(&body(json!("{\"text\":\"x\",\"extra\":1}"), "stop"), AnswerKind::Ocr).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: false });
        let e = parse_completion(b"{\"choices\":[{\"mess", AnswerKind::Ocr).unwrap_err();
        assert_eq!(e.failure, Failure::ServerError);
        let e = parse_completion(b"{\"choices\":[]}", AnswerKind::Ocr).unwrap_err();
        assert_eq!(e.failure, Failure::ServerError);
    }

    #[test]
    fn refusal_is_blocked() {
        let b =
            json!({ "choices": [{ "message": { "content": null, "refusal": "I can't" }, "finish_reason": "stop" }] });
        let e = parse_completion(b.to_string().as_bytes(), AnswerKind::Summary).unwrap_err();
        assert_eq!(e.failure, Failure::Blocked { reason: "refusal".into() });
    }
}
