//! `postmill models`: checks the configured fallback lists against ListModels and prints
//! what a run would use. It sends ListModels requests only.

use super::choose;
use crate::config::Config;
use crate::error::{CliError, Exit};
use crate::provider::Stage;
use crate::provider::catalog;
use crate::quota::clock::Clock;
use serde_json::json;

pub async fn models(cfg: &Config, as_json: bool) -> Result<Exit, CliError> {
    let chosen = choose(cfg, None)?;
    let keys: Vec<_> =
        if chosen.keys.is_empty() { vec![None] } else { chosen.keys.iter().cloned().map(Some).collect() };
    let listings = catalog::list_all(chosen.provider.as_ref(), &keys, &Clock::system()).await;
    let mut key_rows = Vec::new();
    for l in &listings {
        let id = l.key.as_ref().map(|k| k.id.clone()).unwrap_or_else(|| "-".into());
        let status = match &l.result {
            Ok(Some(m)) => format!("ok ({} models)", m.len()),
            Ok(None) => "no listing".into(),
            Err(e) => format!("{}: {}", e.failure.outcome().as_str(), e.message),
        };
        key_rows.push((id, status));
    }
    let Some(served) = catalog::served(&listings) else {
        return Err(CliError::Other(anyhow::anyhow!("no key could list models: {key_rows:?}")));
    };
    let stages = [
        catalog::validate(Stage::Ocr, &chosen.ocr_models, &served),
        catalog::validate(Stage::Summary, &chosen.summary_models, &served),
    ];
    let empty = stages.iter().any(|s| s.kept.is_empty());
    if as_json {
        let v = json!({
            "provider": chosen.provider.name(),
            "keys": key_rows.iter().map(|(k, s)| json!({"key": k, "status": s})).collect::<Vec<_>>(),
            "stages": stages.iter().map(|s| json!({
                "stage": s.stage.as_str(),
                "kept": s.kept,
                "dropped": s.dropped.iter().map(|(m, why, c)| json!({"model": m, "reason": why, "closest": c})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "served": served,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!("provider {}", chosen.provider.name());
        for (k, s) in &key_rows {
            println!("  key {k:<20} {s}");
        }
        println!("{:<8} {:<28} status", "stage", "model");
        for s in &stages {
            let wanted = match s.stage {
                Stage::Ocr => &chosen.ocr_models,
                _ => &chosen.summary_models,
            };
            for m in wanted {
                let status = match s.dropped.iter().find(|d| &d.0 == m) {
                    None => "ok".to_string(),
                    Some((_, why, closest)) => match closest {
                        Some(c) => format!("DROPPED: {why}; closest: {c}"),
                        None => format!("DROPPED: {why}"),
                    },
                };
                println!("{:<8} {:<28} {}", s.stage.as_str(), m, status);
            }
        }
    }
    Ok(if empty { Exit::Usage } else { Exit::Done })
}
