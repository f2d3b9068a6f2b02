//! `postmill digest`: regenerates the batch digest (`digest.md`, `digest.json`,
//! `report.html`) from the summaries in an output folder; `run` calls [`refresh`] too.

use crate::commands::CliError;
use crate::digest::{self, DigestError};
use crate::error::Exit;
use std::path::Path;

pub fn digest(output: &Path) -> Result<Exit, CliError> {
    let written = digest::generate(output).map_err(|e| match e {
        DigestError::Missing(_) => CliError::Usage(e.to_string()),
        other => CliError::Other(other.into()),
    })?;
    let skipped = match written.skipped {
        0 => String::new(),
        n => format!(" ({n} unreadable summary file(s) skipped)"),
    };
    println!("digest of {} post(s){skipped}:", written.posts);
    for f in &written.files {
        println!("  {}", f.display());
    }
    Ok(Exit::Done)
}

/// After a run: the digest over whatever summaries exist. A digest that cannot be written
/// is worth a warning, never the run's result.
pub fn refresh(output: &Path) {
    match digest::generate(output) {
        Ok(w) => eprintln!("postmill: digest of {} post(s) in {}", w.posts, output.join(digest::HTML_FILE).display()),
        Err(e) => tracing::warn!("cannot write the digest: {e}"),
    }
}
