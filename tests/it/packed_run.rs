//! Packed requests end to end: the real binary against the fake Gemini server, whose
//! daily quota is the wall (20 requests per project and model, as the free tier's).

use crate::common::*;
use postmill::summary::Summary;
use postmill_testkit::config::{ConfigBuilder, Mode, Pack};
use postmill_testkit::gemini::{FakeGemini, Fault, GeminiConfig, Limits, LoggedRequest};

const LITE: &str = "gemini-2.5-flash-lite";
const FLASH: &str = "gemini-2.5-flash";

/// `models` for both stages, each with `rpd` requests a day.
fn config(base_url: &str, models: &[&str], rpd: u32) -> ConfigBuilder {
    let mut config = ConfigBuilder::gemini(base_url).concurrency(1).models(models).request_timeout_s(10).key(
        "main",
        "TEST_KEY_A",
        "p",
    );
    for m in models {
        config = config.limits(m, Limits::default().rpd(rpd));
    }
    config
}

async fn server(models: &[&str], rpd: u32) -> FakeGemini {
    let mut cfg = GeminiConfig::default().key(KEY_A, "main", "p");
    for m in models {
        cfg = cfg.limits("p", m, Limits::default().rpd(rpd));
    }
    FakeGemini::start(cfg).await
}

/// `n` short text-only posts, each with a title that names it.
fn posts(ctx: &TestContext, n: usize) {
    for i in 0..n {
        let text = format!("第{i}篇 字节一面面经\n1. 自我介绍\n2. 讲讲RAG的检索流程（第{i}篇）\n3. 手撕：反转链表\n");
        ctx.post(&format!("p{i:03}"), Some(&text), &[]);
    }
}

fn generations(s: &FakeGemini) -> Vec<LoggedRequest> {
    s.requests().into_iter().filter(|r| r.path.contains(":generateContent")).collect()
}

/// How many times each post was sent, over every generation request the server saw.
fn sends_per_post(s: &FakeGemini) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in generations(s).iter().filter(|r| r.status == 200) {
        for t in &r.texts {
            for (id, _) in postmill_testkit::gemini::packed_posts(t) {
                *out.entry(id).or_default() += 1;
            }
            // A single request names its post only in its text.
            if !t.contains("=== Post ")
                && let Some(line) = t.lines().find(|l| l.starts_with('第') && l.contains("篇 字节一面面经"))
            {
                let n: String = line.trim_start_matches('第').chars().take_while(char::is_ascii_digit).collect();
                *out.entry(format!("p{:03}", n.parse::<usize>().unwrap())).or_default() += 1;
            }
        }
    }
    out
}

fn summary(ctx: &TestContext, id: &str) -> Summary {
    serde_json::from_slice(&std::fs::read(ctx.outputs().join(id).join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_posts_fit_a_twenty_request_day() {
    let s = server(&[FLASH, LITE], 20).await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&config(&s.base_url(), &[FLASH, LITE], 20).build());
    posts(&ctx, 100);

    // plan predicts the packed requests before anything is sent.
    let plan = ctx.run(&["plan", "--json"]);
    assert_eq!(code(&plan), 0, "{}", stderr(&plan));
    let p: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let predicted = p["packed"]["requests"].as_u64().expect("plan shows the packed way");
    assert_eq!(p["requests"][0]["count"], 100, "one by one: a request per post {p}");

    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sent = generations(&s).len();
    assert!(sent <= 20, "100 posts in at most 20 requests, sent {sent}");
    assert!(predicted.abs_diff(sent as u64) <= 1, "plan said {predicted}, the run sent {sent}");
    let per_post = sends_per_post(&s);
    assert_eq!(per_post.len(), 100);
    assert!(per_post.values().all(|&n| n == 1), "every post sent once: {per_post:?}");
    for i in 0..100 {
        let id = format!("p{i:03}");
        let sum = summary(&ctx, &id);
        // Each summary is its own post's: the fake quotes the post's first line.
        assert!(sum.extract.overview.contains(&format!("第{i}篇")), "{id}: {}", sum.extract.overview);
        assert!(sum.provenance.unwrap().job.starts_with("combined:"));
    }
    // The audit tells posts per request.
    let audit = ctx.run(&["audit", "--format", "json"]);
    let a: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let ppr = a["posts_per_request"].as_f64().expect("audit shows posts per request");
    assert!(ppr >= 5.0, "{a}");
    assert_no_secrets(&ctx, &[&out, &plan, &audit]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_day_runs_out_mid_batch_and_the_rest_waits_for_tomorrow() {
    let s = server(&[LITE], 3).await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&config(&s.base_url(), &[LITE], 3).pack(Pack::default().max_posts(10)).build());
    posts(&ctx, 50);

    let first = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&first), 75, "{}", stderr(&first));
    assert_eq!(generations(&s).len(), 3, "three packed requests, then the day is spent");
    let done = (0..50).filter(|i| ctx.outputs().join(format!("p{i:03}/summary.json")).is_file()).count();
    assert_eq!(done, 30);

    s.reset_day();
    let tomorrow = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let mut env = ctx.env.clone();
    env.push(("POSTMILL_NOW".into(), tomorrow));
    let mut ctx2 = TestContext::new();
    ctx2.env = env;
    let ctx2 = ctx2.rooted_at(ctx.root());
    let second = ctx2.run(&["run", "--no-progress"]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    assert_eq!(generations(&s).len(), 5, "the other 20 posts in two packs");
    let per_post = sends_per_post(&s);
    assert_eq!(per_post.len(), 50);
    assert!(per_post.values().all(|&n| n == 1), "nothing redone: {per_post:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_dropped_or_broken_in_a_pack_alone_is_retried() {
    let s = server(&[LITE], 100).await;
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&config(&s.base_url(), &[LITE], 100).mode(Mode::Packed).pack(Pack::default().max_posts(3)).build());
    posts(&ctx, 6);
    s.push_faults(LITE, [Fault::PackDrop("p001".into()), Fault::PackBreak("p004".into())]);

    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Two packs of three, then p001 and p004 alone.
    assert_eq!(generations(&s).len(), 4);
    let per_post = sends_per_post(&s);
    assert_eq!(per_post["p001"], 2);
    assert_eq!(per_post["p004"], 2);
    assert_eq!(per_post.values().sum::<usize>(), 8);
    for id in ["p000", "p002", "p003", "p005"] {
        assert!(summary(&ctx, id).extract.overview.starts_with(&format!("summary of {id}")), "{id}");
    }
    for id in ["p001", "p004"] {
        assert!(ctx.outputs().join(id).join("summary.json").is_file(), "{id}");
    }
}

/// Packing never mixes posts: offline, where the same extractor answers a packed and a
/// single request, the 40 labelled corpus posts get the very same summaries both ways.
#[test]
fn packed_and_single_give_the_same_summaries_on_the_corpus() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nowcoder");
    let ctx = TestContext::new();
    let run = |mode: &str, out: &str| {
        let o = ctx.run(&[
            "run",
            "--provider",
            "local",
            "--mode",
            mode,
            "--input",
            corpus.to_str().unwrap(),
            "--output",
            out,
            "--no-progress",
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        o
    };
    let packed = run("packed", "packed-out");
    assert!(stderr(&packed).contains("packing 40 post(s)"), "{}", stderr(&packed));
    run("split", "single-out");
    let mut compared = 0;
    for entry in std::fs::read_dir(&corpus).unwrap().flatten().filter(|e| e.path().join("post.md").is_file()) {
        let id = entry.file_name().to_string_lossy().into_owned();
        let read = |out: &str| -> Summary {
            serde_json::from_slice(&std::fs::read(ctx.root().join(out).join(&id).join("summary.json")).unwrap())
                .unwrap()
        };
        let (p, s) = (read("packed-out"), read("single-out"));
        assert_eq!(p.extract, s.extract, "{id}");
        assert_eq!(p.provenance.map(|v| v.job), s.provenance.map(|v| v.job), "{id}: one job key both ways");
        compared += 1;
    }
    assert_eq!(compared, 40);
}
