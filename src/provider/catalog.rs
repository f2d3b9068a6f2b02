//! Validates the configured fallback lists against ListModels before any generation
//! request: a retired model (the seed log's `gemini-1.5-flash`) is dropped up front, with
//! a warning naming the closest model the server does serve.

use super::{CallError, Failure, ModelInfo, Provider, Stage};
use crate::config::ApiKey;
use std::collections::BTreeSet;

/// The outcome of one ListModels call, for the ledger.
pub struct Listing {
    pub key: Option<ApiKey>,
    pub result: Result<Option<Vec<ModelInfo>>, CallError>,
    pub latency_ms: u64,
    pub started: jiff::Timestamp,
}

/// What validation decided for one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageModels {
    pub stage: Stage,
    pub kept: Vec<String>,
    /// (model, why it was dropped, the closest listed model)
    pub dropped: Vec<(String, String, Option<String>)>,
}

/// Lists models with every key (each once), retrying a key whose listing fails on the
/// way (5xx, timeout) a few times with jittered backoff. A host that cannot be reached is
/// not retried, nor asked again with the next key: it is the same host. Every attempt is
/// returned, for the ledger; keys that are rejected come back as errors, for the caller
/// to disable.
pub async fn list_all(provider: &dyn Provider, keys: &[Option<ApiKey>], clock: &crate::clock::Clock) -> Vec<Listing> {
    use backon::BackoffBuilder;
    let mut out = Vec::new();
    for key in keys {
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(500))
            .with_max_delay(std::time::Duration::from_secs(10))
            .with_jitter()
            .with_max_times(2)
            .build();
        loop {
            let started = clock.now();
            let t = std::time::Instant::now();
            let result = provider.list_models(key.as_ref()).await;
            let transient = matches!(&result, Err(e) if matches!(e.failure, Failure::ServerError | Failure::Timeout));
            let unreachable = matches!(&result, Err(e) if e.failure == Failure::Connection);
            out.push(Listing { key: key.clone(), result, latency_ms: t.elapsed().as_millis() as u64, started });
            if unreachable {
                return out;
            }
            match delays.next() {
                Some(delay) if transient => tokio::time::sleep(delay).await,
                _ => break,
            }
        }
    }
    out
}

/// Why the host could not be reached, when every listing failed that way.
pub fn unreachable<'a>(listings: impl IntoIterator<Item = &'a Listing>) -> Option<&'a str> {
    let listings: Vec<&Listing> = listings.into_iter().collect();
    let all = !listings.is_empty()
        && listings.iter().all(|l| matches!(&l.result, Err(e) if e.failure == Failure::Connection));
    all.then(|| listings.last().and_then(|l| l.result.as_ref().err()).map(|e| e.message.as_str())).flatten()
}

/// The generating models listed by any key; `None` when no server had a listing to give.
pub fn served(listings: &[Listing]) -> Option<BTreeSet<String>> {
    let mut any = false;
    let mut set = BTreeSet::new();
    for l in listings {
        if let Ok(Some(models)) = &l.result {
            any = true;
            set.extend(models.iter().filter(|m| m.generates).map(|m| m.id.clone()));
        }
    }
    any.then_some(set)
}

/// Keeps the models of `wanted` that `served` lists, in order.
pub fn validate(stage: Stage, wanted: &[String], served: &BTreeSet<String>) -> StageModels {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for m in wanted {
        if served.contains(m) {
            if !kept.contains(m) {
                kept.push(m.clone());
            }
        } else {
            dropped.push((
                m.clone(),
                "not listed by ListModels (or not for generateContent)".into(),
                closest(m, served),
            ));
        }
    }
    StageModels { stage, kept, dropped }
}

fn closest(model: &str, served: &BTreeSet<String>) -> Option<String> {
    served
        .iter()
        .map(|s| (strsim::normalized_levenshtein(model, s), s))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.5)
        .map(|(_, s)| s.clone())
}

/// Whether a listing error means the key itself is bad.
pub fn key_rejected(l: &Listing) -> bool {
    matches!(&l.result, Err(e) if e.failure == Failure::KeyRejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails its first `failures` listings with a 503, then lists one model.
    struct Flaky {
        failures: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Provider for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }
        async fn list_models(&self, _: Option<&ApiKey>) -> Result<Option<Vec<ModelInfo>>, CallError> {
            let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err(CallError::new(Failure::ServerError, Some(503), "overloaded"));
            }
            Ok(Some(vec![ModelInfo { id: "m".into(), generates: true }]))
        }
        async fn generate(&self, _: super::super::Call<'_>) -> Result<super::super::Generation, CallError> {
            unreachable!("listing only")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_listing_failures_are_retried_and_each_attempt_kept() {
        let clock = crate::clock::Clock::system();
        let p = Flaky { failures: 2.into() };
        let listings = list_all(&p, &[None], &clock).await;
        assert_eq!(listings.len(), 3);
        assert!(served(&listings).unwrap().contains("m"));
        // Three failures in a row: given up after the third attempt.
        let p = Flaky { failures: 5.into() };
        let listings = list_all(&p, &[None], &clock).await;
        assert_eq!(listings.len(), 3);
        assert!(served(&listings).is_none());
    }

    #[test]
    fn retired_model_is_dropped_with_a_suggestion() {
        let served: BTreeSet<String> =
            ["gemini-2.5-flash", "gemini-2.5-flash-lite"].iter().map(|s| s.to_string()).collect();
        let wanted = vec!["gemini-2.5-flash-lite".to_string(), "gemini-1.5-flash".to_string()];
        let v = validate(Stage::Ocr, &wanted, &served);
        assert_eq!(v.kept, ["gemini-2.5-flash-lite"]);
        assert_eq!(v.dropped[0].0, "gemini-1.5-flash");
        assert_eq!(v.dropped[0].2.as_deref(), Some("gemini-2.5-flash"));
    }
}
