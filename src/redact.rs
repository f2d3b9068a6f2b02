//! Scrubs anything key-shaped from text that came back from a server, before it reaches
//! a log, the ledger or an error message. Servers echo keys more often than one would think
//! (in URLs, in "consumer" names); postmill's rule is that no prefix of a key ever shows.

use regex::Regex;
use std::sync::LazyLock;

/// Everything shaped like a key: Google's (with the `...` a log may cut it with), OpenAI's
/// `sk-…`, a server's masked echo (`sk-proj-****xyz9`), a bearer token.
static KEY_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"AIza[0-9A-Za-z_\-]*(\.\.\.)?|sk-[^\s,.;:'`]+|\S*\*{3,}\S*|(?i:bearer)\s+\S+").expect("valid regex")
});

/// Removes `secret`, any word holding its first six characters (a server's partial echo),
/// and anything shaped like a key from `text`: the one rule for every message, log line
/// and ledger row, the strictest of what each provider needs.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    let mut out = text.to_string();
    if let Some(s) = secret.filter(|s| s.len() >= 4) {
        out = out.replace(s, "[key]");
        let prefix: String = s.chars().take(6).collect();
        if prefix.chars().count() == 6 && out.contains(&prefix) {
            out = out.split(' ').map(|w| if w.contains(&prefix) { "[key]" } else { w }).collect::<Vec<_>>().join(" ");
        }
    }
    KEY_LIKE.replace_all(&out, "[key]").into_owned()
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
        assert_eq!(redact("key AIzaSyBHZw... used", None), "key [key] used");
        // A server's masked echo, and a partial echo of a key of another shape (GLM's).
        let masked = redact("Incorrect API key provided: sk-proj-****************xyz9.", None);
        assert!(!masked.contains("xyz9") && !masked.contains("sk-proj"), "{masked}");
        assert!(!redact("invalid token 1a2b3c4d5e6f.Ab", Some("1a2b3c4d5e6f.AbCdEfGh")).contains("1a2b3c"));
        assert_eq!(redact("model not found", None), "model not found");
    }
}
