//! One truth: the console's picture of a host equals the agent's own
//! `GET /v1/status`, field by field, soon after each change — a crash loop
//! that ends FATAL, a program that exits and is restarted by hand, a group
//! restart, stops (also of a process that is already down, which changes
//! only `wanted`), a reload that removes and adds programs, and a console
//! restart while the agent changed behind its back.

mod common;
use common::console::*;
use common::truth::{agree, find};
use common::*;
use std::time::Duration;

const PROGRAMS: &str = r#"
[program.crashy]
command = "TESTPROG exit 1"
startsecs = 1
startretries = 2

[program.flaky]
command = "TESTPROG exit 3 200"
startsecs = 0
autorestart = false
"#;

const T: Duration = Duration::from_secs(30);

fn op_ok(c: &Console, body: &str) {
    let op = c.op(body);
    let done = c.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(done["state"], "done", "{done}");
}

#[test]
fn the_console_picture_equals_the_agent_status_field_by_field() {
    let (a, port) = tcp_agent(&format!("{CELERY}{PROGRAMS}"));
    let mut c = Console::start(&agent_entries(&[("w-01", port)]));

    // A crash loop that ends FATAL, and a program that exited on its own.
    a.wait_state("crashy:crashy", "FATAL", T);
    a.wait_state("flaky:flaky", "EXITED", T);
    let procs = agree(
        &c,
        &a,
        "w-01",
        Duration::from_secs(10),
        "after the crash loop",
    );
    let crashy = find(&procs, "crashy:crashy");
    assert_eq!(crashy["restarts"], 2, "{crashy}");
    assert_eq!(crashy["exits"].as_array().unwrap().len(), 3, "{crashy}");
    assert!(
        crashy["description"]
            .as_str()
            .unwrap()
            .starts_with("gave up"),
        "{crashy}"
    );

    // Restarted by hand twice: restarts and exits follow.
    for _ in 0..2 {
        op_ok(
            &c,
            r#"{"action":"restart","target":"flaky","hosts":"w-01"}"#,
        );
        a.wait_state("flaky:flaky", "EXITED", T);
    }
    let procs = agree(
        &c,
        &a,
        "w-01",
        Duration::from_secs(10),
        "after restarting flaky",
    );
    let flaky = find(&procs, "flaky:flaky");
    assert_eq!(flaky["restarts"], 2, "{flaky}");
    assert_eq!(flaky["exit_status"]["code"], 3, "{flaky}");

    // A group restart: new pids, started_at and state_since.
    op_ok(
        &c,
        r#"{"action":"restart","target":"group:celery","hosts":"w-01"}"#,
    );
    let procs = agree(
        &c,
        &a,
        "w-01",
        Duration::from_secs(10),
        "after restarting celery",
    );
    assert_eq!(find(&procs, "celery:worker_00")["restarts"], 1);

    // Stops, one of a process that is already down: only `wanted` changes
    // and no agent event says so.
    op_ok(
        &c,
        r#"{"action":"stop","target":"celery:worker_00","hosts":"w-01"}"#,
    );
    op_ok(&c, r#"{"action":"stop","target":"crashy","hosts":"w-01"}"#);
    let procs = agree(&c, &a, "w-01", Duration::from_secs(10), "after the stops");
    assert_eq!(find(&procs, "crashy:crashy")["wanted"], "stopped");
    assert_eq!(find(&procs, "celery:worker_00")["state"], "STOPPED");

    // A reload (straight to the agent) removes flaky and adds extra.
    let keys = format!("listen = \"127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\n");
    let text = format!(
        "[agent]\nsocket = {:?}\nlog_dir = {:?}\n{keys}\n{CELERY}\n{}\n[program.extra]\ncommand = \"TESTPROG sleep\"\nstartsecs = 0\n",
        a.socket.display().to_string(),
        a.log_dir.display().to_string(),
        PROGRAMS
            .split("[program.flaky]")
            .next()
            .unwrap()
            .replace("TESTPROG", testprog()),
    )
    .replace("TESTPROG", testprog());
    std::fs::write(&a.config, text).unwrap();
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    a.wait_state("extra:extra", "RUNNING", T);
    let procs = agree(&c, &a, "w-01", Duration::from_secs(10), "after the reload");
    assert!(procs.iter().all(|p| p["name"] != "flaky:flaky"));

    // The console is away while the agent changes; it comes back to the
    // agent's truth.
    c.stop();
    let r = a.post("/v1/processes/celery:worker_01/restart", "");
    assert_eq!(r.status, 200, "{}", r.text());
    c.spawn();
    let procs = agree(
        &c,
        &a,
        "w-01",
        Duration::from_secs(10),
        "after the console reconnected",
    );
    assert_eq!(find(&procs, "celery:worker_01")["restarts"], 2);

    // /metrics is fed by the same picture.
    let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
    assert!(
        m.lines().any(
            |l| l.starts_with("fleet_console_processes{state=\"FATAL\"}") && l.ends_with(" 1")
        ),
        "{m}"
    );
}
