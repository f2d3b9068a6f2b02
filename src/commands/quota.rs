//! `postmill quota reset`: forgets recorded exhaustion and learned limits (after a tier
//! upgrade, say), so the next run tries those pools again.

use crate::commands::CliError;
use crate::error::Exit;
use crate::store::Store;
use std::path::Path;

pub fn reset(output: &Path, pool: Option<&str>) -> Result<Exit, CliError> {
    let store = Store::open(output)?;
    let n = store.reset_pools(pool).map_err(|e| CliError::Other(e.into()))?;
    println!("reset {n} pool(s){}", pool.map(|p| format!(" matching {p}")).unwrap_or_default());
    Ok(Exit::Done)
}
