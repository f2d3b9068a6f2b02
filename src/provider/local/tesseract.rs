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

use image::{DynamicImage, GrayImage, ImageFormat, Luma, imageops::FilterType};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// The glyph height (in pixels) images are scaled to; see the module docs for why.
pub const TARGET_TEXT_PX: f32 = 20.0;
/// Scaling never goes beyond these factors: past them the estimate is more likely wrong
/// than the text that small or large.
const MIN_SCALE: f32 = 0.25;
const MAX_SCALE: f32 = 4.0;
/// Tesseract refuses larger images, and time grows with area.
const MAX_SIDE: u32 = 8000;
/// How far (in gray levels) a pixel must be from the background to count as ink.
const INK_CONTRAST: u8 = 60;

/// The Debian packages that provide what `local` needs, named in every error about them.
pub const PACKAGES: &str = "tesseract-ocr tesseract-ocr-chi-sim";

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(
        "`{program}` could not be started ({reason}); install it with `apt-get install {PACKAGES}` or set [local] tesseract in config.toml"
    )]
    Missing { program: String, reason: String },
    #[error(
        "Tesseract lacks the language data for `{languages}`; install it with `apt-get install {PACKAGES}` ({detail})"
    )]
    MissingLanguage { languages: String, detail: String },
    #[error("not a readable image: {0}")]
    Decode(String),
    #[error("Tesseract took longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("Tesseract failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// How to run Tesseract.
#[derive(Debug, Clone)]
pub struct Tesseract {
    pub program: String,
    pub languages: String,
    pub timeout: Duration,
}

impl Tesseract {
    /// Reads the text of an image (PNG, JPEG, WebP, or a GIF's first frame).
    pub async fn read(&self, bytes: &[u8]) -> Result<String, OcrError> {
        self.read_at(bytes, TARGET_TEXT_PX).await
    }

    /// [`Tesseract::read`] with another target text height, for measuring the choice.
    pub async fn read_at(&self, bytes: &[u8], target_px: f32) -> Result<String, OcrError> {
        let owned = bytes.to_vec();
        let png = tokio::task::spawn_blocking(move || prepare(&owned, target_px).and_then(|img| encode_png(&img)))
            .await
            .map_err(|e| OcrError::Decode(format!("preprocessing panicked: {e}")))??;
        let file = tempfile::Builder::new().prefix("postmill-ocr-").suffix(".png").tempfile()?;
        tokio::fs::write(file.path(), &png).await?;
        let raw = self.run(file.path()).await?;
        Ok(clean_output(&raw))
    }

    async fn run(&self, png: &Path) -> Result<String, OcrError> {
        let child = Command::new(&self.program)
            .arg(png)
            .arg("stdout")
            .args(["-l", &self.languages, "--psm", "6"])
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
        if !output.status.success() {
            if stderr.contains("Failed loading language") || stderr.contains("Error opening data file") {
                return Err(OcrError::MissingLanguage {
                    languages: self.languages.clone(),
                    detail: last_line(&stderr),
                });
            }
            return Err(OcrError::Failed { status: output.status.to_string(), stderr: last_line(&stderr) });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

fn last_line(s: &str) -> String {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

/// Decodes, flattens to grayscale on white, makes text dark on light, and scales the
/// text to `target_px` (normally [`TARGET_TEXT_PX`]).
pub fn prepare(bytes: &[u8], target_px: f32) -> Result<GrayImage, OcrError> {
    let gray = decode_gray(bytes)?;
    let scale = text_height(&gray).map_or(1.0, |h| scale_for(h, target_px));
    let scale = scale.min(MAX_SIDE as f32 / gray.width().max(gray.height()) as f32);
    if (scale - 1.0).abs() < 0.05 {
        return Ok(gray);
    }
    let w = ((gray.width() as f32 * scale).round() as u32).max(1);
    let h = ((gray.height() as f32 * scale).round() as u32).max(1);
    let filter = if scale > 1.0 { FilterType::CatmullRom } else { FilterType::Triangle };
    Ok(image::imageops::resize(&gray, w, h, filter))
}

/// The image as dark text on a light gray background, at its own size.
pub fn decode_gray(bytes: &[u8]) -> Result<GrayImage, OcrError> {
    // `load_from_memory` gives a GIF's first frame, which is what a scraped GIF shows.
    let img = image::load_from_memory(bytes).map_err(|e| OcrError::Decode(e.to_string()))?;
    let mut gray = flatten(&img);
    if median(&gray) < 110 {
        // Dark mode: Tesseract expects dark text on a light background.
        image::imageops::invert(&mut gray);
    }
    Ok(gray)
}

/// The factor that brings text of this height to the target, within bounds.
pub fn scale_for(text_px: u32, target_px: f32) -> f32 {
    (target_px / text_px.max(1) as f32).clamp(MIN_SCALE, MAX_SCALE)
}

/// Grayscale with transparency composited over white (a transparent PNG would
/// otherwise read as black on black).
fn flatten(img: &DynamicImage) -> GrayImage {
    let rgba = img.to_rgba8();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let luma = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
        let a = u32::from(a);
        Luma([((luma * a + 255 * (255 - a)) / 255) as u8])
    })
}

fn median(img: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[usize::from(p.0[0])] += 1;
    }
    let half = (u64::from(img.width()) * u64::from(img.height())).div_ceil(2);
    let mut seen = 0;
    for (v, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= half {
            return v as u8;
        }
    }
    255
}

/// The typical height of a text line, in pixels: the median height of the bands of
/// rows that hold ink. `None` when there is no ink to measure.
pub fn text_height(img: &GrayImage) -> Option<u32> {
    let background = median(img);
    let min_ink = (img.width() / 400).max(1);
    let inked: Vec<bool> = (0..img.height())
        .map(|y| {
            (0..img.width()).filter(|&x| background.abs_diff(img.get_pixel(x, y).0[0]) > INK_CONTRAST).count() as u32
                >= min_ink
        })
        .collect();
    let mut bands = Vec::new();
    let mut run = 0u32;
    for ink in inked.iter().chain(std::iter::once(&false)) {
        if *ink {
            run += 1;
        } else if run > 0 {
            // Bands of a pixel or two are rules and underlines, not text.
            if run >= 4 {
                bands.push(run);
            }
            run = 0;
        }
    }
    bands.sort_unstable();
    bands.get(bands.len() / 2).copied()
}

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
    fn scale_brings_text_toward_the_target() {
        assert!(scale_for(13, TARGET_TEXT_PX) > 1.5);
        assert!(scale_for(56, TARGET_TEXT_PX) < 0.4);
        assert_eq!(scale_for(1, TARGET_TEXT_PX), MAX_SCALE);
        assert_eq!(scale_for(1000, TARGET_TEXT_PX), MIN_SCALE);
    }

    #[test]
    fn text_height_is_the_median_band() {
        let mut img = GrayImage::from_pixel(200, 100, Luma([255]));
        for (top, h) in [(10, 12), (40, 14), (70, 13)] {
            for y in top..top + h {
                for x in 20..120 {
                    img.put_pixel(x, y, Luma([0]));
                }
            }
        }
        // A one-pixel rule is not a line of text.
        for x in 0..200 {
            img.put_pixel(x, 95, Luma([0]));
        }
        assert_eq!(text_height(&img), Some(13));
        assert_eq!(text_height(&GrayImage::from_pixel(10, 10, Luma([255]))), None);
    }

    #[test]
    fn transparent_pixels_become_white_and_dark_mode_is_inverted() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0])));
        assert_eq!(flatten(&img).get_pixel(0, 0).0[0], 255);
        let mut png = std::io::Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(GrayImage::from_pixel(8, 8, Luma([20]))).write_to(&mut png, ImageFormat::Png).unwrap();
        assert_eq!(prepare(png.get_ref(), TARGET_TEXT_PX).unwrap().get_pixel(0, 0).0[0], 235);
    }

    #[test]
    fn recall_counts_characters_in_order() {
        assert_eq!(char_recall("自我介绍，LoRA", "自我介绍, LoRA"), 1.0);
        assert_eq!(char_recall("abcd", "abxd"), 0.75);
        assert_eq!(char_recall("abcd", ""), 0.0);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(prepare(b"not an image", TARGET_TEXT_PX), Err(OcrError::Decode(_))));
    }
}
