//! The usage ledger: one record per API attempt, successful or not.
//!
//! Every attempt becomes a row of the store's `attempts` table and a line of
//! `<output>/.postmill/usage.jsonl`, before the next attempt starts. The record carries
//! the key's *name* (or fingerprint), never the key.

use serde::{Deserialize, Serialize};

/// One API attempt, as written to `usage.jsonl` and the `attempts` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// When the request was sent, RFC 3339 UTC.
    pub ts: String,
    pub run_id: String,
    pub post_id: Option<String>,
    /// `combined|ocr|summary|packed|list_models`
    pub stage: String,
    pub provider: String,
    pub project: String,
    pub key_id: String,
    /// Empty for `list_models`.
    pub model: String,
    pub http_status: Option<u16>,
    /// `ok|rate_limited|quota_exhausted|model_not_found|key_rejected|server_error|timeout|blocked|bad_output|bad_request`
    pub outcome: String,
    pub quota_id: Option<String>,
    pub quota_value: Option<u64>,
    pub retry_delay_ms: Option<u64>,
    pub latency_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub thoughts_tokens: Option<u64>,
    /// A short, key-free description of what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many posts' summaries the request asked for: 1 for a combined or summary
    /// request, several for a packed one, none for OCR and ListModels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posts: Option<u32>,
}

use crate::store::{Store, StoreError};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Writes each attempt to the store and to `usage.jsonl`.
pub struct Ledger {
    store: Arc<Store>,
    jsonl: Mutex<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("usage log: {0}")]
    Io(#[from] std::io::Error),
}

impl Ledger {
    pub fn open(store: Arc<Store>) -> Result<Ledger, LedgerError> {
        let path = store.dir().join("usage.jsonl");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Ledger { store, jsonl: Mutex::new(file) })
    }

    /// Records one attempt; returns once both halves are durable.
    pub fn record(&self, attempt: &AttemptRecord, job_ids: &[i64]) -> Result<(), LedgerError> {
        self.store.insert_attempt(attempt, job_ids)?;
        let mut line = serde_json::to_string(attempt).expect("attempt record serialises");
        line.push('\n');
        let mut file = self.jsonl.lock().unwrap_or_else(|p| p.into_inner());
        // One write call per line, in append mode: lines never interleave.
        file.write_all(line.as_bytes())?;
        file.sync_data()?;
        Ok(())
    }
}
