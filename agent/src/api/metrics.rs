//! `GET /metrics` in the Prometheus text format.

use crate::supervisor::Handle;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use fleet_api::{Health, ProcessState};
use std::fmt::Write;

pub async fn metrics(State(h): State<Handle>) -> impl IntoResponse {
    let snap = h.snapshot();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP fleet_agent_info Agent version.\n# TYPE fleet_agent_info gauge"
    );
    let _ = writeln!(
        out,
        "fleet_agent_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "# HELP fleet_agent_processes Managed processes by state.\n# TYPE fleet_agent_processes gauge");
    for state in ProcessState::ALL {
        let n = snap.procs.iter().filter(|p| p.info.state == state).count();
        let _ = writeln!(out, "fleet_agent_processes{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP fleet_agent_process_restarts_total Spawns after the first, per process.\n# TYPE fleet_agent_process_restarts_total counter");
    for p in &snap.procs {
        let _ = writeln!(
            out,
            "fleet_agent_process_restarts_total{{name=\"{}\"}} {}",
            p.info.name, p.info.restarts
        );
    }
    let _ = writeln!(out, "# HELP fleet_agent_log_bytes_total Output bytes captured, per process and stream.\n# TYPE fleet_agent_log_bytes_total counter");
    for p in &snap.procs {
        let _ = writeln!(
            out,
            "fleet_agent_log_bytes_total{{name=\"{}\",stream=\"stdout\"}} {}",
            p.info.name,
            p.stdout.bytes_written()
        );
        if !std::sync::Arc::ptr_eq(&p.stdout, &p.stderr) {
            let _ = writeln!(
                out,
                "fleet_agent_log_bytes_total{{name=\"{}\",stream=\"stderr\"}} {}",
                p.info.name,
                p.stderr.bytes_written()
            );
        }
    }
    let _ = writeln!(out, "# HELP fleet_agent_process_health Health-check verdict of each checked process: 1 for its current verdict.\n# TYPE fleet_agent_process_health gauge");
    for p in &snap.procs {
        let Some(health) = p.info.health else {
            continue;
        };
        for h in [Health::Healthy, Health::Unhealthy, Health::Unknown] {
            let _ = writeln!(
                out,
                "fleet_agent_process_health{{name=\"{}\",health=\"{h}\"}} {}",
                p.info.name,
                u8::from(h == health)
            );
        }
    }
    let _ = writeln!(out, "# HELP fleet_agent_events_total State changes since start.\n# TYPE fleet_agent_events_total counter");
    let _ = writeln!(out, "fleet_agent_events_total {}", h.events.last_seq());
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
