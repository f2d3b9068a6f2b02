//! Renders a [`Summary`] as `summary.md`, for people.

use super::{Category, ImageStatus, Summary};
use std::fmt::Write;

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let e = &summary.extract;
    let title = summary.title.as_deref().unwrap_or(&summary.post_id);
    let _ = writeln!(out, "# {}\n", one_line(title));
    let company = e.company.as_deref().unwrap_or("—");
    let position = e.position.as_deref().unwrap_or("—");
    let _ = writeln!(out, "- **Company:** {company}");
    let _ = writeln!(out, "- **Position:** {position}");
    let _ = writeln!(out, "- **Post:** `{}` ({})", summary.post_id, summary.source.path);
    if let Some(url) = &summary.source.url {
        let _ = writeln!(out, "- **URL:** <{url}>");
    }
    if !e.topics.is_empty() {
        let _ = writeln!(out, "- **Topics:** {}", e.topics.join(", "));
    }
    if !e.overview.trim().is_empty() {
        let _ = writeln!(out, "\n## Overview\n\n{}", e.overview.trim());
    }
    for round in &e.rounds {
        let _ = writeln!(out, "\n## {}\n", one_line(&round.name));
        for (i, q) in round.questions.iter().enumerate() {
            let _ = write!(out, "{}. [{}] {}", i + 1, label(q.category), one_line(&q.text));
            if !q.topics.is_empty() {
                let _ = write!(out, " _({})_", q.topics.join(", "));
            }
            out.push('\n');
        }
    }
    if !e.coding_problems.is_empty() {
        let _ = writeln!(out, "\n## Coding problems\n");
        for p in &e.coding_problems {
            match p.leetcode {
                Some(n) => {
                    let _ = writeln!(out, "- {} (LeetCode {n})", one_line(&p.text));
                }
                None => {
                    let _ = writeln!(out, "- {}", one_line(&p.text));
                }
            }
        }
    }
    for (heading, items) in [("Key experiences", &e.key_experiences), ("Tips", &e.tips), ("Advice", &e.advice)] {
        if !items.is_empty() {
            let _ = writeln!(out, "\n## {heading}\n");
            for item in items {
                let _ = writeln!(out, "- {}", one_line(item));
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
            let _ = write!(out, "- `{}`: {status}", image.file);
            if let Some(err) = &image.error {
                let _ = write!(out, " ({})", one_line(err));
            }
            out.push('\n');
        }
    }
    let p = &summary.produced_by;
    let _ = writeln!(out, "\n---\nProduced by {} / {} at {}.", p.provider, p.model, p.at);
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

/// Markdown list items must stay on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
