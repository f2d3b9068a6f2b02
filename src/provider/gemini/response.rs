//! Reading a 200 `generateContent` answer: the candidate's JSON text parsed into the task's
//! answer type, its token counts, and why it is not an answer when it is not one.

use crate::provider::{Answer, CallError, Failure, Generation, Task, Usage, body};
use crate::summary::{CombinedAnswer, Extract, OcrAnswer};
use serde_json::Value;

/// Reads a 200 answer: the candidate's JSON text, parsed into the task's answer type.
// A CallError is as large as the Generation it replaces; boxing would buy nothing here.
#[allow(clippy::result_large_err)]
pub fn parse_generation(task: &Task, body: &str) -> Result<Generation, CallError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        CallError::new(Failure::ServerError, Some(200), format!("truncated or unparseable response body: {e}"))
    })?;
    let usage = parse_usage(&v);
    let fail = |failure: Failure, message: String| CallError { failure, http_status: Some(200), usage, message };
    if let Some(reason) = v.pointer("/promptFeedback/blockReason").and_then(Value::as_str) {
        return Err(fail(Failure::Blocked { reason: reason.to_string() }, format!("prompt blocked: {reason}")));
    }
    let Some(candidate) = v.pointer("/candidates/0") else {
        return Err(fail(Failure::BadOutput { truncated: false }, "response has no candidate".into()));
    };
    let finish = candidate.get("finishReason").and_then(Value::as_str).unwrap_or("STOP");
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                // Thought summaries are not the answer.
                .filter(|p| !p.get("thought").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let answer = match task {
        Task::Combined { .. } => serde_json::from_str::<CombinedAnswer>(&text).map(Answer::Combined),
        Task::Ocr { .. } => serde_json::from_str::<OcrAnswer>(&text).map(|a| Answer::Ocr(a.text)),
        Task::Summary { .. } => serde_json::from_str::<Extract>(&text).map(Answer::Summary),
        Task::Packed { .. } => crate::summary::parse_packed(&text).map(Answer::Packed),
    };
    match answer {
        Ok(answer) => {
            if let Some(why) = body::absurd(&answer) {
                return Err(fail(Failure::BadOutput { truncated: false }, format!("answer refused as absurd: {why}")));
            }
            Ok(Generation {
                answer,
                usage,
                model_version: v.get("modelVersion").and_then(Value::as_str).map(str::to_string),
            })
        }
        Err(e) => {
            let failure = match finish {
                "MAX_TOKENS" => Failure::BadOutput { truncated: true },
                "STOP" | "FINISH_REASON_UNSPECIFIED" => Failure::BadOutput { truncated: false },
                // SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, OTHER...
                other => Failure::Blocked { reason: other.to_string() },
            };
            Err(fail(failure, format!("answer does not match the schema (finishReason {finish}): {e}")))
        }
    }
}

fn parse_usage(v: &Value) -> Usage {
    let get = |k: &str| v.get("usageMetadata").and_then(|u| u.get(k)).and_then(Value::as_u64);
    Usage {
        prompt_tokens: get("promptTokenCount"),
        output_tokens: get("candidatesTokenCount"),
        thoughts_tokens: get("thoughtsTokenCount"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::PostInput;
    use serde_json::json;
    use std::sync::Arc;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn summary_task() -> Task {
        let post = Arc::new(PostInput { post_id: "p".into(), title: None, text: "一面".into(), images: vec![] });
        Task::Summary { post, ocr: vec![] }
    }

    #[test]
    fn blocked_truncated_ok_and_garbage() {
        let t = summary_task();
        let e = parse_generation(&t, &fixture("blocked-prompt.json")).unwrap_err();
        assert_eq!(e.failure, Failure::Blocked { reason: "SAFETY".into() });
        assert_eq!(e.usage.prompt_tokens, Some(812));
        let e = parse_generation(&t, &fixture("max-tokens-truncated.json")).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: true });
        assert_eq!(e.usage.thoughts_tokens, Some(1150));
        // The real ok body carries `{"overview":"..."}`: not a whole summary, so not kept.
        let e = parse_generation(&t, &fixture("ok-generate-content.json")).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: false });
        let e = parse_generation(&t, "{\"candidates\":[{\"content\":").unwrap_err();
        assert_eq!(e.failure, Failure::ServerError);
    }

    fn answer_body(extract: &Extract) -> String {
        json!({
            "candidates": [{"content": {"parts": [{"text": serde_json::to_string(extract).unwrap()}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
            "modelVersion": "gemini-2.5-flash"
        })
        .to_string()
    }

    #[test]
    fn valid_answer_parses_with_usage() {
        let extract = Extract { overview: "美团一面".into(), ..Default::default() };
        let g = parse_generation(&summary_task(), &answer_body(&extract)).unwrap();
        assert_eq!(g.answer, Answer::Summary(extract));
        assert_eq!(g.usage, Usage { prompt_tokens: Some(10), output_tokens: Some(5), thoughts_tokens: None });
    }

    #[test]
    fn an_answer_of_absurd_size_is_bad_output() {
        let extract = Extract { topics: vec!["题".into(); 5000], ..Default::default() };
        let e = parse_generation(&summary_task(), &answer_body(&extract)).unwrap_err();
        assert_eq!(e.failure, Failure::BadOutput { truncated: false });
        assert!(e.message.contains("answer.topics"), "{}", e.message);
    }

    proptest::proptest! {
        #[test]
        fn any_body_parses_without_panic(body in "\\PC{0,300}") {
            let _ = parse_generation(&summary_task(), &body);
        }
    }
}
