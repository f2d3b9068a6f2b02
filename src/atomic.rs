//! Atomic file writes: every file a user keeps is written to a temp file in its folder,
//! fsynced, renamed over the old one, and the folder fsynced, so a reader or a crash only
//! ever sees a whole old file or a whole new one.
//!
//! Files get the mode every Unix tool gives (0666 less the umask: 0644 by default), so a
//! shared or served output folder is readable. A run killed mid-write leaves a
//! `.tmp-XXXXXX` file behind; the next run removes those (only names of that exact shape).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written. A leaf: the message names the path and the OS error
/// once, and there is no further cause to print.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {error}")]
pub struct OutputError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// The prefix of every temp file postmill writes; followed by [`TEMP_RANDOM`] letters or digits.
const TEMP_PREFIX: &str = ".tmp-";
/// tempfile's default length of the random part.
const TEMP_RANDOM: usize = 6;

/// Whether `name` is one of postmill's own temp files (and nothing a user could have named).
pub fn is_own_temp(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .is_some_and(|rest| rest.len() == TEMP_RANDOM && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes the temp files a killed run left in `output`, its post folders and their `ocr/`
/// folders (where posts and the digest are written). Returns how many were removed.
pub fn remove_stale_temps(output: &Path) -> usize {
    let mut dirs = vec![output.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(output) {
        for e in entries.flatten() {
            let name = e.file_name();
            if e.file_type().is_ok_and(|t| t.is_dir()) && name != ".postmill" {
                dirs.push(e.path().join("ocr"));
                dirs.push(e.path());
            }
        }
    }
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file())
                && is_own_temp(&e.file_name().to_string_lossy())
                && std::fs::remove_file(e.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
    removed
}

/// Writes `bytes` to `path` atomically; a file already holding exactly these bytes is left
/// alone, so rerunning over finished work touches nothing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<bool, OutputError> {
    let err = |error| OutputError { path: path.to_path_buf(), error: plain(error) };
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    // Asked for 0666, created with 0666 less the umask, as `open(2)` does for every tool.
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o666);
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .rand_bytes(TEMP_RANDOM)
        .permissions(mode)
        .tempfile_in(dir)
        .map_err(err)?;
    // Through the file itself: the temp file's own `Write` adds its path to every error.
    tmp.as_file_mut().write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    // The rename itself is durable only once the folder's entry is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// The OS error itself: tempfile wraps the errors of creating a temp file with the temp
/// file's path, a name the user never sees (the message names the real file).
fn plain(e: std::io::Error) -> std::io::Error {
    match e.get_ref().map(ToString::to_string) {
        Some(text) if text.contains(" at path ") => {
            let cause = text.split(" at path ").next().unwrap_or_default().to_string();
            std::io::Error::new(e.kind(), cause)
        }
        _ => e,
    }
}
