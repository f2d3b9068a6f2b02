//! Exit codes, as the contract defines them, and the error that carries one.

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every post is done.
    Done = 0,
    /// Some posts failed permanently; the rest are done.
    SomeFailed = 1,
    /// Usage or configuration error; nothing was sent.
    Usage = 2,
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
            CliError::Deferred(_) => Exit::Deferred,
            CliError::Other(_) => Exit::SomeFailed,
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Usage(e.to_string())
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Busy(_) | crate::store::StoreError::Missing(_) => CliError::Usage(e.to_string()),
            other => CliError::Other(other.into()),
        }
    }
}
