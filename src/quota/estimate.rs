//! Input-token estimates, made before sending, so a `tpm` limit is honoured up front.
//!
//! Gemini counts an image of at most 384×384 px as 258 tokens and tiles larger ones into
//! 768×768 crops of 258 tokens each. Text is estimated at one token per CJK character and
//! one per four other characters, which over-counts slightly: an estimate that errs high
//! keeps the pool under its limit.

use crate::task::{ImageInput, OcrText, PostInput, Task};

const TOKENS_PER_TILE: u64 = 258;

pub fn text_tokens(text: &str) -> u64 {
    let (mut cjk, mut other) = (0u64, 0u64);
    for c in text.chars() {
        if is_cjk(c) { cjk += 1 } else { other += 1 }
    }
    cjk + other.div_ceil(4)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

pub fn image_tokens(image: &ImageInput) -> u64 {
    let dims = image::ImageReader::new(std::io::Cursor::new(image.bytes.as_slice()))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    match dims {
        Some((w, h)) if w <= 384 && h <= 384 => TOKENS_PER_TILE,
        Some((w, h)) => u64::from(w.div_ceil(768)) * u64::from(h.div_ceil(768)) * TOKENS_PER_TILE,
        None => TOKENS_PER_TILE * 4,
    }
}

/// The input tokens a task's request will cost, prompt included.
pub fn task_tokens(task: &Task) -> u64 {
    // The fixed instructions and schema cost roughly this much on every request.
    const OVERHEAD: u64 = 600;
    OVERHEAD
        + match task {
            Task::Combined { post } => text_tokens(&post.text) + post.images.iter().map(image_tokens).sum::<u64>(),
            Task::Ocr { image } => image_tokens(image),
            Task::Summary { post, ocr } => post_tokens(post, ocr),
            Task::Packed { posts, .. } => posts.iter().map(|p| post_tokens(&p.post, &p.ocr) + PACK_MARKERS).sum(),
        }
}

/// The markers that delimit one post of a packed request.
const PACK_MARKERS: u64 = 20;

/// A post's text plus the text of its images already read.
pub fn post_tokens(post: &PostInput, ocr: &[OcrText]) -> u64 {
    text_tokens(post.title.as_deref().unwrap_or_default())
        + text_tokens(&post.text)
        + ocr.iter().filter_map(|o| o.text.as_deref()).map(text_tokens).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_estimates() {
        assert_eq!(text_tokens("美团一面"), 4);
        assert_eq!(text_tokens("abcdefgh"), 2);
    }
}
