//! The typed test config (`postmill_testkit::config::ConfigBuilder`) against postmill's
//! own parser: every key the builder can write is one `config.toml` accepts (the parser
//! refuses unknown fields), and lands where the test meant it to.

use postmill::config::{Config, Env, Mode, ProviderChoice};
use postmill_testkit::config::{ConfigBuilder, Limits, Mode as BuiltMode, Pack, Provider, Retry};
use std::time::Duration;

/// Every key is set: the variable's name, prefixed, so a test can tell keys apart.
struct NamedEnv;
impl Env for NamedEnv {
    fn var(&self, name: &str) -> Option<String> {
        Some(format!("secret-of-{name}"))
    }
}

fn parse(text: &str) -> Config {
    Config::from_toml(text, &NamedEnv).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Every top-level, `[local]`, `[prices]`, `[retry]` and `[pack]` key, plus `[gemini]`.
#[test]
fn every_key_of_a_gemini_config_is_read_back() {
    let text = ConfigBuilder::gemini("http://127.0.0.1:1/g")
        .mode(BuiltMode::Packed)
        .concurrency(3)
        .input("in")
        .output("out")
        .inline_budget_mb(2.0)
        .ocr_models(["m-ocr"])
        .summary_models(["m-sum", "m-ocr"])
        .request_timeout_s(7)
        .key("first", "KEY_ONE", "p1")
        .key("second", "KEY_TWO", "p2")
        .limits("m-ocr", Limits::default().rpm(4).tpm(5000).rpd(6))
        .tesseract("/opt/tesseract")
        .languages("eng")
        .price("m-sum", 0.5, 1.5)
        .retry(Retry::default().max_wait_s(11).job_window_s(12).breaker_pause_ms(13).bare_429_tries(14))
        .pack(Pack::default().max_posts(4).output_tokens_per_post(100).max_output_tokens(800).max_input_tokens(9000))
        .build();
    let c = parse(&text);
    assert_eq!((c.provider, c.mode, c.concurrency), (ProviderChoice::Gemini, Mode::Packed, 3));
    assert_eq!((c.input.to_str(), c.output.to_str()), (Some("in"), Some("out")));
    assert_eq!(c.inline_budget_bytes, 2 * 1024 * 1024);

    let g = &c.gemini;
    assert_eq!(g.base_url, "http://127.0.0.1:1/g");
    assert_eq!(g.ocr_models, ["m-ocr"]);
    assert_eq!(g.summary_models, ["m-sum", "m-ocr"]);
    assert_eq!(g.request_timeout, Duration::from_secs(7));
    let keys: Vec<_> = g.keys.iter().map(|k| (k.id.as_str(), k.project.as_str(), k.secret())).collect();
    assert_eq!(keys, [("first", "p1", "secret-of-KEY_ONE"), ("second", "p2", "secret-of-KEY_TWO")]);
    let l = g.limits["m-ocr"];
    assert_eq!((l.rpm, l.tpm, l.rpd), (Some(4), Some(5000), Some(6)));

    assert_eq!((c.local.tesseract.as_str(), c.local.languages.as_str()), ("/opt/tesseract", "eng"));
    assert_eq!((c.prices["m-sum"].input, c.prices["m-sum"].output), (0.5, 1.5));
    let r = c.retry;
    assert_eq!(
        (r.max_wait, r.job_window, r.breaker_pause, r.bare_429_tries),
        (Duration::from_secs(11), Duration::from_secs(12), Duration::from_millis(13), 14)
    );
    let p = c.pack;
    assert_eq!((p.max_posts, p.output_tokens_per_post, p.max_output_tokens, p.max_input_tokens), (4, 100, 800, 9000));
}

#[test]
fn an_openai_config_writes_the_openai_section() {
    let text = ConfigBuilder::openai("http://127.0.0.1:1/v1")
        .models(["qwen-plus"])
        .key("team", "TEST_OPENAI", "acct")
        .limits("qwen-plus", Limits::default().rpm(2))
        .build();
    let c = parse(&text);
    assert_eq!(c.provider, ProviderChoice::Openai);
    assert_eq!(c.openai.base_url, "http://127.0.0.1:1/v1");
    assert_eq!(c.openai.summary_models, ["qwen-plus"]);
    assert_eq!(c.openai.keys[0].secret(), "secret-of-TEST_OPENAI");
    assert_eq!(c.openai.limits["qwen-plus"].rpm, Some(2));
    assert_ne!(c.gemini.base_url, c.openai.base_url, "nothing went to [gemini]");
}

/// The empty builder is postmill's defaults, and the provider can be chosen on its own.
#[test]
fn a_bare_config_keeps_the_defaults() {
    let c = parse(&ConfigBuilder::new().provider(Provider::Local).build());
    assert_eq!((c.provider, c.mode), (ProviderChoice::Local, Mode::Auto));
    assert_eq!((c.concurrency, c.local.tesseract.as_str()), (4, "tesseract"));
    assert!(c.prices.is_empty());
}
