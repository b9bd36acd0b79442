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

/// The last "tick N" numbers of a list of log lines, in order.
fn tick_numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.trim().parse().ok())
        .collect()
}

/// Reading a live log while its agent re-executes (an upgrade): on the
/// page (headless Chromium) and with `fleetctl --console URL tail -f`,
/// the log goes on from the byte it reached — every tick once, in order,
/// from the first live line on — and the page never says it ended.
#[test]
fn a_live_log_goes_on_through_its_agent_s_reexec() {
    let (a, p) = tcp_agent("[program.ticker]\ncommand = \"TESTPROG ticker 10\"\nstartsecs = 0\n");
    let c = Console::start(&agent_entries(&[("w-01", p)]));
    c.wait_running(1, T);
    let b = common::browser::Browser::start(c.port);
    b.login(OPERATOR, "ops");
    b.goto("/#/proc/w-01/ticker:ticker?stream=stdout");
    // The page's lines from the "live" mark on.
    let live = || -> Vec<String> {
        let v = b.js(
            "const all = [...document.querySelectorAll('#log .ln')]; \
             const at = all.findIndex(e => e.classList.contains('mark') && e.textContent.includes('live')); \
             return at < 0 ? [] : all.slice(at + 1).filter(e => e.dataset.st).map(e => e.querySelector('.tx').textContent);",
            vec![],
        );
        serde_json::from_value(v).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut tail = fleetctl_cmd()
        .args(["--console", &format!("http://127.0.0.1:{}", c.port)])
        .args(["--token", OPERATOR, "tail", "-f", "w-01", "ticker"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let printed = || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        tick_numbers(&text.lines().map(str::to_owned).collect::<Vec<_>>())
    };
    wait_for(T, "live lines on the page and from fleetctl", || {
        (tick_numbers(&live()).len() > 20 && printed().len() > 20).then_some(())
    });
    let at = *tick_numbers(&live()).last().unwrap();
    let r = common::listen::reexec(&a, "");
    assert!(r["error"].is_null(), "{r}");
    wait_for(T, "ticks well after the re-exec on both", || {
        let page = tick_numbers(&live());
        let ctl = printed();
        (page.last() > Some(&(at + 100)) && ctl.last() > Some(&(at + 100))).then_some(())
    });
    for (who, ticks) in [("the page", tick_numbers(&live())), ("fleetctl", printed())] {
        // fleetctl's first line may be cut (a tail starts mid-line).
        for w in ticks[1..].windows(2) {
            assert_eq!(w[1], w[0] + 1, "{who}: a gap or a repeat around {w:?}");
        }
    }
    let state = b.js(
        "return document.getElementById('log-state').textContent",
        vec![],
    );
    assert_eq!(state, "following…");
    let _ = tail.kill();
    let _ = tail.wait();
}
