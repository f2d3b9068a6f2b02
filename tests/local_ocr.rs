//! The local provider against real Tesseract: images rendered with known text (small
//! and large, PNG and JPEG, light and dark) must read back at ≥ 95% character recall,
//! WebP and GIF must decode, and a missing Tesseract must say what to install.
//!
//! Needs `tesseract-ocr` and `tesseract-ocr-chi-sim` (CI installs them).

use image::{DynamicImage, ImageFormat};
use postmill::config::LocalConfig;
use postmill::provider::local::LocalProvider;
use postmill::provider::local::tesseract::char_recall;
use postmill::provider::{Answer, Budget, Call, Failure, ImageInput, Provider, Task};
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocr").join(name)
}

fn provider(program: &str) -> LocalProvider {
    LocalProvider::new(&LocalConfig { tesseract: program.into(), languages: "chi_sim+eng".into() })
}

fn image(file: &str, bytes: Vec<u8>) -> ImageInput {
    let mime = postmill::input::image::sniff_mime(&bytes).unwrap_or("application/octet-stream");
    ImageInput { file: file.into(), mime, bytes: Arc::new(bytes), sha256: String::new(), prepared: None }
}

async fn ocr(p: &LocalProvider, img: ImageInput) -> Result<String, postmill::provider::CallError> {
    let task = Task::Ocr { image: img };
    let call = Call { key: None, model: "tesseract", task: &task, budget: Budget::default() };
    p.generate(call).await.map(|g| match g.answer {
        Answer::Ocr(text) => text,
        other => panic!("OCR task answered with {other:?}"),
    })
}

async fn recall_of(name: &str, bytes: Vec<u8>) -> f64 {
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let expected = std::fs::read_to_string(fixture(&format!("{stem}.txt"))).expect("ground truth");
    let got = ocr(&provider("tesseract"), image(name, bytes)).await.expect("OCR succeeds");
    let recall = char_recall(&expected, &got);
    println!("{name}: recall {recall:.3}\n{got}");
    recall
}

async fn assert_reads(name: &str) {
    let bytes = std::fs::read(fixture(name)).expect("fixture image");
    let recall = recall_of(name, bytes).await;
    assert!(recall >= 0.95, "{name}: character recall {recall:.3} < 0.95");
}

#[tokio::test]
async fn small_text_reads_back() {
    assert_reads("small-text.png").await; // 13 px glyphs
    assert_reads("phone-small.png").await; // 17 px glyphs
}

#[tokio::test]
async fn large_text_reads_back() {
    assert_reads("large-text.png").await; // 55 px glyphs
}

#[tokio::test]
async fn screenshots_png_jpeg_and_dark_mode_read_back() {
    assert_reads("screenshot-png.png").await;
    assert_reads("screenshot-jpeg.jpg").await;
    assert_reads("dark-mode.jpg").await;
}

fn reencode(name: &str, format: ImageFormat) -> Vec<u8> {
    let img = image::open(fixture(name)).expect("fixture decodes");
    // WebP (lossless) and GIF encoders want 8-bit RGBA.
    let img = DynamicImage::ImageRgba8(img.to_rgba8());
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("re-encode");
    out.into_inner()
}

#[tokio::test]
async fn webp_and_gif_decode_and_read() {
    let webp = reencode("phone-small.png", ImageFormat::WebP);
    assert_eq!(postmill::input::image::sniff_mime(&webp), Some("image/webp"));
    assert!(recall_of("phone-small.webp", webp).await >= 0.95);
    let gif = reencode("phone-small.png", ImageFormat::Gif);
    assert_eq!(postmill::input::image::sniff_mime(&gif), Some("image/gif"));
    assert!(recall_of("phone-small.gif", gif).await >= 0.95);
}

#[tokio::test]
async fn missing_tesseract_is_unavailable_and_names_the_packages() {
    let bytes = std::fs::read(fixture("small-text.png")).unwrap();
    let err = ocr(&provider("/nonexistent/postmill-test/tesseract"), image("image_1.png", bytes)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Unavailable);
    assert!(err.message.contains("tesseract-ocr tesseract-ocr-chi-sim"), "{}", err.message);
    assert!(err.message.contains("image_1.png"), "{}", err.message);
}

#[tokio::test]
async fn missing_language_pack_is_unavailable() {
    let bytes = std::fs::read(fixture("small-text.png")).unwrap();
    let p = LocalProvider::new(&LocalConfig { tesseract: "tesseract".into(), languages: "xyz_missing".into() });
    let err = ocr(&p, image("image_1.png", bytes)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Unavailable, "{}", err.message);
    assert!(err.message.contains("tesseract-ocr-chi-sim"), "{}", err.message);
}

#[tokio::test]
async fn bad_bytes_are_a_bad_request() {
    let err =
        ocr(&provider("tesseract"), image("broken.jpg", b"\xFF\xD8\xFFnot really a jpeg".to_vec())).await.unwrap_err();
    assert_eq!(err.failure, Failure::BadRequest);
    assert!(err.message.contains("broken.jpg") && err.message.contains("not a readable image"), "{}", err.message);
}

#[tokio::test]
async fn provider_shape() {
    let p = provider("tesseract");
    assert_eq!(p.name(), "local");
    assert!(!p.needs_key() && !p.supports_combined());
    let models = p.list_models(None).await.unwrap().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["tesseract", "extractor"]);
}
