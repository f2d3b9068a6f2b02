//! MediaCrawler, the most used Xiaohongshu crawler: every note it stored is one post, id
//! `note_id`, whichever store it used (`SAVE_DATA_OPTION`):
//!
//! - files: `data/xhs/{jsonl,json,csv}/{search,detail,creator}_contents_<date>.<ext>` (notes)
//!   and `..._comments_<date>.<ext>` (comments, not posts);
//! - SQLite: table `xhs_note` of `database/sqlite_tables.db` (or `schema/` mid-2025), read
//!   by [`sqlite`];
//! - Excel: sheet `Contents` of `data/xhs/xhs_<type>_<timestamp>.xlsx`, read by [`xlsx`].
//!
//! With media download on, it writes `data/xhs/images/<note_id>/<n>.jpg` and
//! `data/xhs/videos/`; with the word cloud on, `data/xhs/words/`. A note's images come
//! from `images/<note_id>/` beside the export file or its folder, or under `data/xhs/` of
//! the project of a SQLite store; the media folders are never posts themselves
//! ([`tree`] knows the crawler's tree).
//!
//! Unlike post folders, an export is read during discovery: one file holds many posts, and
//! only their text (a few KB each) is kept, never their images.
//!
//! `image_list` URLs with no local copy wait in [`PostSource::pending_urls`]; `run`
//! downloads them once into the state folder ([`super::fetch`]) before the post is
//! processed. The crawler names its files `0.jpg`, `1.jpg`, … by successful download, so
//! when fewer files than URLs are on disk, the URLs past the files are taken as the missing
//! ones (exact when the crawl was cut short, the usual cause).
//!
//! A malformed file or record never stops discovery: it becomes a [`Skipped`] entry naming
//! the file and the record (or line), and the rest of the export goes on.

mod note;
mod sqlite;
pub(super) mod tree;
mod xlsx;

use super::image::is_image_name;
use super::text::decode;
use super::{PostSource, Skipped, TextSource};
use note::Note;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The formats MediaCrawler saves to files that are read as exports.
const FORMATS: [&str; 3] = ["jsonl", "json", "csv"];

/// The crawler's media folders, children of its data folder (`data/xhs/`): downloaded
/// images and videos, and the comments' word cloud (`ENABLE_GET_WORDCLOUD`).
const MEDIA_FOLDERS: [&str; 3] = ["images", "videos", "words"];

/// What a file is to MediaCrawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExportFile {
    /// Note records, one post each.
    Contents(Format),
    /// The SQLite store.
    Store,
    /// An Excel export (`xhs_<type>_<timestamp>.xlsx`).
    Excel,
    /// Comment records: not posts.
    Comments,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Jsonl,
    Json,
    Csv,
}

/// Classifies a file met in the walk by its name, as MediaCrawler names them:
/// `<anything>_contents_<anything>.<jsonl|json|csv>`, `sqlite_tables.db`, `xhs_<…>.xlsx`.
pub(super) fn classify(path: &Path) -> Option<ExportFile> {
    let name = path.file_name()?.to_string_lossy();
    if name == sqlite::FILE_NAME {
        return Some(ExportFile::Store);
    }
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let stem = path.file_stem()?.to_string_lossy();
    if ext == "xlsx" && stem.starts_with("xhs_") {
        return Some(ExportFile::Excel);
    }
    if !FORMATS.contains(&ext.as_str()) {
        return None;
    }
    if stem.contains("_comments_") {
        return Some(ExportFile::Comments);
    }
    if !stem.contains("_contents_") {
        return None;
    }
    Some(ExportFile::Contents(format_of(&ext)?))
}

fn format_of(ext: &str) -> Option<Format> {
    match ext {
        "jsonl" => Some(Format::Jsonl),
        "json" => Some(Format::Json),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// Classifies a file the user named as `--input`: by its extension alone, as they may
/// have renamed it. `None` is a file postmill does not read.
pub(super) fn classify_given(path: &Path) -> Option<ExportFile> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "db" | "sqlite" | "sqlite3" => Some(ExportFile::Store),
        "xlsx" => Some(ExportFile::Excel),
        _ if path.file_stem()?.to_string_lossy().contains("_comments_") => Some(ExportFile::Comments),
        _ => Some(ExportFile::Contents(format_of(&ext)?)),
    }
}

/// Whether `path` is named like one of the crawler's media folders.
pub(super) fn is_media_folder(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| MEDIA_FOLDERS.contains(&n))
}

/// Whether `dir` directly holds a MediaCrawler export (notes or comments): its parent is
/// then the crawler's data folder, whose `images/` and `videos/` are media.
pub(super) fn holds_exports(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| e.file_type().is_ok_and(|t| !t.is_dir()) && classify(&e.path()).is_some())
}

/// Why an export file, or one of its records, is not read.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExportError {
    #[error("cannot read the MediaCrawler export: {0}")]
    Read(#[from] std::io::Error),
    #[error("MediaCrawler export: {0}")]
    Decode(String),
    #[error("MediaCrawler JSON export is not a JSON array of note records: {0}")]
    Json(serde_json::Error),
    #[error("MediaCrawler CSV export: {0}")]
    Csv(csv::Error),
    #[error("MediaCrawler {at}: {problem}")]
    Record { at: String, problem: RecordProblem },
}

/// What is wrong with one note record.
#[derive(Debug, thiserror::Error)]
pub(super) enum RecordProblem {
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a JSON object")]
    NotObject,
    #[error("no `note_id`")]
    NoId,
    #[error("`note_id` {0:?} is not a plain name")]
    BadId(String),
    #[error("note {0} has no title, desc or images")]
    Empty(String),
    #[error("{0}")]
    Csv(String),
}

/// The notes of every export in the walk, one per `note_id`.
#[derive(Default)]
pub(super) struct Notes {
    index: HashMap<String, usize>,
    /// Each post with the length of its `desc`, which decides between duplicates.
    posts: Vec<(PostSource, usize)>,
}

impl Notes {
    /// Reads one file of the crawler's, adding its notes and recording what could not be
    /// read. Comments are not notes and add nothing. False when the file could not be read
    /// as a whole (its reason is then the last of `skipped`).
    pub(super) fn read(&mut self, path: &Path, kind: ExportFile, skipped: &mut Vec<Skipped>) -> bool {
        match kind {
            ExportFile::Contents(format) => self.read_export(path, format, skipped),
            ExportFile::Store => self.read_store(path, skipped),
            ExportFile::Excel => self.read_excel(path, skipped),
            ExportFile::Comments => true,
        }
    }

    /// Reads one export file.
    fn read_export(&mut self, path: &Path, format: Format, skipped: &mut Vec<Skipped>) -> bool {
        let skip =
            |reason: ExportError| Skipped { path: path.to_path_buf(), reason: reason.to_string(), unreadable: true };
        let text = match fs::read(path).map_err(ExportError::from).and_then(|b| decode(&b).map_err(ExportError::Decode))
        {
            Ok(t) => t,
            Err(e) => {
                skipped.push(skip(e));
                return false;
            }
        };
        let records = match format {
            Format::Json => parse_json(&text),
            Format::Jsonl => Ok(parse_jsonl(path, &text)),
            Format::Csv => parse_csv(&text),
        };
        let records = match records {
            Ok(r) => r,
            Err(e) => {
                skipped.push(skip(e));
                return false;
            }
        };
        let bases = export_media_bases(path);
        for (at, record) in records {
            if let Err(problem) = record.and_then(|note| self.add(path, &bases, note)) {
                skipped.push(skip(ExportError::Record { at, problem }));
            }
        }
        true
    }

    /// Reads the `xhs_note` table of a SQLite store. Its images are under the project's
    /// `data/xhs/images/` (the store is in `<project>/database/` or `<project>/schema/`).
    fn read_store(&mut self, path: &Path, skipped: &mut Vec<Skipped>) -> bool {
        let skip = |reason: String, unreadable: bool| Skipped { path: path.to_path_buf(), reason, unreadable };
        let contents = match sqlite::read(path) {
            Ok(c) => c,
            Err(e) => {
                skipped.push(skip(with_cause(&e), true));
                return false;
            }
        };
        for (table, rows) in contents.others {
            skipped.push(skip(format!("MediaCrawler table `{table}` ({rows} rows): not Xiaohongshu notes"), false));
        }
        let project = path.parent().and_then(Path::parent);
        let bases: Vec<PathBuf> = project.map(|p| p.join("data").join("xhs")).into_iter().collect();
        for row in contents.notes {
            let note = Note::from_fields(|k| row.get(k));
            if let Err(problem) = note.and_then(|note| self.add(path, &bases, note)) {
                let at = format!("SQLite `xhs_note` row {}", row.rowid);
                skipped.push(skip(ExportError::Record { at, problem }.to_string(), true));
            }
        }
        true
    }

    /// Reads the `Contents` sheet of an Excel export.
    fn read_excel(&mut self, path: &Path, skipped: &mut Vec<Skipped>) -> bool {
        let skip = |reason: String| Skipped { path: path.to_path_buf(), reason, unreadable: true };
        let rows = match xlsx::read(path) {
            Ok(rows) => rows,
            Err(e) => {
                skipped.push(skip(with_cause(&e)));
                return false;
            }
        };
        let bases = export_media_bases(path);
        for row in rows {
            let note = Note::from_fields(|k| row.get(k));
            if let Err(problem) = note.and_then(|note| self.add(path, &bases, note)) {
                let at = format!("Excel sheet Contents row {}", row.number);
                skipped.push(skip(ExportError::Record { at, problem }.to_string()));
            }
        }
        true
    }

    fn add(&mut self, source: &Path, media_bases: &[PathBuf], note: Note) -> Result<(), RecordProblem> {
        let images = local_images(media_bases, &note.id);
        let no_images = images.is_empty() && note.image_urls.is_empty();
        if note.title.is_none() && note.desc.is_empty() && note.tags.is_empty() && no_images {
            return Err(RecordProblem::Empty(note.id));
        }
        // The files on disk stand for the first URLs (see the module's comment).
        let pending: Vec<(usize, String)> =
            note.image_urls.iter().cloned().enumerate().skip(images.len()).map(|(i, url)| (i + 1, url)).collect();
        if !images.is_empty() && !pending.is_empty() {
            tracing::info!(
                "note {}: {} of its {} images are not on disk (an interrupted download?); fetching the rest",
                note.id,
                pending.len(),
                note.image_urls.len()
            );
        }
        let desc_len = note.desc.chars().count();
        let body = note.body();
        let post = PostSource {
            safe_id: String::new(),
            path: source.to_path_buf(),
            url: note.url,
            published_at: note.published_at,
            text: Some(TextSource::Inline { title: note.title, body }),
            pending_urls: pending,
            images,
            failed_images: Vec::new(),
            id: note.id,
        };
        match self.index.get(&post.id) {
            None => {
                self.index.insert(post.id.clone(), self.posts.len());
                self.posts.push((post, desc_len));
            }
            Some(&i) => {
                // A search dump and a detail dump of one note: the longer desc is the fuller
                // record, and whichever found more local images lends them to it.
                let (kept, kept_len) = &mut self.posts[i];
                let mut other = post;
                if desc_len > *kept_len {
                    std::mem::swap(kept, &mut other);
                    *kept_len = desc_len;
                }
                if other.images.len() > kept.images.len() {
                    kept.images = other.images;
                    kept.pending_urls = other.pending_urls;
                }
                if kept.published_at.is_none() {
                    kept.published_at = other.published_at;
                }
            }
        }
        Ok(())
    }

    /// The posts, in the order their first record was met.
    pub(super) fn into_posts(self) -> Vec<PostSource> {
        self.posts.into_iter().map(|(p, _)| p).collect()
    }
}

/// Where each record was and what it held.
type Records = Vec<(String, Result<Note, RecordProblem>)>;

fn note_from_json(v: &Value) -> Result<Note, RecordProblem> {
    let obj = v.as_object().ok_or(RecordProblem::NotObject)?;
    Note::from_fields(|k| match obj.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        // MediaCrawler comma-joins its lists; other tools keep them arrays of strings.
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
        _ => None,
    })
}

fn parse_json(text: &str) -> Result<Records, ExportError> {
    let items: Vec<Value> = serde_json::from_str(text).map_err(ExportError::Json)?;
    Ok(items.iter().enumerate().map(|(i, v)| (format!("JSON record {}", i + 1), note_from_json(v))).collect())
}

/// One record per line. A last line without its newline that does not parse was torn by an
/// interrupted write: it is dropped with a warning, as the crawler will write it again.
fn parse_jsonl(path: &Path, text: &str) -> Records {
    let mut out = Records::new();
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    let unterminated = !text.ends_with('\n');
    for (n, &(line, l)) in lines.iter().enumerate() {
        let note = match serde_json::from_str::<Value>(l) {
            Ok(v) => note_from_json(&v),
            Err(_) if unterminated && n + 1 == lines.len() => {
                tracing::warn!("{}: line {line} is incomplete (an interrupted write?); ignored", path.display());
                continue;
            }
            Err(e) => Err(RecordProblem::Json(e)),
        };
        out.push((format!("JSONL line {line}"), note));
    }
    out
}

fn parse_csv(text: &str) -> Result<Records, ExportError> {
    let mut out = Records::new();
    // `decode` has already dropped the UTF-8 BOM MediaCrawler writes (`utf-8-sig`).
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().map_err(ExportError::Csv)?.iter().map(|h| h.trim().to_string()).collect();
    // The crawler's descs hold newlines inside quoted fields, so the line a user's editor
    // shows is counted from the byte offset rather than taken from the parser's record count.
    let line_at = |pos: Option<&csv::Position>| pos.map(|p| line_of(text, p.byte() as usize));
    for (i, row) in reader.records().enumerate() {
        let at = |line: Option<usize>| match line {
            Some(line) => format!("CSV record {} (line {line})", i + 1),
            None => format!("CSV record {}", i + 1),
        };
        match row {
            Ok(row) => {
                let note = Note::from_fields(|k| {
                    headers.iter().position(|h| h == k).and_then(|c| row.get(c)).map(str::to_string)
                });
                out.push((at(line_at(row.position())), note));
            }
            Err(e) => out.push((at(line_at(e.position())), Err(RecordProblem::Csv(csv_problem(&e))))),
        }
    }
    Ok(out)
}

/// The line a record starting at `byte` is on. The parser may report a record as starting
/// on the end of the previous line (the `\n` of a CRLF), so terminators are skipped first.
fn line_of(text: &str, byte: usize) -> usize {
    let rest = text.get(byte..).unwrap_or_default();
    let start = byte + (rest.len() - rest.trim_start_matches(['\r', '\n']).len());
    text.get(..start).unwrap_or(text).matches('\n').count() + 1
}

/// A malformed CSV row in words (the position is already given by the record's place).
fn csv_problem(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        _ => e.to_string(),
    }
}

/// An error and its cause, for a [`Skipped`] reason (which is text, shown as one line).
fn with_cause(e: &dyn std::error::Error) -> String {
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Where an export's notes keep their images: beside the export file, or beside its
/// folder (`data/xhs/json/x.json` and `data/xhs/images/<id>/`).
fn export_media_bases(export: &Path) -> Vec<PathBuf> {
    let folder = export.parent();
    [folder, folder.and_then(Path::parent)].into_iter().flatten().map(Path::to_path_buf).collect()
}

/// The files of `<base>/images/<note_id>/` of the first base that has any, in natural order.
fn local_images(bases: &[PathBuf], id: &str) -> Vec<PathBuf> {
    for base in bases {
        let dir = base.join("images").join(id);
        let Ok(entries) = super::folder::sorted_entries(&dir) else { continue };
        let images: Vec<PathBuf> =
            entries.into_iter().filter(|(p, t)| !t.is_dir() && is_image_name(p)).map(|(p, _)| p).collect();
        if !images.is_empty() {
            return images;
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::super::{discover, load_text};
    use super::*;

    fn note_json(id: &str, desc: &str) -> String {
        serde_json::json!({
            "note_id": id, "type": "normal", "title": format!("标题{id}"), "desc": desc, "time": 1718000000000u64,
            "image_list": format!("http://sns-webpic-qc.xhscdn.com/{id}/a,http://sns-webpic-qc.xhscdn.com/{id}/b"),
            "tag_list": "面经,字节跳动", "note_url": format!("https://www.xiaohongshu.com/explore/{id}"),
            "liked_count": "12", "user_id": "u1", "nickname": "某人", "avatar": "", "ip_location": "北京"
        })
        .to_string()
    }

    fn write(path: &Path, bytes: impl AsRef<[u8]>) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn ids(posts: &[PostSource]) -> Vec<&str> {
        posts.iter().map(|p| p.id.as_str()).collect()
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn classifies_file_names() {
        let c = |n: &str| classify(Path::new(n));
        assert_eq!(c("search_contents_2024-06-01.jsonl"), Some(ExportFile::Contents(Format::Jsonl)));
        assert_eq!(c("detail_contents_2024-06-01.JSON"), Some(ExportFile::Contents(Format::Json)));
        assert_eq!(c("creator_contents_2024-06-01.csv"), Some(ExportFile::Contents(Format::Csv)));
        assert_eq!(c("search_comments_2024-06-01.csv"), Some(ExportFile::Comments));
        assert_eq!(c("search_contents_2024-06-01.xlsx"), None);
        assert_eq!(c("post.json"), None);
    }

    #[test]
    fn crawler_tree_gives_one_post_per_note_with_its_images() {
        let dir = tempfile::tempdir().unwrap();
        let xhs = dir.path().join("data/xhs");
        let export = format!("[{},{}]", note_json("n1", "一面：自我介绍"), note_json("n2", "二面"));
        write(&xhs.join("json/search_contents_2024-06-01.json"), export);
        write(&xhs.join("json/search_comments_2024-06-01.json"), r#"[{"comment_id":"c1","note_id":"n1"}]"#);
        write(&xhs.join("images/n1/10.jpg"), b"x");
        write(&xhs.join("images/n1/2.jpg"), b"x");
        write(&xhs.join("videos/n2/0.mp4"), b"x");
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(ids(&posts), ["n1", "n2"]);
        assert_eq!(names(&posts[0].images), ["2.jpg", "10.jpg"]);
        assert!(posts[0].pending_urls.is_empty());
        assert_eq!(posts[0].url.as_deref(), Some("https://www.xiaohongshu.com/explore/n1"));
        assert!(posts[0].path.ends_with("json/search_contents_2024-06-01.json"));
        let text = load_text(&posts[0]).unwrap();
        assert_eq!(text.title.as_deref(), Some("标题n1"));
        assert_eq!(text.body, "一面：自我介绍\n#面经 #字节跳动");
        // No local copies: the URLs are kept for a later download.
        assert!(posts[1].images.is_empty());
        assert_eq!(posts[1].pending_urls.len(), 2);
    }

    #[test]
    fn images_beside_the_export_file() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("dump/detail_contents_1.jsonl"), note_json("n9", "正文") + "\n");
        write(&dir.path().join("dump/images/n9/1.png"), b"x");
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(ids(&posts), ["n9"]);
        assert_eq!(names(&posts[0].images), ["1.png"]);
    }

    #[test]
    fn jsonl_tolerates_a_torn_last_line_and_reports_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let torn = format!(
            "{}\n{{\"note_id\": oops\n{}\n{}",
            note_json("a", "x"),
            note_json("b", "y"),
            r#"{"note_id":"c","de"#
        );
        write(&dir.path().join("jsonl/search_contents_1.jsonl"), torn);
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert_eq!(ids(&posts), ["a", "b"]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].path.ends_with("search_contents_1.jsonl"));
        assert!(skipped[0].reason.starts_with("MediaCrawler JSONL line 2: invalid JSON"), "{}", skipped[0].reason);
    }

    #[test]
    fn a_bad_record_is_reported_and_the_rest_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let export = format!(
            r#"[{}, {{"title": "无 id"}}, 7, {{"note_id": "../etc"}}, {}]"#,
            note_json("a", "x"),
            note_json("b", "y")
        );
        write(&dir.path().join("search_contents_1.json"), export);
        write(&dir.path().join("other/search_contents_2.json"), "[{\"note_id\": ");
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert_eq!(ids(&posts), ["a", "b"]);
        let reasons: Vec<&str> = skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons[..3],
            [
                "MediaCrawler JSON record 2: no `note_id`",
                "MediaCrawler JSON record 3: not a JSON object",
                "MediaCrawler JSON record 4: `note_id` \"../etc\" is not a plain name",
            ]
        );
        assert!(reasons[3].starts_with("MediaCrawler JSON export is not a JSON array"), "{reasons:?}");
        assert!(skipped[3].path.ends_with("other/search_contents_2.json"));
    }

    #[test]
    fn csv_with_bom_and_a_malformed_row() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "\u{feff}note_id,type,title,desc,time,image_list,tag_list,note_url,liked_count\r\n\
                   c1,normal,美团一面,\"自我介绍, 项目\r\n手撕 LRU\",1718000000000,,\"Java,后端\",https://x/c1,3\r\n\
                   c2,normal,短\r\n\
                   c3,video,视频,,1718000000000,,,https://x/c3,1\r\n";
        write(&dir.path().join("csv/search_contents_2024.csv"), csv);
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert_eq!(ids(&posts), ["c1", "c3"]);
        let text = load_text(&posts[0]).unwrap();
        assert_eq!(text.title.as_deref(), Some("美团一面"));
        assert_eq!(text.body, "自我介绍, 项目\n手撕 LRU\n#Java #后端");
        assert_eq!(posts[0].url.as_deref(), Some("https://x/c1"));
        assert!(posts[0].pending_urls.is_empty());
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].reason, "MediaCrawler CSV record 2 (line 4): 3 fields where the header has 9");
    }

    #[test]
    fn duplicate_notes_keep_the_longer_desc_and_any_images() {
        let dir = tempfile::tempdir().unwrap();
        let xhs = dir.path().join("xhs");
        write(&xhs.join("json/detail_contents_1.json"), format!("[{}]", note_json("d", "完整的正文，比较长")));
        write(&xhs.join("json/search_contents_1.json"), format!("[{}]", note_json("d", "短")));
        write(&xhs.join("jsonl/search_contents_1.jsonl"), note_json("d", "短") + "\n");
        let (posts, skipped) = discover(dir.path()).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(ids(&posts), ["d"]);
        assert!(load_text(&posts[0]).unwrap().body.starts_with("完整的正文"));
        assert!(posts[0].path.ends_with("detail_contents_1.json"));

        // Images found beside one dump serve the note whichever dump wins.
        write(&dir.path().join("flat/detail_contents_2.json"), format!("[{}]", note_json("e", "长长长长")));
        write(&dir.path().join("flat2/search_contents_2.json"), format!("[{}]", note_json("e", "短")));
        write(&dir.path().join("flat2/images/e/1.jpg"), b"x");
        let (posts, _) = discover(dir.path()).unwrap();
        let e = posts.iter().find(|p| p.id == "e").unwrap();
        assert!(e.path.ends_with("flat/detail_contents_2.json"));
        assert_eq!(names(&e.images), ["1.jpg"]);
        // One file for two URLs: the second is still to fetch, at its place in image_list.
        assert_eq!(e.pending_urls, [(2, "http://sns-webpic-qc.xhscdn.com/e/b".to_string())]);
    }

    #[test]
    fn media_folders_are_posts_outside_a_crawler_tree() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("images/a/1.jpg"), b"x");
        let (posts, _) = discover(dir.path()).unwrap();
        assert_eq!(ids(&posts), ["a"]);
    }

    #[test]
    fn words_and_other_platforms_are_not_posts() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        write(&data.join("xhs/jsonl/search_contents_2025-12-01.jsonl"), note_json("x1", "一面") + "\n");
        write(&data.join("xhs/words/search_comments_2025-12-01_word_cloud.png"), b"x");
        write(&data.join("xhs/words/search_comments_2025-12-01_word_freq.json"), r#"{"面经": 3}"#);
        write(&data.join("xhs/images/x1/0.jpg"), b"x");
        write(&data.join("xhs/images/x1/1.jpg"), b"x");
        let aweme = r#"[{"aweme_id": "7300", "title": "t", "desc": "d"}]"#;
        write(&data.join("douyin/json/search_contents_2025-12-01.json"), aweme);
        write(&data.join("douyin/images/7300/0.jpg"), b"x");
        write(&data.join("weibo/csv/search_contents_2025-12-01.csv"), "note_id,content\n1,x\n");
        let (posts, skipped) = discover(&data).unwrap();
        assert_eq!(ids(&posts), ["x1"]);
        assert_eq!(names(&posts[0].images), ["0.jpg", "1.jpg"]);
        let lines: Vec<(String, &str)> = skipped
            .iter()
            .map(|s| (s.path.strip_prefix(&data).unwrap().display().to_string(), s.reason.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                ("douyin".to_string(), "MediaCrawler douyin data: not Xiaohongshu notes"),
                ("weibo".to_string(), "MediaCrawler weibo data: not Xiaohongshu notes"),
            ]
        );
        assert!(skipped.iter().all(|s| !s.unreadable));

        // Pointed at the media folder itself: a usage error naming the data folder.
        let err = discover(&data.join("xhs/images")).unwrap_err();
        assert!(err.to_string().contains("downloaded media, not notes"), "{err}");
    }

    #[test]
    fn an_export_file_given_directly_and_a_broken_excel_export() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("my_notes.jsonl");
        write(&jsonl, note_json("j1", "正文") + "\n" + &note_json("j2", "正文二") + "\n");
        let (posts, skipped) = discover(&jsonl).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(ids(&posts), ["j1", "j2"]);
        assert_eq!(posts[0].published_at.as_deref(), Some("2024-06-10T06:13:20Z"));

        let comments = dir.path().join("search_comments_1.json");
        write(&comments, "[]");
        assert!(discover(&comments).unwrap_err().to_string().contains("comments, not notes"));
        let broken = dir.path().join("broken.json");
        write(&broken, "{");
        let err = discover(&broken).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: MediaCrawler JSON export", broken.display())), "{err}");

        // A broken Excel export is reported naming the file, in the walk and given directly
        // (tests/it/crawler_store.rs reads a real one).
        let xlsx = dir.path().join("data/xhs/xhs_search_20251201_120000.xlsx");
        write(&xlsx, b"PK\x03\x04");
        write(&dir.path().join("data/xhs/images/e1/0.jpg"), b"x");
        let (posts, skipped) = discover(&dir.path().join("data")).unwrap();
        assert!(posts.is_empty());
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].path, xlsx);
        assert!(skipped[0].unreadable, "{skipped:?}");
        assert!(skipped[0].reason.starts_with("cannot read the MediaCrawler Excel export: "), "{skipped:?}");
        let err = discover(&xlsx).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: cannot read the MediaCrawler Excel export", xlsx.display())), "{err}");
    }
}
