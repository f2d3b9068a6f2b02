//! Test support for postmill, shared by its integration tests (`tests/it/`) and its
//! examples: servers that answer like the Gemini and OpenAI-compatible APIs, in-process on
//! 127.0.0.1 (bodies, quotas, faults) and log what they were sent, and a typed builder of
//! `config.toml` files.
//!
//! A crate of its own rather than source files that each test binary and example included
//! by path: it is compiled once, and a broken import is an error here rather than in
//! whichever binary happened to include the file.
//!
//! The fixture bodies the servers answer with stay in the postmill package's
//! `tests/fixtures/`, where the unit tests of `src/` classify them too; [`fixture_path`]
//! finds them from here.

pub mod config;
pub mod gemini;
pub mod openai;

mod answer;
mod harness;

/// A file of postmill's `tests/fixtures/` (`rel` like `gemini/429-....json`).
pub fn fixture_path(rel: &str) -> std::path::PathBuf {
    // This crate lives in `testkit/` of the postmill workspace; the fixtures are the
    // postmill package's.
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(rel)
}
