//! Input discovery: turns the `--input` folder into posts.
//!
//! A post folder is a directory that directly holds a text file or images. Files are only
//! listed here; their bytes are read when the post is processed, so a batch of thousands
//! of posts never sits in memory at once.

mod folder;
pub mod ids;
pub mod image;
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
    pub text: Option<TextSource>,
    /// Image files in natural order.
    pub images: Vec<PathBuf>,
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

/// A folder that looked like a post but could not be one.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
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
