//! The fake Gemini server from the test suite, runnable by hand: point postmill's
//! `[gemini] base_url` at it to try quota handling without spending real quota.
//!
//! ```text
//! cargo run --example fake_gemini -- --port 8787 --key KEY=name:project --rpd gemini-2.5-flash-lite=20
//! ```
//! Options: `--key|--leaked-key|--suspended-key KEY=name:project` (repeatable),
//! `--rpm|--tpm|--rpd [project/]model=N`, `--page-size N`, `--latency-ms N`, `--minute-ms N`,
//! `--models a,b,c`, `--fault model=internal|overloaded|429|truncated|cut|hang|blocked|max-tokens|invalid-json`,
//! `--fault model=fixture:FILE` (a body of `tests/fixtures/gemini/`, e.g. `429-limit-zero.json`),
//! `--outage model=SECONDS` (503 overloaded for that long from the start, then normal answers).

use std::time::Duration;

use postmill_testkit::gemini::{FakeGemini, Fault, GeminiConfig, KeyStatus, Limits, ModelSpec};

fn usage(problem: &str) -> ! {
    eprintln!("fake_gemini: {problem}\nsee the header of examples/fake_gemini.rs for the options");
    std::process::exit(2)
}

fn split<'a>(value: &'a str, sep: char, what: &str) -> (&'a str, &'a str) {
    value.split_once(sep).unwrap_or_else(|| usage(&format!("expected {what}, got {value:?}")))
}

fn number<T: std::str::FromStr>(value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage(&format!("not a number: {value:?}")))
}

fn fault(kind: &str) -> Fault {
    match kind {
        "internal" => Fault::Internal,
        "overloaded" => Fault::Overloaded,
        "429" => Fault::RateLimitedNoDetails,
        "truncated" => Fault::TruncatedBody,
        "cut" => Fault::ConnectionCut,
        "hang" => Fault::Hang,
        "blocked" => Fault::Blocked,
        "max-tokens" => Fault::MaxTokens,
        "invalid-json" => Fault::InvalidJson,
        other => match other.strip_prefix("fixture:") {
            Some(file) => Fault::fixture(file),
            None => usage(&format!("unknown fault {other:?}")),
        },
    }
}

/// What the command line asks for: the server, faults applied to every request to a
/// model, and outages (a model answering 503 for a while from the start).
type Setup = (GeminiConfig, Vec<(String, Fault)>, Vec<(String, Duration)>);

/// Parses the command line into a config plus the faults to apply to every request.
fn parse(args: Vec<String>) -> Setup {
    let mut config = GeminiConfig::default();
    let mut limits: Vec<((String, String), Limits)> = Vec::new();
    let mut faults = Vec::new();
    let mut outages = Vec::new();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => config = config.port(number(&value)),
            "--key" | "--leaked-key" | "--suspended-key" => {
                let status = match flag.as_str() {
                    "--key" => KeyStatus::Valid,
                    "--leaked-key" => KeyStatus::Leaked,
                    _ => KeyStatus::Suspended,
                };
                let (key, who) = split(&value, '=', "KEY=name:project");
                let (name, project) = split(who, ':', "KEY=name:project");
                config = config.key_with_status(key, name, project, status);
            }
            "--rpm" | "--tpm" | "--rpd" => {
                let (pool, n) = split(&value, '=', "[project/]model=N");
                let (project, model) = pool.split_once('/').unwrap_or(("*", pool));
                let id = (project.to_string(), model.to_string());
                let index = limits.iter().position(|(k, _)| *k == id).unwrap_or_else(|| {
                    limits.push((id, Limits::default()));
                    limits.len() - 1
                });
                let entry = &mut limits[index].1;
                *entry = match flag.as_str() {
                    "--rpm" => entry.rpm(number(n)),
                    "--tpm" => entry.tpm(number(n)),
                    _ => entry.rpd(number(n)),
                };
            }
            "--page-size" => config = config.page_size(number(&value)),
            "--latency-ms" => config = config.latency(Duration::from_millis(number(&value))),
            "--minute-ms" => config = config.minute(Duration::from_millis(number(&value))),
            "--models" => config = config.models(value.split(',').map(ModelSpec::generative)),
            "--fault" => {
                let (model, kind) = split(&value, '=', "model=kind");
                faults.push((model.to_string(), fault(kind)));
            }
            "--outage" => {
                let (model, secs) = split(&value, '=', "model=SECONDS");
                outages.push((model.to_string(), Duration::from_secs(number(secs))));
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    for ((project, model), l) in limits {
        config = config.limits(&project, &model, l);
    }
    (config, faults, outages)
}

#[tokio::main]
async fn main() {
    let (config, faults, outages) = parse(std::env::args().skip(1).collect());
    let server = FakeGemini::start(config).await;
    for (model, fault) in faults {
        server.set_always(&model, Some(fault));
    }
    for (model, window) in outages {
        server.outage(&model, Fault::fixture("503-overloaded.json"), window);
    }
    println!("{}", server.base_url());
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
    let log = server.requests();
    eprintln!("{} requests", log.len());
    for status in [200, 400, 403, 404, 429, 500, 503] {
        let n = log.iter().filter(|r| r.status == status).count();
        if n > 0 {
            eprintln!("  {status}: {n}");
        }
    }
}
