//! The work vocabulary: what a request is for ([`Stage`]), what it carries ([`Task`] over
//! [`PostInput`] and [`ImageInput`]) and the knobs a retry may turn ([`Budget`]).
//!
//! A leaf: it imports nothing from the crate, so input discovery, the quota engine's
//! estimates, the scheduler and every provider can share it without reaching into each other.

use std::sync::Arc;

/// What a request is for; also the ledger's `stage` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Combined,
    Ocr,
    Summary,
    /// Several posts' summaries in one request.
    Packed,
    ListModels,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Combined => "combined",
            Stage::Ocr => "ocr",
            Stage::Summary => "summary",
            Stage::Packed => "packed",
            Stage::ListModels => "list_models",
        }
    }
    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "combined" => Stage::Combined,
            "ocr" => Stage::Ocr,
            "summary" => Stage::Summary,
            "packed" => Stage::Packed,
            "list_models" => Stage::ListModels,
            _ => return None,
        })
    }
}

/// An image as sent to a model: bytes plus the MIME type sniffed from them.
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// The file name inside the post (`image_1.jpg`), as the summary reports it.
    pub file: String,
    pub mime: &'static str,
    pub bytes: Arc<Vec<u8>>,
    /// Hex SHA-256 of the file's bytes (before any preparation): identical images are read once.
    pub sha256: String,
    /// The preparation version when `bytes` are not the file's (converted or scaled for the
    /// provider): part of the image's job identity, so a change in how images are prepared
    /// redoes them while images sent as read keep their identity.
    pub prepared: Option<&'static str>,
}

/// A post's content, as providers see it.
#[derive(Debug, Clone)]
pub struct PostInput {
    pub post_id: String,
    pub title: Option<String>,
    pub text: String,
    pub images: Vec<ImageInput>,
}

/// One image's text as read by an earlier OCR request, for a split-mode summary.
#[derive(Debug, Clone)]
pub struct OcrText {
    pub file: String,
    /// `None` when the image could not be read (yet).
    pub text: Option<String>,
}

/// What a request asks for.
#[derive(Debug, Clone)]
pub enum Task {
    /// Text and all images at once; the answer carries the summary and each transcription.
    Combined { post: Arc<PostInput> },
    /// One image's text.
    Ocr { image: ImageInput },
    /// The summary of text plus images already read.
    Summary { post: Arc<PostInput>, ocr: Vec<OcrText> },
    /// The summaries of several posts (text plus images already read) in one request,
    /// answered post by post; `output_tokens` is the output budget the pack was sized for.
    Packed { posts: Vec<PackedPost>, output_tokens: u32 },
}

/// One post of a packed request.
#[derive(Debug, Clone)]
pub struct PackedPost {
    pub post: Arc<PostInput>,
    pub ocr: Vec<OcrText>,
}

impl Task {
    pub fn stage(&self) -> Stage {
        match self {
            Task::Combined { .. } => Stage::Combined,
            Task::Ocr { .. } => Stage::Ocr,
            Task::Summary { .. } => Stage::Summary,
            Task::Packed { .. } => Stage::Packed,
        }
    }

    /// The output budget a first attempt asks for: the server's default, except for a
    /// packed request, whose answer is as long as its posts' summaries together.
    pub fn initial_budget(&self) -> Budget {
        match self {
            Task::Packed { output_tokens, .. } => {
                Budget { max_output_tokens: Some(*output_tokens), thinking_off: false }
            }
            _ => Budget::default(),
        }
    }
}

/// Knobs the scheduler may turn on a retry of one job on one model. A budget belongs to
/// the model it was raised for: the scheduler never carries it to another model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// The output budget wanted; `None` leaves the server's default. Providers clamp it to
    /// what the model is known to allow (ListModels' `outputTokenLimit`, a cap a 400 named).
    pub max_output_tokens: Option<u32>,
    /// Ask the model to spend as little of the output budget on thinking as it accepts:
    /// what that means depends on the model family, which only the provider knows.
    pub thinking_off: bool,
}

/// The output budget asked for after a cut-off answer: "as much as the model allows",
/// clamped by the provider to the model's own cap.
pub const RAISED_OUTPUT_TOKENS: u32 = 65_536;
