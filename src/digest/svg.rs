//! Horizontal bar charts as inline SVG: drawn by the browser with no script, coloured by
//! the page's CSS (so dark mode follows `prefers-color-scheme`), every bar labelled in
//! text and titled for screen readers.
//!
//! The chart scales with its box (`viewBox`, width 100 %), so it never overflows a phone.
//! Callers pass text already cleaned; it is escaped here.

use std::fmt::Write;

/// One bar: its label, its value, and what the value counts ("3 posts").
pub(super) struct Bar {
    pub label: String,
    pub value: usize,
    pub unit: String,
}

const WIDTH: usize = 420;
const LABEL_WIDTH: usize = 150;
const COUNT_WIDTH: usize = 40;
const ROW: usize = 22;
const BAR_HEIGHT: usize = 14;
const FONT: usize = 12;

/// Appends `<figure>` with the chart, or a sentence when there is nothing to draw.
pub(super) fn bar_chart(out: &mut String, id: &str, caption: &str, bars: &[Bar], empty: &str) {
    let _ = writeln!(out, "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>", super::html::esc(caption));
    if bars.is_empty() {
        let _ = writeln!(out, "<p class=\"more\">{}</p></figure>", super::html::esc(empty));
        return;
    }
    let height = bars.len() * ROW + 4;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let track = WIDTH - LABEL_WIDTH - COUNT_WIDTH;
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title\" \
         preserveAspectRatio=\"xMinYMin meet\"><title id=\"{id}-title\">{}</title>",
        super::html::esc(caption)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i * ROW + 2;
        let text_y = y + BAR_HEIGHT / 2 + FONT / 2 - 1;
        let w = (b.value * track).div_ceil(max).max(if b.value > 0 { 2 } else { 0 });
        let label = super::html::esc(&b.label);
        let _ = writeln!(
            out,
            "<g><title>{label}: {} {}</title><text x=\"{}\" y=\"{text_y}\" text-anchor=\"end\">{}</text>\
             <rect class=\"track\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{track}\" height=\"{BAR_HEIGHT}\" rx=\"3\"/>\
             <rect class=\"fill\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{w}\" height=\"{BAR_HEIGHT}\" rx=\"3\"/>\
             <text class=\"n\" x=\"{}\" y=\"{text_y}\">{}</text></g>",
            b.value,
            super::html::esc(&b.unit),
            LABEL_WIDTH - 8,
            super::html::esc(&fit(&b.label, LABEL_WIDTH - 12)),
            LABEL_WIDTH + track + 6,
            b.value
        );
    }
    out.push_str("</svg></figure>\n");
}

/// `label` cut with "…" to about `width` pixels at the chart's font size (a CJK character
/// is about one em, a Latin one about 0.6).
fn fit(label: &str, width: usize) -> String {
    let em = |c: char| if c.is_ascii() { FONT * 6 / 10 } else { FONT };
    if label.chars().map(em).sum::<usize>() <= width {
        return label.to_string();
    }
    let mut used = em('…');
    let mut out = String::new();
    for c in label.chars() {
        if used + em(c) > width {
            break;
        }
        used += em(c);
        out.push(c);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bar_has_a_title_a_label_and_its_value() {
        let mut out = String::new();
        let bars = [
            Bar { label: "字节跳动".into(), value: 9, unit: "posts".into() },
            Bar { label: "<b>x</b>".into(), value: 1, unit: "post".into() },
        ];
        bar_chart(&mut out, "c", "Posts per company", &bars, "none");
        assert_eq!(out.matches("<g><title>").count(), 2);
        assert!(out.contains("<title>字节跳动: 9 posts</title>"), "{out}");
        assert!(out.contains("&lt;b&gt;x&lt;/b&gt;") && !out.contains("<b>"), "{out}");
        // The longest bar fills the track; a bar of 1 in 9 still shows.
        assert!(out.contains(&format!("width=\"{}\"", WIDTH - LABEL_WIDTH - COUNT_WIDTH)));
    }

    #[test]
    fn nothing_to_draw_is_said() {
        let mut out = String::new();
        bar_chart(&mut out, "c", "Posts per month", &[], "No post gives a date.");
        assert!(out.contains("No post gives a date.") && !out.contains("<svg"));
    }

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(fit("RAG", 100), "RAG");
        let cut = fit("这是一个非常非常非常非常长的标签名字", 138);
        assert!(cut.ends_with('…') && cut.chars().count() == 11, "{cut}");
    }
}
