//! Blocking work off the async workers. A SQLite commit or an fsync can take milliseconds
//! (seconds on a slow disk); on an async worker it would stall every other post's
//! requests, timers and the Ctrl-C handler with it. Such calls go to tokio's blocking pool.

/// Runs `f` on the blocking pool and waits for it. A panic in `f` resumes here, as if `f`
/// had run inline. `None` only when the runtime is shutting down before `f` could start.
pub async fn run<T, F>(f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "current_thread")]
    async fn runs_on_another_thread_even_on_a_single_threaded_runtime() {
        let here = std::thread::current().id();
        let there = super::run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(here, there);
    }
}
