//! `config.toml`: what postmill reads from the file, and the API keys it reads from the
//! environment (never from the file, so a committed config can never leak a key).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderChoice {
    #[default]
    Auto,
    Gemini,
    Openai,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Auto,
    Combined,
    Split,
    /// Several text-only posts (or posts whose images are read) in one request.
    Packed,
}

/// Per-model limits of one project, as configured or learned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Input tokens per minute.
    pub tpm: Option<u64>,
    /// Requests per Pacific-time day.
    pub rpd: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: Option<String>,
    env: String,
    project: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RemoteFile {
    base_url: Option<String>,
    ocr_models: Option<Vec<String>>,
    summary_models: Option<Vec<String>>,
    request_timeout_s: Option<u64>,
    #[serde(default)]
    keys: Vec<KeyEntry>,
    #[serde(default)]
    limits: BTreeMap<String, Limits>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LocalFile {
    tesseract: Option<String>,
    languages: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million output (and thinking) tokens.
    pub output: f64,
}

/// `[retry]`: how long a run keeps trying through transient trouble.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetryFile {
    max_wait_s: Option<u64>,
    job_window_s: Option<u64>,
    breaker_pause_ms: Option<u64>,
    bare_429_tries: Option<u32>,
}

/// How long a run keeps trying through transient trouble before it leaves work for a later
/// run (exit 75). Every bound is a time, never a count of requests, except for 429s that
/// say nothing at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The longest wait a server may ask for (`Retry-After`, `retryDelay`) that the run
    /// sits out; a longer one defers the pool until then.
    pub max_wait: std::time::Duration,
    /// How long one job keeps trying across its models before it is left deferred.
    pub job_window: std::time::Duration,
    /// A pool's first pause after consecutive 5xx/timeouts; each failed probe doubles it,
    /// up to [`RetryPolicy::BREAKER_CAP`].
    pub breaker_pause: std::time::Duration,
    /// 429s without any detail tolerated in a row on one pool before it is deferred.
    pub bare_429_tries: u32,
}

impl RetryPolicy {
    /// The longest pause between probes of a failing pool.
    pub const BREAKER_CAP: std::time::Duration = std::time::Duration::from_secs(300);
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_wait: std::time::Duration::from_secs(3600),
            job_window: std::time::Duration::from_secs(900),
            breaker_pause: std::time::Duration::from_secs(2),
            bare_429_tries: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    provider: Option<ProviderChoice>,
    mode: Option<Mode>,
    concurrency: Option<usize>,
    input: Option<PathBuf>,
    output: Option<PathBuf>,
    inline_budget_mb: Option<f64>,
    #[serde(default)]
    gemini: RemoteFile,
    #[serde(default)]
    openai: RemoteFile,
    #[serde(default)]
    local: LocalFile,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    #[serde(default)]
    retry: RetryFile,
    #[serde(default)]
    pack: PackFile,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PackFile {
    max_posts: Option<usize>,
    output_tokens_per_post: Option<u32>,
    max_output_tokens: Option<u32>,
    max_input_tokens: Option<u64>,
}

/// How packed requests are sized (`mode = "packed"`, or `auto` when the day's requests
/// cannot cover the posts one by one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackConfig {
    /// Posts per request at most.
    pub max_posts: usize,
    /// The output a post's summary is planned to take. The output budget binds before the
    /// input does: the 40 hand-labelled corpus posts' summaries take a median of ~440 and a
    /// 90th percentile of ~1,130 estimated tokens, so 1,500 leaves room for model verbosity.
    pub output_tokens_per_post: u32,
    /// The output budget of one packed request (`maxOutputTokens`); it also caps the posts
    /// per request at `max_output_tokens / output_tokens_per_post`. 16,384 is what every
    /// current vision model allows (OpenAI's gpt-4o caps there; Gemini Flash allows 65,536).
    pub max_output_tokens: u32,
    /// The estimated input of one packed request at most.
    pub max_input_tokens: u64,
}

impl Default for PackConfig {
    fn default() -> Self {
        PackConfig { max_posts: 10, output_tokens_per_post: 1_500, max_output_tokens: 16_384, max_input_tokens: 60_000 }
    }
}

/// An API key. Its secret never leaves this type except into a request header:
/// `Debug` and `Display` show only its name.
#[derive(Clone)]
pub struct ApiKey {
    /// The name used in logs and the ledger: the configured name, else a fingerprint.
    pub id: String,
    pub project: String,
    secret: String,
}

impl ApiKey {
    pub fn new(name: Option<String>, project: String, secret: String) -> Self {
        let id = name.unwrap_or_else(|| fingerprint(&secret));
        ApiKey { id, project, secret }
    }
    /// The secret, for the request header only.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({} of {})", self.id, self.project)
    }
}

/// A short SHA-256 fingerprint: identifies a key across logs without revealing any of it.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One remote provider's settings.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub base_url: String,
    pub ocr_models: Vec<String>,
    pub summary_models: Vec<String>,
    pub request_timeout: std::time::Duration,
    pub keys: Vec<ApiKey>,
    /// Configured limits per model (the same for every project).
    pub limits: BTreeMap<String, Limits>,
}

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub tesseract: String,
    pub languages: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: Option<PathBuf>,
    pub provider: ProviderChoice,
    pub mode: Mode,
    pub concurrency: usize,
    pub input: PathBuf,
    pub output: PathBuf,
    /// Above this many bytes of images a post is read in split mode under `mode = "auto"`.
    pub inline_budget_bytes: u64,
    pub gemini: RemoteConfig,
    pub openai: RemoteConfig,
    pub local: LocalConfig,
    pub prices: BTreeMap<String, Price>,
    pub retry: RetryPolicy,
    pub pack: PackConfig,
}

/// Where the environment comes from; a trait so tests need not touch the process env.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;
impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Config {
    /// Loads `path`, or `./config.toml` when present, or the defaults.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("config.toml")).filter(|p| p.is_file()),
        };
        let file = match &path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
                toml::from_str::<ConfigFile>(&text)
                    .map_err(|e| ConfigError::Parse { path: p.clone(), message: e.to_string() })?
            }
            None => ConfigFile::default(),
        };
        Self::build(path, file, env)
    }

    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        let file = toml::from_str::<ConfigFile>(text)
            .map_err(|e| ConfigError::Parse { path: PathBuf::from("<inline>"), message: e.to_string() })?;
        Self::build(None, file, env)
    }

    fn build(path: Option<PathBuf>, f: ConfigFile, env: &dyn Env) -> Result<Config, ConfigError> {
        let concurrency = f.concurrency.unwrap_or(4);
        if concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency must be at least 1".into()));
        }
        let gemini = remote(
            "gemini",
            f.gemini,
            "https://generativelanguage.googleapis.com",
            &["gemini-2.5-flash-lite", "gemini-flash-latest"],
            &["gemini-2.5-flash", "gemini-2.5-flash-lite"],
            &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            env,
        )?;
        let openai = remote(
            "openai",
            f.openai,
            "https://api.openai.com/v1",
            &["gpt-4o-mini"],
            &["gpt-4o-mini"],
            &["OPENAI_API_KEY"],
            env,
        )?;
        Ok(Config {
            path,
            provider: f.provider.unwrap_or_default(),
            mode: f.mode.unwrap_or_default(),
            concurrency,
            input: f.input.unwrap_or_else(|| PathBuf::from("inputs")),
            output: f.output.unwrap_or_else(|| PathBuf::from("outputs")),
            inline_budget_bytes: (f.inline_budget_mb.unwrap_or(14.0) * 1024.0 * 1024.0) as u64,
            gemini,
            openai,
            local: LocalConfig {
                tesseract: f.local.tesseract.unwrap_or_else(|| "tesseract".into()),
                languages: f.local.languages.unwrap_or_else(|| "chi_sim+eng".into()),
            },
            prices: f.prices,
            retry: retry_policy(&f.retry)?,
            pack: pack(f.pack)?,
        })
    }
}

fn retry_policy(f: &RetryFile) -> Result<RetryPolicy, ConfigError> {
    use std::time::Duration;
    let d = RetryPolicy::default();
    let policy = RetryPolicy {
        max_wait: f.max_wait_s.map_or(d.max_wait, Duration::from_secs),
        job_window: f.job_window_s.map_or(d.job_window, Duration::from_secs),
        breaker_pause: f.breaker_pause_ms.map_or(d.breaker_pause, Duration::from_millis),
        bare_429_tries: f.bare_429_tries.unwrap_or(d.bare_429_tries),
    };
    if policy.breaker_pause.is_zero() || policy.breaker_pause > RetryPolicy::BREAKER_CAP {
        return Err(ConfigError::Invalid("retry.breaker_pause_ms must be between 1 and 300000".into()));
    }
    if policy.job_window.is_zero() {
        return Err(ConfigError::Invalid("retry.job_window_s must be at least 1".into()));
    }
    Ok(policy)
}

fn pack(f: PackFile) -> Result<PackConfig, ConfigError> {
    let d = PackConfig::default();
    let pack = PackConfig {
        max_posts: f.max_posts.unwrap_or(d.max_posts),
        output_tokens_per_post: f.output_tokens_per_post.unwrap_or(d.output_tokens_per_post),
        max_output_tokens: f.max_output_tokens.unwrap_or(d.max_output_tokens),
        max_input_tokens: f.max_input_tokens.unwrap_or(d.max_input_tokens),
    };
    if pack.max_posts < 2 || pack.output_tokens_per_post == 0 || pack.max_output_tokens < pack.output_tokens_per_post {
        return Err(ConfigError::Invalid(
            "[pack] needs max_posts >= 2, output_tokens_per_post >= 1 and max_output_tokens >= output_tokens_per_post"
                .into(),
        ));
    }
    Ok(pack)
}

fn remote(
    provider: &str,
    f: RemoteFile,
    base_url: &str,
    ocr: &[&str],
    summary: &[&str],
    default_env: &[&str],
    env: &dyn Env,
) -> Result<RemoteConfig, ConfigError> {
    let mut keys = Vec::new();
    if f.keys.is_empty() {
        // No keys listed: the conventional variable, one key of project "default".
        if let Some(secret) = default_env.iter().find_map(|name| env.var(name)) {
            keys.push(ApiKey::new(None, "default".into(), secret));
        }
    } else {
        for entry in &f.keys {
            // A listed key whose variable is unset is simply absent: a config can list
            // every key a team has while each person exports only their own.
            if let Some(secret) = env.var(&entry.env) {
                let project = entry.project.clone().unwrap_or_else(|| "default".into());
                keys.push(ApiKey::new(entry.name.clone(), project, secret));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for k in &keys {
        if !seen.insert(k.id.clone()) {
            return Err(ConfigError::Invalid(format!(
                "[{provider}] two keys are named {:?}: key names must be unique",
                k.id
            )));
        }
    }
    let list = |v: Option<Vec<String>>, d: &[&str]| -> Vec<String> {
        v.unwrap_or_else(|| d.iter().map(|s| s.to_string()).collect())
    };
    let ocr_models = list(f.ocr_models, ocr);
    let summary_models = list(f.summary_models, summary);
    if ocr_models.is_empty() || summary_models.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "[{provider}] ocr_models and summary_models must each name at least one model"
        )));
    }
    Ok(RemoteConfig {
        base_url: f.base_url.unwrap_or_else(|| base_url.into()).trim_end_matches('/').into(),
        ocr_models,
        summary_models,
        request_timeout: std::time::Duration::from_secs(f.request_timeout_s.unwrap_or(120)),
        keys,
        limits: f.limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
    }

    #[test]
    fn empty_config_is_offline_defaults() {
        let c = Config::from_toml("", &MapEnv(HashMap::new())).unwrap();
        assert_eq!(c.provider, ProviderChoice::Auto);
        assert!(c.gemini.keys.is_empty());
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.gemini.ocr_models[0], "gemini-2.5-flash-lite");
    }

    #[test]
    fn keys_come_from_env_and_never_show() {
        let env = MapEnv(HashMap::from([("K1", "AIzaSECRETSECRETSECRET"), ("GEMINI_API_KEY", "x")]));
        let c = Config::from_toml(
            "[[gemini.keys]]\nname='main'\nenv='K1'\nproject='p1'\n[[gemini.keys]]\nenv='MISSING'\n",
            &env,
        )
        .unwrap();
        assert_eq!(c.gemini.keys.len(), 1);
        let k = &c.gemini.keys[0];
        assert_eq!((k.id.as_str(), k.project.as_str()), ("main", "p1"));
        assert!(!format!("{k:?} {c:?}").contains("AIza"));
    }

    #[test]
    fn unnamed_key_gets_fingerprint() {
        let env = MapEnv(HashMap::from([("GEMINI_API_KEY", "AIzaSECRET")]));
        let c = Config::from_toml("", &env).unwrap();
        assert!(c.gemini.keys[0].id.starts_with("sha256:"));
        assert!(!c.gemini.keys[0].id.contains("AIza"));
    }

    #[test]
    fn limits_parse() {
        let c = Config::from_toml(
            "[gemini.limits.\"gemini-2.5-flash-lite\"]\nrpm = 15\nrpd = 20\n",
            &MapEnv(HashMap::new()),
        )
        .unwrap();
        let l = c.gemini.limits["gemini-2.5-flash-lite"];
        assert_eq!((l.rpm, l.tpm, l.rpd), (Some(15), None, Some(20)));
    }
}
