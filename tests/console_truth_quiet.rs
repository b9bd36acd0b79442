//! Quiet changes reach the console at once: changes made straight at the
//! agent that are no state transition (a `wanted` flip of a process that
//! is already down, a reload adding a program it does not start or
//! dropping a stopped one) are in the console's `/v1/status` within
//! `QUICK`, field by field — well under the console's 30 s re-read, so
//! they came by event.

mod common;
use common::console::*;
use common::*;
use serde_json::Value;
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

/// What both sides must agree on: all but the sampled CPU/memory and a
/// live process's uptime text (checked for its form).
fn normal(p: &Value) -> Value {
    let mut p = p.clone();
    let o = p.as_object_mut().unwrap();
    o.remove("host");
    o.remove("cpu_seconds");
    o.remove("rss_bytes");
    if matches!(
        o["state"].as_str(),
        Some("STARTING" | "RUNNING" | "STOPPING")
    ) {
        if let Some(pid) = o["pid"].as_u64() {
            let d = o["description"].as_str().unwrap_or_default();
            let form = d.starts_with(&format!("pid {pid}, uptime "));
            o.insert("description".into(), Value::from(form));
        }
    }
    p
}

fn by_name(list: &Value) -> Vec<Value> {
    let mut v: Vec<Value> = list.as_array().unwrap().iter().map(normal).collect();
    v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    v
}

/// Console and agent agree on every process within `within`, or the test
/// fails naming the first field that differs.
fn agree(c: &Console, a: &Agent, within: Duration, step: &str) -> Vec<Value> {
    let mut last = String::new();
    poll_until(within, || {
        let agent = by_name(&a.status()["processes"]);
        let console = by_name(&c.get("/v1/status?hosts=w-01")["processes"]);
        if agent == console {
            return Some(agent);
        }
        last = difference(&agent, &console);
        None
    })
    .unwrap_or_else(|| panic!("{step}: not agreed within {within:?}: {last}"))
}

fn difference(agent: &[Value], console: &[Value]) -> String {
    let names = |l: &[Value]| l.iter().map(|p| p["name"].to_string()).collect::<Vec<_>>();
    if names(agent) != names(console) {
        return format!(
            "processes: agent {:?}, console {:?}",
            names(agent),
            names(console)
        );
    }
    for (a, c) in agent.iter().zip(console) {
        for (k, v) in a.as_object().unwrap() {
            if c.get(k) != Some(v) {
                return format!("{} {k}: agent {v}, console {:?}", a["name"], c.get(k));
            }
        }
    }
    "extra fields in the console's copy".into()
}

fn find<'a>(procs: &'a [Value], name: &str) -> &'a Value {
    procs
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {procs:?}"))
}

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
    agree(&c, &a, T, "at start");

    // Stops of processes already down: only `wanted` changes.
    for name in ["crashy:crashy", "quits:quits"] {
        let r = a.post(&format!("/v1/processes/{name}/stop"), "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(a.process(name)["wanted"], "stopped");
        let procs = agree(&c, &a, QUICK, &format!("after stopping {name}"));
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
    let procs = agree(&c, &a, QUICK, "after the reload");
    assert_eq!(find(&procs, "later:later")["state"], "STOPPED");
    assert!(procs.iter().all(|p| p["name"] != "idle:idle"), "{procs:?}");

    // The same program back under its old name, in a second reload.
    std::fs::write(&a.config, config(&a, port, PROGRAMS)).unwrap();
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(T, "later gone", || {
        a.find_process("later:later").is_none().then_some(())
    });
    let procs = agree(&c, &a, QUICK, "after the second reload");
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
    let procs = agree(&c, &a, QUICK, "after starting crashy again");
    assert_eq!(find(&procs, "crashy:crashy")["wanted"], "running");

    // /metrics: each process's restarts, the agent's count.
    let restarts = a.process("crashy:crashy")["restarts"].as_u64().unwrap();
    assert_eq!(restarts, 1);
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    let line = format!(
        "fleet_console_process_restarts_total{{host=\"w-01\",process=\"crashy:crashy\"}} {restarts}"
    );
    assert!(m.lines().any(|l| l == line), "no {line:?} in {m}");
    assert!(
        m.contains("# TYPE fleet_console_process_restarts_total counter"),
        "{m}"
    );
}
