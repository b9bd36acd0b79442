//! Both `/metrics` endpoints parse with a reference parser
//! (prometheus-client's, from PyPI, installed by .ci/run): every family
//! well-formed, no sample outside a family, label values escaped. Run
//! against a real agent (a checked process, a crashing one, a hostile
//! name) and a real console watching it.

mod common;
use common::console::*;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// Parse `text` with prometheus_client; family name → sample count.
fn parse(text: &str) -> serde_json::Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (installed by .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the reference parser refused the exposition:\n{}\n--- text:\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn both_endpoints_parse_with_the_reference_parser() {
    let dir = tempfile::tempdir().unwrap();
    let (a, port) = tcp_agent(&format!(
        r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 0

[program.web.health]
exec = "test -e {flag}"
interval = "100ms"
failures = 1

[program.crashy]
command = "TESTPROG exit 1 200"
startsecs = 0
autorestart = true

[program.odd]
command = "TESTPROG sleep"
process_name = "odd@{{num}}-x.y"
startsecs = 0
"#,
        flag = dir.path().join("flag").display()
    ));
    wait_for(T, "a verdict and a restart", || {
        let ok = a.process("web")["health"] == "unhealthy"
            && a.process("crashy")["restarts"].as_u64().unwrap_or(0) >= 1;
        ok.then_some(())
    });
    let agent = parse(&a.request("GET", "/metrics", "").text());
    for family in [
        "fleet_agent_info",
        "fleet_agent_processes",
        "fleet_agent_process_restarts",
        "fleet_agent_log_bytes",
        "fleet_agent_process_health",
        "fleet_agent_events",
    ] {
        assert!(agent.get(family).is_some(), "{family} missing: {agent}");
    }
    let health = &agent["fleet_agent_process_health"]["samples"];
    assert!(
        health
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[1]["name"] == "web:web" && s[1]["health"] == "unhealthy" && s[2] == 1.0),
        "{health}"
    );

    let c = Console::start(&agent_entries(&[("w-01", port)]));
    wait_for(T, "the console sees the verdict", || {
        let m = c.request("GET", "/metrics", Some(VIEWER), "").text();
        m.contains("fleet_console_process_health{host=\"w-01\",process=\"web:web\",health=\"unhealthy\"} 1")
            .then_some(())
    });
    let console = parse(&c.request("GET", "/metrics", Some(VIEWER), "").text());
    for family in [
        "fleet_console_agents",
        "fleet_console_processes",
        "fleet_console_process_restarts",
        "fleet_console_process_health",
        "fleet_console_ops",
    ] {
        assert!(console.get(family).is_some(), "{family} missing: {console}");
    }
}
