//! The job store: SQLite under `<output>/.postmill/state.db`.
//!
//! It holds each post's state, every job (one model request's worth of work, identified by
//! a hash of its inputs), every API attempt (the ledger), and what the quota engine must
//! remember across runs (daily counts, exhausted pools, learned limits). WAL mode, one
//! writer: a `run` holds `<output>/.postmill/lock`, so a second `run` on the same folder
//! refuses instead of interleaving writes; readers (`status`, `audit`) need no lock.

mod jobs;
mod ledger;
mod pools;

pub use jobs::{JobRow, JobState, PostRow, PostState};
pub use pools::PoolRow;

use rusqlite::{Connection, OpenFlags};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("another postmill run is using {0} (its lock is held); wait for it to finish")]
    Busy(PathBuf),
    #[error("no postmill state in {0}: nothing has run there yet")]
    Missing(PathBuf),
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state folder {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Mutex<Connection>,
    dir: PathBuf,
    /// Held for the life of a writing store; dropping it releases the lock.
    _lock: Option<File>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS posts (
    post_id     TEXT PRIMARY KEY,
    safe_id     TEXT NOT NULL,
    source_path TEXT NOT NULL,
    state       TEXT NOT NULL,
    error       TEXT,
    resume_at   TEXT,
    files_sig   TEXT,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    stage       TEXT NOT NULL,
    post_id     TEXT,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  TEXT,
    error       TEXT,
    result      TEXT,
    provider    TEXT,
    model       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_post ON jobs(post_id);
CREATE TABLE IF NOT EXISTS attempts (
    id              INTEGER PRIMARY KEY,
    ts              TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    post_id         TEXT,
    stage           TEXT NOT NULL,
    provider        TEXT NOT NULL,
    project         TEXT NOT NULL,
    key_id          TEXT NOT NULL,
    model           TEXT NOT NULL,
    http_status     INTEGER,
    outcome         TEXT NOT NULL,
    quota_id        TEXT,
    quota_value     INTEGER,
    retry_delay_ms  INTEGER,
    latency_ms      INTEGER NOT NULL,
    prompt_tokens   INTEGER,
    output_tokens   INTEGER,
    thoughts_tokens INTEGER,
    error           TEXT
);
-- Requests and jobs are many-to-many: a packed request will answer several jobs.
CREATE TABLE IF NOT EXISTS attempt_jobs (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    job_id     INTEGER NOT NULL REFERENCES jobs(id),
    PRIMARY KEY (attempt_id, job_id)
);
CREATE TABLE IF NOT EXISTS pools (
    provider        TEXT NOT NULL,
    project         TEXT NOT NULL,
    model           TEXT NOT NULL,
    exhausted_until TEXT,
    quota_id        TEXT,
    learned_rpm     INTEGER,
    learned_tpm     INTEGER,
    learned_rpd     INTEGER,
    PRIMARY KEY (provider, project, model)
);
CREATE TABLE IF NOT EXISTS daily_usage (
    provider TEXT NOT NULL,
    project  TEXT NOT NULL,
    model    TEXT NOT NULL,
    day      TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, project, model, day)
);
-- The last ListModels answer per provider: a rerun within hours need not ask again.
CREATE TABLE IF NOT EXISTS catalog (
    provider  TEXT PRIMARY KEY,
    served    TEXT NOT NULL,
    listed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    exit_code   INTEGER,
    resume_at   TEXT
);
"#;

impl Store {
    /// Opens (creating) the store of `output` for writing, taking its lock.
    pub fn open(output: &Path) -> Result<Store> {
        let dir = output.join(".postmill");
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir.clone(), source })?;
        let lock_path = dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io { path: lock_path.clone(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Busy(output.to_path_buf())),
            Err(std::fs::TryLockError::Error(source)) => return Err(StoreError::Io { path: lock_path, source }),
        }
        let conn = Connection::open(dir.join("state.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode survives a killed process (the OS has every committed page);
        // only a power cut can lose the last transactions.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        let store = Store { conn: Mutex::new(conn), dir, _lock: Some(lock) };
        store.recover()?;
        Ok(store)
    }

    /// Opens an existing store for reading, without the lock (WAL lets readers in while a
    /// run writes).
    pub fn open_read_only(output: &Path) -> Result<Store> {
        let dir = output.join(".postmill");
        let db = dir.join("state.db");
        if !db.is_file() {
            return Err(StoreError::Missing(output.to_path_buf()));
        }
        let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Store { conn: Mutex::new(conn), dir, _lock: None })
    }

    /// The `.postmill` folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection cannot leave SQLite half-written (statements
        // are atomic), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run that was killed leaves jobs `running`; with the lock held nobody runs them.
    fn recover(&self) -> Result<()> {
        self.conn().execute("UPDATE jobs SET state = 'pending' WHERE state = 'running'", [])?;
        Ok(())
    }
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        match Store::open(dir.path()) {
            Err(StoreError::Busy(_)) => {}
            other => panic!("expected Busy, got {:?}", other.err()),
        }
        // Readers are welcome.
        Store::open_read_only(dir.path()).unwrap();
    }

    #[test]
    fn lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        Store::open(dir.path()).unwrap();
    }
}
