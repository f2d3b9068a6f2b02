//! Reading an image's text with Tesseract, run as a subprocess.
//!
//! Tesseract reads best when glyphs are about 20 px tall: phone screenshots of small
//! text need upscaling, large slide-like text needs shrinking. Measured on the fixtures
//! in `tests/fixtures/ocr/` (`cargo run --example local_eval -- --scan`): unscaled,
//! 55 px glyphs read at 72% character recall and 13 px glyphs shrunk to 75% at 68%;
//! scaled to a 20 px text height every fixture reads at 97.7% or better (mean 99.0%,
//! against 98.0% at 30 px and 98.8% at 36 px). So the image is decoded, flattened to
//! grayscale on white, its text height estimated from the rows that hold ink, and
//! scaled to [`TARGET_TEXT_PX`] before Tesseract sees it (`--psm 6`, one uniform block,
//! which beat the automatic layout `--psm 3` on 13 px text: 99% against 84%).

use super::prepare::{self, Pass};
use image::{GrayImage, ImageFormat};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The glyph height (in pixels) images are scaled to; see the module docs for why.
pub const TARGET_TEXT_PX: f32 = 20.0;

/// The Debian packages that provide what `local` needs, named in every error about them.
pub const PACKAGES: &str = "tesseract-ocr tesseract-ocr-chi-sim";

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(
        "`{program}` could not be started ({reason}); install it with `apt-get install {PACKAGES}` or set [local] tesseract in config.toml"
    )]
    Missing { program: String, reason: String },
    #[error(
        "Tesseract lacks the language data for `{missing}`; install it with `apt-get install {packages}` or change [local] languages in config.toml ({detail})"
    )]
    MissingLanguage { missing: String, packages: String, detail: String },
    #[error("not a readable image: {0}")]
    Decode(String),
    #[error(
        "unreadable: the text read is mostly noise for `{languages}` ({chars} characters at {confidence:.0}% mean confidence)"
    )]
    Unreadable { languages: String, chars: usize, confidence: f32 },
    #[error("Tesseract took longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("Tesseract failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("temporary file")]
    Io(#[from] std::io::Error),
}

/// How to run Tesseract.
#[derive(Debug, Clone)]
pub struct Tesseract {
    pub program: String,
    pub languages: String,
    pub timeout: Duration,
}

/// What an installed Tesseract is: part of the OCR job's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// The first line of `tesseract --version`, e.g. `tesseract 5.3.0`.
    pub version: String,
    /// The configured languages, all installed.
    pub languages: String,
}

/// One pass's reading: the text and how sure Tesseract was of it.
#[derive(Debug, Clone, Default)]
pub struct PassRead {
    pub pass: Option<Pass>,
    pub text: String,
    /// Characters in recognised words (whitespace aside).
    pub chars: usize,
    /// Mean word confidence (0–100), weighted by characters.
    pub confidence: f32,
}

impl PassRead {
    /// How much a pass read: characters weighted by Tesseract's confidence in them, so a
    /// pass that reads more text wins and one that reads noise (many characters at low
    /// confidence) does not.
    pub fn score(&self) -> f32 {
        self.chars as f32 * self.confidence / 100.0
    }
}

/// The kept reading of an image and the number of passes it took.
#[derive(Debug, Clone)]
pub struct Read {
    pub text: String,
    pub chars: usize,
    pub confidence: f32,
    pub passes: u32,
}

/// The first pass: best-contrast gray at the measured text height, thresholded by
/// Tesseract itself. It reads plain screenshots (light or dark) at 0.99 or better.
const FIRST: Pass = Pass { target_px: TARGET_TEXT_PX, binarise: false };
/// Further passes, run when the first reads with low confidence: the same image
/// binarised locally, and binarised at a larger text height (titles and the lines
/// between them read better when the median line is not the only scale tried).
const MORE: [Pass; 2] =
    [Pass { target_px: TARGET_TEXT_PX, binarise: true }, Pass { target_px: TARGET_TEXT_PX * 1.6, binarise: true }];
/// A first pass at this mean confidence or better is kept as it is: further passes
/// would cost two more Tesseract runs for what is already a clean reading.
const GOOD_ENOUGH: f32 = 85.0;
/// Below this mean confidence, a reading of at least [`MIN_JUDGED_CHARS`] characters is
/// noise: Tesseract reads its own languages at 80–95 here, and Chinese through `eng`
/// at about 35.
const NOISE_CONFIDENCE: f32 = 55.0;
/// Fewer characters than this are too few to judge (a photo with a stray mark); they
/// are dropped when unsure rather than failing the image.
const MIN_JUDGED_CHARS: usize = 8;

impl Tesseract {
    /// Reads the text of an image (PNG, JPEG, WebP, or a GIF's first frame). Text that
    /// is mostly noise for the configured languages is an [`OcrError::Unreadable`].
    pub async fn read(&self, bytes: &[u8]) -> Result<String, OcrError> {
        let read = self.read_detailed(bytes).await?;
        if read.confidence < NOISE_CONFIDENCE {
            if read.chars >= MIN_JUDGED_CHARS {
                return Err(OcrError::Unreadable {
                    languages: self.languages.clone(),
                    chars: read.chars,
                    confidence: read.confidence,
                });
            }
            return Ok(String::new());
        }
        Ok(read.text)
    }

    /// Reads an image in as many passes as it needs and keeps the pass that read most.
    pub async fn read_detailed(&self, bytes: &[u8]) -> Result<Read, OcrError> {
        let rgb = decode(bytes).await?;
        let mut best = self.read_pass(&rgb, FIRST).await?;
        let mut passes = 1;
        if best.confidence < GOOD_ENOUGH {
            for pass in MORE {
                let read = self.read_pass(&rgb, pass).await?;
                passes += 1;
                if read.score() > best.score() {
                    best = read;
                }
            }
        }
        Ok(Read { text: best.text, chars: best.chars, confidence: best.confidence, passes })
    }

    /// One pass at another target text height, for measuring the choice of
    /// [`TARGET_TEXT_PX`] (`examples/local_eval.rs --scan`).
    pub async fn read_at(&self, bytes: &[u8], target_px: f32) -> Result<String, OcrError> {
        let rgb = decode(bytes).await?;
        Ok(self.read_pass(&rgb, Pass { target_px, binarise: false }).await?.text)
    }

    /// Every given pass's reading, for measuring them against each other.
    pub async fn read_passes(&self, bytes: &[u8], passes: &[Pass]) -> Result<Vec<PassRead>, OcrError> {
        let rgb = decode(bytes).await?;
        let mut out = Vec::new();
        for pass in passes {
            out.push(self.read_pass(&rgb, *pass).await?);
        }
        Ok(out)
    }

    async fn read_pass(&self, rgb: &std::sync::Arc<image::RgbImage>, pass: Pass) -> Result<PassRead, OcrError> {
        let rgb = rgb.clone();
        let png = tokio::task::spawn_blocking(move || encode_png(&prepare::prepare(&rgb, pass)))
            .await
            .map_err(|e| OcrError::Decode(format!("preparation panicked: {e}")))??;
        let mut read = self.run(&png).await?;
        read.pass = Some(pass);
        Ok(read)
    }

    /// Runs Tesseract once over a prepared PNG, asking for the text and the per-word
    /// confidences (`txt` and `tsv` outputs of the same recognition).
    async fn run(&self, png: &[u8]) -> Result<PassRead, OcrError> {
        let dir = tempfile::Builder::new().prefix("postmill-ocr-").tempdir()?;
        let input = dir.path().join("in.png");
        tokio::fs::write(&input, png).await?;
        let base = dir.path().join("out");
        let child = Command::new(&self.program)
            .arg(&input)
            .arg(&base)
            .args(["-l", &self.languages, "--psm", "6", "txt", "tsv"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the future on timeout must not leave Tesseract running.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| OcrError::Missing { program: self.program.clone(), reason: e.to_string() })?;
        let output = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| OcrError::Timeout(self.timeout))??;
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        // Tesseract 5 goes on with the languages it found when one of several is missing
        // (and exits 0): Chinese read through `eng` alone is noise, so this is an error
        // whatever the exit status.
        if stderr.contains("Failed loading language") || stderr.contains("Error opening data file") {
            let missing = missing_languages(&stderr);
            let missing = if missing.is_empty() { self.languages.clone() } else { missing.join("+") };
            return Err(OcrError::MissingLanguage {
                packages: language_packages(&missing),
                missing,
                detail: last_line(&stderr),
            });
        }
        if !output.status.success() {
            return Err(OcrError::Failed { status: output.status.to_string(), stderr: last_line(&stderr) });
        }
        let text = tokio::fs::read_to_string(base.with_extension("txt")).await?;
        let tsv = tokio::fs::read_to_string(base.with_extension("tsv")).await?;
        let (chars, confidence) = confidence(&tsv);
        Ok(PassRead { pass: None, text: clean_output(&text), chars, confidence })
    }

    /// Checks that the program runs and has every configured language, and says what it
    /// is (its version and languages: what its readings depend on). Run once, before the
    /// first image of a run, so a broken setup stops the run before anything is read.
    pub fn setup(&self) -> Result<Setup, OcrError> {
        let run = |arg: &str| {
            std::process::Command::new(&self.program)
                .arg(arg)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| OcrError::Missing { program: self.program.clone(), reason: e.to_string() })
        };
        let version = run("--version")?;
        // Tesseract 3 printed its version on stderr, later ones on stdout.
        let version_text =
            format!("{}{}", String::from_utf8_lossy(&version.stdout), String::from_utf8_lossy(&version.stderr));
        let version = version_text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").to_string();
        if !version.to_ascii_lowercase().starts_with("tesseract") {
            return Err(OcrError::Missing {
                program: self.program.clone(),
                reason: format!("`--version` says {:?}, not Tesseract", version.chars().take(80).collect::<String>()),
            });
        }
        let listed = run("--list-langs")?;
        let listed = format!("{}{}", String::from_utf8_lossy(&listed.stdout), String::from_utf8_lossy(&listed.stderr));
        let installed: Vec<&str> =
            listed.lines().map(str::trim).filter(|l| !l.is_empty() && !l.ends_with(':')).collect();
        let missing: Vec<&str> =
            self.languages.split('+').map(str::trim).filter(|l| !l.is_empty() && !installed.contains(l)).collect();
        if !missing.is_empty() {
            let missing = missing.join("+");
            return Err(OcrError::MissingLanguage {
                packages: language_packages(&missing),
                detail: format!("`{} --list-langs` lists {}", self.program, installed.join(", ")),
                missing,
            });
        }
        Ok(Setup { version, languages: self.languages.clone() })
    }
}

/// The Debian package of each Tesseract language (`chi_sim` → `tesseract-ocr-chi-sim`).
pub fn language_packages(languages: &str) -> String {
    languages
        .split('+')
        .filter(|l| !l.is_empty())
        .map(|l| format!("tesseract-ocr-{}", l.to_ascii_lowercase().replace('_', "-")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The languages Tesseract's stderr says it could not load.
fn missing_languages(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("Failed loading language '")?.1.split_once('\'').map(|(lang, _)| lang.to_string()))
        .collect()
}

/// Characters read and their mean confidence, from Tesseract's TSV output (one row per
/// word at level 5; confidence -1 marks rows that are not words).
pub fn confidence(tsv: &str) -> (usize, f32) {
    let (mut chars, mut weighted) = (0usize, 0f64);
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let Ok(conf) = cols[10].trim().parse::<f64>() else { continue };
        let n = cols[11].chars().filter(|c| !c.is_whitespace()).count();
        if conf < 0.0 || n == 0 {
            continue;
        }
        chars += n;
        weighted += n as f64 * conf.min(100.0);
    }
    if chars == 0 {
        return (0, 0.0);
    }
    (chars, (weighted / chars as f64) as f32)
}

fn last_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

async fn decode(bytes: &[u8]) -> Result<std::sync::Arc<image::RgbImage>, OcrError> {
    let owned = bytes.to_vec();
    tokio::task::spawn_blocking(move || prepare::decode(&owned))
        .await
        .map_err(|e| OcrError::Decode(format!("decoding panicked: {e}")))?
        .map(std::sync::Arc::new)
        .map_err(|e| OcrError::Decode(e.to_string()))
}

/// The image as dark text on a light background at its own size, from its
/// best-contrast channel (see [`prepare`]).
pub fn decode_gray(bytes: &[u8]) -> Result<GrayImage, OcrError> {
    let rgb = prepare::decode(bytes).map_err(|e| OcrError::Decode(e.to_string()))?;
    let mut gray = prepare::contrast_gray(&rgb);
    prepare::dark_on_light(&mut gray);
    Ok(gray)
}

pub use prepare::text_height;

fn encode_png(img: &GrayImage) -> Result<Vec<u8>, OcrError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).map_err(|e| OcrError::Decode(e.to_string()))?;
    Ok(out.into_inner())
}

/// Tesseract's raw output made readable: no spaces between Chinese characters (it puts
/// one between every pair), no form feed, no runs of blank lines.
pub fn clean_output(raw: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in raw.replace('\u{c}', "").lines() {
        let line = join_cjk(line.trim());
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// Removes whitespace between two CJK characters (full-width punctuation included) and
/// between a CJK character and the ASCII punctuation Tesseract puts after it.
fn join_cjk(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            let end = (i..chars.len()).find(|&j| !chars[j].is_whitespace()).unwrap_or(chars.len());
            let before = out.chars().next_back();
            let after = chars.get(end).copied();
            let glue = match (before, after) {
                (Some(a), Some(b)) => is_cjk(a) && (is_cjk(b) || is_punct(b)),
                _ => true,
            };
            if !glue {
                out.push(' ');
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303f}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}')
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() && !matches!(c, '#' | '+' | '-' | '*' | '/' | '_' | '@' | '&')
}

/// Character recall of `got` against the known text `expected`: the share of expected
/// characters found in order (longest common subsequence), ignoring whitespace and the
/// width of punctuation (Tesseract writes `,` where the image shows `，`).
pub fn char_recall(expected: &str, got: &str) -> f64 {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
                '、' => ',',
                '。' => '.',
                _ => c,
            })
            .collect()
    };
    let (a, b) = (fold(expected), fold(got));
    if a.is_empty() {
        return 1.0;
    }
    let mut row = vec![0usize; b.len() + 1];
    for x in &a {
        let mut diag = 0;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
            diag = up;
        }
    }
    row[b.len()] as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_spacing_is_removed_but_latin_words_stay_apart() {
        assert_eq!(
            clean_output("自 我 介 绍 ，重 点\n\n\n讲讲 KV Cache , 为 什么\u{c}\n"),
            "自我介绍，重点\n\n讲讲 KV Cache , 为什么"
        );
        assert_eq!(clean_output("5. 手 撕 : LeetCode 146"), "5. 手撕: LeetCode 146");
    }

    #[test]
    fn recall_counts_characters_in_order() {
        assert_eq!(char_recall("自我介绍，LoRA", "自我介绍, LoRA"), 1.0);
        assert_eq!(char_recall("abcd", "abxd"), 0.75);
        assert_eq!(char_recall("abcd", ""), 0.0);
    }

    #[test]
    fn confidence_is_weighted_by_characters_and_skips_non_words() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90.5\t自我介绍\n\
                   5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t30\tFY\n\
                   5\t1\t1\t1\t1\t3\t0\t0\t10\t10\tnot-a-number\tx\n";
        let (chars, conf) = confidence(tsv);
        assert_eq!(chars, 6);
        assert!((conf - (4.0 * 90.5 + 2.0 * 30.0) / 6.0).abs() < 0.01, "{conf}");
        assert_eq!(confidence(""), (0, 0.0));
    }

    #[test]
    fn languages_map_to_debian_packages() {
        assert_eq!(language_packages("chi_sim+eng"), "tesseract-ocr-chi-sim tesseract-ocr-eng");
        let stderr = "Error opening data file /x/chi_sim.traineddata\nFailed loading language 'chi_sim'\nFailed loading language 'jpn'";
        assert_eq!(missing_languages(stderr), ["chi_sim", "jpn"]);
    }

    #[test]
    fn garbage_bytes_are_a_decode_error() {
        assert!(matches!(prepare::decode(b"not an image"), Err(_)));
    }
}
