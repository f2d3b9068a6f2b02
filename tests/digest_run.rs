//! The batch digest end to end: `run` on the sample posts (offline) writes it, `digest`
//! regenerates it byte for byte, unreadable summaries are skipped, scraped markup stays text.

mod common;

use common::*;
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
    assert_eq!(digest["schema_version"], 1);
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
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));

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
