//! Scrubs anything key-shaped from text that came back from a server, before it reaches
//! a log, the ledger or an error message. Servers echo keys more often than one would think
//! (in URLs, in "consumer" names); postmill's rule is that no prefix of a key ever shows.

use regex::Regex;
use std::sync::LazyLock;

static GOOGLE_KEY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"AIza[0-9A-Za-z_\-]*").expect("valid regex"));
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(sk-[0-9A-Za-z_\-]{4,}|bearer\s+\S+)").expect("valid regex"));

/// Removes `secret` (and anything shaped like a Google or OpenAI key) from `text`.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(s) = secret.filter(|s| s.len() >= 4) {
        out = out.replace(s, "[key]");
    }
    let out = GOOGLE_KEY.replace_all(&out, "[key]");
    BEARER.replace_all(&out, "[key]").into_owned()
}

/// Cuts a server message to a length fit for one log line.
pub fn shorten(text: &str, max_chars: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max_chars {
        one_line
    } else {
        let cut: String = one_line.chars().take(max_chars).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_prefix_survives() {
        let t = redact("switched to AIzaSyBHZw... and AIzaSyATTa1234567890 key", Some("topsecret"));
        assert!(!t.contains("AIza"), "{t}");
        assert_eq!(redact("x topsecret y", Some("topsecret")), "x [key] y");
        assert!(!redact("Authorization: Bearer sk-abcdef123", None).contains("sk-abc"));
    }
}
