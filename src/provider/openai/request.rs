//! Request bodies for `POST {base_url}/chat/completions`.
//!
//! One user message: the prompt as a text part, then for each image a text part naming
//! the file and an `image_url` part with a `data:` URI (every compatible server takes
//! inline images; none of them can fetch our local files). A text-only request sends its
//! content as a plain string, which even servers without multi-part support accept.

use crate::provider::{Budget, ImageInput, Task, prompt};
use crate::summary::schema::response_schema;
use crate::summary::{CombinedAnswer, Extract, OcrAnswer, PackedAnswer};
use base64::Engine;
use serde_json::{Value, json};

/// How the answer's JSON shape is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// `response_format: json_schema` with `strict: true`: the server enforces the schema.
    StrictSchema,
    /// `response_format: json_object`, the schema spelled out in the prompt, for servers
    /// that reject `json_schema` (older vLLM, some DashScope and GLM models).
    JsonObject,
}

/// Which field carries the output budget, and the most it may be for this model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenParam {
    /// `max_completion_tokens` (OpenAI's o-series and gpt-5 refuse `max_tokens`).
    pub completion_name: bool,
    /// The model's cap, as a 400 named it.
    pub cap: Option<u32>,
}

impl TokenParam {
    /// What is known before any refusal: OpenAI's own API wants `max_completion_tokens`
    /// (its reasoning models refuse `max_tokens`; the others take both); every other
    /// compatible server knows `max_tokens`, and only some the newer name.
    pub fn default_for(base_url: &str, model: &str) -> TokenParam {
        let openai = base_url.contains("api.openai.com");
        let m = model.to_ascii_lowercase();
        let reasoning =
            m.starts_with("gpt-5") || (m.starts_with('o') && m[1..].starts_with(|c: char| c.is_ascii_digit()));
        TokenParam { completion_name: openai || reasoning, cap: None }
    }
}

/// The chat-completions body for `task` on `model`.
///
/// The output budget goes in the field `tokens` names, clamped to the cap it knows.
/// `Budget::thinking_off` is not sent: `reasoning_effort` is refused with a 400 by
/// non-reasoning models, and the servers this provider targets do not think unless the
/// model itself is a reasoning one.
pub fn chat_body(model: &str, task: &Task, budget: Budget, mode: OutputMode, tokens: TokenParam) -> Value {
    let (name, schema, mut text, images) = parts_of(task);
    let response_format = match mode {
        OutputMode::StrictSchema => json!({
            "type": "json_schema",
            "json_schema": { "name": name, "schema": schema, "strict": true },
        }),
        OutputMode::JsonObject => {
            text.push_str(&schema_instructions(&schema));
            json!({ "type": "json_object" })
        }
    };
    let mut body = json!({
        "model": model,
        "messages": [{ "role": "user", "content": content(text, images) }],
        "response_format": response_format,
        "stream": false,
    });
    if let Some(max) = budget.max_output_tokens {
        let max = tokens.cap.map_or(max, |cap| max.min(cap));
        let name = if tokens.completion_name { "max_completion_tokens" } else { "max_tokens" };
        body[name] = json!(max);
    }
    body
}

/// The schema's name, the schema, the prompt text and the images of a task.
fn parts_of(task: &Task) -> (&'static str, Value, String, &[ImageInput]) {
    match task {
        Task::Combined { post } => {
            ("combined_answer", response_schema::<CombinedAnswer>(), prompt::combined(post), &post.images)
        }
        Task::Ocr { image } => {
            ("ocr_answer", response_schema::<OcrAnswer>(), prompt::ocr(&image.file), std::slice::from_ref(image))
        }
        Task::Summary { post, ocr } => ("extract", response_schema::<Extract>(), prompt::summary(post, ocr), &[]),
        Task::Packed { posts, .. } => ("packed_answer", response_schema::<PackedAnswer>(), prompt::packed(posts), &[]),
    }
}

/// The schema in words, for `json_object` mode (whose servers only promise *some* JSON
/// object). OpenAI also requires the word "JSON" in the messages for that mode.
fn schema_instructions(schema: &Value) -> String {
    format!(
        "\n\nAnswer with a single JSON object and nothing else. It must follow this JSON \
         Schema exactly (every property present, null where unknown, no other properties):\n{schema}"
    )
}

fn content(text: String, images: &[ImageInput]) -> Value {
    if images.is_empty() {
        return Value::String(text);
    }
    let mut parts = vec![json!({ "type": "text", "text": text })];
    for image in images {
        parts.push(json!({ "type": "text", "text": prompt::image_label(&image.file) }));
        parts.push(json!({ "type": "image_url", "image_url": { "url": data_uri(image) } }));
    }
    Value::Array(parts)
}

fn data_uri(image: &ImageInput) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(image.bytes.as_slice());
    format!("data:{};base64,{encoded}", image.mime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{OcrText, PostInput};
    use std::sync::Arc;

    fn image(file: &str) -> ImageInput {
        ImageInput { file: file.into(), mime: "image/png", bytes: Arc::new(vec![1, 2, 3]), sha256: "00".into() }
    }

    fn post(images: Vec<ImageInput>) -> Arc<PostInput> {
        Arc::new(PostInput { post_id: "p1".into(), title: Some("t".into()), text: "body".into(), images })
    }

    #[test]
    fn combined_labels_each_image_before_its_data_uri() {
        let task = Task::Combined { post: post(vec![image("image_1.png"), image("image_2.png")]) };
        let body = chat_body("m", &task, Budget::default(), OutputMode::StrictSchema, TokenParam::default());
        let parts = body["messages"][0]["content"].as_array().unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[1]["text"], "Image file: image_1.png");
        assert_eq!(parts[2]["image_url"]["url"], "data:image/png;base64,AQID");
        assert_eq!(parts[3]["text"], "Image file: image_2.png");
        assert_eq!(body["response_format"]["json_schema"]["name"], "combined_answer");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert!(body.get("max_tokens").is_none());
    }

    #[test]
    fn summary_is_plain_text_and_json_object_mode_spells_out_the_schema() {
        let ocr = vec![OcrText { file: "image_1.png".into(), text: Some("OCR".into()) }];
        let task = Task::Summary { post: post(vec![]), ocr };
        let budget = Budget { max_output_tokens: Some(900), thinking_off: true };
        let body = chat_body("m", &task, budget, OutputMode::JsonObject, TokenParam::default());
        let text = body["messages"][0]["content"].as_str().unwrap();
        assert!(text.contains("OCR") && text.contains("JSON Schema"));
        assert!(text.contains("\"key_experiences\""));
        assert_eq!(body["response_format"], json!({ "type": "json_object" }));
        assert_eq!(body["max_tokens"], 900);
    }

    #[test]
    fn the_budget_goes_in_the_field_and_under_the_cap_the_model_takes() {
        let task = Task::Summary { post: post(vec![]), ocr: vec![] };
        let raised = Budget { max_output_tokens: Some(65_536), thinking_off: false };
        let openai = TokenParam::default_for("https://api.openai.com/v1", "gpt-4o");
        let body =
            chat_body("gpt-4o", &task, raised, OutputMode::StrictSchema, TokenParam { cap: Some(16_384), ..openai });
        assert_eq!(body["max_completion_tokens"], 16_384);
        assert!(body.get("max_tokens").is_none());
        let dashscope = TokenParam::default_for("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-vl-max");
        assert!(!dashscope.completion_name);
        assert!(TokenParam::default_for("http://127.0.0.1:1/v1", "o3-mini").completion_name);
        assert!(TokenParam::default_for("http://127.0.0.1:1/v1", "gpt-5-mini").completion_name);
        assert!(!TokenParam::default_for("http://127.0.0.1:1/v1", "ollama").completion_name);
        let body =
            chat_body("qwen", &task, raised, OutputMode::StrictSchema, TokenParam { cap: Some(8192), ..dashscope });
        assert_eq!(body["max_tokens"], 8192);
    }
}
