//! Renders the digest as `report.html`: a study page in one self-contained file (inline
//! CSS and SVG, no script, no external asset) that opens from disk.
//!
//! Every text in it comes from scraped posts or a model, so every text goes through
//! [`crate::sanitize::clean`] (control characters, bidi overrides) and is HTML-escaped on the
//! way in ([`esc`]). The page's Content-Security-Policy allows no script and no fetch at
//! all, and styles only by the hash of its one `<style>` element (no `'unsafe-inline'`):
//! should an escape ever be missed, nothing runs, nothing is restyled, nothing leaves the
//! machine. The only absolute links are to leetcode.cn, for problems whose page is known.

use super::markdown::TOP_TOPICS;
use super::svg::{Bar, bar_chart};
use super::{Digest, LoadedPost, QuestionCluster, category_label, href, leetcode, plural, problem_label};
use crate::summary::Category;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use std::fmt::Write;

/// Clusters listed under "Most asked".
const MOST_ASKED: usize = 40;
/// Topics given their own section, and clusters listed under each.
const STUDY_TOPICS: usize = 12;
const PER_TOPIC: usize = 15;
/// Clusters listed per company.
const PER_COMPANY: usize = 15;
/// Bars in the topic chart.
const CHART_TOPICS: usize = 12;

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1d2430;--muted:#5d6678;--line:#e4e7ec;--bar:#3f6fe8;--track:#eef1f6;--bg:#fff;--soft:#f6f8fb;--link:#2453d6}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#a3abba;--line:#343a46;--bar:#7aa2ff;--track:#262b35;--bg:#14171c;--soft:#1c2028;--link:#8fb0ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.55 system-ui,-apple-system,'Segoe UI','PingFang SC','Noto Sans CJK SC','WenQuanYi Zen Hei','Microsoft YaHei',sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:28px 20px 60px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:20px;margin:40px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:22px 0 8px}
a{color:var(--link)}
.meta{color:var(--muted);margin:0 0 10px}
nav.toc ol{display:flex;flex-wrap:wrap;gap:4px 16px;margin:10px 0;padding:0;list-style:none}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:18px 0}
.card{background:var(--soft);border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:24px}
.card span{color:var(--muted);font-size:13px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(440px,100%),1fr));gap:18px}
figure.chart{margin:0;padding:12px;border:1px solid var(--line);border-radius:8px;background:var(--soft);min-width:0}
figcaption{font-weight:600;margin-bottom:8px}
.chart svg{display:block;max-width:100%;height:auto}
.chart text{fill:var(--fg);font-size:12px}
.chart text.n{fill:var(--muted)}
.chart rect.track{fill:var(--track)}
.chart rect.fill{fill:var(--bar)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{background:var(--soft);font-weight:600;font-size:13px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
ol.qs{padding-left:26px}
ol.qs>li{margin:10px 0;overflow-wrap:anywhere}
.q{font-weight:600}
ul.asked{margin:4px 0;padding-left:18px;font-size:13px;color:var(--muted)}
details{margin:8px 0;border:1px solid var(--line);border-radius:6px;padding:6px 12px}
summary{cursor:pointer;font-weight:600}
.src{color:var(--muted);font-size:12px}
.tag{display:inline-block;font-size:12px;color:var(--muted);border:1px solid var(--line);border-radius:10px;padding:0 7px;margin-left:6px}
.more{color:var(--muted);font-size:13px}
";

pub(super) fn render(d: &Digest, posts: &[LoadedPost]) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"zh\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src '{}'; \
         base-uri 'none'; form-action 'none'\">",
        style_hash()
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    let _ = writeln!(out, "<title>Interview digest — {}</title>", plural(d.posts, "post", "posts"));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    out.push_str("<h1>Interview digest</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">What {} ask, the most asked first. Every question links to its post's summary.</p>",
        plural(d.posts, "post", "posts")
    );
    toc(&mut out);
    cards(&mut out, d);
    charts(&mut out, d);
    most_asked(&mut out, d);
    by_category(&mut out, d);
    by_topic(&mut out, d);
    by_company(&mut out, d, posts);
    coding(&mut out, d);
    table(&mut out, d);
    skipped(&mut out, d);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The CSP source that allows exactly the page's `<style>` element.
fn style_hash() -> String {
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes())))
}

fn toc(out: &mut String) {
    out.push_str("<nav class=\"toc\" aria-label=\"Contents\"><ol>");
    for (id, name) in [
        ("charts", "Charts"),
        ("most-asked", "Most asked"),
        ("by-category", "By category"),
        ("by-topic", "By topic"),
        ("by-company", "By company"),
        ("coding", "Coding problems"),
        ("posts", "Posts"),
    ] {
        let _ = write!(out, "<li><a href=\"#{id}\">{name}</a></li>");
    }
    out.push_str("</ol></nav>\n");
}

fn cards(out: &mut String, d: &Digest) {
    let named = d.companies.iter().filter(|c| c.company.is_some()).count();
    let repeated = d.question_clusters.iter().filter(|c| c.posts > 1).count();
    out.push_str("<div class=\"cards\">");
    for (n, what) in [
        (d.posts, "posts"),
        (named, "companies"),
        (d.questions, "questions"),
        (repeated, "asked in 2+ posts"),
        (d.coding_problems.len(), "coding problems"),
        (d.topics.len(), "topics"),
    ] {
        let _ = write!(out, "<div class=\"card\"><b>{n}</b><span>{what}</span></div>");
    }
    out.push_str("</div>\n");
}

fn bar(label: impl Into<String>, value: usize, one: &str, many: &str) -> Bar {
    Bar { label: label.into(), value, unit: (if value == 1 { one } else { many }).to_string() }
}

fn charts(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"charts\">Charts</h2>\n<div class=\"charts\">\n");
    let companies: Vec<Bar> = d
        .companies
        .iter()
        .map(|c| bar(c.company.clone().unwrap_or_else(|| "(not named)".into()), c.posts, "post", "posts"))
        .collect();
    bar_chart(out, "chart-companies", "Posts per company", &companies, "No summaries yet.");
    let categories: Vec<Bar> =
        d.categories.iter().map(|c| bar(category_label(c.category), c.questions, "question", "questions")).collect();
    bar_chart(out, "chart-categories", "Questions per category", &categories, "No questions yet.");
    let topics: Vec<Bar> =
        d.topics.iter().take(CHART_TOPICS).map(|t| bar(t.topic.clone(), t.posts, "post", "posts")).collect();
    bar_chart(out, "chart-topics", "Top topics (posts mentioning each)", &topics, "No topics yet.");
    let mut numbered: Vec<&super::ProblemGroup> = d.coding_problems.iter().filter(|p| p.leetcode.is_some()).collect();
    numbered.sort_by_key(|p| p.leetcode);
    // "#54 螺旋矩阵": the number first, so a cut label still says which problem it is.
    let problems: Vec<Bar> = numbered
        .iter()
        .map(|p| bar(format!("#{} {}", p.leetcode.unwrap_or(0), p.name), p.posts, "post", "posts"))
        .collect();
    bar_chart(
        out,
        "chart-leetcode",
        "Coding problems by LeetCode number",
        &problems,
        "No coding problem with a LeetCode number.",
    );
    let months: Vec<Bar> = d
        .months
        .iter()
        .map(|m| bar(m.month.clone().unwrap_or_else(|| "date unknown".into()), m.posts, "post", "posts"))
        .collect();
    bar_chart(out, "chart-months", "Posts per month published", &months, "No posts yet.");
    out.push_str("</div>\n");
}

/// One cluster: its representative wording, how often and where it was asked, and every
/// time it was asked, linked to that post's summary.
fn cluster_item(out: &mut String, c: &QuestionCluster) {
    let _ = write!(
        out,
        "<li><span class=\"q\">{}</span><span class=\"tag\">{}</span><span class=\"tag\">{}</span>",
        esc(&c.text),
        plural(c.posts, "post", "posts"),
        esc(category_label(c.category))
    );
    let mut context: Vec<String> = c.companies.iter().map(|s| esc(s)).collect();
    context.extend(c.rounds.iter().map(|s| esc(s)));
    if !context.is_empty() {
        let _ = write!(out, "<div class=\"src\">{}</div>", context.join(" · "));
    }
    out.push_str("<ul class=\"asked\">");
    for a in &c.asked {
        let _ = write!(out, "<li><a href=\"{}\">{} · {}</a>", esc(&href(&a.summary)), esc(&a.post_id), esc(&a.round));
        if a.text != c.text {
            let _ = write!(out, " — {}", esc(&a.text));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></li>\n");
}

fn most_asked(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"most-asked\">Most asked <span class=\"tag\">the same question across posts, in any words</span></h2>\n");
    let repeated: Vec<&QuestionCluster> = d.question_clusters.iter().filter(|c| c.posts > 1).collect();
    if repeated.is_empty() {
        out.push_str("<p class=\"more\">No question appears in more than one post.</p>\n");
        return;
    }
    out.push_str("<ol class=\"qs\">\n");
    for c in repeated.iter().take(MOST_ASKED) {
        cluster_item(out, c);
    }
    out.push_str("</ol>\n");
    if repeated.len() > MOST_ASKED {
        let _ = writeln!(out, "<p class=\"more\">…and {} more under By category.</p>", repeated.len() - MOST_ASKED);
    }
}

fn by_category(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"by-category\">By category</h2>\n");
    for cat in Category::ALL {
        let clusters: Vec<&QuestionCluster> = d.question_clusters.iter().filter(|c| c.category == cat).collect();
        if clusters.is_empty() {
            continue;
        }
        let asked: usize = clusters.iter().map(|c| c.asked.len()).sum();
        let _ = writeln!(
            out,
            "<details id=\"category-{}\"><summary>{} — {}, {}</summary>\n<ol class=\"qs\">",
            cat.as_str(),
            esc(category_label(cat)),
            plural(clusters.len(), "question", "questions"),
            plural(asked, "time asked", "times asked")
        );
        for c in clusters {
            cluster_item(out, c);
        }
        out.push_str("</ol></details>\n");
    }
}

fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn by_topic(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"by-topic\">By topic</h2>\n");
    if d.topics.is_empty() {
        out.push_str("<p class=\"more\">No topics yet.</p>\n");
        return;
    }
    for (i, t) in d.topics.iter().take(STUDY_TOPICS).enumerate() {
        let key = fold(&t.topic);
        let clusters: Vec<&QuestionCluster> =
            d.question_clusters.iter().filter(|c| c.topics.iter().any(|x| fold(x) == key)).collect();
        let _ = writeln!(
            out,
            "<details id=\"topic-{}\"><summary>{} — {}, {}</summary>\n<ol class=\"qs\">",
            i + 1,
            esc(&t.topic),
            plural(t.posts, "post", "posts"),
            plural(clusters.len(), "question", "questions")
        );
        for c in clusters.iter().take(PER_TOPIC) {
            cluster_item(out, c);
        }
        out.push_str("</ol>");
        if clusters.len() > PER_TOPIC {
            let _ = write!(out, "<p class=\"more\">…and {} more.</p>", clusters.len() - PER_TOPIC);
        }
        out.push_str("</details>\n");
    }
    if d.topics.len() > STUDY_TOPICS {
        let _ = writeln!(
            out,
            "<p class=\"more\">{} more topics in digest.json (the first {TOP_TOPICS} in digest.md).</p>",
            d.topics.len() - STUDY_TOPICS
        );
    }
}

fn by_company(out: &mut String, d: &Digest, posts: &[LoadedPost]) {
    out.push_str("<h2 id=\"by-company\">By company</h2>\n");
    if d.companies.is_empty() {
        out.push_str("<p class=\"more\">No summaries yet.</p>\n");
        return;
    }
    for (i, c) in d.companies.iter().enumerate() {
        let name = c.company.as_deref().map_or_else(|| "(not named)".to_string(), esc);
        let key = c.company.as_deref().map(fold);
        let _ = writeln!(
            out,
            "<details id=\"company-{}\"><summary>{name} — {}, {}</summary>",
            i + 1,
            plural(c.posts, "post", "posts"),
            plural(c.questions, "question", "questions")
        );
        if !c.positions.is_empty() {
            let positions: Vec<String> = c.positions.iter().map(|p| esc(p)).collect();
            let _ = writeln!(out, "<p class=\"src\">{}</p>", positions.join("、"));
        }
        out.push_str("<ul>");
        for p in posts.iter().filter(|p| p.summary.extract.company.as_deref().map(str::trim).map(fold) == key) {
            let title = p.summary.title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(&p.summary.post_id);
            let _ = write!(
                out,
                "<li><a href=\"{}\">{}</a> <span class=\"src\">{}</span></li>",
                esc(&href(&format!("{}/summary.md", p.dir))),
                esc(title),
                esc(&p.summary.post_id)
            );
        }
        out.push_str("</ul>\n");
        if let Some(name) = c.company.as_deref() {
            let key = fold(name);
            let clusters: Vec<&QuestionCluster> =
                d.question_clusters.iter().filter(|q| q.companies.iter().any(|x| fold(x) == key)).collect();
            out.push_str("<ol class=\"qs\">\n");
            for q in clusters.iter().take(PER_COMPANY) {
                cluster_item(out, q);
            }
            out.push_str("</ol>");
            if clusters.len() > PER_COMPANY {
                let _ =
                    write!(out, "<p class=\"more\">…and {} more under By category.</p>", clusters.len() - PER_COMPANY);
            }
        }
        out.push_str("</details>\n");
    }
}

fn coding(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"coding\">Coding problems</h2>\n");
    if d.coding_problems.is_empty() {
        out.push_str("<p class=\"more\">None recorded.</p>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr><th>Problem</th><th class=\"n\">Posts</th><th>In</th></tr></thead><tbody>\n");
    for p in &d.coding_problems {
        let ids: Vec<String> = p.post_ids.iter().map(|id| esc(id)).collect();
        let label = esc(&problem_label(p));
        // A link only where the table knows the problem's page.
        let cell = match p.leetcode.and_then(leetcode::url) {
            Some(url) => format!("<a href=\"{}\" rel=\"noreferrer\">{label}</a>", esc(&url)),
            None => label,
        };
        let _ = writeln!(out, "<tr><td>{cell}</td><td class=\"n\">{}</td><td>{}</td></tr>", p.posts, ids.join(", "));
    }
    out.push_str("</tbody></table></div>\n");
}

fn table(out: &mut String, d: &Digest) {
    out.push_str("<h2 id=\"posts\">Posts</h2>\n");
    out.push_str(
        "<div class=\"scroll\"><table><thead><tr><th>Post</th><th>Company</th><th>Position</th><th>Rounds</th>",
    );
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
    out.push_str("</tbody></table></div>\n");
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

/// Cleans text ([`crate::sanitize::clean`]) and HTML-escapes it, for element content and
/// quoted attribute values alike.
pub(super) fn esc(s: &str) -> String {
    let s = crate::sanitize::clean(s);
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
    fn the_page_is_self_contained_with_charts_and_a_hashed_style() {
        let posts = vec![LoadedPost { dir: "a".into(), summary: sample("a", "美团一面", Some("美团")) }];
        let page = render(&build(&posts, Vec::new(), "t".into()), &posts);
        // The one absolute link is the known LeetCode problem's page.
        let without_leetcode = page.replace("https://leetcode.cn/problems/spiral-matrix/", "");
        for external in ["http://", "https://", "<script", "<link", "src=", "style=", "unsafe-inline"] {
            assert!(!without_leetcode.contains(external), "{external} in the page");
        }
        assert!(page.contains("href=\"https://leetcode.cn/problems/spiral-matrix/\""));
        assert!(page.matches("<svg").count() >= 4, "{page}");
        assert!(page.contains(&format!("style-src '{}'", style_hash())));
        assert!(page.contains("prefers-color-scheme:dark"));
        // Every question links to its post's summary.
        assert!(page.contains("<a href=\"a/summary.md\">a · 一面</a>"), "{page}");
    }

    #[test]
    fn text_is_cleaned_before_it_is_escaped() {
        assert_eq!(esc("a\u{202e}b\u{1b}[1m<"), "ab[1m&lt;");
    }

    #[test]
    fn a_problem_without_a_known_page_has_no_link() {
        let mut s = sample("a", "x", None);
        s.extract.coding_problems =
            vec![crate::summary::CodingProblem { text: "LeetCode 9998 未知".into(), leetcode: Some(9998) }];
        let posts = vec![LoadedPost { dir: "a".into(), summary: s }];
        let page = render(&build(&posts, Vec::new(), "t".into()), &posts);
        assert!(page.contains("LeetCode 9998 未知") && !page.contains("https://"), "{page}");
    }
}
