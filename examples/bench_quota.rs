//! Quota benchmark: runs the real `postmill` binary against the fake Gemini server and
//! prints how close it gets to a per-minute ceiling without ever being refused.
//!
//! This is a benchmark, not a test: it prints figures (achieved rate / ceiling, 429s,
//! requests per post, CPU ms per request, peak memory) and ends with a verdict.
//!
//! ```text
//! cargo build --release --bin postmill
//! cargo run --example bench_quota                      # scenario A, about 90 s
//! cargo run --example bench_quota -- --scenario learn  # scenario B, about 30 s
//! cargo run --example bench_quota -- --posts 75        # fewer posts, shorter run
//! ```
//!
//! The binary under test is `$POSTMILL_BIN`, by default `target/release/postmill`
//! (relative to the current directory); build it first, the benchmark does not.
//!
//! Scenarios:
//! - `paced` (default, A): postmill is configured with `rpm = 60` for
//!   gemini-2.5-flash-lite and the server enforces 60 per sliding 60 s window. The run
//!   must see no 429, never more than 60 requests in any 60 s window, and at least 90%
//!   of the ceiling over the whole run (which lasts longer than a minute).
//! - `learn` (B): postmill has no limit configured; the server allows 20 requests per
//!   10 s window. postmill has to learn the limit from the 429s; the figures show what
//!   that costs. No verdict: refusals are expected there.
//!
//! CPU and peak memory come from `getrusage(RUSAGE_CHILDREN)`: postmill is the only child.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use postmill_testkit::gemini::{FakeGemini, GeminiConfig, Limits, LoggedRequest};

const MODEL: &str = "gemini-2.5-flash-lite";
/// A fake key: the server maps it to the project "bench"; it never leaves this machine.
const KEY: &str = "AIzaFAKE-bench-key";
/// Share of the ceiling a paced run must reach.
const MIN_SHARE: f64 = 0.90;

/// What one benchmark run sets up.
struct Scenario {
    name: &'static str,
    posts: usize,
    /// Requests the server allows per window.
    server_limit: u32,
    /// The server's sliding window.
    window: Duration,
    /// `rpm` written into postmill's config, if any.
    configured_rpm: Option<u32>,
}

impl Scenario {
    fn paced(posts: Option<usize>) -> Self {
        Scenario {
            name: "paced (A): rpm = 60 configured, server 60 per 60 s",
            posts: posts.unwrap_or(90),
            server_limit: 60,
            window: Duration::from_secs(60),
            configured_rpm: Some(60),
        }
    }

    fn learn(posts: Option<usize>) -> Self {
        Scenario {
            name: "learn (B): nothing configured, server 20 per 10 s",
            posts: posts.unwrap_or(30),
            server_limit: 20,
            window: Duration::from_secs(10),
            configured_rpm: None,
        }
    }

    /// The server's ceiling in requests per minute.
    fn ceiling_per_minute(&self) -> f64 {
        f64::from(self.server_limit) * 60.0 / self.window.as_secs_f64()
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("bench_quota: {problem}\nsee the header of examples/bench_quota.rs for the options");
    std::process::exit(2)
}

fn parse(args: Vec<String>) -> Scenario {
    let mut which = "paced".to_string();
    let mut posts = None;
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--scenario" => which = value,
            "--posts" => posts = Some(value.parse().unwrap_or_else(|_| usage(&format!("not a number: {value:?}")))),
            other => usage(&format!("unknown option {other}")),
        }
    }
    match which.as_str() {
        "paced" | "a" | "A" => Scenario::paced(posts),
        "learn" | "b" | "B" => Scenario::learn(posts),
        other => usage(&format!("unknown scenario {other:?} (paced or learn)")),
    }
}

fn postmill_bin() -> PathBuf {
    let bin =
        std::env::var_os("POSTMILL_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/postmill"));
    if !bin.is_file() {
        usage(&format!("{} not found: run `cargo build --release --bin postmill` or set POSTMILL_BIN", bin.display()));
    }
    // The child runs in the workspace, so a relative path would no longer resolve.
    std::fs::canonicalize(&bin).unwrap_or(bin)
}

fn config_toml(base_url: &str, scenario: &Scenario) -> String {
    let limits =
        scenario.configured_rpm.map(|rpm| format!("[gemini.limits.\"{MODEL}\"]\nrpm = {rpm}\n")).unwrap_or_default();
    format!(
        r#"provider = "gemini"
mode = "combined"
concurrency = 4
[gemini]
base_url = "{base_url}"
summary_models = ["{MODEL}"]
ocr_models = ["{MODEL}"]
[[gemini.keys]]
name = "bench"
env = "BENCH_KEY"
project = "bench"
{limits}"#
    )
}

/// A workspace with `config.toml` and `inputs/` holding text-only posts.
fn workspace(base_url: &str, scenario: &Scenario) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("config.toml"), config_toml(base_url, scenario))?;
    for i in 0..scenario.posts {
        let post = dir.path().join("inputs").join(format!("post-{i:03}"));
        std::fs::create_dir_all(&post)?;
        let text = format!("第{i}篇 一面：自我介绍 八股：什么是RAG？\n");
        std::fs::write(post.join("post.md"), text)?;
    }
    Ok(dir)
}

/// CPU and peak memory of the waited-for children so far.
struct ChildUsage {
    cpu: Duration,
    peak_rss_kib: u64,
}

fn children_usage() -> ChildUsage {
    // SAFETY: getrusage only writes into the zeroed struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    ChildUsage {
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_kib: usage.ru_maxrss as u64,
    }
}

/// What happened to the postmill process.
struct Run {
    exit_code: Option<i32>,
    wall: Duration,
    usage: ChildUsage,
    stderr: String,
}

async fn run_postmill(bin: &Path, dir: &Path) -> std::io::Result<Run> {
    let stderr_path = dir.join("postmill.stderr");
    let started = Instant::now();
    let status = tokio::process::Command::new(bin)
        .args(["run", "--no-progress"])
        .current_dir(dir)
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .env("BENCH_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path)?)
        .status()
        .await?;
    let wall = started.elapsed();
    Ok(Run {
        exit_code: status.code(),
        wall,
        usage: children_usage(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    })
}

/// Figures computed from the server's request log.
struct Figures {
    generation: usize,
    listing: usize,
    refused: usize,
    summaries: usize,
    /// Most accepted generation requests in any one of the server's windows.
    busiest_window: usize,
    /// Accepted requests per minute from the first to the last of them.
    span_rate: f64,
    /// Accepted requests per minute over postmill's whole wall time.
    wall_rate: f64,
}

/// The most timestamps (sorted) that fit in one half-open window of length `window`.
fn busiest(at: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end].duration_since(at[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

fn figures(log: &[LoggedRequest], window: Duration, wall: Duration, outputs: &Path) -> Figures {
    let generation: Vec<&LoggedRequest> = log.iter().filter(|r| r.path.contains(":generateContent")).collect();
    // The server counts only what it accepted against its window; so do the rates.
    let mut at: Vec<Instant> = generation.iter().filter(|r| r.status != 429).map(|r| r.at).collect();
    at.sort();
    let span = match (at.first(), at.last()) {
        (Some(first), Some(last)) => last.duration_since(*first),
        _ => Duration::ZERO,
    };
    // n requests spaced evenly span n - 1 intervals.
    let span_rate = if span.is_zero() { 0.0 } else { (at.len().saturating_sub(1)) as f64 * 60.0 / span.as_secs_f64() };
    Figures {
        generation: generation.len(),
        listing: log.iter().filter(|r| r.path == "/v1beta/models").count(),
        refused: generation.iter().filter(|r| r.status == 429).count(),
        summaries: count_summaries(outputs),
        busiest_window: busiest(&at, window),
        span_rate,
        wall_rate: at.len() as f64 * 60.0 / wall.as_secs_f64(),
    }
}

fn count_summaries(outputs: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(outputs) else {
        return 0;
    };
    entries.flatten().filter(|e| e.path().join("summary.json").is_file()).count()
}

fn print_table(scenario: &Scenario, run: &Run, f: &Figures) {
    let ceiling = scenario.ceiling_per_minute();
    let window_s = scenario.window.as_secs_f64();
    let cpu_ms = run.usage.cpu.as_secs_f64() * 1000.0;
    let per_request = |x: f64| {
        if f.generation == 0 { 0.0 } else { x / f.generation as f64 }
    };
    let rows: Vec<(String, String)> = vec![
        ("scenario".into(), scenario.name.into()),
        ("postmill exit code".into(), run.exit_code.map_or("killed".into(), |c| c.to_string())),
        ("posts / summaries written".into(), format!("{} / {}", scenario.posts, f.summaries)),
        ("wall time".into(), format!("{:.1} s", run.wall.as_secs_f64())),
        ("generation requests".into(), f.generation.to_string()),
        ("ListModels requests".into(), f.listing.to_string()),
        ("429 responses".into(), f.refused.to_string()),
        ("requests per post".into(), format!("{:.2}", f.generation as f64 / scenario.posts.max(1) as f64)),
        (
            format!("busiest {window_s:.0} s window (accepted)"),
            format!("{} requests (server allows {})", f.busiest_window, scenario.server_limit),
        ),
        (
            "rate over busiest window / ceiling".into(),
            format!(
                "{:.1} / {ceiling:.0} rpm = {:.1}%",
                f.busiest_window as f64 * 60.0 / window_s,
                100.0 * f.busiest_window as f64 / f64::from(scenario.server_limit)
            ),
        ),
        (
            "rate first→last request / ceiling".into(),
            format!("{:.1} / {ceiling:.0} rpm = {:.1}%", f.span_rate, 100.0 * f.span_rate / ceiling),
        ),
        (
            "rate over wall time / ceiling".into(),
            format!("{:.1} / {ceiling:.0} rpm = {:.1}%", f.wall_rate, 100.0 * f.wall_rate / ceiling),
        ),
        ("CPU (user+sys)".into(), format!("{cpu_ms:.0} ms")),
        ("CPU per request".into(), format!("{:.2} ms", per_request(cpu_ms))),
        ("peak RSS".into(), format!("{:.1} MiB", run.usage.peak_rss_kib as f64 / 1024.0)),
    ];
    let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    println!();
    for (k, v) in rows {
        println!("  {k:<width$}  {v}");
    }
    println!();
}

/// The paced scenario's acceptance criteria that failed; empty when all hold.
fn verdict(scenario: &Scenario, run: &Run, f: &Figures) -> Vec<String> {
    let mut problems = Vec::new();
    if run.exit_code != Some(0) {
        problems.push(format!("postmill exited with {:?}", run.exit_code));
    }
    if f.summaries != scenario.posts {
        problems.push(format!("{} of {} posts summarised", f.summaries, scenario.posts));
    }
    if run.wall < Duration::from_secs(60) {
        problems.push("the run lasted less than a minute: use more posts".into());
    }
    if f.refused > 0 {
        problems.push(format!("{} requests refused with 429", f.refused));
    }
    if f.busiest_window > scenario.server_limit as usize {
        problems
            .push(format!("{} requests in one window, over the limit of {}", f.busiest_window, scenario.server_limit));
    }
    let share = f.wall_rate / scenario.ceiling_per_minute();
    if share < MIN_SHARE {
        problems.push(format!(
            "reached {:.1}% of the ceiling over the run, below {:.0}%",
            share * 100.0,
            MIN_SHARE * 100.0
        ));
    }
    problems
}

#[tokio::main]
async fn main() -> ExitCode {
    let scenario = parse(std::env::args().skip(1).collect());
    let bin = postmill_bin();
    let server = FakeGemini::start(GeminiConfig::default().key(KEY, "bench", "bench").minute(scenario.window).limits(
        "bench",
        MODEL,
        Limits::default().rpm(scenario.server_limit),
    ))
    .await;
    let dir = workspace(&server.base_url(), &scenario).expect("write the benchmark workspace");
    eprintln!("bench_quota: {} posts through {} against {}", scenario.posts, bin.display(), server.base_url());
    let run = run_postmill(&bin, dir.path()).await.expect("run postmill");
    let f = figures(&server.requests(), scenario.window, run.wall, &dir.path().join("outputs"));
    print_table(&scenario, &run, &f);
    if run.exit_code != Some(0) {
        eprintln!("postmill stderr:\n{}", run.stderr);
    }
    if scenario.configured_rpm.is_none() {
        return ExitCode::SUCCESS;
    }
    let problems = verdict(&scenario, &run, &f);
    if problems.is_empty() {
        println!("PASS: no 429, no window over the limit, at least 90% of the ceiling");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("FAIL: {p}");
        }
        ExitCode::FAILURE
    }
}
