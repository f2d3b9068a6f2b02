//! Renders the digest as `report.html`: one self-contained page (inline CSS, no script,
//! no external asset) that opens from disk.
//!
//! Every text in it comes from scraped posts, so every text is HTML-escaped on the way in
//! ([`esc`]), and the page's Content-Security-Policy allows no script and no fetch at all:
//! should an escape ever be missed, nothing runs and nothing leaves the machine.

use super::markdown::TOP_TOPICS;
use super::{Digest, LoadedPost, category_label, href, plural, problem_label};
use crate::summary::Category;
use std::fmt::Write;

const STYLE: &str = "\
:root{--fg:#1d2430;--muted:#667085;--line:#e4e7ec;--bar:#4f7cff;--bg:#fff;--soft:#f6f8fb}
*{box-sizing:border-box}
body{margin:0;font:15px/1.55 system-ui,-apple-system,'Segoe UI','PingFang SC','Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:28px 24px 60px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:19px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.meta{color:var(--muted);margin:0 0 10px}
nav a{margin-right:14px;color:var(--bar);text-decoration:none}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0}
.card{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:130px}
.card b{display:block;font-size:24px}
.card span{color:var(--muted);font-size:13px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:13px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
a{color:#2453d6}
ol.bars,ul.bars{list-style:none;margin:0;padding:0}
.bars li{display:grid;grid-template-columns:minmax(8em,16em) 1fr 4.5em;gap:10px;align-items:center;padding:2px 0}
.bars .label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bars .track{background:var(--soft);border-radius:4px;height:14px}
.bars .fill{display:block;background:var(--bar);border-radius:4px;height:14px;min-width:2px}
.bars .n{color:var(--muted);text-align:right;font-variant-numeric:tabular-nums}
details{margin:6px 0;border:1px solid var(--line);border-radius:6px;padding:6px 12px}
summary{cursor:pointer;font-weight:600}
details ol{margin:8px 0;padding-left:22px}
details li{margin:3px 0}
.src{color:var(--muted);font-size:12px;margin-left:6px}
.tag{display:inline-block;font-size:12px;color:var(--muted);border:1px solid var(--line);border-radius:10px;padding:0 7px;margin-left:6px}
.more{color:var(--muted);font-size:13px}
";

pub(super) fn render(d: &Digest, posts: &[LoadedPost]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"zh\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>Interview digest — {}</title>", plural(d.posts, "post", "posts"));
    let _ = writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>\n<main>");
    out.push_str("<h1>Interview digest</h1>\n");
    out.push_str("<nav><a href=\"#posts\">Posts</a><a href=\"#companies\">Companies</a><a href=\"#topics\">Topics</a>");
    out.push_str(
        "<a href=\"#categories\">Questions</a><a href=\"#coding\">Coding</a><a href=\"#frequent\">Frequent</a></nav>\n",
    );
    cards(&mut out, d);
    table(&mut out, d);
    companies(&mut out, d);
    topics(&mut out, d);
    categories(&mut out, d, posts);
    coding(&mut out, d);
    frequent(&mut out, d);
    skipped(&mut out, d);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn cards(out: &mut String, d: &Digest) {
    let named = d.companies.iter().filter(|c| c.company.is_some()).count();
    out.push_str("<div class=\"cards\">");
    for (n, what) in [
        (d.posts, "posts"),
        (named, "companies"),
        (d.questions, "questions"),
        (d.coding_problems.len(), "coding problems"),
        (d.topics.len(), "topics"),
    ] {
        let _ = write!(out, "<div class=\"card\"><b>{n}</b><span>{what}</span></div>");
    }
    out.push_str("</div>\n");
}

fn companies(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"companies\">Companies</h2>\n");
    if d.companies.is_empty() {
        out.push_str("<p class=\"more\">No summaries yet.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>Company</th><th class=\"n\">Posts</th><th>Positions</th>");
    out.push_str("<th class=\"n\">Rounds</th><th class=\"n\">Questions</th></tr></thead><tbody>\n");
    for c in &d.companies {
        let positions: Vec<String> = c.positions.iter().map(|p| esc(p)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            c.company.as_deref().map_or_else(|| "<i>not named</i>".to_string(), esc),
            c.posts,
            positions.join("、"),
            c.rounds,
            c.questions
        );
    }
    out.push_str("</tbody></table>\n");
}

/// One bar row: label, a bar as wide as `n` is of `max`, the count.
fn bar(out: &mut String, label: &str, n: usize, max: usize, unit: (&str, &str)) {
    let width = (n * 1000).checked_div(max).map_or(0.0, |w| w as f64 / 10.0);
    let _ = writeln!(
        out,
        "<li><span class=\"label\" title=\"{label}\">{label}</span><span class=\"track\"><span class=\"fill\" \
         style=\"width:{width}%\"></span></span><span class=\"n\" title=\"{}\">{n}</span></li>",
        plural(n, unit.0, unit.1)
    );
}

fn topics(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"topics\">Topics <span class=\"tag\">posts mentioning each</span></h2>\n");
    let max = d.topics.first().map_or(0, |t| t.posts);
    out.push_str("<ol class=\"bars\">\n");
    for t in d.topics.iter().take(TOP_TOPICS) {
        bar(out, &esc(&t.topic), t.posts, max, ("post", "posts"));
    }
    out.push_str("</ol>\n");
    if d.topics.len() > TOP_TOPICS {
        let _ = writeln!(out, "<p class=\"more\">…and {} more in digest.json.</p>", d.topics.len() - TOP_TOPICS);
    }
}

fn categories(out: &mut String, d: &Digest, posts: &[LoadedPost]) {
    out.push_str("<h2 id=\"categories\">Questions by category</h2>\n<ul class=\"bars\">\n");
    let max = d.categories.iter().map(|c| c.questions).max().unwrap_or(0);
    for c in &d.categories {
        bar(out, &esc(category_label(c.category)), c.questions, max, ("question", "questions"));
    }
    out.push_str("</ul>\n");
    for c in d.categories.iter().filter(|c| c.questions > 0) {
        let _ =
            writeln!(out, "<details><summary>{} ({})</summary>\n<ol>", esc(category_label(c.category)), c.questions);
        questions_of(out, c.category, posts);
        out.push_str("</ol></details>\n");
    }
}

/// Every question of one category, in post order, each linked to its post's summary.
fn questions_of(out: &mut String, category: Category, posts: &[LoadedPost]) {
    for p in posts {
        let link = href(&format!("{}/summary.md", p.dir));
        for round in &p.summary.extract.rounds {
            for q in round.questions.iter().filter(|q| q.category == category) {
                let _ = writeln!(
                    out,
                    "<li>{}<a class=\"src\" href=\"{link}\">{} · {}</a></li>",
                    esc(&q.text),
                    esc(&p.summary.post_id),
                    esc(&round.name)
                );
            }
        }
    }
}

fn coding(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"coding\">Coding problems</h2>\n");
    if d.coding_problems.is_empty() {
        out.push_str("<p class=\"more\">None recorded.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>Problem</th><th class=\"n\">Posts</th><th>In</th></tr></thead><tbody>\n");
    for p in &d.coding_problems {
        let ids: Vec<String> = p.post_ids.iter().map(|id| esc(id)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&problem_label(p)),
            p.posts,
            ids.join(", ")
        );
    }
    out.push_str("</tbody></table>\n");
}

fn frequent(out: &mut String, d: &Digest) {
    out.push_str(
        "<h2 id=\"frequent\">Frequent questions <span class=\"tag\">asked in more than one post</span></h2>\n",
    );
    if d.frequent_questions.is_empty() {
        out.push_str("<p class=\"more\">No question appears in more than one post.</p>\n");
        return;
    }
    out.push_str("<table><thead><tr><th>Question</th><th>Category</th><th class=\"n\">Posts</th><th>In</th></tr></thead><tbody>\n");
    for q in &d.frequent_questions {
        let ids: Vec<String> = q.post_ids.iter().map(|id| esc(id)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&q.text),
            esc(category_label(q.category)),
            q.posts,
            ids.join(", ")
        );
    }
    out.push_str("</tbody></table>\n");
}

fn table(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"posts\">Posts</h2>\n");
    out.push_str("<table><thead><tr><th>Post</th><th>Company</th><th>Position</th><th>Rounds</th>");
    out.push_str("<th class=\"n\">Questions</th></tr></thead><tbody>\n");
    let dash = || "—".to_string();
    for p in &d.index {
        let title = p.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(&p.post_id);
        let rounds: Vec<String> = p.rounds.iter().map(|r| esc(r)).collect();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{}\">{}</a><div class=\"src\">{}</div></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&href(&p.summary)),
            esc(title),
            esc(&p.post_id),
            p.company.as_deref().map_or_else(dash, esc),
            p.position.as_deref().map_or_else(dash, esc),
            rounds.join("、"),
            p.questions
        );
    }
    out.push_str("</tbody></table>\n");
}

fn skipped(out: &mut String, d: &Digest) {
    if d.skipped.is_empty() {
        return;
    }
    out.push_str("<h2>Unreadable summaries</h2>\n<ul>\n");
    for s in &d.skipped {
        let _ = writeln!(out, "<li>{}: {}</li>", esc(&s.path), esc(&s.reason));
    }
    out.push_str("</ul>\n");
}

/// HTML-escapes text for element content and quoted attribute values alike.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::aggregate::build;
    use super::super::tests::sample;
    use super::*;
    use crate::summary::Question;

    const EVIL: &str = "<script>alert('x')</script>";

    #[test]
    fn escape_covers_text_and_attributes() {
        assert_eq!(esc(EVIL), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(esc("a\"b&c"), "a&quot;b&amp;c");
    }

    #[test]
    fn untrusted_post_text_never_becomes_markup() {
        let mut s = sample("p\"><img src=x onerror=alert(1)>", EVIL, Some("<b>美团</b>"));
        s.extract.topics.push("<style>body{display:none}</style>".into());
        s.extract.rounds[0].name = "</td><script>1</script>".into();
        s.extract.rounds[0].questions.push(Question {
            category: crate::summary::Category::Other,
            text: format!("{EVIL} & more"),
            topics: vec![],
        });
        let posts = vec![LoadedPost { dir: "p\"><x".into(), summary: s }];
        let d = build(&posts, Vec::new(), "t".into());
        let page = render(&d, &posts);

        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), "the title is shown, escaped");
        // The page's own markup has one <style> and no script; nothing scraped adds a tag.
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>美团") && page.contains("&lt;b&gt;美团&lt;/b&gt;"));
        assert_eq!(page.matches("<style").count(), 1);
        assert!(page.contains("href=\"p%22%3E%3Cx/summary.md\""));
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn the_page_is_self_contained() {
        let posts = vec![LoadedPost { dir: "a".into(), summary: sample("a", "美团一面", Some("美团")) }];
        let page = render(&build(&posts, Vec::new(), "t".into()), &posts);
        for external in ["http://", "https://", "<script", "<link", "src="] {
            assert!(!page.contains(external), "{external} in the page");
        }
        assert!(page.contains("style=\"width:100%\""), "topic bars are drawn with inline CSS");
    }
}
