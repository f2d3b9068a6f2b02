//! Renders the [`Digest`] as `digest.md`.
//!
//! Every text comes from scraped posts, so each is flattened to one line and has its
//! Markdown and HTML syntax backslash-escaped: a title cannot break a table, start a
//! heading, or inject markup into a viewer that renders raw HTML.

use super::{Digest, QuestionCluster, category_label, href, plural, problem_label};
use crate::summary::Category;
use std::fmt::Write;

/// The topics listed by name; the rest are in `digest.json`.
pub(super) const TOP_TOPICS: usize = 50;
/// Clusters listed under "Most asked", per category and per topic.
const MOST_ASKED: usize = 30;
const PER_CATEGORY: usize = 15;
const STUDY_TOPICS: usize = 10;
const PER_TOPIC: usize = 8;

pub(super) fn render(d: &Digest) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Interview digest\n");
    let _ = writeln!(
        out,
        "{} · {} · {} · {}.",
        plural(d.posts, "post", "posts"),
        plural(d.companies.iter().filter(|c| c.company.is_some()).count(), "company", "companies"),
        plural(d.questions, "question", "questions"),
        plural(d.coding_problems.len(), "coding problem", "coding problems"),
    );
    companies(&mut out, d);
    topics(&mut out, d);
    categories(&mut out, d);
    coding(&mut out, d);
    frequent(&mut out, d);
    posts(&mut out, d);
    if !d.skipped.is_empty() {
        let _ = writeln!(out, "\n## Unreadable summaries\n");
        for s in &d.skipped {
            let _ = writeln!(out, "- {}: {}", esc(&s.path), esc(&s.reason));
        }
    }
    out
}

fn companies(out: &mut String, d: &Digest) {
    if d.companies.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Companies\n");
    let _ = writeln!(out, "| Company | Posts | Positions | Rounds | Questions |\n|---|---:|---|---:|---:|");
    for c in &d.companies {
        let positions: Vec<String> = c.positions.iter().map(|p| esc(p)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.company.as_deref().map_or_else(|| "(not named)".to_string(), esc),
            c.posts,
            positions.join(", "),
            c.rounds,
            c.questions
        );
    }
}

fn topics(out: &mut String, d: &Digest) {
    if d.topics.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Topics\n");
    for (i, t) in d.topics.iter().take(TOP_TOPICS).enumerate() {
        let _ = writeln!(out, "{}. {} — {}", i + 1, esc(&t.topic), plural(t.posts, "post", "posts"));
    }
    if d.topics.len() > TOP_TOPICS {
        let _ = writeln!(out, "\n…and {} more in `digest.json`.", d.topics.len() - TOP_TOPICS);
    }
}

fn categories(out: &mut String, d: &Digest) {
    let _ = writeln!(out, "\n## Questions by category\n");
    let _ = writeln!(out, "| Category | Questions |\n|---|---:|");
    for c in &d.categories {
        let _ = writeln!(out, "| {} | {} |", category_label(c.category), c.questions);
    }
}

fn coding(out: &mut String, d: &Digest) {
    if d.coding_problems.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Coding problems\n");
    for p in &d.coding_problems {
        let _ = writeln!(
            out,
            "- {} — {} ({})",
            esc(&problem_label(p)),
            plural(p.posts, "post", "posts"),
            p.post_ids.iter().map(|id| esc(id)).collect::<Vec<_>>().join(", ")
        );
    }
}

/// One cluster as a list item: its wording, how many posts, where, and the posts (linked).
fn cluster_line(out: &mut String, c: &QuestionCluster) {
    let mut seen = std::collections::BTreeSet::new();
    let links: Vec<String> = c
        .asked
        .iter()
        .filter(|a| seen.insert(a.post_id.clone()))
        .map(|a| format!("[{}]({})", esc(&a.post_id), href(&a.summary)))
        .collect();
    let companies: Vec<String> = c.companies.iter().map(|x| esc(x)).collect();
    let _ = writeln!(
        out,
        "- {} — {}{} _({})_: {}",
        esc(&c.text),
        plural(c.posts, "post", "posts"),
        if companies.is_empty() { String::new() } else { format!(", {}", companies.join(", ")) },
        category_label(c.category),
        links.join(", ")
    );
}

fn repeated(d: &Digest) -> impl Iterator<Item = &QuestionCluster> {
    d.question_clusters.iter().filter(|c| c.posts > 1)
}

fn frequent(out: &mut String, d: &Digest) {
    if repeated(d).next().is_none() {
        return;
    }
    let _ = writeln!(out, "\n## Most asked questions\n");
    let _ = writeln!(out, "The same question in any words, asked in more than one post; most posts first.\n");
    for c in repeated(d).take(MOST_ASKED) {
        cluster_line(out, c);
    }
    let _ = writeln!(out, "\n### Most asked by category");
    for cat in Category::ALL {
        let clusters: Vec<&QuestionCluster> = repeated(d).filter(|c| c.category == cat).collect();
        if clusters.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n#### {}\n", category_label(cat));
        for c in clusters.iter().take(PER_CATEGORY) {
            cluster_line(out, c);
        }
    }
    let _ = writeln!(out, "\n### Most asked by topic");
    for t in d.topics.iter().take(STUDY_TOPICS) {
        let key = t.topic.to_lowercase();
        let clusters: Vec<&QuestionCluster> =
            repeated(d).filter(|c| c.topics.iter().any(|x| x.to_lowercase() == key)).collect();
        if clusters.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n#### {}\n", esc(&t.topic));
        for c in clusters.iter().take(PER_TOPIC) {
            cluster_line(out, c);
        }
    }
}

fn posts(out: &mut String, d: &Digest) {
    if d.index.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Posts\n");
    let _ = writeln!(out, "| Post | Company | Position | Rounds | Questions |\n|---|---|---|---|---:|");
    for p in &d.index {
        let title = p.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(&p.post_id);
        let rounds: Vec<String> = p.rounds.iter().map(|r| esc(r)).collect();
        let _ = writeln!(
            out,
            "| [{}]({}) | {} | {} | {} | {} |",
            esc(title),
            href(&p.summary),
            p.company.as_deref().map_or_else(|| "—".to_string(), esc),
            p.position.as_deref().map_or_else(|| "—".to_string(), esc),
            rounds.join(", "),
            p.questions
        );
    }
}

/// One line, with every character Markdown (or raw HTML inside Markdown) could act on
/// backslash-escaped; CommonMark renders each as itself.
fn esc(s: &str) -> String {
    let s = crate::sanitize::clean(s);
    let mut out = String::with_capacity(s.len());
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for c in word.chars() {
            if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&' | '~' | '!') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_stays_text() {
        assert_eq!(esc("<script>alert(1)</script>"), r"\<script\>alert(1)\</script\>");
        assert_eq!(esc("a | b\n# c"), r"a \| b \# c");
        assert_eq!(esc("[x](javascript:y)"), r"\[x\](javascript:y)");
    }
}
