//! The error that ends a command, and the exit code it maps to. It lives at the edge:
//! library modules return their own typed errors, and only commands gather them here.

use crate::error::{Exit, chain};
use crate::store::StoreError;

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

impl From<crate::batch::BatchError> for CliError {
    fn from(e: crate::batch::BatchError) -> Self {
        use crate::batch::BatchError as B;
        match e {
            B::Usage(m) => CliError::Usage(m),
            B::Store(e) => CliError::Store(e),
            B::Write(e) => CliError::Write(e),
            B::Ledger(e) => CliError::Ledger(e),
            B::Stopped(m) => CliError::Stopped(m),
            B::Deferred(m) => CliError::Deferred(m),
            B::Failed(m) => CliError::Other(anyhow::anyhow!(m)),
        }
    }
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

        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        let line = chain(&CliError::Store(StoreError::Sqlite(full)));
        assert_eq!(line.matches("disk is full").count(), 1, "{line}");
    }
}
