//! fleet-sim must answer as a real agent does: the same wire checks
//! (`wire_checks`: status shape, events with ids and resume, verbs'
//! answers and state transitions, log tails, the registration challenge,
//! the token check) run against a real `fleet-agent` and against one
//! virtual host of `fleet-sim`, so the simulator cannot drift from the
//! agent. Plus fleet-sim's own command line: what it writes, `ready`,
//! crash loops, refusals and SIGTERM.

mod common;

use common::{bin, http, poll_until, read_stream_until, stop_child, wait_for, Agent, Response};
use fleet_api::{ActionResponse, AgentStatus, Event, Outcome, ProcessState};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "sim-wire-token-0123456789abcdef";
const W0: &str = "celery:worker_00";

fn request(addr: &str, token: Option<&str>, method: &str, path: &str, body: &str) -> Response {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http(s, method, path, &headers, body.as_bytes()).expect("HTTP")
}

fn act(addr: &str, token: &str, target: &str, verb: &str, body: &str) -> Response {
    request(
        addr,
        Some(token),
        "POST",
        &format!("/v1/processes/{target}/{verb}"),
        body,
    )
}

fn answer(r: &Response) -> ActionResponse {
    assert_eq!(r.status, 200, "{}", r.text());
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

fn error_code(r: &Response) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_owned()
}

/// `(id, event)` of every `state` frame in a raw event stream.
fn frames(text: &str) -> Vec<(u64, Event)> {
    let (mut out, mut id) = (Vec::new(), None);
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse::<u64>().ok();
        } else if let Some(d) = line.strip_prefix("data:") {
            if let (Some(i), Ok(e)) = (id.take(), serde_json::from_str::<Event>(d.trim())) {
                out.push((i, e));
            }
        }
    }
    out
}

/// The event stream from `Last-Event-ID: after` until `done` holds.
fn events(addr: &str, token: &str, after: u64, done: impl Fn(&[(u64, Event)]) -> bool) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nLast-Event-ID: {after}\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    read_stream_until(s, Duration::from_secs(20), "events", |t| done(&frames(t)))
}

fn state_of(addr: &str, token: &str, name: &str) -> ProcessState {
    let r = request(addr, Some(token), "GET", "/v1/status", "");
    let st: AgentStatus = serde_json::from_slice(&r.body).unwrap();
    st.processes.iter().find(|p| p.name == name).unwrap().state
}

/// Everything a console and fleetctl rely on, checked on the agent API
/// at `addr` whose token is `token`; the host runs `celery:worker_00`
/// and `_01` (startsecs 1) and `web:web_00` and `_01`.
fn wire_checks(addr: &str, token: &str) {
    // The token check, public /healthz.
    let r = request(addr, None, "GET", "/healthz", "");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    for t in [None, Some("wrong-token-0123456789abcdef")] {
        let r = request(addr, t, "GET", "/v1/status", "");
        assert_eq!((r.status, error_code(&r).as_str()), (401, "unauthorized"));
    }
    let r = request(addr, None, "GET", "/no/such/path", "");
    assert_eq!(
        r.status, 401,
        "unknown paths are not revealed without the token"
    );
    let r = request(addr, Some(token), "GET", "/no/such/path", "");
    assert_eq!((r.status, error_code(&r).as_str()), (404, "not_found"));

    // Status: the agent's type, every process running in time.
    wait_for(Duration::from_secs(20), "all RUNNING", || {
        let r = request(addr, Some(token), "GET", "/v1/status", "");
        assert_eq!(r.status, 200);
        let st: AgentStatus = serde_json::from_slice(&r.body).unwrap();
        assert!(!st.version.is_empty() && st.started_at > 0 && st.listen.is_some());
        let mut names: Vec<&str> = st.processes.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        assert_eq!(names, [W0, "celery:worker_01", "web:web_00", "web:web_01"]);
        let up = st.processes.iter().all(|p| {
            p.state == ProcessState::Running
                && p.pid.is_some()
                && p.started_at.is_some()
                && p.description.starts_with("pid ")
        });
        up.then_some(())
    });

    // Verbs: outcomes and end states.
    let r = answer(&act(addr, token, W0, "stop", ""));
    assert_eq!((r.verb.as_str(), r.target.as_str()), ("stop", W0));
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.results[0].outcome, Outcome::Ok);
    assert_eq!(
        (r.results[0].state, r.results[0].pid),
        (ProcessState::Stopped, None)
    );
    assert_eq!(state_of(addr, token, W0), ProcessState::Stopped);
    let r = answer(&act(addr, token, W0, "stop", ""));
    assert_eq!(r.results[0].outcome, Outcome::Already);
    let r = answer(&act(addr, token, W0, "start", ""));
    assert_eq!(
        (r.results[0].outcome, r.results[0].state),
        (Outcome::Ok, ProcessState::Running)
    );
    assert!(r.results[0].pid.is_some());
    let r = answer(&act(addr, token, "worker_01", "start", ""));
    assert_eq!(r.results[0].outcome, Outcome::Already);
    let r = answer(&act(addr, token, "group:celery", "restart", ""));
    assert_eq!(r.results.len(), 2);
    assert!(r
        .results
        .iter()
        .all(|x| x.outcome == Outcome::Ok && x.state == ProcessState::Running));
    let r = answer(&act(addr, token, "web", "signal", r#"{"signal": "WINCH"}"#));
    assert_eq!(r.results.len(), 2, "a program's instances");
    assert!(r.results.iter().all(|x| x.outcome == Outcome::Ok));
    let r = answer(&act(addr, token, W0, "restart", r#"{"wait": false}"#));
    assert_eq!(r.results[0].outcome, Outcome::Ok);
    wait_for(Duration::from_secs(20), "running again", || {
        (state_of(addr, token, W0) == ProcessState::Running).then_some(())
    });

    // Refusals: the agent's codes.
    for (target, verb, body, status, code) in [
        (W0, "signal", "", 400, "bad_signal"),
        (W0, "signal", r#"{"signal": "NOPE"}"#, 400, "bad_signal"),
        (W0, "start", r#"{"signal": "HUP"}"#, 400, "bad_request"),
        (W0, "stop", r#"{"with_deps": true}"#, 400, "bad_request"),
        (W0, "start", "{not json", 400, "bad_request"),
        ("bad!name", "start", "", 400, "bad_selector"),
        ("nosuch", "start", "", 404, "not_found"),
        (W0, "explode", "", 404, "not_found"),
        // The agent's own verb, not a process's (the simulator once took it).
        (W0, "reexec", "", 404, "not_found"),
    ] {
        let r = act(addr, token, target, verb, body);
        assert_eq!(
            (r.status, error_code(&r)),
            (status, code.into()),
            "{target} {verb} {body}: {}",
            r.text()
        );
    }

    // Events: ids are sequence numbers, each with the process after it;
    // the stop and start above, in order.
    let want = [
        (ProcessState::Running, ProcessState::Stopping),
        (ProcessState::Stopping, ProcessState::Stopped),
        (ProcessState::Stopped, ProcessState::Starting),
        (ProcessState::Starting, ProcessState::Running),
    ];
    // From the stop on (a real agent's history also has its start-up).
    let mine = |fs: &[(u64, Event)]| -> Vec<(u64, ProcessState, ProcessState)> {
        let all: Vec<_> = fs
            .iter()
            .filter(|(_, e)| e.name == W0 && e.from != e.to)
            .map(|(i, e)| (*i, e.from, e.to))
            .collect();
        let stop = all.iter().position(|m| (m.1, m.2) == want[0]);
        stop.map_or(vec![], |k| all[k..].to_vec())
    };
    let text = events(addr, token, 0, |fs| mine(fs).len() >= 12);
    let fs = frames(&text);
    for w in fs.windows(2) {
        assert!(w[0].0 < w[1].0, "ids increase");
    }
    // Each event may carry the process after it (history keeps it on a
    // process's newest event only); the newest always has it.
    for (k, (id, e)) in fs.iter().enumerate() {
        assert_eq!(*id, e.seq);
        let newest = !fs[k + 1..].iter().any(|(_, later)| later.name == e.name);
        assert!(!newest || e.process.is_some(), "no process in {e:?}");
        if let Some(p) = &e.process {
            assert_eq!((p.name.as_str(), p.state), (e.name.as_str(), e.to));
        }
    }
    let seen: Vec<_> = mine(&fs).iter().map(|m| (m.1, m.2)).collect();
    assert_eq!(seen[..4], want, "stop then start: {seen:?}");
    // Resume from the middle: the next event first, nothing missed.
    let stopped_at = mine(&fs)[1].0;
    let again = frames(&events(addr, token, stopped_at, |fs| !fs.is_empty()));
    assert_eq!(again[0].0, stopped_at + 1);
    assert_eq!(again[0].1.to, ProcessState::Starting);

    // Log tails.
    let r = request(
        addr,
        Some(token),
        "GET",
        &format!("/v1/processes/{W0}/log?tail=100"),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.len() <= 100);
    let r = request(
        addr,
        Some(token),
        "GET",
        "/v1/processes/worker_00/log?stream=nope",
        "",
    );
    assert_eq!((r.status, error_code(&r).as_str()), (400, "bad_request"));
    let r = request(addr, Some(token), "GET", "/v1/processes/ghost/log", "");
    assert_eq!((r.status, error_code(&r).as_str()), (404, "not_found"));

    // The registration challenge.
    let r = request(
        addr,
        Some(token),
        "POST",
        "/v1/enroll/proof",
        r#"{"name":"n1","nonce":"abc"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let proof = r.json()["proof"].as_str().unwrap().to_owned();
    assert!(proof.len() >= 32, "{proof}");
}

/// `fleet-sim ARGS`, once it printed `ready`, and the file it wrote.
fn sim(dir: &std::path::Path, args: &[&str]) -> (Child, String) {
    let file = dir.join("agents.toml");
    let mut child = Command::new(bin("fleet-sim"))
        .args(args)
        .arg("--agents-toml")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn fleet-sim");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("fleet-sim ready");
    assert_eq!(line, "ready\n");
    (child, std::fs::read_to_string(&file).unwrap())
}

/// `(url without http://, token)` of agent `name` in fleet-sim's file.
fn entry(toml: &str, name: &str) -> (String, String) {
    let block = toml
        .split("[[agent]]")
        .find(|b| b.contains(&format!("name = \"{name}\"")))
        .unwrap_or_else(|| panic!("{name} not in {toml}"));
    let value = |key: &str| {
        let line = block
            .lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap();
        line.split('"').nth(1).unwrap().to_owned()
    };
    (
        value("url").trim_start_matches("http://").to_owned(),
        value("token"),
    )
}

#[test]
fn a_real_agent_passes_the_wire_checks() {
    let programs = r#"
[program.worker]
command = ["TESTPROG", "sleep"]
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 1
stopwaitsecs = 2

[group.celery]
programs = ["worker"]

[program.web]
command = ["TESTPROG", "sleep"]
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 1
"#;
    let agent = Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\""),
        programs,
    );
    wire_checks(&format!("127.0.0.1:{}", agent.tcp_port()), TOKEN);
}

#[test]
fn fleet_sim_passes_the_same_wire_checks() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, toml) = sim(dir.path(), &["--hosts", "3", "--processes", "4"]);
    assert_eq!(toml.matches("[[agent]]").count(), 3);
    for name in ["sim-00001", "sim-00002", "sim-00003"] {
        let (url, token) = entry(&toml, name);
        assert!(
            url.starts_with("127.0.0.1:") && token.len() >= 22,
            "{url} {token}"
        );
    }
    let (addr, token) = entry(&toml, "sim-00002");
    wire_checks(&addr, &token);
    // Another host's token is not this one's.
    let (other, _) = entry(&toml, "sim-00003");
    assert_eq!(
        request(&other, Some(&token), "GET", "/v1/status", "").status,
        401
    );
    // SIGTERM ends it, cleanly.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let st = poll_until(Duration::from_secs(10), || child.try_wait().ok().flatten());
    assert_eq!(st.and_then(|s| s.code()), Some(0));
}

#[test]
fn crash_loops_make_events_at_the_asked_rate() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--hosts",
        "2",
        "--processes",
        "10",
        "--crashing",
        "50",
        "--events-per-sec",
        "100",
    ];
    let (mut child, toml) = sim(dir.path(), &args);
    let (addr, token) = entry(&toml, "sim-00001");
    let started = std::time::Instant::now();
    // 100/s over 2 hosts: ~50/s here; a full cycle has a BACKOFF.
    let text = events(&addr, &token, 0, |fs| fs.len() >= 100);
    let took = started.elapsed();
    let fs = frames(&text);
    assert!(fs
        .iter()
        .any(|(_, e)| e.to == ProcessState::Backoff && e.exit_status.is_some()));
    assert!(took > Duration::from_millis(1000), "too fast: {took:?}");
    assert!(took < Duration::from_secs(8), "too slow: {took:?}");
    let st: AgentStatus =
        serde_json::from_slice(&request(&addr, Some(&token), "GET", "/v1/status", "").body)
            .unwrap();
    assert!(st
        .processes
        .iter()
        .any(|p| p.restarts > 0 && p.exits_unasked > 0));
    stop_child(&mut child, Duration::from_secs(10));
}

#[test]
fn bad_command_lines_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agents.toml");
    for (args, needle) in [
        (&["--hosts", "0", "--processes", "4"][..], "--hosts"),
        (
            &["--hosts", "2", "--processes", "4", "--crashing", "120"][..],
            "percentage",
        ),
        (
            &["--hosts", "2", "--processes", "4", "--events-per-sec", "10"][..],
            "--crashing",
        ),
    ] {
        let out = Command::new(bin("fleet-sim"))
            .args(args)
            .arg("--agents-toml")
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!file.exists());
    }
}
