//! The prompts sent to remote models, shared by every remote provider so that Gemini and
//! OpenAI-compatible servers are asked the same thing.
//!
//! Each image travels right after a text part `Image file: <name>`, so a model (and the
//! test servers) can tie a transcription to its file.

use super::{OcrText, PostInput};

/// Bumped whenever a prompt changes meaningfully; part of every job's identity, so a
/// better prompt redoes old work only when asked to.
pub const PROMPT_VERSION: u32 = 1;

const SUMMARY_RULES: &str = "You summarise a Chinese (or English) job-interview write-up (面经) \
into structured JSON. Write every field in the post's own language. \
company: the hiring company as commonly named (e.g. 美团, 字节跳动), or null. \
position: the role applied for, or null. \
rounds: each interview round in order (一面, 二面, HR面 ...), with every question asked in it, \
each with a category: self_intro (自我介绍), fundamentals (八股, textbook knowledge), \
project (项目, about the candidate's own work), coding (代码题, 手撕, algorithm problems), \
behavioral (HR, motivation, 反问), other. Keep each question's wording; do not merge or invent \
questions. If the post has no rounds, use a single round named after the interview. \
coding_problems: every coding problem, with its LeetCode number when the post gives one (lc54 → 54). \
topics: the technical topics the interview covered (LoRA, RAG, MoE ...). \
key_experiences, tips, advice: short sentences taken from what the author says. \
overview: two or three sentences on the interview as a whole.";

/// The text part of a combined request: rules, then the post; the images follow.
pub fn combined(post: &PostInput) -> String {
    let files: Vec<&str> = post.images.iter().map(|i| i.file.as_str()).collect();
    format!(
        "{SUMMARY_RULES}\n\nThe post has {n} image(s): {list}. They follow this text, each after \
         a line `Image file: <name>`. Transcribe every image completely into `images` (one entry \
         per file, `file` exactly as given, `text` all visible text line by line), and use their \
         text as part of the post when you summarise.\n\n{body}",
        n = files.len(),
        list = if files.is_empty() { "none".to_string() } else { files.join(", ") },
        body = post_body(post),
    )
}

/// The whole prompt of an OCR request; the image follows.
pub fn ocr(file: &str) -> String {
    format!(
        "Transcribe all text visible in this image ({file}) exactly, line by line, keeping \
         numbering and code. Answer as JSON {{\"text\": ...}}; if there is no text, give an \
         empty string."
    )
}

/// The whole prompt of a split-mode summary request.
pub fn summary(post: &PostInput, ocr: &[OcrText]) -> String {
    let mut out = format!("{SUMMARY_RULES}\n\n{}", post_body(post));
    for o in ocr {
        match &o.text {
            Some(t) => out.push_str(&format!("\n\n--- Text of image {} ---\n{}", o.file, t)),
            None => out.push_str(&format!("\n\n--- Image {} could not be read ---", o.file)),
        }
    }
    out
}

/// The marker placed before each image part.
pub fn image_label(file: &str) -> String {
    format!("Image file: {file}")
}

fn post_body(post: &PostInput) -> String {
    match &post.title {
        Some(t) => format!("--- Post title ---\n{t}\n\n--- Post text ---\n{}", post.text),
        None => format!("--- Post text ---\n{}", post.text),
    }
}
