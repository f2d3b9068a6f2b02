//! A typed builder of postmill's `config.toml`, for tests and benchmarks.
//!
//! Tests used to write a TOML string and adjust it with `.replace()`, which does nothing
//! when the pattern is absent (a reworded line, a reordered key), so a test could run
//! against a config it never meant. Here every key of the schema (`src/config.rs`) is a
//! method: a key that does not exist does not compile, and changing a value overrides it.
//! The text is written by the `toml` serializer, so quoting is never hand-made either.
//!
//! The structs mirror postmill's private `ConfigFile`; `tests/it/config_builder.rs` parses
//! a config with every key set through `postmill::config::Config::from_toml`, whose
//! `deny_unknown_fields` refuses any name this file gets wrong.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::gemini::Limits;

/// `provider = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Auto,
    Gemini,
    Openai,
    Local,
}

/// `mode = "..."`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Auto,
    Combined,
    Split,
    Packed,
}

/// `[retry]`: how long a run keeps trying through transient trouble.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Retry {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_wait_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_window_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker_pause_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bare_429_tries: Option<u32>,
}

impl Retry {
    pub fn max_wait_s(mut self, s: u64) -> Self {
        self.max_wait_s = Some(s);
        self
    }
    pub fn job_window_s(mut self, s: u64) -> Self {
        self.job_window_s = Some(s);
        self
    }
    pub fn breaker_pause_ms(mut self, ms: u64) -> Self {
        self.breaker_pause_ms = Some(ms);
        self
    }
    pub fn bare_429_tries(mut self, n: u32) -> Self {
        self.bare_429_tries = Some(n);
        self
    }
}

/// `[pack]`: how packed requests are sized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pack {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_posts: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens_per_post: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_input_tokens: Option<u64>,
}

impl Pack {
    pub fn max_posts(mut self, n: usize) -> Self {
        self.max_posts = Some(n);
        self
    }
    pub fn output_tokens_per_post(mut self, n: u32) -> Self {
        self.output_tokens_per_post = Some(n);
        self
    }
    pub fn max_output_tokens(mut self, n: u32) -> Self {
        self.max_output_tokens = Some(n);
        self
    }
    pub fn max_input_tokens(mut self, n: u64) -> Self {
        self.max_input_tokens = Some(n);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
struct Key {
    name: String,
    env: String,
    project: String,
}

/// `[gemini]` or `[openai]`.
#[derive(Debug, Clone, Default, Serialize)]
struct Remote {
    #[serde(skip_serializing_if = "Option::is_none")]
    base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ocr_models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_timeout_s: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<String, Limits>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    keys: Vec<Key>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Local {
    #[serde(skip_serializing_if = "Option::is_none")]
    tesseract: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    languages: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Price {
    input: f64,
    output: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
struct File {
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_budget_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gemini: Option<Remote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    openai: Option<Remote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local: Option<Local>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    prices: BTreeMap<String, Price>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<Retry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pack: Option<Pack>,
}

/// Which remote section the remote methods ([`ConfigBuilder::models`], [`ConfigBuilder::key`]...)
/// write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Gemini,
    Openai,
}

/// A `config.toml` under construction; [`ConfigBuilder::build`] writes it.
///
/// ```
/// use postmill_testkit::config::{ConfigBuilder, Limits, Mode};
/// let toml = ConfigBuilder::gemini("http://127.0.0.1:9")
///     .mode(Mode::Split)
///     .models(["gemini-2.5-flash-lite"])
///     .key("alpha", "TEST_KEY_A", "proj-1")
///     .limits("gemini-2.5-flash-lite", Limits::default().rpd(3))
///     .build();
/// assert!(toml.contains("rpd = 3"));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a config builder does nothing until `build`"]
pub struct ConfigBuilder {
    file: File,
    section: Option<Section>,
}

impl ConfigBuilder {
    /// An empty config: postmill's defaults for everything.
    pub fn new() -> Self {
        ConfigBuilder { file: File::default(), section: None }
    }

    /// `provider = "gemini"` with `[gemini] base_url`; remote methods write to `[gemini]`.
    pub fn gemini(base_url: &str) -> Self {
        let mut b = Self::new().provider(Provider::Gemini);
        b.file.gemini = Some(Remote { base_url: Some(base_url.into()), ..Remote::default() });
        b.section = Some(Section::Gemini);
        b
    }

    /// `provider = "openai"` with `[openai] base_url`; remote methods write to `[openai]`.
    pub fn openai(base_url: &str) -> Self {
        let mut b = Self::new().provider(Provider::Openai);
        b.file.openai = Some(Remote { base_url: Some(base_url.into()), ..Remote::default() });
        b.section = Some(Section::Openai);
        b
    }

    pub fn provider(mut self, provider: Provider) -> Self {
        self.file.provider = Some(provider);
        self
    }
    pub fn mode(mut self, mode: Mode) -> Self {
        self.file.mode = Some(mode);
        self
    }
    pub fn concurrency(mut self, n: usize) -> Self {
        self.file.concurrency = Some(n);
        self
    }
    pub fn input(mut self, dir: &str) -> Self {
        self.file.input = Some(dir.into());
        self
    }
    pub fn output(mut self, dir: &str) -> Self {
        self.file.output = Some(dir.into());
        self
    }
    pub fn inline_budget_mb(mut self, mb: f64) -> Self {
        self.file.inline_budget_mb = Some(mb);
        self
    }

    /// The remote section chosen by [`ConfigBuilder::gemini`] or [`ConfigBuilder::openai`].
    fn remote(&mut self) -> &mut Remote {
        let remote = match self.section {
            Some(Section::Gemini) => &mut self.file.gemini,
            Some(Section::Openai) => &mut self.file.openai,
            // A loud failure: a remote key on a config without a remote section would
            // otherwise be written nowhere.
            None => panic!("a remote setting needs ConfigBuilder::gemini or ::openai"),
        };
        remote.as_mut().expect("the constructor created the section")
    }

    pub fn ocr_models<S: AsRef<str>>(mut self, models: impl IntoIterator<Item = S>) -> Self {
        self.remote().ocr_models = Some(models.into_iter().map(|m| m.as_ref().to_owned()).collect());
        self
    }
    pub fn summary_models<S: AsRef<str>>(mut self, models: impl IntoIterator<Item = S>) -> Self {
        self.remote().summary_models = Some(models.into_iter().map(|m| m.as_ref().to_owned()).collect());
        self
    }
    /// The same list for `ocr_models` and `summary_models`.
    pub fn models<S: AsRef<str>>(self, models: impl IntoIterator<Item = S>) -> Self {
        let models: Vec<String> = models.into_iter().map(|m| m.as_ref().to_owned()).collect();
        self.ocr_models(&models).summary_models(&models)
    }
    pub fn request_timeout_s(mut self, s: u64) -> Self {
        self.remote().request_timeout_s = Some(s);
        self
    }
    /// A `[[<section>.keys]]` entry: the key is read from the environment variable `env`.
    pub fn key(mut self, name: &str, env: &str, project: &str) -> Self {
        self.remote().keys.push(Key { name: name.into(), env: env.into(), project: project.into() });
        self
    }
    /// `[<section>.limits."<model>"]`; a second call for the same model replaces it.
    pub fn limits(mut self, model: &str, limits: Limits) -> Self {
        self.remote().limits.insert(model.into(), limits);
        self
    }

    /// `[local] tesseract`.
    pub fn tesseract(mut self, path: &str) -> Self {
        self.file.local.get_or_insert_with(Local::default).tesseract = Some(path.into());
        self
    }
    /// `[local] languages`.
    pub fn languages(mut self, languages: &str) -> Self {
        self.file.local.get_or_insert_with(Local::default).languages = Some(languages.into());
        self
    }

    /// `[prices."<model>"]`, USD per million tokens.
    pub fn price(mut self, model: &str, input: f64, output: f64) -> Self {
        self.file.prices.insert(model.into(), Price { input, output });
        self
    }

    /// `[retry]`, replacing any earlier one.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.file.retry = Some(retry);
        self
    }

    /// `[pack]`, replacing any earlier one.
    pub fn pack(mut self, pack: Pack) -> Self {
        self.file.pack = Some(pack);
        self
    }

    /// The `config.toml` text.
    pub fn build(&self) -> String {
        toml::to_string(&self.file).expect("a test config serializes")
    }
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sections_and_keys_as_postmill_reads_them() {
        let text = ConfigBuilder::gemini("http://127.0.0.1:1")
            .concurrency(2)
            .models(["a", "b"])
            .key("first", "TEST_KEY_A", "p")
            .key("second", "TEST_KEY_B", "p")
            .limits("a", Limits::default().rpm(2).rpd(3))
            .retry(Retry::default().bare_429_tries(2))
            .build();
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["provider"].as_str(), Some("gemini"));
        assert_eq!(v["concurrency"].as_integer(), Some(2));
        let gemini = v["gemini"].as_table().unwrap();
        assert_eq!(gemini["base_url"].as_str(), Some("http://127.0.0.1:1"));
        assert_eq!(gemini["ocr_models"], gemini["summary_models"]);
        assert_eq!(gemini["keys"].as_array().unwrap().len(), 2);
        assert_eq!(gemini["keys"][1]["name"].as_str(), Some("second"));
        let limits = gemini["limits"]["a"].as_table().unwrap();
        assert_eq!(limits.get("rpm").and_then(|x| x.as_integer()), Some(2));
        assert!(!limits.contains_key("tpm"), "an unset limit is absent, not zero");
        assert_eq!(v["retry"]["bare_429_tries"].as_integer(), Some(2));
        assert!(!v.contains_key("openai") && !v.contains_key("pack"), "{text}");
    }

    #[test]
    fn a_later_value_replaces_an_earlier_one() {
        let text = ConfigBuilder::openai("http://x").models(["a"]).summary_models(["b"]).mode(Mode::Split).build();
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(v["openai"]["ocr_models"].as_array().unwrap().len(), 1);
        assert_eq!(v["openai"]["summary_models"][0].as_str(), Some("b"));
        assert_eq!(v["mode"].as_str(), Some("split"));
    }

    #[test]
    #[should_panic(expected = "needs ConfigBuilder::gemini")]
    fn a_remote_key_without_a_remote_section_panics() {
        let _ = ConfigBuilder::new().models(["a"]);
    }
}
