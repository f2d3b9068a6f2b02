//! A provider's API keys grouped by project: which projects still have a usable key, which
//! key of a project the next request uses, and keys disabled for the run.
//!
//! Quotas belong to projects, not keys: rotating among one project's keys spreads the
//! requests over its keys but adds no quota, so the engine asks the ring for projects and
//! only then for a key of the chosen project.

use crate::config::ApiKey;
use std::collections::{BTreeMap, HashMap};

struct Entry {
    key: Option<ApiKey>,
    project: String,
    disabled: bool,
}

pub(crate) struct KeyRing {
    /// In configuration order: projects are offered in the order their first key appears.
    entries: Vec<Entry>,
    /// Per project, how many keys it has handed out: the next one is this modulo its keys.
    next_key: HashMap<String, usize>,
    /// Requests handed out across projects: where the next rotation over projects starts.
    next_project: usize,
}

impl KeyRing {
    /// `keys` empty means a provider without keys: one pseudo-project named `provider`
    /// with no key.
    pub fn new(provider: &str, keys: &[ApiKey]) -> KeyRing {
        let entries = if keys.is_empty() {
            vec![Entry { key: None, project: provider.to_string(), disabled: false }]
        } else {
            keys.iter().map(|k| Entry { key: Some(k.clone()), project: k.project.clone(), disabled: false }).collect()
        };
        KeyRing { entries, next_key: HashMap::new(), next_project: 0 }
    }

    fn enabled(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.disabled)
    }

    /// The projects that still have a usable key, in configuration order.
    pub fn projects(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for e in self.enabled() {
            if !seen.contains(&e.project) {
                seen.push(e.project.clone());
            }
        }
        seen
    }

    /// The usable projects, starting from a rotating one so load spreads over projects
    /// serving one model.
    pub fn rotated_projects(&self) -> Vec<String> {
        let mut projects = self.projects();
        if !projects.is_empty() {
            let start = self.next_project % projects.len();
            projects.rotate_left(start);
        }
        projects
    }

    /// The key the next request to `project` uses (`None` for a provider without keys),
    /// and moves both rotations on. `None` too when the project has no usable key left.
    pub fn take_key(&mut self, project: &str) -> Option<ApiKey> {
        let candidates: Vec<usize> = (0..self.entries.len())
            .filter(|&i| !self.entries[i].disabled && self.entries[i].project == project)
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let n = self.next_key.entry(project.to_string()).or_insert(0);
        let pick = candidates[*n % candidates.len()];
        *n = n.wrapping_add(1);
        self.next_project = self.next_project.wrapping_add(1);
        self.entries[pick].key.clone()
    }

    /// Disables every key named `key_id` for the run; returns the projects of the keys
    /// this disabled (empty when they already were), so the caller says it once.
    pub fn disable(&mut self, key_id: &str) -> Vec<String> {
        let mut newly = Vec::new();
        for e in self.entries.iter_mut().filter(|e| e.key.as_ref().is_some_and(|k| k.id == key_id)) {
            if !e.disabled {
                e.disabled = true;
                newly.push(e.project.clone());
            }
        }
        newly
    }

    /// The keys that are still enabled.
    pub fn keys(&self) -> Vec<Option<ApiKey>> {
        self.enabled().map(|e| e.key.clone()).collect()
    }

    /// Projects that have more than one key (rotating among them adds no quota).
    pub fn shared_projects(&self) -> Vec<(String, usize)> {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for e in self.entries.iter().filter(|e| e.key.is_some()) {
            *count.entry(e.project.clone()).or_default() += 1;
        }
        count.into_iter().filter(|(_, n)| *n > 1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[(&str, &str)]) -> KeyRing {
        let keys: Vec<ApiKey> =
            keys.iter().map(|(n, p)| ApiKey::new(Some(n.to_string()), p.to_string(), format!("secret-{n}"))).collect();
        KeyRing::new("gemini", &keys)
    }

    fn id(key: Option<ApiKey>) -> String {
        key.map(|k| k.id).unwrap_or_else(|| "-".into())
    }

    #[test]
    fn no_keys_is_one_keyless_project_named_after_the_provider() {
        let mut r = KeyRing::new("local", &[]);
        assert_eq!(r.projects(), ["local"]);
        assert!(r.take_key("local").is_none());
        assert_eq!(r.keys().len(), 1);
        assert!(r.shared_projects().is_empty());
    }

    #[test]
    fn keys_of_a_project_take_turns() {
        let mut r = ring(&[("a1", "p"), ("b", "q"), ("a2", "p")]);
        assert_eq!(r.projects(), ["p", "q"]);
        let picks: Vec<String> = (0..4).map(|_| id(r.take_key("p"))).collect();
        assert_eq!(picks, ["a1", "a2", "a1", "a2"]);
        assert_eq!(id(r.take_key("q")), "b");
        assert_eq!(r.shared_projects(), [("p".to_string(), 2)]);
    }

    #[test]
    fn projects_rotate_with_every_key_handed_out() {
        let mut r = ring(&[("a", "p"), ("b", "q"), ("c", "s")]);
        assert_eq!(r.rotated_projects(), ["p", "q", "s"]);
        r.take_key("p");
        assert_eq!(r.rotated_projects(), ["q", "s", "p"]);
        r.take_key("q");
        assert_eq!(r.rotated_projects(), ["s", "p", "q"]);
    }

    #[test]
    fn a_disabled_key_is_skipped_and_said_once() {
        let mut r = ring(&[("a1", "p"), ("a2", "p"), ("b", "q")]);
        assert_eq!(r.disable("a1"), ["p"]);
        assert!(r.disable("a1").is_empty());
        assert_eq!(id(r.take_key("p")), "a2");
        assert_eq!(id(r.take_key("p")), "a2");
        assert_eq!(r.keys().len(), 2);
        // A project whose last key goes is no longer offered.
        r.disable("a2");
        assert_eq!(r.projects(), ["q"]);
        assert!(r.take_key("p").is_none());
        assert!(r.disable("nope").is_empty());
    }
}
