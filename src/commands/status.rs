//! `postmill status`: what the store says about the batch in an output folder.
//!
//! Every post a run discovered is counted (a run registers them all before it starts), in
//! exactly one of: done, done with problems (images that could not be read: which, why),
//! pending, deferred (until when), failed (why). The input problems of the last run
//! (skipped folders, unreadable export lines) are named too. It only reads: the store is
//! opened read-only, so a read-only output folder can be inspected.

use crate::clock::{Clock, describe};
use crate::commands::CliError;
use crate::error::Exit;
use crate::output;
use crate::store::{PostRow, PostState, Store};
use crate::summary::{ImageStatus, Summary};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// An image of a done post that was not read, as its `summary.json` says.
struct Unread {
    post_id: String,
    file: String,
    status: &'static str,
    error: String,
}

/// The images of a done post that could not be read.
fn unread_images(output: &Path, post: &PostRow) -> Vec<Unread> {
    let path = output::post_dir(output, &post.safe_id).join("summary.json");
    let Some(summary) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Summary>(&b).ok()) else {
        return Vec::new();
    };
    summary
        .images
        .into_iter()
        .filter(|i| i.status != ImageStatus::Ok)
        .map(|i| Unread {
            post_id: post.post_id.clone(),
            status: if i.status == ImageStatus::Failed { "failed" } else { "pending" },
            error: i.error.unwrap_or_else(|| "not read yet".into()),
            file: i.file,
        })
        .collect()
}

pub fn status(output: &Path, as_json: bool) -> Result<Exit, CliError> {
    let store = Store::open_read_only(output)?;
    let posts = store.posts()?;
    let pools = store.pools()?;
    let problems = store.last_input_problems()?;
    let now = Clock::system().now();
    let mut unread = Vec::new();
    let mut counts: BTreeMap<&str, usize> =
        ["done", "done_with_problems", "pending", "deferred", "failed"].into_iter().map(|s| (s, 0)).collect();
    for p in &posts {
        let state = match p.state {
            PostState::Done => {
                let images = unread_images(output, p);
                let state = if images.is_empty() { "done" } else { "done_with_problems" };
                unread.extend(images);
                state
            }
            s => s.as_str(),
        };
        *counts.entry(state).or_default() += 1;
    }
    let failed: Vec<_> = posts.iter().filter(|p| p.state == PostState::Failed).collect();
    let deferred: Vec<_> = posts.iter().filter(|p| p.state == PostState::Deferred).collect();
    let resume_at = deferred.iter().filter_map(|p| p.resume_at.as_deref()?.parse::<jiff::Timestamp>().ok()).min();
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
            "deferred": deferred.iter().map(|p| json!({"post_id": p.post_id, "until": p.resume_at})).collect::<Vec<_>>(),
            "unread_images": unread.iter().map(|u| json!({
                "post_id": u.post_id, "file": u.file, "status": u.status, "error": u.error,
            })).collect::<Vec<_>>(),
            "input_problems": problems,
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
            println!("  {:<19} {n}", state.replace('_', " "));
        }
        for p in &failed {
            println!("  failed {}: {}", p.post_id, p.error.as_deref().unwrap_or("?"));
        }
        for u in &unread {
            println!("  image {} of {}: {} ({})", u.file, u.post_id, u.status, u.error);
        }
        for p in &problems {
            let line = p.line.map(|l| format!(":{l}")).unwrap_or_default();
            println!("  {} {}{line}: {}", p.kind, p.path, p.reason);
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
