//! Reload storm (issue #15, item 8): 200 reloads alternating two configs
//! while programs crash-loop. The agent never wedges, never runs two copies
//! of one program instance, and ends in exactly the last config's state.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const RELOADS: usize = 200;

/// Every program's argv ends with its instance's name (`fleet-testprog`
/// ignores extra arguments), so a live copy is recognised from outside.
/// `flip` ignores SIGTERM (`sh` sets it ignored; `exec` keeps it) and so
/// stays STOPPING for its whole `stopwaitsecs` after each removal: the
/// next reload brings it back while the old copy is still there.
const A: &str = r#"
[program.steady]
command = "TESTPROG sleep steady"
startsecs = 0

[program.crash]
command = "TESTPROG exit 1 20 crash"
startsecs = 0
autorestart = true

[program.crashes]
command = "TESTPROG exit 3 5 crashes_{num}"
numprocs = 3
process_name = "crashes_{num}"
startsecs = 0
autorestart = true

[program.changed]
command = "TESTPROG sleep A changed"
startsecs = 0

[program.flip]
command = ["sh", "-c", "trap '' TERM; exec TESTPROG sleep flip"]
startsecs = 0
stopwaitsecs = 1
"#;

const B: &str = r#"
[program.steady]
command = "TESTPROG sleep steady"
startsecs = 0

[program.crash]
command = "TESTPROG exit 1 20 crash"
startsecs = 0
autorestart = true

[program.crashes]
command = "TESTPROG exit 3 5 crashes_{num}"
numprocs = 3
process_name = "crashes_{num}"
startsecs = 0
autorestart = true

[program.changed]
command = "TESTPROG sleep B changed"
startsecs = 0

[program.flop]
command = "TESTPROG sleep flop"
startsecs = 0

[program.crashflop]
command = "TESTPROG exit 1 10 crashflop"
startsecs = 0
autorestart = true
"#;

/// Live (not zombie) descendants of the test's agent, by instance name
/// (the last argument), with their pids and full argv.
fn live_instances(a: &Agent) -> BTreeMap<String, Vec<(i32, String)>> {
    let agent = a.pid() as i32;
    let testprog = testprog();
    let mut by: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for pid in a.strays() {
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        // A fresh child of the agent may not have exec'd yet (argv is still
        // the agent's), and `sh` has not exec'd testprog yet: not a copy.
        if pid == agent || argv.first().map(String::as_str) != Some(testprog) || !alive(pid) {
            continue;
        }
        let name = argv.last().unwrap().clone();
        by.entry(name).or_default().push((pid, argv.join(" ")));
    }
    by
}

fn duplicates(a: &Agent) -> Vec<(String, Vec<(i32, String)>)> {
    live_instances(a)
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .collect()
}

fn names(a: &Agent) -> Vec<String> {
    let mut v: Vec<String> = a.status()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn two_hundred_reloads_while_programs_crash_loop_end_in_the_last_config() {
    let a = Agent::start(A);
    for n in ["steady", "changed", "flip"] {
        a.wait_state(n, "RUNNING", T);
    }
    let steady = a.pid_of("steady").unwrap();
    let mut worst = Duration::ZERO;
    let mut samples = 0;
    for k in 0..RELOADS {
        // Odd reloads apply A, so the last (k = 199) leaves A in place.
        a.write_config(if k % 2 == 0 { B } else { A });
        let t = Instant::now();
        let r = a.post("/v1/reload", "");
        worst = worst.max(t.elapsed());
        assert_eq!(r.status, 200, "reload {k}: {}", r.text());
        let dups = duplicates(&a);
        samples += 1;
        assert!(dups.is_empty(), "reload {k}: two live copies: {dups:?}");
        let listed = names(&a);
        let mut dedup = listed.clone();
        dedup.dedup();
        assert_eq!(listed, dedup, "reload {k}: a name twice in the status");
    }
    // Every reload was answered promptly: no wedge.
    assert!(worst < Duration::from_secs(5), "slowest reload {worst:?}");

    // Exactly A's processes, once removed ones have finished stopping.
    let want: Vec<String> = [
        "changed:changed",
        "crash:crash",
        "crashes:crashes_0",
        "crashes:crashes_1",
        "crashes:crashes_2",
        "flip:flip",
        "steady:steady",
    ]
    .map(String::from)
    .to_vec();
    wait_for(T, "the status to list exactly config A", || {
        (names(&a) == want).then_some(())
    });
    for n in ["changed", "flip"] {
        a.wait_state(n, "RUNNING", T);
    }
    assert_eq!(
        a.pid_of("steady"),
        Some(steady),
        "an unchanged program was restarted by reloads"
    );
    // What runs is A's: one copy per instance, with A's command line, and
    // nothing from B.
    let live = wait_for(T, "B's programs to be gone", || {
        let live = live_instances(&a);
        (!live.contains_key("flop") && !live.contains_key("crashflop")).then_some(live)
    });
    for n in ["steady", "flip"] {
        assert_eq!(live[n].len(), 1, "{n}: {live:?}");
        assert_eq!(live[n][0].0, a.pid_of(n).unwrap(), "{n}: {live:?}");
    }
    let changed = wait_for(T, "changed to run A's command", || {
        let live = live_instances(&a);
        let pid = a.pid_of("changed")?;
        live.get("changed")
            .filter(|v| v.len() == 1 && v[0].0 == pid)
            .map(|v| v[0].clone())
    });
    assert!(changed.1.ends_with("sleep A changed"), "{changed:?}");
    assert!(duplicates(&a).is_empty());
    // The crash loops go on: the owner is not wedged.
    let restarts = a.process("crash")["restarts"].as_u64().unwrap();
    wait_for(T, "crash to keep restarting", || {
        (a.process("crash")["restarts"].as_u64().unwrap() > restarts).then_some(())
    });
    // Crash loops make zombies all the time; each must be reaped at once.
    let zombies = a.zombies();
    wait_for(T, "every zombie to be reaped", || {
        zombies.iter().all(|&p| !is_zombie(p)).then_some(())
    });
    assert!(samples == RELOADS);
}
