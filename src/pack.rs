//! Packed requests: several posts' summaries in one request, for free tiers where the
//! day's requests are the wall (the contract's `packed` way to spend requests).
//!
//! Packing runs before the per-post pipeline. It takes the pending posts that need only a
//! summary (text-only posts, and posts whose every image an earlier request already read),
//! groups them by estimated tokens, and asks each group in one request. Each post's entry
//! in the answer is checked on its own and kept under the very job key a single request
//! would have used: the per-post pipeline that follows finds those jobs done and only
//! renders them, while a post missing or broken in the answer simply goes alone then.
//! Nothing here decides retries or routing: the scheduler and the quota engine do, as for
//! any request.

use crate::config::{Mode, PackConfig};
use crate::input::PostSource;
use crate::pipeline::{self, Pipeline};
use crate::provider::{Answer, OcrText, PackedPost, PostInput, Stage, Task};
use crate::quota::estimate::post_tokens;
use crate::scheduler::JobError;
use crate::store::{JobState, StoreError};
use crate::summary::{CombinedAnswer, Extract};
use futures::StreamExt;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// Whether this run packs: always under `mode = "packed"`; under `auto` only when the
/// day's remaining requests cannot cover the pending posts one request each (one request
/// per post isolates failures better, so it is preferred while the quota allows it).
pub fn should_pack(mode: Mode, remaining_today: Option<u64>, pending_posts: usize) -> bool {
    match mode {
        Mode::Packed => true,
        Mode::Auto => remaining_today.is_some_and(|left| left < pending_posts as u64),
        Mode::Combined | Mode::Split => false,
    }
}

/// The output budget a pack of `posts` posts is asked with.
pub fn output_budget(posts: usize, cfg: &PackConfig) -> u32 {
    (cfg.output_tokens_per_post.saturating_mul(posts as u32)).min(cfg.max_output_tokens)
}

/// Splits posts, in order, into packs by their estimated input tokens: a pack closes when
/// one more post would exceed the posts per request, the output budget (posts times the
/// planned output per post) or the input budget. A post too large for any pack forms a
/// pack of one, which is not worth packing: the pipeline sends it alone.
pub fn group(tokens: &[u64], cfg: &PackConfig) -> Vec<Range<usize>> {
    let per_request = cfg.max_posts.min((cfg.max_output_tokens / cfg.output_tokens_per_post.max(1)) as usize).max(1);
    let mut groups = Vec::new();
    let mut start = 0;
    let mut input = 0u64;
    for (i, &t) in tokens.iter().enumerate() {
        let full = i - start >= per_request || (i > start && input + t > cfg.max_input_tokens);
        if full {
            groups.push(start..i);
            start = i;
            input = 0;
        }
        input += t;
    }
    if start < tokens.len() {
        groups.push(start..tokens.len());
    }
    groups
}

/// A post that can go in a pack: what it says, and the job a single request would use.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub post: Arc<PostInput>,
    /// Its images' text, read by earlier requests (empty for a text-only post).
    pub ocr: Vec<OcrText>,
    /// The key of the job a single request would fill.
    pub key: String,
    /// That job's stage: `combined` (a text-only post sent as `auto` would) or `summary`.
    pub stage: Stage,
    pub tokens: u64,
}

/// The post as a pack candidate, or `None` when it needs more than a summary (an image
/// not yet read), cannot be read, or its summary is done (or failed for good).
pub fn candidate(pipeline: &Pipeline, src: &PostSource) -> Option<Candidate> {
    let (post, _) = pipeline::load(src).ok()?;
    let post = Arc::new(post);
    let provider = pipeline.dispatcher.provider().as_ref();
    let (stage, key, ocr) = if post.images.is_empty() && pipeline.goes_combined(&post) {
        (Stage::Combined, pipeline::combined_key(provider, &post), Vec::new())
    } else if pipeline.goes_combined(&post) {
        // Its images travel with the summary in one combined request: nothing to pack.
        return None;
    } else {
        let ocr: Vec<OcrText> = post
            .images
            .iter()
            .map(|img| pipeline.read_before(img).map(|text| OcrText { file: img.file.clone(), text: Some(text) }))
            .collect::<Option<_>>()?;
        (Stage::Summary, pipeline::summary_key(provider, &post, &ocr), ocr)
    };
    match pipeline.store.job(&key).ok()? {
        Some(job) if job.state == JobState::Done => return None,
        Some(job) if job.state == JobState::Failed && !pipeline.retry_failed => return None,
        _ => {}
    }
    let tokens = post_tokens(&post, &ocr);
    Some(Candidate { post, ocr, key, stage, tokens })
}

/// What packing did in a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackReport {
    /// Packed requests that got an answer.
    pub packs: usize,
    /// Posts whose summary came from a pack.
    pub packed: usize,
    /// Posts left to go alone: missing or invalid in an answer, or their pack failed.
    pub returned: usize,
}

/// Packs the pending posts among `posts` and asks each pack, `concurrency` at a time.
pub async fn run(pipeline: &Pipeline, posts: &[PostSource], cfg: &PackConfig, concurrency: usize) -> PackReport {
    let candidates: Vec<Candidate> = posts.iter().filter_map(|p| candidate(pipeline, p)).collect();
    let tokens: Vec<u64> = candidates.iter().map(|c| c.tokens).collect();
    let packs: Vec<&[Candidate]> =
        group(&tokens, cfg).into_iter().map(|r| &candidates[r]).filter(|p| p.len() >= 2).collect();
    if packs.is_empty() {
        return PackReport::default();
    }
    tracing::info!("packing {} post(s) into {} request(s)", packs.iter().map(|p| p.len()).sum::<usize>(), packs.len());
    let mut report = PackReport::default();
    let mut results = futures::stream::iter(packs).map(|pack| send(pipeline, pack, cfg)).buffer_unordered(concurrency);
    while let Some(result) = results.next().await {
        match result {
            Ok(r) => {
                report.packs += r.packs;
                report.packed += r.packed;
                report.returned += r.returned;
            }
            Err(e) => tracing::error!("cannot record a packed answer: {e}"),
        }
    }
    report
}

/// Asks one pack and keeps what its answer holds, post by post.
async fn send(pipeline: &Pipeline, pack: &[Candidate], cfg: &PackConfig) -> Result<PackReport, StoreError> {
    let store = &pipeline.store;
    let mut jobs = Vec::with_capacity(pack.len());
    for c in pack {
        let job = store.ensure_job(&c.key, c.stage.as_str(), Some(&c.post.post_id))?;
        store.set_job_state(job.id, JobState::Running, None, None)?;
        jobs.push(job.id);
    }
    let task = Task::Packed {
        posts: pack.iter().map(|c| PackedPost { post: c.post.clone(), ocr: c.ocr.clone() }).collect(),
        output_tokens: output_budget(pack.len(), cfg),
    };
    let span = tracing::info_span!("pack", posts = pack.len());
    let result = tracing::Instrument::instrument(pipeline.dispatcher.request(&task, None, &jobs), span).await;
    let answered = match result {
        Ok(a) => a,
        Err(e) => {
            // Nothing about one post is known from a pack that failed as a whole (a block
            // may be one post's doing): each goes alone, or waits for the reset.
            let (state, why, until) = match &e {
                JobError::Deferred(t) => (JobState::Deferred, None, Some(t.to_string())),
                JobError::Failed(m) | JobError::Unavailable(m) => {
                    (JobState::Pending, Some(format!("its packed request failed: {m}")), None)
                }
                JobError::Interrupted => (JobState::Pending, None, None),
            };
            for &id in &jobs {
                store.set_job_state(id, state, why.as_deref(), until.as_deref())?;
            }
            if let JobError::Failed(m) = &e {
                tracing::warn!("a packed request failed ({m}); its {} posts go alone", pack.len());
            }
            return Ok(PackReport { returned: pack.len(), ..Default::default() });
        }
    };
    let Answer::Packed(entries) = answered.generation.answer else {
        for &id in &jobs {
            store.set_job_state(id, JobState::Pending, Some("the provider answered a different kind of task"), None)?;
        }
        return Ok(PackReport { returned: pack.len(), ..Default::default() });
    };
    let mut by_id: HashMap<String, Extract> = HashMap::new();
    for entry in entries {
        match entry {
            // The first entry of an id wins; a model that repeats one gains nothing by it.
            Ok(s) => {
                by_id.entry(s.post_id).or_insert(s.extract);
            }
            Err(e) => tracing::warn!("{e}; that post goes alone"),
        }
    }
    let mut report = PackReport { packs: 1, ..Default::default() };
    for (c, &id) in pack.iter().zip(&jobs) {
        match by_id.remove(&c.post.post_id) {
            Some(extract) => {
                match c.stage {
                    Stage::Combined => {
                        pipeline.keep(id, &answered.model, CombinedAnswer { images: Vec::new(), extract })?
                    }
                    _ => pipeline.keep(id, &answered.model, extract)?,
                }
                report.packed += 1;
            }
            None => {
                tracing::warn!(post = %c.post.post_id, "missing or invalid in a packed answer; it goes alone");
                store.set_job_state(id, JobState::Pending, Some("missing or invalid in a packed answer"), None)?;
                report.returned += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max_posts: usize, per_post: u32, max_output: u32, max_input: u64) -> PackConfig {
        PackConfig {
            max_posts,
            output_tokens_per_post: per_post,
            max_output_tokens: max_output,
            max_input_tokens: max_input,
        }
    }

    #[test]
    fn groups_close_at_posts_output_and_input_budgets() {
        // Posts per request.
        assert_eq!(group(&[10; 7], &cfg(3, 100, 10_000, 10_000)), [0..3, 3..6, 6..7]);
        // The output budget binds first: 1,000 / 300 = 3 posts.
        assert_eq!(group(&[10; 7], &cfg(10, 300, 1_000, 10_000)), [0..3, 3..6, 6..7]);
        // The input budget: 40 + 40 > 70 closes the pack.
        assert_eq!(group(&[40, 20, 40, 10], &cfg(10, 1, 100, 70)), [0..2, 2..4]);
        // A post larger than the whole input budget goes alone, and the next starts anew.
        assert_eq!(group(&[10, 500, 10, 10], &cfg(10, 1, 100, 100)), [0..1, 1..2, 2..4]);
        assert!(group(&[], &cfg(10, 1, 100, 100)).is_empty());
    }

    #[test]
    fn auto_packs_only_when_the_day_cannot_cover_the_posts() {
        assert!(should_pack(Mode::Packed, None, 1));
        assert!(should_pack(Mode::Auto, Some(20), 100));
        assert!(!should_pack(Mode::Auto, Some(100), 100));
        // No known daily limit: the day is no wall.
        assert!(!should_pack(Mode::Auto, None, 100));
        assert!(!should_pack(Mode::Split, Some(0), 100));
        assert!(!should_pack(Mode::Combined, Some(0), 100));
    }

    #[test]
    fn output_budget_scales_with_posts_up_to_the_cap() {
        let c = cfg(10, 1_500, 16_384, 60_000);
        assert_eq!(output_budget(2, &c), 3_000);
        assert_eq!(output_budget(20, &c), 16_384);
    }
}
