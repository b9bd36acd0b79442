//! Both `/metrics` endpoints, scraped from a real agent and a real console
//! watching it after real changes (a process that crashes, one stopped, one
//! killed by a signal, a failing health check, a hostile name, an op, the
//! agent going away):
//!
//! - parse with a reference parser (prometheus-client's, from PyPI,
//!   installed by .ci/run): every family well-formed, no sample outside a
//!   family, label values escaped; every family the issue asks for is there
//!   with its labels and the values those changes must give;
//! - pass `promtool check metrics`, and the shipped alert rules pass
//!   `promtool check rules` (Debian's prometheus package, installed by
//!   .ci/run; a missing tool fails the test);
//! - every metric the shipped rules and dashboard name exists in a live
//!   scrape of the agent or the console.

mod common;
use common::console::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/monitoring/fleet-alerts.yml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/monitoring/fleet-dashboard.json"
);

/// Parse `text` with prometheus_client; family name → {type, samples:
/// [[name, labels, value]]}.
fn parse(text: &str) -> Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;
    let out = run_with_stdin("python3", &["-c", script], text);
    assert!(
        out.status.success(),
        "the reference parser refused the exposition:\n{}\n--- text:\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_with_stdin(cmd: &str, args: &[&str], input: &str) -> std::process::Output {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd} (installed by .ci/run): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The value of the sample named `sample` in `family` whose labels include
/// every pair of `labels`.
fn value(m: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m.get(family)?["samples"]
        .as_array()?
        .iter()
        .find(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .and_then(|s| s[2].as_f64())
}

/// Every label name used in `family`'s samples.
fn label_names(m: &Value, family: &str) -> BTreeSet<String> {
    m[family]["samples"]
        .as_array()
        .unwrap_or_else(|| panic!("{family} missing"))
        .iter()
        .flat_map(|s| s[1].as_object().unwrap().keys().cloned())
        .collect()
}

const PROGRAMS: &str = r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0

[program.web.health]
exec = "test -e {flag}"
interval = "100ms"
failures = 1

[program.crashy]
command = "TESTPROG exit 3 200"
startsecs = 0
autorestart = true

[program.idle]
command = "TESTPROG sleep"
autostart = false

[program.killed]
command = "TESTPROG sleep"
startsecs = 0
autorestart = false

[program.odd]
command = "TESTPROG sleep"
process_name = "odd@{num}-x.y"
startsecs = 0

[eventlistener.mon]
command = ["sh", "-c", "echo READY; exec sleep 1000"]
events = ["TICK_3600"]
startsecs = 0
"#;

/// An agent whose processes have been through the changes above, and a
/// console watching it as `w-01` once it has seen them.
struct Fleet {
    _dir: tempfile::TempDir,
    agent: Agent,
    console: Console,
}

impl Fleet {
    fn start() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let programs = PROGRAMS.replace("{flag}", &dir.path().join("flag").display().to_string());
        let (agent, port) = tcp_agent(&programs);
        agent.wait_state("killed", "RUNNING", T);
        let r = agent.post("/v1/processes/killed/signal", r#"{"signal":"KILL"}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        wait_for(T, "a verdict, a restart and a killed process", || {
            let ok = agent.process("web")["health"] == "unhealthy"
                && agent.process("crashy")["restarts"].as_u64().unwrap_or(0) >= 1
                && agent.process("killed")["state"] == "EXITED";
            ok.then_some(())
        });
        let console = Console::start(&agent_entries(&[("w-01", port)]));
        wait_for(T, "the console to see the agent's changes", || {
            let m = parse(&console.request("GET", "/metrics", Some(VIEWER), "").text());
            let seen = value(
                &m,
                "fleet_console_process_health",
                "fleet_console_process_health",
                &[
                    ("host", "w-01"),
                    ("name", "web:web"),
                    ("health", "unhealthy"),
                ],
            ) == Some(1.0)
                && value(
                    &m,
                    "fleet_console_process_last_exit_signal",
                    "fleet_console_process_last_exit_signal",
                    &[("name", "killed:killed")],
                ) == Some(9.0);
            seen.then_some(())
        });
        Fleet {
            _dir: dir,
            agent,
            console,
        }
    }

    fn agent_text(&self) -> String {
        let r = self.agent.request("GET", "/metrics", "");
        assert_eq!(r.status, 200);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
            "{:?}",
            r.header("content-type")
        );
        r.text()
    }

    fn console_text(&self) -> String {
        self.console_query("")
    }

    /// The console's `/metrics` with `query` (`?by=host`).
    fn console_query(&self, query: &str) -> String {
        let r = self
            .console
            .request("GET", &format!("/metrics{query}"), Some(VIEWER), "");
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }
}

/// Per-process labels: names from the config and closed sets only.
const PROCESS_LABELS: [&str; 9] = [
    "host", "name", "group", "program", "state", "health", "stream", "pool", "outcome",
];

#[test]
fn every_family_is_there_with_its_labels_and_the_values_real_changes_give() {
    let f = Fleet::start();
    let agent = parse(&f.agent_text());
    for family in [
        "fleet_agent_info",
        "fleet_agent_start_time_seconds",
        "fleet_agent_uptime_seconds",
        "fleet_agent_open_fds",
        "fleet_agent_max_fds",
        "fleet_agent_owner_lag_seconds",
        "fleet_agent_owner_lag_max_seconds",
        "fleet_agent_processes",
        "fleet_agent_events",
        "fleet_agent_process_state",
        "fleet_agent_process_start_time_seconds",
        "fleet_agent_process_restarts",
        "fleet_agent_process_unexpected_exits",
        "fleet_agent_process_last_exit_code",
        "fleet_agent_process_last_exit_signal",
        "fleet_agent_process_last_exit_time_seconds",
        "fleet_agent_process_cpu_seconds",
        "fleet_agent_process_resident_memory_bytes",
        "fleet_agent_log_bytes",
        "fleet_agent_process_health",
    ] {
        assert!(agent.get(family).is_some(), "{family} missing: {agent}");
        if family.starts_with("fleet_agent_process_") || family == "fleet_agent_log_bytes" {
            let names = label_names(&agent, family);
            for l in ["name", "group", "program"] {
                assert!(names.contains(l), "{family} lacks label {l}: {names:?}");
            }
            assert!(
                names.iter().all(|n| PROCESS_LABELS.contains(&n.as_str())),
                "{family}: unexpected labels {names:?}"
            );
        }
    }
    let a =
        |family: &str, sample: &str, labels: &[(&str, &str)]| value(&agent, family, sample, labels);
    let st = |name: &str, state: &str| {
        a(
            "fleet_agent_process_state",
            "fleet_agent_process_state",
            &[("name", name), ("state", state)],
        )
    };
    // One state per process, 1 for the current one; UNKNOWN is the console's.
    assert_eq!(st("idle:idle", "STOPPED"), Some(1.0));
    assert_eq!(st("idle:idle", "RUNNING"), Some(0.0));
    assert_eq!(st("web:web", "RUNNING"), Some(1.0));
    assert_eq!(st("killed:killed", "EXITED"), Some(1.0));
    assert_eq!(st("web:web", "UNKNOWN"), None);
    let ones = agent["fleet_agent_process_state"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[2] == 1.0)
        .count();
    assert_eq!(ones, 6, "one current state per process");
    // The listener: its pool's events by outcome, its protocol state.
    let mon = [("pool", "mon")];
    for outcome in ["handled", "rejected", "dropped"] {
        let labels = [mon[0], ("outcome", outcome)];
        assert_eq!(
            a(
                "fleet_agent_listener_events",
                "fleet_agent_listener_events_total",
                &labels
            ),
            Some(0.0),
            "{outcome}"
        );
    }
    assert_eq!(
        a(
            "fleet_agent_listener_buffered_events",
            "fleet_agent_listener_buffered_events",
            &mon
        ),
        Some(0.0)
    );
    let web = [("name", "web:web"), ("group", "web"), ("program", "web")];
    let started = a(
        "fleet_agent_process_start_time_seconds",
        "fleet_agent_process_start_time_seconds",
        &web,
    )
    .unwrap();
    let agent_started = a(
        "fleet_agent_start_time_seconds",
        "fleet_agent_start_time_seconds",
        &[],
    )
    .unwrap();
    assert!(
        started >= agent_started - 1.0 && started > 1.6e9,
        "{started} {agent_started}"
    );
    assert!(
        a(
            "fleet_agent_process_cpu_seconds",
            "fleet_agent_process_cpu_seconds_total",
            &web
        )
        .unwrap()
            >= 0.0
    );
    assert!(
        a(
            "fleet_agent_process_resident_memory_bytes",
            "fleet_agent_process_resident_memory_bytes",
            &web
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        a(
            "fleet_agent_process_start_time_seconds",
            "fleet_agent_process_start_time_seconds",
            &[("name", "idle:idle")]
        ),
        None,
        "never started"
    );
    // The crash loop: restarts, exit code 3, no signal.
    let crashy = [("name", "crashy:crashy")];
    assert!(
        a(
            "fleet_agent_process_restarts",
            "fleet_agent_process_restarts_total",
            &crashy
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        a(
            "fleet_agent_process_unexpected_exits",
            "fleet_agent_process_unexpected_exits_total",
            &crashy
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        a(
            "fleet_agent_process_last_exit_code",
            "fleet_agent_process_last_exit_code",
            &crashy
        ),
        Some(3.0)
    );
    assert_eq!(
        a(
            "fleet_agent_process_last_exit_signal",
            "fleet_agent_process_last_exit_signal",
            &crashy
        ),
        Some(0.0)
    );
    // SIGKILLed: code -1, signal 9.
    let killed = [("name", "killed:killed")];
    assert_eq!(
        a(
            "fleet_agent_process_last_exit_code",
            "fleet_agent_process_last_exit_code",
            &killed
        ),
        Some(-1.0)
    );
    assert_eq!(
        a(
            "fleet_agent_process_last_exit_signal",
            "fleet_agent_process_last_exit_signal",
            &killed
        ),
        Some(9.0)
    );
    assert!(
        a(
            "fleet_agent_process_last_exit_time_seconds",
            "fleet_agent_process_last_exit_time_seconds",
            &killed
        )
        .unwrap()
            >= agent_started
    );
    assert_eq!(
        a(
            "fleet_agent_process_health",
            "fleet_agent_process_health",
            &[
                ("name", "web:web"),
                ("group", "web"),
                ("program", "web"),
                ("health", "unhealthy")
            ]
        ),
        Some(1.0)
    );
    assert!(
        a(
            "fleet_agent_log_bytes",
            "fleet_agent_log_bytes_total",
            &[("name", "web:web"), ("stream", "stdout")]
        )
        .unwrap()
            > 0.0
    );
    // Every process (the odd name too) comes back, unescaped, in its state.
    for p in f.agent.status()["processes"].as_array().unwrap() {
        let (name, state) = (p["name"].as_str().unwrap(), p["state"].as_str().unwrap());
        assert_eq!(st(name, state), Some(1.0), "{name} {state}");
    }
    // The agent itself: descriptors below the limit, the exits' SIGCHLDs
    // handled and timed.
    let open = a("fleet_agent_open_fds", "fleet_agent_open_fds", &[]).unwrap();
    let max = a("fleet_agent_max_fds", "fleet_agent_max_fds", &[]).unwrap();
    assert!(open > 3.0 && open < max, "{open} of {max}");
    let lag = a(
        "fleet_agent_owner_lag_seconds",
        "fleet_agent_owner_lag_seconds_count",
        &[],
    )
    .unwrap();
    assert!(lag >= 2.0, "SIGCHLDs handled: {lag}");
    let inf = a(
        "fleet_agent_owner_lag_seconds",
        "fleet_agent_owner_lag_seconds_bucket",
        &[("le", "+Inf")],
    )
    .unwrap();
    assert_eq!(inf, lag);
    assert!(
        a(
            "fleet_agent_owner_lag_max_seconds",
            "fleet_agent_owner_lag_max_seconds",
            &[]
        )
        .unwrap()
            > 0.0
    );
    assert!(
        a(
            "fleet_agent_uptime_seconds",
            "fleet_agent_uptime_seconds",
            &[]
        )
        .unwrap()
            >= 0.0
    );

    // The console: the same per-process families with `host`.
    let console = parse(&f.console_text());
    for family in [
        "fleet_console_info",
        "fleet_console_agents",
        "fleet_console_processes",
        "fleet_console_host_info",
        "fleet_console_host_up",
        "fleet_console_host_last_seen_timestamp_seconds",
        "fleet_console_host_staleness_seconds",
        "fleet_console_host_stream_reconnects",
        "fleet_console_process_state",
        "fleet_console_process_start_time_seconds",
        "fleet_console_process_restarts",
        "fleet_console_process_unexpected_exits",
        "fleet_console_process_last_exit_code",
        "fleet_console_process_last_exit_signal",
        "fleet_console_process_last_exit_time_seconds",
        "fleet_console_process_cpu_seconds",
        "fleet_console_process_resident_memory_bytes",
        "fleet_console_process_health",
        "fleet_console_ops",
        "fleet_console_op_duration_seconds",
    ] {
        assert!(console.get(family).is_some(), "{family} missing: {console}");
        if family.starts_with("fleet_console_process_") {
            let names = label_names(&console, family);
            for l in ["host", "name", "group", "program"] {
                assert!(names.contains(l), "{family} lacks label {l}: {names:?}");
            }
            assert!(
                names.iter().all(|n| PROCESS_LABELS.contains(&n.as_str())),
                "{family}: {names:?}"
            );
        }
    }
    let c = |console: &Value, family: &str, sample: &str, labels: &[(&str, &str)]| {
        value(console, family, sample, labels)
    };
    let w1 = [("host", "w-01")];
    assert_eq!(
        c(
            &console,
            "fleet_console_host_info",
            "fleet_console_host_info",
            &[("host", "w-01"), ("kind", "fleet")]
        ),
        Some(1.0)
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_host_up",
            "fleet_console_host_up",
            &w1
        ),
        Some(1.0)
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_host_staleness_seconds",
            "fleet_console_host_staleness_seconds",
            &w1
        ),
        Some(0.0)
    );
    assert!(
        c(
            &console,
            "fleet_console_host_last_seen_timestamp_seconds",
            "fleet_console_host_last_seen_timestamp_seconds",
            &w1
        )
        .unwrap()
            > 1.6e9
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_process_state",
            "fleet_console_process_state",
            &[
                ("host", "w-01"),
                ("name", "idle:idle"),
                ("state", "STOPPED")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_process_last_exit_code",
            "fleet_console_process_last_exit_code",
            &[("host", "w-01"), ("name", "crashy:crashy")]
        ),
        Some(3.0)
    );
    assert!(
        c(
            &console,
            "fleet_console_process_restarts",
            "fleet_console_process_restarts_total",
            &[("host", "w-01"), ("name", "crashy:crashy")]
        )
        .unwrap()
            >= 1.0
    );

    // Per-host sums instead of per-process series.
    let by_host = parse(&f.console_query("?by=host"));
    assert!(
        by_host
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("fleet_console_process_")),
        "per-process families in ?by=host: {by_host}"
    );
    for (family, sample, labels, want) in [
        (
            "fleet_console_host_processes",
            "fleet_console_host_processes",
            &[("host", "w-01"), ("state", "STOPPED")][..],
            1.0,
        ),
        (
            "fleet_console_host_processes",
            "fleet_console_host_processes",
            &[("host", "w-01"), ("state", "EXITED")][..],
            1.0,
        ),
        (
            "fleet_console_host_processes",
            "fleet_console_host_processes",
            &[("host", "w-01"), ("state", "FATAL")][..],
            0.0,
        ),
        (
            "fleet_console_host_unhealthy_processes",
            "fleet_console_host_unhealthy_processes",
            &[("host", "w-01")][..],
            1.0,
        ),
        (
            "fleet_console_host_up",
            "fleet_console_host_up",
            &[("host", "w-01")][..],
            1.0,
        ),
    ] {
        assert_eq!(
            value(&by_host, family, sample, labels),
            Some(want),
            "{sample} {labels:?}"
        );
    }
    assert!(
        value(
            &by_host,
            "fleet_console_host_process_restarts",
            "fleet_console_host_process_restarts_total",
            &w1
        )
        .unwrap()
            >= 1.0
    );
    let bad = f
        .console
        .request("GET", "/metrics?by=pid", Some(VIEWER), "");
    assert_eq!(bad.status, 400, "{}", bad.text());

    // An op: counted by outcome, and by action and outcome with its time.
    let op = f
        .console
        .op(r#"{"action":"restart","target":"odd","hosts":"w-01"}"#);
    let done = f.console.wait_op(op["id"].as_str().unwrap(), T);
    assert_eq!(
        verdicts(&done),
        vec![("w-01".to_owned(), "ok".to_owned())],
        "{done}"
    );
    let console = parse(&f.console_text());
    let ok = [("action", "restart"), ("outcome", "ok")];
    assert_eq!(
        c(
            &console,
            "fleet_console_op_duration_seconds",
            "fleet_console_op_duration_seconds_count",
            &ok
        ),
        Some(1.0)
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_op_duration_seconds",
            "fleet_console_op_duration_seconds_count",
            &[("action", "stop"), ("outcome", "failed")]
        ),
        Some(0.0),
        "every action and outcome is there from the start"
    );
    assert_eq!(
        c(
            &console,
            "fleet_console_ops",
            "fleet_console_ops_total",
            &[("outcome", "ok")]
        ),
        Some(1.0)
    );

    // The agent goes away: down, stale, reconnecting, its processes UNKNOWN.
    let Fleet {
        mut agent,
        console: con,
        _dir,
    } = f;
    agent.signal(nix::sys::signal::Signal::SIGTERM);
    agent.wait_exit(T);
    let console = wait_for(T, "the console to see w-01 down and stale", || {
        let m = parse(&con.request("GET", "/metrics", Some(VIEWER), "").text());
        let down = value(&m, "fleet_console_host_up", "fleet_console_host_up", &w1) == Some(0.0)
            && value(
                &m,
                "fleet_console_host_staleness_seconds",
                "fleet_console_host_staleness_seconds",
                &w1,
            )
            .is_some_and(|s| s > 0.0)
            && value(
                &m,
                "fleet_console_host_stream_reconnects",
                "fleet_console_host_stream_reconnects_total",
                &w1,
            )
            .is_some_and(|n| n >= 1.0);
        down.then_some(m)
    });
    assert_eq!(
        value(
            &console,
            "fleet_console_process_state",
            "fleet_console_process_state",
            &[("host", "w-01"), ("name", "web:web"), ("state", "UNKNOWN")]
        ),
        Some(1.0)
    );
}

#[test]
fn promtool_accepts_both_endpoints_and_the_shipped_rules() {
    let rules = Command::new("promtool")
        .args(["check", "rules", RULES])
        .output()
        .expect("promtool (Debian's prometheus package, installed by .ci/run)");
    assert!(
        rules.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&rules.stdout),
        String::from_utf8_lossy(&rules.stderr)
    );
    // And they fire on the series that should fire them (promtool's unit
    // tests of the rules).
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/monitoring");
    let unit = Command::new("promtool")
        .args(["test", "rules", "fleet-alerts.test.yml"])
        .current_dir(tests)
        .output()
        .expect("promtool");
    assert!(
        unit.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&unit.stdout),
        String::from_utf8_lossy(&unit.stderr)
    );
    let f = Fleet::start();
    for (what, text) in [
        ("agent", f.agent_text()),
        ("console", f.console_text()),
        ("console ?by=host", f.console_query("?by=host")),
    ] {
        let out = run_with_stdin("promtool", &["check", "metrics"], &text);
        assert!(
            out.status.success(),
            "promtool check metrics ({what}):\n{}{}\n--- text:\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every `fleet_…` name in `text`.
fn fleet_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("fleet_") {
        let start = i + at;
        let word_start =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        if word_start {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

/// The sample names of an exposition.
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_that_exist() {
    let rules = std::fs::read_to_string(RULES).unwrap();
    let dashboard = std::fs::read_to_string(DASHBOARD).unwrap();
    let board: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(
        board["panels"].as_array().is_some_and(|p| !p.is_empty()),
        "no panels"
    );
    assert!(
        board["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "host"),
        "no host variable"
    );
    // Every query of the dashboard is PromQL Prometheus accepts: each one,
    // its variables given a value, as a recording rule for promtool.
    let mut exprs = vec![];
    collect_exprs(&board, &mut exprs);
    assert!(exprs.len() >= 10, "few queries: {exprs:?}");
    let mut check = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let e = e.replace("$host", ".*");
        check.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&e).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &check).unwrap();
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool (Debian's prometheus package, installed by .ci/run)");
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL:\n{}{}\n{check}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let f = Fleet::start();
    let mut live = sample_names(&f.agent_text());
    live.extend(sample_names(&f.console_text()));
    live.extend(sample_names(&f.console_query("?by=host")));
    for (file, text) in [
        ("fleet-alerts.yml", &rules),
        ("fleet-dashboard.json", &dashboard),
    ] {
        let used = fleet_names(text);
        assert!(used.len() >= 5, "{file} names few metrics: {used:?}");
        let missing: Vec<&String> = used.iter().filter(|n| !live.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics no endpoint has: {missing:?}"
        );
    }
}

/// Every panel query (`expr`) in a Grafana dashboard, collapsed rows'
/// panels included.
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
