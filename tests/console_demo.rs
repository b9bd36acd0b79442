//! `fleet-console demo`: the README's "run the product" command starts a
//! console and real agents, answers through the console, and on SIGTERM
//! leaves no agent, program or temp dir behind.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn get(port: u16, path: &str, token: &str) -> Option<serde_json::Value> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = format!("Bearer {token}");
    let r = http(s, "GET", path, &[("Authorization", &auth)], b"").ok()?;
    (r.status == 200).then(|| r.json())
}

/// Every live descendant of `root`.
fn descendants(root: i32) -> Vec<i32> {
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for c in all_pids() {
            if ppid(c) == Some(p) && alive(c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

#[test]
fn demo_runs_a_fleet_and_cleans_up_on_sigterm() {
    let mut demo = Command::new(bin("fleet-console"))
        .args(["demo", "--agents", "3", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn fleet-console demo");
    let pid = demo.id() as i32;
    let (tx, rx) = mpsc::channel();
    let stdout = demo.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    wait_for(T, "the demo's banner", || {
        while let Ok(l) = rx.try_recv() {
            printed.push(l);
        }
        if let Ok(Some(st)) = demo.try_wait() {
            panic!("demo exited early ({st}): {printed:?}");
        }
        printed
            .iter()
            .any(|l| l.contains("Ctrl-C stops"))
            .then_some(())
    });
    let field = |label: &str| -> String {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} line in {printed:?}"))
            .trim()
            .to_string()
    };
    let url = field("console:");
    let operator = field("operator token:");
    let viewer = field("viewer token:");
    let dir = field("files:").split(' ').next().unwrap().to_string();
    assert!(std::path::Path::new(&dir).is_dir(), "{dir}");
    assert!(operator.len() >= 32 && viewer.len() >= 32 && operator != viewer);
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let export = printed
        .iter()
        .find(|l| l.contains("export FLEET_CONSOLE="))
        .expect("export line");
    assert!(
        export.contains(&url) && export.contains(&operator),
        "{export}"
    );
    assert!(printed.iter().any(|l| l.ends_with("restart group:celery")));

    // Three hosts up, each running its part of the celery group.
    let hosts = wait_for(T, "3 hosts up", || {
        let h = get(port, "/v1/hosts", &viewer)?;
        let up = h["hosts"]
            .as_array()?
            .iter()
            .filter(|h| h["up"] == true)
            .count();
        (up == 3).then_some(h)
    });
    assert!(get(port, "/v1/hosts", "wrong-token").is_none());
    // The status once celery runs on all three hosts.
    let celery_everywhere = || {
        let st = get(port, "/v1/status", &viewer)?;
        let ps = st["processes"].as_array()?;
        let hosts: std::collections::BTreeSet<&str> = ps
            .iter()
            .filter(|p| p["group"] == "celery" && p["state"] == "RUNNING")
            .filter_map(|p| p["host"].as_str())
            .collect();
        (hosts.len() == 3).then(|| st.clone())
    };
    let status = wait_for(T, "celery RUNNING on every host", celery_everywhere);
    let names: Vec<&str> = hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{hosts}");
    let celery = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["group"] == "celery")
        .count();
    assert!(celery >= 8, "{status}");

    // The workers' broker has a health check; the printed `touch` makes
    // it unhealthy, seen through the console.
    let touch = printed
        .iter()
        .find_map(|l| l.trim().strip_prefix("touch "))
        .and_then(|l| l.split_whitespace().next())
        .expect("a touch line")
        .to_owned();
    let broker = |want: &str| {
        let st = get(port, "/v1/status", &viewer)?;
        st["processes"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "broker:broker" && p["health"] == want)
            .then_some(())
    };
    wait_for(T, "a healthy broker", || broker("healthy"));
    std::fs::write(&touch, "").unwrap();
    wait_for(T, "the touched broker unhealthy", || broker("unhealthy"));
    std::fs::remove_file(&touch).unwrap();
    wait_for(T, "the broker healthy again", || {
        let st = get(port, "/v1/status", &viewer)?;
        let sick = st["processes"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "broker:broker" && p["health"] != "healthy");
        (!sick).then_some(())
    });

    let agents: Vec<i32> = all_pids()
        .into_iter()
        .filter(|&p| ppid(p) == Some(pid) && alive(p))
        .collect();
    assert_eq!(agents.len(), 3, "agents: {agents:?}");
    // An agent killed (to see what the page says) is reaped, never a
    // zombie, and started again: its host comes back up.
    let victim = agents[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for(T, "the killed agent reaped", || {
        (!alive(victim) && !is_zombie(victim)).then_some(())
    });
    wait_for(T, "a new agent in its place, and 3 hosts up", || {
        let now: Vec<i32> = all_pids()
            .into_iter()
            .filter(|&p| ppid(p) == Some(pid) && alive(p) && !is_zombie(p))
            .collect();
        let h = get(port, "/v1/hosts", &viewer)?;
        let up = h["hosts"]
            .as_array()?
            .iter()
            .filter(|h| h["up"] == true)
            .count();
        (now.len() == 3 && !now.contains(&victim) && up == 3).then_some(())
    });
    // Its programs died with it or were orphaned; the new agent runs its
    // own. Wait for celery on every host again before counting.
    wait_for(T, "celery RUNNING on every host again", celery_everywhere);
    let everything: Vec<i32> = descendants(pid);
    assert!(everything.len() > celery, "{everything:?}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = wait_for(T, "the demo to exit", || demo.try_wait().unwrap());
    assert!(st.success(), "demo exit: {st}");
    let left: Vec<i32> = everything.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} not removed");
}
