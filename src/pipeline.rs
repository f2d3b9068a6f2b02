//! One post's way through a run: read its files, work out which jobs it needs (and which
//! are already done), get their answers through the scheduler, assemble the summary and
//! write its outputs.
//!
//! A job's identity is a hash of everything its answer depends on (provider, prompt and
//! schema versions, text, image bytes, OCR text), so unchanged finished work is reused and
//! changed input is redone.
//!
//! Images are prepared for the provider before any request (`provider::prepare`): converted,
//! scaled, and each request kept under the provider's size limit; a post whose images would
//! not fit in one request is read image by image instead. A prepared image keeps the hash
//! of its original bytes as identity, plus the preparation version.

use crate::config::Mode;
use crate::input::{self, PostSource};
use crate::output;
use crate::provider::prepare::{self, Policy, Prepared};
use crate::provider::{Answer, ImageInput, OcrText, PostInput, Stage, Task, prompt::PROMPT_VERSION};
use crate::scheduler::{Dispatcher, JobError};
use crate::store::{JobState, PostState, Store};
use crate::summary::{
    CombinedAnswer, Extract, ImageEntry, ImageStatus, ProducedBy, Provenance, SCHEMA_VERSION, Source, Summary,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, Semaphore};

/// What a run needs to process posts.
pub struct Pipeline {
    pub store: Arc<Store>,
    pub dispatcher: Arc<Dispatcher>,
    pub output: PathBuf,
    pub mode: Mode,
    pub inline_budget_bytes: u64,
    pub retry_failed: bool,
    /// OCR answers of this run by job key: identical images are read once even when two
    /// posts holding them are processed at the same time.
    ocr_cells: Mutex<HashMap<String, Arc<OnceCell<OcrResult>>>>,
    /// What the provider reads and accepts.
    policy: Policy,
    /// Image preparations running at once: one per core, so that decoding a batch of huge
    /// images neither starves the machine nor holds them all in memory.
    prep_slots: Arc<Semaphore>,
}

#[derive(Debug, Clone)]
enum OcrResult {
    Text(String),
    Failed(String),
    Pending(String),
    Deferred(Timestamp),
}

/// How a post ended in this run.
#[derive(Debug, Clone)]
pub enum PostOutcome {
    Done,
    Failed(String),
    Deferred(Timestamp),
    Interrupted,
}

/// A post's summary as a job made it (or kept it from an earlier run).
struct Made {
    extract: Extract,
    model: String,
    at: String,
    prompt: u32,
    /// The key of the job that made it.
    job: String,
}

/// A kept answer, as stored in the job row.
#[derive(Serialize, Deserialize)]
struct Kept<T> {
    at: String,
    model: String,
    /// The prompt version the answer was asked with (answers kept before it was recorded: 1).
    #[serde(default = "first_prompt")]
    prompt: u32,
    answer: T,
}

fn first_prompt() -> u32 {
    1
}

/// Whether a post goes as one combined request, as `mode` and the provider allow.
pub fn use_combined(mode: Mode, provider_combines: bool, image_bytes: u64, inline_budget_bytes: u64) -> bool {
    provider_combines
        && match mode {
            Mode::Combined => true,
            Mode::Split => false,
            Mode::Auto => image_bytes <= inline_budget_bytes,
        }
}

/// The version of the answers' format that is part of every job's identity. It is the
/// first release's, on purpose: answers kept by an earlier version stay valid (a version 1
/// summary is re-rendered as version 2 without a request). Change it only when old answers
/// can no longer be read as the new types.
const ANSWER_FORMAT: &str = "1/1";

/// The identity of the OCR job of an image: its bytes, the provider, the answer format.
/// Shared by every post holding the same bytes.
pub fn ocr_job_key(provider: &str, revision: Option<&str>, image_sha256: &str) -> String {
    ocr_job_key_prepared(provider, revision, image_sha256, None)
}

/// [`ocr_job_key`] of an image whose bytes were prepared (converted, scaled) before sending:
/// `preparation` is the preparation version, `None` when the original bytes are sent.
pub fn ocr_job_key_prepared(
    provider: &str,
    revision: Option<&str>,
    image_sha256: &str,
    preparation: Option<&str>,
) -> String {
    // `ocr/1`: the key of the first release, kept so that finished reads keep their identity.
    let mut parts: Vec<&[u8]> = vec![provider.as_bytes(), b"ocr/1"];
    if let Some(r) = revision {
        parts.push(r.as_bytes());
    }
    if let Some(p) = preparation {
        parts.push(p.as_bytes());
    }
    format!("ocr:{image_sha256}:{}", hash_parts(&parts))
}

/// An error and its causes on one line, for a failed image's entry in the summary.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// SHA-256 (hex) over a post's title, text and image bytes: what its summary was made from.
pub fn inputs_sha256(post: &PostInput) -> String {
    let mut h = Sha256::new();
    for part in [post.title.as_deref().unwrap_or_default().as_bytes(), post.text.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    for img in &post.images {
        h.update((img.file.len() as u64).to_le_bytes());
        h.update(img.file.as_bytes());
        h.update(img.sha256.as_bytes());
    }
    input::hex(&h.finalize())
}

fn hash_parts(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    input::hex(&h.finalize()[..16])
}

impl Pipeline {
    pub fn new(
        store: Arc<Store>,
        dispatcher: Arc<Dispatcher>,
        output: PathBuf,
        mode: Mode,
        inline_budget_bytes: u64,
        retry_failed: bool,
    ) -> Pipeline {
        let policy = Policy::for_provider(dispatcher.provider.name());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pipeline {
            store,
            dispatcher,
            output,
            mode,
            inline_budget_bytes,
            retry_failed,
            ocr_cells: Mutex::new(HashMap::new()),
            policy,
            prep_slots: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Prepares each image for the provider, off the async workers.
    async fn prepare_images(&self, images: Vec<ImageInput>) -> Vec<(String, Result<Prepared, String>)> {
        let jobs = images.into_iter().map(|image| async move {
            let file = image.file.clone();
            // The semaphore is never closed.
            let _slot = self.prep_slots.acquire().await.expect("preparation slots stay open");
            let policy = self.policy;
            let result = tokio::task::spawn_blocking(move || prepare::prepare(image, &policy)).await;
            let result = match result {
                Ok(r) => r.map_err(|e| chain(&e)),
                Err(e) => Err(format!("image preparation stopped: {e}")),
            };
            (file, result)
        });
        futures::future::join_all(jobs).await
    }

    fn provider_name(&self) -> &'static str {
        self.dispatcher.provider.name()
    }

    /// Processes one post to its end state, recording it in the store.
    pub async fn process(&self, src: &PostSource) -> PostOutcome {
        // Taken before the files are read: a file edited mid-run must look changed next time.
        let signature = input::signature(src);
        let outcome = self.process_inner(src).await;
        let (state, error, resume) = match &outcome {
            PostOutcome::Done => (PostState::Done, None, None),
            PostOutcome::Failed(e) => (PostState::Failed, Some(e.clone()), None),
            PostOutcome::Deferred(t) => (PostState::Deferred, None, Some(t.to_string())),
            PostOutcome::Interrupted => (PostState::Pending, None, None),
        };
        let path = src.path.display().to_string();
        if let Err(e) = self.store.upsert_post(&src.id, &src.safe_id, &path, state, error.as_deref(), resume.as_deref())
        {
            tracing::error!(post = %src.id, "cannot record the post's state: {e}");
        }
        if state == PostState::Done
            && let Err(e) = self.store.set_post_signature(&src.id, &signature)
        {
            tracing::error!(post = %src.id, "cannot record the post's fingerprint: {e}");
        }
        outcome
    }

    async fn process_inner(&self, src: &PostSource) -> PostOutcome {
        let text = match input::load_text(src) {
            Ok(t) => t,
            Err(e) => return PostOutcome::Failed(e.to_string()),
        };
        let mut images = Vec::new();
        let mut entries: Vec<ImageEntry> = Vec::new();
        for path in &src.images {
            match input::load_image(src, path) {
                Ok(img) => {
                    entries.push(ImageEntry {
                        file: img.file.clone(),
                        status: ImageStatus::Pending,
                        text: None,
                        error: None,
                    });
                    images.push(img);
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    entries.push(ImageEntry {
                        file,
                        status: ImageStatus::Failed,
                        text: None,
                        error: Some(e.to_string()),
                    });
                }
            }
        }
        // Prepared for the provider before the post's request is shaped: what will be sent
        // decides between one request and one per image.
        let mut preparations: Vec<Option<&'static str>> = Vec::new();
        let mut prepared_images = Vec::new();
        for (file, result) in self.prepare_images(images).await {
            match result {
                Ok(p) => {
                    if let Some(change) = &p.change {
                        tracing::debug!(post = %src.id, "{file}: {change}");
                    }
                    preparations.push(p.version());
                    prepared_images.push(p.image);
                }
                Err(e) => {
                    let error = format!("post {}: {file}: {e}", src.id);
                    tracing::warn!("{error}");
                    if let Some(entry) =
                        entries.iter_mut().find(|en| en.file == file && en.status == ImageStatus::Pending)
                    {
                        entry.status = ImageStatus::Failed;
                        entry.error = Some(error);
                    }
                }
            }
        }
        let images = prepared_images;
        // Downloads that failed (crawler notes) are failed images in their place, `<n>` among `<n>.<ext>`.
        if !src.failed_images.is_empty() {
            entries.extend(src.failed_images.iter().map(|(file, error)| ImageEntry {
                file: file.clone(),
                status: ImageStatus::Failed,
                text: None,
                error: Some(error.clone()),
            }));
            entries.sort_by(|a, b| input::image::natural_cmp(&a.file, &b.file));
        }
        if text.body.trim().is_empty() && text.title.is_none() && images.is_empty() {
            let why = if src.images.is_empty() && src.failed_images.is_empty() {
                "its text is empty"
            } else {
                "its text is empty and no image could be read"
            };
            return PostOutcome::Failed(format!("post {}: {why}", src.id));
        }
        let post = Arc::new(PostInput { post_id: src.id.clone(), title: text.title, text: text.body, images });
        let image_bytes: u64 = post.images.iter().map(|i| i.bytes.len() as u64).sum();
        let wanted = use_combined(
            self.mode,
            self.dispatcher.provider.supports_combined(),
            image_bytes,
            self.inline_budget_bytes,
        );
        // Never a request the provider is known to refuse: a post whose images together
        // pass its size limit is read image by image (each fits alone), then summarised.
        let text_bytes = (post.title.as_deref().map_or(0, str::len) + post.text.len()) as u64;
        let fits = self.policy.request_fits(&post.images, text_bytes);
        if wanted && !fits {
            tracing::info!(
                post = %src.id,
                "its images together pass the provider's request size limit: read one by one, then summarised"
            );
        }
        let result = if wanted && fits {
            self.combined(src, &post, &preparations, &mut entries).await
        } else {
            self.split(src, &post, &preparations, &mut entries).await
        };
        let made = match result {
            Ok(v) => v,
            Err(JobError::Failed(e)) => return PostOutcome::Failed(e),
            Err(JobError::Unavailable(e)) => return PostOutcome::Failed(e),
            Err(JobError::Deferred(t)) => return PostOutcome::Deferred(t),
            Err(JobError::Interrupted) => return PostOutcome::Interrupted,
        };
        let summary = Summary {
            schema_version: SCHEMA_VERSION,
            post_id: src.id.clone(),
            title: post.title.clone(),
            source: Source {
                path: src.path.display().to_string(),
                url: src.url.clone(),
                published_at: src.published_at.clone(),
            },
            extract: made.extract,
            images: entries,
            produced_by: ProducedBy { provider: self.provider_name().into(), model: made.model, at: made.at },
            provenance: Some(Provenance {
                job: made.job,
                inputs_sha256: inputs_sha256(&post),
                prompt_version: made.prompt,
                schema_version: SCHEMA_VERSION,
            }),
        };
        match output::write_post(&self.output, &src.safe_id, &summary) {
            Ok(_) => PostOutcome::Done,
            Err(e) => PostOutcome::Failed(format!("post {}: {e}", src.id)),
        }
    }

    /// Loads a done job's kept answer, or runs the job.
    async fn job<T, F>(&self, key: &str, stage: Stage, post_id: Option<&str>, task: F) -> Result<Kept<T>, JobError>
    where
        T: Serialize + for<'de> Deserialize<'de>,
        F: FnOnce() -> (Task, fn(Answer) -> Option<T>),
    {
        let store_err = |e: crate::store::StoreError| JobError::Failed(format!("state database: {e}"));
        let job = self.store.ensure_job(key, stage.as_str(), post_id).map_err(store_err)?;
        match job.state {
            JobState::Done => {
                if let Some(kept) = job.result.as_deref().and_then(|r| serde_json::from_str::<Kept<T>>(r).ok()) {
                    return Ok(kept);
                }
            }
            JobState::Failed if !self.retry_failed => {
                return Err(JobError::Failed(job.error.unwrap_or_else(|| "failed in an earlier run".into())));
            }
            _ => {}
        }
        self.store.set_job_state(job.id, JobState::Running, None, None).map_err(store_err)?;
        let (task, unwrap) = task();
        let result = self.dispatcher.request(&task, post_id, &[job.id]).await;
        match result {
            Ok(answered) => {
                let Some(answer) = unwrap(answered.generation.answer) else {
                    let msg = "the provider answered a different kind of task".to_string();
                    self.store.set_job_state(job.id, JobState::Failed, Some(&msg), None).map_err(store_err)?;
                    return Err(JobError::Failed(msg));
                };
                let kept = Kept {
                    at: self.dispatcher.clock.now().to_string(),
                    model: answered.model,
                    prompt: PROMPT_VERSION,
                    answer,
                };
                let json = serde_json::to_string(&kept).expect("answer serialises");
                self.store.finish_job(job.id, &json, self.provider_name(), &kept.model).map_err(store_err)?;
                Ok(kept)
            }
            Err(e) => {
                let (state, msg, until) = match &e {
                    JobError::Deferred(t) => (JobState::Deferred, None, Some(t.to_string())),
                    JobError::Failed(m) => (JobState::Failed, Some(m.clone()), None),
                    JobError::Unavailable(m) => (JobState::Pending, Some(m.clone()), None),
                    JobError::Interrupted => (JobState::Pending, None, None),
                };
                self.store.set_job_state(job.id, state, msg.as_deref(), until.as_deref()).map_err(store_err)?;
                Err(e)
            }
        }
    }

    async fn combined(
        &self,
        src: &PostSource,
        post: &Arc<PostInput>,
        preparations: &[Option<&'static str>],
        entries: &mut [ImageEntry],
    ) -> Result<Made, JobError> {
        let mut parts: Vec<Vec<u8>> = vec![
            self.provider_name().as_bytes().to_vec(),
            format!("combined/{ANSWER_FORMAT}").into_bytes(),
            post.title.clone().unwrap_or_default().into_bytes(),
            post.text.clone().into_bytes(),
        ];
        parts.extend(self.dispatcher.provider.revision(Stage::Combined).map(String::into_bytes));
        for (img, preparation) in post.images.iter().zip(preparations) {
            parts.push(img.file.clone().into_bytes());
            parts.push(img.sha256.clone().into_bytes());
            // Only where the bytes sent differ, so that earlier answers keep their identity.
            parts.extend(preparation.map(|p| p.as_bytes().to_vec()));
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let key = format!("combined:{}:{}", src.id, hash_parts(&refs));
        let post2 = post.clone();
        let kept: Kept<CombinedAnswer> = self
            .job(&key, Stage::Combined, Some(&src.id), move || {
                (Task::Combined { post: post2 }, |a| match a {
                    Answer::Combined(c) => Some(c),
                    _ => None,
                })
            })
            .await?;
        for entry in entries.iter_mut().filter(|e| e.status == ImageStatus::Pending) {
            match kept.answer.images.iter().find(|t| t.file == entry.file) {
                Some(t) => {
                    entry.status = ImageStatus::Ok;
                    entry.text = Some(t.text.clone());
                }
                None => {
                    entry.status = ImageStatus::Failed;
                    entry.error = Some("the model returned no transcription for this image".into());
                }
            }
        }
        Ok(Made { extract: kept.answer.extract, model: kept.model, at: kept.at, prompt: kept.prompt, job: key })
    }

    async fn ocr(&self, image: &ImageInput, preparation: Option<&str>, post_id: &str) -> OcrResult {
        let revision = self.dispatcher.provider.revision(Stage::Ocr);
        let key = ocr_job_key_prepared(self.provider_name(), revision.as_deref(), &image.sha256, preparation);
        let cell = {
            let mut cells = self.ocr_cells.lock().unwrap_or_else(|p| p.into_inner());
            cells.entry(key.clone()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let image = image.clone();
            let result = self
                .job::<String, _>(&key, Stage::Ocr, Some(post_id), move || {
                    (Task::Ocr { image }, |a| match a {
                        Answer::Ocr(t) => Some(t),
                        _ => None,
                    })
                })
                .await;
            match result {
                Ok(kept) => OcrResult::Text(kept.answer),
                Err(JobError::Failed(e)) => OcrResult::Failed(e),
                Err(JobError::Unavailable(e)) => OcrResult::Pending(e),
                Err(JobError::Deferred(t)) => OcrResult::Deferred(t),
                Err(JobError::Interrupted) => OcrResult::Pending("interrupted".into()),
            }
        })
        .await
        .clone()
    }

    async fn split(
        &self,
        src: &PostSource,
        post: &Arc<PostInput>,
        preparations: &[Option<&'static str>],
        entries: &mut [ImageEntry],
    ) -> Result<Made, JobError> {
        let reads = futures::future::join_all(
            post.images.iter().zip(preparations).map(|(img, preparation)| self.ocr(img, *preparation, &src.id)),
        )
        .await;
        if self.dispatcher.shutdown.stopping() {
            return Err(JobError::Interrupted);
        }
        let mut ocr_texts = Vec::new();
        let mut deferred: Option<Timestamp> = None;
        for (img, read) in post.images.iter().zip(reads) {
            let entry = entries.iter_mut().find(|e| e.file == img.file && e.status == ImageStatus::Pending);
            let text = match read {
                OcrResult::Text(t) => {
                    if let Some(e) = entry {
                        e.status = ImageStatus::Ok;
                        e.text = Some(t.clone());
                    }
                    Some(t)
                }
                OcrResult::Failed(err) => {
                    if let Some(e) = entry {
                        e.status = ImageStatus::Failed;
                        e.error = Some(err);
                    }
                    None
                }
                OcrResult::Pending(err) => {
                    if let Some(e) = entry {
                        e.error = Some(err);
                    }
                    None
                }
                OcrResult::Deferred(t) => {
                    deferred = Some(deferred.map_or(t, |d| d.min(t)));
                    None
                }
            };
            ocr_texts.push(OcrText { file: img.file.clone(), text });
        }
        // A summary without images that will be readable after the quota reset would be
        // redone then anyway: wait for them instead of spending a request twice.
        if let Some(t) = deferred {
            return Err(JobError::Deferred(t));
        }
        let mut parts: Vec<Vec<u8>> = vec![
            self.provider_name().as_bytes().to_vec(),
            format!("summary/{ANSWER_FORMAT}").into_bytes(),
            post.title.clone().unwrap_or_default().into_bytes(),
            post.text.clone().into_bytes(),
        ];
        parts.extend(self.dispatcher.provider.revision(Stage::Summary).map(String::into_bytes));
        for o in &ocr_texts {
            parts.push(o.file.clone().into_bytes());
            // An image still pending changes the identity once it is read, so the summary is
            // redone with its text.
            parts.push(o.text.clone().map(|t| format!("text:{t}")).unwrap_or_else(|| "unread".into()).into_bytes());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let key = format!("summary:{}:{}", src.id, hash_parts(&refs));
        let post2 = post.clone();
        let kept: Kept<Extract> = self
            .job(&key, Stage::Summary, Some(&src.id), move || {
                (Task::Summary { post: post2, ocr: ocr_texts }, |a| match a {
                    Answer::Summary(e) => Some(e),
                    _ => None,
                })
            })
            .await?;
        Ok(Made { extract: kept.answer, model: kept.model, at: kept.at, prompt: kept.prompt, job: key })
    }
}
