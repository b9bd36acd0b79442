//! Health through the console: the picture carries each process's verdict
//! as its agent reports it (compared field by field), the page shows it
//! per process and per group and filters on it, `fleetctl status` has a
//! HEALTH column, and a rolling restart stops at the first batch that
//! comes up unhealthy, leaving the rest untouched.

mod common;
use common::browser::*;
use common::console::*;
use common::ctl::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A web tier: one process serving on `port`, answering as `mode` says,
/// checked every 100 ms, and a cron beside it without a check.
fn web(port: u16, mode: &std::path::Path) -> String {
    format!(
        r#"
[program.web]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.web.health]
http = "http://127.0.0.1:{port}/healthz"
interval = "100ms"
timeout = "1s"
failures = 2

[program.cron]
command = "TESTPROG sleep"
startsecs = 0
"#,
        mode = mode.display()
    )
}

#[test]
fn the_picture_page_and_fleetctl_show_health_as_the_agent_does() {
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    let (a, port) = tcp_agent(&web(free_port(), &mode));
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    wait_for(T, "healthy in the console", || {
        (console_process(&c, "w-01", "web:web")["health"] == "healthy").then_some(())
    });
    // The seam: the console's copy equals the agent's, field by field.
    let same = |field: &str| {
        wait_for(T, &format!("{field} the same in both"), || {
            let agent = a.process("web");
            let console = console_process(&c, "w-01", "web:web");
            (agent[field] == console[field]).then_some(agent[field].clone())
        })
    };
    assert_eq!(same("health"), "healthy");
    assert_eq!(same("health_message"), "HTTP 200");
    assert!(console_process(&c, "w-01", "cron:cron")
        .get("health")
        .is_none());

    let b = Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/host/w-01");
    b.wait_js(
        "the healthy badge",
        "const e = document.querySelector('tr[data-key=\"w-01/web:web\"] [data-health]'); return e && e.textContent === 'healthy';",
    );

    std::fs::write(&mode, "fail").unwrap();
    wait_for(T, "unhealthy at the agent", || {
        (a.process("web")["health"] == "unhealthy").then_some(())
    });
    assert_eq!(same("health"), "unhealthy");
    assert_eq!(same("health_message"), "HTTP 503");
    // Per process, with why, and per group.
    let title = b.wait_js(
        "the unhealthy badge",
        "const e = document.querySelector('tr[data-key=\"w-01/web:web\"] [data-health]'); return e && e.textContent === 'unhealthy' && e.title;",
    );
    assert_eq!(title, "last check: HTTP 503");
    b.wait_js(
        "the group's health",
        "return [...document.querySelectorAll('h2 [data-health-count]')].some(e => e.textContent === '1 unhealthy');",
    );
    // In trouble on the overview, and found by the filter.
    b.goto("/#/processes?f=is:unhealthy");
    let shown = b.wait_js(
        "the filtered list",
        "const r = [...document.querySelectorAll('[data-key]')].map(e => e.dataset.key); return r.length === 1 && r;",
    );
    assert_eq!(shown, serde_json::json!(["w-01/web:web"]));
    b.goto("/#/");
    b.wait_js(
        "the trouble list names it",
        "const r = document.querySelector('.trouble-list tr[data-key=\"w-01/web:web\"]'); return r && r.textContent.includes('unhealthy: HTTP 503');",
    );
    b.assert_no_js_errors("health on the page");

    // fleetctl, through the console: a HEALTH column with the verdict.
    let home = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", c.port);
    let mut cmd = fleetctl_cmd();
    cmd.args(["--console", &url, "--token", VIEWER, "status"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path());
    let out = run(cmd);
    assert_eq!(out.code, 0, "{out:?}");
    let text = out.stdout.clone();
    let head = text.lines().next().unwrap();
    assert!(head.contains("HEALTH"), "{text}");
    let row = text.lines().find(|l| l.contains("web:web")).unwrap();
    assert!(
        row.contains("unhealthy") && row.contains("HTTP 503"),
        "{text}"
    );
    let row = text.lines().find(|l| l.contains("cron:cron")).unwrap();
    assert!(row.split_whitespace().any(|w| w == "-"), "{text}");
}

#[test]
fn a_rolling_restart_stops_at_the_first_batch_that_comes_up_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let mut agents = Vec::new();
    let mut entries = Vec::new();
    let mut modes = Vec::new();
    for i in 0..3 {
        let mode = dir.path().join(format!("mode-{i}"));
        let (a, port) = tcp_agent(&web(free_port(), &mode));
        agents.push(a);
        entries.push((format!("w-{i:02}"), port));
        modes.push(mode);
    }
    let e: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let c = Console::start(&agent_entries(&e));
    for (host, _) in &e {
        wait_for(T, "healthy everywhere", || {
            (console_process(&c, host, "web:web")["health"] == "healthy").then_some(())
        });
    }
    // The second host's web answers 503 once restarted (the mode file is
    // read per request): its batch must fail on health, not on state.
    std::fs::write(&modes[1], "fail").unwrap();
    let untouched = agents[2].process("web")["pid"].clone();
    let op = c.op(
        r#"{"action":"restart","target":"web","strategy":"rolling","batch":"1","max_failures":1}"#,
    );
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "aborted", "{done}");
    let v = verdicts(&done);
    assert_eq!(v[0].1, "ok", "{done}");
    assert_eq!(v[1].1, "failed", "{done}");
    assert_eq!(v[2].1, "skipped", "{done}");
    let msg = done["hosts"][1]["message"].as_str().unwrap();
    assert!(
        msg.contains("web:web is unhealthy (HTTP 503)"),
        "the verdict names the check: {msg}"
    );
    // The process itself is RUNNING: only health failed the batch.
    assert_eq!(agents[1].process("web")["state"], "RUNNING");
    assert_eq!(
        agents[2].process("web")["pid"],
        untouched,
        "w-02 was touched"
    );
}

#[test]
fn a_fleet_start_with_deps_starts_each_hosts_chain() {
    let programs = r#"
[program.redis]
command = "TESTPROG sleep"
autostart = false
startsecs = 0

[program.web]
command = "TESTPROG sleep"
startsecs = 0
depends_on = ["redis"]
"#;
    let (a, port) = tcp_agent(programs);
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    wait_for(T, "web refused at autostart, in the picture", || {
        console_process(&c, "w-01", "web:web")["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("not started"))
            .then_some(())
    });
    let op = c.op(r#"{"action":"start","target":"web"}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(verdicts(&done)[0].1, "failed", "{done}");
    assert!(
        done["hosts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("redis:redis, which is STOPPED"),
        "{done}"
    );
    let op = c.op(r#"{"action":"start","target":"web","with_deps":true}"#);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(verdicts(&done)[0].1, "ok", "{done}");
    assert_eq!(a.state("redis"), "RUNNING");
    assert_eq!(a.state("web"), "RUNNING");
    // Only start and restart take it.
    let r = c.request(
        "POST",
        "/v1/ops",
        Some(OPERATOR),
        r#"{"action":"stop","target":"web","with_deps":true}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text());
}
