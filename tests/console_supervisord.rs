//! Mixed estates (issue #29): one console in front of a fleet agent and
//! two real supervisords (PyPI `supervisor` 4.3, `python3 -m
//! supervisor.supervisord -n`), one on a unix socket, one on TCP with a
//! password. The console's picture agrees field by field with supervisord's
//! own `getAllProcessInfo` (read with supervisor's own Python client); a
//! parallel restart of `group:celery` spans both kinds in one op, with a
//! verdict per host and new pids everywhere; log tails come through; a
//! SIGKILLed supervisord is shown down and an op on it is `unreachable`
//! while the others succeed, a SIGSTOPped one (black hole) too, with
//! `/v1/status` still fast; the password is never in an answer, the page
//! or the console's log. Also: `fleetctl restart group:celery` and a
//! rolling restart across both kinds, a supervisord SIGKILLed mid-op
//! (`unreachable`, the fleet host `ok`), supervisord's faults as outcomes, a
//! followed log, the page in headless Chromium, a hostile supervisord
//! (entities, nesting, size) bounded, and a host switched to fleet-agent
//! under the same name keeping its ops.

mod common;
use common::browser::*;
use common::console::*;
use common::ctl::*;
use common::pki::pki;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);
const PASSWORD: &str = "sv-pass-4f9c2e71d0a8b3";

/// A real supervisord in a temp dir, with a `celery` group of two workers
/// (as the fleet agent's `CELERY`) and a `talker` that writes a line.
struct Supervisord {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `unix:///…sock` or `http://127.0.0.1:PORT/RPC2`.
    url: String,
    password: bool,
    /// Pids of the programs it ran (stopped on drop if it cannot).
    seen: Vec<i32>,
    frozen: bool,
}

impl Supervisord {
    fn start(tcp_with_password: bool) -> Supervisord {
        Self::start_with(tcp_with_password, "", 3)
    }

    /// With `extra` programs (`{tp}` is the test program), waiting for
    /// `running` RUNNING processes.
    fn start_with(tcp_with_password: bool, extra: &str, running: usize) -> Supervisord {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (server, url) = if tcp_with_password {
            let port = free_port();
            (
                format!(
                    "[inet_http_server]\nport = 127.0.0.1:{port}\nusername = admin\npassword = {PASSWORD}\n"
                ),
                format!("http://127.0.0.1:{port}/RPC2"),
            )
        } else {
            (
                format!("[unix_http_server]\nfile = {d}/sv.sock\n"),
                format!("unix://{d}/sv.sock"),
            )
        };
        let conf = format!(
            "{server}
[supervisord]
nodaemon = true
logfile = {d}/supervisord.log
pidfile = {d}/supervisord.pid
childlogdir = {d}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[group:celery]
programs = worker

[program:worker]
command = {tp} sleep
numprocs = 2
process_name = %(program_name)s_%(process_num)02d
startsecs = 0
stopwaitsecs = 2

[program:talker]
command = {tp} stderr hello-from-supervisord
startsecs = 0

[program:bad]
command = /nonexistent/fleet-test-program
autostart = false
startretries = 0

{extra}
",
            tp = testprog(),
            extra = extra.replace("{tp}", testprog()),
        );
        let path = dir.path().join("supervisord.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("python3")
            .args(["-m", "supervisor.supervisord", "-n", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m supervisor.supervisord (pip install supervisor)");
        let mut sv = Supervisord {
            dir,
            child: Some(child),
            url,
            password: tcp_with_password,
            seen: vec![],
            frozen: false,
        };
        wait_for(T, "supervisord to run its programs", || {
            let all = sv.try_info()?;
            let n = all
                .as_array()?
                .iter()
                .filter(|p| p["statename"] == "RUNNING")
                .count();
            (n == running).then_some(())
        });
        sv
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    /// supervisord's own `getAllProcessInfo`, read by supervisor's own
    /// Python client (its `SupervisorTransport`, as supervisorctl uses).
    fn try_info(&mut self) -> Option<Value> {
        let script = "import sys, json, xmlrpc.client\n\
from supervisor.xmlrpc import SupervisorTransport\n\
t = SupervisorTransport(sys.argv[2] or None, sys.argv[3] or None, sys.argv[1])\n\
p = xmlrpc.client.ServerProxy('http://127.0.0.1', transport=t)\n\
print(json.dumps(p.supervisor.getAllProcessInfo()))\n";
        let (user, pass) = match self.password {
            true => ("admin", PASSWORD),
            false => ("", ""),
        };
        let out = Command::new("python3")
            .args(["-c", script, &self.url, user, pass])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        for p in v.as_array()? {
            if let Some(pid) = p["pid"].as_i64().filter(|p| *p > 0) {
                if !self.seen.contains(&(pid as i32)) {
                    self.seen.push(pid as i32);
                }
            }
        }
        Some(v)
    }

    fn info(&mut self) -> Vec<Value> {
        let v = wait_for(T, "supervisord's getAllProcessInfo", || self.try_info());
        v.as_array().unwrap().clone()
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        if self.frozen {
            let _ = kill(self.pid(), Signal::SIGCONT);
        }
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
        // A SIGKILLed supervisord leaves its programs running: stop the
        // ones it ran, by pid.
        for pid in &self.seen {
            if alive(*pid) && !is_zombie(*pid) {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            }
        }
        let _ = &self.dir;
    }
}

/// console.toml entries for the two supervisords, polled every 500 ms.
fn sv_entries(unix: &Supervisord, tcp: &Supervisord, pass_file: &Path) -> String {
    format!(
        "[[agent]]\nname = \"sv-unix\"\nkind = \"supervisord\"\nurl = \"{}\"\npoll = \"500ms\"\n\n\
         [[agent]]\nname = \"sv-tcp\"\nkind = \"supervisord\"\nurl = \"{}\"\nusername = \"admin\"\n\
         password_file = \"{}\"\npoll = \"500ms\"\n\n",
        unix.url,
        tcp.url,
        pass_file.display()
    )
}

struct Estate {
    unix: Supervisord,
    tcp: Supervisord,
    agent: Agent,
    console: Console,
    _secrets: tempfile::TempDir,
}

/// Both supervisords, a fleet agent with `CELERY`, one console in front.
fn estate() -> Estate {
    let unix = Supervisord::start(false);
    let tcp = Supervisord::start(true);
    let (agent, port) = tcp_agent(CELERY);
    let secrets = tempfile::tempdir().unwrap();
    let pass_file = secrets.path().join("sv-tcp.pass");
    std::fs::write(&pass_file, format!("{PASSWORD}\n")).unwrap();
    let console = Console::start(&format!(
        "{}{}",
        agent_entries(&[("fleet-1", port)]),
        sv_entries(&unix, &tcp, &pass_file)
    ));
    // 2 fleet workers, 2 workers and a talker per supervisord.
    let running = poll_until(T, || {
        let st = console.get("/v1/status");
        let n = st["processes"]
            .as_array()?
            .iter()
            .filter(|p| p["state"] == "RUNNING")
            .count();
        (n == 8).then_some(())
    });
    assert!(
        running.is_some(),
        "8 RUNNING processes: {}\n{}",
        console.get("/v1/hosts"),
        console.stderr()
    );
    Estate {
        unix,
        tcp,
        agent,
        console,
        _secrets: secrets,
    }
}

/// The console's processes of `host`.
fn of_host(status: &Value, host: &str) -> Vec<Value> {
    status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["host"] == host)
        .cloned()
        .collect()
}

/// The console's copy of each of supervisord's processes, field by field;
/// None while they differ (a poll may be in between).
fn agrees(console: &[Value], sv: &[Value]) -> Result<(), String> {
    if console.len() != sv.len() {
        return Err(format!(
            "{} processes in the console, {} in supervisord",
            console.len(),
            sv.len()
        ));
    }
    for s in sv {
        let name = format!(
            "{}:{}",
            s["group"].as_str().unwrap(),
            s["name"].as_str().unwrap()
        );
        let c = console
            .iter()
            .find(|c| c["name"] == name.as_str())
            .ok_or_else(|| format!("{name} missing in the console"))?;
        let state = s["statename"].as_str().unwrap();
        let live = matches!(state, "STARTING" | "RUNNING" | "STOPPING");
        let want_pid = if live { s["pid"].clone() } else { Value::Null };
        let start = s["start"].as_i64().unwrap();
        let want_start = if start > 0 {
            Value::from(start * 1000)
        } else {
            Value::Null
        };
        let checks = [
            ("group", c["group"].clone(), s["group"].clone()),
            ("process", c["process"].clone(), s["name"].clone()),
            ("state", c["state"].clone(), Value::from(state)),
            ("pid", c["pid"].clone(), want_pid),
            ("started_at", c["started_at"].clone(), want_start),
        ];
        for (field, got, want) in checks {
            if got != want {
                return Err(format!("{name}.{field}: console {got}, supervisord {want}"));
            }
        }
        if !live && c["description"] != s["description"] {
            return Err(format!(
                "{name}.description: {} vs {}",
                c["description"], s["description"]
            ));
        }
        let stop = s["stop"].as_i64().unwrap();
        if stop >= start && stop > 0 && c["exit_status"]["code"] != s["exitstatus"] {
            return Err(format!(
                "{name}.exit_status: {} vs {}",
                c["exit_status"], s["exitstatus"]
            ));
        }
    }
    Ok(())
}

fn wait_agree(e: &mut Estate, host: &str) {
    let sv = if host == "sv-unix" {
        &mut e.unix
    } else {
        &mut e.tcp
    };
    let mut why = String::new();
    let ok = poll_until(T, || {
        let info = sv.try_info()?;
        let st = e.console.get("/v1/status");
        match agrees(&of_host(&st, host), info.as_array()?) {
            Ok(()) => Some(()),
            Err(w) => {
                why = w;
                None
            }
        }
    });
    assert!(
        ok.is_some(),
        "{host}: console and supervisord disagree: {why}"
    );
}

#[test]
fn one_console_sees_and_restarts_both_kinds() {
    let mut e = estate();
    let hosts = e.console.get("/v1/hosts");
    let kinds: Vec<(String, String, bool)> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_owned(),
                h["kind"].as_str().unwrap().to_owned(),
                h["up"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("fleet-1".to_owned(), "fleet".to_owned(), true),
            ("sv-tcp".to_owned(), "supervisord".to_owned(), true),
            ("sv-unix".to_owned(), "supervisord".to_owned(), true),
        ]
    );
    assert!(
        hosts["hosts"][1]["version"]
            .as_str()
            .unwrap()
            .starts_with("supervisord 4."),
        "{hosts}"
    );
    wait_agree(&mut e, "sv-unix");
    wait_agree(&mut e, "sv-tcp");

    // One op, both kinds: restart group:celery everywhere, in parallel.
    let before = pids(&e.console.get("/v1/status"));
    let op = e
        .console
        .op(r#"{"action":"restart","target":"group:celery"}"#);
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        verdicts(&done),
        [
            ("fleet-1".to_owned(), "ok".to_owned()),
            ("sv-tcp".to_owned(), "ok".to_owned()),
            ("sv-unix".to_owned(), "ok".to_owned()),
        ],
        "{done}"
    );
    for h in done["hosts"].as_array().unwrap() {
        let procs = h["processes"].as_array().unwrap();
        assert_eq!(procs.len(), 2, "{h}");
        for p in procs {
            assert_eq!(
                (p["outcome"].as_str(), p["state"].as_str()),
                (Some("ok"), Some("RUNNING")),
                "{h}"
            );
            let key = (
                h["host"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            );
            assert_ne!(Some(&p["pid"].as_i64().unwrap()), before.get(&key), "{h}");
        }
    }
    // Every celery pid changed, the talkers' did not; supervisord agrees.
    let after = wait_for(T, "the new pids in the picture", || {
        let st = e.console.get("/v1/status");
        let now = pids(&st);
        let changed = before
            .iter()
            .filter(|(k, pid)| now.get(*k).is_some_and(|p| p != *pid))
            .count();
        (changed == 6 && now.len() == 8).then_some(st)
    });
    for ((host, name), pid) in &before {
        let now = pids(&after)[&(host.clone(), name.clone())];
        assert_eq!(name.starts_with("celery:"), now != *pid, "{host} {name}");
    }
    wait_agree(&mut e, "sv-unix");
    wait_agree(&mut e, "sv-tcp");
    // The restarts the console saw between polls.
    for p in of_host(&after, "sv-tcp") {
        let want = if p["group"] == "celery" { 1 } else { 0 };
        assert_eq!(p["restarts"], want, "{p}");
    }

    // The daily command, and a rolling restart across both kinds: each
    // batch of one host must come up RUNNING with the pids the call
    // reported (read back from supervisord for its hosts).
    let mut cmd = fleetctl_cmd();
    let url = format!("http://127.0.0.1:{}", e.console.port);
    cmd.args([
        "--console",
        &url,
        "--token",
        OPERATOR,
        "restart",
        "group:celery",
        "-o",
        "json",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    let hosts: Vec<String> = out.json()["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["host"].as_str().unwrap(),
                h["verdict"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(hosts, ["fleet-1 ok", "sv-tcp ok", "sv-unix ok"], "{out:?}");
    let op = e.console.op(
        r#"{"action":"restart","target":"group:celery","strategy":"rolling","batch":"1","max_failures":1}"#,
    );
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "done", "{done}");
    let batches: Vec<(String, String, i64)> = done["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_owned(),
                h["verdict"].as_str().unwrap().to_owned(),
                h["batch"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(batches.iter().all(|(_, v, _)| v == "ok"), "{done}");
    let mut b: Vec<i64> = batches.iter().map(|x| x.2).collect();
    b.sort();
    assert_eq!(b, [1, 2, 3], "{done}");
    wait_agree(&mut e, "sv-unix");
    wait_agree(&mut e, "sv-tcp");

    // A log tail through the console, plain and stamped.
    let tail = e.console.request(
        "GET",
        "/v1/hosts/sv-tcp/processes/talker:talker/log?stream=stderr&tail=1000",
        Some(VIEWER),
        "",
    );
    assert_eq!(tail.status, 200, "{}", tail.text());
    assert!(
        tail.text().contains("hello-from-supervisord"),
        "{}",
        tail.text()
    );
    let stamped = e.console.request(
        "GET",
        "/v1/hosts/sv-unix/processes/talker:talker/log?stream=stdout&timestamps=true",
        Some(VIEWER),
        "",
    );
    assert_eq!(stamped.text(), "\thello-from-supervisord\n");
    // Followed: the console polls supervisord's tail from where it ended;
    // a restarted talker's line comes through, stamped with when the
    // console read it.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", e.console.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    use std::io::Write;
    write!(
        s,
        "GET /v1/hosts/sv-tcp/processes/talker:talker/log?stream=stdout&tail=0&follow=true&timestamps=true HTTP/1.1\r\n\
         Host: 127.0.0.1:{}\r\nAuthorization: Bearer {VIEWER}\r\n\r\n",
        e.console.port
    )
    .unwrap();
    read_stream_until(&s, T, "the follow's headers", |t| t.contains("\r\n\r\n"));
    let op = e
        .console
        .op(r#"{"action":"restart","target":"talker","hosts":"sv-tcp"}"#);
    e.console.wait_op(op["id"].as_str().unwrap(), T);
    let text = read_stream_until(&s, T, "the restarted talker's line", |t| {
        t.contains("\thello-from-supervisord")
    });
    let line = text
        .lines()
        .find(|l| l.contains("\thello-from-supervisord"))
        .unwrap();
    let ms = line.split('\t').next().unwrap();
    assert!(
        ms[ms.len().saturating_sub(13)..].parse::<u64>().is_ok(),
        "no time in {line:?}"
    );
    drop(s);
    // The file as a download: readProcessStdoutLog in pieces, the whole
    // (small) file, as the longest tail gives it.
    let file = e.console.request(
        "GET",
        "/v1/hosts/sv-unix/processes/talker:talker/log/file?stream=stdout",
        Some(VIEWER),
        "",
    );
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(
        file.header("content-disposition")
            .is_some_and(|d| d.contains("sv-unix_talker_talker_stdout.log")),
        "{:?}",
        file.header("content-disposition")
    );
    let whole = e.console.request(
        "GET",
        "/v1/hosts/sv-unix/processes/talker:talker/log?stream=stdout&tail=1000000",
        Some(VIEWER),
        "",
    );
    assert!(
        file.text().contains("hello-from-supervisord"),
        "{}",
        file.text()
    );
    assert_eq!(file.text(), whole.text());
    // Cleared through the console (audited), with clearProcessLogs.
    let r = e.console.request(
        "POST",
        "/v1/hosts/sv-unix/processes/talker:talker/log/clear",
        Some(OPERATOR),
        "",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let after = e.console.request(
        "GET",
        "/v1/hosts/sv-unix/processes/talker:talker/log?stream=stdout",
        Some(VIEWER),
        "",
    );
    assert_eq!(after.text(), "", "the log was not cleared");
    let missing = e.console.request(
        "GET",
        "/v1/hosts/sv-unix/processes/celery:nope/log",
        Some(VIEWER),
        "",
    );
    assert_eq!(missing.status, 404, "{}", missing.text());

    // An unknown process: refused by the plan, as on fleet hosts (the
    // picture holds supervisord's processes).
    let r = e.console.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"start","target":"nothing-here","hosts":"sv-*"}"#,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    // A stop of one supervisord process: an op like any other.
    let op = e
        .console
        .op(r#"{"action":"stop","target":"talker","hosts":"sv-unix"}"#);
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        [("sv-unix".to_owned(), "ok".to_owned())],
        "{done}"
    );
    wait_agree(&mut e, "sv-unix");

    // supervisord's faults as per-process outcomes: a start of what runs
    // is `already` (ALREADY_STARTED), a missing command fails with its text.
    let op = e
        .console
        .op(r#"{"action":"start","target":"talker","hosts":"sv-tcp"}"#);
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        [("sv-tcp".to_owned(), "ok".to_owned())],
        "{done}"
    );
    assert_eq!(
        done["hosts"][0]["processes"][0]["outcome"], "already",
        "{done}"
    );
    let op = e
        .console
        .op(r#"{"action":"start","target":"bad","hosts":"sv-tcp"}"#);
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        [("sv-tcp".to_owned(), "failed".to_owned())],
        "{done}"
    );
    let p = &done["hosts"][0]["processes"][0];
    assert_eq!(p["outcome"], "failed", "{done}");
    // supervisord checks the command before it spawns: NO_FILE.
    assert!(
        p["message"].as_str().unwrap().starts_with("NO_FILE: "),
        "{done}"
    );
    wait_agree(&mut e, "sv-tcp");

    // The page, in headless Chromium: both kinds in the hosts list, a
    // supervisord host's processes live.
    let b = Browser::start(e.console.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/hosts");
    b.wait_js(
        "the supervisord hosts marked",
        "const rows = [...document.querySelectorAll('[data-key]')].map((r) => r.getAttribute('data-key') + ' ' + r.textContent); \
         return rows.some((r) => r.startsWith('sv-tcp ') && r.includes('supervisord')) && \
                rows.some((r) => r.startsWith('fleet-1 ') && !r.includes('supervisord'));",
    );
    b.goto("/#/host/sv-unix");
    b.wait_js(
        "sv-unix's celery workers RUNNING",
        "const r = document.querySelector('[data-key=\"sv-unix/celery:worker_00\"]'); \
         return r && r.textContent.includes('RUNNING');",
    );
    b.assert_no_js_errors("supervisord hosts on the page");
    seen_in_page(&b);

    // /metrics: the kind of each host, and a supervisord host's processes
    // in the same per-process series as a fleet host's.
    let m = e
        .console
        .request("GET", "/metrics", Some(VIEWER), "")
        .text();
    for line in [
        "fleet_console_host_info{host=\"sv-unix\",kind=\"supervisord\"} 1",
        "fleet_console_host_up{host=\"sv-unix\"} 1",
    ] {
        assert!(m.lines().any(|l| l == line), "no {line} in\n{m}");
    }
    assert!(
        m.lines().any(|l| l
            .starts_with("fleet_console_process_state{host=\"sv-unix\",name=\"celery:worker_00\"")
            && l.contains("state=\"RUNNING\"")
            && l.ends_with(" 1")),
        "{m}"
    );

    // The password is nowhere the console answers or logs.
    let mut seen = String::new();
    for path in ["/v1/hosts", "/v1/status", "/v1/ops", "/metrics"] {
        seen.push_str(&e.console.request("GET", path, Some(VIEWER), "").text());
    }
    seen.push_str(&done.to_string());
    seen.push_str(&e.console.stderr());
    assert!(!seen.contains(PASSWORD), "the password leaked");
    assert!(!e.agent.stderr().contains(PASSWORD));
}

#[test]
fn a_dead_or_black_holed_supervisord_is_down_and_never_blocks() {
    let mut e = estate();
    e.tcp.info();
    e.unix.info();
    // SIGKILL one supervisord (its programs live on), SIGSTOP the other.
    kill(e.tcp.pid(), Signal::SIGKILL).unwrap();
    let mut c = e.tcp.child.take().unwrap();
    let _ = c.wait();
    kill(e.unix.pid(), Signal::SIGSTOP).unwrap();
    e.unix.frozen = true;
    let t0 = Instant::now();
    let hosts = wait_for(T, "both supervisord hosts down", || {
        let h = e.console.get("/v1/hosts");
        let down = h["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["up"] == false)
            .count();
        (down == 2).then_some(h)
    });
    // Within the poll timeout (2 s for a 500 ms poll) and a poll.
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    for h in hosts["hosts"].as_array().unwrap() {
        assert_eq!(h["up"], h["name"] == "fleet-1", "{h}");
    }
    // The picture answers at once, vouching for nothing it cannot see.
    let t = Instant::now();
    let st = e.console.get("/v1/status");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    for p in of_host(&st, "sv-unix") {
        assert_eq!(p["state"], "UNKNOWN", "{p}");
    }

    let op = e
        .console
        .op(r#"{"action":"restart","target":"group:celery","timeout_ms":4000}"#);
    let done = e.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        [
            ("fleet-1".to_owned(), "ok".to_owned()),
            ("sv-tcp".to_owned(), "unreachable".to_owned()),
            ("sv-unix".to_owned(), "unreachable".to_owned()),
        ],
        "{done}"
    );
    // Back from the black hole: up again, and in agreement.
    kill(e.unix.pid(), Signal::SIGCONT).unwrap();
    e.unix.frozen = false;
    wait_for(T, "sv-unix up again", || {
        let h = e.console.get("/v1/hosts");
        h["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["name"] == "sv-unix" && h["up"] == true)
            .then_some(())
    });
    wait_agree(&mut e, "sv-unix");
}

/// The page's text never holds the password either.
fn seen_in_page(b: &Browser) {
    let html = b.source();
    assert!(!html.contains(PASSWORD), "the password is on the page");
}

/// A fake "supervisord" on loopback that answers every request with
/// `body` (HTTP 200). Its threads end with the test process.
fn fake_supervisord(body: Vec<u8>) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let body = std::sync::Arc::new(body);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            });
        }
    });
    port
}

/// A hostile or broken supervisord cannot hurt the console: entities are
/// never expanded, nesting and size are bounded, and what it sent is never
/// quoted; the host is shown down with why and the picture stays fast.
#[test]
fn a_hostile_supervisord_is_bounded() {
    let lols: String = (0..10).map(|_| "&lol;").collect();
    let bomb = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY lol \"lollollol\"><!ENTITY lol2 \"{lols}\">]>\
         <methodResponse><params><param><value><string>&lol2;</string></value></param></params></methodResponse>"
    );
    let deep = format!(
        "<methodResponse><params><param><value>{}</value></param></params></methodResponse>",
        "<array><data><value>".repeat(5000)
    );
    let huge = format!(
        "<methodResponse><params><param><value><string>{}</string></value></param></params></methodResponse>",
        "x".repeat(9 << 20)
    );
    // A fault whose text is 1 MiB: shown cut short.
    let loud = format!(
        "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member>\
         <member><name>faultString</name><value><string>{}</string></value></member></struct></value></fault></methodResponse>",
        "y".repeat(1 << 20)
    );
    let ports = [
        fake_supervisord(loud.into_bytes()),
        fake_supervisord(bomb.into_bytes()),
        fake_supervisord(deep.into_bytes()),
        fake_supervisord(huge.into_bytes()),
    ];
    let entries: String = ["loud", "bomb", "deep", "huge"]
        .iter()
        .zip(ports)
        .map(|(name, port)| {
            format!(
                "[[agent]]\nname = \"{name}\"\nkind = \"supervisord\"\nurl = \"http://127.0.0.1:{port}/RPC2\"\npoll = \"500ms\"\n\n"
            )
        })
        .collect();
    let c = Console::start(&entries);
    let hosts = wait_for(T, "four hosts down with a reason", || {
        let h = c.get("/v1/hosts");
        let all = h["hosts"].as_array()?.clone();
        all.iter()
            .all(|h| h["up"] == false && h["error"].as_str().is_some_and(|e| e != "connecting"))
            .then_some(all)
    });
    let why = |name: &str| {
        hosts.iter().find(|h| h["name"] == name).unwrap()["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        why("bomb").contains("unreadable answer") && why("bomb").contains("entity"),
        "{}",
        why("bomb")
    );
    assert!(
        why("deep").contains("nested deeper than"),
        "{}",
        why("deep")
    );
    assert!(
        why("huge").contains("larger than 8388608 bytes"),
        "{}",
        why("huge")
    );
    assert!(
        why("loud").ends_with("y…") && why("loud").len() < 400,
        "{}",
        why("loud")
    );
    for h in &hosts {
        assert!(!h["error"].as_str().unwrap().contains("lollol"), "{h}");
    }
    let t = Instant::now();
    c.get("/v1/status");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

/// Migration in place: a host switched from supervisord to fleet-agent
/// under the same name keeps its ops in the console.
#[test]
fn a_host_switched_to_fleet_keeps_its_history() {
    let sv = Supervisord::start(false);
    let old = format!(
        "[[agent]]\nname = \"old-web\"\nkind = \"supervisord\"\nurl = \"{}\"\npoll = \"500ms\"\n",
        sv.url
    );
    let mut c = Console::start(&old);
    c.wait_running(3, T);
    let op = c.op(r#"{"action":"restart","target":"group:celery"}"#);
    let first = op["id"].as_str().unwrap().to_owned();
    let done = c.wait_op(&first, T);
    assert_eq!(
        verdicts(&done),
        [("old-web".to_owned(), "ok".to_owned())],
        "{done}"
    );

    // The switch: supervisord stops, fleet-agent (an import of the same
    // programs) starts, the entry becomes a fleet agent's, same name.
    drop(sv);
    let (_agent, port) = tcp_agent(CELERY);
    c.stop();
    let text = std::fs::read_to_string(&c.config).unwrap();
    let new = format!(
        "[[agent]]\nname = \"old-web\"\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\n"
    );
    std::fs::write(&c.config, text.replace(&old, &new)).unwrap();
    c.spawn();
    c.wait_running(2, T);
    let hosts = c.get("/v1/hosts");
    assert_eq!(hosts["hosts"][0]["kind"], "fleet", "{hosts}");
    let op = c.op(r#"{"action":"restart","target":"group:celery"}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        [("old-web".to_owned(), "ok".to_owned())],
        "{done}"
    );
    // Both ops, before and after the switch, under the host's name.
    let ops = c.get("/v1/ops?hosts=old-web");
    let ids: Vec<&str> = ops["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&first.as_str()) && ids.len() == 2, "{ops}");
}

/// A supervisord SIGKILLed while an op waits on it (a start that takes its
/// 3 s startsecs): that host's verdict is `unreachable`, the fleet host's
/// `ok`, and the op ends.
#[test]
fn a_supervisord_killed_mid_op_is_unreachable_and_the_rest_proceed() {
    let mut sv = Supervisord::start_with(
        true,
        "[program:slow]\ncommand = {tp} sleep\nstartsecs = 3\n",
        4,
    );
    let (_agent, port) = tcp_agent(CELERY);
    let secrets = tempfile::tempdir().unwrap();
    let pass_file = secrets.path().join("sv.pass");
    std::fs::write(&pass_file, PASSWORD).unwrap();
    let c = Console::start(&format!(
        "{}[[agent]]\nname = \"sv-tcp\"\nkind = \"supervisord\"\nurl = \"{}\"\nusername = \"admin\"\n\
         password_file = \"{}\"\npoll = \"500ms\"\n",
        agent_entries(&[("fleet-1", port)]),
        sv.url,
        pass_file.display()
    ));
    c.wait_running(6, T);
    let op = c.op(r#"{"action":"restart","target":"all","timeout_ms":20000}"#);
    let id = op["id"].as_str().unwrap().to_owned();
    // Mid-op: the restart's start waits on slow's startsecs.
    wait_for(T, "supervisord starting slow again", || {
        let info = sv.try_info()?;
        info.as_array()?
            .iter()
            .any(|p| p["name"] == "slow" && p["statename"] == "STARTING")
            .then_some(())
    });
    assert_eq!(c.get(&format!("/v1/ops/{id}"))["state"], "running");
    // Frozen first, so what it runs can be listed (and stopped after)
    // before it dies.
    kill(sv.pid(), Signal::SIGSTOP).unwrap();
    let svpid = sv.pid().as_raw();
    sv.seen
        .extend(all_pids().into_iter().filter(|p| ppid(*p) == Some(svpid)));
    kill(sv.pid(), Signal::SIGKILL).unwrap();
    let _ = sv.child.take().unwrap().wait();
    let done = c.wait_op(&id, T);
    assert_eq!(
        verdicts(&done),
        [
            ("fleet-1".to_owned(), "ok".to_owned()),
            ("sv-tcp".to_owned(), "unreachable".to_owned()),
        ],
        "{done}"
    );
    assert!(!done.to_string().contains(PASSWORD));
}

/// A supervisord behind TLS (a terminator in front, as sites put stunnel
/// or a balancer there): the console verifies it with the console's trust
/// rules, a CA file or a pinned fingerprint; a wrong pin or no trust is a
/// host down with the certificate named, never a silent plain connection.
#[test]
fn a_supervisord_behind_tls_is_verified_like_an_agent() {
    let sv = Supervisord::start(true);
    let upstream: u16 = sv
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/RPC2")
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    pki.write(dir.path());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls_proxy.py");
    let mut proxy = Command::new("python3")
        .arg(&script)
        .arg(dir.path().join("leaf.pem"))
        .arg(dir.path().join("leaf.key"))
        .arg(upstream.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(proxy.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, PASSWORD).unwrap();
    let entry = |name: &str, trust: &str| {
        format!(
            "[[agent]]\nname = \"{name}\"\nkind = \"supervisord\"\nurl = \"https://127.0.0.1:{port}/RPC2\"\n\
             username = \"admin\"\npassword_file = {:?}\npoll = \"500ms\"\n{trust}\n\n",
            pass.display().to_string()
        )
    };
    let other = "ab".repeat(32);
    let c = Console::start(&format!(
        "{}{}{}{}",
        entry(
            "by-ca",
            &format!(
                "ca_file = {:?}",
                dir.path().join("ca.pem").display().to_string()
            )
        ),
        entry(
            "pinned",
            &format!("fingerprint = \"sha256:{}\"", pki.leaf_fingerprint())
        ),
        entry("wrong-pin", &format!("fingerprint = \"{other}\"")),
        entry("no-trust", "")
    ));
    let host = |name: &str| -> Value {
        c.get("/v1/hosts")["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .cloned()
            .unwrap()
    };
    for name in ["by-ca", "pinned"] {
        wait_for(T, &format!("{name} up"), || {
            (host(name)["up"] == true).then_some(())
        });
        let running = |p: &Value| p["name"] == "celery:worker_00" && p["state"] == "RUNNING";
        let ok = poll_until(T, || {
            of_host(&c.get("/v1/status"), name)
                .iter()
                .any(running)
                .then_some(())
        });
        assert!(
            ok.is_some(),
            "{name}: {:#?}\n{}",
            of_host(&c.get("/v1/status"), name),
            host(name)
        );
    }
    for name in ["wrong-pin", "no-trust"] {
        let h = wait_for(T, &format!("{name} down with an error"), || {
            let h = host(name);
            (h["up"] == false && h["error"].is_string()).then_some(h)
        });
        let e = h["error"].as_str().unwrap().to_lowercase();
        assert!(
            e.contains("certificate") || e.contains("fingerprint"),
            "{name}: {e}"
        );
    }
    assert!(!c.stderr().contains(PASSWORD));
    let _ = proxy.kill();
    let _ = proxy.wait();
}
