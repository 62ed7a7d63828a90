//! The gateway's files depend on each other one way: no file-level import circle.
//!
//! Each source file is a module; it depends on another when its code (comments and its own
//! `#[cfg(test)] mod tests` left out) names it through `crate::…` (a name the crate root
//! re-exports counts as the module that defines it) or `super::…`. A circle is reported with the
//! paths that close it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `cache/mod.rs` → `cache`, `cache/key.rs` → `cache::key`, `lib.rs` → ``.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut m = parts.join("::");
    if m == "lib" {
        m.clear();
    } else if let Some(parent) = m.strip_suffix("::mod") {
        m = parent.to_owned();
    }
    m
}

/// The code of a file without comments and without its inline test module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every `prefix…` path in `code`, as its segments (a `{…}` group expanded one level).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            let n = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
            if n == 0 {
                break;
            }
            segs.push(s[..n].to_owned());
            s = &s[n..];
            if let Some(t) = s.strip_prefix("::") {
                s = t;
                if let Some(group) = s.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let mut path = segs.clone();
                        path.extend(
                            item.trim()
                                .split("::")
                                .map(|p| p.trim().to_owned())
                                .filter(|p| !p.is_empty() && p.chars().all(is_ident)),
                        );
                        out.push(path);
                    }
                    segs.clear();
                    break;
                }
            } else {
                break;
            }
        }
        if !segs.is_empty() {
            out.push(segs);
        }
    }
    out
}

#[test]
fn no_file_level_import_circle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .map(|f| (module_of(&root, f), std::fs::read_to_string(f).unwrap()))
        .collect();
    // names the crate root re-exports, mapped to the module that defines them
    let mut reexported = BTreeMap::new();
    for path in paths_after(&modules[""], "pub use ") {
        if let (Some(first), Some(name)) = (path.first(), path.last()) {
            if modules.contains_key(first.as_str()) {
                reexported.insert(name.clone(), first.clone());
            }
        }
    }
    let longest = |segs: &[String]| {
        (1..=segs.len())
            .rev()
            .map(|n| segs[..n].join("::"))
            .find(|m| modules.contains_key(m.as_str()))
    };
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &modules {
        if module.is_empty() || module.ends_with("tests") || module.ends_with("fuzz") {
            continue;
        }
        let code = code(text);
        let mut deps = BTreeSet::new();
        for segs in paths_after(&code, "crate::") {
            match longest(&segs) {
                Some(m) if !m.is_empty() => {
                    deps.insert(m);
                }
                _ => {
                    if let Some(m) = segs.first().and_then(|s| reexported.get(s)) {
                        deps.insert(m.clone());
                    }
                }
            }
        }
        let is_mod_rs = text.is_empty()
            || modules
                .keys()
                .any(|m| m.starts_with(&format!("{module}::")));
        let parent = if is_mod_rs {
            module.clone()
        } else {
            module
                .rsplit_once("::")
                .map_or(String::new(), |(p, _)| p.to_owned())
        };
        for segs in paths_after(&code, "super::") {
            let mut full: Vec<String> = parent
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            full.extend(segs);
            if let Some(m) = longest(&full) {
                deps.insert(m);
            }
        }
        deps.remove(module);
        deps.remove("");
        edges.insert(module, deps);
    }
    // a depth-first search that reports the first circle it closes
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<&str, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == m) {
            let mut circle: Vec<String> = stack[i..].iter().map(|s| (*s).to_owned()).collect();
            circle.push(m.to_owned());
            return Some(circle);
        }
        if !done.insert(m) {
            return None;
        }
        stack.push(m);
        for d in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        let mut stack = Vec::new();
        if let Some(circle) = visit(m, &edges, &mut stack, &mut done) {
            panic!(
                "import circle between the gateway's files: {}",
                circle.join(" → ")
            );
        }
    }
    assert!(edges.len() > 40, "the scan found the gateway's files");
}
