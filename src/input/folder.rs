//! Post folders: a directory that directly holds a text file or images is one post. The
//! walk also hands MediaCrawler exports met on the way to [`super::mediacrawler`].

use super::ids::Allocator;
use super::image::{is_image_name, natural_cmp, sniff_mime};
use super::mediacrawler::{self, ExportFile, Notes, tree};
use super::text::{decode, normalize};
use super::{InputError, LoadedText, PostSource, Skipped, TextSource};
use crate::task::ImageInput;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The text files of a post folder, in order of preference.
const TEXT_FILES: [&str; 4] = ["post.json", "post.md", "post.txt", "content.txt"];

/// Walks `root` and returns its posts (sorted by path) and what it passed over. `root` may
/// also be one export file of MediaCrawler's.
pub fn discover(root: &Path) -> Result<(Vec<PostSource>, Vec<Skipped>), std::io::Error> {
    let mut posts = Vec::new();
    let mut skipped = Vec::new();
    let mut notes = Notes::default();
    if root.is_file() {
        read_given_file(root, &mut notes, &mut skipped)?;
    } else if !root.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("input {} does not exist (give a folder of posts or a MediaCrawler export file)", root.display()),
        ));
    } else if let Some(data) = tree::media_of(root) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} holds MediaCrawler's downloaded media, not notes: point --input at {} or the crawler's project folder",
                root.display(),
                data.display()
            ),
        ));
    } else if tree::is_project_root(root) {
        walk_project(root, &mut posts, &mut notes, &mut skipped)?;
    } else {
        walk(root, &mut posts, &mut notes, &mut skipped)?;
    }
    posts.extend(notes.into_posts());
    // Stable: the notes of one export keep the export's order.
    posts.sort_by(|a: &PostSource, b| natural_cmp(&a.path.to_string_lossy(), &b.path.to_string_lossy()));
    let mut ids = Allocator::default();
    for p in &mut posts {
        p.safe_id = ids.allocate(&p.id);
    }
    Ok((posts, skipped))
}

/// `--input` naming one file: a MediaCrawler export or store, whatever its name. A file
/// postmill cannot read, or one that fails as a whole, is a usage error: nothing else
/// would be processed.
fn read_given_file(path: &Path, notes: &mut Notes, skipped: &mut Vec<Skipped>) -> std::io::Result<()> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    let kind = match mediacrawler::classify_given(path) {
        None => {
            return Err(invalid(format!(
                "input {} is a file, not a folder of posts nor a MediaCrawler export (.jsonl, .json, .csv, .db, \
                 .xlsx): give the folder that holds the posts, or the crawler's export file",
                path.display()
            )));
        }
        Some(ExportFile::Comments) => {
            return Err(invalid(format!(
                "input {} holds MediaCrawler's comments, not notes: give its *_contents_* file",
                path.display()
            )));
        }
        Some(kind) => kind,
    };
    if !notes.read(path, kind, skipped) {
        let reason = skipped.pop().map(|s| s.reason).unwrap_or_default();
        return Err(invalid(format!("{}: {reason}", path.display())));
    }
    Ok(())
}

/// A MediaCrawler project root: its SQLite stores and its `data/` folder hold the notes;
/// anything else that would be a post (the docs' screenshots, the web UI's logos) is
/// reported as skipped, one line per folder.
fn walk_project(
    root: &Path,
    posts: &mut Vec<PostSource>,
    notes: &mut Notes,
    skipped: &mut Vec<Skipped>,
) -> std::io::Result<()> {
    for store in tree::stores(root) {
        notes.read(&store, ExportFile::Store, skipped);
    }
    let data = root.join("data");
    for (path, kind) in sorted_entries(root)? {
        if !kind.is_dir() {
            continue;
        }
        if path == data {
            walk(&path, posts, notes, skipped)?;
        } else if !tree::never_walked(&path) && !tree::is_store_folder(&path) {
            // Walked only to say what is not taken: its posts and notes are dropped.
            let (mut found, mut ignored) = (Vec::new(), Vec::new());
            walk(&path, &mut found, &mut Notes::default(), &mut ignored)?;
            skipped.extend(found.into_iter().map(|p| Skipped {
                path: p.path,
                reason: tree::PROJECT_IMAGES.into(),
                unreadable: false,
            }));
        }
    }
    Ok(())
}

pub(super) fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, fs::FileType)>> {
    let mut v = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        // file_type() does not follow symlinks: a linked folder is never walked twice.
        v.push((entry.path(), entry.file_type()?));
    }
    v.sort_by(|a, b| natural_cmp(&a.0.to_string_lossy(), &b.0.to_string_lossy()));
    Ok(v)
}

fn walk(dir: &Path, posts: &mut Vec<PostSource>, notes: &mut Notes, skipped: &mut Vec<Skipped>) -> std::io::Result<()> {
    let entries = sorted_entries(dir)?;
    let mut holds_exports = false;
    for (path, _) in entries.iter().filter(|(_, t)| !t.is_dir()) {
        let kind = mediacrawler::classify(path);
        if let Some(kind) = kind {
            notes.read(path, kind, skipped);
        }
        holds_exports |= kind.is_some();
    }
    let file_named = |name: &str| entries.iter().find(|(p, t)| !t.is_dir() && p.file_name().is_some_and(|n| n == name));
    let text = TEXT_FILES.iter().find_map(|name| file_named(name)).map(|(p, _)| {
        if p.extension().is_some_and(|e| e == "json") {
            TextSource::Json(p.clone())
        } else {
            TextSource::Plain(p.clone())
        }
    });
    let mut images: Vec<PathBuf> =
        entries.iter().filter(|(p, t)| !t.is_dir() && is_image_name(p)).map(|(p, _)| p.clone()).collect();
    let images_dir = dir.join("images");
    let has_images_dir = entries.iter().any(|(p, t)| t.is_dir() && *p == images_dir);
    if has_images_dir {
        for (p, t) in sorted_entries(&images_dir)? {
            if !t.is_dir() && is_image_name(&p) {
                images.push(p);
            }
        }
    }
    if text.is_some() || !images.is_empty() {
        let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "post".into());
        let path = dir.to_path_buf();
        posts.push(PostSource {
            id,
            safe_id: String::new(),
            path,
            url: None,
            published_at: None,
            text,
            images,
            pending_urls: Vec::new(),
            failed_images: Vec::new(),
        });
        return Ok(());
    }
    let mut subdirs: Vec<&PathBuf> = entries.iter().filter(|(_, t)| t.is_dir()).map(|(p, _)| p).collect();
    // A folder with sub-folders is not reported as postless: what they hold is.
    let leaf = subdirs.is_empty();
    // The crawler's data folder (`data/xhs/`) holds exports, directly or in `json/` and the
    // like; its `images/` and `videos/` are the notes' media, not posts. Only checked when
    // such a folder exists, so ordinary trees are not read twice.
    if subdirs.iter().any(|p| mediacrawler::is_media_folder(p))
        && (holds_exports || tree::is_xhs_data_folder(dir) || subdirs.iter().any(|p| mediacrawler::holds_exports(p)))
    {
        subdirs.retain(|p| !mediacrawler::is_media_folder(p));
    }
    // Another platform's crawl (`data/douyin/`): one line, not one failure per record.
    subdirs.retain(|p| match tree::other_platform(p) {
        Some(platform) => {
            skipped.push(Skipped {
                path: p.to_path_buf(),
                reason: format!("MediaCrawler {platform} data: not Xiaohongshu notes"),
                unreadable: false,
            });
            false
        }
        None => true,
    });
    if leaf && !holds_exports {
        skipped.push(Skipped {
            path: dir.to_path_buf(),
            reason: "no post text (post.json, post.md, post.txt, content.txt) and no images".into(),
            unreadable: false,
        });
    }
    for sub in subdirs {
        walk(sub, posts, notes, skipped)?;
    }
    Ok(())
}

/// Reads and decodes a post's text.
pub fn load_text(post: &PostSource) -> Result<LoadedText, InputError> {
    let Some(source) = &post.text else {
        return Ok(LoadedText { title: None, body: String::new() });
    };
    let read = |path: &PathBuf| -> Result<String, InputError> {
        let bytes =
            fs::read(path).map_err(|source| InputError::Io { post: post.id.clone(), path: path.clone(), source })?;
        decode(&bytes).map(|s| normalize(&s)).map_err(|reason| InputError::Invalid {
            post: post.id.clone(),
            path: path.clone(),
            reason,
        })
    };
    match source {
        TextSource::Inline { title, body } => Ok(LoadedText { title: title.clone(), body: normalize(body) }),
        TextSource::Plain(path) => {
            let body = read(path)?;
            let title = body
                .lines()
                .map(|l| l.trim().trim_start_matches('#').trim())
                .find(|l| !l.is_empty())
                .map(|l| l.chars().take(200).collect());
            Ok(LoadedText { title, body })
        }
        TextSource::Json(path) => {
            let text = read(path)?;
            let invalid = |reason: String| InputError::Invalid { post: post.id.clone(), path: path.clone(), reason };
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
            let field =
                |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string).filter(|s| !s.trim().is_empty());
            let title = field("title");
            let body = field("desc").or_else(|| field("content"));
            if title.is_none() && body.is_none() {
                return Err(invalid("post.json has neither `title` nor `desc`/`content`".into()));
            }
            Ok(LoadedText { title, body: body.unwrap_or_default() })
        }
    }
}

/// Reads an image and checks that it is one.
pub fn load_image(post: &PostSource, path: &Path) -> Result<ImageInput, InputError> {
    let bytes =
        fs::read(path).map_err(|source| InputError::Io { post: post.id.clone(), path: path.to_path_buf(), source })?;
    let mime = sniff_mime(&bytes).ok_or_else(|| InputError::Invalid {
        post: post.id.clone(),
        path: path.to_path_buf(),
        reason: "not a JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF image (by its content)".into(),
    })?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ImageInput { file, mime, bytes: Arc::new(bytes), sha256, prepared: None })
}

/// A cheap fingerprint of a post's files (names, sizes, modification times): when it is
/// unchanged since the post was done, the post needs no work and no model check. A changed
/// fingerprint only means "look again": the job identities (hashes of the content) decide
/// whether anything is redone. Paths are canonical: `--input inputs` and `--input
/// /abs/inputs` name the same files, and `plan` and `run` must agree on them.
pub fn signature(post: &PostSource) -> String {
    let mut h = Sha256::new();
    let mut add_file = |path: &Path| {
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        h.update(canonical.to_string_lossy().as_bytes());
        if let Ok(meta) = fs::metadata(path) {
            h.update(meta.len().to_le_bytes());
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            h.update(mtime.map(|d| d.as_nanos()).unwrap_or(0).to_le_bytes());
        }
        h.update([0]);
    };
    match &post.text {
        Some(TextSource::Json(p) | TextSource::Plain(p)) => add_file(p),
        Some(TextSource::Inline { .. }) | None => {}
    }
    for image in &post.images {
        add_file(image);
    }
    if let Some(TextSource::Inline { title, body }) = &post.text {
        h.update(title.as_deref().unwrap_or_default().as_bytes());
        h.update([0]);
        h.update(body.as_bytes());
    }
    hex(&h.finalize()[..16])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_posts_images_and_skips_empty() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/images")).unwrap();
        fs::write(root.join("a/post.md"), "# 标题\n正文").unwrap();
        fs::write(root.join("a/images/image_10.png"), b"x").unwrap();
        fs::write(root.join("a/images/image_2.png"), b"x").unwrap();
        fs::create_dir_all(root.join("group/b")).unwrap();
        fs::write(root.join("group/b/1.jpg"), b"x").unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        let (posts, skipped) = discover(root).unwrap();
        assert_eq!(posts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let names: Vec<_> = posts[0].images.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["image_2.png", "image_10.png"]);
        assert_eq!(skipped.len(), 1);
        let t = load_text(&posts[0]).unwrap();
        assert_eq!(t.title.as_deref(), Some("标题"));
    }
}
