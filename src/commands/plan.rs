//! `postmill plan`: what the pending work needs and when it can finish.
//!
//! It reads the input folder and the store and sends nothing. For every pending post (not
//! done from these very files: [`crate::batch::pending`], the rule `run` uses) it counts
//! the requests a run would make, per stage and planned model: the first model of each
//! stage's list; the rest are fallbacks a run may also use, listed but not counted on.
//! It then sets them against each pool's remaining requests today (the stricter of the
//! configured and learned `rpd`, minus what today's Pacific day already counted; zero
//! while a pool is exhausted) and says when the batch can finish at the daily limits.
//!
//! Images an earlier run already read (their OCR job is done in the store) cost nothing.
//! One approximation, erring towards more requests: posts that failed earlier are counted
//! as if retried.

use super::choose;
use crate::clock::{Clock, pacific_day};
use crate::commands::CliError;
use crate::config::{Config, Limits, Mode};
use crate::error::Exit;
use crate::input::{self, PostSource};
use crate::pipeline;
use crate::provider::Stage;
use crate::store::{PoolRow, Store, StoreError};
use jiff::{Timestamp, ToSpan, civil::Date};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Requests one stage needs from its planned model.
#[derive(Debug, Serialize)]
struct Demand {
    stage: &'static str,
    model: String,
    count: u64,
    fallbacks: Vec<String>,
}

/// One pool's standing today. `None` limits are unknown (neither configured nor learned).
#[derive(Debug, Serialize)]
struct PoolPlan {
    provider: String,
    project: String,
    model: String,
    rpd: Option<u32>,
    used_today: u32,
    remaining_today: Option<u32>,
    exhausted_until: Option<String>,
}

#[derive(Debug, Serialize)]
struct Finish {
    /// `today`, `in 1 day`, `in N days` or `unknown`.
    when: String,
    days: Option<u64>,
    /// The Pacific day the last request could be sent.
    date: Option<String>,
    /// Why the estimate is unknown, when it is.
    reason: Option<String>,
}

/// The same pending work sent in packed requests (text-only posts several to a request).
#[derive(Debug, Serialize)]
struct PackedPlan {
    /// Requests in all, packed or not.
    requests: u64,
    /// Packed requests among them, and the posts they carry.
    packs: u64,
    packed_posts: u64,
    finish: Finish,
    /// Whether `run` would pack now (`mode = "packed"`, or `auto` and the day's requests
    /// cannot cover the posts one by one).
    chosen: bool,
}

#[derive(Debug, Serialize)]
struct Plan {
    provider: &'static str,
    mode: &'static str,
    posts: usize,
    pending_posts: usize,
    day: String,
    requests: Vec<Demand>,
    pools: Vec<PoolPlan>,
    finish: Finish,
    packed: PackedPlan,
}

pub fn plan(cfg: &Config, input: &Path, output: &Path, json: bool) -> Result<Exit, CliError> {
    let chosen = choose(cfg, None)?;
    let provider = chosen.provider.name();
    let (posts, _skipped) = crate::batch::discover(input, &[])?;
    // No store yet means nothing has run: nothing done, nothing spent.
    let store = match Store::open_read_only(output) {
        Ok(s) => Some(s),
        Err(StoreError::Missing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let pending = crate::batch::pending(store.as_ref(), &posts);

    let combined_ok = chosen.provider.supports_combined();
    // An image some earlier run already read costs nothing now.
    let revision = chosen.provider.revision(crate::provider::Stage::Ocr);
    let already_read = |sha: &str| {
        store
            .as_ref()
            .and_then(|s| s.job(&pipeline::ocr_job_key(provider, revision.as_deref(), sha, None)).ok().flatten())
            .is_some_and(|job| job.state == crate::store::JobState::Done)
    };
    let counts = count_requests(&pending, cfg.mode, cfg.inline_budget_bytes, combined_ok, &already_read);
    let requests = demands(&counts, &chosen.ocr_models, &chosen.summary_models);

    let now = Clock::system().now();
    let today = pacific_day(now);
    let projects = projects(&chosen.keys, provider);
    let rows = match &store {
        Some(s) => s.pools().map_err(|e| CliError::Other(e.into()))?,
        None => Vec::new(),
    };
    let usage = match &store {
        Some(s) => s.daily_usage(&today.to_string()).map_err(|e| CliError::Other(e.into()))?,
        None => Vec::new(),
    };
    let mut models: Vec<&String> = Vec::new();
    for m in chosen.ocr_models.iter().chain(&chosen.summary_models) {
        if !models.contains(&m) {
            models.push(m);
        }
    }
    let pools: Vec<PoolPlan> = models
        .iter()
        .flat_map(|m| projects.iter().map(move |p| (p, *m)))
        .map(|(project, model)| {
            let configured = chosen.limits.get(model).copied().unwrap_or_default();
            pool_plan(provider, project, model, configured, &rows, &usage, now)
        })
        .collect();
    // Offline work has no quota: it all fits in one run.
    let finish = if provider == "local" { finish_in(0, today) } else { estimate(&requests, &pools, today) };
    let packed = packed_plan(&pending, cfg, combined_ok, &requests, &pools, today, provider);

    let plan = Plan {
        provider,
        mode: mode_name(cfg.mode),
        posts: posts.len(),
        pending_posts: pending.len(),
        day: today.to_string(),
        requests,
        pools,
        finish,
        packed,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&plan).expect("plan serialises"));
    } else {
        print_table(&plan, input);
    }
    Ok(Exit::Done)
}

/// The packed way: text-only pending posts grouped as `run` groups them, every other post
/// as before. (Posts whose images an earlier run read may also be packed by a run; they
/// are counted here as single requests, which errs towards more requests.)
fn packed_plan(
    pending: &[&PostSource],
    cfg: &Config,
    combined_ok: bool,
    single: &[Demand],
    pools: &[PoolPlan],
    today: Date,
    provider: &str,
) -> PackedPlan {
    let tokens: Vec<u64> = pending
        .iter()
        .filter(|p| p.images.is_empty())
        .filter_map(|p| input::load_text(p).ok())
        .map(|t| {
            let post =
                crate::provider::PostInput { post_id: String::new(), title: t.title, text: t.body, images: vec![] };
            crate::quota::estimate::post_tokens(&post, &[])
        })
        .collect();
    let packs: Vec<u64> =
        crate::pack::group(&tokens, &cfg.pack).into_iter().map(|r| r.len() as u64).filter(|&n| n >= 2).collect();
    let (n_packs, packed_posts) = (packs.len() as u64, packs.iter().sum::<u64>());
    // Each packed post leaves the summary (or combined) demand; each pack joins it.
    let summary_stage = if combined_ok && cfg.mode != Mode::Split { Stage::Combined } else { Stage::Summary };
    let mut demands: Vec<Demand> = single
        .iter()
        .map(|d| Demand { stage: d.stage, model: d.model.clone(), count: d.count, fallbacks: d.fallbacks.clone() })
        .collect();
    if let Some(d) = demands.iter_mut().find(|d| d.stage == summary_stage.as_str()) {
        d.count = d.count.saturating_sub(packed_posts) + n_packs;
    }
    let requests = demands.iter().map(|d| d.count).sum();
    let finish = if provider == "local" { finish_in(0, today) } else { estimate(&demands, pools, today) };
    let remaining: Option<u64> = pools.iter().map(|p| p.remaining_today.map(u64::from)).sum();
    let chosen = crate::pack::should_pack(cfg.mode, remaining, pending.len()) && provider != "local";
    PackedPlan { requests, packs: n_packs, packed_posts, finish, chosen }
}

/// Requests per stage for the pending posts, deciding combined or split as the pipeline does.
fn count_requests(
    pending: &[&PostSource],
    mode: Mode,
    budget: u64,
    combined_ok: bool,
    already_read: &dyn Fn(&str) -> bool,
) -> BTreeMap<Stage, u64> {
    let mut counts = BTreeMap::new();
    // Identical images are read once per run, whichever posts hold them.
    let mut read: BTreeSet<String> = BTreeSet::new();
    for post in pending {
        // An image that cannot be loaded is reported failed by the run, never sent.
        let images: Vec<_> = post.images.iter().filter_map(|p| input::load_image(post, p).ok()).collect();
        let bytes: u64 = images.iter().map(|i| i.bytes.len() as u64).sum();
        if pipeline::use_combined(mode, combined_ok, bytes, budget) {
            *counts.entry(Stage::Combined).or_default() += 1;
            continue;
        }
        for img in images {
            if !already_read(&img.sha256) && read.insert(img.sha256) {
                *counts.entry(Stage::Ocr).or_default() += 1;
            }
        }
        *counts.entry(Stage::Summary).or_default() += 1;
    }
    counts
}

fn demands(counts: &BTreeMap<Stage, u64>, ocr: &[String], summary: &[String]) -> Vec<Demand> {
    [Stage::Ocr, Stage::Summary, Stage::Combined]
        .into_iter()
        .filter_map(|stage| {
            let count = *counts.get(&stage)?;
            // Combined requests go to the summary models.
            let list = if stage == Stage::Ocr { ocr } else { summary };
            let (model, fallbacks) = list.split_first()?;
            Some(Demand { stage: stage.as_str(), model: model.clone(), count, fallbacks: fallbacks.to_vec() })
        })
        .collect()
}

/// The projects whose pools a run can use: one per distinct key project, or the provider
/// itself for a provider without keys (as the quota engine names it).
fn projects(keys: &[crate::config::ApiKey], provider: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        if !out.contains(&k.project) {
            out.push(k.project.clone());
        }
    }
    if out.is_empty() {
        out.push(provider.to_string());
    }
    out
}

fn pool_plan(
    provider: &str,
    project: &str,
    model: &str,
    configured: Limits,
    rows: &[PoolRow],
    usage: &[(String, String, String, u32)],
    now: Timestamp,
) -> PoolPlan {
    let row = rows.iter().find(|r| r.provider == provider && r.project == project && r.model == model);
    // The limit the quota engine enforces.
    let rpd = crate::quota::effective_limits(configured, row).rpd;
    let used_today =
        usage.iter().find(|(pv, pr, m, _)| pv == provider && pr == project && m == model).map_or(0, |u| u.3);
    let exhausted_until = row
        .and_then(|r| r.exhausted_until.as_deref())
        .and_then(|s| s.parse::<Timestamp>().ok())
        .filter(|until| *until > now);
    let remaining_today = if exhausted_until.is_some() { Some(0) } else { rpd.map(|r| r.saturating_sub(used_today)) };
    PoolPlan {
        provider: provider.into(),
        project: project.into(),
        model: model.into(),
        rpd,
        used_today,
        remaining_today,
        exhausted_until: exhausted_until.map(|t| t.to_string()),
    }
}

/// When the planned models can take every pending request: the slowest model decides.
fn estimate(requests: &[Demand], pools: &[PoolPlan], today: Date) -> Finish {
    // Two stages planned on one model draw on the same pools.
    let mut needed: BTreeMap<&str, u64> = BTreeMap::new();
    for d in requests {
        *needed.entry(d.model.as_str()).or_default() += d.count;
    }
    let mut days = 0;
    for (model, need) in needed {
        let mine: Vec<&PoolPlan> = pools.iter().filter(|p| p.model == model).collect();
        let (Some(left), Some(daily)) = (
            mine.iter().map(|p| p.remaining_today.map(u64::from)).sum::<Option<u64>>(),
            mine.iter().map(|p| p.rpd.map(u64::from)).sum::<Option<u64>>(),
        ) else {
            return unknown(format!("no daily limit is configured or learned for {model}"));
        };
        if need <= left {
            continue;
        }
        if daily == 0 {
            return unknown(format!("{model} allows no request per day"));
        }
        // What today cannot take, spread over whole days at the full daily limit.
        days = days.max((need - left).div_ceil(daily));
    }
    finish_in(days, today)
}

fn finish_in(days: u64, today: Date) -> Finish {
    let date = i64::try_from(days).ok().and_then(|d| today.checked_add(d.days()).ok());
    Finish {
        when: match days {
            0 => "today".into(),
            1 => "in 1 day".into(),
            n => format!("in {n} days"),
        },
        days: Some(days),
        date: date.map(|d| d.to_string()),
        reason: None,
    }
}

fn unknown(reason: String) -> Finish {
    Finish { when: "unknown".into(), days: None, date: None, reason: Some(reason) }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Auto => "auto",
        Mode::Combined => "combined",
        Mode::Split => "split",
        Mode::Packed => "packed",
    }
}

fn print_table(plan: &Plan, input: &Path) {
    println!(
        "{} of {} post(s) in {} pending (provider {}, mode {})",
        plan.pending_posts,
        plan.posts,
        input.display(),
        plan.provider,
        plan.mode
    );
    println!("\nrequests needed");
    if plan.requests.is_empty() {
        println!("  none");
    }
    for d in &plan.requests {
        let fallbacks =
            if d.fallbacks.is_empty() { String::new() } else { format!("  (fallbacks: {})", d.fallbacks.join(", ")) };
        println!("  {:<9} {:<28} {:>6}{fallbacks}", d.stage, d.model, d.count);
    }
    println!("\ncapacity today ({}, Pacific day)", plan.day);
    println!("  {:<48} {:>8} {:>6} {:>10}", "pool", "rpd", "used", "remaining");
    for p in &plan.pools {
        let opt = |v: Option<u32>| v.map_or_else(|| "?".to_string(), |n| n.to_string());
        let note = p.exhausted_until.as_deref().map(|t| format!("  exhausted until {t}")).unwrap_or_default();
        println!(
            "  {:<48} {:>8} {:>6} {:>10}{note}",
            format!("{}/{}/{}", p.provider, p.project, p.model),
            opt(p.rpd),
            p.used_today,
            opt(p.remaining_today)
        );
    }
    let f = &plan.finish;
    match (f.days, &f.date) {
        (Some(0), _) => println!("\nfinish: today"),
        (Some(n), Some(date)) => {
            println!("\nfinish: in {n} more day(s), on {date} (Pacific), at the planned models' daily limits")
        }
        _ => println!("\nfinish: cannot be estimated: {}", f.reason.as_deref().unwrap_or("limits unknown")),
    }
    let p = &plan.packed;
    let single: u64 = plan.requests.iter().map(|d| d.count).sum();
    println!(
        "\none by one: {single} request(s); packed: {} request(s) ({} pack(s) carrying {} post(s)), finish {}{}",
        p.requests,
        p.packs,
        p.packed_posts,
        p.finish.when,
        if p.chosen { " (a run would pack)" } else { "" }
    );
}
