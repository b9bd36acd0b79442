//! `GET /metrics`: Prometheus text — agents up/down, processes by state,
//! restarts per process (the agents' counts), operations by outcome (since
//! the console started).

use crate::server::App;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use fleet_api::{Health, ProcessState};
use std::fmt::Write;
use std::sync::Arc;

pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let (up, down, by_state) = app.picture.counts(&app.inventory);
    let mut s = String::new();
    let _ = writeln!(s, "# HELP fleet_console_agents Agents by liveness.");
    let _ = writeln!(s, "# TYPE fleet_console_agents gauge");
    let _ = writeln!(s, "fleet_console_agents{{state=\"up\"}} {up}");
    let _ = writeln!(s, "fleet_console_agents{{state=\"down\"}} {down}");
    let _ = writeln!(
        s,
        "# HELP fleet_console_processes Processes across the fleet by state."
    );
    let _ = writeln!(s, "# TYPE fleet_console_processes gauge");
    for st in ProcessState::ALL {
        let n = by_state.get(&st).copied().unwrap_or(0);
        let _ = writeln!(s, "fleet_console_processes{{state=\"{st}\"}} {n}");
    }
    let _ = writeln!(
        s,
        "# HELP fleet_console_process_restarts_total Restarts of each process since its agent started (the agent's count)."
    );
    let _ = writeln!(s, "# TYPE fleet_console_process_restarts_total counter");
    for (host, name, n) in app.picture.restarts() {
        let _ = writeln!(
            s,
            "fleet_console_process_restarts_total{{host=\"{}\",process=\"{}\"}} {n}",
            label(&host),
            label(&name)
        );
    }
    let _ = writeln!(
        s,
        "# HELP fleet_console_process_health Health-check verdict of each checked process: 1 for its current verdict."
    );
    let _ = writeln!(s, "# TYPE fleet_console_process_health gauge");
    for (host, name, health) in app.picture.health() {
        for h in [Health::Healthy, Health::Unhealthy, Health::Unknown] {
            let _ = writeln!(
                s,
                "fleet_console_process_health{{host=\"{}\",process=\"{}\",health=\"{h}\"}} {}",
                label(&host),
                label(&name),
                u8::from(h == health)
            );
        }
    }
    let _ = writeln!(
        s,
        "# HELP fleet_console_ops_total Operations finished, by outcome."
    );
    let _ = writeln!(s, "# TYPE fleet_console_ops_total counter");
    let outcomes = app.ops.outcomes();
    for o in ["ok", "failed", "aborted", "interrupted", "dry_run"] {
        let n = outcomes.get(o).copied().unwrap_or(0);
        let _ = writeln!(s, "fleet_console_ops_total{{outcome=\"{o}\"}} {n}");
    }
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], s)
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
