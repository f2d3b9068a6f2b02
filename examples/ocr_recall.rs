//! Measures offline OCR: reads every image with known text under `tests/fixtures/ocr/`
//! (the screenshot fixtures and the rendered cover cards in `cards/`) through real
//! Tesseract, and prints per image its character recall, the passes run, and the wall
//! and CPU seconds spent (CPU of the Tesseract children included).
//!
//! `cargo run --release --example ocr_recall [DIR] [--passes] [--languages LANGS]`;
//! `--passes` also reads every image with each candidate pass alone and prints its recall,
//! characters and mean confidence: the measurement behind the choice of passes.
//! `--languages chi_sim` measures another Tesseract language set than `chi_sim+eng`.

use postmill::provider::local::prepare::Pass;
use postmill::provider::local::tesseract::{TARGET_TEXT_PX, Tesseract, char_recall};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(images(&path));
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("png" | "jpg" | "jpeg" | "webp"))
            && path.with_extension("txt").exists()
        {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// CPU seconds used so far by this process and its waited-for children.
fn cpu_seconds() -> f64 {
    let secs = |who| {
        // SAFETY: getrusage only writes the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
        t(u.ru_utime) + t(u.ru_stime)
    };
    secs(libc::RUSAGE_SELF) + secs(libc::RUSAGE_CHILDREN)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let passes = std::env::args().any(|a| a == "--passes");
    // `--languages chi_sim`: measure another Tesseract language set than the default.
    let args: Vec<String> = std::env::args().collect();
    let languages = args
        .iter()
        .position(|a| a == "--languages")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| "chi_sim+eng".to_string());
    let dir = (1..args.len())
        .find(|&i| !args[i].starts_with("--") && args[i - 1] != "--languages")
        .map(|i| PathBuf::from(&args[i]))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocr"));
    let tess = Tesseract { program: "tesseract".into(), languages, timeout: Duration::from_secs(120) };
    let list = images(&dir);
    if list.is_empty() {
        eprintln!("no image with a .txt beside it under {}", dir.display());
        std::process::exit(2);
    }
    let (mut worst, mut sum, mut wall_total, mut cpu_total) = (1.0f64, 0.0, 0.0, 0.0);
    println!("{:<44} {:>7} {:>6} {:>7} {:>7}", "image", "recall", "passes", "wall s", "cpu s");
    for path in &list {
        let bytes = std::fs::read(path).expect("image");
        let truth = std::fs::read_to_string(path.with_extension("txt")).expect("true text");
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let read = tess.read_detailed(&bytes).await;
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let name = path.strip_prefix(&dir).unwrap_or(path).display().to_string();
        if passes {
            let only: Option<String> = std::env::var("OCR_ONLY").ok();
            if only.as_deref().is_some_and(|o| !path.to_string_lossy().contains(o)) {
                continue;
            }
            let mut candidates: Vec<Pass> = [1.0, 1.6]
                .into_iter()
                .flat_map(|f| {
                    [false, true].map(|background| Pass { target_px: TARGET_TEXT_PX * f, binarise: false, background })
                })
                .collect();
            candidates.push(Pass { target_px: TARGET_TEXT_PX, binarise: true, background: true });
            for r in tess.read_passes(&bytes, &candidates).await.unwrap_or_default() {
                let p = r.pass.expect("pass");
                println!(
                    "    {:>4.0} px {:<6} {:<10} recall {:.3} chars {:>4} conf {:>5.1} score {:>6.1}",
                    p.target_px,
                    if p.binarise { "binary" } else { "gray" },
                    if p.background { "background" } else { "channel" },
                    char_recall(&truth, &r.text),
                    r.chars,
                    r.confidence,
                    r.score()
                );
                if std::env::var_os("OCR_SHOW").is_some() {
                    println!("{}", r.text);
                }
            }
        }
        match read {
            Ok(r) => {
                let recall = char_recall(&truth, &r.text);
                println!(
                    "{name:<44} {recall:>7.3} {:>6} {wall:>7.2} {cpu:>7.2}  ({} chars at {:.1})",
                    r.passes, r.chars, r.confidence
                );
                if std::env::var_os("OCR_SHOW").is_some() {
                    println!("{}", r.text);
                }
                worst = worst.min(recall);
                sum += recall;
            }
            Err(e) => {
                println!("{name:<44} error: {e}");
                worst = 0.0;
            }
        }
        wall_total += wall;
        cpu_total += cpu;
    }
    let n = list.len() as f64;
    println!(
        "{} images: mean recall {:.3}, worst {:.3}; {:.2} s wall and {:.2} s CPU per image",
        list.len(),
        sum / n,
        worst,
        wall_total / n,
        cpu_total / n
    );
}
