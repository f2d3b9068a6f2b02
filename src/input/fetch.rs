//! Downloads the `image_list` URLs of crawler notes that came without local images, once,
//! into the state folder: `<output>/.postmill/media/<safe_id>/<n>.<ext>`, `n` the URL's
//! 1-based place in `image_list`, `ext` from the bytes' sniffed type.
//!
//! A file already there is never fetched again, so a rerun sends nothing. A URL that is
//! refused for good (HTTP 4xx, not an image, over the size cap) is remembered beside the
//! images as `<n>.failed`, holding the error, so a rerun does not ask again; `--retry-failed`
//! forgets those. Failures on the way (5xx, timeouts, connection) are retried twice with
//! jittered backoff and, if they persist, not remembered: the next run tries again.
//!
//! An image that cannot be fetched never fails its post: it ends up in
//! [`PostSource::failed_images`], and the summary lists it as a failed image naming the URL.
//! Only the URL is ever logged or stored, never a request or response header.

use super::PostSource;
use super::image::sniff_mime;
use crate::atomic::{OutputError, write_atomic};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one request (connection, headers and body) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger downloads are refused: a note's screenshot is a few MB at most.
const MAX_BYTES: u64 = 20 * 1024 * 1024;
/// Retries of a request that failed on the way (5xx, timeout, connection).
const RETRIES: usize = 2;
/// The extension a remembered failure is kept under.
const FAILED_EXT: &str = "failed";
/// Xiaohongshu's CDN refuses clients that do not look like a browser on its site.
const BROWSER_USER_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const REFERER: &str = "https://www.xiaohongshu.com/";

/// The file extension of each MIME type `sniff_mime` knows.
const EXTENSIONS: [(&str, &str); 9] = [
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("image/gif", "gif"),
    ("image/bmp", "bmp"),
    ("image/tiff", "tiff"),
    ("image/heic", "heic"),
    ("image/heif", "heif"),
    ("image/avif", "avif"),
];

/// An image URL of a post that could not be downloaded.
#[derive(Debug, thiserror::Error)]
#[error("post {post}: cannot download {url}: {problem}")]
pub struct FetchError {
    pub post: String,
    pub url: String,
    pub problem: Problem,
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("larger than {} MiB", MAX_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("not a JPEG, PNG, WebP or GIF image (by its content)")]
    NotImage,
    #[error("no answer within {} s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    #[error("not a valid http(s) URL")]
    BadUrl,
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Write(OutputError),
}

impl Problem {
    /// Worth asking again within this run.
    fn is_transient(&self) -> bool {
        matches!(self, Problem::Status(500..=599) | Problem::Timeout | Problem::Transport(_))
    }

    /// The server's final word: remembered, so a rerun does not ask again.
    fn is_permanent(&self) -> bool {
        matches!(self, Problem::Status(400..=499) | Problem::TooLarge | Problem::NotImage | Problem::BadUrl)
    }
}

/// A client for [`fetch_images`]: rustls, like the providers'.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(20)).user_agent(BROWSER_USER_AGENT).build()
}

/// One image of a post: where it goes, and where it stands.
enum Slot {
    Present(PathBuf),
    Failed(String),
    Fetch(String),
}

/// Downloads the pending image URLs of `posts` into `media_dir`, at most `concurrency` at
/// once; sets each such post's `images` (natural order) and `failed_images` and clears its
/// `pending_urls`. `retry_failed` asks again for URLs refused by an earlier run. Returns
/// the downloads that failed in this call (remembered failures are only recorded on their
/// posts).
pub async fn fetch_images(
    posts: &mut [PostSource],
    media_dir: &Path,
    client: &reqwest::Client,
    concurrency: usize,
    retry_failed: bool,
) -> Vec<FetchError> {
    // Each post's slots, with each image's place in the note's `image_list`.
    let mut slots: Vec<(usize, Vec<(usize, Slot)>)> = Vec::new();
    for (i, post) in posts.iter().enumerate().filter(|(_, p)| !p.pending_urls.is_empty()) {
        let dir = media_dir.join(&post.safe_id);
        let post_slots =
            post.pending_urls.iter().map(|(place, url)| (*place, slot(&dir, *place, url, retry_failed))).collect();
        slots.push((i, post_slots));
    }
    let wanted = slots.iter().flat_map(|(_, s)| s).filter(|(_, s)| matches!(s, Slot::Fetch(_))).count();
    if wanted > 0 {
        tracing::info!("downloading {wanted} image(s) of {} crawler note(s) into {}", slots.len(), media_dir.display());
    }

    // Every download of the batch in one stream, so `concurrency` bounds them all.
    let jobs = slots.iter().enumerate().flat_map(|(k, (_, post_slots))| {
        post_slots.iter().enumerate().filter_map(move |(n, (place, s))| match s {
            Slot::Fetch(url) => Some((k, n, *place, url.clone())),
            _ => None,
        })
    });
    let mut results: Vec<(usize, usize, Result<PathBuf, Problem>)> = futures::stream::iter(jobs)
        .map(|(k, n, place, url)| {
            let dir = media_dir.join(&posts[slots[k].0].safe_id);
            async move { (k, n, fetch_one(client, &url, &dir, place).await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    // Reported in the posts' order, whatever order the downloads ended in.
    results.sort_by_key(|(k, n, _)| (*k, *n));

    let mut errors = Vec::new();
    for (k, n, result) in results {
        let (i, post_slots) = &mut slots[k];
        let i = *i;
        let (place, slot) = &mut post_slots[n];
        let url = match slot {
            Slot::Fetch(url) => url.clone(),
            _ => unreachable!("only pending slots are fetched"),
        };
        *slot = match result {
            Ok(path) => Slot::Present(path),
            Err(problem) => {
                let error = FetchError { post: posts[i].id.clone(), url, problem };
                tracing::warn!("{error}");
                let message = error.to_string();
                if error.problem.is_permanent() {
                    remember(&media_dir.join(&posts[i].safe_id), *place, &message);
                }
                errors.push(error);
                Slot::Failed(message)
            }
        };
    }
    for (i, post_slots) in slots {
        let post = &mut posts[i];
        post.pending_urls.clear();
        for (place, s) in post_slots {
            match s {
                Slot::Present(path) => post.images.push(path),
                Slot::Failed(error) => post.failed_images.push((place.to_string(), error)),
                Slot::Fetch(_) => unreachable!("every pending slot was fetched"),
            }
        }
    }
    errors
}

/// What is already on disk for image `n` of a post.
fn slot(dir: &Path, n: usize, url: &str, retry_failed: bool) -> Slot {
    for (_, ext) in EXTENSIONS {
        let path = dir.join(format!("{n}.{ext}"));
        if path.is_file() {
            return Slot::Present(path);
        }
    }
    let marker = dir.join(format!("{n}.{FAILED_EXT}"));
    match std::fs::read_to_string(&marker) {
        Ok(_) if retry_failed => {
            let _ = std::fs::remove_file(&marker);
            Slot::Fetch(url.to_string())
        }
        Ok(error) => Slot::Failed(error),
        Err(_) => Slot::Fetch(url.to_string()),
    }
}

/// Keeps a permanent failure beside the images; losing it only costs a request next run.
fn remember(dir: &Path, n: usize, message: &str) {
    if let Err(e) = write_atomic(&dir.join(format!("{n}.{FAILED_EXT}")), message.as_bytes()) {
        tracing::warn!("cannot remember a failed download: {e}");
    }
}

/// Downloads one URL (retrying failures on the way) and writes it as `<dir>/<n>.<ext>`.
async fn fetch_one(client: &reqwest::Client, url: &str, dir: &Path, n: usize) -> Result<PathBuf, Problem> {
    use backon::BackoffBuilder;
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(RETRIES)
        .build();
    let (bytes, ext) = loop {
        match download(client, url).await {
            Ok(got) => break got,
            Err(p) if p.is_transient() => match delays.next() {
                Some(delay) => {
                    tracing::debug!("{url}: {p}; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(p),
            },
            Err(p) => return Err(p),
        }
    };
    let path = dir.join(format!("{n}.{ext}"));
    let target = path.clone();
    // write_atomic fsyncs: off the async workers.
    tokio::task::spawn_blocking(move || write_atomic(&target, &bytes))
        .await
        .map_err(|e| Problem::Transport(format!("the write was abandoned: {e}")))?
        .map_err(Problem::Write)?;
    Ok(path)
}

/// One request: the body if it is an image within the cap, with its extension.
async fn download(client: &reqwest::Client, url: &str) -> Result<(Vec<u8>, &'static str), Problem> {
    let parsed = reqwest::Url::parse(url).map_err(|_| Problem::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Problem::BadUrl);
    }
    let mut response = client
        .get(parsed)
        .timeout(REQUEST_TIMEOUT)
        .header(reqwest::header::USER_AGENT, BROWSER_USER_AGENT)
        .header(reqwest::header::REFERER, REFERER)
        .send()
        .await
        .map_err(transport)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(Problem::Status(status));
    }
    if response.content_length().is_some_and(|len| len > MAX_BYTES) {
        return Err(Problem::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if (bytes.len() + chunk.len()) as u64 > MAX_BYTES {
            return Err(Problem::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    let mime = sniff_mime(&bytes).ok_or(Problem::NotImage)?;
    let ext =
        EXTENSIONS.iter().find(|(m, _)| *m == mime).map(|(_, e)| *e).expect("every sniffed type has an extension");
    Ok((bytes, ext))
}

/// A transport error in words, without the URL (the caller names it once).
fn transport(e: reqwest::Error) -> Problem {
    if e.is_timeout() {
        return Problem::Timeout;
    }
    let e = e.without_url();
    // reqwest's own message is terse ("error sending request"); the cause says why.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    Problem::Transport(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF\0";

    /// What the server saw: hits per path, the headers that matter, the most requests at once.
    #[derive(Default)]
    struct Seen {
        hits: HashMap<String, usize>,
        referers: Vec<String>,
        agents: Vec<String>,
        in_flight: usize,
        max_in_flight: usize,
    }

    type Shared = Arc<Mutex<Seen>>;

    async fn serve_image(State(seen): State<Shared>, UrlPath(name): UrlPath<String>, headers: HeaderMap) -> Response {
        let hit = {
            let mut s = seen.lock().unwrap();
            let h = |k: header::HeaderName| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            s.referers.push(h(header::REFERER));
            s.agents.push(h(header::USER_AGENT));
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            let hit = s.hits.entry(name.clone()).or_default();
            *hit += 1;
            *hit
        };
        // Long enough for concurrent requests to overlap.
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen.lock().unwrap().in_flight -= 1;
        let image = |bytes: &'static [u8]| bytes.into_response();
        match name.as_str() {
            "missing" => StatusCode::NOT_FOUND.into_response(),
            "page" => ([(header::CONTENT_TYPE, "text/html")], "<html><body>请登录</body></html>").into_response(),
            "down" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            "flaky" if hit == 1 => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            "big" => {
                let mut body = JPEG.to_vec();
                body.resize(MAX_BYTES as usize + 1, 0);
                body.into_response()
            }
            n if n.ends_with("jpg") => image(JPEG),
            _ => image(PNG),
        }
    }

    struct Server {
        base: String,
        seen: Shared,
    }

    impl Server {
        async fn start() -> Server {
            let seen = Shared::default();
            let app =
                axum::Router::new().route("/img/{name}", axum::routing::get(serve_image)).with_state(seen.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}/img", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Server { base, seen }
        }

        fn url(&self, name: &str) -> String {
            format!("{}/{name}", self.base)
        }

        fn hits(&self) -> usize {
            self.seen.lock().unwrap().hits.values().sum()
        }

        fn hits_of(&self, name: &str) -> usize {
            self.seen.lock().unwrap().hits.get(name).copied().unwrap_or(0)
        }
    }

    fn note(id: &str, urls: Vec<String>) -> PostSource {
        PostSource {
            id: id.into(),
            safe_id: id.into(),
            path: PathBuf::from("search_contents_1.json"),
            url: None,
            published_at: None,
            text: None,
            images: Vec::new(),
            pending_urls: urls.into_iter().enumerate().map(|(i, u)| (i + 1, u)).collect(),
            failed_images: Vec::new(),
        }
    }

    fn names(post: &PostSource) -> Vec<String> {
        post.images.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    }

    async fn fetch(posts: &mut [PostSource], media: &Path, retry_failed: bool) -> Vec<FetchError> {
        fetch_images(posts, media, &client().unwrap(), 4, retry_failed).await
    }

    #[tokio::test]
    async fn downloads_once_with_sniffed_extensions_and_remembers_refusals() {
        let server = Server::start().await;
        let media = tempfile::tempdir().unwrap();
        let urls = || vec![server.url("a"), server.url("b.jpg"), server.url("missing"), server.url("page")];
        let mut posts = vec![note("n1", urls()), note("n2", vec![server.url("c")])];
        let errors = fetch(&mut posts, media.path(), false).await;

        assert_eq!(names(&posts[0]), ["1.png", "2.jpg"]);
        assert_eq!(std::fs::read(media.path().join("n1/1.png")).unwrap(), PNG);
        assert_eq!(std::fs::read(media.path().join("n1/2.jpg")).unwrap(), JPEG);
        assert_eq!(names(&posts[1]), ["1.png"]);
        assert!(posts.iter().all(|p| p.pending_urls.is_empty()));
        let failed = &posts[0].failed_images;
        assert_eq!(failed.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["3", "4"]);
        assert_eq!(failed[0].1, format!("post n1: cannot download {}: HTTP 404", server.url("missing")));
        assert!(failed[1].1.contains(&server.url("page")) && failed[1].1.contains("not a JPEG"), "{failed:?}");
        assert_eq!(errors.len(), 2);
        assert_eq!(server.hits(), 5);
        {
            let seen = server.seen.lock().unwrap();
            assert!(seen.referers.iter().all(|r| r == REFERER), "{:?}", seen.referers);
            assert!(seen.agents.iter().all(|a| a.starts_with("Mozilla/5.0")), "{:?}", seen.agents);
        }

        // A rerun asks nothing: the files are there, and the refusals are remembered.
        let mut again = vec![note("n1", urls()), note("n2", vec![server.url("c")])];
        let errors = fetch(&mut again, media.path(), false).await;
        assert_eq!(server.hits(), 5);
        assert!(errors.is_empty());
        assert_eq!(again[0].images, posts[0].images);
        assert_eq!(again[0].failed_images, posts[0].failed_images);

        // --retry-failed asks again for what was refused, and only that.
        let mut retry = vec![note("n1", urls())];
        let errors = fetch(&mut retry, media.path(), true).await;
        assert_eq!((server.hits_of("missing"), server.hits_of("page"), server.hits_of("a")), (2, 2, 1));
        assert_eq!(errors.len(), 2);
        assert_eq!(retry[0].failed_images, posts[0].failed_images);
    }

    #[tokio::test]
    async fn server_errors_are_retried_and_not_remembered() {
        let server = Server::start().await;
        let media = tempfile::tempdir().unwrap();
        let mut posts = vec![note("n", vec![server.url("flaky"), server.url("down")])];
        let errors = fetch(&mut posts, media.path(), false).await;
        assert_eq!(names(&posts[0]), ["1.png"]);
        assert_eq!(server.hits_of("flaky"), 2);
        // The first try and two retries.
        assert_eq!(server.hits_of("down"), 3);
        assert_eq!(errors.len(), 1);
        assert!(matches!(errors[0].problem, Problem::Status(500)), "{}", errors[0]);
        assert_eq!(posts[0].failed_images[0].0, "2");

        // A failure on the way is tried again by the next run.
        let mut again = vec![note("n", vec![server.url("flaky"), server.url("down")])];
        fetch(&mut again, media.path(), false).await;
        assert_eq!((server.hits_of("flaky"), server.hits_of("down")), (2, 6));
    }

    #[tokio::test]
    async fn oversized_and_invalid_urls_fail_without_a_file() {
        let server = Server::start().await;
        let media = tempfile::tempdir().unwrap();
        let mut posts = vec![note("n", vec![server.url("big"), "ftp://example.invalid/x.jpg".into()])];
        let errors = fetch(&mut posts, media.path(), false).await;
        assert!(posts[0].images.is_empty());
        let problems: Vec<String> = errors.iter().map(|e| e.problem.to_string()).collect();
        assert_eq!(problems, ["larger than 20 MiB", "not a valid http(s) URL"]);
        assert_eq!(server.hits(), 1);
        let files: Vec<String> = std::fs::read_dir(media.path().join("n"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(files.iter().all(|f| f.ends_with(".failed")), "{files:?}");
    }

    #[tokio::test]
    async fn at_most_concurrency_downloads_at_once() {
        let server = Server::start().await;
        let media = tempfile::tempdir().unwrap();
        let mut posts: Vec<PostSource> =
            (0..3).map(|p| note(&format!("n{p}"), (0..4).map(|i| server.url(&format!("{p}-{i}"))).collect())).collect();
        let errors = fetch_images(&mut posts, media.path(), &client().unwrap(), 2, false).await;
        assert!(errors.is_empty());
        assert_eq!(server.hits(), 12);
        assert!(posts.iter().all(|p| p.images.len() == 4));
        let max = server.seen.lock().unwrap().max_in_flight;
        assert!((1..=2).contains(&max), "{max} requests at once");
    }
}
