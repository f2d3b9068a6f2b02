//! One post's way through a run: read its files, work out which jobs it needs (and which
//! are already done), get their answers through the scheduler, assemble the summary and
//! write its outputs.
//!
//! A job's identity is a hash of everything its answer depends on (provider, prompt and
//! schema versions, text, image bytes, OCR text), so unchanged finished work is reused and
//! changed input is redone.
//!
//! Every `summary.json` names the job that made it (`provenance`), so a run whose store was
//! lost *adopts* finished outputs whose inputs still match ([`adopt`]) instead of paying for
//! them again. A failure to write the store or an output is not the post's: it goes to the
//! run's [`Halt`], which stops new requests (exit 74).
//!
//! Images are prepared for the provider before any request ([`prepare`]): converted,
//! scaled, and each request kept under the provider's size limit; a post whose images would
//! not fit in one request is read image by image instead. A prepared image keeps the hash
//! of its original bytes as identity, plus the preparation version.

use crate::config::Mode;
use crate::halt::Halt;
use crate::input::{self, PostSource};
use crate::output;
use crate::provider::prepare::{self, Policy};
use crate::provider::{Answer, ImageInput, OcrText, PostInput, Provider, Stage, Task, prompt::PROMPT_VERSION};
use crate::scheduler::{Dispatcher, JobError};
use crate::store::{JobState, PostState, Store, StoreError};
use crate::summary::{
    CombinedAnswer, Extract, ImageEntry, ImageStatus, ImageTranscription, ProducedBy, Provenance, SCHEMA_VERSION,
    Source, Summary,
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
    halt: Arc<Halt>,
    /// What the provider reads and accepts.
    policy: Policy,
    /// Image preparations running at once: one per core, so that decoding a batch of huge
    /// images neither starves the machine nor holds them all in memory.
    prep_slots: Arc<Semaphore>,
    /// OCR answers of this run by job key: identical images are read once even when two
    /// posts holding them are processed at the same time.
    ocr_cells: Mutex<HashMap<String, Arc<OnceCell<OcrResult>>>>,
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
    /// Its outputs are written; `images` says how its images fared.
    Done(ImageTally),
    Failed(String),
    Deferred(Timestamp),
    Interrupted,
}

/// How a done post's images fared: how many were read, and which were not (and why).
#[derive(Debug, Clone, Default)]
pub struct ImageTally {
    pub read: usize,
    pub unread: Vec<(String, String)>,
}

impl ImageTally {
    fn of(entries: &[ImageEntry]) -> ImageTally {
        let mut tally = ImageTally::default();
        for e in entries {
            match e.status {
                ImageStatus::Ok => tally.read += 1,
                _ => tally.unread.push((e.file.clone(), e.error.clone().unwrap_or_else(|| "not read yet".into()))),
            }
        }
        tally
    }
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
            // A post that is not packed goes as `auto` would send it.
            Mode::Auto | Mode::Packed => image_bytes <= inline_budget_bytes,
        }
}

/// The version of the answers' format that is part of every job's identity. It is the
/// first release's, on purpose: answers kept by an earlier version stay valid (a version 1
/// summary is re-rendered as version 2 without a request). Change it only when old answers
/// can no longer be read as the new types.
const ANSWER_FORMAT: &str = "1/1";

/// The identity of the OCR job of an image: its bytes, the provider, the answer format.
/// Shared by every post holding the same bytes.
/// `prepared` is the image's preparation version when the bytes sent are not the file's.
pub fn ocr_job_key(provider: &str, revision: Option<&str>, image_sha256: &str, prepared: Option<&str>) -> String {
    // `ocr/1`: the key of the first release, kept so that finished reads keep their identity.
    let mut parts: Vec<&[u8]> = vec![provider.as_bytes(), b"ocr/1"];
    if let Some(r) = revision {
        parts.push(r.as_bytes());
    }
    if let Some(p) = prepared {
        parts.push(p.as_bytes());
    }
    format!("ocr:{image_sha256}:{}", hash_parts(&parts))
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

/// The identity of a post's combined job.
pub(crate) fn combined_key(provider: &dyn Provider, post: &PostInput) -> String {
    let mut parts: Vec<Vec<u8>> = vec![
        provider.name().as_bytes().to_vec(),
        format!("combined/{ANSWER_FORMAT}").into_bytes(),
        post.title.clone().unwrap_or_default().into_bytes(),
        post.text.clone().into_bytes(),
    ];
    parts.extend(provider.revision(Stage::Combined).map(String::into_bytes));
    for img in &post.images {
        parts.push(img.file.clone().into_bytes());
        parts.push(img.sha256.clone().into_bytes());
        // Only where the bytes sent differ, so that earlier answers keep their identity.
        parts.extend(img.prepared.map(|p| p.as_bytes().to_vec()));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    format!("combined:{}:{}", post.post_id, hash_parts(&refs))
}

/// The identity of a post's summary job (split mode), given what OCR made of its images.
pub(crate) fn summary_key(provider: &dyn Provider, post: &PostInput, ocr_texts: &[OcrText]) -> String {
    let mut parts: Vec<Vec<u8>> = vec![
        provider.name().as_bytes().to_vec(),
        format!("summary/{ANSWER_FORMAT}").into_bytes(),
        post.title.clone().unwrap_or_default().into_bytes(),
        post.text.clone().into_bytes(),
    ];
    parts.extend(provider.revision(Stage::Summary).map(String::into_bytes));
    for o in ocr_texts {
        parts.push(o.file.clone().into_bytes());
        // An image still pending changes the identity once it is read, so the summary is
        // redone with its text.
        parts.push(o.text.clone().map(|t| format!("text:{t}")).unwrap_or_else(|| "unread".into()).into_bytes());
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    format!("summary:{}:{}", post.post_id, hash_parts(&refs))
}

/// A post's files read: its input, and an entry per image (failed where unreadable).
pub(crate) fn load(src: &PostSource) -> Result<(PostInput, Vec<ImageEntry>), String> {
    let text = input::load_text(src).map_err(|e| crate::error::chain(&e))?;
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
                entries.push(ImageEntry { file, status: ImageStatus::Failed, text: None, error: Some(e.to_string()) });
            }
        }
    }
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
    Ok((PostInput { post_id: src.id.clone(), title: text.title, text: text.body, images }, entries))
}

/// Whether a post (its images prepared) goes as one combined request, as the mode and the
/// provider allow, and as the provider's request size limit allows: never a request it is
/// known to refuse (a post whose images together pass it is read image by image instead).
fn goes_combined(
    mode: Mode,
    provider: &dyn Provider,
    policy: &Policy,
    inline_budget_bytes: u64,
    post: &PostInput,
) -> bool {
    let image_bytes: u64 = post.images.iter().map(|i| i.bytes.len() as u64).sum();
    let wanted = use_combined(mode, provider.supports_combined(), image_bytes, inline_budget_bytes);
    let text_bytes = (post.title.as_deref().map_or(0, str::len) + post.text.len()) as u64;
    let fits = policy.request_fits(&post.images, text_bytes);
    if wanted && !fits {
        tracing::info!(
            post = %post.post_id,
            "its images together pass the provider's request size limit: read one by one, then summarised"
        );
    }
    wanted && fits
}

/// What [`adopt`] found for a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// Its summary and every read image are in the store as done jobs: no request needed.
    Summary,
    /// Only some OCR answers could be kept (the inputs or the route changed since).
    Partly,
    /// Nothing: no output, an output of other inputs, or one made before provenance.
    Nothing,
}

/// Adopts the finished output of `src` into the store, when its provenance matches the
/// current inputs: the job key recomputed from them equals `provenance.job`. In split mode
/// the OCR answers come from the `images[].text` of the images read, keyed as [`Pipeline`]
/// keys them. The post is then done with the fingerprint of its files, as a run leaves it.
pub fn adopt(
    store: &Store,
    provider: &dyn Provider,
    output_dir: &std::path::Path,
    mode: Mode,
    inline_budget_bytes: u64,
    src: &PostSource,
) -> Result<Adopted, StoreError> {
    let Some(Adoptable { summary, prov, post, policy, signature }) = adoptable(provider, output_dir, src) else {
        return Ok(Adopted::Nothing);
    };
    let model = summary.produced_by.model.clone();
    let keep = |key: &str, stage: Stage, answer: String| -> Result<(), StoreError> {
        let job = store.ensure_job(key, stage.as_str(), Some(&src.id))?;
        if job.state != JobState::Done {
            store.finish_job(job.id, &answer, provider.name(), &model)?;
        }
        Ok(())
    };
    let adopted = if goes_combined(mode, provider, &policy, inline_budget_bytes, &post) {
        adopt_combined(provider, &summary, &prov, &post, &keep)?
    } else {
        adopt_split(provider, &summary, &prov, &post, &keep)?
    };
    if adopted != Adopted::Summary {
        return Ok(adopted);
    }
    let source = src.path.display().to_string();
    store.upsert_post(&src.id, &src.safe_id, &source, PostState::Done, None, None)?;
    store.set_post_signature(&src.id, &signature)?;
    Ok(adopted)
}

/// A finished output whose inputs still match the post's files, with what adoption needs.
struct Adoptable {
    summary: Summary,
    /// The summary's provenance.
    prov: Provenance,
    /// The post as a run would send it: its images prepared for the provider.
    post: PostInput,
    policy: Policy,
    /// The fingerprint of the post's files, taken before they were read.
    signature: String,
}

/// The output of `src`, when it has provenance and was made from the post's current inputs.
fn adoptable(provider: &dyn Provider, output_dir: &std::path::Path, src: &PostSource) -> Option<Adoptable> {
    let path = output::post_dir(output_dir, &src.safe_id).join("summary.json");
    let summary = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Summary>(&b).ok())?;
    let prov = summary.provenance.clone()?;
    let signature = input::signature(src);
    let (mut post, _) = load(src).ok()?;
    // Keyed as a run keys them: on the images as prepared for this provider.
    let policy = Policy::for_provider(provider.name());
    post.images = post.images.into_iter().filter_map(|i| prepare::prepare(i, &policy).ok().map(|p| p.image)).collect();
    if prov.inputs_sha256 != inputs_sha256(&post) || summary.post_id != src.id {
        return None;
    }
    Some(Adoptable { summary, prov, post, policy, signature })
}

/// Keeps an adopted answer as the done result of the job with this key and stage.
type Keep<'a> = dyn Fn(&str, Stage, String) -> Result<(), StoreError> + 'a;

/// The text an output says was read from image `file`.
fn read_in(summary: &Summary, file: &str) -> Option<String> {
    summary.images.iter().find(|e| e.file == file && e.status == ImageStatus::Ok).and_then(|e| e.text.clone())
}

/// Adopts an output made by a combined job, when its key is the one a run would use now.
fn adopt_combined(
    provider: &dyn Provider,
    summary: &Summary,
    prov: &Provenance,
    post: &PostInput,
    keep: &Keep,
) -> Result<Adopted, StoreError> {
    let key = combined_key(provider, post);
    if key != prov.job {
        return Ok(Adopted::Nothing);
    }
    let images = post
        .images
        .iter()
        .filter_map(|i| read_in(summary, &i.file).map(|text| ImageTranscription { file: i.file.clone(), text }))
        .collect();
    let answer = CombinedAnswer { images, extract: summary.extract.clone() };
    let at = summary.produced_by.at.clone();
    let kept = Kept { at, model: summary.produced_by.model.clone(), prompt: prov.prompt_version, answer };
    keep(&key, Stage::Combined, serde_json::to_string(&kept).expect("answer serialises"))?;
    Ok(Adopted::Summary)
}

/// Adopts the OCR answers of an output (split mode), then its summary when the summary
/// job's key is the one a run would use now.
fn adopt_split(
    provider: &dyn Provider,
    summary: &Summary,
    prov: &Provenance,
    post: &PostInput,
    keep: &Keep,
) -> Result<Adopted, StoreError> {
    let at = summary.produced_by.at.clone();
    let model = summary.produced_by.model.clone();
    let revision = provider.revision(Stage::Ocr);
    let mut ocr_texts = Vec::new();
    for img in &post.images {
        let text = read_in(summary, &img.file);
        if let Some(t) = &text {
            let kept = Kept { at: at.clone(), model: model.clone(), prompt: prov.prompt_version, answer: t.clone() };
            let key = ocr_job_key(provider.name(), revision.as_deref(), &img.sha256, img.prepared);
            keep(&key, Stage::Ocr, serde_json::to_string(&kept).expect("answer serialises"))?;
        }
        ocr_texts.push(OcrText { file: img.file.clone(), text });
    }
    let key = summary_key(provider, post, &ocr_texts);
    if key != prov.job {
        return Ok(Adopted::Partly);
    }
    let kept = Kept { at, model, prompt: prov.prompt_version, answer: summary.extract.clone() };
    keep(&key, Stage::Summary, serde_json::to_string(&kept).expect("answer serialises"))?;
    Ok(Adopted::Summary)
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
        halt: Arc<Halt>,
    ) -> Pipeline {
        let policy = Policy::for_provider(dispatcher.provider().name());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pipeline {
            store,
            dispatcher,
            output,
            mode,
            inline_budget_bytes,
            retry_failed,
            halt,
            policy,
            prep_slots: Arc::new(Semaphore::new(cores)),
            ocr_cells: Mutex::new(HashMap::new()),
        }
    }

    /// Prepares a post's images for the provider, off the async workers. An image that
    /// cannot be prepared is a failed image of the post (named with post and file); the
    /// post goes on without it.
    async fn prepare_images(
        &self,
        src: &PostSource,
        images: Vec<ImageInput>,
        entries: &mut [ImageEntry],
    ) -> Vec<ImageInput> {
        let jobs = images.into_iter().map(|image| async move {
            let file = image.file.clone();
            // The semaphore is never closed.
            let _slot = self.prep_slots.acquire().await.expect("preparation slots stay open");
            let policy = self.policy;
            let result = tokio::task::spawn_blocking(move || prepare::prepare(image, &policy)).await;
            let result = match result {
                Ok(r) => r.map_err(|e| crate::error::chain(&e)),
                Err(e) => Err(format!("image preparation stopped: {e}")),
            };
            (file, result)
        });
        let mut prepared = Vec::new();
        for (file, result) in futures::future::join_all(jobs).await {
            match result {
                Ok(p) => {
                    if let Some(change) = &p.change {
                        tracing::debug!(post = %src.id, "{file}: {change}");
                    }
                    prepared.push(p.image);
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
        prepared
    }

    fn provider_name(&self) -> &'static str {
        self.dispatcher.provider().name()
    }

    /// Processes one post to its end state, recording it in the store.
    pub async fn process(&self, src: &PostSource) -> PostOutcome {
        // After Ctrl-C a post not started is left as it was: not read, hashed nor recorded.
        if self.dispatcher.shutdown().stopping() {
            return PostOutcome::Interrupted;
        }
        // Taken before the files are read: a file edited mid-run must look changed next time.
        let signature = input::signature(src);
        let outcome = self.process_inner(src).await;
        let (state, error, resume) = match &outcome {
            PostOutcome::Done(_) => (PostState::Done, None, None),
            PostOutcome::Failed(e) => (PostState::Failed, Some(e.clone()), None),
            PostOutcome::Deferred(t) => (PostState::Deferred, None, Some(t.to_string())),
            PostOutcome::Interrupted => (PostState::Pending, None, None),
        };
        let path = src.path.display().to_string();
        let (id, safe_id) = (src.id.clone(), src.safe_id.clone());
        let recorded = self
            .on_store(move |store| {
                store.upsert_post(&id, &safe_id, &path, state, error.as_deref(), resume.as_deref())?;
                if state == PostState::Done { store.set_post_signature(&id, &signature) } else { Ok(()) }
            })
            .await;
        if let Err(e) = recorded {
            self.store_failed(&e);
        }
        outcome
    }

    /// A store call off the async workers: a commit fsyncs the WAL, and the workers drive
    /// every other post's requests meanwhile.
    async fn on_store<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        crate::blocking::run(move || f(&store)).await.unwrap_or_else(|| {
            let source = std::io::Error::other("the run is shutting down");
            Err(StoreError::Io { path: self.store.dir().to_path_buf(), source })
        })
    }

    /// A store failure stops the run (exit 74): the post is not at fault.
    fn store_failed(&self, e: &StoreError) -> JobError {
        let where_ = self.store.dir().join("state.db");
        self.halt.write_failed(format!("cannot write {}: {}", where_.display(), crate::error::chain(e)));
        JobError::Interrupted
    }

    async fn process_inner(&self, src: &PostSource) -> PostOutcome {
        if self.dispatcher.shutdown().stopping() {
            return PostOutcome::Interrupted;
        }
        let (mut post, mut entries) = match load(src) {
            Ok(loaded) => loaded,
            Err(e) => return PostOutcome::Failed(e),
        };
        // Prepared for the provider before the post's request is shaped: what will be sent
        // decides between one request and one per image.
        let images = std::mem::take(&mut post.images);
        post.images = self.prepare_images(src, images, &mut entries).await;
        if post.text.trim().is_empty() && post.title.is_none() && post.images.is_empty() {
            let why = if src.images.is_empty() && src.failed_images.is_empty() {
                "its text is empty"
            } else {
                "its text is empty and no image could be read"
            };
            return PostOutcome::Failed(format!("post {}: {why}", src.id));
        }
        let post = Arc::new(post);
        let result = if self.goes_combined(&post) {
            self.combined(src, &post, &mut entries).await
        } else {
            self.split(src, &post, &mut entries).await
        };
        let made = match result {
            Ok(v) => v,
            Err(JobError::Failed(e)) => return PostOutcome::Failed(e),
            Err(JobError::Unavailable(e)) => return PostOutcome::Failed(e),
            Err(JobError::Deferred(t)) => return PostOutcome::Deferred(t),
            Err(JobError::Interrupted) => return PostOutcome::Interrupted,
        };
        let summary = self.summary_of(src, &post, made, entries);
        let tally = ImageTally::of(&summary.images);
        let (output, safe_id) = (self.output.clone(), src.safe_id.clone());
        // Off the async workers: three files, each fsynced with its folder.
        let written = crate::blocking::run(move || output::write_post(&output, &safe_id, &summary)).await;
        match written {
            Some(Ok(_)) => PostOutcome::Done(tally),
            None => PostOutcome::Interrupted,
            Some(Err(e)) => {
                // The answer is in the store: a rerun on a disk with room writes it unasked.
                self.halt.write_failed(e.to_string());
                PostOutcome::Interrupted
            }
        }
    }

    /// A post's summary, from what its job made and how its images fared.
    fn summary_of(&self, src: &PostSource, post: &PostInput, made: Made, entries: Vec<ImageEntry>) -> Summary {
        Summary {
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
                inputs_sha256: inputs_sha256(post),
                prompt_version: made.prompt,
                schema_version: SCHEMA_VERSION,
            }),
        }
    }

    /// Whether a post goes as one combined request, as the mode and the provider allow,
    /// and as the provider's request size limit allows: never a request it is known to
    /// refuse (a post whose images together pass it is read image by image, then summarised).
    pub(crate) fn goes_combined(&self, post: &PostInput) -> bool {
        goes_combined(self.mode, self.dispatcher.provider().as_ref(), &self.policy, self.inline_budget_bytes, post)
    }

    /// The text an earlier OCR job read from `image`, when that job is done.
    pub(crate) fn read_before(&self, image: &ImageInput) -> Option<String> {
        let revision = self.dispatcher.provider().revision(Stage::Ocr);
        let key = ocr_job_key(self.provider_name(), revision.as_deref(), &image.sha256, image.prepared);
        let job = self.store.job(&key).ok().flatten().filter(|j| j.state == JobState::Done)?;
        let kept: Kept<String> = serde_json::from_str(job.result.as_deref()?).ok()?;
        Some(kept.answer)
    }

    /// Keeps `answer` as the done result of job `job_id`, as a single request would have.
    pub(crate) fn keep<T: Serialize>(&self, job_id: i64, model: &str, answer: T) -> Result<(), StoreError> {
        let kept = Kept {
            at: self.dispatcher.clock().now().to_string(),
            model: model.to_string(),
            prompt: PROMPT_VERSION,
            answer,
        };
        let json = serde_json::to_string(&kept).expect("answer serialises");
        self.store.finish_job(job_id, &json, self.provider_name(), model)
    }

    /// Loads a done job's kept answer, or runs the job.
    async fn job<T, F>(&self, key: &str, stage: Stage, post_id: Option<&str>, task: F) -> Result<Kept<T>, JobError>
    where
        T: Serialize + for<'de> Deserialize<'de>,
        F: FnOnce() -> (Task, fn(Answer) -> Option<T>),
    {
        let store_err = |e: StoreError| self.store_failed(&e);
        let (owned_key, owned_post) = (key.to_string(), post_id.map(str::to_string));
        let job = self
            .on_store(move |store| store.ensure_job(&owned_key, stage.as_str(), owned_post.as_deref()))
            .await
            .map_err(store_err)?;
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
        let id = job.id;
        self.on_store(move |store| store.set_job_state(id, JobState::Running, None, None)).await.map_err(store_err)?;
        let (task, unwrap) = task();
        let result = self.dispatcher.request(&task, post_id, &[job.id]).await;
        match result {
            Ok(answered) => {
                let Some(answer) = unwrap(answered.generation.answer) else {
                    let msg = "the provider answered a different kind of task".to_string();
                    let why = msg.clone();
                    self.on_store(move |store| store.set_job_state(id, JobState::Failed, Some(&why), None))
                        .await
                        .map_err(store_err)?;
                    return Err(JobError::Failed(msg));
                };
                let kept = Kept {
                    at: self.dispatcher.clock().now().to_string(),
                    model: answered.model,
                    prompt: PROMPT_VERSION,
                    answer,
                };
                let json = serde_json::to_string(&kept).expect("answer serialises");
                let (provider, model) = (self.provider_name(), kept.model.clone());
                self.on_store(move |store| store.finish_job(id, &json, provider, &model)).await.map_err(store_err)?;
                Ok(kept)
            }
            Err(e) => {
                self.record_end(id, &e).await?;
                Err(e)
            }
        }
    }

    /// Records why job `id` got no answer: failed for good, deferred to a time, or pending.
    async fn record_end(&self, id: i64, e: &JobError) -> Result<(), JobError> {
        let (state, msg, until) = match e {
            JobError::Deferred(t) => (JobState::Deferred, None, Some(t.to_string())),
            JobError::Failed(m) => (JobState::Failed, Some(m.clone()), None),
            JobError::Unavailable(m) => (JobState::Pending, Some(m.clone()), None),
            JobError::Interrupted => (JobState::Pending, None, None),
        };
        self.on_store(move |store| store.set_job_state(id, state, msg.as_deref(), until.as_deref()))
            .await
            .map_err(|e| self.store_failed(&e))
    }

    async fn combined(
        &self,
        src: &PostSource,
        post: &Arc<PostInput>,
        entries: &mut [ImageEntry],
    ) -> Result<Made, JobError> {
        let key = combined_key(self.dispatcher.provider().as_ref(), post);
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

    async fn ocr(&self, image: &ImageInput, post_id: &str) -> OcrResult {
        let revision = self.dispatcher.provider().revision(Stage::Ocr);
        let key = ocr_job_key(self.provider_name(), revision.as_deref(), &image.sha256, image.prepared);
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
        entries: &mut [ImageEntry],
    ) -> Result<Made, JobError> {
        let reads = futures::future::join_all(post.images.iter().map(|img| self.ocr(img, &src.id))).await;
        if self.dispatcher.shutdown().stopping() {
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
        let key = summary_key(self.dispatcher.provider().as_ref(), post, &ocr_texts);
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
