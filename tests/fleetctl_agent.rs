//! `fleetctl` against a real `fleet-agent`: the real binary, real child
//! processes, over the unix socket and over TCP with a token.

mod common;
use common::ctl::*;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

/// `fleetctl --agent SOCKET ARGS…`
fn ctl(a: &Agent, args: &[&str]) -> Out {
    let mut c = fleetctl_cmd();
    c.arg("--agent").arg(&a.socket).args(args);
    run(c)
}

fn ok(a: &Agent, args: &[&str]) -> Out {
    let o = ctl(a, args);
    assert_eq!(o.code, 0, "fleetctl {args:?}: {o:?}");
    o
}

/// The line of stdout with `name` in its first two columns (status tables
/// lead with GROUP, action tables with NAME).
fn line_of<'a>(o: &'a Out, name: &str) -> &'a str {
    o.stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).any(|c| c == name))
        .unwrap_or_else(|| panic!("no line for {name}: {o:?}"))
}

/// A running `fleetctl` whose stdout is read line by line in a thread.
struct Follower {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(a: &Agent, args: &[&str]) -> Follower {
        let mut c = fleetctl_cmd();
        c.arg("--agent")
            .arg(&a.socket)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn fleetctl");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follower { child, lines }
    }

    /// Read lines until one satisfies `f`; panics at the deadline.
    fn wait_line(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + T;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if f(&l) => return l,
                Ok(l) => seen.push(l),
                Err(_) => panic!("timed out waiting for {what}; saw {seen:#?}"),
            }
        }
    }
}

impl Follower {
    /// The first line satisfying `f` within `within`, if any.
    fn next_line_within(&self, within: Duration, f: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if f(&l) => return Some(l),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // Kill our own child by its pid, then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const WEB: &str = r#"
[program.web]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 0
stopwaitsecs = 5

[program.flower]
command = "TESTPROG sleep"
startsecs = 0
"#;

fn web_agent() -> Agent {
    let a = Agent::start(WEB);
    for p in ["web:web_00", "web:web_01", "flower:flower"] {
        a.wait_state(p, "RUNNING", T);
    }
    a
}

#[test]
fn status_prints_a_table_of_every_process() {
    let a = web_agent();
    let o = ok(&a, &["status"]);
    let header: Vec<&str> = o
        .stdout
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["GROUP", "NAME", "STATE", "PID", "UPTIME", "DESCRIPTION"]
    );
    for name in ["web:web_00", "web:web_01", "flower:flower"] {
        let cols: Vec<&str> = line_of(&o, name).split_whitespace().collect();
        assert_eq!(cols[0], name.split(':').next().unwrap(), "{o:?}");
        assert_eq!(cols[2], "RUNNING", "{o:?}");
        assert_eq!(cols[3], a.pid_of(name).unwrap().to_string(), "{o:?}");
    }
    assert_eq!(o.stdout.lines().count(), 4, "{o:?}");
    assert!(!o.stdout.contains('\x1b'), "no colour when not a TTY");

    let o = ok(&a, &["status", "group:web"]);
    assert_eq!(o.stdout.lines().count(), 3, "{o:?}");
    assert!(!o.stdout.contains("flower"), "{o:?}");
}

#[test]
fn status_json_carries_the_agent_fields() {
    let a = web_agent();
    let v = ok(&a, &["-o", "json", "status"]).json();
    let procs = v["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 3);
    for p in procs {
        assert!(p["name"].is_string() && p["group"].is_string(), "{p}");
        assert_eq!(p["state"], "RUNNING");
        assert!(p["pid"].as_u64().unwrap() > 0);
    }
    let w = procs.iter().find(|p| p["name"] == "web:web_00").unwrap();
    assert_eq!(w["group"], "web");
    assert_eq!(
        w["pid"].as_i64().unwrap() as i32,
        a.pid_of("web:web_00").unwrap()
    );

    let v = ok(&a, &["status", "web:*", "-o", "json"]).json();
    let names: Vec<&str> = v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web:web_00", "web:web_01"]);
}

#[test]
fn stop_and_restart_by_group_and_glob() {
    let a = web_agent();
    let flower = a.pid_of("flower:flower");

    let before = a.pid_of("web:web_00").unwrap();
    let o = ok(&a, &["restart", "group:web"]);
    assert!(line_of(&o, "web:web_00").contains("restarted"), "{o:?}");
    let after = a.pid_of("web:web_00").unwrap();
    assert_ne!(before, after);
    assert!(
        line_of(&o, "web:web_00").contains(&format!("pid {after}")),
        "{o:?}"
    );
    assert_eq!(a.pid_of("flower:flower"), flower, "flower was not touched");

    let o = ok(&a, &["stop", "web:*"]);
    for name in ["web:web_00", "web:web_01"] {
        assert!(line_of(&o, name).contains("stopped"), "{o:?}");
        assert_eq!(a.state(name), "STOPPED");
    }
    let st = ok(&a, &["status"]);
    assert!(line_of(&st, "web:web_00").contains("STOPPED"), "{st:?}");
    assert!(line_of(&st, "flower:flower").contains("RUNNING"), "{st:?}");

    let o = ok(&a, &["stop", "group:web"]);
    assert!(
        line_of(&o, "web:web_01").contains("already stopped"),
        "{o:?}"
    );

    let o = ok(&a, &["-o", "json", "stop", "flower"]);
    let v = o.json();
    assert_eq!(v["verb"], "stop");
    assert_eq!(v["results"][0]["name"], "flower:flower");
    assert_eq!(v["results"][0]["outcome"], "ok");
    assert_eq!(a.state("flower:flower"), "STOPPED");
}

/// Starting stopped processes. Ignored until the agent publishes its
/// snapshot before answering a command: today `POST .../start` right after
/// a stop sometimes answers `failed` / "stopped by another request" (the
/// handler judges the pre-command snapshot, where wanted is still
/// `stopped`) although the processes do start.
#[test]
fn start_by_group_and_glob() {
    let a = web_agent();
    for _ in 0..5 {
        ok(&a, &["stop", "group:web"]);
        let o = ok(&a, &["start", "web:*"]);
        for name in ["web:web_00", "web:web_01"] {
            assert!(line_of(&o, name).contains("started"), "{o:?}");
            assert_eq!(a.state(name), "RUNNING");
        }
        ok(&a, &["stop", "web:*"]);
        let o = ok(&a, &["start", "group:web"]);
        assert!(line_of(&o, "web:web_00").contains("started"), "{o:?}");
    }
    let o = ok(&a, &["start", "group:web"]);
    assert!(
        line_of(&o, "web:web_00").contains("already running"),
        "{o:?}"
    );
}

#[test]
fn dry_run_lists_without_touching() {
    let a = web_agent();
    let pid = a.pid_of("web:web_00");
    let o = ok(&a, &["restart", "group:web", "--dry-run"]);
    assert!(line_of(&o, "web:web_00").contains("would restart"), "{o:?}");
    assert!(line_of(&o, "web:web_01").contains("would restart"), "{o:?}");
    assert!(!o.stdout.contains("flower"), "{o:?}");
    assert_eq!(a.pid_of("web:web_00"), pid);
}

#[test]
fn failing_restart_exits_1_and_names_the_process() {
    let a = Agent::start(
        r#"
[program.ok]
command = "TESTPROG sleep"
startsecs = 0

[program.crash]
command = "TESTPROG exit 3"
startsecs = 1
startretries = 0
"#,
    );
    a.wait_state("crash:crash", "FATAL", T);
    a.wait_state("ok:ok", "RUNNING", T);
    let o = ctl(&a, &["restart", "all"]);
    assert_eq!(o.code, 1, "{o:?}");
    let crash = line_of(&o, "crash:crash");
    assert!(crash.contains("FAILED") && crash.contains("FATAL"), "{o:?}");
    assert!(crash.contains("exit code 3"), "{o:?}");
    assert!(line_of(&o, "ok:ok").contains("restarted"), "{o:?}");
    assert!(o.stderr.contains("crash:crash"), "{o:?}");
    assert!(!o.stderr.contains("ok:ok"), "{o:?}");
}

#[test]
fn unknown_target_exits_1_with_the_agents_message() {
    let a = web_agent();
    let o = ctl(&a, &["stop", "nope"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    assert!(
        o.stderr
            .starts_with("fleetctl: no program, process or group named \"nope\""),
        "{o:?}"
    );
    assert!(o.stderr.contains(&a.socket.display().to_string()), "{o:?}");
    assert!(o.stderr.contains("404"), "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");

    let o = ctl(&a, &["status", "group:nope"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("no process matches"), "{o:?}");
}

#[test]
fn usage_errors_exit_2_and_touch_nothing() {
    let a = web_agent();
    let pids: Vec<_> = ["web:web_00", "web:web_01"]
        .iter()
        .map(|n| a.pid_of(n))
        .collect();
    let cases: &[&[&str]] = &[
        &["stop", "a b"],
        &["stop", "web:"],
        &["restart", "group:"],
        &["signal", "NOPE", "web"],
        &["signal", "99", "web"],
        &["signal", "HUP"],
        &["stop"],
        &["frobnicate"],
        &["stop", "web", "--rolling", "2"],
        &["stop", "web", "--hosts", "w-*"],
        &["hosts"],
        &["tail", "host", "web:web_00"],
        &["-o", "yaml", "status"],
    ];
    for args in cases {
        let o = ctl(&a, args);
        assert_eq!(o.code, 2, "fleetctl {args:?}: {o:?}");
        assert!(!o.stderr.is_empty(), "fleetctl {args:?}: {o:?}");
        assert!(o.stdout.is_empty(), "fleetctl {args:?}: {o:?}");
    }
    // A bad selector is refused before connecting anywhere.
    let mut c = fleetctl_cmd();
    c.args(["--agent", "/nonexistent/agent.sock", "stop", "../etc"]);
    let o = run(c);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.starts_with("fleetctl: bad selector"), "{o:?}");

    let now: Vec<_> = ["web:web_00", "web:web_01"]
        .iter()
        .map(|n| a.pid_of(n))
        .collect();
    assert_eq!(pids, now);
    assert_eq!(a.state("web:web_00"), "RUNNING");
}

#[test]
fn signal_hup_reaches_the_process() {
    let a = Agent::start(
        r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0
autorestart = false
"#,
    );
    let pid = a.wait_state("web:web", "RUNNING", T)["pid"]
        .as_i64()
        .unwrap();
    let o = ok(&a, &["signal", "hup", "web"]);
    assert!(line_of(&o, "web:web").contains("sent SIGHUP"), "{o:?}");
    // fleet-testprog has no HUP handler, so the signal kills it.
    let p = wait_for(T, "web to die of SIGHUP", || {
        let p = a.process("web:web");
        (p["state"] == "EXITED").then_some(p)
    });
    assert_eq!(p["exit_status"]["signal"], "HUP", "{p}");
    assert!(!alive(pid as i32));
}

#[test]
fn tail_prints_the_log_and_follows_new_lines() {
    let a = Agent::start(
        r#"
[program.tick]
command = "TESTPROG ticker 100"
startsecs = 0

[program.err]
command = "TESTPROG stderr oops-on-stderr"
startsecs = 0
"#,
    );
    a.wait_state("tick:tick", "RUNNING", T);
    let first = wait_for(T, "a few ticks", || {
        let o = ok(&a, &["tail", "tick"]);
        o.stdout.contains("tick 2").then_some(o)
    });
    assert!(first.stdout.starts_with("tick 0\n"), "{first:?}");

    let o = ok(&a, &["tail", "-n", "7", "tick:tick"]);
    assert!(o.stdout.len() <= 7, "{o:?}");

    let err = wait_for(T, "stderr output", || {
        let o = ok(&a, &["tail", "--stderr", "err"]);
        o.stdout.contains("oops-on-stderr").then_some(o)
    });
    assert_eq!(err.stdout, "oops-on-stderr\n");

    // Follow: a tick numbered higher than any already printed must arrive.
    let last = ok(&a, &["tail", "tick"])
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("tick ")?.parse::<u64>().ok())
        .max()
        .unwrap();
    let f = Follower::start(&a, &["tail", "-f", "tick"]);
    f.wait_line("a new tick", |l| {
        l.strip_prefix("tick ")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > last + 1)
    });
}

#[test]
fn events_stream_shows_state_changes() {
    let a = web_agent();
    let f = Follower::start(&a, &["events"]);
    // Nothing tells us when the follower has subscribed, so restart until
    // its stream shows a restart, within one overall deadline.
    let deadline = Instant::now() + T;
    let stopping = loop {
        assert!(Instant::now() < deadline, "no restart seen on the stream");
        ok(&a, &["restart", "web:web_00"]);
        let line = f.next_line_within(Duration::from_secs(1), |l| {
            l.contains("web:web_00") && l.contains("RUNNING -> STOPPING")
        });
        if let Some(l) = line {
            break l;
        }
    };
    assert!(stopping.contains("pid "), "{stopping}");
    f.wait_line("web_00 running again", |l| {
        l.contains("web:web_00") && l.contains("STARTING -> RUNNING")
    });
}

#[test]
fn reload_reports_added_and_removed_programs() {
    let a = web_agent();
    a.write_config(
        r#"
[program.web]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 0
stopwaitsecs = 5

[program.beat]
command = "TESTPROG sleep"
startsecs = 0
"#,
    );
    let o = ok(&a, &["reload"]);
    assert!(o.stdout.contains("added: beat"), "{o:?}");
    assert!(o.stdout.contains("removed: flower"), "{o:?}");
    a.wait_state("beat:beat", "RUNNING", T);

    let o = ok(&a, &["reload"]);
    assert!(o.stdout.starts_with("no changes"), "{o:?}");

    let v = ok(&a, &["reload", "-o", "json"]).json();
    assert_eq!(v["unchanged"], serde_json::json!(["beat", "web"]));

    std::fs::write(&a.config, "this is [not toml").unwrap();
    let o = ctl(&a, &["reload"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.starts_with("fleetctl: "), "{o:?}");
    assert_eq!(a.state("beat:beat"), "RUNNING");
}

#[test]
fn unreachable_socket_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let mut c = fleetctl_cmd();
    c.arg("--agent").arg(&sock).arg("status");
    let o = run(c);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.is_empty());
    assert_eq!(
        o.stderr,
        format!(
            "fleetctl: cannot connect to {}: No such file or directory (is fleet-agent running?)\n",
            sock.display()
        )
    );
}

#[test]
fn agent_from_env_and_config_file() {
    let a = web_agent();
    let mut c = fleetctl_cmd();
    c.env("FLEET_AGENT", &a.socket).arg("status");
    let o = run(c);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("web:web_00"));

    let cfg = a.dir.path().join("fleetctl.toml");
    std::fs::write(
        &cfg,
        format!("agent = {:?}\n", a.socket.display().to_string()),
    )
    .unwrap();
    let mut c = fleetctl_cmd();
    c.env("FLEETCTL_CONFIG", &cfg).arg("status");
    let o = run(c);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("flower:flower"));

    std::fs::write(&cfg, "agnet = \"/x\"\n").unwrap();
    let mut c = fleetctl_cmd();
    c.env("FLEETCTL_CONFIG", &cfg).arg("status");
    let o = run(c);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("agnet"), "{o:?}");
}

fn ctl_url(url: &str, extra: &[&str], env_token: Option<&str>) -> Out {
    let mut c = fleetctl_cmd();
    c.args(["--agent", url]).args(extra);
    if let Some(t) = env_token {
        c.env("FLEET_TOKEN", t);
    }
    run(c)
}

#[test]
fn tcp_agent_needs_the_token() {
    const TOKEN: &str = "s3cret-token-for-the-test";
    let a = Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\""),
        WEB,
    );
    a.wait_state("web:web_00", "RUNNING", T);
    let url = format!("http://127.0.0.1:{}", a.tcp_port());

    let o = ctl_url(&url, &["--token", TOKEN, "status"], None);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(line_of(&o, "web:web_00").contains("RUNNING"), "{o:?}");

    let o = ctl_url(&url, &["restart", "web:web_01"], Some(TOKEN));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(line_of(&o, "web:web_01").contains("restarted"), "{o:?}");

    let o = ctl_url(&url, &["status"], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    assert!(
        o.stderr.contains("401") && o.stderr.contains("missing token"),
        "{o:?}"
    );
    assert!(o.stderr.contains(&url), "{o:?}");
    assert!(o.stderr.contains("--token"), "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");

    let pid = a.pid_of("web:web_00");
    let o = ctl_url(&url, &["--token", "wrong-guess", "stop", "all"], None);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("invalid token"), "{o:?}");
    assert!(!o.stderr.contains("wrong-guess") && !o.stdout.contains("wrong-guess"));
    assert_eq!(a.pid_of("web:web_00"), pid);
    assert_eq!(a.state("web:web_00"), "RUNNING");

    // Nothing listening on TCP: refused, naming the URL.
    let (_guard, closed) = closed_port();
    let closed = format!("http://127.0.0.1:{closed}");
    let o = ctl_url(&closed, &["status"], Some(TOKEN));
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .starts_with(&format!("fleetctl: cannot connect to {closed}: ")),
        "{o:?}"
    );
    assert!(!o.stderr.contains(TOKEN));
}

#[test]
fn closed_stdout_ends_tail_follow_with_success() {
    let a = Agent::start(
        r#"
[program.tick]
command = "TESTPROG ticker 50"
startsecs = 0
"#,
    );
    a.wait_state("tick:tick", "RUNNING", T);
    let mut c = fleetctl_cmd();
    c.arg("--agent")
        .arg(&a.socket)
        .args(["tail", "-f", "tick"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    // Close the read end: fleetctl's next write fails with EPIPE.
    drop(child.stdout.take());
    let status = wait_for(T, "fleetctl to notice the closed pipe", || {
        child.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn https_agent_with_cacert() {
    let certs = tempfile::tempdir().unwrap();
    common::pki::pki().write(certs.path());
    std::fs::write(certs.path().join("not-pem.txt"), "not a certificate\n").unwrap();
    const TOKEN: &str = "tls-test-token-0123456789";
    let p = |f: &str| certs.path().join(f).display().to_string();
    let a = Agent::start_with(
        &format!(
            "listen = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\ntls_cert = {:?}\ntls_key = {:?}",
            p("leaf.pem"),
            p("leaf.key")
        ),
        WEB,
    );
    a.wait_state("web:web_00", "RUNNING", T);
    let port = a.tcp_port();
    let url = format!("https://127.0.0.1:{port}");
    let ca = p("ca.pem");

    let o = ctl_url(&url, &["--cacert", &ca, "status"], Some(TOKEN));
    assert_eq!(o.code, 0, "{o:?}");
    assert!(line_of(&o, "web:web_00").contains("RUNNING"), "{o:?}");

    // Without the CA the certificate is not trusted: one line, exit 1.
    let o = ctl_url(&url, &["status"], Some(TOKEN));
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .starts_with(&format!("fleetctl: cannot connect to {url}: ")),
        "{o:?}"
    );
    assert!(o.stderr.contains("certificate"), "{o:?}");
    assert!(o.stderr.contains("--cacert"), "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");

    // A CA file that is not PEM is refused before connecting.
    let o = ctl_url(
        &url,
        &["--cacert", &p("not-pem.txt"), "status"],
        Some(TOKEN),
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("cannot use CA certificate"), "{o:?}");
}
