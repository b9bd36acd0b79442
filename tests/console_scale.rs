//! Scale: N real agents (default 200, `FLEET_SCALE_AGENTS`), each with a
//! celery group of two processes, on loopback under one console. Reports
//! `GET /v1/status` latency, a fleet-wide restart's duration and the
//! console's RSS, then kills 10% of the agents mid-operation.
//!
//! cargo test --release --test console_scale -- --ignored --nocapture

mod common;
use common::console::*;
use common::*;
use std::time::{Duration, Instant};

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn status_latency(c: &Console, n: usize) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let st = c.get("/v1/status");
            assert!(st["processes"].is_array());
            t0.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[times.len() - 1])
}

#[test]
#[ignore = "scale test: starts hundreds of agents; run explicitly"]
fn hundreds_of_agents_under_one_console() {
    let n: usize = std::env::var("FLEET_SCALE_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let t0 = Instant::now();
    let mut agents: Vec<Option<Agent>> = Vec::new();
    let mut entries = Vec::new();
    for i in 0..n {
        let (a, port) = tcp_agent(CELERY);
        agents.push(Some(a));
        entries.push((format!("w-{i:04}"), port));
    }
    eprintln!("started {n} agents in {:?}", t0.elapsed());
    let e: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let c = Console::start(&agent_entries(&e));
    let console_pid = c.child.as_ref().unwrap().id();
    let t0 = Instant::now();
    c.wait_running(2 * n, Duration::from_secs(180));
    eprintln!(
        "console picture complete ({} processes) after {:?}",
        2 * n,
        t0.elapsed()
    );

    let (median, max) = status_latency(&c, 50);
    eprintln!(
        "GET /v1/status ({n} hosts, {} processes): median {median:?}, max {max:?}",
        2 * n
    );
    eprintln!("console RSS idle: {} kB", rss_kb(console_pid));
    assert!(max < Duration::from_secs(1), "status took {max:?}");

    let t0 = Instant::now();
    let op = c.op(r#"{"action":"restart","target":"group:celery"}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), Duration::from_secs(300));
    let took = t0.elapsed();
    let ok = verdicts(&done).iter().filter(|(_, v)| v == "ok").count();
    eprintln!("restart group:celery on {n} hosts: {took:?}, {ok} ok");
    eprintln!("console RSS after restart: {} kB", rss_kb(console_pid));
    assert_eq!(ok, n, "{done}");
    let (median, max) = status_latency(&c, 20);
    eprintln!("GET /v1/status after restart: median {median:?}, max {max:?}");

    // Kill 10% mid-operation.
    let op = c.op(r#"{"action":"restart","target":"group:celery","timeout_ms":15000}"#);
    let victims: Vec<usize> = (0..n).step_by(10).collect();
    for &i in &victims {
        let pid = agents[i].as_ref().unwrap().pid() as i32;
        let pid = nix::unistd::Pid::from_raw(pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    let t0 = Instant::now();
    let done = c.wait_op(op["id"].as_str().unwrap(), Duration::from_secs(300));
    let v = verdicts(&done);
    let count = |w: &str| v.iter().filter(|(_, x)| x == w).count();
    eprintln!(
        "restart with {} agents killed mid-op: finished {:?} after the kills; ok {}, unreachable {}, failed {}",
        victims.len(),
        t0.elapsed(),
        count("ok"),
        count("unreachable"),
        count("failed")
    );
    for (i, (h, verdict)) in v.iter().enumerate() {
        if !victims.contains(&i) {
            assert_eq!(verdict, "ok", "{h}");
        }
    }
    for &i in &victims {
        drop(agents[i].take());
    }
    let (median, max) = status_latency(&c, 20);
    eprintln!("GET /v1/status with 10% dead: median {median:?}, max {max:?}");
    eprintln!("console RSS at end: {} kB", rss_kb(console_pid));
}
