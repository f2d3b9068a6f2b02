//! `postmill run`: a thin adapter over [`crate::batch::Batch`]. It wires Ctrl-C to the
//! batch, runs it, and refreshes the digest over whatever summaries exist.

use crate::batch::Batch;
pub use crate::batch::RunArgs;
use crate::commands::CliError;
use crate::config::Config;
use crate::error::Exit;

pub async fn run(cfg: &Config, args: RunArgs) -> Result<Exit, CliError> {
    let mut batch = Batch::open(cfg, args).await?;
    batch.interrupt_on(ctrl_c());
    if let Some(exit) = batch.resolve().await? {
        return Ok(exit);
    }
    let report = batch.execute().await;
    let exit = batch.finish(report)?;
    // Not after Ctrl-C (the user wants out) nor a write failure (the disk takes nothing).
    if !matches!(exit, Exit::Interrupted | Exit::Io) {
        super::digest::refresh(batch.output());
    }
    Ok(exit)
}

/// Every Ctrl-C the process gets, as a stream; it ends if the handler cannot be installed.
fn ctrl_c() -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((), |()| async { tokio::signal::ctrl_c().await.ok().map(|()| ((), ())) })
}
