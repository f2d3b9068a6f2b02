//! Model resolution: the configured fallback lists, cut to what ListModels says the server
//! serves, before a single generation request (a retired model is never called).

use super::{BatchError, Chosen};
use crate::attempt::{AttemptRecord, UNREACHABLE_HINT};
use crate::clock::Clock;
use crate::config::ApiKey;
use crate::ledger::Ledger;
use crate::provider::catalog::{self, StageModels};
use crate::quota::QuotaEngine;
use crate::redact::shorten;
use crate::store::Store;
use crate::task::Stage;
use jiff::Timestamp;

/// The models a batch may use, per stage, in fallback order.
#[derive(Debug, Clone)]
pub struct Models {
    pub ocr: Vec<String>,
    pub summary: Vec<String>,
}

/// ListModels with every key (or a listing from the last hours), then the fallback lists
/// cut to what the server serves; every listing request is in the ledger.
pub(super) async fn resolve(
    chosen: &Chosen,
    quota: &QuotaEngine,
    ledger: &Ledger,
    store: &Store,
    run_id: &str,
    clock: &Clock,
) -> Result<Models, BatchError> {
    // A listing from the last hours is still good: a rerun that can do nothing (every
    // pool exhausted) must be able to say so without a single request.
    let cached = store.catalog(chosen.provider.name()).ok().flatten().filter(|(_, at)| {
        at.parse::<Timestamp>().is_ok_and(|t| clock.now().duration_since(t).as_secs() < CATALOG_FRESH_S)
    });
    if let Some((served, _)) = cached {
        let served: std::collections::BTreeSet<String> = served.into_iter().collect();
        return apply_validation(chosen, quota, &served);
    }
    let lister = Lister { chosen, ledger, run_id, clock };
    let mut listings = Vec::new();
    for key in &quota.keys() {
        listings.extend(lister.list(key).await?);
    }
    let unreachable = catalog::unreachable(listings.iter().map(|(_, l)| l));
    for (ahead, l) in &listings {
        let error = lister.record(*ahead, l)?;
        let key_id = l.key.as_ref().map_or("-", |k| k.id.as_str());
        if catalog::key_rejected(l) {
            tracing::warn!(key = %key_id, "key rejected by ListModels: disabled for this run");
            quota.disable_key(key_id);
        } else if let Some(e) = error
            && unreachable.is_none()
        {
            tracing::warn!(key = %key_id, "ListModels failed: {e}");
        }
    }
    if let Some(why) = unreachable {
        return Err(BatchError::Deferred(format!(
            "{why}. Nothing was sent; every post waits for a later run. Hint: {UNREACHABLE_HINT}"
        )));
    }
    if quota.keys().is_empty() {
        return Err(BatchError::Usage("every API key was rejected; nothing was sent".into()));
    }
    let listings: Vec<catalog::Listing> = listings.into_iter().map(|(_, l)| l).collect();
    let Some(served) = catalog::served(&listings) else {
        if listings.iter().all(|l| matches!(l.result, Ok(None))) {
            tracing::warn!("the server has no model listing; models are used as configured");
            return Ok(Models { ocr: chosen.ocr_models.clone(), summary: chosen.summary_models.clone() });
        }
        return Err(BatchError::Failed(
            "cannot validate the configured models: ListModels failed for every key; nothing was sent".into(),
        ));
    };
    let list: Vec<String> = served.iter().cloned().collect();
    if let Err(e) = store.save_catalog(chosen.provider.name(), &list, &clock.now().to_string()) {
        tracing::warn!("cannot cache the model listing: {e}");
    }
    apply_validation(chosen, quota, &served)
}

/// ListModels requests, each in the ledger like any other request.
struct Lister<'a> {
    chosen: &'a Chosen,
    ledger: &'a Ledger,
    run_id: &'a str,
    clock: &'a Clock,
}

impl Lister<'_> {
    fn remote(&self) -> bool {
        self.chosen.provider.name() != "local"
    }

    fn where_(&self, key: Option<&ApiKey>) -> (String, String) {
        match key {
            Some(k) => (k.project.clone(), k.id.clone()),
            None => (self.chosen.provider.name().to_string(), "-".to_string()),
        }
    }

    /// Lists with `key`; the first request's ledger row is written ahead (a kill
    /// mid-listing leaves an `unknown` row), the id paired with its listing.
    async fn list(&self, key: &Option<ApiKey>) -> Result<Vec<(Option<i64>, catalog::Listing)>, BatchError> {
        let ahead = if self.remote() {
            let (project, key_id) = self.where_(key.as_ref());
            let record = list_models_record(self.chosen, self.run_id, project, key_id, self.clock.now().to_string());
            let id = self.ledger.begin(&record, &[]);
            Some(id.ok_or_else(|| BatchError::Stopped("the usage ledger cannot be written".into()))?)
        } else {
            None
        };
        let got = catalog::list_all(self.chosen.provider.as_ref(), std::slice::from_ref(key), self.clock).await;
        Ok(got.into_iter().enumerate().map(|(i, l)| (if i == 0 { ahead } else { None }, l)).collect())
    }

    /// Completes (or, for a retry inside the listing, records after the fact) a listing's
    /// ledger row. Returns the listing's error, for people.
    fn record(&self, ahead: Option<i64>, l: &catalog::Listing) -> Result<Option<String>, BatchError> {
        let (status, outcome, error) = match &l.result {
            Ok(_) => (Some(200), "ok".to_string(), None),
            Err(e) => (e.http_status, e.failure.outcome().as_str().to_string(), Some(shorten(&e.message, 300))),
        };
        if self.remote() {
            let (project, key_id) = self.where_(l.key.as_ref());
            let record = AttemptRecord {
                http_status: status,
                outcome,
                latency_ms: l.latency_ms,
                error: error.clone(),
                ..list_models_record(self.chosen, self.run_id, project, key_id, l.started.to_string())
            };
            match ahead {
                Some(id) => self.ledger.complete(id, &record),
                None => self.ledger.record(&record, &[])?,
            }
        }
        Ok(error)
    }
}

fn list_models_record(chosen: &Chosen, run_id: &str, project: String, key_id: String, ts: String) -> AttemptRecord {
    AttemptRecord::new(ts, run_id, Stage::ListModels.as_str(), chosen.provider.name(), &project, &key_id, "")
}

/// How long a cached ListModels answer is trusted.
const CATALOG_FRESH_S: i64 = 6 * 3600;

/// The configured lists of both stages checked against what the server serves: the one
/// resolution `run` applies and `models` prints.
pub fn check(chosen: &Chosen, served: &std::collections::BTreeSet<String>) -> [StageModels; 2] {
    [
        catalog::validate(Stage::Ocr, &chosen.ocr_models, served),
        catalog::validate(Stage::Summary, &chosen.summary_models, served),
    ]
}

fn apply_validation(
    chosen: &Chosen,
    quota: &QuotaEngine,
    served: &std::collections::BTreeSet<String>,
) -> Result<Models, BatchError> {
    let stages = check(chosen, served);
    for StageModels { stage, kept, dropped } in &stages {
        for (model, why, closest) in dropped {
            let hint = closest.as_ref().map(|c| format!("; the closest listed model is {c}")).unwrap_or_default();
            tracing::warn!("{} model {model} dropped: {why}{hint}", stage.as_str());
            quota.drop_model(model, why);
        }
        if kept.is_empty() {
            return Err(BatchError::Usage(format!(
                "no {} model left after checking ListModels ({}); fix {}_models in the config. Nothing was sent.",
                stage.as_str(),
                dropped.iter().map(|d| d.0.as_str()).collect::<Vec<_>>().join(", "),
                stage.as_str()
            )));
        }
    }
    let [ocr, summary] = stages;
    Ok(Models { ocr: ocr.kept, summary: summary.kept })
}
