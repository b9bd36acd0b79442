//! The console's `/metrics` at the scale (5,000 hosts × 20
//! processes), both modes: a measurement, run on demand —
//! `cargo test -p fleet-console --release --lib metrics_of_5000 -- --ignored --nocapture`.

use super::*;
use crate::server::config;
use fleet_api::{AgentStatus, ExitInfo, ExitKind, ProcessInfo};
use std::time::Instant;

const HOSTS: usize = 5000;
const PER_HOST: usize = 20;

fn fleet() -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let mut toml = format!(
        "[console]\ndata_dir = {:?}\ninsecure_no_auth = true\n",
        dir.path().join("data").display().to_string()
    );
    for h in 0..HOSTS {
        toml += &format!(
            "[[agent]]\nname = \"w-{h:04}\"\nurl = \"http://127.0.0.1:1\"\ntoken = \"agent-token-0123456789abcdef\"\n"
        );
    }
    let cfg = config::parse(&toml, &dir.path().join("console.toml")).unwrap();
    let app = App::new(cfg).unwrap();
    let now = fleet_daemon::time::now_ms();
    for h in 0..HOSTS {
        let processes = (0..PER_HOST)
            .map(|i| ProcessInfo {
                pid: Some(1000 + i as u32),
                started_at: Some(now - 60_000),
                restarts: i as u32,
                cpu_seconds: Some(1.5),
                rss_bytes: Some(50 << 20),
                exit_status: Some(ExitInfo {
                    kind: ExitKind::Exited,
                    code: Some(1),
                    signal: None,
                    core_dumped: false,
                    stopped_by_us: false,
                    expected: false,
                    message: None,
                    at: now - 60_000,
                }),
                health: Some(fleet_api::Health::Healthy),
                ..ProcessInfo::new(
                    "celery",
                    "worker",
                    &format!("worker_{i:02}"),
                    ProcessState::Running,
                )
            })
            .collect();
        let st = AgentStatus {
            host: format!("w-{h:04}"),
            version: "0.1.0".into(),
            pid: 1,
            started_at: now,
            listen: None,
            processes,
        };
        app.picture.set_status(&format!("w-{h:04}"), st);
    }
    (dir, app)
}

#[test]
#[ignore = "a measurement (seconds in a debug build); run with --release --ignored"]
fn metrics_of_5000_hosts_of_20_processes() {
    let (_dir, app) = fleet();
    for (by, what) in [(By::Process, "per process"), (By::Host, "?by=host")] {
        let t0 = Instant::now();
        let text = render(&app, by);
        let took = t0.elapsed();
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        eprintln!(
            "{what}: {took:?}, {series} series, {} MB",
            text.len() / 1_000_000
        );
        assert!(text.contains("fleet_console_host_up{host=\"w-4999\"} 1"));
    }
}
