//! `postmill run`: discover posts, validate models, process every post, report.
//!
//! Before any request: the temp files of a killed run are removed, and the finished
//! outputs a lost store no longer knows are adopted (see [`pipeline::adopt`]). The first
//! failure to write the state or an output stops the run with exit 74.

use super::{Chosen, choose};
use crate::config::{Config, Mode, ProviderChoice};
use crate::error::{CliError, Exit};
use crate::halt::Halt;
use crate::input::{self, PostSource};
use crate::ledger::{AttemptRecord, Ledger};
use crate::output;
use crate::pipeline::{self, Adopted, Pipeline, PostOutcome};
use crate::provider::catalog::{self, StageModels};
use crate::provider::{Stage, redact::shorten};
use crate::quota::QuotaEngine;
use crate::quota::clock::{Clock, describe};
use crate::scheduler::{Dispatcher, Shutdown};
use crate::store::{InputProblem, Store};
use futures::StreamExt;
use jiff::Timestamp;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub provider: Option<ProviderChoice>,
    pub mode: Option<Mode>,
    pub concurrency: Option<usize>,
    pub retry_failed: bool,
    pub only: Vec<String>,
    pub wait: bool,
    pub no_progress: bool,
}

pub async fn run(cfg: &Config, args: RunArgs) -> Result<Exit, CliError> {
    let input_dir = args.input.clone().unwrap_or_else(|| cfg.input.clone());
    let output = args.output.clone().unwrap_or_else(|| cfg.output.clone());
    let concurrency = args.concurrency.unwrap_or(cfg.concurrency);
    if concurrency == 0 {
        return Err(CliError::Usage("--concurrency must be at least 1".into()));
    }
    let chosen = choose(cfg, args.provider)?;
    // Discovery names the folder or file and what is wrong with it (a file that is no
    // export says it is a file, not a folder of posts).
    let (mut posts, skipped) = input::discover(&input_dir).map_err(|e| CliError::Usage(crate::error::chain(&e)))?;
    for s in &skipped {
        tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
    }
    if !args.only.is_empty() {
        posts.retain(|p| args.only.iter().any(|o| *o == p.id || *o == p.safe_id));
        if posts.is_empty() {
            return Err(CliError::Usage(format!("--only matched no post in {}", input_dir.display())));
        }
    }
    let store = Arc::new(Store::open(&output)?);
    // With the lock held, no other run is writing: any temp file is a killed run's.
    let removed = output::remove_stale_temps(&output);
    if removed > 0 {
        tracing::info!("removed {removed} temp file(s) left by an interrupted run");
    }
    if posts.iter().any(|p| !p.pending_urls.is_empty()) {
        let client = input::fetch::client().map_err(|e| CliError::Other(e.into()))?;
        let media = store.dir().join("media");
        input::fetch::fetch_images(&mut posts, &media, &client, concurrency, args.retry_failed).await;
    }
    let clock = Clock::system();
    let run_id = format!("{}-{:04x}", clock.now().strftime("%Y%m%dT%H%M%SZ"), fastrand::u16(..));
    store.begin_run(&run_id)?;
    store.record_input_problems(&run_id, &input_problems(&skipped))?;
    store.register_posts(posts.iter().map(|p| (p.id.as_str(), p.safe_id.as_str(), p.path.display().to_string())))?;
    let (tx, shutdown) = Shutdown::new();
    let halt = Arc::new(Halt::new(tx));
    let ledger = Arc::new(Ledger::open(store.clone())?.with_halt(halt.clone()));
    let quota = Arc::new(
        QuotaEngine::new(chosen.provider.name(), &chosen.keys, chosen.limits.clone(), store.clone(), clock)
            .with_policy(cfg.retry),
    );
    let shared = quota.shared_projects();
    for (project, n) in &shared {
        tracing::info!("{n} keys share project {project}: they share its quota, so rotating them adds none");
    }

    let signals = halt.clone();
    tokio::spawn(async move {
        // First Ctrl-C: no new requests, in-flight ones finish. Second: abandon them.
        for level in 1..=2u8 {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            if level == 1 {
                eprintln!("postmill: stopping after the requests in flight (Ctrl-C again to abandon them)");
            }
            signals.signal(level);
        }
    });

    let mut dispatcher = Dispatcher::new(
        chosen.provider.clone(),
        quota.clone(),
        ledger.clone(),
        run_id.clone(),
        clock,
        shutdown.clone(),
    )
    .with_concurrency(concurrency)
    .with_models(chosen.ocr_models.clone(), chosen.summary_models.clone());
    let mode = args.mode.unwrap_or(cfg.mode);
    adopt_outputs(&store, &chosen, &output, mode, cfg.inline_budget_bytes, &posts)?;
    // Posts done from the very same files need no model at all (their outputs are rendered
    // from the store): only validate (and spend a ListModels call) when there is work left.
    let done = done_posts(&store);
    let pending_work = posts.iter().any(|p| done.get(&p.id).is_none_or(|sig| *sig != input::signature(p)));
    if pending_work {
        // A batch with images to read needs the local tools first (Tesseract and its
        // languages); a text-only batch runs without them.
        if posts.iter().any(|p| !p.images.is_empty()) {
            chosen.provider.check_setup(Stage::Ocr).await.map_err(|e| CliError::Usage(e.message))?;
        }
        validate_models(&chosen, &quota, &ledger, &store, &run_id, &clock, &mut dispatcher).await?;
        // Every post ends in a summary (or combined) request: when all of those pools are
        // known exhausted, nothing can finish today, and nothing is sent.
        if let Some(reset) = quota.all_exhausted(dispatcher.summary_models())
            && !args.wait
        {
            return finish_deferred(&store, &run_id, &posts, reset);
        }
    }

    let dispatcher = Arc::new(dispatcher);
    let pipeline = Arc::new(Pipeline::new(
        store.clone(),
        dispatcher.clone(),
        output.clone(),
        mode,
        cfg.inline_budget_bytes,
        args.retry_failed,
        halt.clone(),
    ));
    let bar = crate::progress::bar(posts.len() as u64, args.no_progress);
    let mut report;
    loop {
        // Packed requests first (when the day's requests are the wall): the posts they
        // summarise are then only rendered by the per-post pass below.
        let done = done_posts(&store);
        let pending = posts.iter().filter(|p| done.get(&p.id).is_none_or(|sig| *sig != input::signature(p))).count();
        let remaining = quota.remaining_today(pipeline.dispatcher.summary_models());
        if pending > 1 && crate::pack::should_pack(mode, remaining, pending) && !shutdown.stopping() {
            let packed = crate::pack::run(&pipeline, &posts, &cfg.pack, concurrency).await;
            tracing::info!(
                "packed requests: {} answered, {} post(s) summarised, {} left to go alone",
                packed.packs,
                packed.packed,
                packed.returned
            );
        }
        // Posts in flight at most: enough to keep every request slot busy, few enough that
        // a batch of thousands never sits in memory.
        let window = concurrency * 2;
        // Once stopping, no further post is even read: the stream ends where Ctrl-C found it.
        let stopping = shutdown.clone();
        let mut results =
            futures::stream::iter(posts.iter().take_while(move |_| !stopping.stopping()).cloned().map(|p| {
                let pipeline = pipeline.clone();
                async move {
                    let span = tracing::info_span!("post", id = %p.id);
                    let outcome = tracing::Instrument::instrument(pipeline.process(&p), span).await;
                    (p, outcome)
                }
            }))
            .buffer_unordered(window);
        report = Report::default();
        let mut seen = 0;
        while let Some((post, outcome)) = results.next().await {
            seen += 1;
            bar.inc(1);
            match &outcome {
                PostOutcome::Done(images) => {
                    report.done += 1;
                    report.images_read += images.read;
                    report.images_unread += images.unread.len();
                    if !images.unread.is_empty() {
                        report.with_problems += 1;
                    }
                }
                PostOutcome::Failed(e) => {
                    tracing::error!(post = %post.id, "failed: {e}");
                    report.failed.push((post.id.clone(), e.clone()));
                }
                PostOutcome::Deferred(t) => {
                    report.deferred += 1;
                    report.resume_at = Some(report.resume_at.map_or(*t, |r: Timestamp| r.min(*t)));
                }
                PostOutcome::Interrupted => report.interrupted += 1,
            }
        }
        drop(results);
        if shutdown.stopping() {
            // Posts the stream never reached are interrupted too: they wait for the next run.
            report.interrupted += posts.len().saturating_sub(seen);
        }
        // --wait: sleep until the reset, then go again over what is left.
        match (args.wait, report.resume_at) {
            // A stopped provider (billing, no network) is not waited for: no reset will fix it.
            (true, Some(reset)) if !shutdown.stopping() && halt.failure().is_none() && quota.stopped().is_none() => {
                let wait = reset.duration_since(clock.now());
                let wait = std::time::Duration::try_from(wait).unwrap_or_default();
                bar.suspend(|| eprintln!("postmill: waiting for the quota reset at {}", describe(reset)));
                // Ctrl-C ends the wait at once: nothing is in flight, the deferred work stays.
                tokio::select! {
                    _ = tokio::time::sleep(wait + std::time::Duration::from_secs(1)) => {}
                    _ = shutdown.reached(1) => {
                        report.interrupted += 1;
                        break;
                    }
                }
                bar.set_position(0);
            }
            _ => break,
        }
    }
    bar.finish_and_clear();
    // Input that should have been a post and could not be read failed, like a post would.
    for s in skipped.iter().filter(|s| s.unreadable) {
        report.failed.push((s.path.display().to_string(), s.reason.clone()));
    }
    if let Some(failure) = halt.failure() {
        // Said once, when it happened; the end says what it means. The store may be what
        // failed: its run row is best effort.
        let _ = store.end_run(&run_id, Exit::Io as i32, None);
        tracing::debug!("stopped by: {failure}");
        eprintln!(
            "postmill: stopped after the write failure above: {} post(s) done, the rest wait. Free space \
             (or fix write permission), then run again: every answer already stored is kept.",
            report.done,
        );
        return Ok(Exit::Io);
    }
    let exit = report.exit();
    store.end_run(&run_id, exit as i32, report.resume_at.map(|t| t.to_string()).as_deref())?;
    report.print(&output, posts.len(), &skipped, &quota);
    if exit != Exit::Interrupted {
        super::digest::refresh(&output);
    }
    Ok(exit)
}

/// The run's input problems, as `status` will show them.
fn input_problems(skipped: &[input::Skipped]) -> Vec<InputProblem> {
    skipped
        .iter()
        .map(|s| InputProblem {
            kind: if s.unreadable { "unreadable" } else { "skipped" }.into(),
            path: s.path.display().to_string(),
            line: None,
            reason: s.reason.clone(),
        })
        .collect()
}

/// Adopts the outputs of posts the store does not know as done (it was deleted, or lost
/// mid-run) whose `summary.json` still matches their inputs, so they are not paid again.
fn adopt_outputs(
    store: &Store,
    chosen: &Chosen,
    output: &std::path::Path,
    mode: Mode,
    inline_budget_bytes: u64,
    posts: &[PostSource],
) -> Result<(), CliError> {
    let done = done_posts(store);
    let mut adopted = 0;
    for p in posts.iter().filter(|p| !done.contains_key(&p.id)) {
        if !output::post_dir(output, &p.safe_id).join("summary.json").is_file() {
            continue;
        }
        if pipeline::adopt(store, chosen.provider.as_ref(), output, mode, inline_budget_bytes, p)? == Adopted::Summary {
            adopted += 1;
        }
    }
    if adopted > 0 {
        tracing::info!("adopted {adopted} finished post(s) from their outputs: their inputs are unchanged");
    }
    Ok(())
}

fn done_posts(store: &Store) -> HashMap<String, String> {
    store.done_signatures().unwrap_or_default()
}

fn finish_deferred(store: &Store, run_id: &str, posts: &[PostSource], reset: Timestamp) -> Result<Exit, CliError> {
    let done = done_posts(store);
    let waiting = posts.iter().filter(|p| !done.contains_key(&p.id)).count();
    store.end_run(run_id, Exit::Deferred as i32, Some(&reset.to_string()))?;
    eprintln!(
        "postmill: every pool this work could use is exhausted for the day; nothing was sent.\n\
         {waiting} post(s) wait. Work can resume at {}. Run again then (or use --wait).",
        describe(reset)
    );
    Ok(Exit::Deferred)
}

/// ListModels with every key, then the fallback lists cut to what the server serves.
async fn validate_models(
    chosen: &Chosen,
    quota: &QuotaEngine,
    ledger: &Ledger,
    store: &Store,
    run_id: &str,
    clock: &Clock,
    dispatcher: &mut Dispatcher,
) -> Result<(), CliError> {
    // A listing from the last hours is still good: a rerun that can do nothing (every
    // pool exhausted) must be able to say so without a single request.
    let cached = store.catalog(chosen.provider.name()).ok().flatten().filter(|(_, at)| {
        at.parse::<Timestamp>().is_ok_and(|t| clock.now().duration_since(t).as_secs() < CATALOG_FRESH_S)
    });
    if let Some((served, _)) = cached {
        let served: std::collections::BTreeSet<String> = served.into_iter().collect();
        return apply_validation(chosen, quota, &served, dispatcher);
    }
    let keys = quota.keys();
    let mut listings = Vec::new();
    for key in &keys {
        // Written ahead, like every request: a kill mid-listing leaves an `unknown` row.
        let ahead = (chosen.provider.name() != "local").then(|| {
            let (project, key_id) = match key {
                Some(k) => (k.project.clone(), k.id.clone()),
                None => (chosen.provider.name().to_string(), "-".to_string()),
            };
            let record = list_models_record(chosen, run_id, project, key_id, clock.now().to_string());
            ledger.begin(&record, &[]).ok_or_else(|| CliError::Stopped("the usage ledger cannot be written".into()))
        });
        let ahead = ahead.transpose()?;
        let got = catalog::list_all(chosen.provider.as_ref(), std::slice::from_ref(key), clock).await;
        listings.extend(got.into_iter().enumerate().map(|(i, l)| (if i == 0 { ahead } else { None }, l)));
    }
    for (ahead, l) in &listings {
        let (project, key_id) = match &l.key {
            Some(k) => (k.project.clone(), k.id.clone()),
            None => (chosen.provider.name().to_string(), "-".to_string()),
        };
        let (status, outcome, error) = match &l.result {
            Ok(_) => (Some(200), "ok".to_string(), None),
            Err(e) => (e.http_status, e.failure.outcome().as_str().to_string(), Some(shorten(&e.message, 300))),
        };
        if chosen.provider.name() != "local" {
            let record = AttemptRecord {
                http_status: status,
                outcome,
                latency_ms: l.latency_ms,
                error: error.clone(),
                ..list_models_record(chosen, run_id, project, key_id.clone(), l.started.to_string())
            };
            match ahead {
                Some(id) => ledger.complete(*id, &record),
                // A retry after a transient failure (inside the listing): recorded after the fact.
                None => ledger.record(&record, &[])?,
            }
        }
        if catalog::key_rejected(l) {
            tracing::warn!(key = %key_id, "key rejected by ListModels: disabled for this run");
            quota.disable_key(&key_id);
        } else if let Some(e) = error
            && catalog::unreachable(listings.iter().map(|(_, l)| l)).is_none()
        {
            tracing::warn!(key = %key_id, "ListModels failed: {e}");
        }
    }
    if let Some(why) = catalog::unreachable(listings.iter().map(|(_, l)| l)) {
        return Err(CliError::Deferred(format!(
            "{why}. Nothing was sent; every post waits for a later run. Hint: {}",
            crate::provider::network::HINT
        )));
    }
    if quota.keys().is_empty() {
        return Err(CliError::Usage("every API key was rejected; nothing was sent".into()));
    }
    let listings: Vec<catalog::Listing> = listings.into_iter().map(|(_, l)| l).collect();
    let Some(served) = catalog::served(&listings) else {
        if listings.iter().all(|l| matches!(l.result, Ok(None))) {
            tracing::warn!("the server has no model listing; models are used as configured");
            return Ok(());
        }
        return Err(CliError::Other(anyhow::anyhow!(
            "cannot validate the configured models: ListModels failed for every key; nothing was sent"
        )));
    };
    let list: Vec<String> = served.iter().cloned().collect();
    if let Err(e) = store.save_catalog(chosen.provider.name(), &list, &clock.now().to_string()) {
        tracing::warn!("cannot cache the model listing: {e}");
    }
    apply_validation(chosen, quota, &served, dispatcher)
}

fn list_models_record(chosen: &Chosen, run_id: &str, project: String, key_id: String, ts: String) -> AttemptRecord {
    AttemptRecord::new(ts, run_id, Stage::ListModels.as_str(), chosen.provider.name(), &project, &key_id, "")
}

/// How long a cached ListModels answer is trusted.
const CATALOG_FRESH_S: i64 = 6 * 3600;

fn apply_validation(
    chosen: &Chosen,
    quota: &QuotaEngine,
    served: &std::collections::BTreeSet<String>,
    dispatcher: &mut Dispatcher,
) -> Result<(), CliError> {
    let stages = [
        catalog::validate(Stage::Ocr, &chosen.ocr_models, served),
        catalog::validate(Stage::Summary, &chosen.summary_models, served),
    ];
    for StageModels { stage, kept, dropped } in &stages {
        for (model, why, closest) in dropped {
            let hint = closest.as_ref().map(|c| format!("; the closest listed model is {c}")).unwrap_or_default();
            tracing::warn!("{} model {model} dropped: {why}{hint}", stage.as_str());
            quota.drop_model(model, why);
        }
        if kept.is_empty() {
            return Err(CliError::Usage(format!(
                "no {} model left after checking ListModels ({}); fix {}_models in the config. Nothing was sent.",
                stage.as_str(),
                dropped.iter().map(|d| d.0.as_str()).collect::<Vec<_>>().join(", "),
                stage.as_str()
            )));
        }
    }
    dispatcher.set_models(stages[0].kept.clone(), stages[1].kept.clone());
    Ok(())
}

#[derive(Default)]
struct Report {
    done: usize,
    /// Done posts with at least one image that could not be read.
    with_problems: usize,
    images_read: usize,
    images_unread: usize,
    failed: Vec<(String, String)>,
    deferred: usize,
    interrupted: usize,
    resume_at: Option<Timestamp>,
}

impl Report {
    fn exit(&self) -> Exit {
        if self.interrupted > 0 {
            Exit::Interrupted
        } else if self.deferred > 0 {
            Exit::Deferred
        } else if !self.failed.is_empty() || (self.images_unread > 0 && self.images_read == 0) {
            // Not one image of the run could be read: that is no success, whatever the text gave.
            Exit::SomeFailed
        } else {
            Exit::Done
        }
    }

    /// Folders that were not posts are reported, not counted as failures: they never were work.
    fn print(&self, output: &std::path::Path, posts: usize, skipped: &[input::Skipped], quota: &QuotaEngine) {
        eprintln!(
            "postmill: {posts} post(s): {} done{}, {} failed, {} waiting for a quota reset{}{}; outputs in {}",
            self.done - self.with_problems,
            match self.with_problems {
                0 => String::new(),
                n => format!(
                    ", {n} done with problems ({} unreadable image(s); see `postmill status`)",
                    self.images_unread
                ),
            },
            self.failed.len(),
            self.deferred,
            if self.interrupted > 0 { format!(", {} interrupted", self.interrupted) } else { String::new() },
            match skipped.iter().filter(|s| !s.unreadable).count() {
                0 => String::new(),
                n => format!(", {n} folder(s) without a post skipped"),
            },
            output.display()
        );
        for (id, why) in &self.failed {
            eprintln!("  failed: {id}: {why}");
        }
        for s in skipped.iter().filter(|s| !s.unreadable) {
            eprintln!("  skipped: {}: {}", s.path.display(), s.reason);
        }
        for (model, why) in quota.dropped_models() {
            eprintln!("  model {model} was dropped: {why}");
        }
        if let Some(why) = quota.stopped() {
            eprintln!("  stopped early: {why}");
            eprintln!("  the posts left wait; run again once that is resolved (it resumes)");
        } else if let Some(t) = self.resume_at {
            eprintln!("  work can resume at {}; run again then (it resumes), or use --wait", describe(t));
        }
    }
}
