//! Nothing lost, nothing hidden (issue 10), driven through the real binary against the
//! fake Gemini server: a ledger equal to the server's count across kill -9, a store that
//! survives its own loss and refuses one from the future, torn logs, a full disk (exit 74),
//! hostile text, file modes, plain stderr, and a status that names every problem.

use crate::common::*;
use postmill::summary::Summary;
use postmill_testkit::config::ConfigBuilder;
use postmill_testkit::gemini::{FakeGemini, GeminiConfig};
use std::path::Path;
use std::time::Duration;

fn gemini_config(base_url: &str) -> String {
    ConfigBuilder::gemini(base_url)
        .concurrency(2)
        .ocr_models(["gemini-2.5-flash-lite"])
        .summary_models(["gemini-2.5-flash", "gemini-2.5-flash-lite"])
        .request_timeout_s(5)
        .key("alpha", "TEST_KEY_A", "proj-1")
        .build()
}

async fn server(latency_ms: u64) -> FakeGemini {
    let mut config = GeminiConfig::default().key(KEY_A, "alpha", "proj-1");
    if latency_ms > 0 {
        config = config.latency(Duration::from_millis(latency_ms));
    }
    FakeGemini::start(config).await
}

fn context(s: &FakeGemini) -> TestContext {
    let ctx = TestContext::new().env("TEST_KEY_A", KEY_A);
    ctx.config(&gemini_config(&s.base_url()));
    ctx
}

fn generate_requests(s: &FakeGemini) -> usize {
    s.requests().iter().filter(|r| r.path.contains(":generateContent")).count()
}

fn audit_json(ctx: &TestContext, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["audit", "--format", "json"];
    args.extend(extra);
    let out = ctx.run(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn read_summary(ctx: &TestContext, id: &str) -> Summary {
    serde_json::from_slice(&std::fs::read(ctx.outputs().join(id).join("summary.json")).unwrap()).unwrap()
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_ten_times_then_a_final_run_ledger_equals_server() {
    let s = server(250).await;
    let ctx = context(&s);
    let posts = 80;
    for i in 0..posts {
        ctx.post(&format!("p{i:02}"), Some(&format!("第{i}篇 一面：自我介绍")), &[]);
    }
    for kill_after in [350u64, 500, 650, 420, 800, 560, 300, 700, 480, 900] {
        let mut child = ctx.command(&["run", "--no-progress", "--concurrency", "2"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(kill_after));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let killed_at = generate_requests(&s);
    let out = ctx.run(&["run", "--no-progress", "--concurrency", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(generate_requests(&s) > killed_at, "the kills came too late to test anything");
    for i in 0..posts {
        assert_eq!(read_summary(&ctx, &format!("p{i:02}")).post_id, format!("p{i:02}"));
    }
    // Every request the server saw is in the ledger, the ones cut off by a kill as `unknown`.
    let report = audit_json(&ctx, &[]);
    // Exactly: a request may be cut off by the kill after its `started` row is durable and
    // before it leaves; it is then an `unknown` the server never saw. So every request the
    // server saw is in the ledger, and the only excess is `unknown` attempts.
    let attempts = report["attempts"].as_u64().unwrap() as usize;
    let unknown = report["by_outcome"]["unknown"].as_u64().unwrap_or(0) as usize;
    let seen = s.requests().len();
    assert!(seen <= attempts && attempts <= seen + unknown, "ledger {attempts} ({unknown} unknown), server {seen}");
    assert!(unknown <= 10 * 2, "at most the requests in flight at each kill: {unknown}");
    eprintln!("FIGURES kill -9 x10: ledger {attempts} attempts ({unknown} unknown), server saw {seen} requests");
    // The usage log says the same.
    let log = ctx.outputs().join(".postmill/usage.jsonl");
    let from_log = audit_json(&ctx, &[log.to_str().unwrap()]);
    assert_eq!(from_log["attempts"], report["attempts"]);
    for p in files_under(&ctx.outputs()) {
        assert!(!p.file_name().unwrap().to_string_lossy().starts_with(".tmp-"), "{}", p.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_deleted_after_a_finished_run_is_adopted_from_the_outputs() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("text-only", Some("字节一面\n八股：什么是RAG？"), &[]);
    ctx.post("with-images", Some("美团二面"), &[("image_2.png", png(2)), ("image_10.jpg", jpeg(10))]);
    ctx.post("images-only", None, &[("1.png", png(7))]);
    for mode in ["combined", "split"] {
        let first = ctx.run(&["run", "--mode", mode, "--no-progress"]);
        assert_eq!(code(&first), 0, "{}", stderr(&first));
        let before = s.requests().len();
        std::fs::remove_dir_all(ctx.outputs().join(".postmill")).unwrap();
        let again = ctx.run(&["run", "--mode", mode, "--no-progress"]);
        assert_eq!(code(&again), 0, "{}", stderr(&again));
        assert_eq!(s.requests().len(), before, "{mode}: nothing is paid twice, ListModels included");
        let status = ctx.run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(v["counts"]["done"], 3, "{mode}: {v:#}");
        // Switching mode for the next round must redo the work (its jobs differ).
        std::fs::remove_dir_all(ctx.outputs()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_the_future_is_refused_and_left_byte_identical() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("a", Some("一面：自我介绍"), &[]);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    let db = ctx.outputs().join(".postmill/state.db");
    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let before = std::fs::read(&db).unwrap();
    let requests = s.requests().len();
    std::fs::remove_dir_all(ctx.outputs().join("a")).unwrap();
    for args in [&["run", "--no-progress"][..], &["status"], &["audit"]] {
        let out = ctx.run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.contains("99") && err.contains(&postmill::store::STORE_VERSION.to_string()), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert_eq!(s.requests().len(), requests, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_usage_line_is_skipped_and_the_next_run_starts_a_fresh_line() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("a", Some("一面：自我介绍"), &[]);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    let log = ctx.outputs().join(".postmill/usage.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str(r#"{"ts":"2026-12-01T00:00:00Z","run_id":"torn","po"#);
    std::fs::write(&log, &text).unwrap();
    ctx.post("b", Some("二面：项目"), &[]);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let torn = lines.iter().position(|l| l.ends_with(r#""po"#)).expect("the torn line is kept as it was");
    assert!(lines.len() > torn + 1, "the second run wrote lines");
    for l in &lines[torn + 1..] {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    let out = ctx.run(&["audit", log.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let warnings = stderr(&out).lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(warnings, 1, "{}", stderr(&out));
}

/// Mounts a tmpfs of `size` at `dir`; `None` (the test then says it is skipped) where
/// mounting is not permitted.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_run_with_74_and_a_rerun_repeats_little() {
    let s = server(0).await;
    let ctx = context(&s);
    let disk = ctx.root().join("small");
    if mount_tmpfs(&disk, "3m").is_none() {
        eprintln!("SKIPPED: mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    let posts = 40;
    for i in 0..posts {
        let text = format!("第{i}篇 一面：自我介绍\n{}", "项目经历与八股问题。".repeat(200));
        ctx.post(&format!("p{i:02}"), Some(&text), &[("1.png", png(i as u8))]);
    }
    let out_dir = disk.join("outputs");
    // Room for a few posts only.
    std::fs::write(disk.join("filler"), vec![0u8; 2_800_000]).unwrap();
    let out = ctx.run(&["run", "--no-progress", "--output", out_dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 74, "{err}");
    let errors = err.lines().filter(|l| l.contains("ERROR")).count();
    assert!(errors <= 5, "{errors} ERROR lines:\n{err}");
    // The output or the store, whichever hits the full disk first.
    let full = |l: &&str| (l.contains("No space left on device") || l.contains("disk is full")) && !l.contains("DEBUG");
    let naming = err.lines().filter(full).count();
    assert_eq!(naming, 1, "one line names the path and the OS error:\n{err}");
    let line = err.lines().find(full).unwrap();
    assert!(line.contains(out_dir.to_str().unwrap()), "{line}");
    assert!(!line.contains(".tmp-"), "names the real file, not a temp file: {line}");
    let said = err.lines().filter(|l| !l.contains("DEBUG")).map(|l| l.matches("os error 28").count()).sum::<usize>();
    assert!(said <= 1, "{err}");

    let sent = generate_requests(&s);
    std::fs::remove_file(disk.join("filler")).unwrap();
    let again = ctx.run(&["run", "--no-progress", "--output", out_dir.to_str().unwrap()]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let repeated = generate_requests(&s) - posts.min(generate_requests(&s));
    assert!(repeated <= 10, "{repeated} requests repeated (first run sent {sent})");
    let used: u64 = files_under(&out_dir).iter().map(|p| p.metadata().map_or(0, |m| m.len())).sum();
    eprintln!(
        "FIGURES full disk: exit 74 after {sent} requests, {errors} ERROR line(s); rerun repeated {repeated}; \
         outputs and state take {used} bytes of the 3 MB disk"
    );
    eprintln!("FIRST RUN STDERR (non-debug):");
    for l in err.lines().filter(|l| !l.contains("DEBUG")) {
        eprintln!("  {l}");
    }
}

const HOSTILE: &str = "<script>alert(1)</script>\n# Injected heading\n| a | b |\n<img src=x onerror=alert(1)>\u{1b}[31mred\u{0}\u{7}\u{202e}gpj.exe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_post_text_reaches_no_output_raw_and_outputs_are_0644() {
    let s = server(0).await;
    let ctx = context(&s);
    // A post file with NUL bytes is refused as not text (by design): the post carries the rest.
    let post_text = HOSTILE.replace('\u{0}', "");
    ctx.post("hostile", Some(&format!("{post_text}\n{post_text}")), &[("1.png", png(3))]);
    let old = unsafe { libc::umask(0o022) };
    let out = ctx.run(&["run", "--no-progress"]);
    unsafe { libc::umask(old) };
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!out.stderr.contains(&0x1b), "no escape codes in redirected stderr: {}", stderr(&out));
    let mut checked = 0;
    for path in files_under(&ctx.outputs()) {
        if path.components().any(|c| c.as_os_str() == ".postmill") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.chars().any(postmill::sanitize::is_unsafe), "{}: control or bidi characters", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        if name.ends_with(".md") || name.ends_with(".html") || name.ends_with(".txt") {
            // `\<script` (CommonMark's escape, as the digest writes it) renders as text.
            let raw = ["<script", "<img"]
                .iter()
                .any(|tag| text.match_indices(tag).any(|(i, _)| i == 0 || text.as_bytes()[i - 1] != b'\\'));
            assert!(!raw, "{}: raw HTML", path.display());
            assert!(!text.lines().any(|l| l.starts_with("# Injected")), "{}: injected heading", path.display());
            assert!(!text.lines().any(|l| l.starts_with("| a |")), "{}: injected table row", path.display());
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "summary.json, summary.md, an OCR text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_os_error_is_printed_once_and_exits_74() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("a", Some("一面：自我介绍"), &[]);
    let file = ctx.root().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = ctx.run(&["run", "--no-progress", "--output", file.join("out").to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 74, "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    assert_eq!(s.requests().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_that_is_a_file_says_so() {
    let s = server(0).await;
    let ctx = context(&s);
    let file = ctx.root().join("notes.txt");
    std::fs::write(&file, "一面：自我介绍").unwrap();
    let out = ctx.run(&["run", "--no-progress", "--input", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(code(&out), 2, "{err}");
    assert!(err.contains("is a file, not a folder"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_unread_images_and_skipped_folders_and_counts_every_post() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("good", Some("一面：自我介绍"), &[("ok.png", png(1))]);
    ctx.post("broken", Some("二面：项目"), &[("broken.png", b"not an image at all".to_vec())]);
    std::fs::create_dir_all(ctx.inputs().join("empty-folder")).unwrap();
    let out = ctx.run(&["run", "--no-progress"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 0, "{err}");
    assert!(err.contains("1 done with problems"), "{err}");
    let status = ctx.run(&["status", "--json"]);
    assert_eq!(code(&status), 0, "{}", stderr(&status));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["posts"], 2, "{v:#}");
    assert_eq!(v["counts"]["done"], 1, "{v:#}");
    assert_eq!(v["counts"]["done_with_problems"], 1, "{v:#}");
    let unread = v["unread_images"].as_array().unwrap();
    assert_eq!(unread.len(), 1, "{v:#}");
    assert_eq!(unread[0]["file"], "broken.png");
    assert_eq!(unread[0]["post_id"], "broken");
    let problems = v["input_problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p["path"].as_str().unwrap().ends_with("empty-folder")), "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_images_could_not_be_read_at_all_does_not_exit_0() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("a", Some("一面：自我介绍"), &[("broken.png", b"not an image".to_vec())]);
    ctx.post("b", Some("二面：项目"), &[("broken.jpg", b"nor this".to_vec())]);
    let out = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_without_a_key_says_the_route_is_offline_in_a_table() {
    let ctx = TestContext::new();
    ctx.config("");
    let out = ctx.run(&["models"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{}{}", text, stderr(&out));
    assert!(text.contains("no API key found") && text.contains("offline"), "{text}");
    assert!(!text.contains("Some(") && !text.contains("[(\""), "no debug dump: {text}");
    assert!(text.lines().any(|l| l.starts_with("stage") && l.contains("model")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_output_folder_can_be_inspected() {
    let s = server(0).await;
    let ctx = context(&s);
    ctx.post("a", Some("一面：自我介绍"), &[]);
    assert_eq!(code(&ctx.run(&["run", "--no-progress"])), 0);
    // A read-only view of the output folder (root ignores permission bits; a read-only
    // mount binds everyone).
    let view = ctx.root().join("ro-view");
    std::fs::create_dir_all(&view).unwrap();
    let bind = |args: &[&str]| std::process::Command::new("mount").args(args).status().is_ok_and(|s| s.success());
    let outputs = ctx.outputs();
    if !bind(&["--bind", outputs.to_str().unwrap(), view.to_str().unwrap()]) {
        eprintln!("SKIPPED: bind mounts are not permitted here (needs root / CAP_SYS_ADMIN)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(view.clone());
    assert!(bind(&["-o", "remount,ro,bind", view.to_str().unwrap()]), "remount read-only");
    assert!(std::fs::write(view.join("probe"), b"x").is_err(), "the view is read-only");
    for args in [&["status", "--json"][..], &["audit"], &["plan"]] {
        let mut args = args.to_vec();
        args.extend(["--output", view.to_str().unwrap()]);
        let out = ctx.run(&args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
}
