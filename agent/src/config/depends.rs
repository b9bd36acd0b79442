//! `depends_on`: each name resolved to the processes it stands for (every
//! instance of a program, or of every program in a group), unknown names
//! and start-order cycles reported where they are written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::model::ProcessSpec;
use super::program::Program;
use super::validate::Ctx;

/// Fills each process's `depends_on` with full process names.
pub(crate) fn resolve(
    cx: &mut Ctx,
    programs: &[Program],
    group_of: &HashMap<String, String>,
    processes: &mut [ProcessSpec],
) {
    fn group<'a>(group_of: &'a HashMap<String, String>, p: &'a str) -> &'a str {
        group_of.get(p).map(String::as_str).unwrap_or(p)
    }
    let mut members: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in programs {
        members
            .entry(group(group_of, &p.name))
            .or_default()
            .push(&p.name);
    }
    let known: BTreeSet<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    // Program → the programs it waits for.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in programs {
        let label = format!("program.{}.depends_on", p.name);
        for (name, loc) in &p.depends_on {
            let targets: Vec<&str> = match name.strip_prefix("group:") {
                Some(g) => match members.get(g) {
                    Some(m) => m.clone(),
                    None => {
                        cx.error(loc, format!("{label}: no group named {g:?}"));
                        continue;
                    }
                },
                None if known.contains(name.as_str()) => vec![name.as_str()],
                None => {
                    let hint = match members.contains_key(name.as_str()) {
                        true => format!(" ({name:?} is a group: write \"group:{name}\")"),
                        false => String::new(),
                    };
                    cx.error(loc, format!("{label}: no program named {name:?}{hint}"));
                    continue;
                }
            };
            if targets.contains(&p.name.as_str()) {
                cx.error(
                    loc,
                    format!(
                        "{label}: {name:?} is {} itself; a program cannot wait for itself",
                        p.name
                    ),
                );
                continue;
            }
            edges.entry(&p.name).or_default().extend(targets);
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let first = programs
            .iter()
            .find(|p| p.name == cycle[0])
            .expect("a program of the graph");
        let loc = &first.depends_on[0].1;
        cx.error(
            loc,
            format!(
                "program.{}.depends_on: start-order cycle: {}",
                first.name,
                cycle.join(" -> ")
            ),
        );
        return;
    }
    let mut by_program: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in processes.iter() {
        by_program
            .entry(&s.program)
            .or_default()
            .push(s.full_name());
    }
    let full: BTreeMap<String, Vec<String>> = edges
        .iter()
        .map(|(p, deps)| {
            let mut names: Vec<String> = deps
                .iter()
                .flat_map(|d| by_program.get(d).cloned().unwrap_or_default())
                .collect();
            names.sort();
            (p.to_string(), names)
        })
        .collect();
    for s in processes.iter_mut() {
        if let Some(d) = full.get(&s.program) {
            s.depends_on = d.clone();
        }
    }
}

/// A cycle as program names, first repeated at the end, if there is one.
fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(n) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|p| *p == n).expect("on the path");
                let mut cycle = path[start..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(n, Mark::Open);
        path.push(n);
        for &d in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, edges, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(n, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for &n in edges.keys() {
        if let Some(c) = visit(n, edges, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// Start rank: 0 for a process that waits for nothing, else one more than
/// the highest rank it waits for. Starts go by (rank, priority), stops in
/// reverse, so a dependency always starts before and stops after the
/// processes that wait for it, whatever their priorities.
pub fn ranks<'a>(specs: impl Iterator<Item = &'a ProcessSpec> + Clone) -> HashMap<String, u32> {
    let deps: HashMap<String, &[String]> = specs
        .clone()
        .map(|s| (s.full_name(), s.depends_on.as_slice()))
        .collect();
    fn rank(
        n: &str,
        deps: &HashMap<String, &[String]>,
        memo: &mut HashMap<String, u32>,
        depth: u32,
    ) -> u32 {
        if let Some(&r) = memo.get(n) {
            return r;
        }
        // The load refuses cycles; the depth bound keeps a bug from
        // becoming a stack overflow.
        let r = match deps.get(n) {
            Some(ds) if depth < 64 => ds
                .iter()
                .map(|d| rank(d, deps, memo, depth + 1) + 1)
                .max()
                .unwrap_or(0),
            _ => 0,
        };
        memo.insert(n.to_owned(), r);
        r
    }
    let mut memo = HashMap::new();
    for s in specs {
        rank(&s.full_name(), &deps, &mut memo, 0);
    }
    memo
}
