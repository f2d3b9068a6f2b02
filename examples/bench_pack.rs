//! Packing benchmark: how many posts a 20-requests-per-day pool summarises per day, packed
//! and one by one, with the real `postmill` binary against the fake Gemini server.
//!
//! This is a benchmark, not a test: it prints figures (requests, posts per request, posts
//! finished per Pacific day, input and output tokens per post) for both ways.
//!
//! ```text
//! cargo build --release --bin postmill
//! cargo run --release --example bench_pack                 # 100 posts
//! cargo run --release --example bench_pack -- --posts 200
//! ```
//!
//! The posts are the 40 real nowcoder posts of `tests/fixtures/nowcoder/` (cycled, each
//! copy under its own id), so input tokens are those of real write-ups. Output tokens are
//! the fake server's, whose answers are schema-shaped but short: the planning figure for
//! real summaries is `[pack] output_tokens_per_post` (see `config.rs` for how it was set).
//! Days are stepped with `POSTMILL_NOW` and the server's day reset, so a five-day batch
//! takes seconds. The binary under test is `$POSTMILL_BIN` (default
//! `target/release/postmill`).

use postmill_testkit::gemini::{FakeGemini, GeminiConfig, Limits};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const MODEL: &str = "gemini-2.5-flash-lite";
const KEY: &str = "AIzaFAKE-bench-key";
const RPD: u32 = 20;
const MAX_DAYS: usize = 30;

struct Figures {
    posts: usize,
    requests: usize,
    days: usize,
    prompt_tokens: u64,
    output_tokens: u64,
}

fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nowcoder");
    let mut texts: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/nowcoder")
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("post.md")).ok()?;
            Some((e.file_name().to_string_lossy().into_owned(), text))
        })
        .collect();
    texts.sort();
    texts.into_iter().map(|(_, t)| t).collect()
}

fn workspace(base_url: &str, mode: &str, posts: usize, corpus: &[String]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "provider = \"gemini\"\nmode = \"{mode}\"\nconcurrency = 4\n[gemini]\nbase_url = \"{base_url}\"\n\
         ocr_models = [\"{MODEL}\"]\nsummary_models = [\"{MODEL}\"]\n[[gemini.keys]]\nname = \"bench\"\n\
         env = \"BENCH_KEY\"\nproject = \"bench\"\n[gemini.limits.\"{MODEL}\"]\nrpd = {RPD}\n"
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    for i in 0..posts {
        let post = dir.path().join("inputs").join(format!("post-{i:04}"));
        std::fs::create_dir_all(&post).unwrap();
        std::fs::write(post.join("post.md"), &corpus[i % corpus.len()]).unwrap();
    }
    dir
}

async fn measure(bin: &Path, mode: &str, posts: usize, corpus: &[String]) -> Figures {
    let server = FakeGemini::start(GeminiConfig::default().key(KEY, "bench", "bench").limits(
        "bench",
        MODEL,
        Limits::default().rpd(RPD),
    ))
    .await;
    let dir = workspace(&server.base_url(), mode, posts, corpus);
    let start = jiff::Timestamp::now();
    let mut days = 0;
    loop {
        days += 1;
        let now = start + jiff::SignedDuration::from_hours(24 * (days as i64 - 1));
        let out = tokio::process::Command::new(bin)
            .current_dir(dir.path())
            .args(["run", "--no-progress"])
            .env("BENCH_KEY", KEY)
            .env("POSTMILL_NOW", now.to_string())
            .env("RUST_LOG", "error")
            .output()
            .await
            .expect("run postmill");
        match out.status.code() {
            Some(0) => break,
            Some(75) if days < MAX_DAYS => server.reset_day(),
            other => panic!("postmill exited {other:?}: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    let generations: Vec<_> =
        server.requests().into_iter().filter(|r| r.path.contains(":generateContent") && r.status == 200).collect();
    let audit = std::process::Command::new(bin)
        .current_dir(dir.path())
        .args(["audit", "--format", "json"])
        .output()
        .expect("audit");
    let a: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap_or_default();
    Figures {
        posts,
        requests: generations.len(),
        days,
        prompt_tokens: generations.iter().map(|r| r.prompt_tokens).sum(),
        output_tokens: a["totals"]["output_tokens"].as_u64().unwrap_or(0),
    }
}

fn print(name: &str, f: &Figures) {
    let per = |n: u64| n as f64 / f.posts as f64;
    println!(
        "{name:<8} {:>5} posts  {:>4} requests  {:>5.1} posts/request  {:>2} day(s)  {:>6.1} posts/day  \
         {:>7.0} input tokens/post  {:>6.0} output tokens/post",
        f.posts,
        f.requests,
        f.posts as f64 / f.requests.max(1) as f64,
        f.days,
        f.posts as f64 / f.days as f64,
        per(f.prompt_tokens),
        per(f.output_tokens),
    );
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut posts = 100;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--posts", Some(n)) if n > 0 => posts = n,
            _ => {
                eprintln!("usage: bench_pack [--posts N]");
                return ExitCode::from(2);
            }
        }
    }
    let bin = std::env::var_os("POSTMILL_BIN").map(PathBuf::from).unwrap_or_else(|| "target/release/postmill".into());
    // Absolute: each run sets its own working directory.
    let Ok(bin) = bin.canonicalize() else {
        eprintln!("{} not found: cargo build --release --bin postmill first", bin.display());
        return ExitCode::from(2);
    };
    let corpus = corpus();
    println!("{posts} posts (the 40 nowcoder posts, cycled) on one pool of {RPD} requests per Pacific day");
    let packed = measure(&bin, "packed", posts, &corpus).await;
    print("packed", &packed);
    let single = measure(&bin, "combined", posts, &corpus).await;
    print("single", &single);
    ExitCode::SUCCESS
}
