//! Reading /proc: the process tree (to find every descendant of a program,
//! including ones that left its process group) and per-process CPU/RSS.

use std::collections::{HashMap, HashSet};
use std::fs;

/// The fields of /proc/PID/stat that fleet uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub state: u8,
    pub ppid: u32,
    pub pgid: u32,
    pub utime: u64,
    pub stime: u64,
    pub rss_pages: u64,
    /// Clock ticks after boot when the process started: with the pid, it
    /// names one process even across pid reuse.
    pub start: u64,
}

/// Parse /proc/PID/stat. The command name may contain spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (head, tail) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let f: Vec<&str> = tail.split_whitespace().collect();
    // f[0] is field 3 (state).
    Some(Stat {
        pid,
        state: *f.first()?.as_bytes().first()?,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process on the machine (those that vanish mid-scan are skipped).
pub fn scan() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let pid: u32 = name.to_str()?.parse().ok()?;
        stat(pid)
    })
    .collect()
}

/// The processes below `root` (its descendants, not itself), walking the
/// kernel's per-thread child lists and not descending into the pids
/// `skip` names: O(the subtree), whatever else runs on the machine.
/// `None` when the kernel keeps no child lists (CONFIG_PROC_CHILDREN
/// unset): the caller then scans everything.
pub fn scan_below(root: u32, skip: impl Fn(u32) -> bool) -> Option<Vec<Stat>> {
    let mut todo = children_of(root)?;
    let mut seen: HashSet<u32> = HashSet::new();
    let mut out = Vec::new();
    while let Some(pid) = todo.pop() {
        if skip(pid) || !seen.insert(pid) {
            continue;
        }
        // Gone since its parent listed it: nothing below it either.
        let Some(st) = stat(pid) else { continue };
        out.push(st);
        todo.extend(children_of(pid).into_iter().flatten());
    }
    Some(out)
}

/// The children of every thread of `pid`, from
/// /proc/PID/task/TID/children; `None` if no list could be read.
fn children_of(pid: u32) -> Option<Vec<u32>> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    let mut read = false;
    for t in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(t.path().join("children")) {
            read = true;
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    read.then_some(out)
}

/// Whether the process's initial environment holds `needle` (`KEY=VALUE`).
pub fn environ_has(pid: u32, needle: &[u8]) -> bool {
    match fs::read(format!("/proc/{pid}/environ")) {
        Ok(env) => env.split(|&b| b == 0).any(|kv| kv == needle),
        Err(_) => false,
    }
}

/// The value of `key` in the process's initial environment.
pub fn environ_var(pid: u32, key: &str) -> Option<Vec<u8>> {
    let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0).find_map(|kv| {
        kv.strip_prefix(key.as_bytes())?
            .strip_prefix(b"=")
            .map(<[u8]>::to_vec)
    })
}

/// Every live (non-zombie) process in `all` that is a seed or descends from
/// one, skipping `excluded` pids and what descends only through them.
pub fn closure(
    all: &[Stat],
    mut seed: impl FnMut(&Stat) -> bool,
    excluded: impl Fn(u32) -> bool,
) -> Vec<Stat> {
    let mut children: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, s) in all.iter().enumerate() {
        children.entry(s.ppid).or_default().push(i);
    }
    let mut found: HashSet<u32> = HashSet::new();
    let mut todo: Vec<usize> = Vec::new();
    for (i, s) in all.iter().enumerate() {
        if !excluded(s.pid) && seed(s) && found.insert(s.pid) {
            todo.push(i);
        }
    }
    let mut out = Vec::new();
    while let Some(i) = todo.pop() {
        let s = all[i];
        for &c in children.get(&s.pid).into_iter().flatten() {
            if !excluded(all[c].pid) && found.insert(all[c].pid) {
                todo.push(c);
            }
        }
        if s.state != b'Z' {
            out.push(s);
        }
    }
    out.sort_unstable_by_key(|s| s.pid);
    out
}

/// What identifies a program's family.
pub struct FamilyKey<'a> {
    /// The main pid, alive or not.
    pub pid: u32,
    /// Its process group (equal to the main pid: each program leads its own).
    pub pgid: u32,
    /// `KEY=VALUE` put in the program's environment at spawn, inherited by
    /// its descendants; finds the ones re-parented to the agent.
    pub marker: &'a [u8],
    /// The agent's pid and the main pids of all managed processes, never
    /// part of a family.
    pub agent_pid: u32,
    pub exclude: &'a HashSet<u32>,
}

/// Every live (non-zombie) process that descends from the key's program:
/// members of its process group, descendants of the main pid, and orphans
/// the agent adopted that carry the marker, plus all their descendants.
pub fn family(key: &FamilyKey<'_>) -> Vec<u32> {
    // The agent is the child subreaper: a family is below it (see
    // `scan_below`), and never below another managed main.
    let skip = |pid: u32| pid != key.pid && key.exclude.contains(&pid);
    let all = scan_below(key.agent_pid, skip).unwrap_or_else(scan);
    family_in(&all, key, |pid| environ_has(pid, key.marker))
}

fn family_in(all: &[Stat], key: &FamilyKey<'_>, marked: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for s in all {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    let excluded =
        |pid: u32| pid == key.agent_pid || (pid != key.pid && key.exclude.contains(&pid));
    let mut found: HashSet<u32> = HashSet::new();
    let mut todo: Vec<u32> = Vec::new();
    for s in all {
        if excluded(s.pid) {
            continue;
        }
        let seed =
            s.pid == key.pid || s.pgid == key.pgid || (s.ppid == key.agent_pid && marked(s.pid));
        if seed && found.insert(s.pid) {
            todo.push(s.pid);
        }
    }
    while let Some(pid) = todo.pop() {
        for &c in children.get(&pid).into_iter().flatten() {
            if !excluded(c) && found.insert(c) {
                todo.push(c);
            }
        }
    }
    let zombie: HashSet<u32> = all
        .iter()
        .filter(|s| s.state == b'Z')
        .map(|s| s.pid)
        .collect();
    let mut out: Vec<u32> = found.into_iter().filter(|p| !zombie.contains(p)).collect();
    out.sort_unstable();
    out
}

/// CPU seconds (user + system) and resident bytes of one process.
pub fn usage(pid: u32) -> Option<(f64, u64)> {
    let s = stat(pid)?;
    // SAFETY: sysconf only reads configuration values.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    let page = if page > 0 { page as u64 } else { 4096 };
    Some(((s.utime + s.stime) as f64 / hz, s.rss_pages * page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid: u32, ppid: u32, pgid: u32, state: u8) -> Stat {
        Stat {
            pid,
            state,
            ppid,
            pgid,
            utime: 0,
            stime: 0,
            rss_pages: 0,
            start: 0,
        }
    }

    #[test]
    fn parses_stat_with_odd_command_names() {
        let s = parse_stat(
            "42 (a b) c)) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 100 1000 55 rest",
        )
        .unwrap();
        assert_eq!((s.pid, s.state, s.ppid, s.pgid), (42, b'S', 1, 42));
        assert_eq!((s.utime, s.stime, s.rss_pages, s.start), (7, 3, 55, 100));
    }

    #[test]
    fn family_covers_group_descendants_and_marked_orphans() {
        let agent = 1;
        let exclude: HashSet<u32> = [10, 20].into_iter().collect();
        let all = vec![
            st(1, 0, 1, b'S'),
            st(10, 1, 10, b'S'),  // main
            st(11, 10, 10, b'S'), // child in group
            st(12, 11, 12, b'S'), // setsid grandchild, parent alive
            st(13, 1, 13, b'S'),  // double-forked orphan, marked
            st(14, 13, 13, b'S'), // its child
            st(15, 1, 15, b'Z'),  // zombie orphan, marked: not live
            st(20, 1, 20, b'S'),  // another program's main
            st(21, 20, 20, b'S'), // and its child
            st(30, 1, 30, b'S'),  // unmarked stranger
        ];
        let key = FamilyKey {
            pid: 10,
            pgid: 10,
            marker: b"",
            agent_pid: agent,
            exclude: &exclude,
        };
        let fam = family_in(&all, &key, |pid| pid == 13 || pid == 15);
        assert_eq!(fam, vec![10, 11, 12, 13, 14]);
    }

    #[test]
    fn reads_our_own_stat_and_usage() {
        let me = std::process::id();
        assert_eq!(stat(me).unwrap().pid, me);
        assert!(usage(me).unwrap().1 > 0);
    }

    #[test]
    // Its own child, waited for by pid (a reaper elsewhere in this test
    // binary may take it first: the result is ignored).
    #[allow(clippy::disallowed_methods)]
    fn scan_below_walks_the_subtree_and_skips_what_it_is_told() {
        // A child with a child of its own (the shell waits on both).
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30; wait"])
            .spawn()
            .unwrap();
        let shell = sh.id();
        let me = std::process::id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let below = loop {
            let below = scan_below(me, |_| false).expect("this kernel keeps child lists");
            if below.iter().filter(|s| s.ppid == shell).count() == 2 {
                break below;
            }
            assert!(std::time::Instant::now() < deadline, "{below:?}");
        };
        assert!(below.iter().any(|s| s.pid == shell && s.ppid == me));
        // Skipping the shell skips everything below it too.
        let skipped = scan_below(me, |p| p == shell).unwrap();
        assert!(skipped.iter().all(|s| s.pid != shell && s.ppid != shell));
        for s in below.iter().filter(|s| s.ppid == shell) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(s.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = sh.kill();
        let _ = sh.wait();
    }
}
