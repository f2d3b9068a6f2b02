//! The test context: a temporary workspace with an input folder, an output folder and a
//! config, and a way to run the real `postmill` binary in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const KEY_A: &str = "AIzaFAKE-test-alpha";
pub const KEY_B: &str = "AIzaFAKE-test-bravo";

pub struct TestContext {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    root: Option<PathBuf>,
}

impl TestContext {
    pub fn new() -> TestContext {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("inputs")).unwrap();
        TestContext { dir, env: Vec::new(), root: None }
    }

    pub fn root(&self) -> &Path {
        self.root.as_deref().unwrap_or(self.dir.path())
    }

    /// The same workspace seen by another context (with other environment variables).
    pub fn rooted_at(mut self, root: &Path) -> TestContext {
        self.root = Some(root.to_path_buf());
        self
    }
    pub fn inputs(&self) -> PathBuf {
        self.root().join("inputs")
    }
    pub fn outputs(&self) -> PathBuf {
        self.root().join("outputs")
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn config(&self, toml: &str) {
        std::fs::write(self.root().join("config.toml"), toml).unwrap();
    }

    /// Adds a post folder with `post.md` text (if any) and images (name, bytes).
    pub fn post(&self, id: &str, text: Option<&str>, images: &[(&str, Vec<u8>)]) {
        let dir = self.inputs().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(t) = text {
            std::fs::write(dir.join("post.md"), t).unwrap();
        }
        for (name, bytes) in images {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// Copies the repository's sample `inputs/` into this workspace.
    pub fn copy_sample_inputs(&self) {
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("inputs"), &self.inputs());
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_postmill"));
        cmd.current_dir(self.root()).args(args);
        cmd.env_remove("GEMINI_API_KEY").env_remove("GOOGLE_API_KEY").env_remove("OPENAI_API_KEY");
        cmd.env("RUST_LOG", "postmill=debug,warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run postmill")
    }

    /// Every byte under the output folder, for secret scans.
    pub fn all_output_bytes(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        walk(&self.outputs(), &mut out);
        out
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
}

/// A small PNG of one colour: distinct seeds give distinct bytes.
pub fn png(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(40, 30, image::Rgb([seed, 255 - seed, seed / 2]));
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

pub fn jpeg(seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(40, 30, image::Rgb([seed, 100, 200]));
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts no key, nor any `AIza` prefix, appears anywhere a user or a log can see.
pub fn assert_no_secrets(ctx: &TestContext, outputs: &[&Output]) {
    let needles: Vec<&[u8]> = vec![KEY_A.as_bytes(), KEY_B.as_bytes(), b"AIza"];
    for (path, bytes) in ctx.all_output_bytes() {
        for n in &needles {
            assert!(!contains(&bytes, n), "{} contains a key", path.display());
        }
    }
    for o in outputs {
        for n in &needles {
            assert!(!contains(&o.stdout, n) && !contains(&o.stderr, n), "stdout/stderr contains a key");
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub const SEED_POST: &str = "算法面经：美团大模型应用算法工程师\n一面：\n自我介绍\n八股：NLP和LLM最大的区别是什么？\n项目：说下LoRA的原理\n代码题：lc54. 螺旋矩阵\n";
