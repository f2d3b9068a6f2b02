//! `postmill plan` on real folders and a real store: pending work counted as a run would
//! count it, today's capacity from configured limits minus the ledger's daily counts, and
//! the finish date. No server runs: plan must send nothing (the base URL points nowhere).

use crate::common::*;
use postmill::store::{PostState, Store};
use postmill_testkit::config::{ConfigBuilder, Limits, Mode, Provider};
use serde_json::Value;

/// 12:00 Pacific on 28 November (PST, UTC-8): a fixed Pacific day for the assertions.
const NOW: &str = "2026-11-28T20:00:00Z";
const TODAY: &str = "2026-11-28";

/// Nothing listens on port 9: `plan` must not send anything.
fn gemini_config(mode: Mode) -> ConfigBuilder {
    ConfigBuilder::gemini("http://127.0.0.1:9")
        .mode(mode)
        .ocr_models(["gemini-2.5-flash-lite"])
        .summary_models(["gemini-2.5-flash", "gemini-2.5-flash-lite"])
        .key("alpha", "TEST_KEY_A", "proj-1")
}

fn plan_json(ctx: &TestContext) -> Value {
    let out = ctx.run(&["plan", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("plan --json prints JSON")
}

#[test]
fn partial_progress_with_known_limits() {
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A).env("POSTMILL_NOW", NOW);
    ctx.config(&gemini_config(Mode::Auto).limits("gemini-2.5-flash", Limits::default().rpd(2)).build());
    for i in 1..=5 {
        ctx.post(&format!("post-{i}"), Some(&format!("第{i}篇面经\n一面：自我介绍\n")), &[]);
    }
    {
        let store = Store::open(&ctx.outputs()).unwrap();
        // An earlier run finished two posts from these very files and spent one request of
        // today's quota. post-2's summary was deleted since: it is rendered again from the
        // store without a request, so it is not pending (the rule `run` uses).
        let (posts, _) = postmill::input::discover(&ctx.inputs()).unwrap();
        let signature = |id: &str| postmill::input::signature(posts.iter().find(|p| p.id == id).unwrap());
        for id in ["post-1", "post-2"] {
            let path = ctx.inputs().join(id).display().to_string();
            store.upsert_post(id, id, &path, PostState::Done, None, None).unwrap();
            store.set_post_signature(id, &signature(id)).unwrap();
        }
        std::fs::create_dir_all(ctx.outputs().join("post-1")).unwrap();
        std::fs::write(ctx.outputs().join("post-1").join("summary.json"), "{}").unwrap();
        // A post the store calls done from other files (they changed since) is pending again.
        let path = ctx.inputs().join("post-3").display().to_string();
        store.upsert_post("post-3", "post-3", &path, PostState::Done, None, None).unwrap();
        store.set_post_signature("post-3", "files since changed").unwrap();
        store.add_daily_request("gemini", "proj-1", "gemini-2.5-flash", TODAY).unwrap();
        // Yesterday's spending does not count against today.
        store.add_daily_request("gemini", "proj-1", "gemini-2.5-flash", "2026-11-27").unwrap();
    }

    let plan = plan_json(&ctx);
    assert_eq!(plan["pending_posts"], 3);
    assert_eq!(plan["posts"], 5);
    assert_eq!(plan["day"], TODAY);
    // Text-only posts in auto mode: one combined request each, on the first summary model.
    let requests = plan["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["stage"], "combined");
    assert_eq!(requests[0]["model"], "gemini-2.5-flash");
    assert_eq!(requests[0]["count"], 3);
    assert_eq!(requests[0]["fallbacks"], serde_json::json!(["gemini-2.5-flash-lite"]));

    let pools = plan["pools"].as_array().unwrap();
    let flash = pools.iter().find(|p| p["model"] == "gemini-2.5-flash").expect("flash pool");
    assert_eq!(flash["provider"], "gemini");
    assert_eq!(flash["project"], "proj-1");
    assert_eq!(flash["rpd"], 2);
    assert_eq!(flash["used_today"], 1);
    assert_eq!(flash["remaining_today"], 1);
    assert!(flash["exhausted_until"].is_null());
    // No limit for the fallback: unknown, not zero.
    let lite = pools.iter().find(|p| p["model"] == "gemini-2.5-flash-lite").expect("lite pool");
    assert!(lite["rpd"].is_null() && lite["remaining_today"].is_null());

    // 3 requests needed; today takes 2 - 1 = 1; the other 2 at rpd 2 per day need
    // ceil(2 / 2) = 1 more day: the batch finishes on 29 November.
    assert_eq!(plan["finish"]["when"], "in 1 day");
    assert_eq!(plan["finish"]["days"], 1);
    assert_eq!(plan["finish"]["date"], "2026-11-29");
    assert_no_secrets(&ctx, &[]);
}

#[test]
fn learned_limit_and_exhaustion_cut_capacity() {
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A).env("POSTMILL_NOW", NOW);
    ctx.config(&gemini_config(Mode::Auto).limits("gemini-2.5-flash", Limits::default().rpd(10)).build());
    for i in 1..=4 {
        ctx.post(&format!("post-{i}"), Some("美团一面\n"), &[]);
    }
    {
        let store = Store::open(&ctx.outputs()).unwrap();
        // The server said 3 a day (stricter than the configured 10), and the pool is
        // exhausted until the next Pacific midnight.
        store
            .save_pool(&postmill::store::PoolRow {
                provider: "gemini".into(),
                project: "proj-1".into(),
                model: "gemini-2.5-flash".into(),
                exhausted_until: Some("2026-11-29T08:00:00Z".into()),
                learned_rpd: Some(3),
                ..Default::default()
            })
            .unwrap();
    }
    let plan = plan_json(&ctx);
    let flash = plan["pools"].as_array().unwrap().iter().find(|p| p["model"] == "gemini-2.5-flash").unwrap().clone();
    assert_eq!(flash["rpd"], 3);
    assert_eq!(flash["remaining_today"], 0);
    assert_eq!(flash["exhausted_until"], "2026-11-29T08:00:00Z");
    // 4 requests, none today, 3 a day: ceil(4 / 3) = 2 more days.
    assert_eq!(plan["finish"]["when"], "in 2 days");
    assert_eq!(plan["finish"]["days"], 2);
    assert_eq!(plan["finish"]["date"], "2026-11-30");
}

#[test]
fn split_table_counts_each_distinct_image_once() {
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A).env("POSTMILL_NOW", NOW);
    ctx.config(&gemini_config(Mode::Split).build());
    // Two posts share one image: 3 distinct images, 2 summaries. No store exists yet.
    ctx.post("a", Some("字节一面"), &[("1.png", png(1)), ("2.png", png(2))]);
    ctx.post("b", None, &[("1.png", png(1)), ("3.png", png(3))]);
    let out = ctx.run(&["plan"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 of 2 post(s)"), "{text}");
    let line = |stage: &str| text.lines().find(|l| l.trim_start().starts_with(stage)).unwrap_or_default().to_string();
    assert!(line("ocr").contains("gemini-2.5-flash-lite") && line("ocr").trim_end().ends_with('3'), "{text}");
    assert!(
        line("summary").contains("gemini-2.5-flash ") && line("summary").contains("(fallbacks: gemini-2.5-flash-lite)")
    );
    assert!(text.contains("gemini/proj-1/gemini-2.5-flash"), "{text}");
    // Neither model has a daily limit configured or learned.
    assert!(text.contains("finish: cannot be estimated"), "{text}");
    // Plan writes nothing: no store is created by looking.
    assert!(!ctx.outputs().join(".postmill").exists());
}

#[test]
fn images_read_by_an_earlier_run_cost_nothing() {
    let ctx = TestContext::new();
    let shot =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocr/small-text.png"))
            .unwrap();
    ctx.post("first", Some("美团一面：自我介绍"), &[("shot.png", shot.clone())]);
    let run = ctx.run(&["run", "--provider", "local", "--no-progress"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    // A new post holding the same screenshot: only its summary is left to do.
    ctx.post("second", Some("美团二面：八股"), &[("same.png", shot)]);
    ctx.config(&ConfigBuilder::new().provider(Provider::Local).build());
    let out = ctx.run(&["plan", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending_posts"], 1, "{v:#}");
    let stages: Vec<(&str, u64)> = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["stage"].as_str().unwrap(), r["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(stages, [("summary", 1)], "{v:#}");
}
