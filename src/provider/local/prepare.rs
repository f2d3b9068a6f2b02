//! Image preparation before OCR: what document-OCR tools do to a page before Tesseract
//! sees it, so that screenshots and cover cards read as well as scanned paper.
//!
//! Tesseract wants dark text on a light, even background with glyphs about 20 px tall.
//! Screenshots rarely are: a Xiaohongshu cover card is large white text on an
//! orange-to-red gradient, where plain luma leaves the text 80 gray levels from a
//! background that itself spans 60, and Tesseract's global threshold cuts through both
//! (0.42 character recall before this module). So each image is decoded and flattened
//! over white, turned into gray levels that separate text from background whatever their
//! colours, either as the distance from the local background colour
//! ([`background_distance`], the default: it handles gradients, several text colours in
//! one card and dark mode alike) or as the one channel in which text and background
//! differ most ([`contrast_gray`], then inverted when the text is the lighter class,
//! [`dark_on_light`]), scaled so its text height becomes the target ([`scale_to_text`]),
//! and optionally binarised with Sauvola's local threshold ([`sauvola`]). Which of these
//! a pass uses is a [`Pass`]; `examples/ocr_recall.rs --passes` measures them.
//!
//! Before any pass, colour emoji are painted out ([`super::emoji`]).

use image::{DynamicImage, GrayImage, Luma, RgbImage, imageops::FilterType};

/// Bumped whenever preparation changes what Tesseract is given: part of the OCR job's
/// identity ([`crate::provider::Provider::revision`]), so better preparation rereads.
pub const VERSION: u32 = 3;

/// Scaling never goes beyond these factors: past them the estimate is more likely wrong
/// than the text that small or large.
const MIN_SCALE: f32 = 0.25;
const MAX_SCALE: f32 = 4.0;
/// Tesseract refuses larger images, and time grows with area.
const MAX_SIDE: u32 = 8000;
/// How far (in gray levels) a pixel must be from the background to count as ink.
pub(super) const INK_CONTRAST: u8 = 60;

/// How one OCR pass prepares the image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pass {
    /// The text height (px) the image is scaled to.
    pub target_px: f32,
    /// Whether the image is binarised with [`sauvola`] (else Tesseract thresholds it).
    pub binarise: bool,
    /// Whether gray levels are the distance from the local background colour
    /// ([`background_distance`]) rather than the best-contrast channel ([`contrast_gray`]).
    pub background: bool,
}

/// Decodes an image (PNG, JPEG, WebP, a GIF's first frame) and composites any
/// transparency over white (a transparent PNG would otherwise read as black on black).
pub fn decode(bytes: &[u8]) -> Result<RgbImage, image::ImageError> {
    let img = image::load_from_memory(bytes)?;
    Ok(flatten(&img))
}

fn flatten(img: &DynamicImage) -> RgbImage {
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = u32::from(a);
        let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a)) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// The image as gray levels, from whichever of luma, red, green and blue separates its
/// two classes of pixels best (Otsu's between-class variance). White text on orange
/// differs little in luma and red but almost fully in blue; black text on white is the
/// same in all four, and luma is kept on a tie.
pub fn contrast_gray(rgb: &RgbImage) -> GrayImage {
    let luma = |p: [u8; 3]| ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000) as u8;
    let mut hists = [[0u64; 256]; 4];
    for p in rgb.pixels() {
        let p = p.0;
        hists[0][usize::from(luma(p))] += 1;
        for c in 0..3 {
            hists[c + 1][usize::from(p[c])] += 1;
        }
    }
    let mut best = (0, otsu(&hists[0]).1);
    for (i, h) in hists.iter().enumerate().skip(1) {
        let v = otsu(h).1;
        // A channel must beat luma clearly: on near-gray images they differ by noise.
        if v > best.1 * 1.1 {
            best = (i, v);
        }
    }
    GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let p = rgb.get_pixel(x, y).0;
        Luma([if best.0 == 0 { luma(p) } else { p[best.0 - 1] }])
    })
}

/// The local background colour: the per-channel median of coarse blocks (an eighth of
/// the longer side: larger than a title's glyphs, so text never makes up half a block),
/// interpolated between block centres so a gradient is followed.
pub struct Background {
    block: u32,
    bw: usize,
    bh: usize,
    cells: Vec<[f32; 3]>,
}

impl Background {
    /// The background of an image, from the medians of its blocks.
    pub fn estimate(rgb: &RgbImage) -> Background {
        let (w, h) = (rgb.width(), rgb.height());
        let block = (w.max(h) / 8).max(8);
        let (bw, bh) = (w.div_ceil(block) as usize, h.div_ceil(block) as usize);
        let mut cells = vec![[0f32; 3]; bw * bh];
        for by in 0..bh {
            for bx in 0..bw {
                let mut hist = [[0u32; 256]; 3];
                let mut n = 0u32;
                let (x0, y0) = (bx as u32 * block, by as u32 * block);
                // Every other pixel each way: a quarter of the work, the same median.
                for y in (y0..(y0 + block).min(h)).step_by(2) {
                    for x in (x0..(x0 + block).min(w)).step_by(2) {
                        let p = rgb.get_pixel(x, y).0;
                        for c in 0..3 {
                            hist[c][usize::from(p[c])] += 1;
                        }
                        n += 1;
                    }
                }
                for c in 0..3 {
                    let mut seen = 0;
                    let v = hist[c].iter().position(|k| {
                        seen += k;
                        seen * 2 >= n
                    });
                    cells[by * bw + bx][c] = v.unwrap_or(255) as f32;
                }
            }
        }
        Background { block, bw, bh, cells }
    }

    /// Where a coordinate falls between block centres: the two blocks and the weight of
    /// the second, clamped at the edges.
    fn axis(&self, v: u32, n: usize) -> (usize, usize, f32) {
        let f = ((v as f32 + 0.5) / self.block as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i = (f.floor() as usize).min(n.saturating_sub(2));
        let t = if n == 1 { 0.0 } else { f - i as f32 };
        (i, (i + 1).min(n - 1), t)
    }

    /// The background colour at a pixel: bilinear between the four nearest block centres.
    pub fn at(&self, x: u32, y: u32) -> [f32; 3] {
        let (y0, y1, ty) = self.axis(y, self.bh);
        let (x0, x1, tx) = self.axis(x, self.bw);
        let (bw, cells) = (self.bw, &self.cells);
        let mut out = [0f32; 3];
        for (c, o) in out.iter_mut().enumerate() {
            let top = cells[y0 * bw + x0][c] * (1.0 - tx) + cells[y0 * bw + x1][c] * tx;
            let bottom = cells[y1 * bw + x0][c] * (1.0 - tx) + cells[y1 * bw + x1][c] * tx;
            *o = top * (1.0 - ty) + bottom * ty;
        }
        out
    }
}

/// The image as each pixel's colour distance from the local background colour
/// ([`Background`]), inverted (background white, text dark, whatever the colours of
/// either). Text of any colour on any background then has the full contrast between it
/// and what surrounds it: white on orange, yellow and white on purple in one card, light
/// gray on a dark theme.
pub fn background_distance(rgb: &RgbImage) -> GrayImage {
    let bg = Background::estimate(rgb);
    GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        Luma([255 - distance(rgb.get_pixel(x, y).0, bg.at(x, y)).min(255.0) as u8])
    })
}

fn distance(p: [u8; 3], bg: [f32; 3]) -> f32 {
    let mut d2 = 0f32;
    for c in 0..3 {
        d2 += (f32::from(p[c]) - bg[c]).powi(2);
    }
    d2.sqrt()
}

/// Otsu's threshold of a histogram and the between-class variance it reaches.
fn otsu(hist: &[u64; 256]) -> (u8, f64) {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return (128, 0.0);
    }
    let sum: f64 = hist.iter().enumerate().map(|(v, n)| v as f64 * *n as f64).sum();
    let (mut w0, mut sum0) = (0f64, 0f64);
    let mut best = (128u8, 0f64);
    for (t, n) in hist.iter().enumerate() {
        w0 += *n as f64;
        sum0 += t as f64 * *n as f64;
        let w1 = total as f64 - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let (m0, m1) = (sum0 / w0, (sum - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1) / (total as f64 * total as f64);
        if between > best.1 {
            best = (t as u8, between);
        }
    }
    best
}

fn histogram(img: &GrayImage) -> [u64; 256] {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[usize::from(p.0[0])] += 1;
    }
    hist
}

/// Inverts the image when its text is lighter than its background (dark mode, white
/// text on a coloured card). The background is the larger of Otsu's two classes: text
/// covers less of a page than what it is written on.
pub fn dark_on_light(img: &mut GrayImage) {
    let hist = histogram(img);
    let (t, _) = otsu(&hist);
    let dark: u64 = hist[..=usize::from(t)].iter().sum();
    let light: u64 = hist[usize::from(t) + 1..].iter().sum();
    if dark > light {
        image::imageops::invert(img);
    }
}

fn median(img: &GrayImage) -> u8 {
    let hist = histogram(img);
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
    let inked = (0..img.height()).map(|y| {
        (0..img.width()).filter(|&x| background.abs_diff(img.get_pixel(x, y).0[0]) > INK_CONTRAST).count() as u32
            >= min_ink
    });
    median_band(&bands(inked))
}

/// The bands of consecutive inked rows, as (first row, height). Bands of a pixel or two
/// are rules and underlines, not text, and are left out.
pub(super) fn bands(inked: impl Iterator<Item = bool>) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut run = 0u32;
    for (y, ink) in inked.chain(std::iter::once(false)).enumerate() {
        if ink {
            run += 1;
        } else if run > 0 {
            if run >= 4 {
                out.push((y as u32 - run, run));
            }
            run = 0;
        }
    }
    out
}

pub(super) fn median_band(bands: &[(u32, u32)]) -> Option<u32> {
    let mut heights: Vec<u32> = bands.iter().map(|b| b.1).collect();
    heights.sort_unstable();
    heights.get(heights.len() / 2).copied()
}

/// The factor that brings text of this height to the target, within bounds.
pub fn scale_for(text_px: u32, target_px: f32) -> f32 {
    (target_px / text_px.max(1) as f32).clamp(MIN_SCALE, MAX_SCALE)
}

/// The image scaled so that its text height becomes `target_px` (unchanged when there
/// is no text to measure or the change would be under 5%).
pub fn scale_to_text(img: GrayImage, target_px: f32) -> GrayImage {
    let scale = text_height(&img).map_or(1.0, |h| scale_for(h, target_px));
    let scale = scale.min(MAX_SIDE as f32 / img.width().max(img.height()).max(1) as f32);
    if (scale - 1.0).abs() < 0.05 {
        return img;
    }
    let w = ((img.width() as f32 * scale).round() as u32).max(1);
    let h = ((img.height() as f32 * scale).round() as u32).max(1);
    let filter = if scale > 1.0 { FilterType::CatmullRom } else { FilterType::Triangle };
    image::imageops::resize(&img, w, h, filter)
}

/// Sauvola's adaptive threshold: a pixel is ink when darker than
/// `mean · (1 + k · (stddev / 128 − 1))` of the `window`-wide square around it. On an
/// even background (stddev ≈ 0) the threshold sits at `(1 − k)` of the local mean, so
/// a smooth gradient stays paper; near strokes the spread rises and the threshold
/// follows the text. Summed-area tables keep it linear in the pixel count.
pub fn sauvola(img: &GrayImage, window: u32, k: f64) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let stride = w + 1;
    let mut sum = vec![0u64; stride * (h + 1)];
    let mut sq = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let (mut row, mut row_sq) = (0u64, 0u64);
        for x in 0..w {
            let v = u64::from(img.get_pixel(x as u32, y as u32).0[0]);
            row += v;
            row_sq += v * v;
            sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + row;
            sq[(y + 1) * stride + x + 1] = sq[y * stride + x + 1] + row_sq;
        }
    }
    let half = (window / 2).max(1) as usize;
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let (x, y) = (x as usize, y as usize);
        let (x0, y0) = (x.saturating_sub(half), y.saturating_sub(half));
        let (x1, y1) = ((x + half + 1).min(w), (y + half + 1).min(h));
        let area = ((x1 - x0) * (y1 - y0)) as f64;
        let rect = |t: &[u64]| {
            (t[y1 * stride + x1] + t[y0 * stride + x0]) as f64 - (t[y0 * stride + x1] + t[y1 * stride + x0]) as f64
        };
        let mean = rect(&sum) / area;
        let var = (rect(&sq) / area - mean * mean).max(0.0);
        let threshold = mean * (1.0 + k * (var.sqrt() / 128.0 - 1.0));
        let v = f64::from(img.get_pixel(x as u32, y as u32).0[0]);
        Luma([if v <= threshold { 0 } else { 255 }])
    })
}

/// Sauvola's `k`: 0.2 to 0.5 in the literature; the low end keeps thin strokes of
/// anti-aliased screen text, which the high end erodes.
const SAUVOLA_K: f64 = 0.2;

/// The decoded image prepared for one pass: best-contrast gray, dark text on light,
/// text scaled to the pass's height, binarised when the pass says so.
pub fn prepare(rgb: &RgbImage, pass: Pass) -> GrayImage {
    let gray = if pass.background {
        background_distance(rgb)
    } else {
        let mut gray = contrast_gray(rgb);
        dark_on_light(&mut gray);
        gray
    };
    let gray = scale_to_text(gray, pass.target_px);
    if pass.binarise {
        // A window of about two text lines: wide enough that a glyph's inside is judged
        // against the paper around it, narrow enough to follow a gradient.
        let window = (pass.target_px * 2.0).round() as u32 | 1;
        sauvola(&gray, window, SAUVOLA_K)
    } else {
        gray
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(text: [u8; 3], from: [u8; 3], to: [u8; 3]) -> RgbImage {
        // A horizontal gradient with a block of "text" in the middle.
        RgbImage::from_fn(200, 100, |x, y| {
            if (40..60).contains(&y) && (50..150).contains(&x) {
                return image::Rgb(text);
            }
            let t = x as f32 / 199.0;
            let mix = |a: u8, b: u8| (f32::from(a) * (1.0 - t) + f32::from(b) * t) as u8;
            image::Rgb([mix(from[0], to[0]), mix(from[1], to[1]), mix(from[2], to[2])])
        })
    }

    #[test]
    fn white_on_orange_is_read_from_the_channel_that_separates_them() {
        let img = card([255, 255, 255], [255, 154, 60], [229, 45, 39]);
        let mut gray = contrast_gray(&img);
        // Blue: the text is 255, the background at most 60.
        assert_eq!(gray.get_pixel(100, 50).0[0], 255);
        assert!(gray.get_pixel(0, 0).0[0] <= 60);
        dark_on_light(&mut gray);
        assert_eq!(gray.get_pixel(100, 50).0[0], 0, "text becomes dark");
        assert!(gray.get_pixel(199, 99).0[0] >= 195, "background becomes light");
    }

    #[test]
    fn black_on_white_keeps_luma_and_polarity() {
        let img = card([0, 0, 0], [255, 255, 255], [250, 250, 250]);
        let mut gray = contrast_gray(&img);
        dark_on_light(&mut gray);
        assert_eq!(gray.get_pixel(100, 50).0[0], 0);
        assert!(gray.get_pixel(0, 0).0[0] >= 250);
    }

    #[test]
    fn sauvola_keeps_a_gradient_as_paper_and_text_as_ink() {
        let img = GrayImage::from_fn(300, 60, |x, y| {
            if (20..40).contains(&y) && x % 20 < 4 { Luma([20 + (x / 5) as u8]) } else { Luma([120 + (x / 3) as u8]) }
        });
        let bin = sauvola(&img, 41, SAUVOLA_K);
        assert_eq!(bin.get_pixel(2, 30).0[0], 0);
        assert_eq!(bin.get_pixel(282, 30).0[0], 0);
        assert!((0..300).all(|x| bin.get_pixel(x, 5).0[0] == 255), "the gradient has no ink");
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
    fn scale_brings_text_toward_the_target() {
        assert!(scale_for(13, 20.0) > 1.5);
        assert!(scale_for(56, 20.0) < 0.4);
        assert_eq!(scale_for(1, 20.0), MAX_SCALE);
        assert_eq!(scale_for(1000, 20.0), MIN_SCALE);
    }

    #[test]
    fn transparent_pixels_become_white() {
        let img = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(4, 4, image::Rgba([0, 0, 0, 0])));
        assert_eq!(flatten(&img).get_pixel(0, 0).0, [255, 255, 255]);
    }
}
