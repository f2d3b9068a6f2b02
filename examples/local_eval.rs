//! Measures the offline provider: runs the rule-based extractor over a corpus of posts
//! (default `../shared/corpus/nowcoder`) and the seed post, and Tesseract over the OCR
//! fixtures with known text, printing per-post findings, totals and character recall.
//!
//! The sample posts with images are read end to end (OCR, then extraction).
//!
//! `cargo run --example local_eval [CORPUS_DIR] [--scan]`; `--scan` also prints recall
//! for other target text heights, the measurement behind `TARGET_TEXT_PX`.

use postmill::provider::local::extractor::extract;
use postmill::provider::local::tesseract::{TARGET_TEXT_PX, Tesseract, char_recall, decode_gray, text_height};
use postmill::summary::{Category, Extract};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The company each corpus folder's slug names (`None`: the post names none).
fn expected_company(folder: &str) -> Option<&'static str> {
    const SLUGS: &[(&str, &str)] = &[
        ("bytedance", "字节跳动"),
        ("dongchedi", "字节跳动"),
        ("alibaba", "阿里巴巴"),
        ("ant", "阿里巴巴"),
        ("meituan", "美团"),
        ("baidu", "百度"),
        ("tencent", "腾讯"),
        ("kuaishou", "快手"),
        ("xiaohongshu", "小红书"),
        ("didi", "滴滴"),
        ("jd", "京东"),
        ("pdd", "拼多多"),
        ("sensetime", "商汤"),
        ("dewu", "得物"),
        ("ctrip", "携程"),
        ("deepseek", "DeepSeek"),
        ("lixiang", "理想汽车"),
        ("xiaoduo", "晓多科技"),
    ];
    let slug = folder.split_once('-').map_or(folder, |(_, rest)| rest);
    let first = slug.split('-').next().unwrap_or("");
    SLUGS.iter().find(|(s, _)| *s == first).map(|(_, c)| *c)
}

#[derive(Default)]
struct Totals {
    posts: usize,
    with_rounds: usize,
    rounds: usize,
    questions: usize,
    coding: usize,
    leetcode: usize,
    named: usize,
    company_right: usize,
    company_wrong: Vec<String>,
}

fn report(label: &str, e: &Extract, expected: Option<&str>, totals: &mut Totals) {
    let questions: Vec<_> = e.rounds.iter().flat_map(|r| &r.questions).collect();
    let rounds: Vec<String> = e.rounds.iter().map(|r| format!("{}:{}", r.name, r.questions.len())).collect();
    let mut by_cat = Vec::new();
    for c in Category::ALL {
        let n = questions.iter().filter(|q| q.category == c).count();
        if n > 0 {
            by_cat.push(format!("{}={n}", c.as_str()));
        }
    }
    let coding: Vec<String> = e
        .coding_problems
        .iter()
        .map(|p| match p.leetcode {
            Some(n) => format!("LC{n}"),
            None => p.text.chars().take(16).collect(),
        })
        .collect();
    println!("{label}");
    println!(
        "  company={} (expected {})  position={}",
        e.company.as_deref().unwrap_or("-"),
        expected.unwrap_or("none"),
        e.position.as_deref().unwrap_or("-")
    );
    println!("  rounds=[{}]  questions={} [{}]", rounds.join(", "), questions.len(), by_cat.join(" "));
    println!(
        "  coding=[{}]  topics={}  tips/advice/exp={}/{}/{}",
        coding.join("; "),
        e.topics.len(),
        e.tips.len(),
        e.advice.len(),
        e.key_experiences.len()
    );
    totals.posts += 1;
    totals.with_rounds += usize::from(!e.rounds.is_empty());
    totals.rounds += e.rounds.len();
    totals.questions += questions.len();
    totals.coding += e.coding_problems.len();
    totals.leetcode += e.coding_problems.iter().filter(|p| p.leetcode.is_some()).count();
    if let Some(want) = expected {
        totals.named += 1;
        if e.company.as_deref() == Some(want) {
            totals.company_right += 1;
        } else {
            totals.company_wrong.push(format!("{label}: {:?}", e.company));
        }
    }
}

fn run_post(path: &Path, label: &str, expected: Option<&str>, totals: &mut Totals) {
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("skipping {}: unreadable", path.display());
        return;
    };
    let title =
        text.lines().map(|l| l.trim().trim_start_matches('#').trim()).find(|l| !l.is_empty()).map(str::to_string);
    let e = extract(title.as_deref(), &text, &[]);
    report(label, &e, expected, totals);
}

async fn ocr_recall(dir: &Path, scan: bool) {
    let tesseract =
        Tesseract { program: "tesseract".into(), languages: "chi_sim+eng".into(), timeout: Duration::from_secs(120) };
    let mut images: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    images.retain(|p| p.extension().is_some_and(|e| e != "txt") && p.with_extension("txt").exists());
    images.sort();
    let targets: &[f32] = if scan { &[16.0, 20.0, 24.0, 30.0, 36.0, 42.0, 56.0] } else { &[TARGET_TEXT_PX] };
    println!("\nOCR character recall ({}; target text height {TARGET_TEXT_PX} px)", dir.display());
    for image in images {
        let bytes = std::fs::read(&image).expect("fixture image");
        let expected = std::fs::read_to_string(image.with_extension("txt")).expect("fixture text");
        let height = decode_gray(&bytes).ok().and_then(|g| text_height(&g));
        let mut row = Vec::new();
        for &target in targets {
            let recall = match tesseract.read_at(&bytes, target).await {
                Ok(got) => format!("{:.3}", char_recall(&expected, &got)),
                Err(e) => format!("error: {e}"),
            };
            row.push(if scan { format!("{target}px={recall}") } else { recall });
        }
        let name = image.file_name().unwrap_or_default().to_string_lossy();
        println!(
            "  {name:<24} text height {:>3} px  recall {}",
            height.map_or("?".into(), |h| h.to_string()),
            row.join("  ")
        );
    }
}

/// The sample posts with images, end to end: Tesseract on each image, then the extractor.
async fn image_posts(root: &Path, totals: &mut Totals) {
    let tesseract =
        Tesseract { program: "tesseract".into(), languages: "chi_sim+eng".into(), timeout: Duration::from_secs(120) };
    for (id, company, title, body) in [
        ("xhs-bytedance-agent-r1", "字节跳动", None, "post.json"),
        ("xhs-kuaishou-llm-r2", "快手", Some("快手大模型算法二面"), "post.txt"),
    ] {
        let dir = root.join("inputs").join(id);
        let raw = std::fs::read_to_string(dir.join(body)).unwrap_or_default();
        let (title, text) = match title {
            Some(t) => (Some(t.to_string()), raw),
            None => {
                let v: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
                (v["title"].as_str().map(str::to_string), v["desc"].as_str().unwrap_or("").to_string())
            }
        };
        let mut texts = Vec::new();
        for name in ["image_1.png", "image_2.jpg"] {
            let bytes = std::fs::read(dir.join("images").join(name)).expect("sample image");
            texts.push(tesseract.read(&bytes).await.unwrap_or_else(|e| format!("(OCR failed: {e})")));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        report(&format!("inputs/{id} (text + OCR)"), &extract(title.as_deref(), &text, &refs), Some(company), totals);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let scan = args.iter().any(|a| a == "--scan");
    let corpus = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("../shared/corpus/nowcoder"), PathBuf::from);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let mut totals = Totals::default();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("post.md").exists()).collect())
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", corpus.display()));
    folders.sort();
    for folder in &folders {
        let name = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
        run_post(&folder.join("post.md"), &name, expected_company(&name), &mut totals);
    }
    run_post(
        &root.join("inputs/meituan-llm-app-algo/post.md"),
        "seed: meituan-llm-app-algo",
        Some("美团"),
        &mut totals,
    );
    image_posts(root, &mut totals).await;

    println!("\nTotals over {} posts:", totals.posts);
    println!("  posts with at least one round: {}", totals.with_rounds);
    println!(
        "  rounds: {}  questions: {}  coding problems: {} ({} with a LeetCode number)",
        totals.rounds, totals.questions, totals.coding, totals.leetcode
    );
    println!("  company right on {}/{} posts that name one", totals.company_right, totals.named);
    for miss in &totals.company_wrong {
        println!("    miss: {miss}");
    }
    ocr_recall(&root.join("tests/fixtures/ocr"), scan).await;
}
