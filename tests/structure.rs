//! The shape the architecture promises, checked on the source itself: no
//! import circle between sibling modules of any crate, and no production
//! file (Rust or the page's JavaScript) over 600 lines. Tests live beside
//! the code in `tests.rs`/`*_tests.rs` files or under `tests/` and do not
//! count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CRATES: &[&str] = &[
    "api/src",
    "daemon/src",
    "agent/src",
    "console/src",
    "client/src",
    "sim/src",
];
const MAX_LINES: usize = 600;

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                files(&p, ext, out);
            }
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn is_test_file(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// A file's module path inside its crate: `server/ops/run.rs` →
/// ["server", "ops", "run"]; `mod.rs`, `lib.rs` and `main.rs` name their
/// directory.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code before the file's inline test module.
fn production(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests {")
        .map_or(text, |i| &text[..i])
}

/// `code` without its comment lines (a doc comment may name a module it
/// does not use).
fn uncommented(code: &str) -> String {
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path the code names: `crate::a::b…` as is, `super::…`
/// resolved from `me` (a `mod.rs` is its directory, so its `super` is the
/// parent's).
fn references(me: &[String], is_mod_file: bool, code: &str) -> Vec<Vec<String>> {
    let mut out = vec![];
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0 {
            let before = code.as_bytes()[start - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue;
            }
        }
        let path: Vec<&str> = code[start..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .filter(|s| !s.is_empty())
            .collect();
        let mut base: Vec<String> = if path[0] == "crate" {
            vec![]
        } else {
            // `super` from a plain file is its directory's module.
            let mut b = me.to_vec();
            if !is_mod_file {
                b.pop();
            }
            b
        };
        let mut rest = &path[1..];
        if path[0] == "super" {
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            if is_mod_file {
                base.pop();
            }
        }
        base.extend(rest.iter().map(|s| s.to_string()));
        out.push(base);
    }
    out
}

#[test]
fn no_import_circle_between_sibling_modules() {
    let mut found = vec![];
    for krate in CRATES {
        let src = Path::new(ROOT).join(krate);
        let mut all = vec![];
        files(&src, "rs", &mut all);
        // Edges between siblings: (parent, from child, to child).
        let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
        let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(&src, f)).collect();
        for f in all.iter().filter(|f| !is_test_file(f)) {
            let me = module_of(&src, f);
            let is_mod = f.file_name().is_some_and(|n| n == "mod.rs");
            let text = std::fs::read_to_string(f).unwrap();
            for target in references(&me, is_mod, &uncommented(production(&text))) {
                // The longest prefix of the path that is a module.
                let Some(t) = (1..=target.len())
                    .rev()
                    .map(|n| target[..n].to_vec())
                    .find(|p| modules.contains(p))
                else {
                    continue;
                };
                let common = me.iter().zip(&t).take_while(|(a, b)| a == b).count();
                if common < me.len() && common < t.len() {
                    edges
                        .entry(me[..common].to_vec())
                        .or_default()
                        .entry(me[common].clone())
                        .or_default()
                        .insert(t[common].clone());
                }
            }
        }
        for (parent, g) in &edges {
            for cycle in cycles(g) {
                found.push(format!(
                    "{krate}/{}: {}",
                    parent.join("/"),
                    cycle.join(" → ")
                ));
            }
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        if let Some(ws) = t.g.get(v) {
            for w in ws {
                if !t.index.contains_key(w.as_str()) {
                    visit(t, w);
                    let lw = t.low[w.as_str()];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.stack.contains(&w.as_str()) {
                    let iw = t.index[w.as_str()];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = vec![];
            while let Some(w) = t.stack.pop() {
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        out: vec![],
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_production_file_over_600_lines() {
    let mut long = vec![];
    let mut checked = 0;
    for (dir, ext) in CRATES
        .iter()
        .map(|c| (*c, "rs"))
        .chain([("console/web", "js")])
    {
        let mut all = vec![];
        files(&Path::new(ROOT).join(dir), ext, &mut all);
        for f in all.iter().filter(|f| !is_test_file(f)) {
            let text = std::fs::read_to_string(f).unwrap();
            let n = production(&text).lines().count();
            checked += 1;
            if n > MAX_LINES {
                long.push(format!(
                    "{} ({n} lines)",
                    f.strip_prefix(ROOT).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 100, "only {checked} files found");
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_a_circle() {
    // A blind checker passes everything: it must find a planted circle.
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["c".to_string()].into()),
        ("c".to_string(), ["a".to_string()].into()),
        ("d".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let me = vec!["server".to_string(), "ops".to_string(), "run".to_string()];
    assert_eq!(
        references(
            &me,
            false,
            "use super::plan::Plan; use crate::server::picture;"
        ),
        vec![
            vec!["server".to_string(), "picture".to_string()],
            vec![
                "server".to_string(),
                "ops".to_string(),
                "plan".to_string(),
                "Plan".to_string()
            ],
        ]
    );
}
