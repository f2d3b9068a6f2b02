//! The output folder: `<post>/summary.json`, `summary.md`, `ocr/<stem>.txt`, each written
//! atomically through [`crate::atomic`].

pub use crate::atomic::{OutputError, is_own_temp, remove_stale_temps, write_atomic};
use crate::sanitize;
use crate::summary::{ImageStatus, Summary, markdown};
use std::path::{Path, PathBuf};

/// Drops the characters [`sanitize::is_unsafe`] names from every string of a JSON value:
/// JSON would carry them escaped, but every reader of the file would get them back raw.
fn clean_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let std::borrow::Cow::Owned(c) = sanitize::clean(s) {
                *s = c;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(clean_strings),
        _ => {}
    }
}

/// Where a post's files go.
pub fn post_dir(output: &Path, safe_id: &str) -> PathBuf {
    output.join(safe_id)
}

/// The OCR file name of each image: its stem, or its whole name where two images of a
/// post share a stem (`a.jpg` and `a.png`).
pub fn ocr_names(files: &[&str]) -> Vec<String> {
    let stem = |f: &str| Path::new(f).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    files
        .iter()
        .map(|f| {
            let s = stem(f);
            let shared = files.iter().filter(|g| stem(g) == s).count() > 1;
            if shared { format!("{f}.txt") } else { format!("{s}.txt") }
        })
        .collect()
}

/// Writes all of a post's outputs. Returns whether anything changed on disk.
pub fn write_post(output: &Path, safe_id: &str, summary: &Summary) -> Result<bool, OutputError> {
    let dir = post_dir(output, safe_id);
    let mut changed = false;
    let files: Vec<&str> = summary.images.iter().map(|i| i.file.as_str()).collect();
    for (image, name) in summary.images.iter().zip(ocr_names(&files)) {
        if let (ImageStatus::Ok, Some(text)) = (image.status, &image.text) {
            changed |= write_atomic(&dir.join("ocr").join(name), sanitize::clean(text).as_bytes())?;
        }
    }
    let mut value = serde_json::to_value(summary).expect("summary serialises");
    clean_strings(&mut value);
    let mut json = serde_json::to_string_pretty(&value).expect("summary serialises");
    json.push('\n');
    changed |= write_atomic(&dir.join("summary.md"), markdown::render(summary).as_bytes())?;
    // summary.json last: its presence means the post's outputs are complete.
    changed |= write_atomic(&dir.join("summary.json"), json.as_bytes())?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_idempotence() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.txt");
        assert!(write_atomic(&p, b"x").unwrap());
        assert!(!write_atomic(&p, b"x").unwrap());
        assert!(write_atomic(&p, b"y").unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn files_honour_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.md");
        write_atomic(&p, b"x").unwrap();
        // The test process's umask is whatever the shell's is: compare against it.
        let umask = unsafe {
            let m = libc::umask(0o022);
            libc::umask(m);
            m
        };
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o666 & !umask as u32);
    }

    #[test]
    fn only_postmills_own_temp_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let post = dir.path().join("p1");
        std::fs::create_dir_all(post.join("ocr")).unwrap();
        for (p, name) in
            [(&post, ".tmp-a1B2c3"), (&post.join("ocr"), ".tmp-zzzzzz"), (&dir.path().to_path_buf(), ".tmp-000000")]
        {
            std::fs::write(p.join(name), b"half").unwrap();
        }
        for keep in [".tmp-notes.md", ".tmp-abc", "tmp-abcdef", "summary.json"] {
            std::fs::write(post.join(keep), b"mine").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()), 3);
        let mut left: Vec<_> =
            std::fs::read_dir(&post).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".tmp-abc", ".tmp-notes.md", "ocr", "summary.json", "tmp-abcdef"]);
    }

    /// Every string field of a summary, model answer and post alike, made hostile.
    fn hostile_summary() -> Summary {
        use crate::summary::*;
        let h = "<script>alert(1)</script>\n# Injected\n| a | b |\n- item\n<img src=x onerror=alert(1)>\u{1b}[31m\u{0}\u{7}\u{202e}x";
        let s = || h.to_string();
        Summary {
            schema_version: SCHEMA_VERSION,
            post_id: s(),
            title: Some(s()),
            source: Source { path: s(), url: Some(s()), published_at: Some(s()) },
            extract: Extract {
                company: Some(s()),
                position: Some(s()),
                rounds: vec![Round {
                    name: s(),
                    questions: vec![Question { category: Category::Fundamentals, text: s(), topics: vec![s()] }],
                }],
                coding_problems: vec![CodingProblem { text: s(), leetcode: Some(1) }],
                topics: vec![s()],
                key_experiences: vec![s()],
                tips: vec![s()],
                advice: vec![s()],
                overview: s(),
            },
            images: vec![
                ImageEntry { file: "1.png".into(), status: ImageStatus::Ok, text: Some(s()), error: None },
                ImageEntry { file: s(), status: ImageStatus::Failed, text: None, error: Some(s()) },
            ],
            produced_by: ProducedBy { provider: s(), model: s(), at: s() },
            provenance: None,
        }
    }

    #[test]
    fn hostile_text_in_every_field_reaches_no_file_raw() {
        let dir = tempfile::tempdir().unwrap();
        write_post(dir.path(), "p", &hostile_summary()).unwrap();
        let post = dir.path().join("p");
        let files = [post.join("summary.md"), post.join("summary.json"), post.join("ocr/1.txt")];
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(!text.chars().any(sanitize::is_unsafe), "{}: control or bidi characters", f.display());
        }
        let md = std::fs::read_to_string(&files[0]).unwrap();
        assert!(!md.contains('<') || md.matches('<').count() == md.matches("<http").count(), "{md}");
        for line in md.lines() {
            assert!(!line.starts_with("# Injected") && !line.starts_with("| a") && !line.starts_with("- item"), "{md}");
        }
        // Every item stays on its one line: title, company, position, post, URL, topics, the
        // overview's own line, round, question, coding problem, 3 lists, failed image, footer.
        assert_eq!(md.lines().filter(|l| l.contains("Injected")).count(), 15, "{md}");
        // JSON keeps the text (minus control characters) as data for programs.
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
        assert!(json["title"].as_str().unwrap().starts_with("<script>"));
    }

    #[test]
    fn ocr_names_avoid_collisions() {
        assert_eq!(ocr_names(&["image_1.jpg", "a.jpg", "a.png"]), ["image_1.txt", "a.jpg.txt", "a.png.txt"]);
    }
}
