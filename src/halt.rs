//! The first failure to write the state or an output stops the run.
//!
//! A full disk or a read-only folder is not a post's fault: failing posts one by one would
//! print hundreds of errors and spend requests whose answers cannot be kept. The first such
//! failure is kept here (said once), no new request leaves, requests in flight finish (their
//! answers go to the store if it still takes them), and the run exits 74.

use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;

/// The run's stop switch: Ctrl-C levels, and the first write failure.
pub struct Halt {
    level: watch::Sender<u8>,
    first: Mutex<Option<String>>,
}

impl Halt {
    pub fn new(level: watch::Sender<u8>) -> Halt {
        Halt { level, first: Mutex::new(None) }
    }

    /// Raises the shutdown level (1: no new requests, 2: abandon those in flight).
    pub fn signal(&self, level: u8) {
        self.level.send_if_modified(|l| {
            let raise = *l < level;
            if raise {
                *l = level;
            }
            raise
        });
    }

    /// Records a write failure (a message naming the path and the OS error) and stops new
    /// requests. Only the first is logged; the rest are consequences of it.
    pub fn write_failed(&self, message: String) {
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            tracing::error!("{message}");
            *first = Some(message);
            drop(first);
            self.signal(1);
        } else {
            tracing::debug!("also: {message}");
        }
    }

    /// The first write failure, if any.
    pub fn failure(&self) -> Option<String> {
        self.first.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_wins_and_stops_new_requests() {
        let (tx, rx) = watch::channel(0u8);
        let halt = Halt::new(tx);
        halt.write_failed("cannot write /a: disk full".into());
        halt.write_failed("cannot write /b: disk full".into());
        assert_eq!(halt.failure().as_deref(), Some("cannot write /a: disk full"));
        assert_eq!(*rx.borrow(), 1);
        halt.signal(2);
        halt.signal(1);
        assert_eq!(*rx.borrow(), 2, "a level is never lowered");
    }
}
