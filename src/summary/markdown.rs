//! Renders a [`Summary`] as `summary.md`, for people.
//!
//! Every field that came from a model or a post is hostile until proven otherwise: it goes
//! through [`crate::sanitize::clean`] (no terminal escapes, NULs or bidi overrides), then
//! [`inline`] (one line, HTML and Markdown control characters escaped), so a post or an
//! answer can neither inject markup (`<script>`, `<img onerror>`) nor a heading, a list item
//! or a table row through a newline.

use super::{Category, ImageStatus, Summary};
use crate::sanitize;
use std::fmt::Write;

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let e = &summary.extract;
    let title = summary.title.as_deref().unwrap_or(&summary.post_id);
    let _ = writeln!(out, "# {}\n", inline(title));
    let company = e.company.as_deref().map(inline).unwrap_or_else(|| "—".into());
    let position = e.position.as_deref().map(inline).unwrap_or_else(|| "—".into());
    let _ = writeln!(out, "- **Company:** {company}");
    let _ = writeln!(out, "- **Position:** {position}");
    let _ = writeln!(out, "- **Post:** {} ({})", inline(&summary.post_id), inline(&summary.source.path));
    if let Some(url) = &summary.source.url {
        let _ = writeln!(out, "- **URL:** {}", link(url));
    }
    if !e.topics.is_empty() {
        let _ = writeln!(out, "- **Topics:** {}", list(&e.topics));
    }
    let overview: Vec<String> = e.overview.lines().map(inline).filter(|l| !l.is_empty()).collect();
    if !overview.is_empty() {
        // One paragraph per line of the answer: its line breaks survive, its markup does not.
        let _ = writeln!(out, "\n## Overview\n\n{}", overview.join("\n\n"));
    }
    for round in &e.rounds {
        let _ = writeln!(out, "\n## {}\n", inline(&round.name));
        for (i, q) in round.questions.iter().enumerate() {
            let _ = write!(out, "{}. [{}] {}", i + 1, label(q.category), inline(&q.text));
            if !q.topics.is_empty() {
                let _ = write!(out, " _({})_", list(&q.topics));
            }
            out.push('\n');
        }
    }
    if !e.coding_problems.is_empty() {
        let _ = writeln!(out, "\n## Coding problems\n");
        for p in &e.coding_problems {
            match p.leetcode {
                Some(n) => {
                    let _ = writeln!(out, "- {} (LeetCode {n})", inline(&p.text));
                }
                None => {
                    let _ = writeln!(out, "- {}", inline(&p.text));
                }
            }
        }
    }
    for (heading, items) in [("Key experiences", &e.key_experiences), ("Tips", &e.tips), ("Advice", &e.advice)] {
        if !items.is_empty() {
            let _ = writeln!(out, "\n## {heading}\n");
            for item in items {
                let _ = writeln!(out, "- {}", inline(item));
            }
        }
    }
    if !summary.images.is_empty() {
        let _ = writeln!(out, "\n## Images\n");
        for image in &summary.images {
            let status = match image.status {
                ImageStatus::Ok => "read",
                ImageStatus::Failed => "failed",
                ImageStatus::Pending => "pending",
            };
            let _ = write!(out, "- {}: {status}", inline(&image.file));
            if let Some(err) = &image.error {
                let _ = write!(out, " ({})", inline(err));
            }
            out.push('\n');
        }
    }
    let p = &summary.produced_by;
    let _ = writeln!(out, "\n---\nProduced by {} / {} at {}.", inline(&p.provider), inline(&p.model), inline(&p.at));
    out
}

fn label(c: Category) -> &'static str {
    match c {
        Category::SelfIntro => "自我介绍",
        Category::Fundamentals => "八股",
        Category::Project => "项目",
        Category::Scenario => "场景题",
        Category::Coding => "代码题",
        Category::Behavioral => "行为/HR",
        Category::Other => "其他",
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|t| inline(t)).collect::<Vec<_>>().join(", ")
}

/// Untrusted text as one line of Markdown that renders as exactly that text: unsafe
/// characters dropped, whitespace runs (newlines too) folded into one space, `& < >` as
/// HTML entities, and every character Markdown could read as markup backslash-escaped.
pub fn inline(s: &str) -> String {
    let clean = sanitize::clean(s);
    let mut out = String::with_capacity(clean.len());
    for (i, word) in clean.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        for c in word.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\\' | '`' | '*' | '_' | '[' | ']' | '{' | '}' | '#' | '|' | '~' | '!' | '=' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    // A line that starts like a list item or a numbered one would become one.
    if out.starts_with(['-', '+']) {
        out.insert(0, '\\');
    } else if let Some(end) = out.find(|c: char| !c.is_ascii_digit())
        && end > 0
        && out[end..].starts_with(['.', ')'])
    {
        out.insert(end, '\\');
    }
    out
}

/// A URL as an autolink when it is a plain http(s) URL, else as escaped text.
fn link(url: &str) -> String {
    let plain = (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '`' | '"' | '\\'));
    if plain { format!("<{url}>") } else { inline(url) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_renders_as_text_on_one_line() {
        let hostile = "<script>alert(1)</script>\n# Injected\n| a | b |\n<img src=x onerror=alert(1)>\u{1b}[31m\u{0}\u{7}\u{202e}";
        let line = inline(hostile);
        assert!(!line.contains('\n'), "{line}");
        assert!(!line.contains('<') && !line.contains('>'), "{line}");
        assert!(!line.chars().any(|c| c.is_control() || c == '\u{202e}'), "{line}");
        assert!(line.contains("\\# Injected") && line.contains("\\| a \\| b \\|"), "{line}");
        assert_eq!(inline("- item"), "\\- item");
        assert_eq!(inline("12. item"), "12\\. item");
        assert_eq!(inline("面经 ok"), "面经 ok");
    }

    #[test]
    fn only_plain_urls_become_links() {
        assert_eq!(link("https://www.nowcoder.com/discuss/1"), "<https://www.nowcoder.com/discuss/1>");
        assert_eq!(link("https://x/><script>"), "https://x/&gt;&lt;script&gt;");
    }
}
