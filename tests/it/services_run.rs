//! Real services, real failures (issue 9), end to end: the real binary against the test
//! servers, which answer with the real services' bodies (`tests/fixtures/`). Time is
//! scaled down through `[retry]` knobs and short outage windows; the algorithms are the
//! real ones.

use crate::common::*;
use postmill_testkit::config::{ConfigBuilder, Mode, Retry};
use postmill_testkit::gemini::{self, FakeGemini, GeminiConfig, ModelSpec};
use postmill_testkit::openai::{self, FakeOpenAi, OpenAiConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPENAI_KEY: &str = "sk-test-services-0123456789";

fn openai_config(base_url: &str, models: &[&str], retry: Retry) -> String {
    ConfigBuilder::openai(base_url)
        .mode(Mode::Split)
        .concurrency(2)
        .models(models)
        .request_timeout_s(10)
        .key("team", "TEST_OPENAI", "acct")
        .retry(retry)
        .build()
}

fn gemini_config(base_url: &str, models: &[&str], retry: Retry) -> String {
    ConfigBuilder::gemini(base_url)
        .mode(Mode::Split)
        .concurrency(2)
        .models(models)
        .request_timeout_s(10)
        .key("first", "TEST_KEY_A", "one")
        .retry(retry)
        .build()
}

fn posts(ctx: &TestContext, n: usize) {
    for i in 0..n {
        ctx.post(&format!("p{i}"), Some(&format!("第{i}篇 美团一面：自我介绍，Redis 持久化")), &[]);
    }
}

fn openai_ctx() -> TestContext {
    TestContext::new().env("TEST_OPENAI", OPENAI_KEY)
}

fn gemini_ctx() -> TestContext {
    TestContext::new().env("TEST_KEY_A", KEY_A)
}

fn done(ctx: &TestContext, id: &str) -> bool {
    ctx.outputs().join(id).join("summary.json").is_file()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashscope_per_minute_token_limit_completes_in_the_same_run() {
    let s = FakeOpenAi::start(OpenAiConfig::default().key(OPENAI_KEY, "team", "acct").models(["qwen-plus"])).await;
    let limit = openai::Fault::fixture(429, "dashscope-429-token-limit.json");
    s.push_fault("qwen-plus", limit.clone());
    s.push_fault("qwen-plus", limit);
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["qwen-plus"], Retry::default()));
    posts(&ctx, 2);
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(done(&ctx, "p0") && done(&ctx, "p1"));
    assert_eq!(s.count_status(429), 2);
    // A per-minute limit: neither a day (no resume time) nor billing (the server's own
    // message says "billing details"; the outcome must not).
    assert!(!err.contains("out of credit") && !err.contains("work can resume at"), "{err}");
    let audit: serde_json::Value = serde_json::from_slice(&ctx.run(&["audit", "--format", "json"]).stdout).unwrap();
    assert_eq!(audit["by_outcome"]["rate_limited"], 2, "{audit}");
    assert_eq!(audit["by_outcome"]["billing"], 0, "{audit}");
    assert_no_secrets(&ctx, &[&out]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashscope_free_tier_spent_on_one_model_keeps_the_key_for_the_others() {
    let s = FakeOpenAi::start(
        OpenAiConfig::default().key(OPENAI_KEY, "team", "acct").models(["qwen-vl-max", "qwen-vl-plus"]),
    )
    .await;
    s.set_always("qwen-vl-max", Some(openai::Fault::fixture(403, "dashscope-403-free-tier-only.json")));
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["qwen-vl-max", "qwen-vl-plus"], Retry::default()));
    posts(&ctx, 3);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!((0..3).all(|i| done(&ctx, &format!("p{i}"))));
    // One refusal parks that model's pool; the key was not disabled.
    assert!(s.count_status(403) <= 2, "{}", s.count_status(403));
    assert_eq!(s.requests_to("qwen-vl-plus"), 3);
    let status: serde_json::Value = serde_json::from_slice(&ctx.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["exhausted_pools"][0]["model"], "qwen-vl-max", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_billing_is_named_billing_and_stops_the_provider() {
    let s =
        FakeOpenAi::start(OpenAiConfig::default().key(OPENAI_KEY, "team", "acct").models(["gpt-4o-mini", "gpt-4o"]))
            .await;
    for m in ["gpt-4o-mini", "gpt-4o"] {
        s.set_always(m, Some(openai::Fault::fixture(429, "openai-429-insufficient-quota.json")));
    }
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["gpt-4o-mini", "gpt-4o"], Retry::default()));
    posts(&ctx, 4);
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("billing"), "{err}");
    assert!(!err.contains("PST") && !err.contains("work can resume at"), "billing has no reset time: {err}");
    // The provider stopped: at most one refusal per request in flight, no second model.
    assert!(s.count_status(429) <= 2, "{}", s.count_status(429));
    let audit: serde_json::Value = serde_json::from_slice(&ctx.run(&["audit", "--format", "json"]).stdout).unwrap();
    assert_eq!(audit["by_outcome"]["billing"], s.count_status(429) as u64, "{audit}");
    assert_eq!(audit["by_scope"]["provider"], s.count_status(429) as u64, "{audit}");
    // Billing is not a permanent failure of the posts: a plain rerun tries them again.
    for m in ["gpt-4o-mini", "gpt-4o"] {
        s.set_always(m, None);
    }
    let again = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_no_secrets(&ctx, &[&out, &again]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_caps_are_learned_per_model_and_never_carried_to_another() {
    let s = FakeOpenAi::start(
        OpenAiConfig::default().key(OPENAI_KEY, "team", "acct").models(["deepseek-chat", "qwen-plus"]).output_cap(
            "deepseek-chat",
            8192,
            "deepseek-400-max-tokens-range.json",
        ),
    )
    .await;
    // A cut-off answer makes the job ask for more room on the same model.
    s.push_fault("deepseek-chat", openai::Fault::Length);
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["deepseek-chat", "qwen-plus"], Retry::default()));
    posts(&ctx, 1);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sent: Vec<(u16, Option<u64>)> = s
        .requests()
        .iter()
        .filter(|r| r.model.as_deref() == Some("deepseek-chat"))
        .map(|r| (r.status, r.max_tokens))
        .collect();
    // Default budget → cut off; raised → the 400 naming 8192; at once with 8192 → answered.
    assert_eq!(sent, [(200, None), (400, Some(65_536)), (200, Some(8192))]);
    assert_eq!(s.requests_to("qwen-plus"), 0, "a refused parameter never drops the model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_budget_stays_with_its_model_and_max_tokens_is_renamed_for_reasoning_models() {
    let s = FakeOpenAi::start(
        OpenAiConfig::default()
            .key(OPENAI_KEY, "team", "acct")
            .models(["o4-mini-custom", "qwen-plus"])
            .completion_tokens_only("o4-mini-custom", 16384),
    )
    .await;
    // The reasoning model cuts off twice (its raised budget too): the job moves on.
    s.set_always("o4-mini-custom", Some(openai::Fault::Length));
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["o4-mini-custom", "qwen-plus"], Retry::default()));
    posts(&ctx, 1);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let reqs = s.requests();
    let o4: Vec<_> = reqs.iter().filter(|r| r.model.as_deref() == Some("o4-mini-custom")).collect();
    assert!(o4.iter().all(|r| r.max_tokens_field != Some("max_tokens")), "o-series gets max_completion_tokens");
    assert!(o4.iter().any(|r| r.max_tokens == Some(16384)), "the cap it named was used");
    let qwen: Vec<_> = reqs.iter().filter(|r| r.model.as_deref() == Some("qwen-plus")).collect();
    assert_eq!(qwen.len(), 1);
    assert_eq!(qwen[0].max_tokens, None, "the raised budget did not travel to the next model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_thinking_setting_is_resent_without_it() {
    let mut flash = ModelSpec::generative("gemini-2.5-flash");
    flash.thinking_required = true;
    let s = FakeGemini::start(GeminiConfig::default().key(KEY_A, "first", "one").models([flash])).await;
    s.push_fault("gemini-2.5-flash", gemini::Fault::MaxTokens);
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(&s.base_url(), &["gemini-2.5-flash"], Retry::default()));
    posts(&ctx, 2);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(done(&ctx, "p0") && done(&ctx, "p1"));
    let generate: Vec<_> = s.requests().into_iter().filter(|r| r.path.contains(":generateContent")).collect();
    let refused: Vec<_> = generate.iter().filter(|r| r.status == 400).collect();
    assert_eq!(refused.len(), 1, "one refusal, then never sent again");
    assert_eq!(refused[0].thinking_config, Some(serde_json::json!({"thinkingBudget": 0})));
    let after = generate.iter().skip_while(|r| r.status != 400).skip(1).collect::<Vec<_>>();
    assert!(!after.is_empty() && after.iter().all(|r| r.thinking_config.is_none()), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_that_passes_stays_transient_and_costs_few_requests() {
    // The 30 s `503 overloaded` episode, scaled by 1/5: a 6 s outage, and the
    // breaker's first pause scaled from 2 s to 400 ms.
    let models = ["gemini-2.5-flash", "gemini-2.5-flash-lite"];
    let s =
        FakeGemini::start(GeminiConfig::default().key(KEY_A, "first", "one").models(models.map(ModelSpec::generative)))
            .await;
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(&s.base_url(), &models, Retry::default().breaker_pause_ms(400).job_window_s(120)));
    posts(&ctx, 10);
    let outage = Duration::from_secs(6);
    let start = Instant::now();
    for m in models {
        s.outage(m, gemini::Fault::fixture("503-overloaded.json"), outage);
    }
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!((0..10).all(|i| done(&ctx, &format!("p{i}"))), "every post done in the same run");
    let during = s
        .requests()
        .iter()
        .filter(|r| r.path.contains(":generateContent") && r.at.duration_since(start) < outage)
        .count();
    let failed = s.count_status(503);
    eprintln!("outage: {during} generation requests during the {outage:?} outage, {failed} answered 503");
    assert!(during <= 40, "{during} requests during the outage");
    assert!(failed >= 2, "the outage was seen ({failed})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_out_of_time_is_deferred_and_a_plain_rerun_finishes_it() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one").models([ModelSpec::generative("gemini-2.5-flash")]),
    )
    .await;
    s.set_always("gemini-2.5-flash", Some(gemini::Fault::Internal));
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(
        &s.base_url(),
        &["gemini-2.5-flash"],
        Retry::default().breaker_pause_ms(200).job_window_s(2),
    ));
    posts(&ctx, 2);
    let first = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&first), 75, "transient only: work waits, nothing failed: {}", stderr(&first));
    assert!(!stderr(&first).contains("failed:"), "{}", stderr(&first));
    s.set_always("gemini-2.5-flash", None);
    let again = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&again), 0, "a plain rerun retries transient failures: {}", stderr(&again));
    assert!(done(&ctx, "p0") && done(&ctx, "p1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_zero_defers_with_its_resume_time_and_says_billing_is_needed() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one").models([ModelSpec::generative("gemini-2.5-pro")]),
    )
    .await;
    s.set_always("gemini-2.5-pro", Some(gemini::Fault::fixture("429-limit-zero.json")));
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(&s.base_url(), &["gemini-2.5-pro"], Retry::default()));
    posts(&ctx, 3);
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("work can resume at"), "{err}");
    assert!(err.contains("needs billing"), "{err}");
    assert!(s.count_status(429) <= 2, "{}", s.count_status(429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_429s_back_off_a_bounded_number_of_times_then_defer() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one").models([ModelSpec::generative("gemini-2.5-flash")]),
    )
    .await;
    s.set_always("gemini-2.5-flash", Some(gemini::Fault::RateLimitedNoDetails));
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(&s.base_url(), &["gemini-2.5-flash"], Retry::default().bare_429_tries(2)));
    posts(&ctx, 2);
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(err.contains("work can resume at"), "{err}");
    // Two tolerated, the third defers; at concurrency 2 each may have one echo (a request
    // already in flight when the pool began to cool), which is not counted again.
    let refused = s.count_status(429);
    assert!((3..=6).contains(&refused), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_waits_defer_without_panic_and_the_attempt_is_kept() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one").models([ModelSpec::generative("gemini-2.5-flash")]),
    )
    .await;
    for delay in ["1e20s", "315360000s"] {
        let body = gemini::fixture_text("429-requests-per-minute-paid.json").replace("45.837906927s", delay);
        assert!(body.contains(delay));
        s.set_always("gemini-2.5-flash", Some(gemini::Fault::Raw { status: 429, body: Arc::new(body) }));
        let ctx = gemini_ctx();
        ctx.config(&gemini_config(&s.base_url(), &["gemini-2.5-flash"], Retry::default().max_wait_s(3600)));
        posts(&ctx, 1);
        let t = Instant::now();
        let out = ctx.run(&["run", "--no-progress"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 75, "{delay}: {err}");
        assert!(t.elapsed() < Duration::from_secs(30), "no silent sleep");
        assert!(err.contains("more than max_wait") && err.contains("work can resume at"), "{err}");
        let audit: serde_json::Value = serde_json::from_slice(&ctx.run(&["audit", "--format", "json"]).stdout).unwrap();
        assert!(audit["by_outcome"]["rate_limited"].as_u64().unwrap() >= 1, "the attempt is in the ledger: {audit}");
    }
}

#[test]
fn no_network_is_said_plainly_and_exits_75_quickly() {
    // A port nobody listens on (refused), and a name that does not resolve (DNS).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    for (base, host, cause) in [
        (format!("http://127.0.0.1:{port}"), "127.0.0.1".to_string(), "refused"),
        ("http://postmill-unreachable.invalid".to_string(), "postmill-unreachable.invalid".to_string(), "DNS"),
    ] {
        let ctx = gemini_ctx();
        ctx.config(&gemini_config(&base, &["gemini-2.5-flash"], Retry::default()));
        posts(&ctx, 2);
        let t = Instant::now();
        let out = ctx.run(&["run", "--no-progress"]);
        let err = stderr(&out);
        assert_eq!(code(&out), 75, "{err}");
        assert!(t.elapsed() < Duration::from_secs(60));
        assert!(err.contains(&host) && err.contains(cause), "{err}");
        assert!(err.contains("HTTPS_PROXY") && err.contains("--provider local"), "{err}");
        assert_eq!(err.matches(cause).count(), 1, "named once: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_absurd_answers_are_never_written() {
    let s = FakeOpenAi::start(OpenAiConfig::default().key(OPENAI_KEY, "team", "acct").models(["qwen-plus"])).await;
    // A 200 of 6 MB (beyond the body cap), then a well-formed answer of absurd size.
    let huge = format!("{{\"choices\":[{{\"message\":{{\"content\":\"{}\"}}}}]}}", "x".repeat(6 * 1024 * 1024));
    s.push_fault("qwen-plus", openai::Fault::Raw { status: 200, body: Arc::new(huge), headers: Vec::new() });
    let topics = vec!["题"; 5000];
    let extract = serde_json::json!({"company": null, "position": null, "rounds": [], "coding_problems": [],
        "topics": topics, "key_experiences": [], "tips": [], "advice": [], "overview": "x"});
    let absurd = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": extract.to_string()}, "finish_reason": "stop"}]});
    s.set_always(
        "qwen-plus",
        Some(openai::Fault::Raw { status: 200, body: Arc::new(absurd.to_string()), headers: Vec::new() }),
    );
    let ctx = openai_ctx();
    ctx.config(&openai_config(&s.base_url(), &["qwen-plus"], Retry::default()));
    posts(&ctx, 1);
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(!done(&ctx, "p0"));
    let mut written = 0;
    for entry in walk(&ctx.outputs()) {
        written += std::fs::metadata(&entry).unwrap().len();
    }
    assert!(written < 2 * 1024 * 1024, "{written} bytes written");
    let audit: serde_json::Value = serde_json::from_slice(&ctx.run(&["audit", "--format", "json"]).stdout).unwrap();
    assert_eq!(audit["by_outcome"]["bad_output"], 2, "{audit}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_lost_after_its_listing_was_cached_stops_the_run_quickly() {
    let s = FakeGemini::start(
        GeminiConfig::default().key(KEY_A, "first", "one").models([ModelSpec::generative("gemini-2.5-flash")]),
    )
    .await;
    let base = s.base_url();
    let ctx = gemini_ctx();
    ctx.config(&gemini_config(&base, &["gemini-2.5-flash"], Retry::default()));
    posts(&ctx, 1);
    let first = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    // The server goes away; the next run trusts its cached listing and meets a dead host.
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 1..6 {
        ctx.post(&format!("n{i}"), Some(&format!("第{i}篇 二面：八股")), &[]);
    }
    let t = Instant::now();
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 75, "{err}");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert!(err.contains("cannot reach 127.0.0.1") && err.contains("HTTPS_PROXY"), "{err}");
    assert!(!err.contains("failed:"), "an unreachable host fails no post: {err}");
}
