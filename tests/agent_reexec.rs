//! In-place re-exec (`POST /v1/agent/reexec`, issue #28), end to end on
//! real binaries: the agent keeps its pid and every child; each byte a
//! program writes meanwhile reaches its file in order; event numbering
//! continues; both listeners answer throughout; systemd hears RELOADING=1
//! then READY=1 from the same pid (a fake NOTIFY_SOCKET); a program that
//! exits in the window is seen once. Then what must go wrong safely: a
//! missing or non-executable binary, a binary that is not an agent, an
//! unknown state major, a changed config file, a new image that fails to
//! resume (the old one takes over again from its descriptor, though its
//! file was replaced); and versions N → N+1 → N (a copy of the binary that
//! reports another version and writes a field N does not know).

mod common;
use common::console::AGENT_TOKEN;
use common::listen::{reexec, unix_get};
use common::*;
use std::collections::BTreeMap;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// Every program of the main scenario (TESTPROG is the test helper).
const PROGRAMS: &str = r#"
[program.flood]
command = ["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo \"out $i\"; echo \"err $i\" >&2; done"]
startsecs = 0

[program.worker]
command = ["TESTPROG", "celery", "1", "PIDFILE"]
startsecs = 0

[program.crasher]
command = ["TESTPROG", "exit", "3"]
startsecs = 1
startretries = 1000
backoff_max = 60

[program.idle]
command = ["TESTPROG", "sleep"]
startsecs = 0

[program.brief]
command = ["TESTPROG", "sleep"]
startsecs = 0
autorestart = false
"#;

fn tcp_get(port: u16, path: &str) -> std::io::Result<Response> {
    let s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let auth = format!("Bearer {AGENT_TOKEN}");
    http(s, "GET", path, &[("Authorization", &auth)], b"")
}

fn pids(a: &Agent) -> BTreeMap<String, Option<i64>> {
    a.status()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["pid"].as_i64()))
        .collect()
}

/// Lines "PREFIX N" of `text`: N must run 1, 2, 3 ... with no gap,
/// repeat or disorder; returns the last N.
fn contiguous(text: &str, prefix: &str) -> u64 {
    let mut n = 0;
    for line in text.lines() {
        let got: u64 = line
            .strip_prefix(prefix)
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        assert_eq!(got, n + 1, "after line {prefix}{n} came {line:?}");
        n = got;
    }
    n
}

#[test]
fn reexec_keeps_pid_children_output_events_and_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(T)).unwrap();
    let pidfile = dir.path().join("worker.pids");
    let programs = PROGRAMS.replace("PIDFILE", pidfile.to_str().unwrap());
    let keys = format!("listen = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\n");
    let a = Agent::start_as(&keys, &programs, |c| {
        c.env("NOTIFY_SOCKET", &notify_path);
    });
    let recv = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(recv().starts_with("READY=1"));
    let port = a.tcp_port();
    for n in ["flood", "worker", "idle", "brief"] {
        a.wait_state(n, "RUNNING", T);
    }
    a.wait_state("crasher", "BACKOFF", T);
    let family = wait_for(T, "the worker's pids", || {
        let p = read_pids(&pidfile);
        (p.len() >= 3).then_some(p)
    });
    // An operator stop before the re-exec stays a stop after it.
    assert_eq!(a.post("/v1/processes/idle/stop", "").status, 200);
    a.wait_state("idle", "STOPPED", T);
    let before = pids(&a);
    let crasher = a.process("crasher");
    let brief_pid = a.pid_of("brief").unwrap();

    // Probes on both listeners every 5 ms through the window.
    let stop = Arc::new(AtomicBool::new(false));
    let worst = Arc::new(Mutex::new((Duration::ZERO, Vec::<String>::new())));
    let probes: Vec<_> = [true, false]
        .into_iter()
        .map(|tcp| {
            let (stop, worst) = (stop.clone(), worst.clone());
            let socket = a.socket.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let r = if tcp {
                        tcp_get(port, "/v1/status")
                    } else {
                        UnixStream::connect(&socket).and_then(|s| {
                            s.set_read_timeout(Some(Duration::from_secs(10)))?;
                            http(s, "GET", "/v1/status", &[], b"")
                        })
                    };
                    let took = t0.elapsed();
                    let mut w = worst.lock().unwrap();
                    w.0 = w.0.max(took);
                    match r {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => w.1.push(format!("tcp={tcp}: HTTP {}", r.status)),
                        Err(e) => w.1.push(format!("tcp={tcp}: {e}")),
                    }
                    drop(w);
                    // The pace under test (the issue's "every 5 ms"), not
                    // a wait for a condition.
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    // `brief` exits inside the window: once the agent has told systemd it
    // is reloading (and before it says READY again).
    let heard = notify.try_clone().unwrap();
    let killer = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let n = heard.recv(&mut buf).expect("a notification");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(brief_pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let out = reexec(&a, "");
    let reloading = killer.join().unwrap();
    // Let the probes see the new image serve a while.
    wait_for(T, "the probes to run after the exec", || {
        (unix_get(&a, "/v1/agent/reexec").ok()?.status == 200).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    for p in probes {
        p.join().unwrap();
    }
    let ok = &out["ok"];
    assert_eq!(ok["pid"], a.pid(), "{out}");
    assert!(out["error"].is_null(), "{out}");
    let (longest, errors) = worst.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "refused or failed during the window: {errors:?}"
    );
    eprintln!(
        "re-exec took {} ms; longest status answer during it: {longest:?}",
        ok["took_ms"]
    );
    assert!(longest < Duration::from_secs(2), "{longest:?}");
    assert_eq!(reloading, "RELOADING=1");
    let ready = recv();
    assert!(ready.starts_with("READY=1"), "{ready}");
    assert!(ready.contains(&format!("MAINPID={}", a.pid())), "{ready}");

    // Same children, nothing spawned or signalled (but `brief`, killed).
    let after = pids(&a);
    for (name, pid) in &before {
        if name != "brief:brief" && name != "crasher:crasher" {
            assert_eq!(pid, &after[name], "{name}");
        }
    }
    for p in &family {
        assert!(alive(*p), "worker family member {p} is gone");
    }
    let idle = a.process("idle");
    assert_eq!(idle["state"], "STOPPED");
    assert_eq!(idle["wanted"], "stopped");
    let c = a.process("crasher");
    assert!(
        c["restarts"].as_u64() >= crasher["restarts"].as_u64(),
        "{c}"
    );
    if c["state"] == "BACKOFF" && crasher["restarts"] == c["restarts"] {
        // Same retry: the same deadline (as remaining time), give or take.
        let (x, y) = (
            c["next_attempt_at"].as_i64().unwrap(),
            crasher["next_attempt_at"].as_i64().unwrap(),
        );
        assert!((x - y).abs() < 1000, "{crasher} then {c}");
    }
    // `brief` exited once, seen by exactly one image.
    let b = a.wait_state("brief", "EXITED", T);
    assert_eq!(b["exits"].as_array().unwrap().len(), 1, "{b}");
    let events = events_until(&a, T, "brief's exit", |ev| {
        ev.iter()
            .any(|e| e["name"] == "brief:brief" && e["to"] == "EXITED")
    });
    let exits = events
        .iter()
        .filter(|e| e["name"] == "brief:brief" && e["to"] == "EXITED")
        .count();
    assert_eq!(exits, 1);
    // One numbering across both images, from 1, without a gap.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "{e}");
    }

    // Every line the flood wrote, in order, in both files.
    assert_eq!(a.post("/v1/processes/flood/stop", "").status, 200);
    a.wait_state("flood", "STOPPED", T);
    let read = |f: &str| std::fs::read_to_string(a.log_dir.join(f)).unwrap();
    let outs = wait_for(T, "the flood's last lines", || {
        let (o, e) = (read("flood.stdout.log"), read("flood.stderr.log"));
        (o.ends_with('\n') && e.ends_with('\n')).then_some((o, e))
    });
    let n_out = contiguous(&outs.0, "out ");
    let n_err = contiguous(&outs.1, "err ");
    eprintln!("flood: {n_out} stdout and {n_err} stderr lines, all in order");
    assert!(n_out > 1000 && n_err > 1000, "{n_out} {n_err}");
}

/// `fleet-agent` copied to `to` (a file of its own, to replace or run as
/// "version N+1").
fn copy_agent(to: &std::path::Path) {
    std::fs::copy(bin("fleet-agent"), to).unwrap();
}

#[test]
fn reexec_refusals_and_failures_leave_the_old_image_in_charge() {
    let dir = tempfile::tempdir().unwrap();
    let next = dir.path().join("fleet-agent-next");
    let fail = dir.path().join("fail-resume");
    copy_agent(&next);
    let a = Agent::start_as(
        "",
        "[program.idle]\ncommand = [\"TESTPROG\", \"sleep\"]\nstartsecs = 0\n",
        |c| {
            c.env("FLEET_TEST_NEXT_BINARY", &next)
                .env("FLEET_TEST_FAIL_RESUME", &fail);
        },
    );
    a.wait_state("idle", "RUNNING", T);
    let pid = a.pid_of("idle");
    let version = a.status()["version"].as_str().unwrap().to_owned();
    let refused = |body: &str, step: &str| {
        let r = reexec(&a, body);
        let msg = r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(msg.starts_with(&format!("{step}: ")), "{step}: {r}");
        assert_eq!(a.pid_of("idle"), pid);
        assert_eq!(a.status()["pid"], a.pid());
        msg
    };
    // Missing, not executable, not an agent.
    refused(r#""binary":"/nonexistent/fleet-agent""#, "binary");
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    refused(&format!("\"binary\":{plain:?}"), "binary");
    let msg = refused(r#""binary":"/bin/true""#, "check-resume");
    assert!(msg.contains("--check-resume"), "{msg}");
    // A config file that says something else than what runs.
    let text = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(
        &a.config,
        format!("{text}\n[program.more]\ncommand = [\"TESTPROG\", \"sleep\"]\n"),
    )
    .unwrap();
    refused("", "config");
    std::fs::write(&a.config, &text).unwrap();

    // N -> N+1: the copy reports another version.
    let up = reexec(&a, &format!("\"binary\":{next:?}"));
    assert_eq!(up["ok"]["previous_version"], version.as_str(), "{up}");
    assert_eq!(up["ok"]["version"], format!("{version}+next"), "{up}");
    assert_eq!(a.status()["version"], format!("{version}+next"));
    // N+1 -> N: N reads past the field only N+1 writes.
    let agent = bin("fleet-agent");
    let down = reexec(&a, &format!("\"binary\":{agent:?}"));
    assert_eq!(down["ok"]["version"], version.as_str(), "{down}");
    assert_eq!(down["ok"]["previous_version"], format!("{version}+next"));
    assert_eq!(a.pid_of("idle"), pid);

    // Running as the copy, whose file a package manager then replaces:
    // a new image that fails to resume hands back to the old image, run
    // from the descriptor it opened at start.
    reexec(&a, &format!("\"binary\":{next:?}"))["ok"]
        .as_object()
        .expect("up again");
    let staged = dir.path().join("staged");
    std::fs::copy("/bin/true", &staged).unwrap();
    std::fs::rename(&staged, &next).unwrap();
    std::fs::write(&fail, "").unwrap();
    let r = reexec(&a, &format!("\"binary\":{agent:?}"));
    let err = r["error"].as_str().unwrap_or_default();
    assert!(err.starts_with("resume: "), "{r}");
    assert!(err.contains("FLEET_TEST_FAIL_RESUME"), "{r}");
    assert_eq!(a.status()["pid"], a.pid());
    assert_eq!(a.pid_of("idle"), pid);
    // Still supervising: a stop and a start work, then a re-exec does.
    assert_eq!(a.post("/v1/processes/idle/restart", "").status, 200);
    a.wait_state("idle", "RUNNING", T);
    std::fs::remove_file(&fail).unwrap();
    let again = reexec(&a, &format!("\"binary\":{agent:?}"));
    assert_eq!(again["ok"]["version"], version.as_str(), "{again}");
    // A program started by a resumed image inherits none of what was
    // handed over (state, image, sockets, pipes): only 0, 1 and 2.
    assert_eq!(a.post("/v1/processes/idle/restart", "").status, 200);
    let p = a.wait_state("idle", "RUNNING", T)["pid"].as_i64().unwrap();
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{p}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
    // The signals held over the window are the image's again: SIGTERM
    // stops it cleanly.
    let mut a = a;
    a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0), "{}", a.stderr());
}

#[test]
fn an_unknown_state_major_is_refused_before_the_exec() {
    let (code, out, _) = agent_bin(&["--check-resume", "99.0"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("no: state format 99.x"), "{out}");
    let (_, out, _) = agent_bin(&["--check-resume", "1.7"]);
    assert!(out.starts_with("yes "), "{out}");
    let a = Agent::start_as(
        "",
        "[program.idle]\ncommand = [\"TESTPROG\", \"sleep\"]\nstartsecs = 0\n",
        |c| {
            c.env("FLEET_TEST_FORMAT_MAJOR", "99");
        },
    );
    a.wait_state("idle", "RUNNING", T);
    let pid = a.pid_of("idle");
    let r = reexec(&a, "");
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("check-resume: ") && msg.contains("99.x"),
        "{r}"
    );
    assert_eq!(a.pid_of("idle"), pid);
}

/// Health verdicts are carried: right after the re-exec (the new image's
/// first probe is up to a second away) a healthy program reads healthy and
/// an unhealthy one unhealthy, with the same pids.
#[test]
fn health_verdicts_survive_the_reexec() {
    let dir = tempfile::tempdir().unwrap();
    let (up, down) = (free_port(), free_port());
    let mode = dir.path().join("mode");
    std::fs::write(&mode, "fail").unwrap();
    let a = Agent::start(&format!(
        r#"
[program.up]
command = "TESTPROG http {up} /nonexistent"
startsecs = 0

[program.up.health]
http = "http://127.0.0.1:{up}/"
interval = "1s"

[program.down]
command = "TESTPROG http {down} {mode}"
startsecs = 0

[program.down.health]
http = "http://127.0.0.1:{down}/"
interval = "1s"
failures = 1
start_period = "0s"
"#,
        mode = mode.display()
    ));
    let health = |name: &str| a.process(name)["health"].as_str().unwrap_or("").to_owned();
    wait_for(T, "up healthy, down unhealthy", || {
        (health("up") == "healthy" && health("down") == "unhealthy").then_some(())
    });
    let before = pids(&a);
    let out = reexec(&a, "");
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(health("up"), "healthy");
    assert_eq!(health("down"), "unhealthy");
    assert_eq!(pids(&a), before);
}

/// A SIGTERM at the worst moment — after the re-exec's last check, just
/// before `execve` (the old image sends it to itself, by a test hook) —
/// is not lost with the old image: no thread takes it, it waits pending
/// through the exec, and the new image stops cleanly, its program with it.
#[test]
fn a_sigterm_just_before_the_exec_stops_the_new_image() {
    let mut a = Agent::start_as(
        "",
        "[program.idle]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
        |c| {
            c.env("FLEET_TEST_TERM_BEFORE_EXEC", "1");
        },
    );
    let pid = a.wait_state("idle", "RUNNING", T)["pid"].as_i64().unwrap() as i32;
    let id = format!("t{}", unique());
    let body = format!("{{\"id\":\"{id}\"}}");
    // The exec ends the connection unanswered; the agent then stops.
    let _ = UnixStream::connect(&a.socket)
        .and_then(|s| http(s, "POST", "/v1/agent/reexec", &[], body.as_bytes()));
    let code = a.wait_exit(T);
    assert_eq!(code, Some(0), "{}", a.stderr());
    let log = a.stderr();
    assert!(log.contains("re-executing in place"), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(!alive(pid), "idle ({pid}) outlived the agent");
}

/// A caller that hangs up right after asking does not cancel the re-exec
/// half-way (pumps frozen, servers paused): it completes, the outcome is
/// there by its id, every program kept its pid and output flows. (A
/// request whose caller is gone before the server reads it is never
/// taken: then the agent must simply go on serving, and the caller asks
/// again, as fleetctl would.)
#[test]
fn a_caller_that_hangs_up_does_not_cancel_the_reexec() {
    let a = Agent::start(
        "[program.ticker]\ncommand = \"TESTPROG ticker 5\"\nstartsecs = 0\n\
         [program.idle]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
    );
    a.wait_state("idle", "RUNNING", T);
    let before = pids(&a);
    let mut out = None;
    for _ in 0..10 {
        let id = format!("t{}", unique());
        let body = format!("{{\"id\":\"{id}\"}}");
        let mut s = UnixStream::connect(&a.socket).unwrap();
        let req = format!(
            "POST /v1/agent/reexec HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
        drop(s);
        // Ours, or the agent answering without it once a re-exec would
        // long be over (never taken); a wedged agent does not answer.
        let asked = Instant::now();
        let seen = wait_for(T, "the agent to answer after the hang-up", || {
            let o = unix_get(&a, "/v1/agent/reexec").ok()?.json();
            let ours = o["id"] == id.as_str();
            (ours || asked.elapsed() > Duration::from_secs(2)).then_some((ours, o))
        });
        if seen.0 {
            out = Some(seen.1);
            break;
        }
    }
    let out = out.unwrap_or_else(|| panic!("no re-exec taken in 10 tries: {}", a.stderr()));
    assert!(out["error"].is_null(), "{out}");
    assert_eq!(out["ok"]["pid"], a.pid(), "{out}");
    assert_eq!(pids(&a), before);
    let ticks = |a: &Agent| {
        let r = unix_get(a, "/v1/processes/ticker/log?tail=64").unwrap();
        r.text()
    };
    let last = ticks(&a);
    wait_for(T, "the ticker's output to go on", || {
        (ticks(&a) != last).then_some(())
    });
}
