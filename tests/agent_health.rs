//! Health checks against real processes: http, tcp and exec checks, the
//! verdict in status, events and the XML-RPC face, `on_unhealthy =
//! "restart"` with its reason, hung checks that time out and leave nothing
//! behind, and a reload that changes a check without restarting anything.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn health(a: &Agent, name: &str) -> (String, String) {
    let p = a.process(name);
    (
        p["health"].as_str().unwrap_or("absent").to_owned(),
        p["health_message"].as_str().unwrap_or("").to_owned(),
    )
}

fn wait_health(a: &Agent, name: &str, want: &str) -> serde_json::Value {
    wait_for(T, &format!("{name} {want}"), || {
        let p = a.process(name);
        (p["health"] == want).then_some(p)
    })
}

#[test]
fn http_check_follows_the_target_and_shows_everywhere() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    let a = Agent::start(&format!(
        r#"
[program.web]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.web.health]
http = "http://127.0.0.1:{port}/healthz"
interval = "200ms"
timeout = "300ms"
failures = 2
expect_body = "ok"

[program.plain]
command = "TESTPROG sleep"
startsecs = 0
"#,
        mode = mode.display()
    ));
    // No check: no health field at all.
    a.wait_state("plain", "RUNNING", T);
    assert!(a.process("plain").get("health").is_none());

    let p = wait_health(&a, "web", "healthy");
    assert_eq!(p["state"], "RUNNING");
    assert_eq!(p["health_message"], "HTTP 200");
    assert!(
        p["description"].as_str().unwrap().ends_with(", healthy"),
        "{p}"
    );
    let pid = p["pid"].as_i64().unwrap();

    // 503: unhealthy after two failures in a row; the process is left alone.
    std::fs::write(&mode, "fail").unwrap();
    let p = wait_health(&a, "web", "unhealthy");
    assert_eq!(p["health_message"], "HTTP 503");
    assert_eq!(
        p["pid"].as_i64().unwrap(),
        pid,
        "on_unhealthy = none restarts nothing"
    );
    assert_eq!(p["state"], "RUNNING");
    // supervisord's face: the state stays RUNNING, health rides in the text.
    let info = a.xmlrpc(
        "supervisor.getProcessInfo",
        &["<string>web</string>".into()],
    );
    assert!(info.contains("<string>RUNNING</string>"), "{info}");
    assert!(info.contains(", unhealthy</string>"), "{info}");

    let m = a.request("GET", "/metrics", "").text();
    assert!(
        m.contains("fleet_agent_process_health{name=\"web:web\",group=\"web\",program=\"web\",health=\"unhealthy\"} 1"),
        "{m}"
    );
    assert!(m.contains("fleet_agent_process_health{name=\"web:web\",group=\"web\",program=\"web\",health=\"healthy\"} 0"));
    assert!(
        !m.contains("fleet_agent_process_health{name=\"plain:plain\""),
        "no series without a check"
    );

    // A target that accepts and never answers: each check times out.
    std::fs::write(&mode, "hang").unwrap();
    wait_for(T, "a timed-out check", || {
        (health(&a, "web").1 == "timed out after 300ms").then_some(())
    });
    assert_eq!(health(&a, "web").0, "unhealthy");

    std::fs::write(&mode, "ok").unwrap();
    wait_health(&a, "web", "healthy");

    // Every change was an event carrying the process.
    let events = events_until(&a, T, "health events", |es| {
        es.iter()
            .filter(|e| {
                e["name"] == "web:web"
                    && e["description"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("health: "))
            })
            .count()
            >= 3
    });
    let notes: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "web:web")
        .filter_map(|e| e["description"].as_str())
        .filter(|d| d.starts_with("health: "))
        .collect();
    assert_eq!(
        notes,
        [
            "health: healthy (HTTP 200)",
            "health: unhealthy (HTTP 503)",
            "health: healthy (HTTP 200)"
        ]
    );
    let last = events
        .iter()
        .rev()
        .find(|e| e["description"] == "health: healthy (HTTP 200)")
        .unwrap();
    assert_eq!(last["from"], "RUNNING");
    assert_eq!(last["to"], "RUNNING");
    assert_eq!(last["process"]["health"], "healthy");

    // Stopped: the verdict is unknown again.
    assert_eq!(a.post("/v1/processes/web/stop", "").status, 200);
    let p = a.wait_state("web", "STOPPED", T);
    assert!(p.get("health").is_none_or(|h| h == "unknown"), "{p}");
}

#[test]
fn unhealthy_restart_uses_stop_semantics_and_says_why() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    std::fs::write(&mode, "fail").unwrap();
    let a = Agent::start(&format!(
        r#"
[program.api]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.api.health]
http = "http://127.0.0.1:{port}/"
interval = "100ms"
timeout = "1s"
failures = 3
on_unhealthy = "restart"
"#,
        mode = mode.display()
    ));
    let first = a.wait_state("api", "RUNNING", T)["pid"].as_i64().unwrap();
    let p = wait_for(T, "a restart for health", || {
        let p = a.process("api");
        (p["restarts"].as_u64().unwrap() >= 1 && p["pid"].as_i64().is_some()).then_some(p)
    });
    assert_ne!(p["pid"].as_i64().unwrap(), first);
    let exit = &p["exits"][0];
    assert_eq!(exit["stopped_by_us"], true, "{exit}");
    assert_eq!(
        exit["signal"], "TERM",
        "stopped with its stopsignal: {exit}"
    );
    assert_eq!(
        exit["message"],
        "restarted by fleet: unhealthy after 3 failed checks (HTTP 503)"
    );
    // Healthy again: the restarted process is kept.
    std::fs::write(&mode, "ok").unwrap();
    let p = wait_health(&a, "api", "healthy");
    assert_eq!(p["state"], "RUNNING");
    assert_eq!(
        p["exits"].as_array().unwrap().len() as u64,
        p["restarts"].as_u64().unwrap()
    );
}

#[test]
fn checks_are_templated_per_instance_and_tcp_checks_connect() {
    let port = free_port();
    let closed = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    let a = Agent::start(&format!(
        r#"
[program.cache]
command = "TESTPROG sleep"
numprocs = 2
process_name = "cache_{{num}}"
startsecs = 0

[program.cache.health]
exec = "test -e {dir}/up_{{num}}"
interval = "100ms"
failures = 1

[program.redis]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.redis.health]
tcp = "127.0.0.1:{port}"
interval = "100ms"

[program.nothing]
command = "TESTPROG sleep"
startsecs = 0

[program.nothing.health]
tcp = "127.0.0.1:{closed}"
interval = "100ms"
failures = 1
"#,
        dir = dir.path().display(),
        mode = mode.display()
    ));
    std::fs::write(dir.path().join("up_1"), "").unwrap();
    wait_health(&a, "cache_1", "healthy");
    let p = wait_health(&a, "cache_0", "unhealthy");
    assert_eq!(p["health_message"], "exit 1");
    let p = wait_health(&a, "redis", "healthy");
    assert_eq!(p["health_message"], "connected");
    let p = wait_health(&a, "nothing", "unhealthy");
    assert!(
        p["health_message"].as_str().unwrap().contains("refused"),
        "{p}"
    );
}

#[test]
fn exec_checks_run_as_the_program_and_time_out_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag");
    let a = Agent::start(&format!(
        r#"
[program.worker]
command = "TESTPROG sleep"
startsecs = 0
environment = {{ FLAG = "{flag}" }}

[program.worker.health]
exec = "sh -c 'echo checking $FLAG_NAME; test -e \"$FLAG\" || {{ echo no flag file >&2; exit 3; }}; test \"$(cat \"$FLAG\")\" != hang || exec sleep 30'"
interval = "100ms"
timeout = "500ms"
failures = 1
"#,
        flag = flag.display()
    ));
    let p = wait_health(&a, "worker", "unhealthy");
    assert_eq!(p["health_message"], "exit 3: no flag file");
    std::fs::write(&flag, "ok").unwrap();
    let p = wait_health(&a, "worker", "healthy");
    assert_eq!(p["health_message"], "exit 0: checking");
    std::fs::write(&flag, "hang").unwrap();
    let p = wait_health(&a, "worker", "unhealthy");
    assert_eq!(p["health_message"], "timed out after 500ms");
    // The hung check was killed and reaped: no zombie, nothing but the
    // worker (and at most one check in flight) in the agent's family.
    wait_for(T, "no zombie under the agent", || {
        a.zombies().is_empty().then_some(())
    });
    let children = wait_for(T, "at most one check in flight", || {
        let kids: Vec<i32> = all_pids()
            .into_iter()
            .filter(|&p| ppid(p) == Some(a.pid() as i32))
            .collect();
        (kids.len() <= 2).then_some(kids)
    });
    assert!(children.len() <= 2, "{children:?}");
}

#[test]
fn a_reload_that_changes_only_the_check_restarts_nothing() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mode = dir.path().join("mode");
    let program = |expect: &str| {
        format!(
            r#"
[program.web]
command = "TESTPROG http {port} {mode}"
startsecs = 0

[program.web.health]
http = "http://127.0.0.1:{port}/"
interval = "200ms"
failures = 1
expect_body = "{expect}"
"#,
            mode = mode.display()
        )
        .replace("TESTPROG", testprog())
    };
    let a = Agent::start(&program("ok"));
    let pid = wait_health(&a, "web", "healthy")["pid"].as_i64().unwrap();
    a.write_config(&program("never-in-the-body"));
    let r = a.post("/v1/reload", "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["changed"], serde_json::json!(["web"]));
    let p = wait_health(&a, "web", "unhealthy");
    assert_eq!(p["pid"].as_i64().unwrap(), pid, "same process");
    assert_eq!(p["restarts"], 0);
    assert!(
        p["health_message"]
            .as_str()
            .unwrap()
            .contains("body without"),
        "{p}"
    );
}

#[test]
fn an_https_check_answers_without_a_certificate_check() {
    let dir = tempfile::tempdir().unwrap();
    let pki = common::pki::pki();
    pki.write(dir.path());
    let port = free_port();
    // The agent checks its own TLS listener's /healthz, whose certificate
    // no system root signed.
    let a = Agent::start_with(
        &format!(
            "listen = \"127.0.0.1:{port}\"\ntoken = \"tls-token-0123456789abcdef\"\ntls_cert = {:?}\ntls_key = {:?}\n",
            dir.path().join("leaf.pem"),
            dir.path().join("leaf.key")
        ),
        &format!(
            r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0

[program.web.health]
http = "https://127.0.0.1:{port}/healthz"
interval = "200ms"
"#
        ),
    );
    let p = wait_health(&a, "web", "healthy");
    assert_eq!(p["health_message"], "HTTP 200");
}

/// Live processes whose command line holds `needle`.
fn running_with(needle: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(needle)
            }) && !is_zombie(*p)
        })
        .collect()
}

#[test]
fn a_crash_loop_with_hung_checks_leaves_no_check_behind_and_output_is_cleaned() {
    // Each run lives 300 ms; its check hangs (sleep) and is cancelled by
    // the exit, killed with its group. The check's output carries an
    // escape sequence, which never reaches the message.
    let a = Agent::start(
        r#"
[program.crashy]
command = "TESTPROG exit 1 300"
startsecs = 0
autorestart = true

[program.crashy.health]
exec = "sh -c 'printf \"\\033[31mred\\033[0m alert\\n\"; exec sleep 31.25'"
interval = "50ms"
timeout = "5s"

[program.quick]
command = "TESTPROG sleep"
startsecs = 0

[program.quick.health]
exec = "sh -c 'printf \"\\033]0;title\\007bad\\n\"; exit 2'"
interval = "100ms"
failures = 1
"#,
    );
    let p = wait_for(T, "quick unhealthy", || {
        let p = a.process("quick");
        (p["health"] == "unhealthy").then_some(p)
    });
    let msg = p["health_message"].as_str().unwrap();
    assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
    assert!(
        msg.starts_with("exit 2: ") && msg.ends_with("bad"),
        "{msg:?}"
    );
    wait_for(T, "five restarts", || {
        (a.process("crashy")["restarts"].as_u64().unwrap() >= 5).then_some(())
    });
    assert_eq!(a.post("/v1/processes/crashy/stop", "").status, 200);
    wait_for(T, "no hung check left", || {
        running_with("sleep 31.25").is_empty().then_some(())
    });
    wait_for(T, "no zombie", || a.zombies().is_empty().then_some(()));
}
