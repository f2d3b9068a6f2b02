//! What both fake servers share: binding 127.0.0.1 and serving a router in the background,
//! and the per-model fault script (a queue consumed by the next requests, then an
//! "always" fault).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// Binds 127.0.0.1:`port` (0: a free one) and serves `app` until the handle is aborted.
pub async fn serve(port: u16, app: axum::Router, what: &'static str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    });
    (addr, task)
}

/// Scripted misbehaviour per model.
#[derive(Debug)]
pub struct FaultScript<F> {
    queued: HashMap<String, VecDeque<F>>,
    always: HashMap<String, F>,
    /// Faults applied to every request to a model until an instant: an outage window.
    until: HashMap<String, (F, Instant)>,
}

impl<F> Default for FaultScript<F> {
    fn default() -> Self {
        FaultScript { queued: HashMap::new(), always: HashMap::new(), until: HashMap::new() }
    }
}

impl<F: Clone> FaultScript<F> {
    /// Queues faults for the next requests to `model`, after those already queued.
    pub fn push<I: IntoIterator<Item = F>>(&mut self, model: &str, faults: I) {
        self.queued.entry(model.into()).or_default().extend(faults);
    }

    /// Applies `fault` to every request to `model` once its queue is empty; `None` stops it.
    pub fn set_always(&mut self, model: &str, fault: Option<F>) {
        match fault {
            Some(f) => self.always.insert(model.into(), f),
            None => self.always.remove(model),
        };
    }

    /// Applies `fault` to every request to `model` until `end` (an outage that passes).
    pub fn set_until(&mut self, model: &str, fault: F, end: Instant) {
        self.until.insert(model.into(), (fault, end));
    }

    /// The fault for the next request to `model`, if any.
    pub fn take(&mut self, model: &str) -> Option<F> {
        if let Some((fault, end)) = self.until.get(model) {
            if Instant::now() < *end {
                return Some(fault.clone());
            }
            self.until.remove(model);
        }
        self.queued.get_mut(model).and_then(VecDeque::pop_front).or_else(|| self.always.get(model).cloned())
    }
}
