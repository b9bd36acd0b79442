//! Quiet changes reach the console at once: changes made straight at the
//! agent that are no state transition (a `wanted` flip of a process that
//! is already down, a reload adding a program it does not start or
//! dropping a stopped one) are in the console's `/v1/status` within
//! `QUICK`, field by field — well under the console's 30 s re-read, so
//! they came by event.

mod common;
use common::console::*;
use common::truth::{agree, find};
use common::*;
use std::time::Duration;

const PROGRAMS: &str = r#"
[program.crashy]
command = "TESTPROG exit 1"
startsecs = 1
startretries = 0

[program.quits]
command = "TESTPROG exit 0"
startsecs = 0
autorestart = false

[program.idle]
command = "TESTPROG sleep"
autostart = false
"#;

/// Far below the console's 30 s re-read (`follow.rs` `RESYNC`), with room
/// for a loaded machine.
const QUICK: Duration = Duration::from_secs(3);
const T: Duration = Duration::from_secs(30);

/// The agent's config file with `programs`, keeping its TCP listener.
fn config(a: &Agent, port: u16, programs: &str) -> String {
    format!(
        "[agent]\nsocket = {:?}\nlog_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\n{}",
        a.socket.display().to_string(),
        a.log_dir.display().to_string(),
        programs.replace("TESTPROG", testprog()),
    )
}

#[test]
fn quiet_changes_made_at_the_agent_reach_the_console_by_event() {
    let (a, port) = tcp_agent(PROGRAMS);
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    a.wait_state("crashy:crashy", "FATAL", T);
    a.wait_state("quits:quits", "EXITED", T);
    // The first picture comes from the console's first status read.
    agree(&c, &a, "w-01", T, "at start");

    // Stops of processes already down: only `wanted` changes.
    for name in ["crashy:crashy", "quits:quits"] {
        let r = a.post(&format!("/v1/processes/{name}/stop"), "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(a.process(name)["wanted"], "stopped");
        let procs = agree(&c, &a, "w-01", QUICK, &format!("after stopping {name}"));
        assert_eq!(find(&procs, name)["wanted"], "stopped");
    }

    // A reload that adds a program it does not start and drops a stopped
    // one: no state changes, two processes come and go.
    let next = PROGRAMS.replace("[program.idle]", "[program.later]");
    std::fs::write(&a.config, config(&a, port, &next)).unwrap();
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    // A dropped process leaves the table just after the reload answers.
    wait_for(T, "idle gone", || {
        a.find_process("idle:idle").is_none().then_some(())
    });
    let procs = agree(&c, &a, "w-01", QUICK, "after the reload");
    assert_eq!(find(&procs, "later:later")["state"], "STOPPED");
    assert!(procs.iter().all(|p| p["name"] != "idle:idle"), "{procs:?}");

    // The same program back under its old name, in a second reload.
    std::fs::write(&a.config, config(&a, port, PROGRAMS)).unwrap();
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(T, "later gone", || {
        a.find_process("later:later").is_none().then_some(())
    });
    let procs = agree(&c, &a, "w-01", QUICK, "after the second reload");
    assert_eq!(find(&procs, "idle:idle")["wanted"], "stopped");
    assert!(
        procs.iter().all(|p| p["name"] != "later:later"),
        "{procs:?}"
    );

    // Wanted back to running on a FATAL process is a start: a state
    // change, but its event must carry the flip too.
    let r = a.post("/v1/processes/crashy:crashy/start", "");
    assert_eq!(r.status, 200, "{}", r.text());
    a.wait_state("crashy:crashy", "FATAL", T);
    let procs = agree(&c, &a, "w-01", QUICK, "after starting crashy again");
    assert_eq!(find(&procs, "crashy:crashy")["wanted"], "running");

    // /metrics: each process's restarts, the agent's count.
    let restarts = a.process("crashy:crashy")["restarts"].as_u64().unwrap();
    assert_eq!(restarts, 1);
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    let line = format!(
        "fleet_console_process_restarts_total{{host=\"w-01\",name=\"crashy:crashy\",group=\"crashy\",program=\"crashy\"}} {restarts}"
    );
    assert!(m.lines().any(|l| l == line), "no {line:?} in {m}");
    assert!(
        m.contains("# TYPE fleet_console_process_restarts_total counter"),
        "{m}"
    );
}
