//! Colour emoji painted out before OCR. Cover cards put 🔥, ✅ or 👉 at the start of
//! list lines and inline, and Tesseract reads each as a glyph and misreads its neighbours
//! with it (0.92 character recall on a dark card with one at the start of every line, 1.00
//! with them painted out). An emoji is told from a glyph by what a glyph is: strokes of
//! one ink colour (or two: outline and fill) mixed with the background, as heavy as the
//! other glyphs of its line. [`mask_emoji`] runs once per image, before every pass of
//! [`super::prepare`].

use super::prepare::{Background, INK_CONTRAST, bands, median_band};
use image::RgbImage;

/// Images larger than this (photos, very long screenshots) are not searched for emoji:
/// the search keeps up to 9 bytes a pixel, and takes about 0.1 s of CPU a megapixel.
const MASK_MAX_PIXELS: u64 = 16_000_000;
/// Lines lower than this are left alone: a pixel of anti-aliasing is a third of a stroke
/// there, and strokes and lumps measure alike.
const MIN_LINE_PX: u32 = 16;
/// Blobs are candidates from this share of the typical text height up to
/// [`BLOB_MAX_TEXT`] times it: smaller ones are punctuation and glyph parts, larger ones
/// boxes, stickers and photos (a white box of text on a card is one blob of ink; so that
/// a few such boxes cannot make the typical height, no candidate is more than a quarter
/// of the image either way).
const BLOB_MIN_TEXT: f32 = 0.4;
const BLOB_MAX_TEXT: u32 = 3;
/// A blob is solid, an emoji's body rather than a pen stroke, when its thickness reaches
/// this share of its line's height (glyphs, junctions of heavy strokes included, measure
/// at most 0.32 of it on the cards, filled emoji 0.45 to 1) plus [`SOLID_PX`] (a pixel
/// of anti-aliasing either side)...
const SOLID_LINE: f32 = 0.35;
const SOLID_PX: f32 = 2.0;
/// ...and this many times the median thickness of the other blobs of its line: glyphs of
/// one line share a weight, so a title drawn with a thick outline (each glyph a solid
/// lump) is spared, while a filled emoji beside body text is 2.6 to 7 times as thick
/// (glyphs reach 2 times, a dense one among light ones).
const SOLID_PEERS: f32 = 2.2;
/// A blob's core, on which its thickness is measured: its pixels at least this share of
/// the way from the background to its ink, or of another colour.
const CORE: f32 = 0.5;
/// A blob whose ink no other blob of its line shares is an emoji from this many times the
/// thickness of the line's glyphs (plus [`SOLID_PX`]): 💥 or 🔥 on an orange card, where
/// only their red rims differ from the background, beside black text.
const FOREIGN_PEERS: f32 = 1.5;
/// How far (RGB distance) a pixel may lie from its blob's mixing of ink colours and
/// background (anti-aliasing) and still be explained by it.
const RESIDUAL: f32 = 60.0;
/// A blob with this share of pixels that mixing two ink colours with the background does
/// not explain has three or more colours: an emoji, not a glyph (outlined text has two,
/// fill and outline, and gradient text is a mixing of two).
const MULTI_SHARE: f32 = 0.2;

/// What is measured of one connected blob of ink to tell an emoji from a glyph.
#[derive(Debug, Clone)]
pub struct Blob {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
    /// The height of the band of inked rows the blob sits in: its line of text.
    pub line: u32,
    /// Twice the largest distance from a pixel of the blob's core (see [`CORE`]) to the
    /// nearest pixel outside it: a glyph's stroke width (at a junction of strokes), an
    /// emoji's body.
    pub thickness: f32,
    /// The median thickness of the other blobs of its line (0 when it has none).
    pub peers: f32,
    /// The share of its pixels that mixing at most two ink colours with the background
    /// does not explain.
    pub unexplained: f32,
    /// The colour of its ink (the mean of its pixels farthest from the background).
    pub ink: [u8; 3],
    /// Whether no other blob of its line has its ink colour.
    pub foreign: bool,
    pub emoji: bool,
    label: u32,
}

/// The blobs of an image (those of about a text line's size, measured and judged), the
/// label of every pixel's blob (0: not ink), and the background they were found on.
struct Blobs {
    background: Background,
    labels: Vec<u32>,
    blobs: Vec<Blob>,
    /// What to paint: a blob's label, its box widened by the margin (left, top, right,
    /// bottom, exclusive) and the margin.
    paint: Vec<(u32, [u32; 4], u32)>,
}

/// The image's blobs of ink of about a text line's size, measured and judged emoji or
/// not: what [`mask_emoji`] paints out, for measuring and tests.
pub fn blobs(rgb: &RgbImage) -> Vec<Blob> {
    find_blobs(rgb).map_or_else(Vec::new, |b| b.blobs)
}

/// Paints out the emoji-like blobs of the image with the colours around them and returns
/// how many there were. Colour emoji at the start of list lines and inline are common on
/// cover cards, and Tesseract reads them as glyphs and misreads their neighbours with
/// them (`手撕` as `Fi` beside 🔥, `的复杂度` as `HERE` in a line that starts with 👉).
///
/// Ink is what differs from the local background ([`Background`]) by [`INK_CONTRAST`];
/// its 8-connected blobs of about a text line's size are judged one by one, against the
/// other blobs of their line (the band of inked rows they sit in). A glyph's pixels are
/// one ink colour mixed with the background (anti-aliasing puts them on the line from one
/// to the other), or two (an outline and its fill, the two ends of a gradient): a blob
/// that needs a third colour is an emoji (🚀, 😭, 📸). Many emoji are nearly one colour
/// where they differ from the background (🔥 or ⭐ on cream, 💭 on a dark theme), so a
/// blob is also an emoji when it is solid, a filled body far thicker than pen strokes
/// both for its line's height and for the other glyphs of its line; or when no other
/// blob of its line shares its ink and it is clearly heavier than they are (🔥 on an
/// orange card, whose red rim is all that differs from the background, beside black
/// text). Orange or yellow titles are saturated but are strokes of one colour that their
/// line shares, and stay; so do outlined titles, two colours and as thick as each other.
///
/// What is painted is the blob, a few pixels wider for its anti-aliased rim (but never
/// over another blob's ink), and the blobs mostly inside its box, parts of the same
/// emoji (the red rim of 💥 around its body): the check mark of ✅ on a coloured card is
/// ink joined to its green box and goes with it.
pub fn mask_emoji(rgb: &mut RgbImage) -> usize {
    let Some(found) = find_blobs(rgb) else { return 0 };
    let w = rgb.width() as usize;
    for &(blob, [left, top, right, bottom], margin) in &found.paint {
        let (left, top, bw, bh) = (left as usize, top as usize, (right - left) as usize, (bottom - top) as usize);
        let label = |x: usize, y: usize| found.labels[(top + y) * w + left + x];
        let mut mask: Vec<bool> = (0..bw * bh).map(|i| label(i % bw, i / bw) == blob).collect();
        for _ in 0..margin {
            let before = mask.clone();
            for y in 0..bh {
                for x in 0..bw {
                    if before[y * bw + x] || label(x, y) != 0 {
                        continue;
                    }
                    let near = (y.saturating_sub(1)..(y + 2).min(bh))
                        .any(|ny| (x.saturating_sub(1)..(x + 2).min(bw)).any(|nx| before[ny * bw + nx]));
                    mask[y * bw + x] = near;
                }
            }
        }
        fill(rgb, &found, &mask, [left, top, bw, bh]);
    }
    found.blobs.iter().filter(|b| b.emoji).count()
}

/// A painted pixel's colour comes from the median of this many pixels that are not ink
/// past the mask (so a thin dark rim beside an emoji does not streak across the patch),
/// looked for this far; the background colour where there are none.
const FILL_SAMPLES: usize = 5;
const FILL_REACH: usize = 12;

/// Paints the masked pixels of a box (left, top, width, height) with what surrounds them:
/// each pixel the mean of two linear interpolations, along its row and along its column,
/// between the colours past the mask at either end. A flat background stays flat, a
/// gradient goes on, and on a photo the patch takes the colours around it rather than
/// standing out as a hole of the smooth background estimate (a white patch in the
/// distance image, which cost a textured card a line of text).
fn fill(rgb: &mut RgbImage, found: &Blobs, mask: &[bool], [left, top, bw, bh]: [usize; 4]) {
    let (w, h) = (rgb.width() as isize, rgb.height() as isize);
    let outside = |x: isize, y: isize, (dx, dy): (isize, isize)| -> [f32; 3] {
        let (mut x, mut y) = (x, y);
        let mut seen: Vec<[u8; 3]> = Vec::new();
        for _ in 0..FILL_REACH {
            if x < 0 || y < 0 || x >= w || y >= h || seen.len() == FILL_SAMPLES {
                break;
            }
            if found.labels[(y * w + x) as usize] == 0 {
                seen.push(rgb.get_pixel(x as u32, y as u32).0);
            }
            (x, y) = (x + dx, y + dy);
        }
        if seen.is_empty() {
            return found.background.at(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32);
        }
        [0, 1, 2].map(|c| {
            let mut v: Vec<u8> = seen.iter().map(|p| p[c]).collect();
            v.sort_unstable();
            f32::from(v[v.len() / 2])
        })
    };
    let mut sum = vec![[0f32; 3]; bw * bh];
    // Rows, then columns: (steps along the line, lines, index of step s in line l).
    let index = |(s, l): (usize, usize), rows: bool| if rows { l * bw + s } else { s * bw + l };
    for rows in [true, false] {
        let (steps, lines) = if rows { (bw, bh) } else { (bh, bw) };
        let step = if rows { (1, 0) } else { (0, 1) };
        let at = |s: isize, l: usize| {
            if rows { (left as isize + s, (top + l) as isize) } else { ((left + l) as isize, top as isize + s) }
        };
        for l in 0..lines {
            let mut s = 0;
            while s < steps {
                if !mask[index((s, l), rows)] {
                    s += 1;
                    continue;
                }
                let first = s;
                while s < steps && mask[index((s, l), rows)] {
                    s += 1;
                }
                let (bx, by) = at(first as isize - 1, l);
                let before = outside(bx, by, (-step.0, -step.1));
                let (ax, ay) = at(s as isize, l);
                let after = outside(ax, ay, step);
                let n = (s - first + 1) as f32;
                for (k, i) in (first..s).enumerate() {
                    let t = (k + 1) as f32 / n;
                    let cell = &mut sum[index((i, l), rows)];
                    for c in 0..3 {
                        cell[c] += (before[c] * (1.0 - t) + after[c] * t) / 2.0;
                    }
                }
            }
        }
    }
    for (i, colour) in sum.iter().enumerate().filter(|(i, _)| mask[*i]) {
        let (x, y) = ((left + i % bw) as u32, (top + i / bw) as u32);
        rgb.put_pixel(x, y, image::Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8)));
    }
}

fn find_blobs(rgb: &RgbImage) -> Option<Blobs> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w as u64 * h as u64 > MASK_MAX_PIXELS {
        return None;
    }
    let background = Background::estimate(rgb);
    let offset = |i: usize| {
        let (x, y) = ((i % w) as u32, (i / w) as u32);
        let (p, b) = (rgb.get_pixel(x, y).0, background.at(x, y));
        [0, 1, 2].map(|c| f32::from(p[c]) - b[c])
    };
    let ink: Vec<bool> = (0..w * h).map(|i| norm(offset(i)) > f32::from(INK_CONTRAST)).collect();
    let min_ink = (w / 400).max(1);
    let rows = bands((0..h).map(|y| ink[y * w..(y + 1) * w].iter().filter(|&&i| i).count() >= min_ink));
    let text = median_band(&rows)? as f32;

    // Every 8-connected blob: its pixels (a range of `order`) and box.
    let mut labels = vec![0u32; w * h];
    let mut order: Vec<u32> = Vec::new();
    let mut found: Vec<(Blob, std::ops::Range<usize>, Option<usize>)> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !ink[start] || labels[start] != 0 {
            continue;
        }
        let label = found.len() as u32 + 1;
        labels[start] = label;
        stack.push(start);
        let first = order.len();
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        while let Some(i) = stack.pop() {
            order.push(i as u32);
            let (x, y) = (i % w, i / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if ink[j] && labels[j] == 0 {
                        labels[j] = label;
                        stack.push(j);
                    }
                }
            }
        }
        let centre = ((y0 + y1) / 2) as u32;
        let band = rows.iter().position(|b| (b.0..b.0 + b.1).contains(&centre));
        let height = (y1 - y0 + 1) as u32;
        let blob = Blob {
            left: x0 as u32,
            top: y0 as u32,
            width: (x1 - x0 + 1) as u32,
            height,
            line: band.map_or(height, |b| rows[b].1),
            thickness: 0.0,
            peers: 0.0,
            unexplained: 0.0,
            ink: [0; 3],
            foreign: false,
            emoji: false,
            label,
        };
        found.push((blob, first..order.len(), band));
    }

    // A blob's pixels as offsets from the background, its thickness and its ink colour
    // (the mean of its pixels farthest from the background). The thickness is measured on
    // its core, leaving out the pixels that are less than half ink mixed with background:
    // the blurred gap between two strokes of a small dense glyph (覆 at 25 px, JPEG) is
    // ink, but not core, and does not make the glyph a lump; an emoji's parts of another
    // colour (the green box of ✅ around its white check) are core.
    let measure = |blob: &Blob, range: &std::ops::Range<usize>| {
        let pixels = &order[range.clone()];
        let offsets: Vec<[f32; 3]> = pixels.iter().map(|&i| offset(i as usize)).collect();
        let u = farthest_mean(&offsets, norm);
        let uu = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).max(1.0);
        let (bw, bh) = (blob.width as usize, blob.height as usize);
        let mut core = vec![false; bw * bh];
        for (&i, &v) in pixels.iter().zip(&offsets) {
            let share = (v[0] * u[0] + v[1] * u[1] + v[2] * u[2]) / uu;
            if share >= CORE || segment_distance(v, [0.0; 3], u) > RESIDUAL {
                let (x, y) = (i as usize % w - blob.left as usize, i as usize / w - blob.top as usize);
                core[y * bw + x] = true;
            }
        }
        let thickness = 2.0 * f32::from(chamfer(&core, bw, bh).into_iter().max().unwrap_or(0)) / 3.0;
        let b = background.at(blob.left + blob.width / 2, blob.top + blob.height / 2);
        (offsets, thickness, [0, 1, 2].map(|c| b[c] + u[c]))
    };
    let candidate = |blob: &Blob| {
        blob.line >= MIN_LINE_PX
            && (blob.height as f32) >= BLOB_MIN_TEXT * text
            && blob.height as f32 <= BLOB_MAX_TEXT as f32 * text
            && blob.width as f32 <= BLOB_MAX_TEXT as f32 * text
            && blob.width as usize * 4 <= w
            && blob.height as usize * 4 <= h
    };

    // Each line's glyphs, as (label, thickness, ink colour): blobs at least a quarter of
    // the line high (dots and short strokes say little of the weight).
    let mut lines: Vec<Vec<(u32, f32, [f32; 3])>> = vec![Vec::new(); rows.len()];
    let mut measured = Vec::new();
    for (blob, range, band) in &found {
        let in_line = band.is_some() && blob.height * 4 >= blob.line;
        if !in_line && !candidate(blob) {
            continue;
        }
        let (offsets, thickness, ink) = measure(blob, range);
        if let (true, Some(b)) = (in_line, band) {
            lines[*b].push((blob.label, thickness, ink));
        }
        if candidate(blob) {
            measured.push((blob.clone(), *band, offsets, thickness, ink));
        }
    }

    let boxes: Vec<(u32, [u32; 4])> =
        found.iter().map(|(b, _, _)| (b.label, [b.left, b.top, b.left + b.width, b.top + b.height])).collect();
    let mut blobs = Vec::new();
    for (mut blob, band, offsets, thickness, ink) in measured {
        blob.thickness = thickness;
        blob.ink = ink.map(|c| c.clamp(0.0, 255.0) as u8);
        if let Some(b) = band {
            let others: Vec<&(u32, f32, [f32; 3])> = lines[b].iter().filter(|o| o.0 != blob.label).collect();
            let mut thickness: Vec<f32> = others.iter().map(|o| o.1).collect();
            thickness.sort_unstable_by(f32::total_cmp);
            blob.peers = thickness.get(thickness.len() / 2).copied().unwrap_or(0.0);
            blob.foreign = others.len() >= 2 && others.iter().all(|o| distance3(o.2, ink) > RESIDUAL);
        }
        blob.unexplained = unexplained(&offsets);
        let solid = blob.peers > 0.0
            && blob.thickness >= SOLID_LINE * blob.line as f32 + SOLID_PX
            && blob.thickness >= SOLID_PEERS * blob.peers;
        let heavy_stranger = blob.foreign && blob.thickness >= FOREIGN_PEERS * blob.peers + SOLID_PX;
        blob.emoji = solid || heavy_stranger || blob.unexplained >= MULTI_SHARE;
        blobs.push(blob);
    }
    // An emoji's box, a little wider for its anti-aliased rim; and the boxes of the other
    // blobs mostly inside it, parts of the same emoji (the red rim of 💥 around its
    // body, the small bubbles of 💭).
    let mut paint: Vec<(u32, [u32; 4], u32)> = Vec::new();
    for blob in blobs.iter().filter(|b| b.emoji) {
        let margin = (blob.line / 12).max(2);
        let outer = [
            blob.left.saturating_sub(margin),
            blob.top.saturating_sub(margin),
            (blob.left + blob.width + margin).min(w as u32),
            (blob.top + blob.height + margin).min(h as u32),
        ];
        paint.push((blob.label, outer, margin));
        for &(label, b) in &boxes {
            let area = (b[2] - b[0]) * (b[3] - b[1]);
            let inside = b[2].min(outer[2]).saturating_sub(b[0].max(outer[0]))
                * b[3].min(outer[3]).saturating_sub(b[1].max(outer[1]));
            if label != blob.label && inside * 2 >= area {
                let grown = [
                    b[0].saturating_sub(margin),
                    b[1].saturating_sub(margin),
                    (b[2] + margin).min(w as u32),
                    (b[3] + margin).min(h as u32),
                ];
                paint.push((label, grown, margin));
            }
        }
    }
    Some(Blobs { background, labels, blobs, paint })
}

/// The share of a blob's pixels (as offsets from the background colour) that mixing at
/// most two ink colours with the background does not explain. The two inks are the
/// 2-means of the blob's core (its pixels at least half as far from the background as
/// the farthest), started from the farthest pixels and those farthest from them: fill
/// and outline of outlined text, the two ends of gradient text, one colour twice for
/// plain text. A pixel is explained when it is within [`RESIDUAL`] of a mixing of the
/// background and an ink (an anti-aliased edge) or of the two inks (the edge between an
/// outline and its fill, a gradient).
fn unexplained(offsets: &[[f32; 3]]) -> f32 {
    if offsets.is_empty() {
        return 0.0;
    }
    let origin = [0f32; 3];
    let far = percentile(offsets.iter().map(|&v| norm(v)).collect(), 0.95);
    let core: Vec<[f32; 3]> = offsets.iter().copied().filter(|&v| norm(v) >= far / 2.0).collect();
    let mut inks = [farthest_mean(&core, norm), [0f32; 3]];
    inks[1] = farthest_mean(&core, |v| distance3(v, inks[0]));
    for _ in 0..8 {
        let mut sums = [[0f32; 4]; 2];
        for &v in &core {
            let k = usize::from(distance3(v, inks[1]) < distance3(v, inks[0]));
            for c in 0..3 {
                sums[k][c] += v[c];
            }
            sums[k][3] += 1.0;
        }
        for k in 0..2 {
            if sums[k][3] > 0.0 {
                inks[k] = [0, 1, 2].map(|c| sums[k][c] / sums[k][3]);
            }
        }
    }
    let [a, b] = inks;
    let explained = |v| {
        segment_distance(v, origin, a).min(segment_distance(v, origin, b)).min(segment_distance(v, a, b)) <= RESIDUAL
    };
    offsets.iter().filter(|&&v| !explained(v)).count() as f32 / offsets.len() as f32
}

fn percentile(mut values: Vec<f32>, q: f32) -> f32 {
    values.sort_unstable_by(f32::total_cmp);
    values.get(((values.len() as f32 * q) as usize).min(values.len().saturating_sub(1))).copied().unwrap_or(0.0)
}

/// The mean of the values whose `key` is at least 3/4 of its 95th percentile (the
/// percentile, not the maximum, so a stray pixel does not decide).
fn farthest_mean(values: &[[f32; 3]], key: impl Fn([f32; 3]) -> f32) -> [f32; 3] {
    let far = percentile(values.iter().map(|&v| key(v)).collect(), 0.95) * 0.75;
    let (mut sum, mut n) = ([0f32; 3], 0f32);
    for &v in values.iter().filter(|&&v| key(v) >= far) {
        for c in 0..3 {
            sum[c] += v[c];
        }
        n += 1.0;
    }
    sum.map(|c| c / n.max(1.0))
}

fn distance3(a: [f32; 3], b: [f32; 3]) -> f32 {
    norm([a[0] - b[0], a[1] - b[1], a[2] - b[2]])
}

/// The distance from `v` to the segment from `a` to `b`.
fn segment_distance(v: [f32; 3], a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let w = [v[0] - a[0], v[1] - a[1], v[2] - a[2]];
    let dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    let t = if dd == 0.0 { 0.0 } else { ((w[0] * d[0] + w[1] * d[1] + w[2] * d[2]) / dd).clamp(0.0, 1.0) };
    norm([w[0] - t * d[0], w[1] - t * d[1], w[2] - t * d[2]])
}

fn norm(v: [f32; 3]) -> f32 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// The 3-4 chamfer distance (in thirds of a pixel) from each ink pixel to the nearest
/// pixel that is not ink (or the image's edge).
fn chamfer(ink: &[bool], w: usize, h: usize) -> Vec<u16> {
    let mut d: Vec<u16> = ink.iter().map(|&i| if i { u16::MAX } else { 0 }).collect();
    let get = |d: &[u16], x: isize, y: isize| {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize { 0 } else { d[y as usize * w + x as usize] }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let m = [
                (get(&d, x - 1, y), 3),
                (get(&d, x, y - 1), 3),
                (get(&d, x - 1, y - 1), 4),
                (get(&d, x + 1, y - 1), 4),
            ]
            .iter()
            .map(|&(v, k)| v.saturating_add(k))
            .min()
            .unwrap_or(0);
            d[i] = d[i].min(m);
        }
    }
    for y in (0..h as isize).rev() {
        for x in (0..w as isize).rev() {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let m = [
                (get(&d, x + 1, y), 3),
                (get(&d, x, y + 1), 3),
                (get(&d, x + 1, y + 1), 4),
                (get(&d, x - 1, y + 1), 4),
            ]
            .iter()
            .map(|&(v, k)| v.saturating_add(k))
            .min()
            .unwrap_or(0);
            d[i] = d[i].min(m);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(img: &mut RgbImage, (x, y, w, h): (u32, u32, u32, u32), colour: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                img.put_pixel(xx, yy, image::Rgb(colour));
            }
        }
    }

    /// An 800 × 200 card (as large as its background blocks need: an eighth of a side) with a
    /// line of eight 工-like glyphs (rows 80–120, 5 px strokes) from x = 80, each in the
    /// colour `ink(i)`, and room at x 10–70 for an emoji.
    fn text_line(bg: impl Fn(u32, u32) -> [u8; 3], ink: impl Fn(u32) -> [u8; 3]) -> RgbImage {
        let mut img = RgbImage::from_fn(800, 200, |x, y| image::Rgb(bg(x, y)));
        for i in 0..8 {
            let x = 80 + i * 38;
            for stroke in [(x, 80, 30, 5), (x + 12, 80, 5, 40), (x, 115, 30, 5)] {
                rect(&mut img, stroke, ink(i));
            }
        }
        img
    }

    /// Paints a disc of radius `r` at (cx, cy), each pixel in `colour(dx, dy)`.
    fn disc(img: &mut RgbImage, (cx, cy): (i32, i32), r: i32, colour: impl Fn(i32, i32) -> Option<[u8; 3]>) {
        for dy in -r..=r {
            for dx in -r..=r {
                if dx * dx + dy * dy <= r * r
                    && let Some(c) = colour(dx, dy)
                {
                    img.put_pixel((cx + dx) as u32, (cy + dy) as u32, image::Rgb(c));
                }
            }
        }
    }

    fn near(a: [u8; 3], b: [u8; 3], within: u8) -> bool {
        (0..3).all(|c| a[c].abs_diff(b[c]) <= within)
    }

    fn glyphs_unchanged(before: &RgbImage, after: &RgbImage) -> bool {
        before.enumerate_pixels().filter(|(x, _, _)| *x >= 78).all(|(x, y, p)| after.get_pixel(x, y) == p)
    }

    #[test]
    fn a_thin_blob_of_three_colours_is_painted_out() {
        // A ring (as thin as the strokes) in red, green and blue beside black glyphs: only
        // its colours tell it from a glyph.
        let white = [255, 255, 255];
        let mut img = text_line(|_, _| white, |_| [20, 20, 20]);
        disc(&mut img, (40, 100), 20, |dx, dy| {
            (dx * dx + dy * dy >= 16 * 16).then_some(match (dx > 0, dy > 0) {
                (true, _) => [230, 30, 30],
                (false, true) => [30, 180, 40],
                (false, false) => [30, 60, 230],
            })
        });
        let blobs = blobs(&img);
        let ring = blobs.iter().find(|b| b.left < 30).expect("the ring is a candidate");
        assert!(ring.unexplained >= MULTI_SHARE, "{ring:?}");
        assert!(ring.thickness < SOLID_LINE * ring.line as f32, "thin: {ring:?}");
        assert!(blobs.iter().filter(|b| b.emoji).all(|b| b.left < 30), "no glyph is an emoji: {blobs:?}");
        let before = img.clone();
        assert_eq!(mask_emoji(&mut img), 1);
        for (x, y) in [(58, 100), (40, 81), (22, 100), (40, 119)] {
            assert!(near(img.get_pixel(x, y).0, white, 2), "ring pixel ({x}, {y}) is {:?}", img.get_pixel(x, y));
        }
        assert!(glyphs_unchanged(&before, &img));
    }

    #[test]
    fn a_solid_blob_of_the_text_colour_is_painted_out_with_the_gradient_around_it() {
        // 💭 on a dark theme: white like the text, but a filled body, not strokes.
        let bg = |x: u32, _| [20 + (x / 10) as u8, 20 + (x / 10) as u8, 28];
        let mut img = text_line(bg, |_| [240, 240, 240]);
        disc(&mut img, (40, 100), 20, |_, _| Some([250, 250, 250]));
        let found = blobs(&img);
        let bubble = found.iter().find(|b| b.left < 30).expect("the disc is a candidate");
        assert!(!bubble.foreign && bubble.unexplained < MULTI_SHARE, "one colour, the text's: {bubble:?}");
        let before = img.clone();
        assert_eq!(mask_emoji(&mut img), 1);
        for x in [22, 40, 58] {
            assert!(near(img.get_pixel(x, 100).0, bg(x, 100), 3), "({x}, 100) is {:?}", img.get_pixel(x, 100));
        }
        assert!(glyphs_unchanged(&before, &img));
    }

    #[test]
    fn a_heavier_blob_in_a_colour_its_line_lacks_is_painted_out() {
        // 🔥 on an orange card: only its red rim, a thick ring, differs from the background.
        // The same ring in the text's colour is a heavy glyph, and stays.
        let orange = [255, 170, 40];
        for (rim, painted) in [([200, 30, 20], 1), ([20, 20, 20], 0)] {
            let mut img = text_line(|_, _| orange, |_| [20, 20, 20]);
            disc(&mut img, (40, 100), 20, |dx, dy| (dx * dx + dy * dy >= 6 * 6).then_some(rim));
            let found = blobs(&img);
            let ring = found.iter().find(|b| b.left < 30).expect("the ring is a candidate");
            assert!(
                ring.unexplained < MULTI_SHARE && ring.thickness < SOLID_LINE * ring.line as f32 + SOLID_PX,
                "{ring:?}"
            );
            assert_eq!(ring.foreign, painted == 1, "{ring:?}");
            let before = img.clone();
            assert_eq!(mask_emoji(&mut img), painted, "{found:?}");
            assert_eq!(near(img.get_pixel(40, 81).0, orange, 2), painted == 1);
            assert!(glyphs_unchanged(&before, &img));
        }
    }

    #[test]
    fn saturated_single_colour_glyphs_stay() {
        // An orange title on a dark card, and one orange glyph in a line of white ones.
        let dark = |_, _| [24, 24, 24];
        let orange: [u8; 3] = [255, 159, 67];
        let title = |_| orange;
        let one = |i| if i == 3 { orange } else { [240; 3] };
        for ink in [&title as &dyn Fn(u32) -> [u8; 3], &one] {
            let mut img = text_line(dark, ink);
            let before = img.clone();
            assert!(blobs(&img).iter().all(|b| !b.emoji), "{:?}", blobs(&img));
            assert_eq!(mask_emoji(&mut img), 0);
            assert_eq!(img, before);
        }
    }

    #[test]
    fn outlined_glyphs_stay() {
        // Yellow strokes with a dark outline: two colours, every glyph of the line alike.
        let mut img = RgbImage::from_pixel(800, 200, image::Rgb([170, 205, 250]));
        for i in 0..8 {
            let x = 80 + i * 40;
            for (sx, sy, sw, sh) in [(x, 80, 30, 5), (x + 12, 80, 5, 40), (x, 115, 30, 5)] {
                rect(&mut img, (sx - 3, sy - 3, sw + 6, sh + 6), [26, 26, 26]);
            }
            for stroke in [(x, 80, 30, 5), (x + 12, 80, 5, 40), (x, 115, 30, 5)] {
                rect(&mut img, stroke, [255, 230, 0]);
            }
        }
        let before = img.clone();
        assert!(blobs(&img).iter().all(|b| !b.emoji), "{:?}", blobs(&img));
        assert_eq!(mask_emoji(&mut img), 0);
        assert_eq!(img, before);
    }

    #[test]
    fn the_check_mark_of_a_green_box_goes_with_it() {
        // ✅ on an orange card beside white text: the white check is ink joined to the box.
        let orange = [255, 140, 60];
        let mut img = text_line(|_, _| orange, |_| [255, 255, 255]);
        rect(&mut img, (22, 82, 36, 36), [120, 180, 70]);
        for t in 0..20 {
            // Down-right stroke, then up-right: a check mark 4 px wide.
            let (x, y) = if t < 8 { (28 + t, 98 + t) } else { (28 + t, 106 - (t - 8)) };
            rect(&mut img, (x, y, 4, 4), [255, 255, 255]);
        }
        let before = img.clone();
        assert_eq!(mask_emoji(&mut img), 1);
        for (x, y) in [(30, 100), (37, 107), (46, 98), (24, 84), (56, 116)] {
            assert!(near(img.get_pixel(x, y).0, orange, 2), "({x}, {y}) is {:?}", img.get_pixel(x, y));
        }
        assert!(glyphs_unchanged(&before, &img));
    }

    #[test]
    fn a_box_of_text_is_not_an_emoji() {
        // A white panel holding dark text on an orange card is one large blob of ink.
        let mut img = RgbImage::from_pixel(800, 400, image::Rgb([255, 140, 60]));
        rect(&mut img, (20, 100, 400, 180), [255, 255, 255]);
        for i in 0..8 {
            let x = 60 + i * 38;
            for stroke in [(x, 20, 30, 5), (x + 12, 20, 5, 40), (x, 55, 30, 5)] {
                rect(&mut img, stroke, [255, 255, 255]);
            }
            for stroke in [(x, 170, 30, 5), (x + 12, 170, 5, 40), (x, 205, 30, 5)] {
                rect(&mut img, stroke, [34, 34, 34]);
            }
        }
        let before = img.clone();
        assert_eq!(mask_emoji(&mut img), 0);
        assert_eq!(img, before);
    }
}
