//! Start order (`depends_on`) against real processes: autostart waits for
//! a dependency to be healthy, shutdown stops in reverse, a start whose dependency will not
//! come is refused with why, `with_deps` starts the chain, and a cycle is
//! a config error with its place.

mod common;
use common::ctl::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Index of the first event matching `f`.
fn first(events: &[serde_json::Value], f: impl Fn(&serde_json::Value) -> bool) -> usize {
    events
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("no such event in {events:#?}"))
}

#[test]
fn autostart_waits_for_health_and_shutdown_stops_in_reverse() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    // redis listens only after 700 ms; web waits for it to be healthy,
    // whatever its priority says.
    let mut a = Agent::start(&format!(
        r#"
[program.redis]
command = "TESTPROG http {port} {mode} 700"
priority = 900
startsecs = 0

[program.redis.health]
tcp = "127.0.0.1:{port}"
interval = "100ms"

[program.web]
command = "TESTPROG sleep"
priority = 1
startsecs = 0
depends_on = ["redis"]
"#,
        mode = dir.path().join("mode").display()
    ));
    let p = a.process("web");
    assert_eq!(p["state"], "STOPPED");
    assert!(
        p["description"]
            .as_str()
            .unwrap()
            .starts_with("waiting for redis:redis"),
        "{p}"
    );
    a.wait_state("web", "RUNNING", T);
    let events = events_until(&a, T, "web running", |es| {
        es.iter()
            .any(|e| e["name"] == "web:web" && e["to"] == "RUNNING")
    });
    let healthy = first(&events, |e| {
        e["name"] == "redis:redis"
            && e["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("health: healthy"))
    });
    let web_start = first(&events, |e| e["name"] == "web:web" && e["to"] == "STARTING");
    assert!(healthy < web_start, "web started before redis was healthy");

    // Shutdown: web before redis (reverse of the start order), though
    // web's priority (1) would have it stop last.
    a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0));
    let log = a.stderr();
    let stopping = |name: &str| {
        log.lines()
            .position(|l| l.contains(&format!("name={name}")) && l.contains("to=STOPPING"))
            .unwrap_or_else(|| panic!("{name} never STOPPING in:\n{log}"))
    };
    assert!(stopping("web:web") < stopping("redis:redis"), "{log}");
}

#[test]
fn a_start_whose_dependency_will_not_come_is_refused_and_with_deps_starts_the_chain() {
    let a = Agent::start(
        r#"
[program.db]
command = "TESTPROG sleep"
autostart = false
startsecs = 0

[program.cache]
command = "TESTPROG sleep"
autostart = false
startsecs = 0
depends_on = ["db"]

[program.web]
command = "TESTPROG sleep"
startsecs = 0
depends_on = ["cache"]
"#,
    );
    // Autostart could not start web: its dependency is not wanted running.
    let p = wait_for(T, "web refused at autostart", || {
        let p = a.process("web");
        p["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("not started"))
            .then_some(p)
    });
    assert_eq!(p["state"], "STOPPED");
    assert_eq!(
        p["description"],
        "not started: it waits for cache:cache, which is STOPPED and not asked to start \
         (start that first, or use --with-deps)"
    );

    // Asked alone: refused, nothing else started.
    let r = a.post("/v1/processes/web/start", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let res = &r.json()["results"][0];
    assert_eq!(res["outcome"], "failed");
    assert!(
        res["message"]
            .as_str()
            .unwrap()
            .contains("cache:cache, which is STOPPED"),
        "{res}"
    );
    assert_eq!(a.state("cache"), "STOPPED");
    assert_eq!(a.state("db"), "STOPPED");

    // with_deps: db, then cache, then web, in one answer.
    let r = a.post("/v1/processes/web/start", r#"{"with_deps": true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let results = r.json()["results"].as_array().unwrap().clone();
    let outcome = |n: &str| {
        results
            .iter()
            .find(|x| x["name"] == n)
            .map(|x| x["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome("db:db").as_deref(), Some("ok"), "{results:?}");
    assert_eq!(outcome("cache:cache").as_deref(), Some("ok"));
    assert_eq!(outcome("web:web").as_deref(), Some("ok"));
    let events = events_until(&a, T, "all running", |es| {
        es.iter().filter(|e| e["to"] == "RUNNING").count() >= 3
    });
    let start = |n: &str| first(&events, |e| e["name"] == n && e["to"] == "STARTING");
    assert!(start("db:db") < start("cache:cache"));
    assert!(start("cache:cache") < start("web:web"));

    // fleetctl: the same through --with-deps.
    for n in ["web", "cache", "db"] {
        assert_eq!(a.post(&format!("/v1/processes/{n}/stop"), "").status, 200);
    }
    let sock = a.socket.display().to_string();
    let o = run({
        let mut c = fleetctl_cmd();
        c.args(["--agent", &sock, "start", "web"]);
        c
    });
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("use --with-deps"), "{o:?}");
    let o = run({
        let mut c = fleetctl_cmd();
        c.args(["--agent", &sock, "start", "web", "--with-deps"]);
        c
    });
    assert_eq!(o.code, 0, "{o:?}");
    for n in ["web", "cache", "db"] {
        assert_eq!(a.state(n), "RUNNING", "{n}: {o:?}");
    }

    // with_deps on stop is a clear 400.
    let r = a.post("/v1/processes/web/stop", r#"{"with_deps": true}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("with_deps applies to start and restart"),
        "{}",
        r.text()
    );
}

#[test]
fn a_cycle_is_a_config_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "[program.a]\ncommand = \"x\"\ndepends_on = [\"b\"]\n\n[program.b]\ncommand = \"x\"\ndepends_on = [\"a\"]\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin("fleet-agent"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3:15: program.a.depends_on: start-order cycle: a -> b -> a",
            path.display()
        )),
        "{err}"
    );
}
