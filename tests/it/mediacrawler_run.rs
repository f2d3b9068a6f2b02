//! A MediaCrawler `data/xhs/` tree run end to end offline: each note of the export is one
//! post with the crawler's downloaded images; comments and media folders are not posts.

use crate::common::*;
use postmill::summary::Summary;
use std::path::Path;

const NOTE_WITH_IMAGES: &str = "66a1b2c3d4e5f60718293a4b";
const NOTE_TEXT_ONLY: &str = "66a1b2c3d4e5f60718293a4c";

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn note(id: &str, title: &str, desc: &str) -> serde_json::Value {
    serde_json::json!({
        "note_id": id, "type": "normal", "title": title, "desc": desc, "video_url": "",
        "time": 1718000000000u64, "last_update_time": 1718000000000u64,
        "user_id": "5f0000000000000000000001", "nickname": "面试小能手", "avatar": "https://sns-avatar-qc.xhscdn.com/a",
        "liked_count": "1.2万", "collected_count": "300", "comment_count": "12", "share_count": "4",
        "ip_location": "北京",
        // Only the note with the crawler's images has URLs: the others' would be downloaded,
        // and these tests send nothing beyond 127.0.0.1 (the `mediacrawler_fetch` module does that).
        "image_list": if id == NOTE_WITH_IMAGES {
            format!("https://sns-webpic-qc.xhscdn.com/{id}/1,https://sns-webpic-qc.xhscdn.com/{id}/2")
        } else {
            String::new()
        },
        "tag_list": "面经,秋招",
        "last_modify_ts": 1718000000123u64,
        "note_url": format!("https://www.xiaohongshu.com/explore/{id}?xsec_token=AB1&xsec_source=pc_search"),
        "source_keyword": "面经", "xsec_token": "AB1"
    })
}

fn summary(ctx: &TestContext, id: &str) -> Summary {
    let path = ctx.outputs().join(id).join("summary.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn each_note_of_an_export_is_a_post_with_the_crawlers_images() {
    let ctx = TestContext::new();
    let xhs = ctx.root().join("crawl/data/xhs");
    let notes = serde_json::json!([
        note(NOTE_WITH_IMAGES, "美团后端一面", "一面：自我介绍，项目拷打，手撕 LRU 缓存。"),
        note(NOTE_TEXT_ONLY, "字节跳动算法面经", "二面：讲一下 Transformer，代码题 lc54 螺旋矩阵。"),
    ]);
    write(&xhs.join("json/search_contents_2024-06-10.json"), serde_json::to_vec_pretty(&notes).unwrap());
    let comments = serde_json::json!([{"comment_id": "c1", "note_id": NOTE_WITH_IMAGES, "content": "同问"}]);
    write(&xhs.join("json/search_comments_2024-06-10.json"), comments.to_string());
    write(&xhs.join(format!("images/{NOTE_WITH_IMAGES}/1.jpg")), jpeg(10));
    write(&xhs.join(format!("images/{NOTE_WITH_IMAGES}/2.jpg")), jpeg(200));
    // Media of notes that are not in this export, and a video folder: never posts.
    write(&xhs.join("images/66ffffffffffffffffffffff/1.jpg"), jpeg(50));
    write(&xhs.join(format!("videos/{NOTE_TEXT_ONLY}/0.mp4")), b"\0\0\0\x18ftypmp42");
    write(&xhs.join(format!("videos/{NOTE_TEXT_ONLY}/cover.jpg")), jpeg(90));

    let input = xhs.parent().unwrap().parent().unwrap().to_str().unwrap().to_string();
    let output = ctx.outputs().to_str().unwrap().to_string();
    let out = ctx.run(&["run", "--provider", "local", "--input", &input, "--output", &output, "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(!err.contains("skipped"), "{err}");

    let with_images = summary(&ctx, NOTE_WITH_IMAGES);
    assert_eq!(with_images.post_id, NOTE_WITH_IMAGES);
    assert_eq!(with_images.title.as_deref(), Some("美团后端一面"));
    assert_eq!(
        with_images.source.url.as_deref(),
        Some(
            format!("https://www.xiaohongshu.com/explore/{NOTE_WITH_IMAGES}?xsec_token=AB1&xsec_source=pc_search")
                .as_str()
        )
    );
    assert!(with_images.source.path.ends_with("search_contents_2024-06-10.json"), "{}", with_images.source.path);
    let files: Vec<&str> = with_images.images.iter().map(|i| i.file.as_str()).collect();
    assert_eq!(files, ["1.jpg", "2.jpg"]);

    let text_only = summary(&ctx, NOTE_TEXT_ONLY);
    assert_eq!(text_only.post_id, NOTE_TEXT_ONLY);
    assert_eq!(
        text_only.source.url.as_deref(),
        Some(
            format!("https://www.xiaohongshu.com/explore/{NOTE_TEXT_ONLY}?xsec_token=AB1&xsec_source=pc_search")
                .as_str()
        )
    );
    assert!(text_only.images.is_empty());
    // The note with the crawler's images never downloads its URLs.
    assert!(!err.contains("downloading"), "{err}");
    assert!(!ctx.outputs().join(".postmill/media").exists());

    // Exactly the two notes became posts: not the comments, nor any media folder.
    let mut dirs: Vec<String> = std::fs::read_dir(ctx.outputs())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    assert_eq!(dirs, [NOTE_WITH_IMAGES, NOTE_TEXT_ONLY]);
    assert!(err.contains("2 post(s): 2 done, 0 failed"), "{err}");
}

#[test]
fn a_malformed_record_fails_with_its_file_and_line_and_the_rest_goes_on() {
    let ctx = TestContext::new();
    let good = serde_json::to_string(&note(NOTE_TEXT_ONLY, "美团一面", "一面：自我介绍")).unwrap();
    let jsonl = ctx.inputs().join("data/xhs/jsonl/search_contents_2026-11-28.jsonl");
    write(&jsonl, format!("{{\"title\": \"no id\"}}\n{good}\n"));
    let out = ctx.run(&["run", "--provider", "local", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("search_contents_2026-11-28.jsonl") && err.contains("line 1"), "{err}");
    assert_eq!(summary(&ctx, NOTE_TEXT_ONLY).post_id, NOTE_TEXT_ONLY);
}
