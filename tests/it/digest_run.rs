//! The batch digest end to end: `run` on the sample posts (offline) writes it, `digest`
//! regenerates it byte for byte, unreadable summaries are skipped, scraped markup stays text,
//! and on the 40 labelled nowcoder posts the question clusters hold every post that asks.

use crate::common::*;
use serde_json::Value;

fn read(ctx: &TestContext, file: &str) -> Vec<u8> {
    std::fs::read(ctx.outputs().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn digest_json(ctx: &TestContext) -> Value {
    serde_json::from_slice(&read(ctx, "digest.json")).unwrap()
}

fn company_posts(digest: &Value, name: &str) -> Option<u64> {
    digest["companies"].as_array()?.iter().find(|c| c["company"] == name)?["posts"].as_u64()
}

#[test]
fn run_writes_the_digest_and_digest_regenerates_it_identically() {
    let ctx = TestContext::new();
    ctx.copy_sample_inputs();
    let run = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));

    let digest = digest_json(&ctx);
    assert_eq!(digest["schema_version"], 2);
    assert!(digest["generated_at"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "{digest}");
    assert_eq!(digest["posts"], 11);
    assert_eq!(company_posts(&digest, "美团"), Some(2));
    assert_eq!(company_posts(&digest, "字节跳动"), Some(2));
    let lc54 = digest["coding_problems"].as_array().unwrap().iter().find(|p| p["leetcode"] == 54).unwrap();
    assert_eq!(lc54["name"], "螺旋矩阵");
    assert_eq!(digest["index"].as_array().unwrap().len(), 11);
    let seed = digest["index"].as_array().unwrap().iter().find(|p| p["post_id"] == "meituan-llm-app-algo").unwrap();
    assert_eq!(seed["summary"], "meituan-llm-app-algo/summary.md");
    assert!(ctx.outputs().join(seed["summary"].as_str().unwrap()).is_file());

    let md = String::from_utf8(read(&ctx, "digest.md")).unwrap();
    assert!(md.contains("| 美团 | 2 |"), "{md}");
    assert!(md.contains("LeetCode 54 螺旋矩阵 — 1 post"), "{md}");
    let html = String::from_utf8(read(&ctx, "report.html")).unwrap();
    assert!(html.contains("算法面经：美团大模型应用算法工程师"));
    // The only absolute links are LeetCode problem pages.
    let outside = html.replace("https://leetcode.cn/problems/", "");
    assert!(!html.contains("<script") && !outside.contains("http://") && !outside.contains("https://"));

    // digest.md and report.html carry no clock; digest.json keeps its generated_at when
    // nothing else changed. So regenerating over the same summaries changes no byte.
    let before: Vec<Vec<u8>> = ["digest.md", "report.html", "digest.json"].map(|f| read(&ctx, f)).to_vec();
    let again = ctx.run(&["digest"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("digest of 11 post(s)") && stdout.contains("report.html"), "{stdout}");
    let after: Vec<Vec<u8>> = ["digest.md", "report.html", "digest.json"].map(|f| read(&ctx, f)).to_vec();
    assert!(before == after, "the digest changed without any summary changing");

    // A summary that cannot be read is skipped, with a warning, not fatal.
    std::fs::write(ctx.outputs().join("30-pdd-agent-r2/summary.json"), b"{\"truncated\":").unwrap();
    let skipped = ctx.run(&["digest"]);
    assert_eq!(code(&skipped), 0, "{}", stderr(&skipped));
    assert!(stderr(&skipped).contains("30-pdd-agent-r2/summary.json"), "{}", stderr(&skipped));
    let digest = digest_json(&ctx);
    assert_eq!(digest["posts"], 10);
    assert_eq!(digest["skipped"][0]["path"], "30-pdd-agent-r2/summary.json");
    assert_eq!(company_posts(&digest, "拼多多"), None);
}

#[test]
fn scraped_markup_in_a_post_is_escaped_in_the_report() {
    let ctx = TestContext::new();
    let dir = ctx.inputs().join("evil");
    std::fs::create_dir_all(&dir).unwrap();
    let post = serde_json::json!({
        "title": "<script>alert('pwned')</script>美团一面",
        "desc": "美团一面：\n自我介绍\n八股：<img src=x onerror=alert(1)> 是什么？\n",
    });
    std::fs::write(dir.join("post.json"), post.to_string()).unwrap();
    let run = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let html = String::from_utf8(read(&ctx, "report.html")).unwrap();
    assert!(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;美团一面"), "{html}");
    assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
    let md = String::from_utf8(read(&ctx, "digest.md")).unwrap();
    // In Markdown every `<` is backslash-escaped, so none can open a tag.
    assert!(md.contains(r"\<script\>alert"), "{md}");
    assert!(!md.replace(r"\<", "").contains('<'), "{md}");
}

#[test]
fn digest_without_an_output_folder_is_a_usage_error() {
    let ctx = TestContext::new();
    let out = ctx.run(&["digest", "--output", "nowhere"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}

/// Copies the labelled nowcoder posts (not their gold labels) into the workspace's inputs.
fn copy_corpus(ctx: &TestContext) {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nowcoder");
    for e in std::fs::read_dir(&corpus).unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        if !e.path().is_dir() || name == "gold" {
            continue;
        }
        std::fs::create_dir_all(ctx.inputs().join(&name)).unwrap();
        for f in std::fs::read_dir(e.path()).unwrap().flatten() {
            std::fs::copy(f.path(), ctx.inputs().join(&name).join(f.file_name())).unwrap();
        }
    }
}

fn cluster_of<'a>(digest: &'a Value, post: &str, text: &str) -> &'a Value {
    digest["question_clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["asked"].as_array().unwrap().iter().any(|a| a["post_id"] == post && a["text"] == text))
        .unwrap_or_else(|| panic!("no cluster holds {post}: {text}"))
}

#[test]
fn the_corpus_digest_merges_rewordings_and_draws_charts() {
    let ctx = TestContext::new();
    copy_corpus(&ctx);
    let run = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let digest = digest_json(&ctx);
    assert_eq!(digest["posts"], 40);

    // Every post of the corpus that asks "the difference between an agent and an LLM"
    // (grep: 01 "agent和LLM区别", 14 "Agent与llm区别？"), and no question about workflows.
    let agent_llm = cluster_of(&digest, "01-bytedance-ai-dev-intern-r1", "agent和LLM区别");
    let ids: Vec<&str> = agent_llm["post_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(ids, ["01-bytedance-ai-dev-intern-r1", "14-meituan-backend-r1"], "{agent_llm}");
    assert_eq!(agent_llm["companies"], serde_json::json!(["字节跳动", "美团"]));
    let workflow = cluster_of(&digest, "27-jd-agent-r2", "Agent 和普通工作流有什么区别?");
    assert_ne!(workflow, agent_llm);

    // The most asked come first.
    let clusters = digest["question_clusters"].as_array().unwrap();
    let counts: Vec<u64> = clusters.iter().map(|c| c["posts"].as_u64().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    assert!(counts[0] >= 5, "self-introductions and internship grilling repeat: {counts:?}");

    let html = String::from_utf8(read(&ctx, "report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 4, "fewer than four charts");
    for chart in ["chart-companies", "chart-categories", "chart-topics", "chart-leetcode", "chart-months"] {
        assert!(html.contains(&format!("id=\"{chart}\"")), "{chart} missing");
    }
    assert!(html.contains("href=\"01-bytedance-ai-dev-intern-r1/summary.md\""));
    let md = String::from_utf8(read(&ctx, "digest.md")).unwrap();
    assert!(
        md.contains("## Most asked questions") && (md.contains("Agent与llm区别") || md.contains("agent和LLM区别")),
        "{md}"
    );
}
