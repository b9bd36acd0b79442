//! Several consoles on one PostgreSQL (`common/pg.rs` starts a real one):
//! any console accepts any request.

mod common;

use common::browser::{console_http, session_cookie};
use common::console::*;
use common::pg::{self, Pg};
use common::*;
use std::time::Duration;

/// A login on A is valid on B; a logout on B ends it on A.
#[test]
fn sessions_hold_across_consoles() {
    let db = Pg::start();
    let (_, url) = db.database();
    let a = pg::console(&url, None, "");
    let b = pg::console(&url, Some(&a), "");
    let body = format!(r#"{{"token":"{OPERATOR}"}}"#);
    let login = console_http(a.port, "POST", "/v1/session", &[], &body);
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = session_cookie(&login);
    let csrf = login.json()["csrf"].as_str().unwrap().to_string();
    let me = console_http(b.port, "GET", "/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["name"], "ops");
    let out = console_http(
        b.port,
        "DELETE",
        "/v1/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(out.status, 204, "{}", out.text());
    for port in [a.port, b.port] {
        let me = console_http(port, "GET", "/v1/session", &[("Cookie", &cookie)], "");
        assert_eq!(me.status, 401, "{}", me.text());
    }
    // Both consoles wrote to one chain: intact.
    let (code, out, err) =
        console_bin(&["audit", "verify", "--config", a.config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
}

/// Each agent's one worker takes 2 s to count as started: a restart of
/// one host lasts about that long, so a rolling op over six hosts one at
/// a time runs long enough to be interrupted.
const SLOW: &str = r#"
[program.worker]
command = "TESTPROG sleep"
startsecs = 2
stopwaitsecs = 2

[group.app]
programs = ["worker"]
"#;

struct Fleet {
    db: Pg,
    agents: Vec<Agent>,
    a: Console,
    b: Console,
    /// A third console: overlapping POSTs reach all three.
    c: Console,
}

/// `[[agent]]` entries naming the agents h-0, h-1, …
fn named_h(agents: &[(Agent, u16)]) -> String {
    let names: Vec<String> = (0..agents.len()).map(|i| format!("h-{i}")).collect();
    let entries: Vec<(&str, u16)> = names
        .iter()
        .zip(agents)
        .map(|(n, (_, p))| (n.as_str(), *p))
        .collect();
    agent_entries(&entries)
}

/// Six agents and three consoles on one fresh database.
fn fleet() -> Fleet {
    let db = Pg::start();
    let (_, url) = db.database();
    let agents: Vec<(Agent, u16)> = (0..6).map(|_| tcp_agent(SLOW)).collect();
    let cfg = named_h(&agents);
    let a = pg::console(&url, None, &cfg);
    let b = pg::console(&url, Some(&a), &cfg);
    let c = pg::console(&url, Some(&a), &cfg);
    for c in [&a, &b, &c] {
        c.wait_running(6, Duration::from_secs(30));
    }
    Fleet {
        db,
        agents: agents.into_iter().map(|(a, _)| a).collect(),
        a,
        b,
        c,
    }
}

fn final_hosts(op: &serde_json::Value) -> usize {
    op["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["verdict"] != "pending")
        .count()
}

/// An op posted to A is seen running and then done on B (its long-poll
/// and `fleetctl --console B ops ID`); overlapping POSTs spread over the
/// three consoles: all refused while it runs, and once nothing runs, of
/// 100 exactly one accepted.
#[test]
fn ops_are_shared_and_overlaps_refused_across_consoles() {
    let f = fleet();
    let op =
        f.a.op(r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    let seen = f.b.get(&format!("/v1/ops/{id}"));
    assert_eq!(seen["state"], "running", "{seen}");
    // Overlapping POSTs while it runs: all refused, on both consoles.
    let ports = [f.a.port, f.b.port, f.c.port];
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let port = ports[i % 3];
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let auth = format!("Bearer {OPERATOR}");
                http(
                    s,
                    "POST",
                    "/v1/ops",
                    &[("Authorization", &auth)],
                    br#"{"action":"stop","target":"app:worker","hosts":"h-5"}"#,
                )
                .unwrap()
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 409), "{statuses:?}");
    // B follows it to the end from the store.
    let done = f.b.wait_op(&id, Duration::from_secs(60));
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(final_hosts(&done), 6);
    assert!(
        done["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["verdict"] == "ok"),
        "{done}"
    );
    let mut cmd = common::ctl::fleetctl_cmd();
    let url = format!("http://127.0.0.1:{}", f.b.port);
    cmd.args(["--console", &url, "--token", VIEWER, "ops", &id]);
    let out = common::ctl::run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(&id), "{out:?}");

    // Now nothing runs: 100 overlapping POSTs over both consoles, one
    // accepted.
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let port = ports[i % 3];
            std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let auth = format!("Bearer {OPERATOR}");
                http(
                    s,
                    "POST",
                    "/v1/ops",
                    &[("Authorization", &auth)],
                    br#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#,
                )
                .unwrap()
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((accepted, refused), (1, 99), "{statuses:?}");
    let _ = &f.agents;
}

/// A console SIGKILLed mid-op: another takes the op over within the
/// lease (≤ 15 s) and finishes it: hosts done are not redone, the host in
/// flight is resolved from its agent or repeated under its idempotency
/// key, the hosts never started are run by the new owner. The op ends
/// `done`, every worker restarted exactly once (the agents' restart
/// counts).
#[test]
fn a_killed_console_s_op_is_taken_over() {
    let mut f = fleet();
    let restarts = |a: &Agent| a.process("worker")["restarts"].as_u64().unwrap();
    let pids_before: Vec<Option<i32>> = f.agents.iter().map(|a| a.pid_of("worker")).collect();
    let restarts_before: Vec<u64> = f.agents.iter().map(restarts).collect();
    let op =
        f.a.op(r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(30), "a host done (seen on B)", || {
        (final_hosts(&f.b.get(&format!("/v1/ops/{id}"))) >= 1).then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(f.a.child.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let killed = std::time::Instant::now();
    let _ = f.a.child.take().unwrap().wait();
    wait_for(
        Duration::from_secs(20),
        "B or C to take the op over",
        || {
            [&f.b, &f.c]
                .iter()
                .any(|c| {
                    c.stderr()
                        .contains("took over an operation whose console stopped")
                })
                .then_some(())
        },
    );
    let took = killed.elapsed();
    assert!(took <= Duration::from_secs(15), "taken over after {took:?}");
    let op = f.b.wait_op(&id, Duration::from_secs(90));
    assert_eq!(op["state"], "done", "{op}");
    let hosts = op["hosts"].as_array().unwrap();
    assert!(hosts.iter().all(|h| h["verdict"] == "ok"), "{op}");
    for (i, agent) in f.agents.iter().enumerate() {
        assert_ne!(agent.pid_of("worker"), pids_before[i], "h-{i}: {op}");
        assert_eq!(
            restarts(agent),
            restarts_before[i] + 1,
            "h-{i} not restarted exactly once: {op}"
        );
    }
    for h in hosts
        .iter()
        .filter(|h| h["message"].as_str().unwrap_or("").contains("in flight"))
    {
        eprintln!("{}: {}", h["host"], h["message"]);
    }
    eprintln!("taken over after {took:?}");
}

/// A console SIGSTOPped past its lease, then resumed, writes nothing:
/// its runner's writes are fenced, and it stops before its next host.
#[test]
fn a_paused_console_writes_nothing_after_its_lease() {
    let f = fleet();
    let op =
        f.a.op(r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(30), "a host done", || {
        (final_hosts(&f.b.get(&format!("/v1/ops/{id}"))) >= 1).then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(f.a.child.as_ref().unwrap().id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let taken = wait_for(
        Duration::from_secs(60),
        "B or C to take the op over and finish it",
        || {
            let op = f.b.get(&format!("/v1/ops/{id}"));
            (op["state"] == "done" && final_hosts(&op) == 6).then_some(op)
        },
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    wait_for(Duration::from_secs(20), "A to find its lease gone", || {
        let log = f.a.stderr();
        (log.contains("no longer holds its lease") || log.contains("lease lost")).then_some(())
    });
    // A's op ended in its memory; nothing of it reached the store.
    wait_for(Duration::from_secs(30), "A's runner to end", || {
        (f.a.get(&format!("/v1/ops/{id}"))["state"] != "running").then_some(())
    });
    let after = f.b.get(&format!("/v1/ops/{id}"));
    assert_eq!(after, taken, "the store changed after the takeover");
    let (code, out, err) =
        console_bin(&["audit", "verify", "--config", f.b.config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
}

/// PostgreSQL restarted mid-op: the op still ends (done, or with the
/// hosts whose records could not be written failed as not touched), each
/// verdict true to what the agents did, the chain intact.
#[test]
fn a_database_restart_mid_op_leaves_true_verdicts() {
    let f = fleet();
    let pids_before: Vec<Option<i32>> = f.agents.iter().map(|a| a.pid_of("worker")).collect();
    let op =
        f.a.op(r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    wait_for(Duration::from_secs(30), "a host done", || {
        (final_hosts(&f.a.get(&format!("/v1/ops/{id}"))) >= 1).then_some(())
    });
    f.db.restart();
    let done = f.a.wait_op(&id, Duration::from_secs(60));
    // The store has the same end as A's memory once the database is back.
    let stored = wait_for(Duration::from_secs(20), "the result on B", || {
        let op = f.b.get(&format!("/v1/ops/{id}"));
        (op["state"] != "running").then_some(op)
    });
    assert_eq!(stored["hosts"], done["hosts"], "{stored}\n{done}");
    for (h, (agent, before)) in done["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(f.agents.iter().zip(&pids_before))
    {
        let now = agent.pid_of("worker");
        match h["verdict"].as_str().unwrap() {
            "ok" => assert_ne!(now, *before, "{h}"),
            _ => {
                let msg = h["message"].as_str().unwrap();
                assert!(msg.starts_with("not touched"), "{h}");
                assert_eq!(now, *before, "{h}");
            }
        }
    }
    let (code, out, err) =
        console_bin(&["audit", "verify", "--config", f.a.config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
}

/// B's page (headless Chromium, logged in on B) shows an op posted to A
/// as it runs and when it ends, from B's own event stream.
#[test]
fn b_s_page_shows_a_s_op_live() {
    let f = fleet();
    let page = common::browser::Browser::start(f.b.port);
    page.login(OPERATOR, "ops");
    page.goto("/#/ops");
    page.wait_js(
        "the ops view",
        "return !!document.getElementById('ops-filter')",
    );
    let op =
        f.a.op(r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    let state = |s: &str| {
        format!(
            "const r = document.querySelector('tr[data-op=\"{id}\"]'); return !!r && r.cells[6].textContent === '{s}'"
        )
    };
    page.wait_js("A's op running on B's page", &state("running"));
    f.a.wait_op(&id, Duration::from_secs(60));
    page.wait_js("A's op done on B's page", &state("done"));
    page.assert_no_js_errors("B's page following A's op");
}

/// Three agents running `signals` (each records the signals it gets),
/// console A with its test hook set to die at h-1 at `moment`, and B.
struct Hooked {
    _db: Pg,
    _dir: tempfile::TempDir,
    agents: Vec<Agent>,
    files: Vec<std::path::PathBuf>,
    a: Console,
    b: Console,
}

fn hooked(moment: &str) -> Hooked {
    let db = Pg::start();
    let (_, url) = db.database();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<std::path::PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("h-{i}.signals")))
        .collect();
    let agents: Vec<(Agent, u16)> = files
        .iter()
        .map(|f| {
            let sig = format!(
                "[program.sig]\ncommand = \"TESTPROG signals {}\"\nstartsecs = 0\n",
                f.display()
            );
            tcp_agent(&sig)
        })
        .collect();
    for (a, _) in &agents {
        a.wait_state("sig", "RUNNING", Duration::from_secs(20));
    }
    let cfg = named_h(&agents);
    let hook = format!("{moment}:h-1");
    let a = pg::console_env(&url, None, "", &cfg, &[("FLEET_TEST_DIE_IN_FLIGHT", &hook)]);
    let b = pg::console(&url, Some(&a), &cfg);
    for c in [&a, &b] {
        c.wait_running(3, Duration::from_secs(30));
    }
    Hooked {
        _db: db,
        _dir: dir,
        agents: agents.into_iter().map(|(a, _)| a).collect(),
        files,
        a,
        b,
    }
}

impl Hooked {
    /// Post `body` to A, see A die by its hook at h-1, and B finish the
    /// op; returns it, every host `ok`, h-1 settled by the repeat.
    fn run_through_a_takeover(&mut self, body: &str) -> serde_json::Value {
        let id = self.a.op(body)["id"].as_str().unwrap().to_string();
        let a = &mut self.a;
        let status = wait_for(Duration::from_secs(30), "A to die at h-1", || {
            a.child.as_mut().unwrap().try_wait().unwrap()
        });
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}: {}", a.stderr());
        a.child = None;
        let op = self.b.wait_op(&id, Duration::from_secs(60));
        assert_eq!(op["state"], "done", "{op}");
        let hosts = op["hosts"].as_array().unwrap();
        assert!(hosts.iter().all(|h| h["verdict"] == "ok"), "{op}");
        let h1 = hosts.iter().find(|h| h["host"] == "h-1").unwrap();
        assert!(
            h1["message"]
                .as_str()
                .unwrap()
                .contains("in flight when its console stopped"),
            "{h1}"
        );
        let (code, out, err) = console_bin(&[
            "audit",
            "verify",
            "--config",
            self.b.config.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "{out}{err}");
        op
    }
}

/// A console SIGKILLed (by its own test hook) with host h-1's call in
/// flight, at `moment`: "before" its request left, or "after" the agent
/// answered and before the verdict was written. The store shows the same
/// `started` record either way, and a signal leaves nothing in the
/// agent's state to resolve it from: the new owner repeats the call with
/// the first call's `Idempotency-Key`, and every program gets USR1
/// exactly once — from the repeat ("before") or from the first call only,
/// the repeat answered from the agent's cache ("after").
fn in_flight_signal_is_sent_once(moment: &str) {
    let mut f = hooked(moment);
    let op = f.run_through_a_takeover(
        r#"{"action":"signal","target":"all","signal":"USR1","strategy":"rolling","batch":"1"}"#,
    );
    let h1 = &op["hosts"][1];
    assert!(
        h1["message"]
            .as_str()
            .unwrap()
            .contains("repeated with the first call's Idempotency-Key"),
        "{h1}"
    );
    // A USR2 sent now is taken after any USR1 sent before it (pending
    // signals are taken lowest number first): once it is in the file,
    // every USR1 the op sent is too.
    for (agent, file) in f.agents.iter().zip(&f.files) {
        let r = agent.post("/v1/processes/sig/signal", r#"{"signal":"USR2"}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        let text = wait_for(Duration::from_secs(10), "the USR2 mark", || {
            let t = std::fs::read_to_string(file).unwrap_or_default();
            t.contains("USR2").then_some(t)
        });
        let pid = agent.pid_of("sig").unwrap();
        assert_eq!(
            text,
            format!("{pid} USR1\n{pid} USR2\n"),
            "{}: USR1 not exactly once ({moment}): {op}",
            file.display()
        );
    }
}

#[test]
fn a_signal_in_flight_before_its_request_left_is_sent_once() {
    in_flight_signal_is_sent_once("before");
}

#[test]
fn a_signal_in_flight_after_its_answer_came_is_sent_once() {
    in_flight_signal_is_sent_once("after");
}

/// A restart whose request never left: the agent shows nothing changed,
/// so the new owner cannot tell it from one not yet acted on, and repeats
/// it under the first call's key: the program restarts exactly once (not
/// zero times, not skipped as "nothing to do").
#[test]
fn a_restart_in_flight_before_its_request_left_is_done_once() {
    let mut f = hooked("before");
    let restarts = |a: &Agent| a.process("sig")["restarts"].as_u64().unwrap();
    let before: Vec<(Option<i32>, u64)> = f
        .agents
        .iter()
        .map(|a| (a.pid_of("sig"), restarts(a)))
        .collect();
    f.run_through_a_takeover(
        r#"{"action":"restart","target":"all","strategy":"rolling","batch":"1"}"#,
    );
    for (i, (agent, (pid, n))) in f.agents.iter().zip(&before).enumerate() {
        assert_ne!(agent.pid_of("sig"), *pid, "h-{i}");
        assert_eq!(restarts(agent), n + 1, "h-{i} not restarted exactly once");
    }
}

/// Behind a load balancer an agent registers with one console and its
/// heartbeats may all reach that one: the others follow it anyway (from
/// the store), never show it down for heartbeats they did not take, take
/// its credential, and a removal on one is a removal on all.
#[test]
fn an_agent_registered_at_one_console_is_live_on_every_console() {
    const ENROLL: &str = "enroll-token-0123456789abcdef";
    let db = Pg::start();
    let (_, url) = db.database();
    let keys = "heartbeat_secs = 1\nstale_after_secs = 2\n";
    let enrollment = format!("[enrollment]\ntoken = \"{ENROLL}\"\n");
    let a = pg::console_env(&url, None, keys, &enrollment, &[]);
    let b = pg::console_env(&url, Some(&a), keys, &enrollment, &[]);
    // A real agent that enrolls with A and sends every heartbeat to A.
    let _agent = Agent::start_with(
        &enrolling_keys("self-01", a.port, ENROLL),
        "[program.worker]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
    );
    let up_on = |c: &Console, name: &str| {
        c.get("/v1/hosts")["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["up"] == true)
    };
    let followed = poll_until(Duration::from_secs(20), || {
        (up_on(&b, "self-01") == Some(true)
            && b.get("/v1/status")["processes"].as_array()?.len() == 1)
            .then_some(())
    });
    assert!(
        followed.is_some(),
        "B does not follow self-01: {}\n{}",
        b.get("/v1/hosts"),
        b.stderr()
    );
    // Three stale windows of B's reads: up on every one.
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        let hosts = b.get("/v1/hosts");
        assert_eq!(
            up_on(&b, "self-01"),
            Some(true),
            "B shows self-01 down: {hosts}"
        );
    }
    // A credential A issued is B's too; a host removed on B leaves A.
    let (_other, port) = tcp_agent("");
    let reg = format!(
        r#"{{"name":"auto-02","url":"http://127.0.0.1:{port}","tags":{{}},"version":"0.1.0","agent_token":"{AGENT_TOKEN}"}}"#
    );
    let r = a.request("POST", "/v1/agents/register", Some(ENROLL), &reg);
    assert_eq!(r.status, 200, "{}", r.text());
    let credential = r.json()["credential"].as_str().unwrap().to_string();
    let r = b.request("POST", "/v1/agents/register", Some(&credential), &reg);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_for(Duration::from_secs(10), "A to list auto-02", || {
        up_on(&a, "auto-02").is_some().then_some(())
    });
    let r = b.request("DELETE", "/v1/hosts/auto-02", Some(OPERATOR), "");
    assert_eq!(r.status, 204, "{}", r.text());
    wait_for(Duration::from_secs(10), "A to forget auto-02", || {
        up_on(&a, "auto-02").is_none().then_some(())
    });
}
