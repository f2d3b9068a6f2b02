//! The output folder: `<post>/summary.json`, `summary.md`, `ocr/<stem>.txt`, each written
//! atomically (temp file in the same folder, fsync, rename, fsync of the folder), so a
//! reader or a crash only ever sees a whole old file or a whole new one.

use crate::summary::{ImageStatus, Summary, markdown};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically; a file already holding exactly these bytes is left
/// alone, so rerunning over finished work touches nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<bool, OutputError> {
    let err = |source| OutputError { path: path.to_path_buf(), source };
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // The rename itself is durable only once the folder's entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// Where a post's files go.
pub fn post_dir(output: &Path, safe_id: &str) -> PathBuf {
    output.join(safe_id)
}

/// The OCR file name of each image: its stem, or its whole name where two images of a
/// post share a stem (`a.jpg` and `a.png`).
pub fn ocr_names(files: &[&str]) -> Vec<String> {
    let stem = |f: &str| Path::new(f).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    files
        .iter()
        .map(|f| {
            let s = stem(f);
            let shared = files.iter().filter(|g| stem(g) == s).count() > 1;
            if shared { format!("{f}.txt") } else { format!("{s}.txt") }
        })
        .collect()
}

/// Writes all of a post's outputs. Returns whether anything changed on disk.
pub fn write_post(output: &Path, safe_id: &str, summary: &Summary) -> Result<bool, OutputError> {
    let dir = post_dir(output, safe_id);
    let mut changed = false;
    let files: Vec<&str> = summary.images.iter().map(|i| i.file.as_str()).collect();
    for (image, name) in summary.images.iter().zip(ocr_names(&files)) {
        if let (ImageStatus::Ok, Some(text)) = (image.status, &image.text) {
            changed |= write_atomic(&dir.join("ocr").join(name), text.as_bytes())?;
        }
    }
    let mut json = serde_json::to_string_pretty(summary).expect("summary serialises");
    json.push('\n');
    changed |= write_atomic(&dir.join("summary.md"), markdown::render(summary).as_bytes())?;
    // summary.json last: its presence means the post's outputs are complete.
    changed |= write_atomic(&dir.join("summary.json"), json.as_bytes())?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_idempotence() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.txt");
        assert!(write_atomic(&p, b"x").unwrap());
        assert!(!write_atomic(&p, b"x").unwrap());
        assert!(write_atomic(&p, b"y").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn ocr_names_avoid_collisions() {
        assert_eq!(ocr_names(&["image_1.jpg", "a.jpg", "a.png"]), ["image_1.txt", "a.jpg.txt", "a.png.txt"]);
    }
}
