//! `postmill models`: checks the configured fallback lists against ListModels and prints
//! what a run would use. It sends ListModels requests only.

use super::choose;
use crate::clock::Clock;
use crate::commands::CliError;
use crate::config::{Config, ProviderChoice};
use crate::error::Exit;
use crate::provider::Stage;
use crate::provider::catalog;
use serde_json::json;

pub async fn models(cfg: &Config, as_json: bool) -> Result<Exit, CliError> {
    let chosen = choose(cfg, None)?;
    // `auto` without a Gemini key means the offline route: say so, it is not what a user
    // who meant to set a key expects.
    let offline_fallback = cfg.provider == ProviderChoice::Auto && chosen.provider.name() == "local";
    let route_note = offline_fallback.then_some(
        "no API key found (set GEMINI_API_KEY, or list [[gemini.keys]] in the config): the route is offline \
         (Tesseract + the rule-based extractor); nothing is sent anywhere",
    );
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
        let why: Vec<String> = key_rows.iter().map(|(k, s)| format!("key {k}: {s}")).collect();
        return Err(CliError::Usage(format!(
            "no key could list the models of {} ({}); check the keys and base_url",
            chosen.provider.name(),
            why.join("; ")
        )));
    };
    let stages = crate::batch::check_models(&chosen, &served);
    let empty = stages.iter().any(|s| s.kept.is_empty());
    if as_json {
        let v = json!({
            "provider": chosen.provider.name(),
            "offline_because_no_key": offline_fallback,
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
        if let Some(note) = route_note {
            println!("  {note}");
        }
        println!();
        let key_width = key_rows.iter().map(|(k, _)| k.chars().count()).chain([3]).max().unwrap_or(3);
        println!("{:<key_width$}  listing", "key");
        for (k, s) in &key_rows {
            println!("{k:<key_width$}  {s}");
        }
        println!();
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
