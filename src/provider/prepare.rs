//! Image preparation before any request: every image is made into something the provider
//! reads and will accept, or reported as a failed image; never sent to be refused.
//!
//! - Formats a provider does not read are converted: a GIF's first frame, BMP and TIFF
//!   become PNG (lossless, so the text in a screenshot stays sharp). HEIC/HEIF and AVIF
//!   cannot be decoded here: they go as they are to a provider that reads them (Gemini
//!   reads HEIC/HEIF) and fail, naming the format, everywhere else.
//! - Huge images are scaled down: the long side and the pixel count are capped at what the
//!   provider actually looks at, so the request carries no bytes the model throws away.
//!   - Gemini cuts an image into 768×768 tiles and bills 258 tokens a tile (Gemini 3 caps
//!     an image's tokens by `media_resolution` whatever its size). The caps, 4608 px long
//!     side (6 tiles) and 3072×3072 px (16 tiles, about 4k tokens), keep a 1080×8000 long
//!     screenshot at 622 px wide, where Chinese text is still ~20 px high, and bring a
//!     7000×7000 photo down to 3072×3072.
//!   - OpenAI fits a `detail: high` image into 2048×2048 before it looks at it (then scales
//!     its short side to 768), so anything over 2048 px is bytes sent for nothing.
//! - Each image is re-encoded only when it was converted or scaled, when it alone is too
//!   large for a request, or when it is a heavy file (over 4 MiB) that re-encoding makes
//!   less than half as large. A JPEG source stays JPEG (quality 90: a PNG of a photo is several
//!   times larger and keeps nothing more); a lossless source becomes PNG unless the JPEG is
//!   less than half its size (a photo saved as PNG).
//! - An image whose base64 form would not fit in one request is shrunk further until it does.
//!
//! The provider's request limit is the whole body (base64 images plus text); the pipeline
//! uses [`Policy::request_fits`] to decide whether a post's images go in one request.

use crate::provider::ImageInput;
use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};
use std::io::Cursor;
use std::sync::Arc;

/// Part of a prepared image's job identity: answers about an image depend on the bytes
/// sent, so a change in how images are prepared redoes them. Images sent as they are keep
/// their old identity (the hash of their bytes alone).
pub const PREPARATION_VERSION: &str = "prepare/1";

/// Gemini refuses a request over 20 MiB ("Request payload size exceeds the limit:
/// 20971520 bytes"), base64 images and text included.
pub const GEMINI_REQUEST_LIMIT: u64 = 20 * 1024 * 1024;

/// Room kept under a provider's limit for what the estimate does not count exactly: the
/// prompt's fixed text, the response schema, JSON punctuation.
const REQUEST_MARGIN: u64 = 1024 * 1024;

/// Files above this size are re-encoded when that makes them less than half as large (a
/// photo saved as PNG, a JPEG at quality 100): fewer bytes to send, more posts in one request.
const REENCODE_ABOVE: usize = 4 * 1024 * 1024;

/// The most bytes an image is decoded into; beyond is a decompression bomb, not a post.
const DECODE_ALLOC_LIMIT: u64 = 1024 * 1024 * 1024;

/// What a provider reads and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// MIME types sent as they are.
    pub accepts: &'static [&'static str],
    /// The longest side sent, in pixels (`None`: images are not scaled).
    pub max_side: Option<u32>,
    /// The most pixels sent.
    pub max_pixels: Option<u64>,
    /// The largest request body sent, margin already taken off.
    pub request_limit: u64,
}

impl Policy {
    /// Gemini: PNG, JPEG, WebP, HEIC, HEIF; 768-px tiles; 20 MiB a request.
    pub const GEMINI: Policy = Policy {
        accepts: &["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"],
        max_side: Some(4608),
        max_pixels: Some(3072 * 3072),
        request_limit: GEMINI_REQUEST_LIMIT - REQUEST_MARGIN,
    };

    /// OpenAI-compatible servers: PNG, JPEG, WebP (a GIF only when not animated: converting
    /// its first frame is simpler than finding out). OpenAI takes 50 MB of images a request,
    /// but the compatible services (DashScope, Volcengine, Ollama...) take less: Gemini's
    /// 20 MiB is the floor kept.
    pub const OPENAI: Policy = Policy {
        accepts: &["image/png", "image/jpeg", "image/webp"],
        max_side: Some(2048),
        max_pixels: Some(2048 * 2048),
        request_limit: GEMINI_REQUEST_LIMIT - REQUEST_MARGIN,
    };

    /// Tesseract, through the `image` crate: every format it decodes, at full size (the OCR
    /// module scales text to the height Tesseract reads best). Nothing is sent anywhere.
    pub const LOCAL: Policy = Policy {
        accepts: &["image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"],
        max_side: None,
        max_pixels: None,
        request_limit: u64::MAX,
    };

    /// The policy of a provider, by its name (`gemini`, `openai`, `local`).
    pub fn for_provider(name: &str) -> Policy {
        match name {
            "gemini" => Policy::GEMINI,
            "local" => Policy::LOCAL,
            _ => Policy::OPENAI,
        }
    }

    /// Whether a request holding these prepared images and `text_bytes` of text fits.
    pub fn request_fits(&self, images: &[ImageInput], text_bytes: u64) -> bool {
        request_size(images, text_bytes) <= self.request_limit
    }

    /// The largest base64 image a request of its own may carry.
    fn image_limit(&self) -> u64 {
        // An OCR request's text is a sentence; keep room for it all the same.
        self.request_limit.saturating_sub(64 * 1024)
    }
}

/// The size of a request body holding `images` and `text_bytes` of text: base64 is 4 bytes
/// for every 3; text is counted twice, for JSON escapes (`\n`, `\"`).
pub fn request_size(images: &[ImageInput], text_bytes: u64) -> u64 {
    images.iter().map(|i| base64_len(i.bytes.len() as u64)).sum::<u64>() + text_bytes.saturating_mul(2)
}

fn base64_len(n: u64) -> u64 {
    n.div_ceil(3) * 4
}

/// An image ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The bytes and MIME type to send. `sha256` stays the original file's: it is the
    /// image's identity, so an image read by an earlier run is not read again.
    pub image: ImageInput,
    /// What was done to it, for the log; `None` when it is sent as read.
    pub change: Option<String>,
}

impl Prepared {
    /// The preparation version that goes into the image's job identity, when its bytes changed.
    pub fn version(&self) -> Option<&'static str> {
        self.change.as_ref().map(|_| PREPARATION_VERSION)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot decode the image")]
    Decode(#[source] image::ImageError),
    #[error("{mime} images cannot be converted here; convert it to PNG or JPEG")]
    Unsupported { mime: &'static str },
    #[error("too large to send ({bytes} bytes) and cannot be scaled down here; convert it to JPEG")]
    TooLarge { bytes: u64 },
    #[error("cannot encode the prepared image")]
    Encode(#[source] image::ImageError),
}

/// Makes `image` something `policy` accepts. CPU work (decoding, scaling, encoding): run it
/// off the async workers.
pub fn prepare(image: ImageInput, policy: &Policy) -> Result<Prepared, PrepareError> {
    let accepted = policy.accepts.contains(&image.mime);
    let decodable = decodable(image.mime);
    if !decodable {
        if !accepted {
            return Err(PrepareError::Unsupported { mime: image.mime });
        }
        let bytes = image.bytes.len() as u64;
        if base64_len(bytes) > policy.image_limit() {
            return Err(PrepareError::TooLarge { bytes });
        }
        return Ok(Prepared { image, change: None });
    }
    // The header is enough to know whether the image needs anything.
    let (w, h) = reader(&image.bytes)?.into_dimensions().map_err(PrepareError::Decode)?;
    let (tw, th) = fit(w, h, policy.max_side, policy.max_pixels);
    let small_enough = base64_len(image.bytes.len() as u64) <= policy.image_limit();
    let as_is = accepted && (tw, th) == (w, h) && small_enough;
    if as_is && image.bytes.len() <= REENCODE_ABOVE {
        return Ok(Prepared { image, change: None });
    }

    let mut decoded = reader(&image.bytes)?.decode().map_err(PrepareError::Decode)?;
    // A JPEG source is a photo (or was made lossy already): it stays JPEG.
    let photo = image.mime == "image/jpeg";
    let mut changes = Vec::new();
    if !accepted {
        changes.push(format!("{} converted", image.mime));
    }
    if (tw, th) != (w, h) {
        decoded = scale_down(&decoded, tw, th);
        changes.push(format!("scaled {w}×{h} → {tw}×{th}"));
    }
    let (mut bytes, mut mime) = encode(&decoded, photo)?;
    if as_is {
        // A heavy file the provider would take as it is: re-encoded only when that pays.
        if bytes.len() * 2 > image.bytes.len() {
            return Ok(Prepared { image, change: None });
        }
        changes.push(format!("re-encoded from {} bytes", image.bytes.len()));
    }
    // Still too large for a request of its own: smaller, as JPEG, until it fits.
    let mut shrinks = 0;
    while base64_len(bytes.len() as u64) > policy.image_limit() {
        shrinks += 1;
        if shrinks > 12 || decoded.width() < 64 || decoded.height() < 64 {
            return Err(PrepareError::TooLarge { bytes: bytes.len() as u64 });
        }
        let (sw, sh) = ((decoded.width() * 3 / 4).max(1), (decoded.height() * 3 / 4).max(1));
        changes.push(format!("shrunk to {sw}×{sh} to fit a request"));
        decoded = scale_down(&decoded, sw, sh);
        (bytes, mime) = (encode_jpeg(&decoded)?, "image/jpeg");
    }
    if changes.is_empty() {
        changes.push("re-encoded to fit a request".into());
    }
    changes.push(format!("{} bytes as {mime}", bytes.len()));
    let prepared = ImageInput {
        file: image.file,
        mime,
        bytes: Arc::new(bytes),
        sha256: image.sha256,
        prepared: Some(PREPARATION_VERSION),
    };
    Ok(Prepared { image: prepared, change: Some(changes.join(", ")) })
}

/// Scales down to `w`×`h`. Halving or more: area averaging (`thumbnail`), which is what a
/// large reduction wants and seven times faster than a filter over a 7000×7000 photo;
/// less: a triangle filter, which does not alias where few source pixels meet one.
fn scale_down(img: &DynamicImage, w: u32, h: u32) -> DynamicImage {
    if u64::from(w) * 2 <= u64::from(img.width()) && u64::from(h) * 2 <= u64::from(img.height()) {
        img.thumbnail_exact(w, h)
    } else {
        img.resize_exact(w, h, FilterType::Triangle)
    }
}

/// Formats the `image` crate decodes here.
fn decodable(mime: &str) -> bool {
    matches!(mime, "image/png" | "image/jpeg" | "image/webp" | "image/gif" | "image/bmp" | "image/tiff")
}

fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, PrepareError> {
    let mut reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| PrepareError::Decode(e.into()))?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_ALLOC_LIMIT);
    reader.limits(limits);
    Ok(reader)
}

/// The size `w`×`h` is scaled to so that neither cap is passed, aspect ratio kept.
pub fn fit(w: u32, h: u32, max_side: Option<u32>, max_pixels: Option<u64>) -> (u32, u32) {
    let mut scale = 1.0f64;
    if let Some(side) = max_side {
        scale = scale.min(f64::from(side) / f64::from(w.max(h).max(1)));
    }
    if let Some(pixels) = max_pixels {
        let area = u64::from(w) * u64::from(h);
        if area > pixels {
            scale = scale.min((pixels as f64 / area as f64).sqrt());
        }
    }
    if scale >= 1.0 {
        return (w, h);
    }
    // Floor, so rounding never lands a pixel over a cap.
    let dim = |d: u32| ((f64::from(d) * scale).floor() as u32).max(1);
    (dim(w), dim(h))
}

/// PNG for a lossless source (unless a JPEG is less than half its size: a photo saved as
/// PNG), JPEG for a photo.
fn encode(img: &DynamicImage, photo: bool) -> Result<(Vec<u8>, &'static str), PrepareError> {
    if photo {
        return Ok((encode_jpeg(img)?, "image/jpeg"));
    }
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).map_err(PrepareError::Encode)?;
    // A screenshot's PNG is rarely this heavy, and text stays sharper in PNG: only a heavy
    // PNG (a photo, most likely) is worth a JPEG attempt.
    if png.len() > REENCODE_ABOVE {
        let jpeg = encode_jpeg(img)?;
        if jpeg.len() * 2 < png.len() {
            return Ok((jpeg, "image/jpeg"));
        }
    }
    Ok((png, "image/png"))
}

fn encode_jpeg(img: &DynamicImage) -> Result<Vec<u8>, PrepareError> {
    // JPEG has no alpha: transparent pixels become white, as a viewer shows them.
    let rgb = flatten_on_white(img);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&rgb)
        .map_err(PrepareError::Encode)?;
    Ok(out)
}

fn flatten_on_white(img: &DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn input(file: &str, bytes: Vec<u8>) -> ImageInput {
        let mime = crate::input::image::sniff_mime(&bytes).expect("a known format");
        ImageInput { file: file.into(), mime, bytes: Arc::new(bytes), sha256: "orig".into(), prepared: None }
    }

    fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    }

    /// Black strokes on white, like a screenshot of text.
    fn text_like(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            if (x / 3 + y / 7).is_multiple_of(5) { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) }
        }))
    }

    /// Noise: what compresses worst.
    fn noise(w: u32, h: u32) -> DynamicImage {
        let mut rng = fastrand::Rng::with_seed(7);
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |_, _| Rgb([rng.u8(..), rng.u8(..), rng.u8(..)])))
    }

    fn dims(bytes: &[u8]) -> (u32, u32) {
        image::load_from_memory(bytes).unwrap().to_rgb8().dimensions()
    }

    #[test]
    fn caps_keep_aspect_and_never_pass_a_cap() {
        let g = Policy::GEMINI;
        assert_eq!(fit(1080, 1440, g.max_side, g.max_pixels), (1080, 1440));
        assert_eq!(fit(7000, 7000, g.max_side, g.max_pixels), (3072, 3072));
        // A long screenshot: the long side decides, text keeps more than half its size.
        let (w, h) = fit(1080, 8000, g.max_side, g.max_pixels);
        assert_eq!(h, 4608);
        assert!((621..=622).contains(&w), "{w}");
        let o = Policy::OPENAI;
        assert_eq!(fit(4000, 3000, o.max_side, o.max_pixels), (2048, 1536));
        assert_eq!(fit(4000, 3000, None, None), (4000, 3000));
        for (w, h) in [(7001, 6999), (1, 100_000), (100_000, 3), (5000, 5000)] {
            let (a, b) = fit(w, h, g.max_side, g.max_pixels);
            assert!(a.max(b) <= 4608 && u64::from(a) * u64::from(b) <= 3072 * 3072, "{w}×{h} → {a}×{b}");
            assert!(a >= 1 && b >= 1);
        }
    }

    #[test]
    fn accepted_small_images_are_sent_as_read() {
        let bytes = encoded(&text_like(300, 200), ImageFormat::Png);
        let p = prepare(input("a.png", bytes.clone()), &Policy::GEMINI).unwrap();
        assert!(p.change.is_none() && p.version().is_none());
        assert_eq!(*p.image.bytes, bytes);
        assert_eq!(p.image.mime, "image/png");
    }

    #[test]
    fn gif_becomes_png_of_its_first_frame() {
        let bytes = encoded(&text_like(120, 80), ImageFormat::Gif);
        assert_eq!(crate::input::image::sniff_mime(&bytes), Some("image/gif"));
        let p = prepare(input("a.gif", bytes), &Policy::GEMINI).unwrap();
        assert_eq!(p.image.mime, "image/png");
        assert_eq!(crate::input::image::sniff_mime(&p.image.bytes), Some("image/png"));
        assert_eq!(dims(&p.image.bytes), (120, 80));
        assert_eq!(p.image.sha256, "orig", "the identity stays the original's");
        assert_eq!(p.version(), Some(PREPARATION_VERSION));
        // OpenAI too (an animated GIF would be refused); the local provider reads it as is.
        let gif = encoded(&text_like(120, 80), ImageFormat::Gif);
        assert_eq!(prepare(input("a.gif", gif.clone()), &Policy::OPENAI).unwrap().image.mime, "image/png");
        assert!(prepare(input("a.gif", gif), &Policy::LOCAL).unwrap().change.is_none());
    }

    #[test]
    fn bmp_and_tiff_become_png() {
        for format in [ImageFormat::Bmp, ImageFormat::Tiff] {
            let bytes = encoded(&text_like(64, 48), format);
            let p = prepare(input("a", bytes), &Policy::GEMINI).unwrap();
            assert_eq!(p.image.mime, "image/png", "{format:?}");
            let back = image::load_from_memory(&p.image.bytes).unwrap().to_rgb8();
            assert_eq!(back, text_like(64, 48).to_rgb8(), "{format:?}: lossless");
        }
    }

    #[test]
    fn huge_jpeg_is_scaled_and_stays_jpeg() {
        // Long and thin, so that the test stays quick: the long-side cap decides.
        let bytes = encoded(&noise(6000, 400), ImageFormat::Jpeg);
        let p = prepare(input("big.jpg", bytes.clone()), &Policy::GEMINI).unwrap();
        assert_eq!(p.image.mime, "image/jpeg");
        let (w, h) = dims(&p.image.bytes);
        assert_eq!((w, h), (4608, 307));
        assert!(p.image.bytes.len() < bytes.len());
        assert!(p.change.as_deref().unwrap().contains("scaled 6000×400 → 4608×307"));
        // OpenAI looks at no more than 2048 px.
        let p = prepare(input("big.jpg", bytes), &Policy::OPENAI).unwrap();
        assert_eq!(dims(&p.image.bytes), (2048, 136));
    }

    #[test]
    fn heavy_files_are_re_encoded_only_when_much_smaller() {
        // A photo saved as PNG: smooth shades with grain, which PNG keeps bit for bit.
        let mut rng = fastrand::Rng::with_seed(3);
        let photo = DynamicImage::ImageRgb8(RgbImage::from_fn(2000, 1500, |x, y| {
            let g = ((x + y) / 14) as u8;
            Rgb([g.wrapping_add(rng.u8(..24)), g.wrapping_add(rng.u8(..24)), (x / 8) as u8])
        }));
        let png = encoded(&photo, ImageFormat::Png);
        assert!(png.len() > REENCODE_ABOVE, "{}", png.len());
        let p = prepare(input("photo.png", png.clone()), &Policy::GEMINI).unwrap();
        assert_eq!(p.image.mime, "image/jpeg");
        assert!(p.image.bytes.len() * 2 <= png.len());
        assert_eq!(dims(&p.image.bytes), (2000, 1500));
        assert!(p.change.as_deref().unwrap().contains("re-encoded from"));
        // Noise gains too little from JPEG: sent as read.
        let noisy = encoded(&noise(1300, 1300), ImageFormat::Png);
        assert!(noisy.len() > REENCODE_ABOVE, "{}", noisy.len());
        let p = prepare(input("noise.png", noisy.clone()), &Policy::GEMINI).unwrap();
        assert!(p.change.is_none(), "{:?}", p.change);
        assert_eq!(*p.image.bytes, noisy);
    }

    #[test]
    fn an_image_too_large_for_one_request_is_shrunk_until_it_fits() {
        // A small policy so that the test need not build a 20 MB image.
        let policy = Policy { request_limit: 300_000, ..Policy::GEMINI };
        let bytes = encoded(&noise(1000, 1000), ImageFormat::Png);
        assert!(bytes.len() > 2_000_000);
        let p = prepare(input("noise.png", bytes), &policy).unwrap();
        assert!(base64_len(p.image.bytes.len() as u64) <= policy.image_limit());
        assert!(policy.request_fits(std::slice::from_ref(&p.image), 1000));
        assert_eq!(p.image.mime, "image/jpeg");
    }

    #[test]
    fn transparent_png_flattens_on_white_for_jpeg() {
        let img = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([0, 0, 0, 0])));
        assert_eq!(flatten_on_white(&img).get_pixel(0, 0).0, [255, 255, 255]);
    }

    #[test]
    fn undecodable_formats_pass_only_where_read() {
        let mut heic = 24u32.to_be_bytes().to_vec();
        heic.extend(b"ftypheic\0\0\0\0mif1heic");
        let img = input("a.heic", heic);
        assert!(prepare(img.clone(), &Policy::GEMINI).unwrap().change.is_none());
        let e = prepare(img.clone(), &Policy::OPENAI).unwrap_err();
        assert_eq!(e.to_string(), "image/heic images cannot be converted here; convert it to PNG or JPEG");
        assert!(matches!(prepare(img, &Policy::LOCAL), Err(PrepareError::Unsupported { .. })));
    }

    #[test]
    fn corrupt_image_is_a_decode_error() {
        // A PNG signature, then garbage.
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend([0x13; 64]);
        let e = prepare(input("bad.png", bytes), &Policy::GEMINI).unwrap_err();
        assert!(matches!(e, PrepareError::Decode(_)), "{e:?}");
        // A converted image is fully decoded: a cut GIF fails too.
        let gif = encoded(&text_like(120, 80), ImageFormat::Gif);
        let e = prepare(input("cut.gif", gif[..gif.len() / 2].to_vec()), &Policy::GEMINI).unwrap_err();
        assert!(matches!(e, PrepareError::Decode(_)), "{e:?}");
    }

    #[test]
    fn request_size_counts_base64_and_text() {
        let img = ImageInput {
            file: "a".into(),
            mime: "image/png",
            bytes: Arc::new(vec![0; 300]),
            sha256: "x".into(),
            prepared: None,
        };
        assert_eq!(request_size(&[img.clone(), img], 10), 800 + 20);
        assert_eq!(Policy::for_provider("gemini"), Policy::GEMINI);
        assert_eq!(Policy::for_provider("openai"), Policy::OPENAI);
        assert_eq!(Policy::for_provider("local"), Policy::LOCAL);
    }
}
