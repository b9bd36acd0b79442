//! `fleetctl --console URL reexec --hosts @group --rolling 25%` (#28):
//! twenty real agents re-execute in place, five at a time, through the
//! op machinery restarts use — a verdict per host, the op in the audit
//! log — and not one program gets a new pid.

mod common;
use common::console::*;
use common::ctl::{fleetctl_cmd, run};
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn a_rolling_fleet_reexec_keeps_every_pid() {
    let n = 20;
    let agents: Vec<(Agent, u16)> = (0..n).map(|_| tcp_agent(CELERY)).collect();
    let names: Vec<String> = (0..n).map(|i| format!("w-{i:02}")).collect();
    let entries: Vec<(&str, u16)> = names
        .iter()
        .zip(&agents)
        .map(|(n, (_, p))| (n.as_str(), *p))
        .collect();
    let c = Console::start(&format!(
        "{}[host_groups]\nworkers = [\"w-*\"]\n",
        agent_entries(&entries)
    ));
    let before = pids(&c.wait_running(2 * n, T));
    let agent_pids: Vec<u32> = agents.iter().map(|(a, _)| a.pid()).collect();
    let url = format!("http://127.0.0.1:{}", c.port);
    let mut cmd = fleetctl_cmd();
    cmd.args([
        "--console",
        &url,
        "--token",
        OPERATOR,
        "reexec",
        "--hosts",
        "@workers",
    ])
    .args(["--rolling", "25%", "-o", "json"]);
    let o = run(cmd);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);

    // The op as the audit log keeps it: one verdict per host, ok, in
    // batches of five.
    let ops = c.get("/v1/ops");
    let op = ops["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["request"]["action"] == "reexec")
        .unwrap_or_else(|| panic!("no reexec op in {ops}"))
        .clone();
    let op = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(op["state"], "done", "{op}");
    let v = verdicts(&op);
    assert_eq!(v.len(), n, "{op}");
    for (h, verdict) in &v {
        assert_eq!(verdict, "ok", "{h}: {op}");
    }
    let mut batches: Vec<u64> = op["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["batch"].as_u64().unwrap_or_default())
        .collect();
    batches.sort();
    batches.dedup();
    assert_eq!(batches.len(), 4, "25 % of 20 is 5 hosts a batch: {op}");
    for h in op["hosts"].as_array().unwrap() {
        let m = h["message"].as_str().unwrap_or_default();
        assert!(m.contains("re-executed in place"), "{h}");
        assert!(m.contains("2 running programs kept their pids"), "{h}");
    }
    // Same agents, same programs.
    for ((a, _), pid) in agents.iter().zip(&agent_pids) {
        assert_eq!(a.status()["pid"], *pid);
    }
    // The console's picture, once its event streams are back (each one
    // ended with the exec and resumes by Last-Event-ID), has every pid.
    let after = poll_until(T, || {
        let now = pids(&c.get("/v1/status"));
        (now == before).then_some(now)
    });
    assert_eq!(after.as_ref(), Some(&before), "{}", c.get("/v1/status"));
}
