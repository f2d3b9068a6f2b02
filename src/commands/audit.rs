//! `postmill audit`: the ledger report, from the store of `--output` or from log files.

use crate::audit;
use crate::commands::CliError;
use crate::config::Config;
use crate::error::Exit;
use crate::store::Store;
use jiff::civil::Date;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

pub fn audit(
    cfg: &Config,
    output: &Path,
    since: Option<Date>,
    until: Option<Date>,
    format: Format,
    logfiles: &[PathBuf],
) -> Result<Exit, CliError> {
    let report = if logfiles.is_empty() {
        let store = Store::open_read_only(output)?;
        // Rows still `started` belong to a run that died (or is running): possibly billed.
        let records = audit::settle(store.attempts()?);
        audit::build(&records, &cfg.prices, since, until, Vec::new())
    } else {
        audit::audit_files(logfiles, &cfg.prices, since, until).map_err(|e| CliError::Usage(e.to_string()))?
    };
    let text = match format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json(),
        Format::Csv => report.to_csv(),
    };
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(Exit::Done)
}
