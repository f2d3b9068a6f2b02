//! Post ids become folder names only after sanitising: no separators, no `..`, no control
//! characters, at most 120 bytes; collisions get a short hash suffix.

use sha2::{Digest, Sha256};
use std::collections::HashSet;

const MAX_BYTES: usize = 120;

/// A file-name-safe form of `id`. Not unique by itself: see [`Allocator`].
pub fn sanitize(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    out = out.trim().trim_matches('.').to_string();
    while out.contains("..") {
        out = out.replace("..", "_");
    }
    if out.is_empty() {
        out = "post".into();
    }
    truncate(&out, MAX_BYTES).to_string()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn short_hash(id: &str) -> String {
    let d = Sha256::digest(id.as_bytes());
    d.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// Hands out unique safe ids for one batch.
#[derive(Default)]
pub struct Allocator {
    used: HashSet<String>,
}

impl Allocator {
    pub fn allocate(&mut self, id: &str) -> String {
        let base = sanitize(id);
        // A sanitised id that differs from the original could collide with another post's
        // id in a later batch, so it always carries the hash of the original.
        let candidate = if base == id && !self.used.contains(&base) {
            base
        } else {
            let h = short_hash(id);
            format!("{}-{h}", truncate(&base, MAX_BYTES - 9))
        };
        self.used.insert(candidate.clone());
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_are_tamed() {
        assert_eq!(sanitize("a/b\\c"), "a_b_c");
        assert_eq!(sanitize(".."), "post");
        let s = sanitize("../../etc");
        assert!(!s.contains("..") && !s.contains('/'), "{s}");
        assert!(!sanitize("x\u{0}y\ny").contains('\n'));
        let long = "面".repeat(100);
        let s = sanitize(&long);
        assert!(s.len() <= 120 && s.chars().all(|c| c == '面'));
    }

    #[test]
    fn collisions_get_suffixes() {
        let mut a = Allocator::default();
        let x = a.allocate("a/b");
        let y = a.allocate("a_b");
        let z = a.allocate("a:b");
        assert_eq!(y, "a_b");
        assert_ne!(x, z);
        assert!(x.starts_with("a_b-") && z.starts_with("a_b-"));
    }
}
