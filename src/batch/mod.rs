//! A batch: one run over the discovered posts, from discovery to the end-of-run report.
//!
//! The centre of the data flow (`commands::run` is a thin adapter over it):
//! [`Batch::open`] discovers the posts, opens the store (one run per output folder), fetches
//! missing crawler images and sets up the ledger and the quota engine; [`Batch::resolve`]
//! adopts finished outputs a lost store no longer knows, checks the local tools and cuts the
//! model lists to what ListModels serves; [`Batch::execute`] runs every pending post through
//! the pipeline (packed requests first when the day's requests are the wall), and with
//! `--wait` sleeps to the quota reset inside a `select!` with the shutdown; [`Batch::finish`]
//! records the run and says what happened. The first failure to write the state or an
//! output stops the run with exit 74; Ctrl-C stops pulling posts at once.

mod choose;
mod models;
mod report;

pub use choose::{Chosen, choose};
pub use models::{Models, check as check_models};
pub use report::Report;

use crate::atomic::{OutputError, remove_stale_temps};
use crate::clock::{Clock, describe};
use crate::config::{Config, Mode, PackConfig, ProviderChoice};
use crate::error::Exit;
use crate::halt::Halt;
use crate::input::{self, PostSource, Skipped};
use crate::ledger::{Ledger, LedgerError};
use crate::pipeline::{self, Adopted, Pipeline};
use crate::quota::QuotaEngine;
use crate::scheduler::{Dispatcher, Shutdown};
use crate::store::{InputProblem, Store, StoreError};
use crate::task::Stage;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What `postmill run` was asked for, beyond the config.
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

/// Why a batch could not run (or stopped); each maps to one exit code at the edge.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A usage or configuration problem, found before anything was sent.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] OutputError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Stopped by a write failure, already reported when it happened.
    #[error("stopped: {0}")]
    Stopped(String),
    /// The work cannot go on now for a transient reason; a later run resumes.
    #[error("{0}")]
    Deferred(String),
    /// Nothing could be done for a reason that is neither usage nor transient.
    #[error("{0}")]
    Failed(String),
}

/// Posts with work left: not done from these very files. (A done post whose outputs are
/// missing is not pending: they are rendered from the store, without a request.) `run`
/// and `plan` share this one rule.
pub fn pending<'a>(store: Option<&Store>, posts: &'a [PostSource]) -> Vec<&'a PostSource> {
    let done = store.map(done_signatures).unwrap_or_default();
    posts.iter().filter(|p| done.get(&p.id).is_none_or(|sig| *sig != input::signature(p))).collect()
}

fn done_signatures(store: &Store) -> HashMap<String, String> {
    store.done_signatures().unwrap_or_default()
}

/// One run over the discovered posts.
pub struct Batch {
    settings: Settings,
    chosen: Chosen,
    posts: Vec<PostSource>,
    skipped: Vec<Skipped>,
    store: Arc<Store>,
    ledger: Arc<Ledger>,
    quota: Arc<QuotaEngine>,
    halt: Arc<Halt>,
    shutdown: Shutdown,
    run_id: String,
    clock: Clock,
    /// Set by [`Batch::resolve`].
    models: Option<Models>,
}

/// The config and the arguments, merged once.
struct Settings {
    output: PathBuf,
    concurrency: usize,
    mode: Mode,
    inline_budget_bytes: u64,
    retry_failed: bool,
    wait: bool,
    no_progress: bool,
    pack: PackConfig,
}

impl Settings {
    fn new(cfg: &Config, args: &RunArgs) -> Settings {
        Settings {
            output: args.output.clone().unwrap_or_else(|| cfg.output.clone()),
            concurrency: args.concurrency.unwrap_or(cfg.concurrency),
            mode: args.mode.unwrap_or(cfg.mode),
            inline_budget_bytes: cfg.inline_budget_bytes,
            retry_failed: args.retry_failed,
            wait: args.wait,
            no_progress: args.no_progress,
            pack: cfg.pack,
        }
    }
}

impl Batch {
    /// Discovers the posts, opens the store (and with it the output folder's run lock),
    /// removes a killed run's temp files, fetches missing crawler images, and records the run.
    pub async fn open(cfg: &Config, args: RunArgs) -> Result<Batch, BatchError> {
        let input_dir = args.input.clone().unwrap_or_else(|| cfg.input.clone());
        let settings = Settings::new(cfg, &args);
        if settings.concurrency == 0 {
            return Err(BatchError::Usage("--concurrency must be at least 1".into()));
        }
        let chosen = choose(cfg, args.provider)?;
        let (posts, skipped) = discover(&input_dir, &args.only)?;
        let store = Arc::new(Store::open(&settings.output)?);
        // With the lock held, no other run is writing: any temp file is a killed run's.
        let removed = remove_stale_temps(&settings.output);
        if removed > 0 {
            tracing::info!("removed {removed} temp file(s) left by an interrupted run");
        }
        let mut posts = posts;
        if posts.iter().any(|p| !p.pending_urls.is_empty()) {
            let client =
                input::fetch::client().map_err(|e| BatchError::Usage(format!("cannot set up downloads: {e}")))?;
            let media = store.dir().join("media");
            input::fetch::fetch_images(&mut posts, &media, &client, settings.concurrency, settings.retry_failed).await;
        }
        let clock = Clock::system();
        let run_id = format!("{}-{:04x}", clock.now().strftime("%Y%m%dT%H%M%SZ"), fastrand::u16(..));
        store.begin_run(&run_id)?;
        store.record_input_problems(&run_id, &input_problems(&skipped))?;
        store
            .register_posts(posts.iter().map(|p| (p.id.as_str(), p.safe_id.as_str(), p.path.display().to_string())))?;
        let (tx, shutdown) = Shutdown::new();
        let halt = Arc::new(Halt::new(tx));
        let ledger = Arc::new(Ledger::open(store.clone())?.with_halt(halt.clone()));
        let quota = Arc::new(
            QuotaEngine::new(chosen.provider.name(), &chosen.keys, chosen.limits.clone(), store.clone(), clock)
                .with_policy(cfg.retry),
        );
        for (project, n) in &quota.shared_projects() {
            tracing::info!("{n} keys share project {project}: they share its quota, so rotating them adds none");
        }
        Ok(Batch {
            settings,
            chosen,
            posts,
            skipped,
            store,
            ledger,
            quota,
            halt,
            shutdown,
            run_id,
            clock,
            models: None,
        })
    }

    /// Stops the batch on interrupts: the first stops new requests and pulling posts (the
    /// requests in flight finish), the second abandons those in flight.
    pub fn interrupt_on(&self, interrupts: impl Stream<Item = ()> + Send + 'static) {
        let halt = self.halt.clone();
        tokio::spawn(async move {
            let mut interrupts = std::pin::pin!(interrupts.take(2));
            let mut level = 0;
            while interrupts.next().await.is_some() {
                level += 1;
                if level == 1 {
                    eprintln!("postmill: stopping after the requests in flight (Ctrl-C again to abandon them)");
                }
                halt.signal(level);
            }
        });
    }

    /// Before any generation request: adopts finished outputs, checks the local tools and
    /// resolves the models. `Some(exit)` when the batch must end here (every pool it could
    /// use is exhausted for the day: nothing is sent).
    pub async fn resolve(&mut self) -> Result<Option<Exit>, BatchError> {
        self.adopt_outputs()?;
        // Posts done from the very same files need no model at all (their outputs are
        // rendered from the store): only validate (and spend a ListModels call) when there
        // is work left.
        if pending(Some(&self.store), &self.posts).is_empty() {
            self.models =
                Some(Models { ocr: self.chosen.ocr_models.clone(), summary: self.chosen.summary_models.clone() });
            return Ok(None);
        }
        // A batch with images to read needs the local tools first (Tesseract and its
        // languages); a text-only batch runs without them.
        if self.posts.iter().any(|p| !p.images.is_empty()) {
            self.chosen.provider.check_setup(Stage::Ocr).await.map_err(|e| BatchError::Usage(e.message))?;
        }
        let models =
            models::resolve(&self.chosen, &self.quota, &self.ledger, &self.store, &self.run_id, &self.clock).await?;
        // Every post ends in a summary (or combined) request: when all of those pools are
        // known exhausted, nothing can finish today, and nothing is sent.
        let exhausted = self.quota.all_exhausted(&models.summary);
        self.models = Some(models);
        match exhausted {
            Some(reset) if !self.settings.wait => self.finish_deferred(reset).map(Some),
            _ => Ok(None),
        }
    }

    /// Runs every post through the pipeline, again after each quota reset with `--wait`,
    /// until done, deferred, stopped by a write failure or interrupted.
    pub async fn execute(&self) -> Report {
        let pipeline = Arc::new(self.pipeline());
        let bar = crate::progress::bar(self.posts.len() as u64, self.settings.no_progress);
        loop {
            self.pack(&pipeline).await;
            let mut report = self.pass(&pipeline, &bar).await;
            match self.reset_to_wait_for(&report) {
                Some(reset) => {
                    bar.suspend(|| eprintln!("postmill: waiting for the quota reset at {}", describe(reset)));
                    let wait =
                        std::time::Duration::try_from(reset.duration_since(self.clock.now())).unwrap_or_default();
                    // Ctrl-C ends the wait at once: nothing is in flight, the deferred work stays.
                    tokio::select! {
                        _ = tokio::time::sleep(wait + std::time::Duration::from_secs(1)) => bar.set_position(0),
                        _ = self.shutdown.reached(1) => {
                            report.interrupted += 1;
                            bar.finish_and_clear();
                            return report;
                        }
                    }
                }
                None => {
                    bar.finish_and_clear();
                    return report;
                }
            }
        }
    }

    /// Records the run's end and says what happened; the exit code.
    pub fn finish(&self, mut report: Report) -> Result<Exit, BatchError> {
        // Input that should have been a post and could not be read failed, like a post would.
        for s in self.skipped.iter().filter(|s| s.unreadable) {
            report.failed.push((s.path.display().to_string(), s.reason.clone()));
        }
        if let Some(failure) = self.halt.failure() {
            // Said once, when it happened; the end says what it means. The store may be
            // what failed: its run row is best effort.
            let _ = self.store.end_run(&self.run_id, Exit::Io as i32, None);
            tracing::debug!("stopped by: {failure}");
            eprintln!(
                "postmill: stopped after the write failure above: {} post(s) done, the rest wait. Free space \
                 (or fix write permission), then run again: every answer already stored is kept.",
                report.done,
            );
            return Ok(Exit::Io);
        }
        let exit = report.exit();
        self.store.end_run(&self.run_id, exit as i32, report.resume_at.map(|t| t.to_string()).as_deref())?;
        report.print(&self.settings.output, self.posts.len(), &self.skipped, &self.quota);
        Ok(exit)
    }

    /// The output folder the batch writes.
    pub fn output(&self) -> &std::path::Path {
        &self.settings.output
    }

    fn pipeline(&self) -> Pipeline {
        let models = self.models.clone().unwrap_or_else(|| Models {
            ocr: self.chosen.ocr_models.clone(),
            summary: self.chosen.summary_models.clone(),
        });
        let dispatcher = Dispatcher::new(
            self.chosen.provider.clone(),
            self.quota.clone(),
            self.ledger.clone(),
            self.run_id.clone(),
            self.clock,
            self.shutdown.clone(),
        )
        .with_concurrency(self.settings.concurrency)
        .with_models(models.ocr, models.summary);
        Pipeline::new(
            self.store.clone(),
            Arc::new(dispatcher),
            self.settings.output.clone(),
            self.settings.mode,
            self.settings.inline_budget_bytes,
            self.settings.retry_failed,
            self.halt.clone(),
        )
    }

    /// Packed requests first, when the day's requests are the wall: the posts they
    /// summarise are then only rendered by the per-post pass.
    async fn pack(&self, pipeline: &Pipeline) {
        let pending = pending(Some(&self.store), &self.posts).len();
        let remaining = self.quota.remaining_today(pipeline.dispatcher.summary_models());
        if pending > 1 && crate::pack::should_pack(self.settings.mode, remaining, pending) && !self.shutdown.stopping()
        {
            let packed = crate::pack::run(pipeline, &self.posts, &self.settings.pack, self.settings.concurrency).await;
            tracing::info!(
                "packed requests: {} answered, {} post(s) summarised, {} left to go alone",
                packed.packs,
                packed.packed,
                packed.returned
            );
        }
    }

    /// One pass over every post, a bounded window of them in flight.
    async fn pass(&self, pipeline: &Arc<Pipeline>, bar: &indicatif::ProgressBar) -> Report {
        // Posts in flight at most: enough to keep every request slot busy, few enough that
        // a batch of thousands never sits in memory.
        let window = self.settings.concurrency * 2;
        // Once stopping, no further post is even read: the stream ends where Ctrl-C found it.
        let stopping = self.shutdown.clone();
        let mut results =
            futures::stream::iter(self.posts.iter().take_while(move |_| !stopping.stopping()).cloned().map(|p| {
                let pipeline = pipeline.clone();
                async move {
                    let span = tracing::info_span!("post", id = %p.id);
                    let outcome = tracing::Instrument::instrument(pipeline.process(&p), span).await;
                    (p, outcome)
                }
            }))
            .buffer_unordered(window);
        let mut report = Report::default();
        let mut seen = 0;
        while let Some((post, outcome)) = results.next().await {
            seen += 1;
            bar.inc(1);
            report.add(&post.id, &outcome);
        }
        if self.shutdown.stopping() {
            // Posts the stream never reached are interrupted too: they wait for the next run.
            report.interrupted += self.posts.len().saturating_sub(seen);
        }
        report
    }

    /// With `--wait`, the reset to sleep until; never for a stopped provider (billing, no
    /// network: no reset fixes it), a write failure or a shutdown.
    fn reset_to_wait_for(&self, report: &Report) -> Option<Timestamp> {
        let stopped = self.shutdown.stopping() || self.halt.failure().is_some() || self.quota.stopped().is_some();
        report.resume_at.filter(|_| self.settings.wait && !stopped)
    }

    /// Adopts the outputs of posts the store does not know as done (it was deleted, or
    /// lost mid-run) whose `summary.json` still matches their inputs, so they are not paid again.
    fn adopt_outputs(&self) -> Result<(), BatchError> {
        let done = done_signatures(&self.store);
        let mut adopted = 0;
        for p in self.posts.iter().filter(|p| !done.contains_key(&p.id)) {
            if !crate::output::post_dir(&self.settings.output, &p.safe_id).join("summary.json").is_file() {
                continue;
            }
            let s = &self.settings;
            let how = pipeline::adopt(
                &self.store,
                self.chosen.provider.as_ref(),
                &s.output,
                s.mode,
                s.inline_budget_bytes,
                p,
            )?;
            if how == Adopted::Summary {
                adopted += 1;
            }
        }
        if adopted > 0 {
            tracing::info!("adopted {adopted} finished post(s) from their outputs: their inputs are unchanged");
        }
        Ok(())
    }

    fn finish_deferred(&self, reset: Timestamp) -> Result<Exit, BatchError> {
        let done = done_signatures(&self.store);
        let waiting = self.posts.iter().filter(|p| !done.contains_key(&p.id)).count();
        self.store.end_run(&self.run_id, Exit::Deferred as i32, Some(&reset.to_string()))?;
        eprintln!(
            "postmill: every pool this work could use is exhausted for the day; nothing was sent.\n\
             {waiting} post(s) wait. Work can resume at {}. Run again then (or use --wait).",
            describe(reset)
        );
        Ok(Exit::Deferred)
    }
}

/// Discovery names the folder or file and what is wrong with it (a file that is no export
/// says it is a file, not a folder of posts); `--only` keeps the posts it names.
pub fn discover(input_dir: &std::path::Path, only: &[String]) -> Result<(Vec<PostSource>, Vec<Skipped>), BatchError> {
    let (mut posts, skipped) = input::discover(input_dir).map_err(|e| BatchError::Usage(crate::error::chain(&e)))?;
    for s in &skipped {
        tracing::warn!("skipped {}: {}", s.path.display(), s.reason);
    }
    if !only.is_empty() {
        posts.retain(|p| only.iter().any(|o| *o == p.id || *o == p.safe_id));
        if posts.is_empty() {
            return Err(BatchError::Usage(format!("--only matched no post in {}", input_dir.display())));
        }
    }
    Ok((posts, skipped))
}

/// The run's input problems, as `status` will show them.
fn input_problems(skipped: &[Skipped]) -> Vec<InputProblem> {
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
