//! MediaCrawler's SQLite store (`SAVE_DATA_OPTION = "sqlite"`): table `xhs_note` of
//! `<project>/database/sqlite_tables.db` (since 2025-09, SQLAlchemy models in
//! `database/models.py`) or `<project>/schema/sqlite_tables.db` (mid-2025, hand-written
//! `schema/sqlite_tables.sql`). Followed at MediaCrawler d6f7c5b and 9e8c979.
//!
//! The crawler may be writing while postmill reads, so the file is opened read-only (no
//! journal, no WAL file is ever created or written by us), with a busy timeout rather than
//! an error when a write holds the lock, and all rows are read in one statement so the
//! shared lock is held for as short a time as possible. Not `immutable`: that would let a
//! read race a write and see a torn page.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// The store's file name, in `database/` (new) or `schema/` (mid-2025) of the project.
pub(super) const FILE_NAME: &str = "sqlite_tables.db";
/// The folders of a MediaCrawler project that hold [`FILE_NAME`].
pub(super) const FOLDERS: [&str; 2] = ["database", "schema"];
/// How long to wait for the crawler's write to finish before giving up on the store.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The notes table.
const TABLE: &str = "xhs_note";
/// Other platforms' content tables: present in every MediaCrawler store, reported when
/// they hold rows, never read.
const OTHER_TABLES: [&str; 7] =
    ["douyin_aweme", "kuaishou_video", "bilibili_video", "weibo_note", "tieba_note", "zhihu_content", "zhihu_answer"];

/// Why the store could not be read.
#[derive(Debug, thiserror::Error)]
pub(in crate::input) enum StoreError {
    #[error("cannot read MediaCrawler's SQLite store")]
    Sqlite(#[from] rusqlite::Error),
    #[error("not a MediaCrawler SQLite store: it has no `{TABLE}` table")]
    NoNotesTable,
}

/// One row: its rowid and each column's text (numbers as written, NULL as none).
pub(super) struct Row {
    pub rowid: i64,
    pub fields: Vec<(String, Option<String>)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone())
    }
}

/// What the store holds: the note rows, and other platforms' tables that have rows.
pub(super) struct Contents {
    pub notes: Vec<Row>,
    pub others: Vec<(String, i64)>,
}

/// Reads every row of `xhs_note`, in insertion order.
pub(super) fn read(path: &Path) -> Result<Contents, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !tables.iter().any(|t| t == TABLE) {
        return Err(StoreError::NoNotesTable);
    }
    let mut others = Vec::new();
    for table in OTHER_TABLES.iter().filter(|t| tables.iter().any(|x| x == *t)) {
        let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| r.get(0))?;
        if rows > 0 {
            others.push((table.to_string(), rows));
        }
    }
    let mut stmt = conn.prepare(&format!("SELECT rowid, * FROM \"{TABLE}\" ORDER BY rowid"))?;
    let names: Vec<String> = stmt.column_names().skip(1).map(|s| s.to_string()).collect();
    let notes = stmt
        .query_map([], |r| {
            let mut fields = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                fields.push((name.clone(), text(r.get_ref(i + 1)?)));
            }
            Ok(Row { rowid: r.get(0)?, fields })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Contents { notes, others })
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}
