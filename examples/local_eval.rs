//! Measures the offline route against hand-made gold labels: runs `postmill run
//! --provider local` (the real pipeline, in process) over a folder of posts into a fresh
//! output folder, then prints the figures of `tools/score_extract.py`, the yardstick.
//!
//! `cargo run --release --example local_eval -- GOLD_DIR [INPUT_DIR] [--verbose] [--ocr [--scan]]`
//!
//! INPUT_DIR defaults to GOLD_DIR's parent (the in-repo corpus keeps its labels in
//! `tests/fixtures/nowcoder/gold`). `--verbose` also lists every missed, extra and
//! mis-categorised item; `--ocr` prints Tesseract's character recall on the OCR fixtures
//! (`--scan`: at several target text heights, the measurement behind `TARGET_TEXT_PX`).

use postmill::commands::run::{RunArgs, run};
use postmill::config::{Config, ProcessEnv, ProviderChoice};
use postmill::provider::local::tesseract::{TARGET_TEXT_PX, Tesseract, char_recall, decode_gray, text_height};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

const USAGE: &str = "usage: local_eval GOLD_DIR [INPUT_DIR] [--verbose] [--ocr [--scan]]

GOLD_DIR   gold labels, one <post>.json per post (e.g. tests/fixtures/nowcoder/gold)
INPUT_DIR  the posts (default: GOLD_DIR's parent)
Needs python3 for tools/score_extract.py.";

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

/// The figures the scorer prints for one output folder, as its `--json` gives them.
fn score(root: &Path, gold: &Path, output: &Path, verbose: bool) -> Result<(), String> {
    let scorer = root.join("tools/score_extract.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&scorer).arg(gold).arg(output);
    if verbose {
        cmd.arg("--verbose");
    }
    let out = cmd.output().map_err(|e| format!("cannot run python3 {}: {e}", scorer.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", scorer.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let json = Command::new("python3")
        .arg(&scorer)
        .arg(gold)
        .arg(output)
        .arg("--json")
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&json.stdout).map_err(|e| format!("scorer's --json is not JSON: {e}"))?;
    println!("\nFigures ({} posts):", v["figures"]["posts"]);
    for key in [
        "question_recall",
        "question_precision",
        "category_accuracy",
        "coding_recall",
        "coding_precision",
        "leetcode_accuracy",
        "company_accuracy",
        "round_accuracy",
    ] {
        println!("  {key:<20} {}", v["figures"][key]);
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let paths: Vec<PathBuf> = args.iter().filter(|a| !a.starts_with("--")).map(PathBuf::from).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(gold) = paths.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if !gold.is_dir() {
        eprintln!("gold folder {} does not exist\n\n{USAGE}", gold.display());
        return ExitCode::from(2);
    }
    let input = paths.get(1).cloned().unwrap_or_else(|| gold.parent().unwrap_or(Path::new(".")).to_path_buf());
    // A fresh folder: local summary jobs are keyed by the extractor's version, so an old
    // folder would keep summaries of an older extractor.
    let output = std::env::temp_dir().join(format!("postmill-local-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&output);

    let cfg = match Config::load(None, &ProcessEnv) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("config: {e}");
            return ExitCode::from(2);
        }
    };
    let run_args = RunArgs {
        input: Some(input.clone()),
        output: Some(output.clone()),
        provider: Some(ProviderChoice::Local),
        mode: None,
        concurrency: None,
        retry_failed: false,
        only: Vec::new(),
        wait: false,
        no_progress: true,
    };
    println!("offline route over {} (gold {}), output {}", input.display(), gold.display(), output.display());
    if let Err(e) = run(&cfg, run_args).await {
        eprintln!("run failed: {e}");
        return ExitCode::from(1);
    }
    let scored = score(root, gold, &output, flag("--verbose"));
    let _ = std::fs::remove_dir_all(&output);
    if let Err(e) = scored {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    if flag("--ocr") {
        ocr_recall(&root.join("tests/fixtures/ocr"), flag("--scan")).await;
    }
    ExitCode::SUCCESS
}
