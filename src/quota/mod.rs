//! The quota engine: pools of (provider, project, model), their pacing and daily counts,
//! and the Pacific-time clock daily quotas live by.
//!
//! - `engine`: [`QuotaEngine`], the lock around the pools and keys, store reads and writes;
//! - `pool`: one pool's state and its pure `check` (ready, wait until, exhausted until);
//! - `pacing`: per-minute request (governor GCRA on tokio time) and token pacing;
//! - `breaker`: a pool's circuit breaker;
//! - `keyring`: keys per project, rotation, keys disabled for the run.

mod breaker;
pub use crate::clock;
mod engine;
pub mod estimate;
mod keyring;
mod pacing;
mod pool;

pub use engine::{Decision, Permit, QuotaEngine};
pub use pool::{PoolId, effective_limits};
