//! Reading an image's text with Tesseract, run as a subprocess.
//!
//! Tesseract reads best when glyphs are about 20 px tall: phone screenshots of small
//! text need upscaling, large slide-like text needs shrinking. Measured on the fixtures
//! in `tests/fixtures/ocr/` (`cargo run --example local_eval -- --scan`): unscaled,
//! 55 px glyphs read at 72% character recall and 13 px glyphs shrunk to 75% at 68%;
//! scaled to a 20 px text height every fixture reads at 97.7% or better. So each image
//! is prepared ([`super::prepare`]: colour emoji painted out, gray from the distance to
//! the local background colour, so white-on-gradient cover cards read like black on
//! white, then scaled to [`TARGET_TEXT_PX`]) before Tesseract sees it (`--psm 6`, one
//! uniform block, which beat the automatic layout `--psm 3` on 13 px text: 99% against
//! 84%).
//!
//! Tesseract answers in TSV, so every line comes with its confidence. When a line of
//! the first pass is unsure, a second pass reads the image at a larger text height and
//! the surer reading of each line is kept ([`merge`]): on the rendered cover cards one
//! scale misreads `快手` or `手撕` that the other reads right. The confidences also tell
//! noise from text: a reading that is mostly unsure (Chinese through `eng` alone reads
//! at about 35) is [`OcrError::Unreadable`], never kept as text.
//!
//! [`Tesseract::setup`] checks the program and its languages (`--version`,
//! `--list-langs`) before a run reads anything; its answer is part of the OCR job's
//! identity.

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

/// One line as Tesseract read it, placed in the original image's coordinates so lines
/// of passes at different scales can be matched.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub top: f32,
    pub bottom: f32,
    /// Block and paragraph: a blank line separates paragraphs in the text.
    pub paragraph: (u32, u32),
    pub text: String,
    /// Characters in recognised words (whitespace aside).
    pub chars: usize,
    /// Mean word confidence (0–100), weighted by characters.
    pub confidence: f32,
}

impl Line {
    /// Characters weighted by confidence: how much of the line was read, surely.
    pub fn score(&self) -> f32 {
        self.chars as f32 * self.confidence / 100.0
    }
}

/// One pass's reading: its lines and how sure Tesseract was of them.
#[derive(Debug, Clone, Default)]
pub struct PassRead {
    pub pass: Option<Pass>,
    pub lines: Vec<Line>,
    pub text: String,
    pub chars: usize,
    pub confidence: f32,
}

impl PassRead {
    fn from_lines(pass: Option<Pass>, lines: Vec<Line>) -> PassRead {
        let chars = lines.iter().map(|l| l.chars).sum::<usize>();
        let weighted: f32 = lines.iter().map(|l| l.chars as f32 * l.confidence).sum();
        let confidence = if chars == 0 { 0.0 } else { weighted / chars as f32 };
        let mut text = String::new();
        let mut last: Option<(u32, u32)> = None;
        for line in &lines {
            if last.is_some_and(|p| p != line.paragraph) {
                text.push('\n');
            }
            text.push_str(&line.text);
            text.push('\n');
            last = Some(line.paragraph);
        }
        PassRead { pass, text: clean_output(&text), lines, chars, confidence }
    }

    /// How much a pass read: characters weighted by Tesseract's confidence in them.
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

/// The first pass: the distance from the local background colour at the measured text
/// height, thresholded by Tesseract itself. Measured on the fixtures
/// (`cargo run --example ocr_recall -- --passes`), it reads screenshots and most cover
/// cards at 0.97 or better; the best-contrast channel lost 0.15 on a small teal card.
const FIRST: Pass = Pass { target_px: TARGET_TEXT_PX, binarise: false, background: true };
/// The passes run when a line of the first is unsure, each merged line by line into the
/// reading so far: the best-contrast channel (a white box of dark text on a coloured
/// card, where the background estimate blurs across the box's edge: 0.70 alone, 0.98
/// with the channel), and a larger text height (short lines of big glyphs, a title's
/// `快手` or a `手撕` read as `Fi`, that one scale misreads and the other reads right).
const MORE: [Pass; 2] = [
    Pass { target_px: TARGET_TEXT_PX, binarise: false, background: false },
    Pass { target_px: TARGET_TEXT_PX * 1.6, binarise: false, background: true },
];
/// A first pass whose every line reads at this confidence or better is kept as it is.
const SURE_LINE: f32 = 85.0;
/// Lines of this many characters or fewer are judged as shapes (emoji, icons, bullets)
/// rather than text when they read below [`NOISE_CONFIDENCE`].
const SHAPE_CHARS: usize = 3;
/// Below this mean confidence, a reading of at least [`MIN_JUDGED_CHARS`] characters is
/// noise: Tesseract reads its own languages at 80–95 here, and Chinese through `eng`
/// at about 35.
const NOISE_CONFIDENCE: f32 = 55.0;
/// Fewer characters than this are too few to judge (a photo with a stray mark); they
/// are dropped when unsure rather than failing the image.
const MIN_JUDGED_CHARS: usize = 8;

/// Combines two passes line by line: where a line of `other` covers the same rows as
/// exactly one line of `base`, the reading with more confident characters is kept (not
/// the higher mean: a line that dropped its hard first characters reads surer than one
/// that kept them); a line only `other` read is
/// added. Per line, because one scale misreads a title the other reads, and vice versa
/// for a list item: neither whole pass is the best reading of the image.
pub fn merge(base: &[Line], other: &[Line]) -> Vec<Line> {
    let overlap = |a: &Line, b: &Line| {
        let inter = a.bottom.min(b.bottom) - a.top.max(b.top);
        let smaller = (a.bottom - a.top).min(b.bottom - b.top).max(1.0);
        inter / smaller > 0.5
    };
    let mut out: Vec<Line> = base.to_vec();
    for o in other {
        let matches: Vec<usize> = (0..base.len()).filter(|&i| overlap(&base[i], o)).collect();
        match matches.as_slice() {
            [] if o.confidence >= NOISE_CONFIDENCE && o.chars > SHAPE_CHARS => out.push(Line {
                // Keep the paragraph apart from its neighbours: it was not in `base`.
                paragraph: (u32::MAX, out.len() as u32),
                ..o.clone()
            }),
            [i] if o.score() > base[*i].score() && other.iter().filter(|x| overlap(x, &base[*i])).count() == 1 => {
                out[*i] = Line { paragraph: base[*i].paragraph, ..o.clone() };
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.top.total_cmp(&b.top));
    out
}

/// Lines from Tesseract's TSV output (one row per word at level 5; confidence -1 marks
/// rows that are not words), in the original image's coordinates (`scale`: prepared
/// size over original size). Short low-confidence lines (emoji, icons) are dropped.
pub fn lines(tsv: &str, scale: f32) -> Vec<Line> {
    let mut out: Vec<(u32, u32, u32, Line, f64)> = Vec::new();
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let num = |i: usize| cols[i].trim().parse::<f64>().ok();
        let (Some(block), Some(par), Some(line), Some(top), Some(height), Some(conf)) =
            (num(2), num(3), num(4), num(7), num(9), num(10))
        else {
            continue;
        };
        let word = cols[11].trim();
        let n = word.chars().filter(|c| !c.is_whitespace()).count();
        if conf < 0.0 || n == 0 {
            continue;
        }
        let id = (block as u32, par as u32, line as u32);
        let (top, bottom) = (top as f32 / scale, (top + height) as f32 / scale);
        match out.last_mut() {
            Some((b, p, l, last, weighted)) if (*b, *p, *l) == id => {
                last.top = last.top.min(top);
                last.bottom = last.bottom.max(bottom);
                last.text.push(' ');
                last.text.push_str(word);
                last.chars += n;
                *weighted += n as f64 * conf.min(100.0);
            }
            _ => out.push((
                id.0,
                id.1,
                id.2,
                Line { top, bottom, paragraph: (id.0, id.1), text: word.to_string(), chars: n, confidence: 0.0 },
                n as f64 * conf.min(100.0),
            )),
        }
    }
    out.into_iter()
        .map(|(_, _, _, mut line, weighted)| {
            line.confidence = (weighted / line.chars as f64) as f32;
            line.text = clean_output(&line.text);
            line
        })
        .filter(|l| l.chars > SHAPE_CHARS || l.confidence >= NOISE_CONFIDENCE)
        .collect()
}

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

    /// Reads an image in one pass, or three when a line of the first is unsure, and keeps
    /// the surest reading of each line.
    pub async fn read_detailed(&self, bytes: &[u8]) -> Result<Read, OcrError> {
        let rgb = decode(bytes).await?;
        let first = self.read_pass(&rgb, FIRST).await?;
        if first.lines.iter().all(|l| l.confidence >= SURE_LINE) {
            return Ok(Read { text: first.text, chars: first.chars, confidence: first.confidence, passes: 1 });
        }
        let mut lines = first.lines;
        for pass in MORE {
            let more = self.read_pass(&rgb, pass).await?;
            lines = merge(&lines, &more.lines);
        }
        let read = PassRead::from_lines(None, lines);
        Ok(Read { text: read.text, chars: read.chars, confidence: read.confidence, passes: 1 + MORE.len() as u32 })
    }

    /// One pass at another target text height, for measuring the choice of
    /// [`TARGET_TEXT_PX`] (`examples/local_eval.rs --scan`).
    pub async fn read_at(&self, bytes: &[u8], target_px: f32) -> Result<String, OcrError> {
        let rgb = decode(bytes).await?;
        Ok(self.read_pass(&rgb, Pass { target_px, binarise: false, background: false }).await?.text)
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
        let (png, scale) = tokio::task::spawn_blocking(move || {
            let img = prepare::prepare(&rgb, pass);
            let scale = img.height() as f32 / rgb.height().max(1) as f32;
            encode_png(&img).map(|png| (png, scale))
        })
        .await
        .map_err(|e| OcrError::Decode(format!("preparation panicked: {e}")))??;
        let tsv = self.run(&png).await?;
        Ok(PassRead::from_lines(Some(pass), lines(&tsv, scale)))
    }

    /// Runs Tesseract once over a prepared PNG and returns its TSV output: the words with
    /// their lines, positions and confidences.
    async fn run(&self, png: &[u8]) -> Result<String, OcrError> {
        let dir = tempfile::Builder::new().prefix("postmill-ocr-").tempdir()?;
        let input = dir.path().join("in.png");
        tokio::fs::write(&input, png).await?;
        let base = dir.path().join("out");
        let child = Command::new(&self.program)
            .arg(&input)
            .arg(&base)
            .args(["-l", &self.languages, "--psm", "6", "tsv"])
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
        Ok(tokio::fs::read_to_string(base.with_extension("tsv")).await?)
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

fn last_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

/// Decodes an image and paints out its emoji ([`super::emoji::mask_emoji`]), once for all
/// the passes that read it.
async fn decode(bytes: &[u8]) -> Result<std::sync::Arc<image::RgbImage>, OcrError> {
    let owned = bytes.to_vec();
    tokio::task::spawn_blocking(move || {
        prepare::decode(&owned).map(|mut rgb| {
            super::emoji::mask_emoji(&mut rgb);
            rgb
        })
    })
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

    const TSV_HEAD: &str =
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n";

    fn word(par: u32, line: u32, top: u32, conf: f32, text: &str) -> String {
        format!("5\t1\t1\t{par}\t{line}\t1\t0\t{top}\t10\t20\t{conf}\t{text}\n")
    }

    #[test]
    fn lines_group_words_weight_confidence_and_drop_shapes() {
        let tsv = [
            TSV_HEAD.to_string(),
            "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t\n".into(),
            word(1, 1, 10, 90.5, "自我介绍"),
            word(1, 1, 12, 30.0, "FY"),
            word(1, 2, 40, 20.0, "sé"),
            word(2, 1, 80, 95.0, "LoRA"),
            "5\t1\t1\t2\t1\t2\t0\t0\t10\t10\tnot-a-number\tx\n".into(),
        ]
        .concat();
        let got = lines(&tsv, 2.0);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].text, "自我介绍 FY");
        assert_eq!(got[0].chars, 6);
        assert!((got[0].confidence - (4.0 * 90.5 + 2.0 * 30.0) / 6.0).abs() < 0.01);
        assert_eq!((got[0].top, got[0].bottom), (5.0, 16.0), "in original coordinates");
        let read = PassRead::from_lines(None, got);
        assert_eq!(read.text, "自我介绍 FY\n\nLoRA", "paragraphs stay apart");
        assert!(lines("", 1.0).is_empty());
    }

    #[test]
    fn merge_keeps_the_surer_reading_of_each_line_and_adds_missed_lines() {
        let line = |top: f32, text: &str, confidence: f32| Line {
            top,
            bottom: top + 20.0,
            paragraph: (1, 1),
            text: text.into(),
            chars: text.chars().count(),
            confidence,
        };
        let base = [line(0.0, "RF 大模型", 70.0), line(30.0, "1. 手撕: 实现多头注意力", 91.0)];
        let other = [
            line(2.0, "快手大模型", 88.0),
            line(31.0, "1. Fi: 实现多头注意力", 80.0),
            line(60.0, "2. 八股: RoPE 位置编码", 90.0),
            line(90.0, "@", 10.0),
        ];
        let merged: Vec<String> = merge(&base, &other).into_iter().map(|l| l.text).collect();
        assert_eq!(merged, ["快手大模型", "1. 手撕: 实现多头注意力", "2. 八股: RoPE 位置编码"]);
    }

    #[test]
    fn languages_map_to_debian_packages() {
        assert_eq!(language_packages("chi_sim+eng"), "tesseract-ocr-chi-sim tesseract-ocr-eng");
        let stderr = "Error opening data file /x/chi_sim.traineddata\nFailed loading language 'chi_sim'\nFailed loading language 'jpn'";
        assert_eq!(missing_languages(stderr), ["chi_sim", "jpn"]);
    }

    #[test]
    fn garbage_bytes_are_a_decode_error() {
        assert!(prepare::decode(b"not an image").is_err());
    }
}
