//! A MediaCrawler note without the crawler's `images/` folder, run end to end offline: its
//! `image_list` URLs are downloaded once (from a local server standing in for the CDN)
//! into the state folder and read; a URL the server refuses is a failed image of the
//! summary, naming the URL; a rerun sends the server nothing.

use crate::common::*;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use postmill::summary::{ImageStatus, Summary};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const NOTE: &str = "66b1c2d3e4f5a60718293a4b";

/// Requests per path, and the Referer of each.
#[derive(Default)]
struct Seen {
    hits: HashMap<String, usize>,
    referers: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ocr").join(name)).unwrap()
}

async fn cdn(State(seen): State<Shared>, UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
    {
        let mut s = seen.lock().unwrap();
        *s.hits.entry(name.clone()).or_default() += 1;
        let referer = headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or("");
        s.referers.push(referer.to_string());
    }
    // Xiaohongshu's names say nothing reliable about the format: the bytes decide.
    match name.as_str() {
        "1040g2sg31a!nd_dft_wlteh_webp_3" => fixture("small-text.png").into_response(),
        "1040g2sg31c!nd_dft_wlteh_webp_3" => fixture("screenshot-jpeg.jpg").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The stand-in CDN on 127.0.0.1, served by the returned runtime's workers.
fn start_cdn() -> (tokio::runtime::Runtime, String, Shared) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen = Shared::default();
    let app = axum::Router::new().route("/202406101200/{name}", axum::routing::get(cdn)).with_state(seen.clone());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base = format!("http://{}/202406101200", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rt, base, seen)
}

#[test]
fn image_urls_are_downloaded_once_and_a_refused_one_is_a_failed_image() {
    let (_rt, base, seen) = start_cdn();
    let urls = [
        format!("{base}/1040g2sg31a!nd_dft_wlteh_webp_3"),
        format!("{base}/1040g2sg31b!nd_dft_wlteh_webp_3"),
        format!("{base}/1040g2sg31c!nd_dft_wlteh_webp_3"),
    ];
    let ctx = TestContext::new();
    let notes = serde_json::json!([{
        "note_id": NOTE, "type": "normal", "title": "大模型算法一面", "desc": "面经见图。",
        "time": 1718000000000u64, "image_list": urls.join(","), "tag_list": "面经",
        "note_url": format!("https://www.xiaohongshu.com/explore/{NOTE}"), "liked_count": "10",
    }]);
    let export = ctx.inputs().join("data/xhs/json/search_contents_2024-06-10.json");
    std::fs::create_dir_all(export.parent().unwrap()).unwrap();
    std::fs::write(&export, notes.to_string()).unwrap();

    let out = ctx.run(&["run", "--provider", "local", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    // Done, with the refused image counted as a problem of its own.
    assert!(err.contains("1 post(s): 0 done, 1 done with problems (1 unreadable image(s)"), "{err}");
    let hits = |s: &Seen| s.hits.values().sum::<usize>();
    assert_eq!(hits(&seen.lock().unwrap()), 3);
    assert!(seen.lock().unwrap().referers.iter().all(|r| r == "https://www.xiaohongshu.com/"));

    let summary_path = ctx.outputs().join(NOTE).join("summary.json");
    let json = std::fs::read_to_string(&summary_path).unwrap();
    let summary: Summary = serde_json::from_str(&json).unwrap();
    let images: Vec<(&str, ImageStatus)> = summary.images.iter().map(|i| (i.file.as_str(), i.status)).collect();
    assert_eq!(images, [("1.png", ImageStatus::Ok), ("2", ImageStatus::Failed), ("3.jpg", ImageStatus::Ok)]);
    let read = summary.images[0].text.as_deref().unwrap_or_default();
    assert!(read.contains("LRU"), "Tesseract read: {read}");
    let error = summary.images[1].error.as_deref().unwrap();
    assert!(error.contains(&urls[1]) && error.contains("HTTP 404"), "{error}");
    let md = std::fs::read_to_string(ctx.outputs().join(NOTE).join("summary.md")).unwrap();
    assert!(md.contains("failed"), "{md}");
    // The downloads live in the state folder, not beside the user's export.
    let media = ctx.outputs().join(".postmill/media").join(NOTE);
    assert_eq!(std::fs::read(media.join("1.png")).unwrap(), fixture("small-text.png"));
    assert!(!ctx.inputs().join("data/xhs/images").exists());

    // A rerun sends the CDN nothing and leaves the summary as it was.
    let again = ctx.run(&["run", "--provider", "local", "--no-progress"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(hits(&seen.lock().unwrap()), 3);
    assert_eq!(std::fs::read_to_string(&summary_path).unwrap(), json);
}

/// The crawler names its files `0.jpg`, `1.jpg`, … as downloads succeed; a crawl cut short
/// leaves fewer files than `image_list` URLs. The missing ones are fetched at their place
/// in the list; one the CDN refuses is a failed image of the summary naming its URL.
#[test]
fn a_partial_download_fetches_the_missing_images_and_lists_a_refused_one_with_its_url() {
    let (_rt, base, seen) = start_cdn();
    let urls = [
        format!("{base}/1040g2sg31z!nd_dft_wlteh_webp_3"),
        format!("{base}/1040g2sg31b!nd_dft_wlteh_webp_3"),
        format!("{base}/1040g2sg31c!nd_dft_wlteh_webp_3"),
    ];
    let ctx = TestContext::new();
    let note = serde_json::json!({
        "note_id": NOTE, "type": "normal", "title": "大模型算法一面", "desc": "面经见图。",
        "time": 1718000000000u64, "image_list": urls.join(","), "tag_list": "面经",
        "note_url": format!("https://www.xiaohongshu.com/explore/{NOTE}"), "liked_count": "10",
    });
    let xhs = ctx.inputs().join("data/xhs");
    std::fs::create_dir_all(xhs.join("jsonl")).unwrap();
    std::fs::write(xhs.join("jsonl/search_contents_2024-06-10.jsonl"), format!("{note}\n")).unwrap();
    std::fs::create_dir_all(xhs.join(format!("images/{NOTE}"))).unwrap();
    std::fs::write(xhs.join(format!("images/{NOTE}/0.jpg")), fixture("screenshot-jpeg.jpg")).unwrap();

    let out = ctx.run(&["run", "--provider", "local", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("2 of its 3 images are not on disk"), "{err}");
    // The first URL is the file on disk: never asked for.
    let hits = seen.lock().unwrap().hits.clone();
    assert_eq!(hits.get("1040g2sg31z!nd_dft_wlteh_webp_3"), None, "{hits:?}");
    assert_eq!(hits.values().sum::<usize>(), 2, "{hits:?}");

    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(ctx.outputs().join(NOTE).join("summary.json")).unwrap()).unwrap();
    let images: Vec<(&str, ImageStatus)> = summary.images.iter().map(|i| (i.file.as_str(), i.status)).collect();
    assert_eq!(images, [("0.jpg", ImageStatus::Ok), ("2", ImageStatus::Failed), ("3.jpg", ImageStatus::Ok)]);
    let error = summary.images[1].error.as_deref().unwrap();
    assert!(error.contains(&urls[1]) && error.contains("HTTP 404"), "{error}");
    assert_eq!(summary.source.published_at.as_deref(), Some("2024-06-10T06:13:20Z"));
}
