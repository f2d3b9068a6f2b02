//! The local provider against real Tesseract: images rendered with known text (small
//! and large, PNG and JPEG, light and dark, and Xiaohongshu-style cover cards from
//! `tools/render_cards.py`) must read back at ≥ 95% character recall, WebP and GIF must
//! decode, text that is noise for the configured languages must not be kept, a missing
//! Tesseract or language must say what to install (and stop a run that has images to
//! read with exit 2), and the OCR job identity must follow the setup.
//!
//! Needs `tesseract-ocr` and `tesseract-ocr-chi-sim` (CI installs them).

use crate::common;
use image::{DynamicImage, ImageFormat};
use postmill::config::LocalConfig;
use postmill::provider::local::LocalProvider;
use postmill::provider::local::tesseract::char_recall;
use postmill::provider::{Answer, Budget, Call, Failure, ImageInput, Provider, Task};
use postmill_testkit::config::ConfigBuilder;
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
async fn missing_language_pack_is_unavailable_and_names_its_package() {
    let bytes = std::fs::read(fixture("small-text.png")).unwrap();
    // Tesseract itself would go on with `eng` alone (and exit 0), reading Chinese as noise.
    let p = LocalProvider::new(&LocalConfig { tesseract: "tesseract".into(), languages: "xyz_missing+eng".into() });
    let err = ocr(&p, image("image_1.png", bytes)).await.unwrap_err();
    assert_eq!(err.failure, Failure::Unavailable, "{}", err.message);
    assert!(err.message.contains("tesseract-ocr-xyz-missing"), "{}", err.message);
    assert!(err.message.contains("image_1.png"), "{}", err.message);
}

#[tokio::test]
async fn text_that_is_noise_for_the_languages_is_not_kept() {
    // Chinese read with English only: what chi_sim missing used to produce and keep as ok.
    let bytes = std::fs::read(fixture("screenshot-png.png")).unwrap();
    let p = LocalProvider::new(&LocalConfig { tesseract: "tesseract".into(), languages: "eng".into() });
    let err = ocr(&p, image("image_2.png", bytes)).await.unwrap_err();
    assert_ne!(err.failure.outcome(), postmill::provider::Outcome::Ok);
    assert_eq!(err.failure, Failure::BadRequest, "{}", err.message);
    assert!(err.message.contains("image_2.png") && err.message.contains("noise"), "{}", err.message);
}

#[tokio::test]
async fn ocr_revision_follows_tesseract_languages_and_preparation() {
    use postmill::provider::Stage;
    let rev = |program: &str, languages: &str| {
        LocalProvider::new(&LocalConfig { tesseract: program.into(), languages: languages.into() })
            .revision(Stage::Ocr)
            .expect("the local OCR has a revision")
    };
    let full = rev("tesseract", "chi_sim+eng");
    assert!(full.starts_with("tesseract "), "names the Tesseract version: {full}");
    assert!(full.contains("chi_sim+eng"), "{full}");
    assert!(full.contains(&format!("prepare/{}", postmill::provider::local::prepare::VERSION)), "{full}");
    assert_ne!(full, rev("tesseract", "eng"), "languages are part of the identity");
    assert_ne!(full, rev("/nonexistent/postmill-test/tesseract", "chi_sim+eng"), "a broken setup is its own");
    assert_ne!(full, rev("tesseract", "xyz_missing+chi_sim+eng"));
    assert_eq!(full, rev("tesseract", "chi_sim+eng"), "stable for the same setup");
}

/// Every rendered cover card reads back at ≥ 95% character recall.
#[tokio::test]
async fn cover_cards_read_back() {
    let dir = fixture("cards");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("cards folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    assert!(names.len() >= 16, "{names:?}");
    let mut low = Vec::new();
    for name in &names {
        let recall = recall_of(&format!("cards/{name}"), std::fs::read(dir.join(name)).unwrap()).await;
        if recall < 0.95 {
            low.push(format!("{name}: {recall:.3}"));
        }
    }
    assert!(low.is_empty(), "below 0.95 character recall: {low:?}");
}

/// A cover card as a feed serves it: half size, JPEG at quality 70.
#[tokio::test]
async fn small_compressed_cover_card_reads_back() {
    let img = image::open(fixture("cards/cover-orange-red.png")).unwrap();
    let img = img.resize(540, 720, image::imageops::FilterType::Triangle).to_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70).encode_image(&img).unwrap();
    let recall = recall_of("cards/cover-orange-red.jpg", out.into_inner()).await;
    assert!(recall >= 0.95, "character recall {recall:.3}");
}

#[test]
fn a_run_with_images_stops_with_exit_2_naming_the_missing_package() {
    let ctx = common::TestContext::new();
    ctx.post("p", Some("美团一面：自我介绍"), &[("shot.png", std::fs::read(fixture("small-text.png")).unwrap())]);
    ctx.config(&ConfigBuilder::new().tesseract("/nonexistent/postmill-test/tesseract").build());
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("apt-get install tesseract-ocr tesseract-ocr-chi-sim"),
        "{}",
        common::stderr(&out)
    );
    assert!(!ctx.outputs().join("p/summary.json").exists(), "nothing processed");

    ctx.config(&ConfigBuilder::new().languages("chi_sim+xyz_missing").build());
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(common::code(&out), 2, "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("tesseract-ocr-xyz-missing"), "{}", common::stderr(&out));
    assert!(!ctx.outputs().join("p/summary.json").exists(), "nothing processed");
}

#[test]
fn a_text_only_batch_runs_without_tesseract() {
    let ctx = common::TestContext::new();
    ctx.post("p", Some("美团一面：\n1. 自我介绍\n2. 讲讲 Redis 持久化"), &[]);
    ctx.config(&ConfigBuilder::new().tesseract("/nonexistent/postmill-test/tesseract").build());
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert!(ctx.outputs().join("p/summary.json").is_file());
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
