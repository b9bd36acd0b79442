//! fleet-console against real agents on loopback: the live picture, bulk
//! operations (parallel and rolling), auth, bad requests, the audit log
//! across a restart, and black-holed agents.

mod common;
use common::console::*;
use common::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// A celery group whose workers die at once: a restart ends FATAL.
const BROKEN: &str = r#"
[program.worker]
command = "TESTPROG exit 3"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 1
startretries = 0
autostart = false

[group.celery]
programs = ["worker"]
"#;

fn fleet(n: usize) -> (Vec<Agent>, String) {
    let agents: Vec<(Agent, u16)> = (0..n).map(|_| tcp_agent(CELERY)).collect();
    let names: Vec<String> = (0..n).map(|i| format!("w-{i:02}")).collect();
    let entries: Vec<(&str, u16)> = names
        .iter()
        .zip(&agents)
        .map(|(n, (_, p))| (n.as_str(), *p))
        .collect();
    let cfg = format!(
        "{}[host_groups]\nworkers = [\"w-*\"]\n",
        agent_entries(&entries)
    );
    (agents.into_iter().map(|(a, _)| a).collect(), cfg)
}

#[test]
fn status_then_parallel_restart_then_a_dead_agent_is_unreachable() {
    let (mut agents, cfg) = fleet(5);
    let c = Console::start(&cfg);
    let st = c.wait_running(10, T);
    assert_eq!(st["hosts"].as_array().unwrap().len(), 5);
    assert!(st["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["up"] == true));
    let p = &st["processes"][0];
    for k in ["host", "name", "group", "state", "pid"] {
        assert!(!p[k].is_null(), "{k} missing in {p}");
    }
    assert_eq!(p["group"], "celery");
    // Filters.
    let one = c.get("/v1/status?hosts=w-01&target=celery:worker_00");
    assert_eq!(one["processes"].as_array().unwrap().len(), 1);
    assert_eq!(one["processes"][0]["host"], "w-01");

    let before = pids(&st);
    let op = c.op(r#"{"action":"restart","target":"group:celery"}"#);
    assert_eq!(op["state"], "running");
    assert_eq!(op["who"], "ops");
    assert!(op["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["verdict"] == "pending"));
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "done", "{done}");
    for (h, v) in verdicts(&done) {
        assert_eq!(v, "ok", "{h}: {done}");
    }
    for h in done["hosts"].as_array().unwrap() {
        for r in h["processes"].as_array().unwrap() {
            let key = (
                h["host"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            );
            assert_ne!(
                Some(&r["pid"].as_i64().unwrap()),
                before.get(&key),
                "{key:?}"
            );
        }
    }
    // The picture follows the agents' events: new pids show up.
    wait_for(T, "new pids in the console picture", || {
        let now = pids(&c.get("/v1/status"));
        (now.len() == 10 && now.iter().all(|(k, p)| before.get(k) != Some(p))).then_some(())
    });

    // Kill one agent outright: shown down with staleness; op says unreachable.
    let dead = agents.remove(4);
    let pid = nix::unistd::Pid::from_raw(dead.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let h = wait_for(T, "w-04 down", || {
        let hosts = c.get("/v1/hosts");
        hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == "w-04" && h["up"] == false)
            .cloned()
    });
    assert!(h["stale_ms"].as_u64().is_some(), "{h}");
    assert!(h["error"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    let op = c.op(
        r#"{"action":"restart","target":"group:celery","hosts":"@workers","timeout_ms":10000}"#,
    );
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    for (h, v) in verdicts(&done) {
        let want = if h == "w-04" { "unreachable" } else { "ok" };
        assert_eq!(v, want, "{h}: {done}");
    }
    drop(dead);
    // Metrics see it too.
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    assert!(m.contains("fleet_console_agents{state=\"down\"} 1"), "{m}");
    assert!(
        m.contains("fleet_console_ops_total{outcome=\"ok\"} 1"),
        "{m}"
    );
}

#[test]
fn rolling_restart_stops_at_the_failed_batch() {
    let mut agents = Vec::new();
    let mut entries = Vec::new();
    for i in 0..5 {
        let (a, port) = tcp_agent(if i == 2 { BROKEN } else { CELERY });
        agents.push(a);
        entries.push((format!("w-{i:02}"), port));
    }
    let e: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let c = Console::start(&agent_entries(&e));
    c.wait_running(8, T);
    let before = pids(&c.get("/v1/status"));
    let op = c.op(
        r#"{"action":"restart","target":"group:celery","strategy":"rolling","batch":"2","max_failures":1}"#,
    );
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "aborted", "{done}");
    let v = verdicts(&done);
    assert_eq!(v[0].1, "ok");
    assert_eq!(v[1].1, "ok");
    assert_eq!(v[2].1, "failed", "{done}");
    assert_eq!(v[4].1, "skipped", "{done}");
    let batches: Vec<u64> = done["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["batch"].as_u64().unwrap())
        .collect();
    assert_eq!(batches, [1, 1, 2, 2, 3]);
    assert!(
        done["hosts"][2]["message"]
            .as_str()
            .unwrap()
            .contains("worker"),
        "{done}"
    );
    // The skipped host was not touched.
    let after = pids(&c.get("/v1/status"));
    for name in ["celery:worker_00", "celery:worker_01"] {
        let k = ("w-04".to_string(), name.to_string());
        assert_eq!(before.get(&k), after.get(&k), "w-04 {name} was touched");
    }
}

#[test]
fn auth_bad_requests_dry_run_and_audit_across_restart() {
    let (_agents, cfg) = fleet(2);
    let mut c = Console::start(&cfg);
    c.wait_running(4, T);
    // 401 / 403.
    let r = c.request("GET", "/v1/status", None, "");
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert_eq!(c.request("GET", "/v1/hosts", Some("nope"), "").status, 401);
    let body = r#"{"action":"restart","target":"group:celery"}"#;
    let r = c.request("POST", "/v1/ops", Some(VIEWER), body);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "forbidden");
    // Empty selection names the selector; nothing is recorded.
    let r = c.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"restart","target":"group:celery","hosts":"db-*"}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("db-*"),
        "{}",
        r.text()
    );
    for (bad, code) in [
        ("{not json", "bad_request"),
        (r#"{"action":"explode","target":"all"}"#, "bad_request"),
        (r#"{"action":"restart","target":"../etc"}"#, "bad_selector"),
        (
            r#"{"action":"signal","target":"all","signal":"NOPE"}"#,
            "bad_signal",
        ),
        (
            r#"{"action":"restart","target":"all","hosts":"@nogroup"}"#,
            "bad_selector",
        ),
    ] {
        let r = c.request("POST", "/v1/ops", Some(OPERATOR), bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], code, "{bad}");
    }
    let big = format!(
        r#"{{"action":"restart","target":"{}"}}"#,
        "a".repeat(100_000)
    );
    assert_eq!(
        c.request("POST", "/v1/ops", Some(OPERATOR), &big).status,
        413
    );
    assert_eq!(c.get("/v1/ops")["ops"].as_array().unwrap().len(), 0);

    // Dry run lists what it would touch and touches nothing.
    let before = pids(&c.get("/v1/status"));
    let dry = c.op(r#"{"action":"restart","target":"group:celery","dry_run":true}"#);
    assert_eq!(dry["state"], "done");
    assert_eq!(dry["hosts"][0]["processes"].as_array().unwrap().len(), 2);
    assert_eq!(pids(&c.get("/v1/status")), before);

    let op = c.op(r#"{"action":"restart","target":"celery:worker_00","hosts":"w-00"}"#);
    let id = op["id"].as_str().unwrap().to_string();
    let done = c.wait_op(&id, T);
    assert_eq!(done["state"], "done");

    c.stop();
    c.spawn();
    let back = c.get(&format!("/v1/ops/{id}"));
    assert_eq!(back["who"], "ops");
    assert_eq!(back["state"], "done");
    assert_eq!(back["request"]["target"], "celery:worker_00");
    assert_eq!(back["hosts"][0]["verdict"], "ok");
    assert!(back["finished_at"].as_u64().is_some());
    let list = c.get("/v1/ops");
    let ids: Vec<&str> = list["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], id, "newest first: {list}");
    // The list carries verdicts; per-process results are the op's own.
    assert_eq!(list["ops"][0]["hosts"][0]["verdict"], "ok");
    assert_eq!(
        list["ops"][0]["hosts"][0]["processes"],
        serde_json::json!([])
    );
    assert_eq!(back["hosts"][0]["processes"][0]["name"], "celery:worker_00");
    // The dry run was a plan, not an operation: not in the history.
    assert_eq!(ids.len(), 1, "{list}");
    // Filters and paging.
    assert_eq!(
        c.get("/v1/ops?action=restart&result=ok")["ops"][0]["id"],
        id
    );
    assert_eq!(c.get("/v1/ops?action=stop")["ops"], serde_json::json!([]));
    assert_eq!(c.get("/v1/ops?who=nobody")["ops"], serde_json::json!([]));
    let page = c.get("/v1/ops?limit=1&offset=1");
    assert_eq!(page["ops"], serde_json::json!([]), "{page}");
    assert!(page["next_offset"].is_null(), "{page}");
    assert_eq!(
        c.request("GET", "/v1/ops?result=maybe", Some(VIEWER), "")
            .status,
        400
    );
    assert_eq!(
        c.request("GET", "/v1/ops/op-nosuch", Some(VIEWER), "")
            .status,
        404
    );
}

#[test]
fn a_black_holed_agent_does_not_slow_status() {
    let (_agents, cfg) = fleet(2);
    // Accepts TCP (the kernel completes the handshake) and never answers.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    let cfg = format!("{cfg}{}", agent_entries(&[("hole", hole_port)]));
    let c = Console::start(&cfg);
    c.wait_running(4, T);
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let t0 = Instant::now();
        let st = c.get("/v1/status");
        worst = worst.max(t0.elapsed());
        let hole_info = st["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == "hole")
            .cloned()
            .unwrap();
        assert_eq!(hole_info["up"], false, "{hole_info}");
    }
    eprintln!("worst GET /v1/status with a black hole: {worst:?}");
    assert!(worst < Duration::from_millis(500), "status took {worst:?}");
    // An op that includes it: the others finish, the hole is unreachable
    // within the per-host timeout.
    let t0 = Instant::now();
    let op = c.op(r#"{"action":"restart","target":"group:celery","timeout_ms":2000}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    for (h, v) in verdicts(&done) {
        let want = if h == "hole" { "unreachable" } else { "ok" };
        assert_eq!(v, want, "{h}: {done}");
    }
    drop(hole);
}

/// The soft and hard "Max open files" of `pid`.
fn nofile(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let mut f = line.split_whitespace().skip(3);
    (f.next().unwrap().into(), f.next().unwrap().into())
}

#[test]
fn the_console_raises_its_fd_limit_and_survives_a_bad_fleet_log() {
    // Started like a service with a low soft limit (1024 is common) and a
    // typo in FLEET_LOG: the limit is raised to the hard one, the typo is
    // reported, and the console serves with its default filter.
    let mut c = Console::start("");
    c.stop();
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" --config \"$1\"")
        .arg(bin("fleet-console"))
        .arg(&c.config)
        .env("FLEET_LOG", "fleet_console=loud")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(c.dir.path().join("console.stderr")).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id();
    c.child = Some(child);
    wait_for(T, "the console to serve", || {
        c.try_request("GET", "/healthz", None, "")
            .ok()
            .filter(|r| r.status == 200)
    });
    let (soft, hard) = nofile(pid);
    assert_eq!(soft, hard, "soft fd limit not raised");
    assert_ne!(soft, "256");
    let err = c.stderr();
    assert!(
        err.contains("ignoring FLEET_LOG=\"fleet_console=loud\"") && err.contains("using \"info\""),
        "{err}"
    );
}
