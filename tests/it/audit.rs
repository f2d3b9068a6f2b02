//! Golden tests of `postmill audit`'s reports: the legacy script's real log, and a
//! hand-made `usage.jsonl` covering every outcome and every kind of wasted request.

use jiff::civil::date;
use postmill::audit::{self, AuditError, Report};
use postmill::config::Price;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn seed() -> Report {
    audit::audit_files(&[fixture("legacy/xhs-gemini-run.log")], &BTreeMap::new(), None, None).unwrap()
}

fn ledger(
    prices: &BTreeMap<String, Price>,
    since: Option<jiff::civil::Date>,
    until: Option<jiff::civil::Date>,
) -> Report {
    audit::audit_files(&[fixture("ledger/usage.jsonl")], prices, since, until).unwrap()
}

fn lite_price() -> BTreeMap<String, Price> {
    BTreeMap::from([("gemini-2.5-flash-lite".to_string(), Price { input: 0.10, output: 0.40 })])
}

fn codes(r: &Report) -> Vec<&str> {
    r.findings.iter().map(|f| f.code).collect()
}

#[test]
fn seed_log_figures() {
    let r = seed();
    assert_eq!(r.attempts, 10);
    assert_eq!(r.by_outcome["quota_exhausted"], 5);
    assert_eq!(r.by_outcome["model_not_found"], 5);
    assert_eq!(r.by_outcome["ok"], 0);
    let lite = &r.by_model["gemini-2.5-flash-lite"];
    assert_eq!((lite.requests, lite.quota_exhausted), (5, 5));
    let old = &r.by_model["gemini-1.5-flash"];
    assert_eq!((old.requests, old.model_not_found), (5, 5));
    // 4 retries of an exhausted daily pool, 5 requests to a model that is not served.
    assert_eq!(r.wasted, 9);
    assert_eq!(r.wasted_by_reason["pool_exhausted"], 4);
    assert_eq!(r.wasted_by_reason["model_not_found"], 5);

    let images: Vec<_> = r.items.iter().filter(|i| i.kind == "image").collect();
    assert_eq!(images.len(), 4);
    assert_eq!(images.iter().filter(|i| i.status == "ok").count(), 0);
    let post = r.items.iter().find(|i| i.kind == "summary").unwrap();
    assert_eq!(post.status, "failed");

    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let quota_values: Vec<_> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["model"] == "gemini-2.5-flash-lite")
        .map(|row| (row["quota_exhausted"].as_u64(), row["key"].as_str()))
        .collect();
    assert_eq!(quota_values, [(Some(5), Some("key#1"))]);
    let refusals = json["quota_refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["model"], "gemini-2.5-flash-lite");
    assert_eq!(refusals[0]["outcome"], "quota_exhausted");
    assert_eq!(refusals[0]["quota_id"], "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
    assert_eq!(refusals[0]["quota_value"], 20);
    assert_eq!(refusals[0]["count"], 5);
    assert_eq!(
        (refusals[0]["retry_delay_ms_min"].as_u64(), refusals[0]["retry_delay_ms_max"].as_u64()),
        (Some(2000), Some(59000))
    );

    let found = codes(&r);
    for code in [
        "quota_exhausted",
        "daily_quota_retried",
        "retired_model",
        "wasted_requests",
        "no_timestamps",
        "post_lost",
        "items_unprocessed",
        "same_project_rotation",
        "fallback_model_missing",
    ] {
        assert!(found.contains(&code), "missing finding {code}: {found:?}");
    }
    let message = |code| &r.findings.iter().find(|f| f.code == code).unwrap().message;
    assert!(message("items_unprocessed").starts_with("0 of 4 images were read"));
    assert!(message("quota_exhausted").contains("project unknown; limit 20 a day"));
    assert!(message("daily_quota_retried").contains("2s to 59s"));
}

#[test]
fn seed_log_json_golden() {
    let json = seed().to_json();
    assert!(!json.contains("AIza"));
    insta::assert_snapshot!("seed_log_json", json);
}

#[test]
fn seed_log_table_golden() {
    let table = seed().to_table();
    assert!(!table.contains("AIza"));
    assert!(table.starts_with("10 attempts, 0 ok, 9 wasted"));
    insta::assert_snapshot!("seed_log_table", table);
}

#[test]
fn seed_log_csv_has_no_key() {
    let csv = seed().to_csv();
    assert!(!csv.contains("AIza"));
    assert_eq!(csv.lines().count(), 4, "{csv}"); // header + key#1 lite, key#2 and key#3 on 1.5-flash
}

#[test]
fn ledger_figures() {
    let r = ledger(&lite_price(), None, None);
    // 25 records; the torn last line is skipped.
    assert_eq!(r.attempts, 25);
    for outcome in
        ["key_rejected", "server_error", "timeout", "blocked", "bad_output", "bad_request", "model_not_found"]
    {
        assert_eq!(r.by_outcome[outcome], 1, "{outcome}");
    }
    assert_eq!(r.by_outcome["ok"], 10);
    assert_eq!(r.by_outcome["rate_limited"], 3);
    assert_eq!(r.by_outcome["quota_exhausted"], 5);

    // Wasted: the retry 10 s into a 30 s retryDelay, the request after p1's per-day 429
    // (with another key of p1), the 404, and p2's request at 23:59 Pacific after its
    // per-day 429. Not wasted: the two requests in flight when a 429 arrived, the key of
    // another project, and the request after midnight Pacific.
    assert_eq!(r.wasted, 4);
    assert_eq!(r.wasted_by_reason["before_retry_delay"], 1);
    assert_eq!(r.wasted_by_reason["pool_exhausted"], 2);
    assert_eq!(r.wasted_by_reason["model_not_found"], 1);

    // Pacific days: 05:00Z on the 28th is the evening of the 27th in Los Angeles.
    let days: std::collections::BTreeSet<_> = r.rows.iter().filter_map(|row| row.day.as_deref()).collect();
    assert_eq!(days.into_iter().collect::<Vec<_>>(), ["2026-11-27", "2026-11-28", "2026-11-29"]);

    let found = codes(&r);
    for code in [
        "quota_exhausted",
        "daily_quota_retried",
        "retry_before_delay",
        "retired_model",
        "same_project_rotation",
        "wasted_requests",
        "items_unprocessed",
        "cost_unknown",
    ] {
        assert!(found.contains(&code), "missing finding {code}: {found:?}");
    }
    let reset = &r.findings.iter().find(|f| f.code == "quota_exhausted").unwrap().message;
    assert!(reset.contains("2026-11-30 00:00 PST (2026-11-30 08:00 UTC)"), "{reset}");
    assert!(reset.contains("gemini-2.5-flash (gemini, project p2"), "{reset}");
    let rotation = &r.findings.iter().find(|f| f.code == "same_project_rotation").unwrap().message;
    assert!(rotation.contains("main, second of project p1"), "{rotation}");
}

#[test]
fn ledger_costs_with_and_without_prices() {
    let unpriced = ledger(&BTreeMap::new(), None, None);
    assert!(unpriced.rows.iter().all(|row| row.counts.cost_usd.is_none()));
    assert_eq!(unpriced.totals.cost_usd, None);

    let partly = ledger(&lite_price(), None, None);
    assert_eq!(partly.by_model["gemini-2.5-flash"].cost_usd, None);
    // flash-lite tokens: prompt 1500+1200+900+1000+500+800+1100+700, output 400+300+200+100+8192+250+150.
    let lite = &partly.by_model["gemini-2.5-flash-lite"];
    assert_eq!((lite.prompt_tokens, lite.output_tokens), (7700, 9592));
    // (7700 × 0.10 + 9592 × 0.40) / 1e6 = 0.0046068, shown to a millionth of a dollar.
    assert_eq!(lite.cost_usd, Some(0.004607));
    assert_eq!(partly.totals.cost_usd, lite.cost_usd);

    // Thinking tokens are billed at the output price.
    let mut both = lite_price();
    both.insert("gemini-2.5-flash".into(), Price { input: 0.30, output: 2.50 });
    let full = ledger(&both, None, None);
    let flash = &full.by_model["gemini-2.5-flash"];
    assert_eq!((flash.prompt_tokens, flash.output_tokens, flash.thinking_tokens), (3800, 1100, 1200));
    // (3800 × 0.30 + (1100 + 1200) × 2.50) / 1e6
    assert_eq!(flash.cost_usd, Some(0.00689));
    assert!(!codes(&full).contains(&"cost_unknown"));
}

#[test]
fn ledger_since_until_keep_pacific_days() {
    let day29 = ledger(&lite_price(), Some(date(2026, 11, 29)), Some(date(2026, 11, 29)));
    assert_eq!(day29.attempts, 5);
    assert!(day29.rows.iter().all(|row| row.day.as_deref() == Some("2026-11-29")));
    assert_eq!(day29.wasted, 1);
    assert_eq!(day29.since.as_deref(), Some("2026-11-29"));

    let day28 = ledger(&lite_price(), None, Some(date(2026, 11, 28)));
    assert_eq!(day28.attempts, 20);
    let only28 = ledger(&lite_price(), Some(date(2026, 11, 28)), Some(date(2026, 11, 28)));
    assert_eq!(only28.attempts, 18);
    assert_eq!(only28.wasted, 3);
    // p1's pool came back on the 29th, p2's flash is out on the 29th: nothing waits on the 28th alone
    // but the p1 pool, whose last word that day was its per-day 429.
    let waiting: Vec<_> = only28.findings.iter().filter(|f| f.code == "quota_exhausted").collect();
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0].message.contains("project p1"));
}

#[test]
fn ledger_json_golden() {
    let json = ledger(&lite_price(), None, None).to_json();
    insta::assert_snapshot!("ledger_json", json);
}

#[test]
fn ledger_table_golden() {
    insta::assert_snapshot!("ledger_table", ledger(&lite_price(), None, None).to_table());
}

#[test]
fn ledger_csv_golden() {
    let csv = ledger(&lite_price(), None, None).to_csv();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("day,project,key,model,requests,ok,rate_limited,quota_exhausted,model_not_found"));
    insta::assert_snapshot!("ledger_csv", csv);
}

#[test]
fn merged_files_and_date_filters_drop_undated_attempts() {
    let paths = [fixture("legacy/xhs-gemini-run.log"), fixture("ledger/usage.jsonl")];
    let all = audit::audit_files(&paths, &BTreeMap::new(), None, None).unwrap();
    assert_eq!(all.attempts, 35);
    assert!(!all.to_json().contains("AIza") && !all.to_table().contains("AIza"));

    let dated = audit::audit_files(&paths, &BTreeMap::new(), Some(date(2026, 11, 29)), None).unwrap();
    assert_eq!(dated.attempts, 5);
    assert!(codes(&dated).contains(&"undated_excluded"));
}

#[test]
fn bad_usage_line_is_an_error_but_a_torn_last_line_is_not() {
    let good = std::fs::read_to_string(fixture("ledger/usage.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    assert_eq!(audit::parse_usage_jsonl(&format!("{first}\n{{\"ts\":")).unwrap().len(), 1);
    let err = audit::parse_usage_jsonl(&format!("{first}\nnot json\n{first}\n")).unwrap_err();
    assert_eq!(err.line, 2);

    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("notes.txt");
    std::fs::write(&odd, "just some notes\n").unwrap();
    let result = audit::audit_files(&[odd], &BTreeMap::new(), None, None);
    assert!(matches!(result, Err(AuditError::UnknownFormat { .. })));
}
