//! Input discovery: turns the `--input` folder into posts.
//!
//! A post folder is a directory that directly holds a text file or images; each note of a
//! MediaCrawler export is a post too. Files are only listed here; their bytes are read when
//! the post is processed, so a batch of thousands of posts never sits in memory at once
//! (exports are the exception: their notes' text is read at discovery).

pub mod fetch;
mod folder;
pub mod ids;
pub mod image;
mod mediacrawler;
pub mod text;

pub use folder::{discover, hex, load_image, load_text, signature};

use std::path::PathBuf;

/// A post found in the input folder, before its files are read.
#[derive(Debug, Clone)]
pub struct PostSource {
    /// The post's id: its folder name (or a crawler's note id).
    pub id: String,
    /// The file-name-safe form of `id`, unique within the batch.
    pub safe_id: String,
    /// The folder (or export file) it came from, as the user gave it.
    pub path: PathBuf,
    pub url: Option<String>,
    /// When the post was published (RFC 3339), when the input says.
    pub published_at: Option<String>,
    pub text: Option<TextSource>,
    /// Image files in natural order.
    pub images: Vec<PathBuf>,
    /// Image URLs of a crawler note with no local copies, each with its 1-based place in
    /// the note's `image_list`, until [`fetch::fetch_images`] downloads them into `images`.
    pub pending_urls: Vec<(usize, String)>,
    /// Images that could not be downloaded: (file name, error naming the URL). They are
    /// listed as failed images of the post's summary; the post goes on without them.
    pub failed_images: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum TextSource {
    /// `post.json`: `title` plus `desc` or `content`.
    Json(PathBuf),
    /// `post.md`, `post.txt`, `content.txt`: the first non-empty line is the title.
    Plain(PathBuf),
    /// Already decoded (crawler exports).
    Inline { title: Option<String>, body: String },
}

/// A folder that looked like a post but could not be one, or an export file (or one of its
/// records) that could not be read.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
    /// Input that should have been a post but could not be read (a malformed export
    /// record): a failure. A folder that simply holds no post is not.
    pub unreadable: bool,
}

/// The loaded content of a post.
#[derive(Debug, Clone)]
pub struct LoadedText {
    pub title: Option<String>,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("post {post}: cannot read {path}: {source}")]
    Io { post: String, path: PathBuf, source: std::io::Error },
    #[error("post {post}: {path}: {reason}")]
    Invalid { post: String, path: PathBuf, reason: String },
}
