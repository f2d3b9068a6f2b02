//! The provider a batch (or a command) works with: `auto` resolved, the provider built, its
//! keys, model lists and limits taken from the config.

use super::BatchError;
use crate::config::{Config, ProviderChoice};
use crate::provider::{Provider, gemini::GeminiProvider, local::LocalProvider, openai::OpenAiProvider};
use std::sync::Arc;

/// The provider a command works with, and its keys.
pub struct Chosen {
    pub provider: Arc<dyn Provider>,
    pub keys: Vec<crate::config::ApiKey>,
    pub ocr_models: Vec<String>,
    pub summary_models: Vec<String>,
    pub limits: std::collections::BTreeMap<String, crate::config::Limits>,
}

/// Resolves `auto` (Gemini when a Gemini key is set, else offline) and builds the provider.
pub fn choose(cfg: &Config, choice: Option<ProviderChoice>) -> Result<Chosen, BatchError> {
    let choice = match choice.unwrap_or(cfg.provider) {
        ProviderChoice::Auto if !cfg.gemini.keys.is_empty() => ProviderChoice::Gemini,
        ProviderChoice::Auto => ProviderChoice::Local,
        c => c,
    };
    let http = |e: reqwest::Error| BatchError::Usage(format!("cannot set up the HTTP client: {e}"));
    Ok(match choice {
        ProviderChoice::Gemini => {
            if cfg.gemini.keys.is_empty() {
                return Err(BatchError::Usage(
                    "provider gemini needs a key: set GEMINI_API_KEY (or list [[gemini.keys]] with their env variables)".into(),
                ));
            }
            Chosen {
                provider: Arc::new(GeminiProvider::new(&cfg.gemini).map_err(http)?),
                keys: cfg.gemini.keys.clone(),
                ocr_models: cfg.gemini.ocr_models.clone(),
                summary_models: cfg.gemini.summary_models.clone(),
                limits: cfg.gemini.limits.clone(),
            }
        }
        ProviderChoice::Openai => Chosen {
            provider: Arc::new(OpenAiProvider::new(&cfg.openai).map_err(http)?),
            keys: cfg.openai.keys.clone(),
            ocr_models: cfg.openai.ocr_models.clone(),
            summary_models: cfg.openai.summary_models.clone(),
            limits: cfg.openai.limits.clone(),
        },
        ProviderChoice::Local | ProviderChoice::Auto => Chosen {
            provider: Arc::new(LocalProvider::new(&cfg.local)),
            keys: Vec::new(),
            ocr_models: vec!["tesseract".into()],
            summary_models: vec!["extractor".into()],
            limits: Default::default(),
        },
    })
}
