//! Answers read as untrusted input: a body is read up to a cap (a 50 MB answer is not
//! held in memory, let alone written), and a parsed answer with absurd sizes (hundreds of
//! questions, a field of megabytes) is refused as `bad_output` before anything keeps it.

use super::{Answer, CallError, Failure};
use serde_json::Value;

/// The most an answer body may weigh. A whole post's summary with every transcription is
/// tens of kilobytes; a few megabytes leaves room for anything real.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most items any list of an answer may hold (rounds, questions, topics, images...).
pub const MAX_ITEMS: usize = 300;
/// The most characters any one field may hold (an image's whole transcription included).
pub const MAX_FIELD_CHARS: usize = 60_000;

/// Reads a response body, stopping (with a `bad_output` failure) once it passes `cap`.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, Result<CallError, reqwest::Error>> {
    let status = response.status().as_u16();
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Ok(too_large(status, cap)));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Err)? {
        if bytes.len() + chunk.len() > cap {
            return Err(Ok(too_large(status, cap)));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large(status: u16, cap: usize) -> CallError {
    CallError::new(
        Failure::BadOutput { truncated: false },
        Some(status),
        format!("answer body larger than {} MB: not read", cap / (1024 * 1024)),
    )
}

/// Why an answer is too big to be a real one, if it is.
pub fn absurd(answer: &Answer) -> Option<String> {
    let value = match answer {
        Answer::Combined(a) => serde_json::to_value(a),
        Answer::Ocr(text) => Ok(Value::String(text.clone())),
        Answer::Summary(e) => serde_json::to_value(e),
        // Each post's summary is held to the same bounds.
        Answer::Packed(entries) => {
            return entries
                .iter()
                .flatten()
                .find_map(|s| absurd_value(&serde_json::to_value(s).ok()?, &format!("the summary of {}", s.post_id)));
        }
    }
    .ok()?;
    absurd_value(&value, "answer")
}

fn absurd_value(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::String(s) if s.chars().count() > MAX_FIELD_CHARS => {
            Some(format!("{at} holds {} characters (at most {MAX_FIELD_CHARS})", s.chars().count()))
        }
        Value::Array(items) if items.len() > MAX_ITEMS => {
            Some(format!("{at} holds {} items (at most {MAX_ITEMS})", items.len()))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| absurd_value(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| absurd_value(v, &format!("{at}.{k}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Extract;

    #[test]
    fn real_answers_pass_absurd_ones_do_not() {
        let fine = Extract { overview: "美团一面".into(), topics: vec!["Redis".into(); 20], ..Default::default() };
        assert_eq!(absurd(&Answer::Summary(fine)), None);
        let many = Extract { topics: vec!["x".into(); MAX_ITEMS + 1], ..Default::default() };
        assert!(absurd(&Answer::Summary(many)).unwrap().contains("answer.topics"));
        let huge = Extract { overview: "长".repeat(MAX_FIELD_CHARS + 1), ..Default::default() };
        assert!(absurd(&Answer::Summary(huge)).unwrap().contains("answer.overview"));
        assert!(absurd(&Answer::Ocr("字".repeat(MAX_FIELD_CHARS + 1))).is_some());
    }
}
