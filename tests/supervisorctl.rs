//! supervisord's protocol, spoken to real clients: the real `supervisorctl`
//! (PyPI `supervisor`, installed by .ci/run, run as `python3 -m
//! supervisor.supervisorctl`) over `unix://SOCKET` and over
//! `http://127.0.0.1:PORT -u USER -p TOKEN`, checking the exact lines and
//! exit codes Ansible parses; and Python's `xmlrpc.client`
//! (tests/supervisord/xmlrpc_clients.py: every method and fault, and the
//! calls Datadog, Telegraf and node_exporter make).

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const TOKEN: &str = "s3cret-token-0123456789ab";

const CONFIG: &str = r#"
[program.one]
command = "TESTPROG sleep"
startsecs = 0

[program.web]
command = "TESTPROG sleep"
numprocs = 2
process_name = "web_{num}"
startsecs = 0

[program.manual]
command = "TESTPROG sleep"
autostart = false
startsecs = 1

[program.bad]
command = "/nonexistent/fleet-test-program"
autostart = false

[program.quick]
command = "TESTPROG exit 1"
autostart = false
startsecs = 1
startretries = 0

[program.err]
command = "TESTPROG stderr to-stderr"
startsecs = 0
"#;

fn supervisorctl_cmd(server: &[String], args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    // Our own empty config: no supervisord.conf of this machine gets in
    // the way.
    let conf = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/supervisord/supervisorctl.conf"
    );
    c.args(["-m", "supervisor.supervisorctl", "-c", conf])
        .args(server)
        .args(args)
        .env("LANG", "C")
        .stdin(Stdio::null());
    c
}

/// Run supervisorctl; (exit code, stdout lines).
fn ctl(server: &[String], args: &[&str]) -> (i32, Vec<String>) {
    let out = supervisorctl_cmd(server, args)
        .output()
        .expect("python3 -m supervisor.supervisorctl (pip install supervisor)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text.lines().map(str::to_owned).collect(),
    )
}

fn unix(a: &Agent) -> Vec<String> {
    vec!["-s".into(), format!("unix://{}", a.socket.display())]
}

#[track_caller]
fn expect(server: &[String], args: &[&str], code: i32, lines: &[&str]) {
    let (got, out) = ctl(server, args);
    let mut sorted = out.clone();
    sorted.sort();
    let mut want: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        (got, sorted),
        (code, want),
        "supervisorctl {args:?} printed {out:?}"
    );
}

/// The status line of `name`: (namespec, state, rest).
fn status_of(server: &[String], name: &str) -> (i32, Vec<String>) {
    let (code, out) = ctl(server, &["status", name]);
    let fields = out
        .first()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    (code, fields)
}

#[test]
fn supervisorctl_over_the_unix_socket() {
    let a = Agent::start(CONFIG);
    let s = unix(&a);
    wait_for(T, "one and web RUNNING", || {
        let p = a.status()["processes"].as_array().unwrap().clone();
        p.iter()
            .filter(|p| p["state"] == "RUNNING")
            .count()
            .eq(&4)
            .then_some(())
    });

    // status: exit 3 while some listed process is stopped, 0 when all run,
    // 4 for an unknown name.
    let (code, out) = ctl(&s, &["status"]);
    assert_eq!(code, 3, "{out:?}");
    let names: Vec<&str> = out
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bad",
            "err",
            "manual",
            "one",
            "quick",
            "web:web_0",
            "web:web_1"
        ]
    );
    let (code, f) = status_of(&s, "one");
    assert_eq!(
        (code, f[0].as_str(), f[1].as_str(), f[2].as_str()),
        (0, "one", "RUNNING", "pid")
    );
    let (code, f) = status_of(&s, "manual");
    assert_eq!(
        (code, &f[1..]),
        (
            3,
            &["STOPPED".to_owned(), "Not".into(), "started".into()][..]
        )
    );
    expect(
        &s,
        &["status", "nosuch"],
        4,
        &["nosuch: ERROR (no such process)"],
    );

    // start / stop / restart of a name, a group and all.
    expect(&s, &["stop", "one"], 0, &["one: stopped"]);
    expect(&s, &["stop", "one"], 0, &["one: ERROR (not running)"]);
    expect(&s, &["start", "one"], 0, &["one: started"]);
    expect(&s, &["start", "one"], 0, &["one: ERROR (already started)"]);
    expect(
        &s,
        &["restart", "one"],
        0,
        &["one: stopped", "one: started"],
    );
    expect(
        &s,
        &["start", "nosuch"],
        1,
        &["nosuch: ERROR (no such process)"],
    );
    expect(&s, &["start", "bad"], 7, &["bad: ERROR (spawn error)"]);
    expect(
        &s,
        &["start", "quick"],
        7,
        &["quick: ERROR (abnormal termination)"],
    );
    expect(
        &s,
        &["stop", "web:*"],
        0,
        &["web:web_0: stopped", "web:web_1: stopped"],
    );
    expect(
        &s,
        &["start", "web:*"],
        0,
        &["web:web_0: started", "web:web_1: started"],
    );
    expect(&s, &["start", "web:*"], 0, &[]);
    expect(
        &s,
        &["restart", "web:*"],
        0,
        &[
            "web:web_0: stopped",
            "web:web_1: stopped",
            "web:web_0: started",
            "web:web_1: started",
        ],
    );
    expect(
        &s,
        &["stop", "all"],
        0,
        &[
            "bad: stopped",
            "err: stopped",
            "one: stopped",
            "web:web_0: stopped",
            "web:web_1: stopped",
        ],
    );
    let (_, out) = ctl(&s, &["start", "all"]);
    for want in [
        "err: started",
        "one: started",
        "manual: started",
        "web:web_0: started",
        "web:web_1: started",
    ] {
        assert!(out.iter().any(|l| l == want), "start all: {out:?}");
    }
    assert!(
        out.iter().any(|l| l == "bad: ERROR (spawn error)"),
        "{out:?}"
    );

    // signal: WINCH is harmless to the test program.
    expect(&s, &["signal", "WINCH", "one"], 0, &["one: signalled"]);
    expect(
        &s,
        &["signal", "SIGWINCH", "web:*"],
        0,
        &["web:web_0: signalled", "web:web_1: signalled"],
    );
    expect(
        &s,
        &["signal", "BOGUS", "one"],
        1,
        &["one: ERROR (bad signal name)"],
    );
    expect(
        &s,
        &["signal", "WINCH", "quick"],
        7,
        &["quick: ERROR (not running)"],
    );

    // pid, version, tail.
    expect(&s, &["pid"], 0, &[&a.pid().to_string()]);
    let pid = a.pid_of("one:one").unwrap().to_string();
    expect(&s, &["pid", "one"], 0, &[&pid]);
    expect(&s, &["version"], 0, &[env!("CARGO_PKG_VERSION")]);
    wait_for(T, "tail shows output", || {
        let (_, out) = ctl(&s, &["tail", "err", "stderr"]);
        out.iter().any(|l| l == "to-stderr").then_some(())
    });
    // The last 5 bytes of "ready PID\n".
    let (_, out) = ctl(&s, &["tail", "-5", "one"]);
    let want = format!("ready {pid}");
    assert_eq!(
        out.first().map(String::as_str),
        Some(&want[want.len() - 4..]),
        "{out:?}"
    );
    expect(&s, &["clear", "one"], 0, &["one: cleared"]);
    expect(
        &s,
        &["clear", "nosuch"],
        1,
        &["nosuch: ERROR (no such process)"],
    );

    // tail -f: the last bytes, then live output.
    let mut f = supervisorctl_cmd(&s, &["tail", "-f", "err", "stderr"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(f.stdout.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.by_ref().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let seen = poll_until(T, || rx.try_recv().ok().filter(|l| l.contains("to-stderr")));
    let _ = f.kill();
    let _ = f.wait();
    assert!(seen.is_some(), "tail -f showed no output");

    // avail, reread, update after editing the TOML, add, remove.
    let (code, out) = ctl(&s, &["avail"]);
    assert_eq!(code, 0);
    assert!(
        out.iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["one", "in", "use", "auto", "999:999"]),
        "avail: {out:?}"
    );
    expect(&s, &["reread"], 0, &["No config updates to processes"]);
    let edited = CONFIG
        .replace(
            "[program.err]\ncommand = \"TESTPROG stderr to-stderr\"",
            "[program.fresh]\ncommand = \"TESTPROG sleep\"",
        )
        .replace(
            "[program.one]\ncommand = \"TESTPROG sleep\"",
            "[program.one]\ncommand = \"TESTPROG stderr changed\"",
        );
    a.write_config(&edited);
    expect(
        &s,
        &["reread"],
        0,
        &["err: disappeared", "fresh: available", "one: changed"],
    );
    expect(
        &s,
        &["update"],
        0,
        &[
            "err: stopped",
            "err: removed process group",
            "one: stopped",
            "one: updated process group",
            "fresh: added process group",
        ],
    );
    wait_for(T, "fresh and the new one running", || {
        (a.state("fresh:fresh") == "RUNNING" && a.state("one:one") == "RUNNING").then_some(())
    });
    assert!(a.find_process("err:err").is_none());
    expect(&s, &["reread"], 0, &["No config updates to processes"]);
    expect(
        &s,
        &["remove", "fresh"],
        1,
        &["ERROR: process/group still running: fresh"],
    );
    expect(&s, &["stop", "fresh"], 0, &["fresh: stopped"]);
    expect(
        &s,
        &["remove", "fresh"],
        0,
        &["fresh: removed process group"],
    );
    expect(
        &s,
        &["remove", "fresh"],
        1,
        &["ERROR: no such process/group: fresh"],
    );
    expect(&s, &["add", "fresh"], 0, &["fresh: added process group"]);
    expect(
        &s,
        &["add", "fresh"],
        0,
        &["ERROR: process group already active"],
    );
    expect(
        &s,
        &["add", "nosuch"],
        1,
        &["ERROR: no such process/group: nosuch"],
    );
    a.wait_state("fresh:fresh", "RUNNING", T);

    // A config the agent refuses: reread says so and nothing changes.
    a.write_config("[program.broken]\ncommand = 5\n");
    let (code, out) = ctl(&s, &["reread"]);
    assert!(
        code != 0 && out.iter().any(|l| l.starts_with("ERROR: CANT_REREAD")),
        "{out:?}"
    );
    assert_eq!(a.state("fresh:fresh"), "RUNNING");
}

#[test]
fn supervisorctl_over_tcp_with_basic_auth() {
    let a = Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = {TOKEN:?}"),
        CONFIG,
    );
    let port = a.tcp_port();
    let url = format!("http://127.0.0.1:{port}");
    let s = vec![
        "-s".into(),
        url.clone(),
        "-u".into(),
        "ops".into(),
        "-p".into(),
        TOKEN.into(),
    ];
    a.wait_state("one:one", "RUNNING", T);
    let (code, f) = status_of(&s, "one");
    assert_eq!((code, f[0].as_str(), f[1].as_str()), (0, "one", "RUNNING"));
    expect(
        &s,
        &["restart", "one"],
        0,
        &["one: stopped", "one: started"],
    );

    // A wrong password and no login: supervisord's 401.
    let bad = vec![
        "-s".into(),
        url,
        "-u".into(),
        "ops".into(),
        "-p".into(),
        "wrong".into(),
    ];
    let (_, out) = ctl(&bad, &["status"]);
    assert!(
        out.iter()
            .any(|l| l.contains("Server requires authentication")),
        "{out:?}"
    );
    for auth in ["", "Authorization: Basic b3BzOndyb25n\r\n"] {
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            tcp,
            "POST /RPC2 HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        std::io::Read::read_to_string(&mut tcp, &mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"default\""),
            "{resp}"
        );
    }
    // Basic auth is for supervisord's routes only; /v1 keeps Bearer.
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        tcp,
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic b3BzOnMzY3JldC10b2tlbg==\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut tcp, &mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");

    run_python_clients(&format!("http://ops:{TOKEN}@127.0.0.1:{port}/RPC2"), &a);
}

#[test]
fn xmlrpc_client_over_the_unix_socket() {
    let a = Agent::start(CONFIG);
    run_python_clients(&format!("unix://{}", a.socket.display()), &a);
}

fn run_python_clients(url: &str, a: &Agent) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/supervisord/xmlrpc_clients.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("checks passed"),
        "xmlrpc_clients.py failed:\n{stdout}\n{}\nagent: {}",
        String::from_utf8_lossy(&out.stderr),
        a.stderr()
    );
}
