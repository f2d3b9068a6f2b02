//! Cleaning a scraped post down to what its author wrote.
//!
//! Scraped pages carry the site around the post: an author block before it, like
//! counts, comment threads, "related posts" and sidebars after it. A summary built from
//! those would report other people's companies and questions, so they are cut here,
//! before any extraction looks at the text.

/// Lines at which the post proper has ended: the site's footer, comments, sidebars.
const FOOTER_MARKERS: &[&str] = &[
    "分享",
    "真题解析",
    "大家都在搜",
    "一键发评",
    "快捷表情",
    "畅所欲言吧",
    "全部评论",
    "相关推荐",
    "全站热榜",
    "创作者周榜",
    "正在热议",
    "回复TA",
    "点赞",
];

/// Spaces scrapers leave behind are folded and invisible characters dropped, so that
/// matching never depends on them.
pub fn normalize(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace(['\u{a0}', '\u{3000}', '\u{2002}', '\u{2003}', '\t'], " ")
        .replace(['\u{feff}', '\u{200b}', '\u{200c}', '\u{200d}'], "")
}

/// The author's own lines, trimmed and without empties, in order.
pub fn post_lines(text: &str, title: Option<&str>) -> Vec<String> {
    let text = normalize(text);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let start = body_start(&lines, title);
    let mut out = Vec::new();
    for line in &lines[start..] {
        if is_footer(line) {
            break;
        }
        if line.is_empty() || is_hashtag_line(line) {
            continue;
        }
        out.push((*line).to_string());
    }
    // Like and comment counts sit right above the footer marker.
    while out.last().is_some_and(|l| l.chars().all(|c| c.is_ascii_digit())) {
        out.pop();
    }
    out
}

/// Where the post's own text starts: after an archive header (`# title`, `> author`,
/// `**来源**`, `---`), after the site's author block (which ends with 关注), and after a
/// repeated title.
fn body_start(lines: &[&str], title: Option<&str>) -> usize {
    let mut start = 0;
    let header_end = lines.iter().take(15).position(|l| *l == "---");
    if let Some(end) = header_end {
        let header_like = lines[..end].iter().all(|l| {
            l.is_empty() || l.starts_with('#') || l.starts_with('>') || l.starts_with("**") || l.starts_with("归档说明")
        });
        if header_like {
            start = end + 1;
        }
    }
    let nonempty: Vec<usize> = (start..lines.len()).filter(|&i| !lines[i].is_empty()).take(9).collect();
    if let Some(&follow) = nonempty.iter().find(|&&i| lines[i] == "关注") {
        start = follow + 1;
    }
    let is_title = |l: &str| {
        let l = l.trim_start_matches('#').trim();
        !l.is_empty() && title.is_some_and(|t| t.trim_start_matches('#').trim() == l)
    };
    while start < lines.len() && (lines[start].is_empty() || is_title(lines[start])) {
        start += 1;
    }
    start
}

fn is_footer(line: &str) -> bool {
    FOOTER_MARKERS.iter().any(|m| line == *m || (m.chars().count() > 2 && line.starts_with(m)))
}

/// `#发面经攒人品#`, `#大模型[话题]# #算法[话题]#`: tags, not content.
fn is_hashtag_line(line: &str) -> bool {
    line.starts_with('#')
        && line.ends_with('#')
        && !line.starts_with("# ")
        && line.split_whitespace().all(|w| w.len() > 2 && w.starts_with('#') && w.ends_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# 美团一面面经\n\n> 作者 | 04-23 14:31\n\n**来源**：https://example.com/x\n\n---\n\n作者\n04-23 14:31\n已编辑\n门头沟学院 Java\n发布于吉林\n关注\n美团一面面经\n请做一个简单的自我介绍\n\u{a0}Redis为什么这么快？\n#发面经攒人品#\n6 \n5 \n分享 \n真题解析\n全部评论(6)\n我也面美团\n";

    #[test]
    fn strips_archive_header_author_block_and_footer() {
        let lines = post_lines(PAGE, Some("美团一面面经"));
        assert_eq!(lines, ["请做一个简单的自我介绍", "Redis为什么这么快？"]);
    }

    #[test]
    fn plain_text_keeps_everything_but_the_title_and_tags() {
        let text = "算法面经：美团\n一面：\n自我介绍\n#大模型[话题]# #算法[话题]#\n";
        assert_eq!(post_lines(text, Some("算法面经：美团")), ["一面：", "自我介绍"]);
    }

    #[test]
    fn markdown_headings_are_not_hashtags() {
        assert!(!is_hashtag_line("## 二面"));
        assert!(is_hashtag_line("#发面经攒人品#"));
    }

    #[test]
    fn invisible_characters_go() {
        assert_eq!(normalize("a\u{feff}b\u{a0}c\r\n"), "ab c\n");
    }
}
