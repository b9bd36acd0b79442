//! Issue #15 item 5: the console SIGKILLed during a rolling restart of 20
//! real agents. The agents keep supervising; the restarted console shows
//! the op `interrupted` with each host's true outcome (done, untouched, in
//! flight — the last read from its agent), the audit trail is complete and
//! verifies, and a new op over every host is accepted at once.

mod common;
use common::console::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);
const AGENTS: usize = 20;

/// Two celery workers whose (re)start takes 4 s to count as RUNNING, so a
/// rolling batch stays in flight long enough to be caught; and a
/// bystander no op touches.
const FLEET: &str = r#"
[program.worker]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 4
stopwaitsecs = 2

[group.celery]
programs = ["worker"]

[program.bystander]
command = "TESTPROG sleep"
startsecs = 0
"#;

const BYSTANDER: &str = "bystander:bystander";

fn hosts(op: &Value) -> &Vec<Value> {
    op["hosts"].as_array().unwrap()
}

/// (name → pid) of every process, read from the agent itself.
fn agent_pids(a: &Agent) -> BTreeMap<String, i64> {
    a.status()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["pid"].as_i64()?)))
        .collect()
}

fn all_running(a: &Agent) -> bool {
    let st = a.status();
    let procs = st["processes"].as_array().unwrap();
    procs.len() == 3 && procs.iter().all(|p| p["state"] == "RUNNING")
}

#[test]
fn console_killed_mid_rolling_restart_reports_each_hosts_true_outcome() {
    let agents: Vec<(Agent, u16)> = (0..AGENTS).map(|_| tcp_agent(FLEET)).collect();
    let names: Vec<String> = (0..AGENTS).map(|i| format!("w-{i:02}")).collect();
    let entries: Vec<(&str, u16)> = names
        .iter()
        .zip(&agents)
        .map(|(n, (_, p))| (n.as_str(), *p))
        .collect();
    let mut c = Console::start(&agent_entries(&entries));
    c.wait_running(AGENTS * 3, T);
    let agent = |host: &str| &agents[names.iter().position(|n| n == host).unwrap()].0;
    let before: BTreeMap<String, BTreeMap<String, i64>> = names
        .iter()
        .map(|n| (n.clone(), agent_pids(agent(n))))
        .collect();

    let op = c.op(
        r#"{"action":"restart","target":"group:celery","strategy":"rolling","batch":"2","max_failures":1}"#,
    );
    let id = op["id"].as_str().unwrap().to_string();
    assert!(
        op["source"]
            .as_str()
            .unwrap_or("")
            .starts_with("127.0.0.1:"),
        "the caller's address is kept with the op: {op}"
    );

    // Some batches done and one in flight: the in-flight hosts' workers
    // still STARTING at their agents (the agent answers a restart only
    // once RUNNING, so their call cannot have finished).
    let in_flight_at_kill = wait_for(T, "two batches done and one in flight", || {
        let now = c.get(&format!("/v1/ops/{id}"));
        let ok = hosts(&now).iter().filter(|h| h["verdict"] == "ok").count();
        let flying: Vec<String> = hosts(&now)
            .iter()
            .filter(|h| h["verdict"] == "pending" && h["message"] == "in flight")
            .map(|h| h["host"].as_str().unwrap().to_string())
            .collect();
        let starting = !flying.is_empty()
            && flying.iter().all(|h| {
                agent(h).status()["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["state"] == "STARTING")
            });
        (ok >= 4 && flying.len() == 2 && starting).then_some(flying)
    });
    let mut child = c.child.take().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The agents never stopped supervising: the in-flight restarts finish
    // on their own, every process is RUNNING, the bystanders keep their
    // pids, and a bystander killed now is restarted by its agent.
    for n in &names {
        wait_for(T, &format!("{n}: every process RUNNING"), || {
            all_running(agent(n)).then_some(())
        });
    }
    let after: BTreeMap<String, BTreeMap<String, i64>> = names
        .iter()
        .map(|n| (n.clone(), agent_pids(agent(n))))
        .collect();
    for n in &names {
        assert_eq!(
            after[n][BYSTANDER], before[n][BYSTANDER],
            "{n}: a process no op touched kept its pid"
        );
    }
    let victim = agent(&names[AGENTS - 1]);
    let old = victim.pid_of(BYSTANDER).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(T, "the agent restarts a killed bystander", || {
        let p = victim.process(BYSTANDER);
        (p["state"] == "RUNNING" && p["pid"].as_i64() != Some(old as i64)).then_some(())
    });

    // Restarted on the same port and data dir: interrupted before it
    // serves anything, and nothing is left locked.
    c.spawn();
    let first = c.get(&format!("/v1/ops/{id}"));
    assert_eq!(first["state"], "interrupted", "{first}");
    assert!(first["finished_at"].as_u64().is_some(), "{first}");
    let listed = c.get("/v1/ops?result=interrupted");
    assert_eq!(listed["ops"][0]["id"], id.as_str(), "{listed}");
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    assert!(
        m.contains("fleet_console_ops_total{outcome=\"interrupted\"} 1"),
        "{m}"
    );
    let t0 = Instant::now();
    let again = c.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"restart","target":"group:celery"}"#,
    );
    let took = t0.elapsed();
    assert_eq!(again.status, 201, "{}", again.text());
    assert!(
        took < Duration::from_secs(10),
        "accepted at once, took {took:?}"
    );

    // Each host's true outcome, once the in-flight ones are resolved.
    let done = wait_for(T, "the in-flight hosts resolved", || {
        let op = c.get(&format!("/v1/ops/{id}"));
        hosts(&op)
            .iter()
            .all(|h| h["verdict"] != "pending")
            .then_some(op)
    });
    assert_eq!(done["state"], "interrupted", "{done}");
    let (mut recorded, mut resolved, mut untouched) = (vec![], vec![], vec![]);
    for h in hosts(&done) {
        let host = h["host"].as_str().unwrap().to_string();
        let msg = h["message"].as_str().unwrap_or("");
        let workers_changed = ["celery:worker_00", "celery:worker_01"]
            .iter()
            .all(|w| after[&host][*w] != before[&host][*w]);
        let workers_same = ["celery:worker_00", "celery:worker_01"]
            .iter()
            .all(|w| after[&host][*w] == before[&host][*w]);
        match h["verdict"].as_str().unwrap() {
            "ok" if msg.starts_with("in flight when the console stopped") => {
                assert!(
                    msg.contains("2 of 2 process(es) restarted since"),
                    "{host}: {h}"
                );
                assert!(workers_changed, "{host} said restarted: {h}");
                resolved.push(host);
            }
            "ok" => {
                assert!(workers_changed, "{host} said ok: {h}");
                recorded.push(host);
            }
            "skipped" => {
                assert!(msg.starts_with("untouched"), "{host}: {h}");
                assert!(workers_same, "{host} said untouched: {h}");
                untouched.push(host);
            }
            v => panic!("{host}: unexpected verdict {v}: {done}"),
        }
    }
    assert!(recorded.len() >= 4, "{done}");
    assert_eq!(resolved, in_flight_at_kill, "{done}");
    assert!(!untouched.is_empty(), "{done}");
    // Rolling order: done hosts, then the batch in flight, then the rest.
    let order: Vec<String> = recorded
        .iter()
        .chain(&resolved)
        .chain(&untouched)
        .cloned()
        .collect();
    assert_eq!(order, names, "{done}");
    eprintln!(
        "done before the kill: {recorded:?}; in flight, resolved: {resolved:?} ({}); untouched: {} host(s); new op accepted in {took:?}",
        hosts(&done)
            .iter()
            .find(|h| h["host"] == resolved[0].as_str())
            .unwrap()["message"],
        untouched.len()
    );

    // The new op finishes on every host.
    let next = c.wait_op(again.json()["id"].as_str().unwrap(), T);
    assert_eq!(next["state"], "done", "{next}");
    for (h, v) in verdicts(&next) {
        assert_eq!(v, "ok", "{h}: {next}");
    }

    // The audit trail: the intent (with the caller's address), a record as
    // each host's call started and as it finished, the interrupted result
    // and one per resolved host; the chain verifies.
    c.stop();
    let db = rusqlite::Connection::open_with_flags(
        c.dir.path().join("data/console.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let count = |kind: &str| -> usize {
        db.query_row(
            "SELECT COUNT(*) FROM audit WHERE op_id = ?1 AND kind = ?2",
            rusqlite::params![id, kind],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    };
    assert_eq!(count("intent"), 1);
    assert_eq!(
        count("host"),
        2 * recorded.len() + resolved.len(),
        "started + finished per done host, started per in-flight host"
    );
    assert_eq!(count("result"), 1 + resolved.len());
    let source: Option<String> = db
        .query_row(
            "SELECT source FROM audit WHERE op_id = ?1 AND kind = 'intent'",
            rusqlite::params![id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(source.is_some_and(|s| s.starts_with("127.0.0.1:")));
    drop(db);
    let out = std::process::Command::new(bin("fleet-console"))
        .args(["audit", "verify", "--config"])
        .arg(&c.config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
