//! One module per subcommand. Each takes the loaded config and its own arguments and
//! returns the exit code; `main` only parses and reports.

pub mod audit;
pub mod digest;
mod error;
pub mod models;
pub mod plan;
pub mod quota;
pub mod run;
pub mod status;

pub use crate::batch::{Chosen, choose};
pub use error::CliError;
