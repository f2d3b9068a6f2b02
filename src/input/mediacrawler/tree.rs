//! What the folders of a MediaCrawler project are, so that discovery makes posts of its
//! notes and of nothing else: the project root (`main.py`, `config/`, `data/`,
//! `database/`, `docs/`, `webui/`), its data folder `data/<platform>/`, and the media
//! folders under it. Followed at MediaCrawler d6f7c5b (`tools/async_file_writer.py`,
//! `store/*/`, `config/base_config.py`) and 9e8c979.

use super::{holds_exports, is_media_folder, sqlite};
use std::path::{Path, PathBuf};

/// The data folders of MediaCrawler's other platforms under `data/` (the `platform=` of
/// its file writers and media stores), and the short names of `PLATFORM`.
const OTHER_PLATFORMS: [&str; 10] =
    ["douyin", "kuaishou", "bilibili", "bili", "weibo", "tieba", "zhihu", "dy", "ks", "wb"];

/// Folders of a project that hold tools, not content, and can be very large.
const NEVER_WALKED: [&str; 5] = ["node_modules", "venv", "__pycache__", "browser_data", "site-packages"];

/// Why a folder of the project outside `data/` that looked like a post is not one.
pub(in crate::input) const PROJECT_IMAGES: &str =
    "part of the MediaCrawler project outside its data/ folder (images of its docs or web UI), not a note";

fn name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

/// Whether `dir` is a MediaCrawler project root: a `data/` folder beside the crawler's own
/// `main.py` or `config/base_config.py`, or beside its SQLite store.
pub(in crate::input) fn is_project_root(dir: &Path) -> bool {
    let has_code = dir.join("main.py").is_file() || dir.join("config").join("base_config.py").is_file();
    (has_code && dir.join("data").is_dir()) || !stores(dir).is_empty()
}

/// The SQLite stores of a project root: `database/sqlite_tables.db`, `schema/sqlite_tables.db`.
pub(in crate::input) fn stores(project: &Path) -> Vec<PathBuf> {
    sqlite::FOLDERS.iter().map(|f| project.join(f).join(sqlite::FILE_NAME)).filter(|p| p.is_file()).collect()
}

/// Whether a folder of the project root is skipped outright rather than walked for
/// what it would have made posts of.
pub(in crate::input) fn never_walked(dir: &Path) -> bool {
    NEVER_WALKED.contains(&name(dir))
}

/// Whether `dir` is the crawler's data folder of Xiaohongshu, `data/xhs/`: its
/// `images/`, `videos/` and `words/` are media even when no export file sits beside them
/// (a SQLite store keeps the notes elsewhere).
pub(in crate::input) fn is_xhs_data_folder(dir: &Path) -> bool {
    name(dir) == "xhs" && dir.parent().is_some_and(|p| name(p) == "data")
}

/// The platform of `dir` when it is another platform's MediaCrawler data folder
/// (`data/douyin/` holding `json/search_contents_….json`, `images/`, …).
pub(in crate::input) fn other_platform(dir: &Path) -> Option<&str> {
    let platform = name(dir);
    if !OTHER_PLATFORMS.contains(&platform) {
        return None;
    }
    let in_data = dir.parent().is_some_and(|p| name(p) == "data");
    let crawler_files = holds_exports(dir)
        || std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && holds_exports(&e.path()))
        });
    (in_data || crawler_files).then_some(platform)
}

/// When `dir` is one of the crawler's media folders (`data/xhs/images`), the data folder
/// the user meant: its notes' text is in the exports or the store, not in the media.
pub(in crate::input) fn media_of(dir: &Path) -> Option<&Path> {
    let parent = dir.parent()?;
    let crawler = is_xhs_data_folder(parent)
        || holds_exports(parent)
        || std::fs::read_dir(parent).is_ok_and(|entries| {
            entries.flatten().any(|e| e.file_type().is_ok_and(|t| t.is_dir()) && holds_exports(&e.path()))
        });
    (is_media_folder(dir) && crawler).then_some(parent)
}
