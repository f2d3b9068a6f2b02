//! The report as a terminal table and as CSV. (JSON is the report's own serialisation.)

use super::{Counts, Report, Row};
use crate::attempt::Outcome;

/// Outcome columns: the table hides those that are zero throughout; CSV keeps them all.
const OUTCOME_COLUMNS: [(Outcome, &str, &str); 13] = [
    (Outcome::Ok, "ok", "ok"),
    (Outcome::RateLimited, "rate_limited", "429/min"),
    (Outcome::QuotaExhausted, "quota_exhausted", "429/day"),
    (Outcome::ModelNotFound, "model_not_found", "404"),
    (Outcome::KeyRejected, "key_rejected", "key rej"),
    (Outcome::ServerError, "server_error", "server"),
    (Outcome::Timeout, "timeout", "timeout"),
    (Outcome::Blocked, "blocked", "blocked"),
    (Outcome::BadOutput, "bad_output", "bad out"),
    (Outcome::BadRequest, "bad_request", "bad req"),
    (Outcome::ParamRefused, "param_refused", "param"),
    (Outcome::Billing, "billing", "billing"),
    (Outcome::Unreachable, "unreachable", "unreach"),
];

fn cost(c: &Counts) -> String {
    c.cost_usd.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn day(row: &Row) -> String {
    row.day.clone().unwrap_or_else(|| "undated".into())
}

struct Column {
    header: &'static str,
    right: bool,
    cells: Vec<String>,
}

pub(super) fn table(report: &Report) -> String {
    let mut out = format!(
        "{} attempts, {} ok, {} wasted (could not have succeeded)\n",
        report.attempts, report.totals.ok, report.wasted
    );
    if report.since.is_some() || report.until.is_some() {
        out.push_str(&format!(
            "Pacific days {} to {}\n",
            report.since.as_deref().unwrap_or("start"),
            report.until.as_deref().unwrap_or("end")
        ));
    }
    if !report.by_scope.is_empty() {
        let scopes: Vec<String> = report.by_scope.iter().map(|(scope, n)| format!("{n} {scope}")).collect();
        out.push_str(&format!("failures by scope: {}\n", scopes.join(", ")));
    }
    if !report.rows.is_empty() {
        out.push('\n');
        out.push_str(&grid(report));
    }
    if let Some(ppr) = report.posts_per_request {
        out.push_str(&format!("\n{} post(s) summarised, {ppr} per request", report.totals.posts));
        if let Some(t) = report.tokens_per_post {
            out.push_str(&format!(", {t:.0} tokens per post"));
        }
        if let Some(c) = report.cost_per_post_usd {
            out.push_str(&format!(", ${c:.6} per post"));
        }
        out.push('\n');
    }
    if !report.items.is_empty() {
        out.push_str("\nItems:\n");
        for it in &report.items {
            out.push_str(&format!(
                "  {:<8} {:<10} {} attempts  {}\n",
                it.kind,
                it.status,
                it.attempts,
                if it.source.is_empty() { it.name.clone() } else { format!("{} ({})", it.name, it.source) }
            ));
        }
    }
    if !report.findings.is_empty() {
        out.push_str("\nFindings:\n");
        for f in &report.findings {
            out.push_str(&format!("  - {} [{}]\n", f.message, f.code));
        }
    }
    out
}

/// The aligned rows plus a totals line.
fn grid(report: &Report) -> String {
    let text = |header, f: &dyn Fn(&Row) -> String, total: String| Column {
        header,
        right: false,
        cells: report.rows.iter().map(f).chain([total]).collect(),
    };
    let num = |header, f: &dyn Fn(&Counts) -> String| Column {
        header,
        right: true,
        cells: report.rows.iter().map(|r| f(&r.counts)).chain([f(&report.totals)]).collect(),
    };
    let mut columns = vec![
        text("day", &day, "total".into()),
        text("project", &|r| r.project.clone(), String::new()),
        text("key", &|r| r.key.clone(), String::new()),
        text("model", &|r| r.model.clone(), String::new()),
        num("requests", &|c| c.requests.to_string()),
    ];
    for (outcome, _, header) in OUTCOME_COLUMNS {
        if outcome == Outcome::Ok || report.totals.outcome(outcome) > 0 {
            columns.push(num(header, &move |c| c.outcome(outcome).to_string()));
        }
    }
    if report.totals.unknown > 0 {
        columns.push(num("unknown", &|c| c.unknown.to_string()));
    }
    if report.totals.other > 0 {
        columns.push(num("other", &|c| c.other.to_string()));
    }
    columns.extend([
        num("wasted", &|c| c.wasted.to_string()),
        num("prompt", &|c| c.prompt_tokens.to_string()),
        num("output", &|c| c.output_tokens.to_string()),
        num("thinking", &|c| c.thinking_tokens.to_string()),
        num("cost $", &cost),
    ]);

    let widths: Vec<usize> = columns
        .iter()
        .map(|c| c.cells.iter().map(|s| s.chars().count()).chain([c.header.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<(&str, bool)>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|((s, right), w)| if *right { format!("{s:>w$}") } else { format!("{s:<w$}") })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(columns.iter().map(|c| (c.header, c.right)).collect());
    let rows = report.rows.len();
    for i in 0..=rows {
        if i == rows {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&(rule.join("  ") + "\n"));
        }
        out.push_str(&line(columns.iter().map(|c| (c.cells[i].as_str(), c.right)).collect()));
    }
    out
}

pub(super) fn csv(report: &Report) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header = vec!["day", "project", "key", "model", "requests"];
    header.extend(OUTCOME_COLUMNS.iter().map(|(_, name, _)| *name));
    // Sent by a run that died before the answer came: possibly billed.
    header.extend(["unknown", "wasted", "prompt_tokens", "output_tokens", "thinking_tokens", "cost_usd"]);
    // Writing to a Vec cannot fail; a failure here would be a bug in the csv crate.
    w.write_record(&header).expect("CSV to memory");
    for row in &report.rows {
        let c = &row.counts;
        let mut record = vec![
            row.day.clone().unwrap_or_default(),
            row.project.clone(),
            row.key.clone(),
            row.model.clone(),
            c.requests.to_string(),
        ];
        record.extend(OUTCOME_COLUMNS.iter().map(|(o, _, _)| c.outcome(*o).to_string()));
        record.extend([
            c.unknown.to_string(),
            c.wasted.to_string(),
            c.prompt_tokens.to_string(),
            c.output_tokens.to_string(),
            c.thinking_tokens.to_string(),
            cost(c),
        ]);
        w.write_record(&record).expect("CSV to memory");
    }
    let bytes = w.into_inner().expect("CSV to memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8")
}
