//! The job store: SQLite under `<output>/.postmill/state.db`.
//!
//! It holds each post's state, every job (one model request's worth of work, identified by
//! a hash of its inputs), every API attempt (the ledger), and what the quota engine must
//! remember across runs (daily counts, exhausted pools, learned limits). WAL mode, one
//! writer: a `run` holds `<output>/.postmill/lock`, so a second `run` on the same folder
//! refuses instead of interleaving writes; readers (`status`, `audit`) need no lock.
//!
//! The schema carries its version in `PRAGMA user_version` and grows by the ordered steps
//! of [`MIGRATIONS`]; a store written by a newer postmill is refused, untouched.

mod jobs;
mod ledger;
mod pools;

pub use jobs::{InputProblem, JobRow, JobState, PostRow, PostState};
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
    #[error("state database")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state folder {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} was written by a newer postmill (store version {found}; this one knows up to {supported}); \
         upgrade postmill or use another --output. The store was left untouched"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
}

impl StoreError {
    /// Whether the failure is the disk's (full, read-only, gone) rather than the data's: a
    /// run stops on it instead of failing posts.
    pub fn is_io(&self) -> bool {
        match self {
            StoreError::Io { .. } => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::PermissionDenied
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub struct Store {
    conn: Mutex<Connection>,
    dir: PathBuf,
    /// Held for the life of a writing store; dropping it releases the lock.
    _lock: Option<File>,
    /// The schema version of the file (a reader may see an older one).
    version: i64,
}

/// The schema, as ordered steps: step `i` takes a store from version `i` to `i + 1`.
/// Append only; never edit a step that has shipped. Version 0 is both a new file and a
/// store of the first release (which had no version): step 1 only creates what is missing.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// The version this postmill writes.
pub const STORE_VERSION: i64 = MIGRATIONS.len() as i64;

const SCHEMA_V1: &str = r#"
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

/// What a run found in its input that is not a post it could work on: skipped folders and
/// unreadable export lines, kept per run so that `status` can name them afterwards.
const SCHEMA_V2: &str = r#"
CREATE TABLE input_problems (
    run_id TEXT NOT NULL,
    kind   TEXT NOT NULL,
    path   TEXT NOT NULL,
    line   INTEGER,
    reason TEXT NOT NULL
);
CREATE INDEX input_problems_run ON input_problems(run_id);
"#;

/// Refuses a store from the future before anything writes to it.
fn check_version(conn: &Connection, db: &Path) -> Result<i64> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > STORE_VERSION {
        return Err(StoreError::TooNew { path: db.to_path_buf(), found, supported: STORE_VERSION });
    }
    Ok(found)
}

/// Brings the store to [`STORE_VERSION`], one transaction per step, so a crash leaves it
/// at a whole version.
fn migrate(conn: &mut Connection, from: i64) -> Result<()> {
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

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
        let db = dir.join("state.db");
        if db.is_file() {
            // Read the version through a read-only handle: a newer store must stay
            // byte-identical, so nothing (not even the WAL switch) may touch it first.
            let probe = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            check_version(&probe, &db)?;
        }
        let mut conn = Connection::open(&db)?;
        let version = check_version(&conn, &db)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode survives a killed process (the OS has every committed page);
        // only a power cut can lose the last transactions.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The WAL is folded into the database every ~1 MB (256 pages) instead of SQLite's
        // 4 MB, and cut back to 1 MB after: on a nearly full disk the state must not need
        // megabytes more than it holds (a run that stopped on a full disk must finish once
        // the user frees a little room).
        conn.pragma_update(None, "wal_autocheckpoint", 256)?;
        conn.pragma_update(None, "journal_size_limit", 1_048_576)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn, version)?;
        let store = Store { conn: Mutex::new(conn), dir, _lock: Some(lock), version: STORE_VERSION };
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
        let conn = match Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).map(|_| c))
        {
            Ok(c) => c,
            // A WAL database in a folder we cannot write (a read-only mount, another user's
            // output) cannot get its shared-memory file: read the file as it is instead. A
            // finished run leaves no WAL behind, so nothing is missed.
            Err(_) => {
                let uri = format!("file:{}?immutable=1", percent_path(&db));
                Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)?
            }
        };
        let version = check_version(&conn, &db)?;
        if version < STORE_VERSION {
            // Readers never migrate: an older store reads as it is, minus what it lacks.
            tracing::debug!("store version {version} (current {STORE_VERSION}) read as is");
        }
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Store { conn: Mutex::new(conn), dir, _lock: None, version })
    }

    /// The schema version of the open file.
    pub fn version(&self) -> i64 {
        self.version
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

    /// A run that was killed leaves jobs `running` and attempts `started`; with the lock
    /// held nobody runs them. A started attempt may have reached the server (and been
    /// billed): it stays in the ledger as `unknown`.
    fn recover(&self) -> Result<()> {
        let conn = self.conn();
        conn.execute("UPDATE jobs SET state = 'pending' WHERE state = 'running'", [])?;
        conn.execute("UPDATE attempts SET outcome = 'unknown' WHERE outcome = 'started'", [])?;
        Ok(())
    }
}

/// A path as the path part of an SQLite URI (`?` and `#` would end it, `%` starts an escape).
fn percent_path(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        match c {
            '?' | '#' | '%' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::JobState;

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
    fn a_store_from_the_future_is_refused_and_left_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let db = dir.path().join(".postmill/state.db");
        Connection::open(&db).unwrap().pragma_update(None, "user_version", STORE_VERSION + 5).unwrap();
        let before = std::fs::read(&db).unwrap();
        for result in [Store::open(dir.path()), Store::open_read_only(dir.path())] {
            match result {
                Err(e @ StoreError::TooNew { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&(STORE_VERSION + 5).to_string()), "{msg}");
                    assert!(msg.contains(&STORE_VERSION.to_string()), "{msg}");
                }
                other => panic!("expected TooNew, got {:?}", other.err()),
            }
        }
        assert_eq!(std::fs::read(&db).unwrap(), before);
    }

    #[test]
    fn an_unversioned_first_release_store_is_migrated_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(".postmill/state.db");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.execute(
                "INSERT INTO jobs (key, stage, state, created_at, updated_at) VALUES ('k', 'ocr', 'done', 'x', 'x')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.version(), STORE_VERSION);
        assert_eq!(store.job("k").unwrap().unwrap().state, JobState::Done);
        let v: i64 = store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, STORE_VERSION);
        let problems: i64 = store.conn().query_row("SELECT COUNT(*) FROM input_problems", [], |r| r.get(0)).unwrap();
        assert_eq!(problems, 0);
    }

    #[test]
    fn a_read_only_folder_can_still_be_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.ensure_job("k", "ocr", None).unwrap();
        }
        let state = dir.path().join(".postmill");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
        // Root ignores folder permissions: the test then only shows the plain path works.
        let result = Store::open_read_only(dir.path()).and_then(|s| s.job("k"));
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(result.unwrap().is_some());
    }

    #[test]
    fn lock_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        Store::open(dir.path()).unwrap();
    }
}
