//! Stopping: stop signals, killasgroup with escaped descendants, reaping of
//! double-forked grandchildren, and shutdown in reverse priority order.

mod common;
use common::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// A Celery-like program: main process and three pool children ignore
/// TERM, and a grandchild escaped the group with setsid.
fn stubborn_celery(pidfile: &std::path::Path) -> Agent {
    Agent::start(&format!(
        r#"
[program.celery]
command = ["TESTPROG", "stubborn", "3", "{}"]
startsecs = 0
stopwaitsecs = 1
killasgroup = true
"#,
        pidfile.display()
    ))
}

#[test]
fn killasgroup_leaves_no_descendant_even_one_that_called_setsid() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let a = stubborn_celery(&pidfile);
    a.wait_state("celery", "RUNNING", T);
    let pids = read_pids(&pidfile);
    assert_eq!(pids.len(), 5, "main, three children, one setsid grandchild");
    assert!(pids.iter().all(|&p| alive(p)));
    let started = Instant::now();
    let r = a.post("/v1/processes/celery/stop", "");
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][0]["outcome"], "ok");
    // TERM is ignored, so the stop takes stopwaitsecs, then KILL ends it
    // at once (not on a tick).
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(took < Duration::from_millis(1800), "{took:?}");
    let survivors: Vec<i32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(survivors.is_empty(), "survivors: {survivors:?}");
    let p = a.process("celery");
    assert_eq!(p["state"], "STOPPED");
    assert_eq!(p["exit_status"]["signal"], "KILL");
    assert_eq!(p["exit_status"]["stopped_by_us"], true);
    assert!(a.strays().is_empty(), "strays: {:?}", a.strays());
}

#[test]
fn restart_with_killasgroup_also_clears_the_old_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let a = stubborn_celery(&pidfile);
    a.wait_state("celery", "RUNNING", T);
    let old = read_pids(&pidfile);
    std::fs::remove_file(&pidfile).unwrap();
    let r = a.post("/v1/processes/celery/restart", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    let new = read_pids(&pidfile);
    assert!(old.iter().all(|&p| !alive(p)), "old tree survived: {old:?}");
    assert!(new.iter().all(|&p| alive(p)));
}

#[test]
fn stop_returns_as_soon_as_a_cooperative_process_exits() {
    let a = Agent::start(
        r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0
stopwaitsecs = 30
"#,
    );
    a.wait_state("web", "RUNNING", T);
    let started = Instant::now();
    let r = a.post("/v1/processes/web/stop", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.process("web")["exit_status"]["signal"], "TERM");
}

#[test]
fn stopsignal_and_stopasgroup_are_used() {
    let a = Agent::start(
        r#"
[program.sh]
command = ["sh", "-c", "trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.05; done"]
startsecs = 0
stopsignal = "INT"
stopasgroup = true
"#,
    );
    a.wait_state("sh", "RUNNING", T);
    wait_for(T, "trap installed", || {
        a.request("GET", "/v1/processes/sh/log", "")
            .text()
            .contains("ready")
            .then_some(())
    });
    let r = a.post("/v1/processes/sh/stop", "");
    assert_eq!(r.json()["results"][0]["outcome"], "ok", "{}", r.text());
    let p = a.process("sh");
    assert_eq!(p["exit_status"]["code"], 7, "{p}");
    assert!(a.strays().is_empty(), "{:?}", a.strays());
}

#[test]
fn double_forked_grandchildren_are_reaped_not_left_zombies() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let a = Agent::start(&format!(
        r#"
[program.daemonish]
command = ["TESTPROG", "doublefork", "{}"]
startsecs = 0
"#,
        pidfile.display()
    ));
    a.wait_state("daemonish", "RUNNING", T);
    let pids = read_pids(&pidfile);
    let grandchild = pids[2];
    // The orphaned grandchild was adopted by the agent (child subreaper)...
    wait_for(T, "grandchild to exit and be reaped", || {
        (!std::path::Path::new(&format!("/proc/{grandchild}")).exists()).then_some(())
    });
    assert!(a.zombies().is_empty(), "zombies: {:?}", a.zombies());
    // ...and the program itself is untouched by the orphan's exit.
    assert_eq!(a.state("daemonish"), "RUNNING");
    assert_eq!(a.pid_of("daemonish"), Some(pids[0]));
}

#[test]
fn sigterm_stops_everything_in_reverse_priority_order_and_exits_0() {
    let mut a = Agent::start(
        r#"
[program.db]
command = "TESTPROG sleep"
priority = 100
startsecs = 0

[program.app]
command = "TESTPROG sleep"
priority = 500
startsecs = 0
numprocs = 2
process_name = "app_{num}"

[program.edge]
command = "TESTPROG sleep"
priority = 900
startsecs = 0
"#,
    );
    for n in ["db", "app:app_0", "app:app_1", "edge"] {
        a.wait_state(n, "RUNNING", T);
    }
    // Follow the event stream; it ends when the agent exits. The request
    // is sent and the response has begun before SIGTERM, so the stream is
    // live; Last-Event-ID 0 replays the whole history, so nothing is
    // missed by subscribing late.
    let mut sock = std::os::unix::net::UnixStream::connect(&a.socket).unwrap();
    use std::io::{Read, Write};
    sock.write_all(
        b"GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nLast-Event-ID: 0\r\n\r\n",
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "event stream closed early");
        raw.extend_from_slice(&buf[..n]);
    }
    let reader = std::thread::spawn(move || {
        let _ = sock.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).into_owned()
    });
    a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0), "{}", a.stderr());
    let text = reader.join().unwrap();
    let stopped: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).unwrap())
        .filter(|e| e["to"] == "STOPPED")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stopped.len(), 4, "events: {text:?}");
    assert_eq!(stopped[0], "edge:edge");
    assert_eq!(stopped[3], "db:db");
    assert!(a.strays().is_empty(), "{:?}", a.strays());
}
