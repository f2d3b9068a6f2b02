//! The quota engine end to end: the seed log's scenario replayed against the fake server,
//! and per-minute refusals whose retryDelay must be honoured.

use crate::common::*;
use postmill_testkit::config::{ConfigBuilder, Mode};
use postmill_testkit::gemini::{FakeGemini, GeminiConfig, Limits};
use std::time::Duration;

/// The seed scenario: two keys of ONE project, a fallback list ending in a retired model,
/// a daily quota that runs out mid-batch.
fn seed_config(base_url: &str) -> String {
    one_key(base_url, "one-project", &["gemini-2.5-flash-lite", "gemini-1.5-flash"])
        .mode(Mode::Split)
        .key("second", "TEST_KEY_B", "one-project")
        .build()
}

/// Combined mode, `models` for both stages, one key ("first") of `project`.
fn one_key(base_url: &str, project: &str, models: &[&str]) -> ConfigBuilder {
    ConfigBuilder::gemini(base_url).mode(Mode::Combined).concurrency(2).models(models).request_timeout_s(5).key(
        "first",
        "TEST_KEY_A",
        project,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_defers_instead_of_wasting() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one-project").key(KEY_B, "second", "one-project").limits(
            "one-project",
            "gemini-2.5-flash-lite",
            Limits::default().rpd(3),
        ),
    )
    .await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A).env("TEST_KEY_B", KEY_B);
    ctx.config(&seed_config(&s.base_url()));
    ctx.post(
        "meituan",
        Some(SEED_POST),
        &[("image_1.jpg", jpeg(1)), ("image_2.jpg", jpeg(2)), ("image_3.jpg", jpeg(3)), ("image_4.jpg", jpeg(4))],
    );
    ctx.post("second-post", Some("二面：八股"), &[]);

    let first = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&first);
    assert_eq!(code(&first), 75, "{err}");
    assert_eq!(s.requests_to("gemini-1.5-flash"), 0, "no request to a model ListModels does not list");
    let refused = s.count_status(429);
    assert!((1..=2).contains(&refused), "at most one 429 per request in flight (concurrency 2), got {refused}");
    assert!(err.contains("resume"), "{err}");

    let status = ctx.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(v["resume_at"].is_string(), "{v}");
    assert_eq!(v["exhausted_pools"][0]["model"], "gemini-2.5-flash-lite");
    let human = ctx.run(&["status"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("UTC"));

    // A rerun before the reset sends nothing at all and says when to come back.
    let before = s.requests().len();
    let again = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&again), 75, "{}", stderr(&again));
    assert_eq!(s.requests().len(), before);

    // `quota reset` forgets the exhaustion (after a tier upgrade, say).
    let reset = ctx.run(&["quota", "reset", "gemini/one-project/gemini-2.5-flash-lite"]);
    assert_eq!(code(&reset), 0, "{}", stderr(&reset));
    let v: serde_json::Value = serde_json::from_slice(&ctx.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(v["exhausted_pools"].as_array().map(Vec::len), Some(0), "{v}");

    // After the Pacific midnight: everything finishes, nothing finished is redone.
    s.reset_day();
    s.set_limits("one-project", "gemini-2.5-flash-lite", Limits::default());
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let ctx2 = ctx_with_now(&ctx, &tomorrow);
    let last = ctx2.run(&["run", "--no-progress"]);
    assert_eq!(code(&last), 0, "{}", stderr(&last));
    let summary: postmill::summary::Summary =
        serde_json::from_str(&std::fs::read_to_string(ctx.outputs().join("meituan/summary.json")).unwrap()).unwrap();
    assert_eq!(summary.images.len(), 4);
    assert!(summary.images.iter().all(|i| i.status == postmill::summary::ImageStatus::Ok));
    // 4 OCR + 2 summaries succeeded in all; the only refusals were the first run's.
    let ok = s.requests().iter().filter(|r| r.status == 200 && r.path.contains(":generateContent")).count();
    assert_eq!(ok, 6);
    assert_eq!(s.count_status(429), refused);
    assert_eq!(s.requests_to("gemini-1.5-flash"), 0);

    // The ledger agrees with the server, outcome by outcome.
    let audit = ctx2.run(&["audit", "--format", "json"]);
    let a: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let generation = s.requests().iter().filter(|r| r.path.contains(":generateContent")).count() as u64;
    let listing = s.list_model_requests() as u64;
    assert_eq!(a["attempts"].as_u64().unwrap(), generation + listing);
    assert_eq!(a["by_outcome"]["quota_exhausted"].as_u64().unwrap(), refused as u64);
    assert_eq!(a["by_outcome"]["ok"].as_u64().unwrap(), ok as u64 + listing);
    assert_eq!(a["wasted"], 0);
    assert_no_secrets(&ctx, &[&first, &again, &last, &status, &audit]);
}

fn ctx_with_now(ctx: &TestContext, now: &str) -> TestContext {
    let mut env = ctx.env.clone();
    env.push(("POSTMILL_NOW".into(), now.into()));
    let mut c = TestContext::new();
    c.env = env;
    c.rooted_at(ctx.root())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_minute_refusals_are_waited_out() {
    // The server allows 2 requests per (shortened) 2-second window; postmill has no limit
    // configured, so it learns from the 429s and their retryDelay.
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "first", "p").minute(Duration::from_secs(2)).limits(
        "p",
        "gemini-2.5-flash-lite",
        Limits::default().rpm(2),
    ))
    .await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&one_key(&s.base_url(), "one-project", &["gemini-2.5-flash-lite", "gemini-1.5-flash"]).build());
    for i in 0..3 {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇：一面 自我介绍")), &[]);
    }
    let out = ctx.run(&["run", "--no-progress", "--concurrency", "1"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log: Vec<_> = s.requests().into_iter().filter(|r| r.path.contains(":generateContent")).collect();
    assert!(log.iter().any(|r| r.status == 429), "the test must provoke a refusal");
    for (i, r) in log.iter().enumerate().filter(|(_, r)| r.status == 429) {
        // The server's retryDelay is the time until its window frees; with one request in
        // flight, the next request must come after it.
        let next = log.get(i + 1).expect("a retry follows");
        let window_frees = log
            .iter()
            .filter(|x| x.status == 200 && x.at <= r.at)
            .map(|x| x.at + Duration::from_secs(2))
            .filter(|t| *t > r.at)
            .min()
            .unwrap();
        assert!(next.at + Duration::from_millis(5) >= window_frees, "request {} came before its retryDelay", i + 1);
    }
}

/// What the ledger should call each answer the server gave.
fn expected_outcome(r: &postmill_testkit::gemini::LoggedRequest) -> &'static str {
    use postmill_testkit::gemini::Fault;
    match (r.status, &r.fault) {
        (200, Some(Fault::TruncatedBody | Fault::ConnectionCut)) => "server_error",
        (200, Some(Fault::Blocked)) => "blocked",
        (200, Some(Fault::InvalidJson | Fault::MaxTokens)) => "bad_output",
        (200, _) => "ok",
        (429, _) if r.quota_id.as_deref().is_some_and(|q| q.contains("PerDay")) => "quota_exhausted",
        (429, _) => "rate_limited",
        (404, _) => "model_not_found",
        (400 | 401 | 403, _) => "key_rejected",
        (s, _) if s >= 500 => "server_error",
        _ => "bad_request",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_matches_what_the_server_answered() {
    use postmill_testkit::gemini::Fault;
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "first", "one-project").limits(
        "one-project",
        "gemini-2.5-flash",
        Limits::default().rpd(4),
    ))
    .await;
    s.push_faults(
        "gemini-2.5-flash",
        [Fault::Overloaded, Fault::TruncatedBody, Fault::InvalidJson, Fault::Internal, Fault::Blocked],
    );
    s.push_faults("gemini-2.5-flash-lite", [Fault::MaxTokens, Fault::RateLimitedNoDetails]);
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(
        &ConfigBuilder::gemini(&s.base_url())
            .mode(Mode::Combined)
            .concurrency(1)
            .ocr_models(["gemini-2.5-flash-lite"])
            .summary_models(["gemini-2.5-flash", "gemini-2.5-flash-lite"])
            .limits("gemini-2.5-flash-lite", Limits::default().rpd(3))
            .key("first", "TEST_KEY_A", "one-project")
            .build(),
    );
    for i in 0..8 {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇：一面 自我介绍")), &[]);
    }
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 75, "{}", stderr(&out));
    let audit = ctx.run(&["audit", "--format", "json"]);
    assert_eq!(code(&audit), 0, "{}", stderr(&audit));
    let a: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let mut expected: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for r in s.requests() {
        *expected.entry(expected_outcome(&r)).or_default() += 1;
    }
    for outcome in ["ok", "server_error", "bad_output", "blocked", "rate_limited", "quota_exhausted"] {
        assert!(expected.contains_key(outcome), "the run should have met {outcome}: {expected:?}");
    }
    for (outcome, n) in &expected {
        assert_eq!(a["by_outcome"][outcome].as_u64(), Some(*n), "{outcome}: audit {a:#}");
    }
    assert_eq!(a["attempts"].as_u64(), Some(s.requests().len() as u64));
    // postmill itself wasted nothing: no request after a daily refusal, none to a missing model.
    assert_eq!(a["wasted"], 0, "{a:#}");
    // --since/--until select Pacific days: none of these attempts is from the year 2000.
    let old = ctx.run(&["audit", "--format", "json", "--since", "2000-01-01", "--until", "2000-01-31"]);
    let o: serde_json::Value = serde_json::from_slice(&old.stdout).unwrap();
    assert_eq!(o["attempts"], 0, "{o:#}");
    let csv = ctx.run(&["audit", "--format", "csv"]);
    assert!(String::from_utf8_lossy(&csv.stdout).lines().count() > 1);
    // The table form says the same, and neither names a key.
    let table = ctx.run(&["audit"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("gemini-2.5-flash-lite") && text.contains("first"), "{text}");
    assert_no_secrets(&ctx, &[&out, &audit, &table]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_sleeps_through_the_reset_instead_of_exiting() {
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "first", "p").limits(
        "p",
        "gemini-2.5-flash-lite",
        Limits::default().rpd(1),
    ))
    .await;
    // The run believes it starts three seconds before a Pacific midnight.
    let midnight = postmill::quota::clock::next_pacific_midnight(jiff::Timestamp::now());
    let start = midnight - jiff::SignedDuration::from_secs(3);
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A).env("POSTMILL_NOW", &start.to_string());
    ctx.config(&one_key(&s.base_url(), "p", &["gemini-2.5-flash-lite"]).build());
    ctx.post("a", Some("一面：自我介绍"), &[]);
    ctx.post("b", Some("二面：项目"), &[]);
    let child = ctx.command(&["run", "--no-progress", "--wait", "--concurrency", "1"]).spawn().unwrap();
    // The server's day turns over while postmill waits for its midnight.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    s.reset_day();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ctx.outputs().join("a/summary.json").is_file() && ctx.outputs().join("b/summary.json").is_file());
    assert_eq!(s.count_status(429), 1, "one refusal, then a wait, not a retry loop");
}
