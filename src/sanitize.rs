//! Text that came from a post or a model, made safe to put in a file a person reads.
//!
//! Scraped pages and model answers can carry terminal escapes, NUL bytes and bidi
//! overrides (U+202E turns `gpj.exe` into `exe.jpg` on screen). Every renderer passes such
//! text through [`clean`] first; escaping for a format (HTML, Markdown) comes after.

use std::borrow::Cow;

/// Whether `c` is dropped: control characters other than newline and tab, and the Unicode
/// bidi controls (embeddings, overrides, isolates, marks).
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` without the characters [`is_unsafe`] names; borrowed when there are none.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe) {
        Cow::Owned(text.chars().filter(|&c| !is_unsafe(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_controls_and_bidi_keeps_lines_and_tabs() {
        let dirty = "a\u{1b}[31mred\u{7}\u{0}\u{202e}gpj.exe\r\n\tb\u{2066}c";
        assert_eq!(clean(dirty), "a[31mredgpj.exe\n\tbc");
        assert!(matches!(clean("面经 ok\n"), Cow::Borrowed(_)));
    }
}
