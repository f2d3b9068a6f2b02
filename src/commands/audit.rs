//! `postmill audit`: the ledger report, from the store of `--output` or from log files.

use crate::config::Config;
use crate::error::{CliError, Exit};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub fn audit(
    _cfg: &Config,
    _output: &Path,
    _since: Option<jiff::civil::Date>,
    _until: Option<jiff::civil::Date>,
    _format: Format,
    _logfiles: &[PathBuf],
) -> Result<Exit, CliError> {
    Err(CliError::Usage("audit: not wired yet".into()))
}
