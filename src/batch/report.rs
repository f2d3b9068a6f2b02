//! What a batch did, counted post by post, its exit code and the end-of-run lines.

use crate::clock::describe;
use crate::error::Exit;
use crate::input;
use crate::pipeline::PostOutcome;
use crate::quota::QuotaEngine;
use jiff::Timestamp;

#[derive(Debug, Default)]
pub struct Report {
    pub done: usize,
    /// Done posts with at least one image that could not be read.
    pub with_problems: usize,
    pub images_read: usize,
    pub images_unread: usize,
    pub failed: Vec<(String, String)>,
    pub deferred: usize,
    pub interrupted: usize,
    pub resume_at: Option<Timestamp>,
}

impl Report {
    /// Counts one post's outcome.
    pub fn add(&mut self, post_id: &str, outcome: &PostOutcome) {
        match outcome {
            PostOutcome::Done(images) => {
                self.done += 1;
                self.images_read += images.read;
                self.images_unread += images.unread.len();
                if !images.unread.is_empty() {
                    self.with_problems += 1;
                }
            }
            PostOutcome::Failed(e) => {
                tracing::error!(post = %post_id, "failed: {e}");
                self.failed.push((post_id.to_string(), e.clone()));
            }
            PostOutcome::Deferred(t) => {
                self.deferred += 1;
                self.resume_at = Some(self.resume_at.map_or(*t, |r: Timestamp| r.min(*t)));
            }
            PostOutcome::Interrupted => self.interrupted += 1,
        }
    }

    pub fn exit(&self) -> Exit {
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
    pub fn print(&self, output: &std::path::Path, posts: usize, skipped: &[input::Skipped], quota: &QuotaEngine) {
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
