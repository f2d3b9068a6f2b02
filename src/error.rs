//! Exit codes, as the contract defines them, and the one way an error chain is said to
//! people. A leaf; the error that carries an exit code is [`crate::commands::CliError`].
//!
//! Policy: a wrapping error's message says what was being done (the path, the post); its
//! cause travels in `source()` and is printed once, by [`chain`].

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
    fn a_cause_is_said_once() {
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
        let line = chain(&full);
        assert_eq!(line.matches("disk is full").count(), 1, "{line}");
    }
}
