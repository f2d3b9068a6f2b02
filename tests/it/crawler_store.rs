//! A MediaCrawler project folder run end to end offline (`--provider local`), built the way
//! MediaCrawler writes it, in both store generations:
//!
//! - since 2025-09 (followed at d6f7c5b, 2026-08): `database/sqlite_tables.db` created by
//!   SQLAlchemy from `database/models.py`, `image_list`/`tag_list` written through
//!   `json.dumps` of the comma-joined text (`store/xhs/_store_impl.py`);
//! - mid-2025 (followed at 9e8c979, 2025-08-14): `schema/sqlite_tables.db` from
//!   `schema/sqlite_tables.sql`, the lists plain comma-joined text.
//!
//! Around the store: `main.py`, `config/base_config.py`, `data/xhs/images/<note_id>/<n>.jpg`
//! (named from 0, `media_platform/xhs/core.py::get_note_images`), `data/xhs/words/`
//! (`tools/words.py`), `docs/static/images/` and `webui/public/logos/` (the repository's own
//! pictures). Every note is summarised once with its images and `published_at`, nothing
//! else becomes a post, and the same notes through the jsonl store and the Excel export
//! give the same summaries.

use crate::common::*;
use rusqlite::Connection;
use std::path::Path;

const TITLED: &str = "66c1a2b3c4d5e6f708192a3b";
const UNTITLED: &str = "66c1a2b3c4d5e6f708192a3c";
/// 2025-12-01T00:00:00Z and 2024-12-01T00:00:00Z, in Xiaohongshu's milliseconds.
const TITLED_TIME: i64 = 1_764_547_200_000;
const UNTITLED_TIME: i64 = 1_733_011_200_000;

/// `database/models.py::XhsNote` as SQLAlchemy 2 creates it on SQLite.
const MODELS_DDL: &str = r#"
CREATE TABLE xhs_note (
	id INTEGER NOT NULL,
	creator_hash VARCHAR(64),
	nickname TEXT,
	add_ts BIGINT,
	last_modify_ts BIGINT,
	note_id VARCHAR(255),
	type TEXT,
	title TEXT,
	"desc" TEXT,
	video_url TEXT,
	time BIGINT,
	last_update_time BIGINT,
	liked_count TEXT,
	collected_count TEXT,
	comment_count TEXT,
	share_count TEXT,
	image_list TEXT,
	tag_list TEXT,
	note_url TEXT,
	source_keyword TEXT,
	xsec_token TEXT,
	PRIMARY KEY (id)
);
CREATE INDEX ix_xhs_note_creator_hash ON xhs_note (creator_hash);
CREATE INDEX ix_xhs_note_note_id ON xhs_note (note_id);
CREATE INDEX ix_xhs_note_time ON xhs_note (time);
CREATE TABLE xhs_note_comment (
	id INTEGER NOT NULL,
	comment_id VARCHAR(255),
	note_id VARCHAR(255),
	content TEXT,
	PRIMARY KEY (id)
);
CREATE TABLE douyin_aweme (
	id INTEGER NOT NULL,
	aweme_id VARCHAR(255),
	title TEXT,
	"desc" TEXT,
	PRIMARY KEY (id)
);
"#;

/// `schema/sqlite_tables.sql` at 9e8c979 (the `xhs_note` part).
const SCHEMA_SQL: &str = r#"
CREATE TABLE xhs_note (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    nickname TEXT DEFAULT NULL,
    avatar TEXT DEFAULT NULL,
    ip_location TEXT DEFAULT NULL,
    add_ts INTEGER NOT NULL,
    last_modify_ts INTEGER NOT NULL,
    note_id TEXT NOT NULL,
    type TEXT DEFAULT NULL,
    title TEXT DEFAULT NULL,
    desc TEXT,
    video_url TEXT,
    time INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    liked_count TEXT DEFAULT NULL,
    collected_count TEXT DEFAULT NULL,
    comment_count TEXT DEFAULT NULL,
    share_count TEXT DEFAULT NULL,
    image_list TEXT,
    tag_list TEXT,
    note_url TEXT DEFAULT NULL,
    source_keyword TEXT DEFAULT '',
    xsec_token TEXT DEFAULT NULL
);
CREATE INDEX idx_xhs_note_note_id_209457 ON xhs_note(note_id);
CREATE INDEX idx_xhs_note_time_eaa910 ON xhs_note(time);
"#;

/// A note as `store/xhs/__init__.py::update_xhs_note` builds `local_db_item`.
struct Note {
    id: &'static str,
    title: Option<&'static str>,
    desc: &'static str,
    time: i64,
    images: Vec<String>,
    tags: &'static str,
}

impl Note {
    /// `note_item.get("title") or note_item.get("desc", "")[:255]`.
    fn stored_title(&self) -> String {
        self.title.map(str::to_string).unwrap_or_else(|| self.desc.chars().take(255).collect())
    }

    fn url(&self) -> String {
        format!("https://www.xiaohongshu.com/explore/{}?xsec_token=ABtok&xsec_source=pc_search", self.id)
    }

    /// The jsonl line `AsyncFileWriter.write_to_jsonl` writes (`ensure_ascii=False`).
    fn jsonl(&self) -> String {
        serde_json::json!({
            "note_id": self.id, "type": "normal", "title": self.stored_title(), "desc": self.desc,
            "video_url": "", "time": self.time, "last_update_time": self.time,
            "creator_hash": "3f9a0c1d2e4b5a69", "nickname": "面*", "liked_count": "1.2万",
            "collected_count": "300", "comment_count": "12", "share_count": "4",
            "image_list": self.images.join(","), "tag_list": self.tags,
            "last_modify_ts": 1_764_600_000_000i64, "note_url": self.url(), "source_keyword": "面经",
            "xsec_token": "ABtok"
        })
        .to_string()
    }
}

fn notes() -> Vec<Note> {
    let cdn = |id: &str, n: u8| format!("http://sns-webpic-qc.xhscdn.com/202512010000/{id}{n}!nd_dft_wlteh_webp_3");
    vec![
        Note {
            id: TITLED,
            title: Some("美团后端一面面经"),
            desc: "一面：自我介绍，项目拷打，手撕 LRU 缓存。#面经[话题]# #美团[话题]#",
            time: TITLED_TIME,
            images: vec![cdn(TITLED, 0), cdn(TITLED, 1)],
            tags: "面经,美团,后端",
        },
        Note {
            id: UNTITLED,
            title: None,
            desc: "字节二面：讲一下 Transformer，代码题螺旋矩阵 #字节跳动[话题]#",
            time: UNTITLED_TIME,
            images: Vec::new(),
            tags: "字节跳动",
        },
    ]
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The project around the store: code, docs and web UI pictures, the downloaded images and
/// the word cloud.
fn project(root: &Path) {
    write(&root.join("main.py"), "import asyncio\n");
    write(&root.join("config/base_config.py"), "PLATFORM = \"xhs\"\nSAVE_DATA_OPTION = \"sqlite\"\n");
    write(&root.join("database/__init__.py"), "");
    write(&root.join("database/models.py"), "class XhsNote(Base): ...\n");
    write(&root.join("schema/tables.sql"), "-- MySQL tables\n");
    write(&root.join("docs/static/images/xhs_login.png"), png(11));
    write(&root.join("docs/static/images/wechat_pay.jpeg"), jpeg(12));
    write(&root.join("webui/public/logos/xhs.png"), png(13));
    write(&root.join("webui/public/logos/douyin.png"), png(14));
    write(&root.join(format!("data/xhs/images/{TITLED}/0.jpg")), jpeg(20));
    write(&root.join(format!("data/xhs/images/{TITLED}/1.jpg")), jpeg(120));
    write(&root.join("data/xhs/words/search_comments_2025-12-01_word_cloud.png"), png(30));
    write(&root.join("data/xhs/words/search_comments_2025-12-01_word_freq.json"), r#"{"面经": 12}"#);
}

/// The new store: SQLAlchemy's tables, the lists through `json.dumps` (ASCII-escaped).
fn database_store(root: &Path) {
    let path = root.join("database/sqlite_tables.db");
    let db = Connection::open(&path).unwrap();
    db.execute_batch(MODELS_DDL).unwrap();
    for n in notes() {
        db.execute(
            r#"INSERT INTO xhs_note (creator_hash, nickname, add_ts, last_modify_ts, note_id, type, title, "desc",
                video_url, time, last_update_time, liked_count, collected_count, comment_count, share_count,
                image_list, tag_list, note_url, source_keyword, xsec_token)
               VALUES ('3f9a0c1d2e4b5a69', '面*', 1764600000000, 1764600000000, ?1, 'normal', ?2, ?3, '', ?4, ?4,
                '1.2万', '300', '12', '4', ?5, ?6, ?7, '面经', 'ABtok')"#,
            rusqlite::params![
                n.id,
                n.stored_title(),
                n.desc,
                n.time,
                serde_json::to_string(&n.images.join(",")).unwrap(),
                ascii_json(n.tags),
                n.url()
            ],
        )
        .unwrap();
    }
    db.execute("INSERT INTO xhs_note_comment (comment_id, note_id, content) VALUES ('c1', ?1, '同问')", [TITLED])
        .unwrap();
    db.execute("INSERT INTO douyin_aweme (aweme_id, title, \"desc\") VALUES ('7300', '抖音', '不是笔记')", []).unwrap();
}

/// Python's `json.dumps` of a string: ASCII with `\uXXXX` escapes.
fn ascii_json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.push('"');
    out
}

/// The mid-2025 store: `schema/sqlite_tables.sql`, the lists as plain comma-joined text.
fn schema_store(root: &Path) {
    let path = root.join("schema/sqlite_tables.db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = Connection::open(&path).unwrap();
    db.execute_batch(SCHEMA_SQL).unwrap();
    for n in notes() {
        db.execute(
            r#"INSERT INTO xhs_note (user_id, nickname, avatar, ip_location, add_ts, last_modify_ts, note_id, type,
                title, desc, video_url, time, last_update_time, liked_count, collected_count, comment_count,
                share_count, image_list, tag_list, note_url, source_keyword, xsec_token)
               VALUES ('5f00000000000000000000aa', '面试小能手', 'https://sns-avatar-qc.xhscdn.com/a', '北京',
                1754000000000, 1754000000000, ?1, 'normal', ?2, ?3, '', ?4, ?4, '1.2万', '300', '12', '4', ?5, ?6,
                ?7, '面经', 'ABtok')"#,
            rusqlite::params![n.id, n.stored_title(), n.desc, n.time, n.images.join(","), n.tags, n.url()],
        )
        .unwrap();
    }
}

fn run(ctx: &TestContext, input: &Path) -> std::process::Output {
    let (input, output) = (input.to_str().unwrap(), ctx.outputs());
    ctx.run(&["run", "--provider", "local", "--input", input, "--output", output.to_str().unwrap(), "--no-progress"])
}

fn summary(ctx: &TestContext, id: &str) -> serde_json::Value {
    let path = ctx.outputs().join(id).join("summary.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The post folders of the output.
fn posts(ctx: &TestContext) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(ctx.outputs())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    dirs
}

/// A summary without what differs between two runs of the same notes.
fn comparable(mut v: serde_json::Value) -> serde_json::Value {
    v["source"].as_object_mut().unwrap().remove("path");
    v["produced_by"].as_object_mut().unwrap().remove("at");
    v
}

/// Every note of the store summarised once, with its images and time; nothing else.
fn assert_notes_summarised(ctx: &TestContext, out: &std::process::Output, store: &str) {
    let err = stderr(out);
    assert_eq!(code(out), 0, "{err}");
    assert_eq!(posts(ctx), [TITLED, UNTITLED], "{err}");
    assert!(err.contains("2 post(s): 2 done, 0 failed"), "{err}");

    let titled = summary(ctx, TITLED);
    assert!(titled["source"]["path"].as_str().unwrap().ends_with(store), "{titled}");
    assert_eq!(titled["source"]["published_at"], "2025-12-01T00:00:00Z");
    assert_eq!(titled["title"], "美团后端一面面经");
    let files: Vec<&str> = titled["images"].as_array().unwrap().iter().map(|i| i["file"].as_str().unwrap()).collect();
    assert_eq!(files, ["0.jpg", "1.jpg"]);
    assert!(titled["images"].as_array().unwrap().iter().all(|i| i["status"] == "ok"), "{titled}");

    let untitled = summary(ctx, UNTITLED);
    assert_eq!(untitled["source"]["published_at"], "2024-12-01T00:00:00Z");
    // MediaCrawler's `desc[:255]` title is not the heading: it would repeat the text.
    assert!(untitled["title"].is_null(), "{untitled}");
    assert_eq!(
        untitled["source"]["url"],
        format!("https://www.xiaohongshu.com/explore/{UNTITLED}?xsec_token=ABtok&xsec_source=pc_search")
    );
    // Nothing was fetched: the images were on disk, the untitled note has none.
    assert!(!ctx.outputs().join(".postmill/media").exists());
}

/// The project's own pictures are reported, one line per folder, never made posts
/// (`docs/static/` would have been a post with its `images/`).
fn assert_project_pictures_skipped(out: &std::process::Output) {
    let err = stderr(out);
    for folder in ["docs/static:", "webui/public/logos:"] {
        let line = err.lines().find(|l| l.contains("skipped") && l.contains(folder));
        assert!(line.is_some_and(|l| l.contains("outside its data/ folder")), "{folder}:\n{err}");
    }
    assert!(!err.contains("words"), "{err}");
}

#[test]
fn a_project_with_the_database_store_gives_every_note_once_and_matches_jsonl_and_excel() {
    let ctx = TestContext::new();
    let root = ctx.root().join("MediaCrawler");
    project(&root);
    database_store(&root);
    let out = run(&ctx, &root);
    assert_notes_summarised(&ctx, &out, "database/sqlite_tables.db");
    assert_project_pictures_skipped(&out);
    let err = stderr(&out);
    assert!(err.contains("`douyin_aweme` (1 rows): not Xiaohongshu notes"), "{err}");
    let from_sqlite = [summary(&ctx, TITLED), summary(&ctx, UNTITLED)].map(comparable);

    // The same notes saved as jsonl (the default store since 2026-03) in another project.
    let jsonl_ctx = TestContext::new();
    let root = jsonl_ctx.root().join("MediaCrawler");
    project(&root);
    let lines: String = notes().iter().map(|n| n.jsonl() + "\n").collect();
    write(&root.join("data/xhs/jsonl/search_contents_2025-12-01.jsonl"), lines);
    write(&root.join("data/xhs/jsonl/search_comments_2025-12-01.jsonl"), "{\"comment_id\": \"c1\"}\n");
    let out = run(&jsonl_ctx, &root);
    assert_notes_summarised(&jsonl_ctx, &out, "search_contents_2025-12-01.jsonl");
    assert_project_pictures_skipped(&out);
    let from_jsonl = [summary(&jsonl_ctx, TITLED), summary(&jsonl_ctx, UNTITLED)].map(comparable);
    assert_eq!(from_sqlite, from_jsonl);

    // And as the Excel export, written by MediaCrawler's own ExcelStoreBase (see
    // tests/fixtures/mediacrawler/README.md).
    let excel_ctx = TestContext::new();
    let root = excel_ctx.root().join("MediaCrawler");
    project(&root);
    let name = "xhs_search_20261201_153424.xlsx";
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mediacrawler").join(name);
    std::fs::copy(fixture, root.join("data/xhs").join(name)).unwrap();
    let out = run(&excel_ctx, &root);
    assert_notes_summarised(&excel_ctx, &out, name);
    let from_excel = [summary(&excel_ctx, TITLED), summary(&excel_ctx, UNTITLED)].map(comparable);
    assert_eq!(from_sqlite, from_excel);
}

#[test]
fn the_mid_2025_schema_store_and_the_store_file_given_directly() {
    let ctx = TestContext::new();
    let root = ctx.root().join("MediaCrawler");
    project(&root);
    schema_store(&root);
    let out = run(&ctx, &root);
    assert_notes_summarised(&ctx, &out, "schema/sqlite_tables.db");
    assert_project_pictures_skipped(&out);

    // `--input` naming the store itself: the same notes, the images still found under
    // the project's data/xhs/.
    let direct = TestContext::new();
    let out = run(&direct, &root.join("schema/sqlite_tables.db"));
    assert_notes_summarised(&direct, &out, "schema/sqlite_tables.db");
    assert_eq!(comparable(summary(&ctx, TITLED)), comparable(summary(&direct, TITLED)));

    // The store is only read: the crawler can still write while (and after) we read it.
    let db = Connection::open(root.join("schema/sqlite_tables.db")).unwrap();
    db.execute("UPDATE xhs_note SET liked_count = '2万'", []).unwrap();
}

#[test]
fn input_given_as_a_file_of_another_kind_is_a_usage_error() {
    let ctx = TestContext::new();
    let notes_txt = ctx.root().join("notes.txt");
    write(&notes_txt, "一面：自我介绍");
    let out = run(&ctx, &notes_txt);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("notes.txt") && err.contains("not a folder of posts nor a MediaCrawler export"), "{err}");

    // A SQLite file that is not the crawler's store names the file and what it lacks.
    let other = ctx.root().join("other.db");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x INTEGER);").unwrap();
    let out = run(&ctx, &other);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("other.db") && err.contains("no `xhs_note` table"), "{err}");

    // The crawler's media folder is not a folder of notes.
    let images = ctx.root().join("MediaCrawler/data/xhs/images");
    project(&ctx.root().join("MediaCrawler"));
    let out = run(&ctx, &images);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("downloaded media, not notes") && err.contains("data/xhs"), "{err}");
    assert!(!ctx.outputs().join(TITLED).exists());
}
