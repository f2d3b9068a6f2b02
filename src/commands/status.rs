//! `postmill status`: what the store says about the batch in an output folder.

use crate::error::{CliError, Exit};
use crate::quota::clock::{Clock, describe};
use crate::store::{PostState, Store};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

pub fn status(output: &Path, as_json: bool) -> Result<Exit, CliError> {
    let store = Store::open_read_only(output)?;
    let posts = store.posts().map_err(|e| CliError::Other(e.into()))?;
    let pools = store.pools().map_err(|e| CliError::Other(e.into()))?;
    let now = Clock::system().now();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in [PostState::Done, PostState::Pending, PostState::Deferred, PostState::Failed] {
        counts.insert(s.as_str(), 0);
    }
    for p in &posts {
        *counts.entry(p.state.as_str()).or_default() += 1;
    }
    let failed: Vec<_> = posts.iter().filter(|p| p.state == PostState::Failed).collect();
    let resume_at = posts
        .iter()
        .filter(|p| p.state == PostState::Deferred)
        .filter_map(|p| p.resume_at.as_deref()?.parse::<jiff::Timestamp>().ok())
        .min();
    let exhausted: Vec<_> = pools
        .iter()
        .filter_map(|p| {
            let until: jiff::Timestamp = p.exhausted_until.as_deref()?.parse().ok()?;
            (until > now).then_some((p, until))
        })
        .collect();
    if as_json {
        let v = json!({
            "output": output.display().to_string(),
            "posts": posts.len(),
            "counts": counts,
            "failed": failed.iter().map(|p| json!({"post_id": p.post_id, "error": p.error})).collect::<Vec<_>>(),
            "resume_at": resume_at.map(|t| t.to_string()),
            "exhausted_pools": exhausted.iter().map(|(p, until)| json!({
                "provider": p.provider, "project": p.project, "model": p.model,
                "quota_id": p.quota_id, "until": until.to_string(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        println!("{} post(s) in {}", posts.len(), output.display());
        for (state, n) in &counts {
            println!("  {state:<9} {n}");
        }
        for p in &failed {
            println!("  failed {}: {}", p.post_id, p.error.as_deref().unwrap_or("?"));
        }
        for (p, until) in &exhausted {
            println!(
                "  pool {}/{}/{} exhausted ({}) until {}",
                p.provider,
                p.project,
                p.model,
                p.quota_id.as_deref().unwrap_or("daily limit"),
                describe(*until)
            );
        }
        if let Some(t) = resume_at {
            println!("  work can resume at {}", describe(t));
        }
    }
    Ok(Exit::Done)
}
