//! postmill: folders of scraped posts in, structured interview summaries out, through
//! vision LLM APIs, without wasting quota or losing finished work.
//!
//! Data flows one way: [`input`] finds posts → [`store`] records their jobs →
//! [`scheduler`] runs them through the [`quota`] engine → a [`provider`] answers →
//! [`output`] writes the [`summary`]; [`pack`] groups posts into packed requests first
//! when the day's requests are the wall. [`ledger`] records every attempt; [`audit`] reads it;
//! [`digest`] reads every summary back into the batch digest.

pub mod atomic;
pub mod attempt;
pub mod audit;
pub mod batch;
pub mod blocking;
pub mod clock;
pub mod commands;
pub mod config;
pub mod digest;
pub mod error;
pub mod halt;
pub mod input;
pub mod ledger;
#[cfg(test)]
mod module_graph;
pub mod output;
pub mod pack;
pub mod pipeline;
pub mod progress;
pub mod provider;
pub mod quota;
pub mod redact;
pub mod sanitize;
pub mod scheduler;
pub mod store;
pub mod summary;
pub mod task;
