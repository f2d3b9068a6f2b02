//! report.html checked in a real browser, as a person would: the binary runs offline over
//! the 40 nowcoder posts, then headless Chromium opens the report at desktop (1280) and
//! phone (390) widths, in light and dark mode, and the test asserts that it loads with no
//! console error and no network request, that every chart has visible pixels in its box,
//! and that the phone page does not scroll sideways. Screenshots are kept under
//! `target/tmp/report-browser/` (not in git) for a person to look at.
//!
//! Chromium is driven over the DevTools protocol on `--remote-debugging-pipe` (fd 3 in,
//! fd 4 out, NUL-separated JSON): no port to pick or race for, no WebSocket, no CDP crate
//! that would download its own browser. Command-line flags alone (`--screenshot`,
//! `--dump-dom`) cannot report console errors or network requests reliably, nor measure
//! layout, and the page's CSP forbids any script of ours inside it.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// The browser binary: `POSTMILL_CHROMIUM` or `chromium` on the PATH.
fn chromium() -> String {
    let bin = std::env::var("POSTMILL_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !found.is_ok_and(|s| s.success()) {
        panic!(
            "`{bin}` not found: this test needs headless Chromium, the Debian package `chromium` \
             (apt-get install chromium fonts-noto-cjk), or POSTMILL_CHROMIUM=/path/to/chrome"
        );
    }
    bin
}

/// A Chromium driven over its DevTools pipe.
struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: Receiver<Value>,
    next_id: u64,
    /// Events received while waiting for answers, in order.
    events: Vec<Value>,
}

const WAIT: Duration = Duration::from_secs(60);

impl Browser {
    fn launch(profile: &Path, log: &Path) -> Browser {
        let bin = chromium();
        // Two pipes: the browser reads commands on fd 3 and writes answers on fd 4.
        let (mut cmd_pipe, mut out_pipe) = ([0; 2], [0; 2]);
        // SAFETY: pipe2 writes two descriptors into each array.
        unsafe {
            assert_eq!(libc::pipe2(cmd_pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
            assert_eq!(libc::pipe2(out_pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        let (browser_reads, browser_writes) = (cmd_pipe[0], out_pipe[1]);
        let mut command = Command::new(bin);
        command
            .args([
                "--headless",
                "--remote-debugging-pipe",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // Chromium refuses to start its sandbox as root (CI containers run as root).
            command.arg("--no-sandbox");
        }
        // SAFETY: only async-signal-safe calls between fork and exec. dup() gives copies
        // without close-on-exec; dup2 puts them where Chromium looks for them.
        unsafe {
            command.pre_exec(move || {
                let (r, w) = (libc::dup(browser_reads), libc::dup(browser_writes));
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start chromium");
        // SAFETY: the descriptors are ours and each is wrapped exactly once; the browser's
        // ends are closed here so that reads see EOF when it exits.
        let (to_browser, mut reader) = unsafe {
            libc::close(browser_reads);
            libc::close(browser_writes);
            (std::fs::File::from_raw_fd(cmd_pipe[1]), std::fs::File::from_raw_fd(out_pipe[0]))
        };
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let message: Vec<u8> = buf.drain(..=end).collect();
                    match serde_json::from_slice::<Value>(&message[..end]) {
                        Ok(v) => {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                        Err(e) => panic!("chromium sent invalid JSON: {e}"),
                    }
                }
            }
        });
        Browser { child, to_browser, from_browser: rx, next_id: 0, events: Vec::new() }
    }

    /// Sends one command and waits for its answer; events on the way are kept.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser.write_all(&bytes).expect("write to chromium");
        loop {
            let m = self.from_browser.recv_timeout(WAIT).unwrap_or_else(|e| panic!("{method}: no answer ({e})"));
            if m["id"] == id {
                if let Some(err) = m.get("error") {
                    panic!("{method}: {err}");
                }
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    /// Waits for an event of `method` in `session` (one already received counts).
    fn wait_for(&mut self, session: &str, method: &str) {
        let seen = |m: &Value| m["method"] == method && m["sessionId"] == session;
        if self.events.iter().any(seen) {
            return;
        }
        loop {
            let m = self.from_browser.recv_timeout(WAIT).unwrap_or_else(|e| panic!("no {method} ({e})"));
            let done = seen(&m);
            self.events.push(m);
            if done {
                return;
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.to_browser.write_all(b"{\"id\":999999,\"method\":\"Browser.close\"}\0");
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one page load showed.
struct View {
    scroll_width: f64,
    inner_width: f64,
    /// Each chart's box in page coordinates: x, y, width, height.
    charts: Vec<(String, [f64; 4])>,
    events: Vec<Value>,
}

fn open(browser: &mut Browser, url: &str, width: u32, mobile: bool, dark: bool, shot: &Path) -> View {
    let target = browser.call(None, "Target.createTarget", json!({"url": "about:blank"}))["targetId"].clone();
    let session =
        browser.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true}))["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
    let s = Some(session.as_str());
    for domain in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
        browser.call(s, domain, json!({}));
    }
    let height = if mobile { 844 } else { 900 };
    browser.call(
        s,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
    );
    let scheme = if dark { "dark" } else { "light" };
    browser.call(
        s,
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
    );
    let first_event = browser.events.len();
    browser.call(s, "Page.navigate", json!({"url": url}));
    browser.wait_for(&session, "Page.loadEventFired");
    // Measured from DevTools, outside the page: its CSP allows no script of ours.
    let measure = "JSON.stringify({sw: document.documentElement.scrollWidth, iw: window.innerWidth, \
                   charts: [...document.querySelectorAll('figure.chart')].map(f => { \
                     const svg = f.querySelector('svg'); if (!svg) return [f.id, [0, 0, 0, 0]]; \
                     const r = svg.getBoundingClientRect(); \
                     return [f.id, [r.x + scrollX, r.y + scrollY, r.width, r.height]]; })})";
    let result = browser.call(s, "Runtime.evaluate", json!({"expression": measure, "returnByValue": true}));
    let v: Value = serde_json::from_str(result["result"]["value"].as_str().expect("measurement")).unwrap();
    let charts = v["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let b: Vec<f64> = c[1].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            (c[0].as_str().unwrap().to_string(), [b[0], b[1], b[2], b[3]])
        })
        .collect();
    // The page as a person sees it first: the top, charts included.
    let top = browser.call(
        s,
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true,
               "clip": {"x": 0, "y": 0, "width": width, "height": 2200, "scale": 1}}),
    );
    std::fs::write(shot, decode(&top)).unwrap();
    let view = View {
        scroll_width: v["sw"].as_f64().unwrap(),
        inner_width: v["iw"].as_f64().unwrap(),
        charts,
        events: browser.events[first_event..].iter().filter(|e| e["sessionId"] == session.as_str()).cloned().collect(),
    };
    // Each chart's own pixels, for the visibility check.
    let mut pixels = Vec::new();
    for (id, [x, y, w, h]) in &view.charts {
        assert!(*w > 0.0 && *h > 0.0, "chart {id} has an empty box at {width}px");
        let shot = browser.call(
            s,
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": x, "y": y, "width": w, "height": h, "scale": 1}}),
        );
        pixels.push((id.clone(), decode(&shot)));
    }
    for (id, png) in pixels {
        let share = drawn_share(&png);
        assert!(share > 0.03, "chart {id} looks blank at {width}px ({:.1} % drawn)", share * 100.0);
    }
    browser.call(None, "Target.closeTarget", json!({"targetId": target}));
    view
}

fn decode(screenshot: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(screenshot["data"].as_str().expect("screenshot data")).unwrap()
}

/// The share of pixels that differ clearly from the box's most common colour (its
/// background): bars, their labels and counts.
fn drawn_share(png: &[u8]) -> f64 {
    let img = image::load_from_memory(png).expect("a PNG").to_rgb8();
    let mut counts = std::collections::HashMap::new();
    for p in img.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let background = counts.into_iter().max_by_key(|&(_, n)| n).map(|(c, _)| c).unwrap_or([255; 3]);
    let differs =
        |p: &image::Rgb<u8>| p.0.iter().zip(background).map(|(&a, b)| (a as i32 - b as i32).abs()).sum::<i32>() > 60;
    let drawn = img.pixels().filter(|p| differs(p)).count();
    drawn as f64 / (img.width() * img.height()).max(1) as f64
}

/// Console errors, uncaught exceptions and log errors (a CSP violation is one).
fn errors(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            (e["method"] == "Runtime.consoleAPICalled"
                && matches!(e["params"]["type"].as_str(), Some("error" | "assert")))
                || e["method"] == "Runtime.exceptionThrown"
                || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
        })
        .map(|e| e.to_string())
        .collect()
}

/// Every request the page made other than loading itself.
fn requests(events: &[Value], page: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
        .filter_map(|e| e["params"]["request"]["url"].as_str())
        .filter(|url| *url != page)
        .map(str::to_string)
        .collect()
}

fn copy_corpus(ctx: &TestContext) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nowcoder");
    for e in std::fs::read_dir(&corpus).unwrap().flatten() {
        if !e.path().is_dir() || e.file_name() == "gold" {
            continue;
        }
        let to = ctx.inputs().join(e.file_name());
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(e.path()).unwrap().flatten() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
}

#[test]
fn the_report_renders_in_chromium_on_desktop_and_phone() {
    let ctx = TestContext::new();
    copy_corpus(&ctx);
    let run = ctx.run(&["run", "--no-progress"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let report = ctx.outputs().join("report.html");

    // Artifacts a person can open: the report and its screenshots, under target/.
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::copy(&report, artifacts.join("report.html")).unwrap();
    let url = format!("file://{}", report.display());

    let mut browser = Browser::launch(&ctx.root().join("chromium-profile"), &artifacts.join("chromium.log"));
    for (name, width, mobile, dark) in
        [("desktop", 1280, false, false), ("phone", 390, true, false), ("phone-dark", 390, true, true)]
    {
        let shot = artifacts.join(format!("{name}.png"));
        let view = open(&mut browser, &url, width, mobile, dark, &shot);
        assert_eq!(errors(&view.events), Vec::<String>::new(), "console errors on {name}");
        assert_eq!(requests(&view.events, &url), Vec::<String>::new(), "network requests on {name}");
        let ids: Vec<&str> = view.charts.iter().map(|(id, _)| id.as_str()).collect();
        assert!(ids.len() >= 4, "fewer than four charts on {name}: {ids:?}");
        if mobile {
            assert!(
                view.scroll_width <= view.inner_width,
                "the page overflows sideways on a phone: {} px wide in a {} px window",
                view.scroll_width,
                view.inner_width
            );
        }
        eprintln!("{name}: {} charts, {} px wide; screenshot {}", ids.len(), view.scroll_width, shot.display());
    }
}
