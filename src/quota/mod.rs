//! The quota engine: pools of (provider, project, model), their pacing and daily counts,
//! and what each answer teaches about them.

pub mod classify;
pub mod clock;
