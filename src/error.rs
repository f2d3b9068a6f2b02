//! Exit codes, as the contract defines them, the error that carries one, and the one way
//! an error chain is said to people.
//!
//! Policy: a wrapping error's message says what was being done (the path, the post); its
//! cause travels in `source()` and is printed once, by [`chain`].

use crate::store::StoreError;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every post is done.
    Done = 0,
    /// Some posts failed permanently (or had no readable image at all); the rest are done.
    SomeFailed = 1,
    /// Usage or configuration error; nothing was sent.
    Usage = 2,
    /// The state or an output could not be written (disk full, read-only, gone).
    Io = 74,
    /// Stopped early: the remaining work waits for a quota reset.
    Deferred = 75,
    /// Interrupted (Ctrl-C); a rerun resumes.
    Interrupted = 130,
}

/// An error that ends a command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A usage or configuration problem, found before anything was sent.
    #[error("{0}")]
    Usage(String),
    /// The store could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file postmill keeps could not be written.
    #[error(transparent)]
    Write(#[from] crate::output::OutputError),
    /// The usage ledger could not be opened or written.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    /// A run stopped by a write failure, already reported when it happened.
    #[error("stopped: {0}")]
    Stopped(String),
    /// The work cannot go on now for a transient reason (the host cannot be reached);
    /// nothing is lost, a later run resumes.
    #[error("{0}")]
    Deferred(String),
    /// Anything else that stops a command.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Store(StoreError::Busy(_) | StoreError::Missing(_) | StoreError::TooNew { .. }) => Exit::Usage,
            CliError::Store(_) | CliError::Write(_) | CliError::Ledger(_) | CliError::Stopped(_) => Exit::Io,
            CliError::Deferred(_) => Exit::Deferred,
            CliError::Other(_) => Exit::SomeFailed,
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Usage(chain(&e))
    }
}

/// An error and its causes on one line, `outer: cause: root`. A cause whose text the line
/// already holds (a library that put its source into its own message) is not repeated, so
/// an OS error is said once however the layers above wrapped it.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut prev = line.clone();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Skipped too: a cause that only restates the one before it with a prefix
        // (SQLite's "Error code 13: database or disk is full" after "database or disk is full").
        if !text.is_empty() && !line.contains(&text) && !text.ends_with(&prev) {
            line.push_str(": ");
            line.push_str(&text);
        }
        prev = text;
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_said_once() {
        let os = std::io::Error::from_raw_os_error(13);
        let e = CliError::Write(crate::output::OutputError { path: "/out/p/summary.md".into(), error: os });
        let line = chain(&e);
        assert_eq!(line.matches("os error 13").count(), 1, "{line}");
        assert!(line.starts_with("cannot write /out/p/summary.md: "), "{line}");
        assert_eq!(e.exit(), Exit::Io);

        // A layer that embeds its cause in its message and also returns it as the source.
        #[derive(Debug, thiserror::Error)]
        #[error("state folder /x: {source}")]
        struct Doubled {
            source: std::io::Error,
        }
        let line = chain(&Doubled { source: std::io::Error::from_raw_os_error(28) });
        assert_eq!(line.matches("os error 28").count(), 1, "{line}");

        // SQLite's error and its own source say the same thing.
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        let line = chain(&StoreError::Sqlite(full));
        assert_eq!(line.matches("disk is full").count(), 1, "{line}");
    }
}
