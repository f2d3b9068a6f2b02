//! The quota engine: pools of (provider, project, model), their pacing and daily counts,
//! and the Pacific-time clock daily quotas live by.

pub use crate::clock;
mod engine;
pub mod estimate;

pub use engine::{Decision, Permit, PoolId, QuotaEngine, effective_limits};
