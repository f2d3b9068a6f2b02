//! The offline provider: Tesseract reads images, a rule-based extractor builds summaries.
//!
//! It is the default when no API key is configured, so a fresh checkout produces real
//! summaries. It never combines text and images in one request (there is no model to
//! send them to): images go through [`Task::Ocr`], text plus OCR through [`Task::Summary`].
//! Before the first image of a run, [`LocalProvider::check_setup`] makes sure Tesseract and
//! every configured language are installed: a run that needs them stops with the packages
//! to install (exit 2) instead of reading nothing or reading noise. A tool that goes
//! missing mid-run is [`Failure::Unavailable`]: the image waits for a later run. Text that
//! is mostly noise for the configured languages is a failed read, never kept as `ok`.

pub mod dictionaries;
pub mod emoji;
pub mod extractor;
pub mod page;
pub mod prepare;
pub mod tesseract;

use crate::config::{ApiKey, LocalConfig};
use crate::provider::{Answer, Call, CallError, Failure, Generation, ModelInfo, Provider, Stage, Task, Usage};
use async_trait::async_trait;
use std::sync::OnceLock;
use std::time::Duration;
use tesseract::{OcrError, Setup, Tesseract};

/// The "model" that reads images, as the ledger and `models` show it.
pub const OCR_MODEL: &str = "tesseract";
/// The "model" that writes summaries.
pub const SUMMARY_MODEL: &str = "extractor";
/// One image rarely takes more than a few seconds; a minute means Tesseract is stuck.
const OCR_TIMEOUT: Duration = Duration::from_secs(60);

pub struct LocalProvider {
    tesseract: Tesseract,
    /// Tesseract's version and languages, or why it cannot run: asked once per process
    /// (two short subprocesses), the first time a run or a job key needs it.
    setup: OnceLock<Result<Setup, String>>,
}

impl LocalProvider {
    pub fn new(config: &LocalConfig) -> Self {
        LocalProvider {
            tesseract: Tesseract {
                program: config.tesseract.clone(),
                languages: config.languages.clone(),
                timeout: OCR_TIMEOUT,
            },
            setup: OnceLock::new(),
        }
    }

    /// Tesseract's setup, checked on first use (see [`Tesseract::setup`]).
    pub fn setup(&self) -> Result<&Setup, &str> {
        self.setup.get_or_init(|| self.tesseract.setup().map_err(|e| e.to_string())).as_ref().map_err(String::as_str)
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

    fn revision(&self, stage: Stage) -> Option<String> {
        match stage {
            Stage::Summary | Stage::Packed => Some(format!("extractor/{}", extractor::VERSION)),
            // What a reading depends on: the Tesseract build, its languages and how images
            // are prepared. A broken setup has its own identity, so fixing it rereads.
            Stage::Ocr => Some(match self.setup() {
                Ok(s) => format!("{}/{}/prepare/{}", s.version, s.languages, prepare::VERSION),
                Err(_) => format!("unavailable/{}/prepare/{}", self.tesseract.languages, prepare::VERSION),
            }),
            _ => None,
        }
    }

    async fn check_setup(&self, stage: Stage) -> Result<(), CallError> {
        if stage != Stage::Ocr {
            return Ok(());
        }
        match self.setup() {
            Ok(_) => Ok(()),
            Err(e) => Err(CallError::new(Failure::Unavailable, None, e)),
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
                if let Err(e) = self.setup() {
                    return Err(CallError::new(Failure::Unavailable, None, format!("{}: {e}", image.file)));
                }
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
        // The bytes are the input, not an answer: no retry or other model reads them
        // (the same holds for an image that reads as noise with this setup).
        OcrError::Decode(_) | OcrError::Unreadable { .. } => Failure::BadRequest,
        OcrError::Timeout(_) => Failure::Timeout,
        OcrError::Failed { .. } | OcrError::Io(_) => Failure::ServerError,
    };
    CallError::new(failure, None, format!("{file}: {e}"))
}
