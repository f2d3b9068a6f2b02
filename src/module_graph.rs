//! The architecture, checked: which top-level module imports which, read from the source.
//!
//! Every module has a layer; an import may only reach a lower one. That keeps the graph
//! acyclic and the data flowing one way (nothing imports from a stage after it), and the
//! vocabulary modules at the bottom import nothing from the crate. The graph printed in
//! `docs/ARCHITECTURE.md` is this one: the test fails, printing the new block, when they
//! differ (`POSTMILL_UPDATE_DOCS=1` writes it). A new module must be given a layer here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, from the bottom. A module may import only from layers below its own.
const LAYERS: &[&[&str]] = &[
    // The vocabulary: leaves that import nothing from the crate.
    &["atomic", "attempt", "blocking", "clock", "config", "error", "halt", "progress", "redact", "sanitize", "task"],
    &["store", "summary"],
    &["input", "ledger", "output"],
    &["provider", "quota"],
    &["audit", "digest", "scheduler"],
    &["pipeline"],
    &["pack"],
    &["batch"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The source without its `#[cfg(test)] mod … { … }` blocks and `//` comments: tests may
/// reach anywhere, and a comment naming a module is no import.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{').filter(|&o| after[..o].contains("mod ")) else {
            // `#[cfg(test)] mod tests;` or a test-only item without a body: skip the attribute.
            out.push_str("#[cfg(test)]");
            rest = &after["#[cfg(test)]".len()..];
            continue;
        };
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

fn rust_files(path: &Path, into: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).unwrap().flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            rust_files(&p, into);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        into.push(path.to_path_buf());
    }
}

/// Top-level module → the top-level modules its non-test code names through `crate::`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib"
            || name == "main"
            || name == "module_graph"
            || (path.is_file() && path.extension().is_none_or(|e| e != "rs"))
        {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&path, &mut files);
        modules.entry(name).or_insert_with(Vec::new).extend(files);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let single = regex::Regex::new(r"crate::(\w+)").unwrap();
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let mut edges = BTreeMap::new();
    for (module, files) in &modules {
        let mut deps = BTreeSet::new();
        for file in files {
            let code = code_only(&std::fs::read_to_string(file).unwrap());
            let mut named: Vec<String> = single.captures_iter(&code).map(|c| c[1].to_string()).collect();
            for c in group.captures_iter(&code) {
                named.extend(c[1].split(',').filter_map(|p| p.trim().split("::").next()).map(|s| s.trim().to_string()));
            }
            deps.extend(named.into_iter().filter(|n| n != module && names.contains(n)));
        }
        edges.insert(module.clone(), deps);
    }
    edges
}

/// The graph as the architecture document shows it, highest layer first.
fn render(edges: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from("```text\n");
    for layer in LAYERS.iter().rev() {
        for module in layer.iter().filter(|m| edges.contains_key(**m)) {
            let deps = &edges[*module];
            let list = if deps.is_empty() {
                "(nothing)".to_string()
            } else {
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            out.push_str(&format!("{module:<10} → {list}\n"));
        }
    }
    out.push_str("```\n");
    out
}

#[test]
fn every_import_reaches_down_and_the_document_shows_the_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let edges = graph(&root.join("src"));
    assert!(edges.len() > 15, "the scan found the modules: {edges:?}");
    let mut wrong = Vec::new();
    for (module, deps) in &edges {
        let Some(own) = layer_of(module) else {
            wrong.push(format!("`{module}` has no layer in src/module_graph.rs"));
            continue;
        };
        for dep in deps {
            match layer_of(dep) {
                Some(l) if l < own => {}
                _ => wrong.push(format!("`{module}` imports `{dep}`, which is not below it")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let (start, end) = ("<!-- module-graph:start -->\n", "<!-- module-graph:end -->");
    let shown = doc
        .find(start)
        .and_then(|s| doc[s + start.len()..].find(end).map(|e| &doc[s + start.len()..s + start.len() + e]));
    let expected = render(&edges);
    if shown != Some(expected.as_str()) && std::env::var_os("POSTMILL_UPDATE_DOCS").is_some() {
        // `POSTMILL_UPDATE_DOCS=1 cargo test --lib module_graph` writes the new block.
        let s = doc.find(start).expect("the start marker") + start.len();
        let e = s + doc[s..].find(end).expect("the end marker");
        std::fs::write(root.join("docs/ARCHITECTURE.md"), format!("{}{expected}{}", &doc[..s], &doc[e..])).unwrap();
        return;
    }
    assert_eq!(
        shown,
        Some(expected.as_str()),
        "docs/ARCHITECTURE.md's module graph is out of date; between the markers it should read:\n{expected}"
    );
}

#[test]
fn the_scan_sees_imports_and_skips_tests_and_comments() {
    let code = "use crate::quota::X;\n// crate::digest\nuse crate::{store, task::Y};\n#[cfg(test)]\nmod tests {\n    use crate::commands;\n    fn f() { {} }\n}\nfn g() { crate::halt::Halt::new(); }\n";
    let kept = code_only(code);
    assert!(kept.contains("crate::quota") && kept.contains("crate::halt"), "{kept}");
    assert!(!kept.contains("commands") && !kept.contains("digest"), "{kept}");
}
