//! The offline provider: Tesseract reads images, a rule-based extractor builds summaries.
//!
//! It is the default when no API key is configured, so a fresh checkout produces real
//! summaries. It never combines text and images in one request (there is no model to
//! send them to): images go through [`Task::Ocr`], text plus OCR through [`Task::Summary`].
//! A missing Tesseract or language pack is [`Failure::Unavailable`]: the image waits for
//! a later run instead of failing for good.

pub mod dictionaries;
pub mod extractor;
pub mod page;
pub mod tesseract;

use crate::config::{ApiKey, LocalConfig};
use crate::provider::{Answer, Call, CallError, Failure, Generation, ModelInfo, Provider, Task, Usage};
use async_trait::async_trait;
use std::time::Duration;
use tesseract::{OcrError, Tesseract};

/// The "model" that reads images, as the ledger and `models` show it.
pub const OCR_MODEL: &str = "tesseract";
/// The "model" that writes summaries.
pub const SUMMARY_MODEL: &str = "extractor";
/// One image rarely takes more than a few seconds; a minute means Tesseract is stuck.
const OCR_TIMEOUT: Duration = Duration::from_secs(60);

pub struct LocalProvider {
    tesseract: Tesseract,
}

impl LocalProvider {
    pub fn new(config: &LocalConfig) -> Self {
        LocalProvider {
            tesseract: Tesseract {
                program: config.tesseract.clone(),
                languages: config.languages.clone(),
                timeout: OCR_TIMEOUT,
            },
        }
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &'static str {
        "local"
    }

    fn needs_key(&self) -> bool {
        false
    }

    fn supports_combined(&self) -> bool {
        false
    }

    fn revision(&self, stage: crate::provider::Stage) -> Option<String> {
        match stage {
            crate::provider::Stage::Summary | crate::provider::Stage::Packed => {
                Some(format!("extractor/{}", extractor::VERSION))
            }
            _ => None,
        }
    }

    async fn list_models(&self, _key: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError> {
        Ok(Some(vec![
            ModelInfo { id: OCR_MODEL.into(), generates: true },
            ModelInfo { id: SUMMARY_MODEL.into(), generates: true },
        ]))
    }

    async fn generate(&self, call: Call<'_>) -> Result<Generation, CallError> {
        let (answer, model) = match call.task {
            Task::Ocr { image } => {
                let text = self.tesseract.read(&image.bytes).await.map_err(|e| ocr_error(&image.file, e))?;
                (Answer::Ocr(text), OCR_MODEL)
            }
            Task::Summary { post, ocr } => {
                let texts: Vec<&str> = ocr.iter().filter_map(|o| o.text.as_deref()).collect();
                let extract = extractor::extract(post.title.as_deref(), &post.text, &texts);
                (Answer::Summary(extract), SUMMARY_MODEL)
            }
            Task::Packed { posts, .. } => {
                // Nothing to save offline, but `mode = "packed"` works the same everywhere.
                let answers = posts
                    .iter()
                    .map(|p| {
                        let texts: Vec<&str> = p.ocr.iter().filter_map(|o| o.text.as_deref()).collect();
                        let extract = extractor::extract(p.post.title.as_deref(), &p.post.text, &texts);
                        Ok(crate::summary::PackedSummary { post_id: p.post.post_id.clone(), extract })
                    })
                    .collect();
                (Answer::Packed(answers), SUMMARY_MODEL)
            }
            Task::Combined { .. } => {
                return Err(CallError::new(
                    Failure::BadRequest,
                    None,
                    "local provider reads images and text separately (use split mode)",
                ));
            }
        };
        Ok(Generation { answer, usage: Usage::default(), model_version: Some(model.to_string()) })
    }
}

/// Maps an OCR failure to what the quota engine acts on: a missing tool waits for a
/// later run; an unreadable image will not get better by retrying.
fn ocr_error(file: &str, e: OcrError) -> CallError {
    let failure = match &e {
        OcrError::Missing { .. } | OcrError::MissingLanguage { .. } => Failure::Unavailable,
        // The bytes are the input, not an answer: no retry or other model reads them.
        OcrError::Decode(_) => Failure::BadRequest,
        OcrError::Timeout(_) => Failure::Timeout,
        OcrError::Failed { .. } | OcrError::Io(_) => Failure::ServerError,
    };
    CallError::new(failure, None, format!("{file}: {e}"))
}
