//! MediaCrawler's Excel export (`SAVE_DATA_OPTION = "excel"`, since 2025-11):
//! `data/xhs/xhs_<type>_<YYYYmmdd_HHMMSS>.xlsx`, written at the end of a crawl by
//! `store/excel_store_base.py` (followed at d6f7c5b). Its `Contents` sheet holds one note
//! per row under a header row of `local_db_item`'s keys, the same fields as the jsonl store;
//! numbers (`time`) are numeric cells. `Comments` and `Creators` are not posts.

use calamine::{Data, Reader, Xlsx, open_workbook};
use std::path::Path;

/// The notes' sheet.
const SHEET: &str = "Contents";

#[derive(Debug, thiserror::Error)]
pub(in crate::input) enum ExcelError {
    #[error("cannot read the MediaCrawler Excel export")]
    Read(#[from] calamine::XlsxError),
    #[error("MediaCrawler Excel export has no `{SHEET}` sheet (it has: {0})")]
    NoSheet(String),
}

/// One note row: its 1-based row number in the sheet and each header's text.
pub(super) struct Row {
    pub number: usize,
    pub fields: Vec<(String, Option<String>)>,
}

impl Row {
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.clone())
    }
}

/// The rows of the `Contents` sheet under its header row.
pub(super) fn read(path: &Path) -> Result<Vec<Row>, ExcelError> {
    let mut book: Xlsx<_> = open_workbook(path)?;
    let names = book.sheet_names();
    if !names.iter().any(|n| n == SHEET) {
        return Err(ExcelError::NoSheet(names.join(", ")));
    }
    let range = book.worksheet_range(SHEET)?;
    // The range starts at the first used cell: the header row, in the crawler's files.
    let first_row = range.start().map_or(0, |(row, _)| row as usize);
    let mut rows = range.rows();
    let headers: Vec<String> =
        rows.next().unwrap_or_default().iter().map(|c| text(c).unwrap_or_default().trim().to_string()).collect();
    Ok(rows
        .enumerate()
        .map(|(i, cells)| Row {
            number: first_row + i + 2,
            fields: headers.iter().cloned().zip(cells.iter().map(text)).collect(),
        })
        .collect())
}

/// A cell as the text the crawler wrote: whole numbers without a fraction (a ms `time`
/// is a float cell in the file), empty cells as none.
fn text(cell: &Data) -> Option<String> {
    match cell {
        Data::Empty => None,
        Data::String(s) => Some(s.clone()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Some((*f as i64).to_string()),
        other => Some(other.to_string()),
    }
}
