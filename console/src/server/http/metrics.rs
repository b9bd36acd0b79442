//! `GET /metrics`: Prometheus text, all from the in-memory picture and the
//! ops registry (no agent is asked anything): agents up/down, processes by
//! state, per host (`host` label) liveness, last contact, staleness and
//! event-stream reconnects, per process (labels `host`, `name`, `group`,
//! `program`) the families the agent exposes too (`fleet_daemon::metrics`),
//! and operations by outcome and by action and outcome with their
//! durations (since the console started).
//!
//! `GET /metrics?by=host` replaces the per-process families with per-host
//! sums (processes by state, restarts, unhealthy processes): a series count
//! that follows the hosts, not the processes, for a Prometheus that cannot
//! take a big fleet's every process per scrape.

use super::ApiError;
use crate::server::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use fleet_api::{FleetProcess, Health, ProcessState, Verb};
use fleet_daemon::metrics::{listener_families, process_families, Kind, Labels, ProcessRow, Text};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const OUTCOMES: [&str; 5] = ["ok", "failed", "aborted", "interrupted", "dry_run"];
const VERBS: [Verb; 5] = [
    Verb::Start,
    Verb::Stop,
    Verb::Restart,
    Verb::Signal,
    Verb::Reexec,
];
/// The outcomes an op run by this console can finish with.
const FINISHED: [&str; 3] = ["ok", "failed", "aborted"];

/// What the per-process series are summed by.
#[derive(Clone, Copy, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum By {
    /// Every process its own series.
    #[default]
    Process,
    /// Per-host sums.
    Host,
}

#[derive(Deserialize)]
pub struct MetricsQuery {
    #[serde(default)]
    by: By,
}

pub async fn metrics(
    State(app): State<Arc<App>>,
    q: Result<Query<MetricsQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q?;
    Ok((
        [(CONTENT_TYPE, fleet_daemon::metrics::CONTENT_TYPE)],
        render(&app, q.by),
    ))
}

fn render(app: &App, by: By) -> String {
    let (up, down, by_state) = app.picture.counts(&app.inventory);
    let mut t = Text::new();
    t.family("fleet_console_info", Kind::Gauge, "Console version.");
    t.sample(
        "fleet_console_info",
        &Labels::new(&[("version", env!("CARGO_PKG_VERSION"))]),
        1u8,
    );
    t.family("fleet_console_agents", Kind::Gauge, "Agents by liveness.");
    t.sample("fleet_console_agents", &Labels::new(&[("state", "up")]), up);
    t.sample(
        "fleet_console_agents",
        &Labels::new(&[("state", "down")]),
        down,
    );
    t.family(
        "fleet_console_processes",
        Kind::Gauge,
        "Processes across the fleet by state.",
    );
    for st in ProcessState::ALL {
        let n = by_state.get(&st).copied().unwrap_or(0);
        let l = Labels::new(&[("state", st.as_str())]);
        t.sample("fleet_console_processes", &l, n);
    }

    // Every host the console knows, in name order (a stable exposition).
    let mut names: Vec<String> = app.inventory.all().iter().map(|h| h.name.clone()).collect();
    names.sort();
    hosts(app, &names, &mut t);

    let procs = app.picture.processes(&names, |_, _| true);
    match by {
        By::Process => {
            let rows: Vec<ProcessRow> = procs
                .iter()
                .map(|p| ProcessRow::new(Some(&p.host), &p.info))
                .collect();
            process_families(&mut t, "fleet_console", &rows, &ProcessState::ALL);
            listener_families(&mut t, "fleet_console", &rows);
        }
        By::Host => per_host(&mut t, &names, &procs),
    }

    ops(app, &mut t);
    t.finish()
}

/// Per host: up, last contact, staleness, reconnects.
fn hosts(app: &App, names: &[String], t: &mut Text) {
    let infos = app.picture.host_infos(&app.inventory, names);
    let reconnects = app.picture.reconnects();
    let labels: Vec<Labels> = infos
        .iter()
        .map(|h| Labels::new(&[("host", &h.name)]))
        .collect();
    let name = "fleet_console_host_info";
    t.family(
        name,
        Kind::Gauge,
        "Always 1: what manages the host (kind: fleet, or supervisord polled over XML-RPC).",
    );
    for (h, l) in infos.iter().zip(&labels) {
        t.sample(name, &l.with("kind", h.kind.as_str()), 1u8);
    }
    let name = "fleet_console_host_up";
    t.family(
        name,
        Kind::Gauge,
        "1 while the console holds a live event stream from the host's agent (and, for a registered host, a recent heartbeat).",
    );
    for (h, l) in infos.iter().zip(&labels) {
        t.sample(name, l, u8::from(h.up));
    }
    let name = "fleet_console_host_last_seen_timestamp_seconds";
    t.family(
        name,
        Kind::Gauge,
        "Unix time the console last heard from the host's agent (absent: never).",
    );
    for (h, l) in infos.iter().zip(&labels) {
        if let Some(ms) = h.last_seen {
            t.sample(name, l, ms as f64 / 1000.0);
        }
    }
    let name = "fleet_console_host_staleness_seconds";
    t.family(
        name,
        Kind::Gauge,
        "How old the console's picture of a down host is (0 while up).",
    );
    for (h, l) in infos.iter().zip(&labels) {
        t.sample(name, l, h.stale_ms.unwrap_or(0) as f64 / 1000.0);
    }
    let name = "fleet_console_host_stream_reconnects_total";
    t.family(
        name,
        Kind::Counter,
        "Times the host's event stream broke off or could not be opened, each followed by a reconnect, since the console started.",
    );
    for (h, l) in infos.iter().zip(&labels) {
        t.sample(name, l, reconnects.get(&h.name).copied().unwrap_or(0));
    }
}

/// Per host: processes by state, their restarts, the unhealthy ones.
fn per_host(t: &mut Text, names: &[String], procs: &[FleetProcess]) {
    #[derive(Default)]
    struct Sums {
        states: BTreeMap<&'static str, usize>,
        restarts: u64,
        unhealthy: usize,
    }
    let mut sums: BTreeMap<&str, Sums> = names
        .iter()
        .map(|n| (n.as_str(), Sums::default()))
        .collect();
    for p in procs {
        if let Some(s) = sums.get_mut(p.host.as_str()) {
            *s.states.entry(p.info.state.as_str()).or_default() += 1;
            s.restarts += u64::from(p.info.restarts);
            s.unhealthy += usize::from(p.info.health == Some(Health::Unhealthy));
        }
    }
    let labels: Vec<(Labels, &Sums)> = sums
        .iter()
        .map(|(h, s)| (Labels::new(&[("host", h)]), s))
        .collect();
    let name = "fleet_console_host_processes";
    t.family(
        name,
        Kind::Gauge,
        "Processes on the host by state (UNKNOWN while it is down).",
    );
    for (l, s) in &labels {
        for st in ProcessState::ALL {
            let n = s.states.get(st.as_str()).copied().unwrap_or(0);
            t.sample(name, &l.with("state", st.as_str()), n);
        }
    }
    let name = "fleet_console_host_process_restarts_total";
    t.family(
        name,
        Kind::Counter,
        "Restarts of the host's processes, summed (each its agent's count since it started).",
    );
    for (l, s) in &labels {
        t.sample(name, l, s.restarts);
    }
    let name = "fleet_console_host_unhealthy_processes";
    t.family(
        name,
        Kind::Gauge,
        "The host's processes whose health check fails.",
    );
    for (l, s) in &labels {
        t.sample(name, l, s.unhealthy);
    }
}

/// Ops by outcome, and by action and outcome with their durations.
fn ops(app: &App, t: &mut Text) {
    t.family(
        "fleet_console_ops_total",
        Kind::Counter,
        "Operations finished, by outcome (interrupted: found unfinished when the console started).",
    );
    let outcomes = app.ops.outcomes();
    for o in OUTCOMES {
        let n = outcomes.get(o).copied().unwrap_or(0);
        let l = Labels::new(&[("outcome", o)]);
        t.sample("fleet_console_ops_total", &l, n);
    }
    let name = "fleet_console_op_duration_seconds";
    t.family(
        name,
        Kind::Histogram,
        "Operations this console ran to the end, by action and outcome: how long each took from its creation.",
    );
    let keys: Vec<(&'static str, &'static str)> = VERBS
        .iter()
        .flat_map(|v| FINISHED.iter().map(move |o| (v.as_str(), *o)))
        .collect();
    app.ops.durations(&keys, |action, outcome, h| {
        let l = Labels::new(&[("action", action), ("outcome", outcome)]);
        h.write(t, name, &l);
    });
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
