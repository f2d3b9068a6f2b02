//! The pipeline end to end against the fake Gemini server: summaries out, one request per
//! post in combined mode, nothing resent on a rerun, nothing lost to a kill -9, no key
//! anywhere.

use crate::common::*;
use postmill::summary::{ImageStatus, Summary};
use postmill_testkit::config::ConfigBuilder;
use postmill_testkit::gemini::{FakeGemini, Fault, GeminiConfig, Limits};

/// The usual setup; a test changes a setting by calling its method again.
fn gemini_config(base_url: &str) -> ConfigBuilder {
    ConfigBuilder::gemini(base_url)
        .concurrency(2)
        .ocr_models(["gemini-2.5-flash-lite"])
        .summary_models(["gemini-2.5-flash", "gemini-2.5-flash-lite"])
        .request_timeout_s(5)
        .key("alpha", "TEST_KEY_A", "proj-1")
}

async fn server() -> FakeGemini {
    FakeGemini::start(GeminiConfig::default().key(KEY_A, "alpha", "proj-1").key(KEY_B, "bravo", "proj-1")).await
}

fn three_posts(ctx: &TestContext) {
    ctx.post("text-only", Some(SEED_POST), &[]);
    ctx.post(
        "with-images",
        Some("字节一面\n八股：什么是RAG？"),
        &[("image_2.png", png(2)), ("image_10.jpg", jpeg(10))],
    );
    ctx.post("images-only", None, &[("1.png", png(7))]);
}

fn generate_requests(s: &FakeGemini) -> usize {
    s.requests().iter().filter(|r| r.path.contains(":generateContent")).count()
}

fn read_summary(ctx: &TestContext, id: &str) -> Summary {
    let text = std::fs::read_to_string(ctx.outputs().join(id).join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combined_run_then_rerun_sends_nothing() {
    let s = server().await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    three_posts(&ctx);

    let first = ctx.run(&["run", "--mode", "combined", "--no-progress"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    // Exactly one generation request per post.
    assert_eq!(generate_requests(&s), 3);
    assert_eq!(s.key_in_url_count(), 0, "the key must travel in the header");
    for id in ["text-only", "with-images", "images-only"] {
        let summary = read_summary(&ctx, id);
        assert_eq!(summary.schema_version, 2);
        let provenance = summary.provenance.as_ref().expect("a v2 summary names its job");
        assert!(provenance.job.starts_with("combined:"), "{provenance:?}");
        assert_eq!(provenance.inputs_sha256.len(), 64);
        assert_eq!(summary.post_id, id);
        assert_eq!(summary.produced_by.provider, "gemini");
        assert!(ctx.outputs().join(id).join("summary.md").is_file());
        for image in &summary.images {
            assert_eq!(image.status, ImageStatus::Ok, "{id}/{}", image.file);
            let stem = std::path::Path::new(&image.file).file_stem().unwrap().to_str().unwrap();
            assert!(ctx.outputs().join(id).join("ocr").join(format!("{stem}.txt")).is_file());
        }
    }
    // Images in natural order, input-derived fields from the input.
    let s2 = read_summary(&ctx, "with-images");
    assert_eq!(s2.images.iter().map(|i| i.file.as_str()).collect::<Vec<_>>(), ["image_2.png", "image_10.jpg"]);
    assert_eq!(s2.title.as_deref(), Some("字节一面"));

    let before = s.requests().len();
    let second = ctx.run(&["run", "--mode", "combined", "--no-progress"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(s.requests().len(), before, "a rerun over finished work sends nothing, ListModels included");

    // Summaries an earlier version wrote (schema_version 1: no provenance, no published_at)
    // are re-rendered as version 2 from the store, without a request.
    for id in ["text-only", "with-images"] {
        let path = ctx.outputs().join(id).join("summary.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["schema_version"] = 1.into();
        v.as_object_mut().unwrap().remove("provenance");
        v["source"].as_object_mut().unwrap().remove("published_at");
        std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
    let third = ctx.run(&["run", "--mode", "combined", "--no-progress"]);
    assert_eq!(code(&third), 0, "{}", stderr(&third));
    assert_eq!(s.requests().len(), before, "re-rendering a version 1 summary sends nothing");
    for id in ["text-only", "with-images"] {
        let summary = read_summary(&ctx, id);
        assert_eq!(summary.schema_version, 2, "{id}");
        assert!(summary.provenance.is_some(), "{id}");
    }

    let status = ctx.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["counts"]["done"], 3);
    assert_no_secrets(&ctx, &[&first, &second, &status]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_mode_reads_identical_images_once() {
    let s = server().await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    ctx.post("a", Some("一面：自我介绍"), &[("1.png", png(1)), ("2.png", png(2))]);
    ctx.post("b", Some("二面：项目"), &[("same-as-a1.png", png(1))]);
    let out = ctx.run(&["run", "--mode", "split", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ocr = s.requests().iter().filter(|r| r.images == 1 && r.path.contains(":generateContent")).count();
    assert_eq!(ocr, 2, "two distinct images, read once each");
    assert_eq!(generate_requests(&s), 4, "2 OCR + 2 summaries");
    let b = read_summary(&ctx, "b");
    assert_eq!(b.images[0].status, ImageStatus::Ok);
    assert_eq!(b.images[0].text, read_summary(&ctx, "a").images[0].text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_input_is_redone_and_only_it() {
    let s = server().await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    // A retired model first in the list: every run must still validate before sending.
    ctx.config(&gemini_config(&s.base_url()).summary_models(["gemini-1.5-flash", "gemini-2.5-flash"]).build());
    ctx.post("a", Some("一面：自我介绍"), &[]);
    ctx.post("b", Some("二面：项目"), &[]);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    let n = generate_requests(&s);
    assert_eq!(n, 2);
    std::fs::write(ctx.inputs().join("b/post.md"), "二面：项目，改过了").unwrap();
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    assert_eq!(generate_requests(&s), n + 1);
    assert_eq!(s.requests_to("gemini-1.5-flash"), 0);
    // Touching a file without changing it costs a look, not a request.
    std::fs::write(ctx.inputs().join("a/post.md"), "一面：自我介绍").unwrap();
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    assert_eq!(generate_requests(&s), n + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_are_retried_and_bad_input_is_reported() {
    let s = server().await;
    s.push_faults("gemini-2.5-flash", [Fault::Overloaded, Fault::TruncatedBody, Fault::Internal]);
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    ctx.post("good", Some("一面：自我介绍"), &[("broken.png", b"not an image at all".to_vec())]);
    let gbk = encoding_rs::GBK.encode("美团二面：八股").0.into_owned();
    std::fs::create_dir_all(ctx.inputs().join("gbk")).unwrap();
    std::fs::write(ctx.inputs().join("gbk/post.txt"), gbk).unwrap();
    std::fs::create_dir_all(ctx.inputs().join("binary")).unwrap();
    std::fs::write(ctx.inputs().join("binary/post.txt"), [0xffu8, 0x00, 0xfe, 0x01]).unwrap();
    let out = ctx.run(&["run", "--no-progress", "--concurrency", "1"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("binary") && err.contains("post.txt"), "the error names post and file: {err}");
    let good = read_summary(&ctx, "good");
    assert_eq!(good.images[0].status, ImageStatus::Failed);
    assert!(good.images[0].error.as_deref().unwrap().contains("broken.png"));
    assert_eq!(read_summary(&ctx, "gbk").title.as_deref(), Some("美团二面：八股"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_output_refuses() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "alpha", "proj-1").latency(std::time::Duration::from_millis(1500)),
    )
    .await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    ctx.post("a", Some("一面：自我介绍"), &[]);
    let mut first = ctx.command(&["run", "--no-progress"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let second = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(stderr(&second).contains("another postmill run"), "{}", stderr(&second));
    assert!(first.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_rerun_loses_nothing_and_repeats_at_most_the_in_flight() {
    use std::time::Duration;
    let s =
        FakeGemini::start(GeminiConfig::default().key(KEY_A, "alpha", "proj-1").latency(Duration::from_millis(250)))
            .await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    let posts = 20;
    for i in 0..posts {
        ctx.post(&format!("p{i:02}"), Some(&format!("第{i}篇 一面：自我介绍")), &[]);
    }
    let mut sent_before_kills = Vec::new();
    for kill_after in [450u64, 700, 1000] {
        let mut child = ctx.command(&["run", "--no-progress", "--concurrency", "2"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(kill_after));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        sent_before_kills.push(generate_requests(&s));
    }
    let before_last = generate_requests(&s);
    let out = ctx.run(&["run", "--no-progress", "--concurrency", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for i in 0..posts {
        let s = read_summary(&ctx, &format!("p{i:02}"));
        assert_eq!(s.post_id, format!("p{i:02}"));
    }
    // The kills really cut the batch short: the last run still had work to do.
    assert!(generate_requests(&s) > before_last, "kills came too late to test anything: {sent_before_kills:?}");
    // Each kill can repeat at most the requests in flight then (2 at concurrency 2).
    let gens = generate_requests(&s);
    assert!(gens <= posts + 3 * 2, "{gens} generation requests for {posts} posts");
    // No stray temp files.
    for (p, _) in ctx.all_output_bytes() {
        assert!(!p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"), "{}", p.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_model_is_dropped_before_anything_is_sent() {
    let s = server().await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    let cfg = gemini_config(&s.base_url()).summary_models(["gemini-1.5-flash"]).build();
    ctx.config(&cfg);
    ctx.post("a", Some("一面"), &[]);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("gemini-1.5-flash"));
    assert_eq!(generate_requests(&s), 0);
    let _ = Limits::default();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_in_flight_requests_finish_and_nothing_is_repeated() {
    use std::time::Duration;
    let s =
        FakeGemini::start(GeminiConfig::default().key(KEY_A, "alpha", "proj-1").latency(Duration::from_millis(800)))
            .await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    let posts = 8;
    for i in 0..posts {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇 一面：自我介绍")), &[]);
    }
    // Last in natural order, and unreadable: a run that still read posts after Ctrl-C
    // would report it failed.
    ctx.post("zz-broken", None, &[("image_1.png", b"not an image".to_vec())]);
    let child = ctx.command(&["run", "--no-progress", "--concurrency", "2"]).spawn().unwrap();
    // Once a request has reached the server the run handles Ctrl-C (a fixed sleep could
    // signal a slow start before its handler is installed, on a loaded machine).
    let start = std::time::Instant::now();
    while generate_requests(&s) == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let first = child.wait_with_output().unwrap();
    assert_eq!(code(&first), 130, "{}", stderr(&first));
    let after_interrupt = generate_requests(&s);
    assert!(after_interrupt < posts, "the interrupt came too late to test anything");
    assert!(!stderr(&first).contains("zz-broken"), "a post after Ctrl-C was still read: {}", stderr(&first));
    // The store is consistent and readable; the post never reached waits, not failed.
    let status = ctx.run(&["status", "--json"]);
    assert_eq!(code(&status), 0);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["counts"]["failed"].as_u64().unwrap_or(0), 0, "{v}");
    std::fs::remove_dir_all(ctx.inputs().join("zz-broken")).unwrap();
    let out = ctx.run(&["run", "--no-progress", "--concurrency", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // In-flight requests finished and were kept: not one request is repeated.
    assert_eq!(generate_requests(&s), posts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_retry_failed_and_permanent_failures() {
    let s = server().await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()).build());
    ctx.post("a", Some("一面：自我介绍"), &[]);
    ctx.post("b", Some("二面：项目"), &[]);
    let out = ctx.run(&["run", "--no-progress", "--only", "a"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ctx.outputs().join("a/summary.json").is_file());
    assert!(!ctx.outputs().join("b").exists());

    // b is blocked on every model: the next model once, then a permanent failure.
    s.set_always("gemini-2.5-flash", Some(Fault::Blocked));
    s.set_always("gemini-2.5-flash-lite", Some(Fault::Blocked));
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("blocked"), "{}", stderr(&out));
    let n = generate_requests(&s);
    assert_eq!(n, 3, "a once, b on each model once");
    let status = ctx.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["failed"][0]["post_id"], "b");

    // A permanent failure is not retried by a plain rerun...
    s.set_always("gemini-2.5-flash", None);
    s.set_always("gemini-2.5-flash-lite", None);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 1);
    assert_eq!(generate_requests(&s), n);
    // ...but is with --retry-failed.
    let out = ctx.run(&["run", "--no-progress", "--retry-failed"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(generate_requests(&s), n + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_follows_every_page_and_names_the_closest_model() {
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "alpha", "proj-1").max_page_size(2)).await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    let cfg = gemini_config(&s.base_url())
        .ocr_models(["gemini-2.5-flash-lite", "gemini-1.5-flash", "text-embedding-004"])
        .build();
    ctx.config(&cfg);
    let out = ctx.run(&["models", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Five models at two a page: three pages, each followed.
    assert_eq!(s.list_model_requests(), 3);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ocr = &v["stages"][0];
    assert_eq!(ocr["kept"], serde_json::json!(["gemini-2.5-flash-lite"]));
    let dropped: Vec<&str> = ocr["dropped"].as_array().unwrap().iter().map(|d| d["model"].as_str().unwrap()).collect();
    assert_eq!(
        dropped,
        ["gemini-1.5-flash", "text-embedding-004"],
        "listed but not for generateContent is dropped too"
    );
    assert_eq!(ocr["dropped"][0]["closest"], "gemini-2.5-flash");
    assert_eq!(v["served"].as_array().unwrap().len(), 4, "only models that generate");
    let table = ctx.run(&["models"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("DROPPED") && text.contains("closest: gemini-2.5-flash"), "{text}");
    assert_no_secrets(&ctx, &[&out, &table]);
}

/// `run --wait` waiting for a quota reset hours away stops at once on Ctrl-C (exit 130),
/// with the deferred work kept for the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_wait_for_the_quota_reset() {
    use std::time::{Duration, Instant};
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "alpha", "proj-1")).await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(
        &gemini_config(&s.base_url())
            .concurrency(1)
            .limits("gemini-2.5-flash", Limits::default().rpd(1))
            .limits("gemini-2.5-flash-lite", Limits::default().rpd(1))
            .build(),
    );
    for i in 0..3 {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇 一面：自我介绍")), &[]);
    }
    let mut child = ctx
        .command(&["run", "--no-progress", "--wait", "--mode", "combined"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Two posts done (one per model), the third waits for the next Pacific midnight.
    let start = Instant::now();
    while generate_requests(&s) < 2 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "the run must be waiting for the reset");
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let asked = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(10), "Ctrl-C must end the wait, took {:?}", asked.elapsed());
    let err = stderr(&out);
    assert_eq!(code(&out), 130, "{err}");
    assert!(err.contains("waiting for the quota reset"), "{err}");
    assert_eq!(generate_requests(&s), 2, "nothing more was sent");
}
