//! The usage ledger: one record per API attempt, successful or not.
//!
//! Every attempt becomes a row of the store's `attempts` table and lines of
//! `<output>/.postmill/usage.jsonl`. It is written ahead: a `started` row and line are
//! durable before the request leaves, and its outcome completes them (a second line with
//! the same `attempt` id). A run killed in between leaves `started`, which the next run
//! (and `audit`) counts as `unknown`: possibly billed, never missing. So the ledger holds
//! every request the server saw, kill or no kill. The record carries the key's *name* (or
//! fingerprint), never the key.

pub use crate::attempt::{AttemptRecord, STARTED, UNKNOWN};
use crate::halt::Halt;
use crate::store::{Store, StoreError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Writes each attempt to the store and to `usage.jsonl`.
pub struct Ledger {
    store: Arc<Store>,
    jsonl: Mutex<std::fs::File>,
    path: PathBuf,
    /// Where a write failure goes: the run stops on it. Without one (tests, tools), it is logged.
    halt: Option<Arc<Halt>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("usage log {path}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Ledger {
    /// Opens `usage.jsonl` for appending. A last line torn by a crash is ended first, so
    /// this run's lines start on a line of their own and parse.
    pub fn open(store: Arc<Store>) -> Result<Ledger, LedgerError> {
        let path = store.dir().join("usage.jsonl");
        let io = |source| LedgerError::Io { path: path.clone(), source };
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > 0 {
            let mut last = [0u8];
            file.seek(std::io::SeekFrom::Start(len - 1)).map_err(io)?;
            file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io)?;
                file.sync_data().map_err(io)?;
            }
        }
        let ledger = Ledger { store, jsonl: Mutex::new(file), path, halt: None };
        ledger.add_missing_unknown()?;
        Ok(ledger)
    }

    /// A kill between an attempt's store row and its log line leaves an attempt only the
    /// store knows (its request never left: it is sent after both are written). The log
    /// gets it too, as `unknown`, so the store and the log always count the same attempts.
    fn add_missing_unknown(&self) -> Result<(), LedgerError> {
        let unknown: Vec<AttemptRecord> = self.store.attempts()?.into_iter().filter(|a| a.outcome == UNKNOWN).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|source| LedgerError::Io { path: self.path.clone(), source })?;
        let logged: std::collections::HashSet<i64> =
            text.lines().filter_map(|l| serde_json::from_str::<AttemptRecord>(l).ok()?.attempt).collect();
        for attempt in unknown.iter().filter(|a| a.attempt.is_some_and(|id| !logged.contains(&id))) {
            self.append(attempt)?;
        }
        Ok(())
    }

    /// Sends write failures to `halt`, which stops the run on the first.
    pub fn with_halt(mut self, halt: Arc<Halt>) -> Ledger {
        self.halt = Some(halt);
        self
    }

    /// Records one finished attempt (one whose request was not written ahead).
    pub fn record(&self, attempt: &AttemptRecord, job_ids: &[i64]) -> Result<(), LedgerError> {
        let id = self.store.insert_attempt(attempt, job_ids)?;
        self.append(&AttemptRecord { attempt: Some(id), ..attempt.clone() })
    }

    /// [`Ledger::begin`] off the async workers (the write-ahead commits and appends).
    pub async fn begin_off(self: &Arc<Self>, attempt: &AttemptRecord, job_ids: &[i64]) -> Option<i64> {
        let (ledger, attempt, job_ids) = (self.clone(), attempt.clone(), job_ids.to_vec());
        crate::blocking::run(move || ledger.begin(&attempt, &job_ids)).await.flatten()
    }

    /// [`Ledger::complete`] off the async workers.
    pub async fn complete_off(self: &Arc<Self>, id: i64, attempt: &AttemptRecord) {
        let (ledger, attempt) = (self.clone(), attempt.clone());
        crate::blocking::run(move || ledger.complete(id, &attempt)).await;
    }

    /// Writes `attempt` ahead of its request, as `started`; returns its id once durable.
    /// `None` when it could not be written: then the request must not leave (the failure
    /// has been reported).
    pub fn begin(&self, attempt: &AttemptRecord, job_ids: &[i64]) -> Option<i64> {
        let started = AttemptRecord { outcome: STARTED.into(), ..attempt.clone() };
        let result = self.store.insert_attempt(&started, job_ids).map_err(LedgerError::from).and_then(|id| {
            self.append(&AttemptRecord { attempt: Some(id), ..started })?;
            Ok(id)
        });
        result.map_err(|e| self.report(e)).ok()
    }

    /// Completes attempt `id` with its outcome. Failures are reported, not returned: the
    /// answer itself is kept elsewhere, and the ledger keeps the `started` row at worst.
    pub fn complete(&self, id: i64, attempt: &AttemptRecord) {
        let done = AttemptRecord { attempt: Some(id), ..attempt.clone() };
        if let Err(e) =
            self.store.complete_attempt(id, &done).map_err(LedgerError::from).and_then(|()| self.append(&done))
        {
            self.report(e);
        }
    }

    fn append(&self, attempt: &AttemptRecord) -> Result<(), LedgerError> {
        let mut line = serde_json::to_string(attempt).expect("attempt record serialises");
        line.push('\n');
        let io = |source| LedgerError::Io { path: self.path.clone(), source };
        let mut file = self.jsonl.lock().unwrap_or_else(|p| p.into_inner());
        // One write call per line, in append mode: lines never interleave.
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(())
    }

    fn report(&self, e: LedgerError) {
        // One message naming the file and the cause once.
        let (path, cause) = match &e {
            LedgerError::Store(s) => (self.store.dir().join("state.db"), crate::error::chain(s)),
            LedgerError::Io { path, source } => (path.clone(), crate::error::chain(source)),
        };
        let message = format!("cannot record an attempt in the ledger {}: {cause}", path.display());
        match &self.halt {
            Some(halt) => halt.write_failed(message),
            None => tracing::error!("{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: &str) -> AttemptRecord {
        AttemptRecord {
            post_id: Some("p".into()),
            outcome: outcome.into(),
            ..AttemptRecord::new("2026-12-01T00:00:00Z".into(), "r", "combined", "gemini", "proj", "alpha", "m")
        }
    }

    #[test]
    fn attempts_are_written_ahead_and_a_dead_runs_become_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let ledger = Ledger::open(store.clone()).unwrap();
        let job = store.ensure_job("k", "combined", Some("p")).unwrap();
        let done = ledger.begin(&record("ok"), &[job.id]).unwrap();
        ledger.complete(done, &AttemptRecord { http_status: Some(200), ..record("ok") });
        // Killed while this one was in flight:
        ledger.begin(&record("ok"), &[job.id]).unwrap();
        assert_eq!(store.attempts().unwrap().iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), ["ok", STARTED]);
        drop((ledger, store));
        let store = Arc::new(Store::open(dir.path()).unwrap());
        assert_eq!(store.attempts().unwrap().iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), ["ok", UNKNOWN]);
        assert_eq!(store.job("k").unwrap().unwrap().attempts, 2);
        let text = std::fs::read_to_string(dir.path().join(".postmill/usage.jsonl")).unwrap();
        let settled = crate::audit::settle(crate::audit::parse_usage_jsonl(&text).unwrap());
        assert_eq!(settled.iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), ["ok", UNKNOWN]);
    }

    #[test]
    fn an_attempt_the_kill_kept_out_of_the_log_is_logged_as_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        // Killed after the store's row, before the log's line.
        store.insert_attempt(&AttemptRecord { outcome: STARTED.into(), ..record("ok") }, &[]).unwrap();
        drop(store);
        let store = Arc::new(Store::open(dir.path()).unwrap());
        drop(Ledger::open(store.clone()).unwrap());
        // Once, however many runs open the ledger.
        drop(Ledger::open(store).unwrap());
        let text = std::fs::read_to_string(dir.path().join(".postmill/usage.jsonl")).unwrap();
        let settled = crate::audit::settle(crate::audit::parse_usage_jsonl(&text).unwrap());
        assert_eq!(settled.iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), [UNKNOWN]);
    }

    #[test]
    fn a_torn_last_line_is_ended_before_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let path = dir.path().join(".postmill/usage.jsonl");
        std::fs::write(&path, b"{\"ts\":\"2026-").unwrap();
        let ledger = Ledger::open(store).unwrap();
        ledger.record(&record("ok"), &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(serde_json::from_str::<AttemptRecord>(lines[1]).is_ok(), "{text}");
    }
}
