//! Tests of the fake servers themselves.
mod support;
use support::gemini::{FakeGemini, GeminiConfig};
#[tokio::test]
async fn smoke() {
    let s = FakeGemini::start(GeminiConfig::default()).await;
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
}
