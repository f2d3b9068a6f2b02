//! Image preparation benchmark: prints what `provider::prepare` makes of the images the
//! issue names (a 7000×7000 photo, a long screenshot, a GIF, a BMP) for each provider, and
//! the CPU time it takes. A benchmark, not a test: it prints figures.
//!
//! ```text
//! cargo run --release --example bench_prepare
//! ```

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use postmill::provider::ImageInput;
use postmill::provider::prepare::{Policy, prepare, request_size};
use std::io::Cursor;
use std::sync::Arc;
use std::time::Instant;

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92).encode_image(img).unwrap();
        }
        _ => img.write_to(&mut Cursor::new(&mut out), format).unwrap(),
    }
    out
}

/// Shades with grain, like a photo: ~27 MB as a 7000×7000 JPEG at quality 92.
fn photo(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        let grain = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 13) as u8;
        let shade = ((x + y) / 60) as u8;
        Rgb([shade.wrapping_add(grain >> 2), shade.wrapping_add(grain >> 3), shade])
    }))
}

/// Dark strokes on white, like a screenshot of text.
fn text_like(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        if (x / 3 + y / 7).is_multiple_of(5) { Rgb([20, 20, 20]) } else { Rgb([250, 250, 250]) }
    }))
}

fn main() {
    let cases = [
        ("photo 7000×7000 JPEG", encode(&photo(7000, 7000), ImageFormat::Jpeg)),
        ("long screenshot 1080×8000 PNG", encode(&text_like(1080, 8000), ImageFormat::Png)),
        ("screenshot 1080×1440 GIF", encode(&text_like(1080, 1440), ImageFormat::Gif)),
        ("scan 3000×2000 BMP", encode(&text_like(3000, 2000), ImageFormat::Bmp)),
        ("phone 1080×1440 PNG", encode(&text_like(1080, 1440), ImageFormat::Png)),
    ];
    println!(
        "{:<32} {:<8} {:>12} {:>12} {:>12} {:>9}  what was done",
        "image", "provider", "bytes in", "bytes out", "request", "ms"
    );
    for (name, bytes) in &cases {
        for (provider, policy) in [("gemini", Policy::GEMINI), ("openai", Policy::OPENAI)] {
            let mime = postmill::input::image::sniff_mime(bytes).expect("a known format");
            let input = ImageInput {
                file: "x".into(),
                mime,
                bytes: Arc::new(bytes.clone()),
                sha256: "x".into(),
                prepared: None,
            };
            let started = Instant::now();
            let prepared = prepare(input, &policy).expect("prepares");
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let request = request_size(std::slice::from_ref(&prepared.image), 0);
            println!(
                "{:<32} {:<8} {:>12} {:>12} {:>12} {:>9.0}  {}",
                name,
                provider,
                bytes.len(),
                prepared.image.bytes.len(),
                request,
                ms,
                prepared.change.as_deref().unwrap_or("sent as read")
            );
            assert!(request <= policy.request_limit, "{name}: a request over the limit");
        }
    }
}
