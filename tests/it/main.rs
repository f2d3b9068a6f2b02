//! postmill's integration tests, as one binary: each module was a file of its own under
//! `tests/` and a binary of its own, which re-compiled the shared support and re-linked the
//! crate once per file. A new area of tests is a new module here.
//!
//! Most modules drive the real `postmill` binary through [`common::TestContext`], some
//! against the fake servers of `postmill-testkit` (`testkit/`); fixtures are read from
//! `tests/fixtures/` through `CARGO_MANIFEST_DIR`.

mod common;

mod audit;
mod config_builder;
mod crawler_store;
mod digest_run;
mod durable;
mod extract_quality;
mod fake_servers;
mod gemini_run;
mod images_run;
mod local_extractor;
mod local_ocr;
mod mediacrawler_fetch;
mod mediacrawler_run;
mod openai_provider;
mod packed_run;
mod plan;
mod providers_run;
mod quota_run;
mod report_browser;
mod services_run;
