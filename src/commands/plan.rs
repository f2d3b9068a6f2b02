//! `postmill plan`: what the pending work needs and when it can finish.

use crate::config::Config;
use crate::error::{CliError, Exit};
use std::path::Path;

pub fn plan(_cfg: &Config, _input: &Path, _output: &Path, _json: bool) -> Result<Exit, CliError> {
    Err(CliError::Usage("plan: not wired yet".into()))
}
