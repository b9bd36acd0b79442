//! `GET /metrics` in the Prometheus text format, computed when scraped (an
//! idle agent does no work for it): the agent itself (build, start time,
//! descriptors, the owner loop's lag), processes by state, and per process
//! (labels `name`, `group`, `program`) the families `fleet_daemon::metrics`
//! defines for agent and console alike, plus captured log bytes.

use crate::supervisor::{describe, Handle};
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use fleet_api::ProcessState;
use fleet_daemon::metrics::{listener_families, process_families, Kind, Labels, ProcessRow, Text};

/// The states an agent reports (UNKNOWN is the console's alone).
const STATES: [ProcessState; 7] = [
    ProcessState::Stopped,
    ProcessState::Starting,
    ProcessState::Running,
    ProcessState::Backoff,
    ProcessState::Stopping,
    ProcessState::Exited,
    ProcessState::Fatal,
];

pub async fn metrics(State(h): State<Handle>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, fleet_daemon::metrics::CONTENT_TYPE)],
        render(&h),
    )
}

fn render(h: &Handle) -> String {
    let snap = h.snapshot();
    let now = fleet_daemon::time::now_ms();
    let mut t = Text::new();
    t.family("fleet_agent_info", Kind::Gauge, "Agent version.");
    let version = crate::reexec::state::version();
    t.sample(
        "fleet_agent_info",
        &Labels::new(&[("version", &version)]),
        1u8,
    );
    t.single(
        "fleet_agent_start_time_seconds",
        Kind::Gauge,
        "Unix time the agent started.",
        h.started_at as f64 / 1000.0,
    );
    t.single(
        "fleet_agent_uptime_seconds",
        Kind::Gauge,
        "Seconds since the agent started.",
        now.saturating_sub(h.started_at) as f64 / 1000.0,
    );
    t.single(
        "fleet_agent_open_fds",
        Kind::Gauge,
        "File descriptors the agent has open.",
        crate::sys::open_fds(),
    );
    t.single(
        "fleet_agent_max_fds",
        Kind::Gauge,
        "The agent's descriptor limit (soft RLIMIT_NOFILE).",
        crate::sys::fd_usage().1,
    );
    crate::lag::OWNER_LAG.write_family(
        &mut t,
        "fleet_agent_owner_lag_seconds",
        "Time from a SIGCHLD's arrival to its exits handled by the owner loop (reaped, restarts spawned).",
    );
    t.single(
        "fleet_agent_owner_lag_max_seconds",
        Kind::Gauge,
        "The longest owner-loop lag since the agent started.",
        crate::lag::OWNER_LAG.max_seconds(),
    );
    t.single(
        "fleet_agent_events_total",
        Kind::Counter,
        "State changes since start.",
        h.events.last_seq(),
    );

    t.family(
        "fleet_agent_processes",
        Kind::Gauge,
        "Managed processes by state.",
    );
    for state in ProcessState::ALL {
        let n = snap.procs.iter().filter(|p| p.info.state == state).count();
        t.sample(
            "fleet_agent_processes",
            &Labels::new(&[("state", state.as_str())]),
            n,
        );
    }

    // CPU and memory read from /proc now (reused for a second).
    let infos: Vec<_> = snap.procs.iter().map(|p| describe(p, now)).collect();
    let rows: Vec<ProcessRow> = infos.iter().map(|i| ProcessRow::new(None, i)).collect();
    process_families(&mut t, "fleet_agent", &rows, &STATES);
    listener_families(&mut t, "fleet_agent", &rows);

    t.family(
        "fleet_agent_log_bytes_total",
        Kind::Counter,
        "Output bytes captured, per process and stream.",
    );
    for (p, r) in snap.procs.iter().zip(&rows) {
        let name = "fleet_agent_log_bytes_total";
        t.sample(
            name,
            &r.labels.with("stream", "stdout"),
            p.stdout.bytes_written(),
        );
        if !std::sync::Arc::ptr_eq(&p.stdout, &p.stderr) {
            t.sample(
                name,
                &r.labels.with("stream", "stderr"),
                p.stderr.bytes_written(),
            );
        }
    }
    t.finish()
}
