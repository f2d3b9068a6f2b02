//! The fake OpenAI-compatible server from the test suite, runnable by hand: point
//! postmill's `[openai] base_url` at the printed URL.
//!
//! ```text
//! cargo run --example fake_openai -- --port 8788 --key KEY=name:project --rpm gpt-4o-mini=3
//! ```
//! Options: `--key KEY=name:project` (repeatable), `--rpm model=N`, `--models a,b`,
//! `--no-models-endpoint`, `--no-json-schema`, `--retry-after seconds|date|none`,
//! `--latency-ms N`, `--minute-ms N`, `--output-cap model=N:FILE` (a budget above N is
//! refused with the 400 of `tests/fixtures/openai-compatible/FILE`),
//! `--completion-tokens-only model=N` (refuses `max_tokens` by name, like o-series).

use std::time::Duration;

use postmill_testkit::openai::{FakeOpenAi, OpenAiConfig, RetryAfter};

fn usage(problem: &str) -> ! {
    eprintln!("fake_openai: {problem}\nsee the header of examples/fake_openai.rs for the options");
    std::process::exit(2)
}

fn split<'a>(value: &'a str, sep: char, what: &str) -> (&'a str, &'a str) {
    value.split_once(sep).unwrap_or_else(|| usage(&format!("expected {what}, got {value:?}")))
}

fn number<T: std::str::FromStr>(value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage(&format!("not a number: {value:?}")))
}

fn parse(args: Vec<String>) -> OpenAiConfig {
    let mut config = OpenAiConfig::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--no-models-endpoint" => config = config.list_models(false),
            "--no-json-schema" => config = config.json_schema(false),
            _ => {
                let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
                config = match flag.as_str() {
                    "--port" => config.port(number(&value)),
                    "--key" => {
                        let (key, who) = split(&value, '=', "KEY=name:project");
                        let (name, project) = split(who, ':', "KEY=name:project");
                        config.key(key, name, project)
                    }
                    "--rpm" => {
                        let (model, n) = split(&value, '=', "model=N");
                        config.rpm(model, number(n))
                    }
                    "--models" => config.models(value.split(',')),
                    "--retry-after" => config.retry_after(match value.as_str() {
                        "seconds" => RetryAfter::Seconds,
                        "date" => RetryAfter::HttpDate,
                        "none" => RetryAfter::Absent,
                        other => usage(&format!("unknown Retry-After style {other:?}")),
                    }),
                    "--latency-ms" => config.latency(Duration::from_millis(number(&value))),
                    "--minute-ms" => config.minute(Duration::from_millis(number(&value))),
                    "--output-cap" => {
                        let (model, rule) = split(&value, '=', "model=N:FILE");
                        let (n, file) = split(rule, ':', "model=N:FILE");
                        config.output_cap(model, number(n), file)
                    }
                    "--completion-tokens-only" => {
                        let (model, n) = split(&value, '=', "model=N");
                        config.completion_tokens_only(model, number(n))
                    }
                    other => usage(&format!("unknown option {other}")),
                };
            }
        }
    }
    config
}

#[tokio::main]
async fn main() {
    let server = FakeOpenAi::start(parse(std::env::args().skip(1).collect())).await;
    println!("{}", server.base_url());
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
    let log = server.requests();
    let early = log.iter().filter(|r| r.early()).count();
    eprintln!("{} requests, {early} before their Retry-After", log.len());
}
