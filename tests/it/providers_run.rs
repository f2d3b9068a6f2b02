//! The other routes end to end: offline (Tesseract + rules, the default with no key) and
//! an OpenAI-compatible server with Retry-After and a model listing.

use crate::common::*;
use postmill::summary::{Category, ImageStatus, Summary};
use postmill_testkit::config::{ConfigBuilder, Mode};
use postmill_testkit::openai::{FakeOpenAi, OpenAiConfig};
use std::time::Duration;

fn summary(ctx: &TestContext, id: &str) -> Summary {
    serde_json::from_str(&std::fs::read_to_string(ctx.outputs().join(id).join("summary.json")).unwrap()).unwrap()
}

#[test]
fn offline_by_default_on_the_sample_inputs() {
    let ctx = TestContext::new();
    ctx.copy_sample_inputs();
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seed = summary(&ctx, "meituan-llm-app-algo");
    assert_eq!(seed.produced_by.provider, "local");
    assert_eq!(seed.extract.company.as_deref(), Some("美团"));
    let rounds: Vec<&str> = seed.extract.rounds.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(rounds, ["一面", "二面"]);
    let questions: Vec<Category> =
        seed.extract.rounds.iter().flat_map(|r| r.questions.iter().map(|q| q.category)).collect();
    assert_eq!(questions.len(), 24);
    let count = |c| questions.iter().filter(|&&q| q == c).count();
    assert_eq!(
        [count(Category::SelfIntro), count(Category::Fundamentals), count(Category::Project), count(Category::Coding)],
        [2, 5, 15, 2]
    );
    assert!(seed.extract.coding_problems.iter().any(|p| p.leetcode == Some(54)));
    // The rendered screenshots were read by Tesseract.
    let with_images = summary(&ctx, "xhs-bytedance-agent-r1");
    assert!(
        with_images
            .images
            .iter()
            .all(|i| i.status == ImageStatus::Ok && i.text.as_deref().is_some_and(|t| !t.is_empty()))
    );
    assert!(ctx.outputs().join("xhs-bytedance-agent-r1/ocr/image_1.txt").is_file());
}

#[test]
fn missing_tesseract_stops_the_run_before_anything_then_a_fixed_setup_reads_the_images() {
    let ctx = TestContext::new();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocr/small-text.png");
    ctx.post("p", Some("美团一面：自我介绍"), &[("shot.png", std::fs::read(&fixture).unwrap())]);
    ctx.config(&ConfigBuilder::new().tesseract("/nonexistent/tesseract").build());
    let first = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&first), 2, "{}", stderr(&first));
    assert!(stderr(&first).contains("tesseract-ocr-chi-sim"), "{}", stderr(&first));
    assert!(!ctx.outputs().join("p/summary.json").exists(), "nothing is processed");

    ctx.config("");
    let second = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let s = summary(&ctx, "p");
    assert_eq!(s.images[0].status, ImageStatus::Ok);
    assert_eq!(s.extract.company.as_deref(), Some("美团"));
    assert!(ctx.outputs().join("p/ocr/shot.txt").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_compatible_batch_honours_retry_after_and_the_listing() {
    let server = FakeOpenAi::start(
        OpenAiConfig::default()
            .key("sk-test-openai-key-000000", "team", "acct")
            .models(["qwen-vl-plus"])
            .rpm("qwen-vl-plus", 2)
            .minute(Duration::from_secs(2)),
    )
    .await;
    let ctx = TestContext::new().env("TEST_OPENAI", "sk-test-openai-key-000000");
    ctx.config(
        &ConfigBuilder::openai(&server.base_url())
            .mode(Mode::Combined)
            .concurrency(2)
            .ocr_models(["qwen-vl-plus"])
            .summary_models(["not-served-anywhere", "qwen-vl-plus"])
            .key("team", "TEST_OPENAI", "acct")
            .build(),
    );
    for i in 0..3 {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇 一面：自我介绍")), &[("1.png", png(i as u8))]);
    }
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(server.count_status(429) >= 1, "the test must provoke a Retry-After");
    assert!(server.early_requests().is_empty(), "a request came before its Retry-After");
    assert_eq!(server.requests_to("not-served-anywhere"), 0);
    for i in 0..3 {
        let s = summary(&ctx, &format!("p{i}"));
        assert_eq!(s.produced_by.provider, "openai");
        assert_eq!(s.images[0].status, ImageStatus::Ok);
    }
    let audit = ctx.run(&["audit", "--format", "json"]);
    assert!(!String::from_utf8_lossy(&audit.stdout).contains("sk-test"));
    for (p, b) in ctx.all_output_bytes() {
        assert!(!String::from_utf8_lossy(&b).contains("sk-test-openai"), "{}", p.display());
    }
}

#[test]
fn a_folder_that_is_no_post_is_reported_not_failed() {
    let ctx = TestContext::new();
    ctx.post("p", Some("美团一面：自我介绍"), &[]);
    std::fs::create_dir_all(ctx.inputs().join("empty-folder")).unwrap();
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("empty-folder"), "{}", stderr(&out));
    assert!(ctx.outputs().join("p/summary.json").is_file());
}

/// On a terminal the progress bar is drawn and every log line steps around it; a failing
/// post logs while the bar is live, which once deadlocked. `script` gives the run a TTY.
#[test]
fn progress_bar_on_a_terminal_with_failures_and_logs() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) is not installed; skipping");
        return;
    }
    let ctx = TestContext::new();
    ctx.post("good", Some("美团一面：自我介绍"), &[]);
    std::fs::create_dir_all(ctx.inputs().join("binary")).unwrap();
    std::fs::write(ctx.inputs().join("binary/post.txt"), [0xffu8, 0x00, 0xfe]).unwrap();
    let bin = env!("CARGO_BIN_EXE_postmill");
    let mut child = std::process::Command::new("script")
        .current_dir(ctx.root())
        .args(["-qec", &format!("{bin} run"), "/dev/null"])
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A liveness guard, not a speed check: a deadlocked run never ends.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("postmill hung with a progress bar on a terminal");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    assert!(ctx.outputs().join("good/summary.json").is_file());
}
