//! The `generateContent` request body: the prompt, inline images, the answer's JSON schema,
//! and the generation settings this model is known to accept.

use super::ModelTraits;
use crate::provider::{Budget, Task, prompt};
use crate::summary::schema::response_schema;
use crate::summary::{CombinedAnswer, Extract, OcrAnswer, PackedAnswer};
use base64::Engine;
use serde_json::{Value, json};

/// How a model family lets its thinking be reduced. 2.5 Flash and Flash-Lite take
/// `thinkingBudget: 0`; 2.5 Pro refuses 0 (its floor is 128); 3.x models take
/// `thinkingLevel` instead; older models do not think and take nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    BudgetZero,
    BudgetFloor(u32),
    LevelLow,
    Nothing,
}

impl Thinking {
    pub fn of(model: &str) -> Thinking {
        let m = model.to_ascii_lowercase();
        if m.starts_with("gemini-3") {
            Thinking::LevelLow
        } else if m.starts_with("gemini-2.5-pro") {
            Thinking::BudgetFloor(128)
        } else if m.starts_with("gemini-2.5") {
            Thinking::BudgetZero
        } else {
            Thinking::Nothing
        }
    }

    fn config(self) -> Option<Value> {
        match self {
            Thinking::BudgetZero => Some(json!({"thinkingBudget": 0})),
            Thinking::BudgetFloor(n) => Some(json!({"thinkingBudget": n})),
            Thinking::LevelLow => Some(json!({"thinkingLevel": "low"})),
            Thinking::Nothing => None,
        }
    }
}

pub fn body(model: &str, task: &Task, budget: Budget, traits: ModelTraits) -> Value {
    let mut parts = Vec::new();
    let schema = match task {
        Task::Combined { post } => {
            parts.push(json!({"text": prompt::combined(post)}));
            for image in &post.images {
                parts.push(json!({"text": prompt::image_label(&image.file)}));
                parts.push(inline(image.mime, &image.bytes));
            }
            response_schema::<CombinedAnswer>()
        }
        Task::Ocr { image } => {
            parts.push(json!({"text": prompt::ocr(&image.file)}));
            parts.push(json!({"text": prompt::image_label(&image.file)}));
            parts.push(inline(image.mime, &image.bytes));
            response_schema::<OcrAnswer>()
        }
        Task::Summary { post, ocr } => {
            parts.push(json!({"text": prompt::summary(post, ocr)}));
            response_schema::<Extract>()
        }
        Task::Packed { posts, .. } => {
            parts.push(json!({"text": prompt::packed(posts)}));
            response_schema::<PackedAnswer>()
        }
    };
    let mut generation = json!({
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    });
    if let Some(max) = budget.max_output_tokens {
        // Never more than ListModels says the model can give: the rest would be a 400.
        let max = traits.output_limit.map_or(max, |limit| max.min(limit));
        generation["maxOutputTokens"] = json!(max);
    }
    if budget.thinking_off
        && !traits.thinking_refused
        && let Some(config) = Thinking::of(model).config()
    {
        generation["thinkingConfig"] = config;
    }
    json!({
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": generation,
    })
}

fn inline(mime: &str, bytes: &[u8]) -> Value {
    json!({"inlineData": {
        "mimeType": mime,
        "data": base64::engine::general_purpose::STANDARD.encode(bytes),
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{ImageInput, PostInput};
    use std::sync::Arc;

    fn summary() -> Task {
        let post = Arc::new(PostInput { post_id: "p".into(), title: None, text: "一面".into(), images: vec![] });
        Task::Summary { post, ocr: vec![] }
    }

    #[test]
    fn request_carries_images_inline_with_labels() {
        let image = ImageInput {
            file: "image_1.png".into(),
            mime: "image/png",
            bytes: Arc::new(vec![1, 2, 3]),
            sha256: "x".into(),
        };
        let post =
            Arc::new(PostInput { post_id: "p".into(), title: Some("t".into()), text: "b".into(), images: vec![image] });
        let body = body("gemini-2.5-flash", &Task::Combined { post }, Budget::default(), ModelTraits::default());
        let parts = body["contents"][0]["parts"].as_array().unwrap();
        assert_eq!(parts[1]["text"], "Image file: image_1.png");
        assert_eq!(parts[2]["inlineData"]["mimeType"], "image/png");
        assert_eq!(body["generationConfig"]["responseMimeType"], "application/json");
        assert!(body["generationConfig"]["responseJsonSchema"]["properties"]["images"].is_object());
        assert!(body["generationConfig"].get("thinkingConfig").is_none());
    }

    #[test]
    fn thinking_is_reduced_the_way_each_family_accepts() {
        let off = Budget { max_output_tokens: None, thinking_off: true };
        let config = |model: &str, traits| body(model, &summary(), off, traits)["generationConfig"].clone();
        let t = ModelTraits::default();
        assert_eq!(config("gemini-2.5-flash", t)["thinkingConfig"], json!({"thinkingBudget": 0}));
        assert_eq!(config("gemini-2.5-pro", t)["thinkingConfig"], json!({"thinkingBudget": 128}));
        assert_eq!(config("gemini-3-pro-preview", t)["thinkingConfig"], json!({"thinkingLevel": "low"}));
        assert!(config("gemini-2.0-flash", t).get("thinkingConfig").is_none());
        let refused = ModelTraits { thinking_refused: true, ..t };
        assert!(config("gemini-2.5-flash", refused).get("thinkingConfig").is_none());
    }

    #[test]
    fn output_budget_is_clamped_to_the_listed_limit() {
        let raised = Budget { max_output_tokens: Some(65_536), thinking_off: false };
        let traits = ModelTraits { output_limit: Some(8192), ..Default::default() };
        let b = body("gemini-2.0-flash", &summary(), raised, traits);
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 8192);
        let b = body("gemini-2.0-flash", &summary(), raised, ModelTraits::default());
        assert_eq!(b["generationConfig"]["maxOutputTokens"], 65_536);
    }
}
