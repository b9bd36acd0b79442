//! supervisord add-ons fleet does natively: the
//! supervisord-dependent-startup plugin (`dependent_startup_*` keys and
//! its event listener) becomes `depends_on`, and superlance's `httpok`
//! listeners become `[program.X.health]` http checks (`httpok.rs`). What
//! does not map is a warning; any other event listener is left to the
//! generic "not converted".
//!
//! The plugin's rules, from its source (bendikro/supervisord-dependent-startup
//! 1.4): `dependent_startup_wait_for` is split at spaces into `NAME` or
//! `NAME:STATE[,STATE...]` (no state: RUNNING; any one listed state will
//! do), NAME is looked up among the `[program:x]` names only (an unknown
//! one is dropped with a warning), a program it handles must say
//! `autostart=false` (otherwise it logs an error and leaves the program to
//! supervisord), and a start-order cycle makes it exit having started
//! nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::context::{fleet_name, raw_name, Cx};
use super::datatypes::boolean;
use super::output::{Block, Val};
use super::{httpok, Ent, Sec};

/// The plugin's keys in a `[program:x]` (others with its prefix get their
/// own warning).
pub(super) const DEPENDENT_STARTUP_KEYS: &[&str] = &[
    "dependent_startup",
    "dependent_startup_wait_for",
    "dependent_startup_inherit_priority",
];

/// The states the plugin accepts in `dependent_startup_wait_for`.
const STATES: &[&str] = &[
    "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
];

/// The program a listener's command runs: `argv[0]`'s file name, or past
/// an interpreter (`python3 -u /path/x.py`, `python -m module`, `env`),
/// the script's file name or the module's name.
pub(super) fn listener_program(argv: &[String]) -> Option<(String, usize)> {
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_owned();
    let mut i = 0;
    while let Some(a) = argv.get(i) {
        let b = base(a);
        let interpreter = b == "env" || b.starts_with("python") || b.starts_with("pypy");
        if !interpreter {
            return Some((b, i));
        }
        i += 1;
        // The interpreter's own flags; `-m MODULE` names the program.
        // (`env` also takes NAME=VALUE settings.)
        while let Some(flag) = argv
            .get(i)
            .filter(|f| f.starts_with('-') || (b == "env" && f.contains('=')))
        {
            if flag == "-m" {
                return argv.get(i + 1).map(|m| (m.clone(), i + 1));
            }
            i += 1;
        }
    }
    None
}

/// Whether an `[eventlistener:x]` runs the dependent-startup plugin.
pub(super) fn is_plugin(sec: &Sec) -> bool {
    let Some(argv) = sec
        .get("command")
        .and_then(|c| shell_words::split(&c.value).ok())
    else {
        return false;
    };
    listener_program(&argv).is_some_and(|(p, _)| {
        let p = p.strip_suffix(".py").unwrap_or(&p).replace('-', "_");
        p == "supervisord_dependent_startup"
    })
}

/// An `[eventlistener:x]` fleet replaces natively; false for any other
/// (and for an httpok that cannot become a health check), which the
/// caller then keeps as a listener that runs unchanged.
pub(super) fn listener(
    cx: &mut Cx,
    sec: &Sec,
    group_of: &HashMap<String, String>,
    blocks: &mut Vec<Block>,
) -> bool {
    if is_plugin(sec) {
        cx.warn(sec, None, "not needed: fleet orders starts itself (start order: depends_on; the programs' dependent_startup_wait_for became depends_on); left out");
        return true;
    }
    let Some(argv) = sec
        .get("command")
        .and_then(|c| shell_words::split(&c.value).ok())
    else {
        return false;
    };
    match listener_program(&argv) {
        Some((p, at)) if matches!(p.as_str(), "httpok" | "httpok.py" | "superlance.httpok") => {
            let done = httpok::convert(cx, sec, &argv[at + 1..], group_of, blocks);
            if !done {
                cx.warn(
                    sec,
                    None,
                    "kept as an event listener: httpok runs unchanged under fleet-agent",
                );
            }
            done
        }
        _ => false,
    }
}

/// One `depends_on` entry and the programs it stands for.
struct Dep {
    name: String,
    targets: Vec<String>,
}

/// A converted program with the plugin's keys.
struct Waits<'a> {
    sec: &'a Sec,
    block: usize,
    deps: Vec<Dep>,
}

/// `dependent_startup_wait_for = redis:running web:running` →
/// `depends_on` on each converted program (`programs`: its section and
/// its block's index), once every program is known.
pub(super) fn dependent_startup(
    cx: &mut Cx,
    programs: &[(&Sec, usize)],
    group_of: &HashMap<String, String>,
    blocks: &mut [Block],
) {
    let plugin = cx
        .doc
        .sections
        .iter()
        .any(|s| s.name.starts_with("eventlistener:") && is_plugin(s));
    let known: BTreeSet<String> = programs
        .iter()
        .map(|(s, _)| fleet_name(&raw_name(s)))
        .collect();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, g) in group_of {
        if known.contains(&fleet_name(p)) {
            members.entry(g.clone()).or_default().push(fleet_name(p));
        }
    }
    let mut all = Vec::new();
    for &(sec, block) in programs {
        let Some(enabled) = enabled(cx, sec) else {
            continue;
        };
        if let Some(e) = sec.get("dependent_startup_inherit_priority") {
            cx.warn(sec, Some(e), "not needed: fleet starts a program after what it depends on whatever the priorities (a dependency always starts first and stops last)");
        }
        for e in &sec.entries {
            if e.key.starts_with("dependent_startup")
                && !DEPENDENT_STARTUP_KEYS.contains(&e.key.as_str())
            {
                cx.warn(sec, Some(e), "not an option of the dependent-startup plugin (it reads dependent_startup, dependent_startup_wait_for and dependent_startup_inherit_priority); not converted");
            }
        }
        if !enabled {
            if let Some(wait) = sec.get("dependent_startup_wait_for") {
                cx.warn(sec, Some(wait), "dependent_startup is not true: the plugin ignores dependent_startup_wait_for, so does import");
            }
            continue;
        }
        autostart(cx, sec, plugin, &mut blocks[block]);
        let me = fleet_name(&raw_name(sec));
        let deps = match sec.get("dependent_startup_wait_for") {
            Some(wait) => wait_for(cx, sec, wait, &me, &known, &members),
            None => Vec::new(),
        };
        all.push(Waits { sec, block, deps });
    }
    break_cycles(cx, &mut all);
    for w in all {
        if !w.deps.is_empty() {
            let names = w.deps.into_iter().map(|d| d.name).collect();
            blocks[w.block].set("depends_on", Val::Strs(names));
        }
    }
}

/// `dependent_startup`: `None` when the program does not mention the
/// plugin at all.
fn enabled(cx: &mut Cx, sec: &Sec) -> Option<bool> {
    if !sec
        .entries
        .iter()
        .any(|e| e.key.starts_with("dependent_startup"))
    {
        return None;
    }
    let Some(e) = sec.get("dependent_startup") else {
        return Some(false);
    };
    Some(boolean(e.value.trim()).unwrap_or_else(|m| {
        cx.warn(
            sec,
            Some(e),
            format!("{m}: the plugin cannot read it; taken as false"),
        );
        false
    }))
}

/// The plugin wants `autostart=false` (it starts the program itself);
/// fleet's own start order replaces it, so the program autostarts again
/// when the plugin's listener is in this config.
fn autostart(cx: &mut Cx, sec: &Sec, plugin: bool, block: &mut Block) {
    let off = |i: &super::output::Item| i.key == "autostart" && i.val == Val::Bool(false);
    let at = sec.get("autostart");
    match (block.items.iter().any(off), plugin) {
        (true, true) => {
            block.items.retain(|i| !off(i));
            cx.warn(sec, at, "info: autostart=false was for the dependent-startup plugin, which started it; fleet starts it itself in depends_on order, so it autostarts (autostart = false left out)");
        }
        (true, false) => cx.warn(sec, at, "no [eventlistener:x] here runs supervisord_dependent_startup, so nothing started this program: autostart = false kept; if the plugin's listener is configured elsewhere, remove autostart = false (fleet starts it in depends_on order)"),
        (false, _) => cx.warn(sec, sec.get("dependent_startup"), "the plugin requires autostart=false with dependent_startup=true; without it, it leaves this program to supervisord (started at once, its dependent_startup_wait_for unused); depends_on written as the config meant"),
    }
}

/// The entries of one `dependent_startup_wait_for`, as `depends_on` names.
fn wait_for(
    cx: &mut Cx,
    sec: &Sec,
    wait: &Ent,
    me: &str,
    known: &BTreeSet<String>,
    members: &BTreeMap<String, Vec<String>>,
) -> Vec<Dep> {
    let mut deps: Vec<Dep> = Vec::new();
    for item in wait.value.split_whitespace() {
        let parts: Vec<&str> = item.split(':').collect();
        let name = parts[0];
        let mut states = vec!["RUNNING".to_owned()];
        match parts.len() {
            1 => {}
            2 => {
                states = parts[1].split(',').map(str::to_ascii_uppercase).collect();
                let (valid, bad): (Vec<String>, Vec<String>) =
                    states.into_iter().partition(|s| STATES.contains(&s.as_str()));
                for b in bad {
                    cx.warn(sec, Some(wait), format!("{item:?}: the plugin ignores the state {b:?} (it knows {})", STATES.join(", ")));
                }
                states = valid;
            }
            _ => cx.warn(sec, Some(wait), format!("{item:?}: the plugin reads NAME or NAME:STATES, so it takes this as {name:?} waiting for RUNNING (the rest is ignored)")),
        }
        let fname = fleet_name(name);
        let (dep, targets) = if known.contains(&fname) {
            (fname.clone(), vec![fname])
        } else if let Some(m) = members.get(&fname) {
            cx.warn(sec, Some(wait), format!("{name:?} is a group: the plugin looks up program names only (it drops this one as unknown); written as depends_on \"group:{fname}\", every program of the group"));
            (format!("group:{fname}"), m.clone())
        } else {
            cx.warn(sec, Some(wait), format!("{name:?} is no program or group here (the plugin drops an unknown name too); left out of depends_on"));
            continue;
        };
        if targets.iter().any(|t| t == me) {
            cx.warn(sec, Some(wait), format!("{item:?}: {me} cannot wait for itself (the plugin refuses this cycle); left out of depends_on"));
            continue;
        }
        match states.as_slice() {
            [one] if one == "RUNNING" => {}
            [] => cx.warn(sec, Some(wait), format!("{item:?}: no state left, so the plugin would never start {me}; kept as a dependency on {dep:?} (fleet waits for it to be RUNNING)")),
            _ if states.iter().any(|s| s == "RUNNING") => cx.warn(sec, Some(wait), format!(
                "{item:?}: the plugin took any of {}; fleet waits for a dependency to be RUNNING \
                 (and healthy, with a check); kept as a dependency on {dep:?}", states.join(", ")
            )),
            _ => cx.warn(sec, Some(wait), format!(
                "{item:?}: fleet waits for a dependency to be RUNNING (and healthy, with a check), not {}; \
                 kept as a dependency on {dep:?}", states.join(" or ")
            )),
        }
        if !deps.iter().any(|d| d.name == dep) {
            deps.push(Dep { name: dep, targets });
        }
    }
    deps
}

/// Drops the entry closing each start-order cycle (fleet refuses a cycle
/// at load; the plugin exits on one having started nothing), with a
/// warning naming the cycle.
fn break_cycles(cx: &mut Cx, all: &mut [Waits]) {
    loop {
        let of = |w: &Waits| fleet_name(&raw_name(w.sec));
        let index: HashMap<String, usize> =
            all.iter().enumerate().map(|(i, w)| (of(w), i)).collect();
        let Some(path) = find_cycle(all, &index) else {
            return;
        };
        // The last program on the path waits for the first.
        let (&last, &first) = (path.last().unwrap(), path.first().unwrap());
        let target = of(&all[first]);
        let names: Vec<String> = path
            .iter()
            .map(|&i| of(&all[i]))
            .chain([target.clone()])
            .collect();
        let w = &mut all[last];
        let Some(at) = w.deps.iter().position(|d| d.targets.contains(&target)) else {
            return;
        };
        let dep = w.deps.remove(at);
        cx.warn(w.sec, w.sec.get("dependent_startup_wait_for"), format!(
            "start-order cycle {}: the plugin exits on a cycle having started nothing, fleet refuses one; {:?} left out of depends_on, decide the order by hand",
            names.join(" → "), dep.name
        ));
    }
}

/// A cycle as the indexes of the programs on it, in waiting order.
fn find_cycle(all: &[Waits], index: &HashMap<String, usize>) -> Option<Vec<usize>> {
    // 0 unvisited, 1 on the current path, 2 done.
    fn visit(
        i: usize,
        all: &[Waits],
        index: &HashMap<String, usize>,
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = 1;
        path.push(i);
        for t in all[i].deps.iter().flat_map(|d| &d.targets) {
            let Some(&j) = index.get(t) else { continue };
            if mark[j] == 1 {
                let from = path.iter().position(|&p| p == j).unwrap_or(0);
                return Some(path[from..].to_vec());
            }
            if mark[j] == 0 {
                if let Some(c) = visit(j, all, index, mark, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    let mut mark = vec![0u8; all.len()];
    (0..all.len()).find_map(|i| {
        if mark[i] != 0 {
            return None;
        }
        visit(i, all, index, &mut mark, &mut Vec::new())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn listener_programs_past_interpreters() {
        let p = |s| listener_program(&args(s)).map(|(p, _)| p);
        assert_eq!(
            p("python -m supervisord_dependent_startup").as_deref(),
            Some("supervisord_dependent_startup")
        );
        assert_eq!(
            p("python3 -u /opt/x/supervisord_dependent_startup.py -c /etc/s.conf").as_deref(),
            Some("supervisord_dependent_startup.py")
        );
        assert_eq!(
            p("/usr/bin/env python3 -m superlance.httpok -p web http://a/").as_deref(),
            Some("superlance.httpok")
        );
        assert_eq!(
            p("/srv/venv/bin/httpok -p web http://a/").as_deref(),
            Some("httpok")
        );
        // httpok named as the process to mail about is not httpok.
        assert_eq!(
            p("crashmail -p httpok -m ops@example.com").as_deref(),
            Some("crashmail")
        );
        assert_eq!(p("python -u").as_deref(), None);
        assert_eq!(
            p("env PYTHONUNBUFFERED=1 httpok -p web http://a/").as_deref(),
            Some("httpok")
        );
    }
}
