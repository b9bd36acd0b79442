//! The per-process families, the same on the agent (`fleet_agent_…`, labels
//! `name`, `group`, `program`) and the console (`fleet_console_…`, plus
//! `host`): one definition, so a dashboard query moves from one to the
//! other by its prefix.
//!
//! State is one series per state value, 1 for the current one, 0 for the
//! others (the exposition's usual "enum" form: `…_process_state{state=
//! "FATAL"} == 1` selects the FATAL processes, whatever their count).
//! Labels never carry a pid or free text: only names from the config and
//! closed sets (state, health).

use super::{Kind, Labels, Text};
use fleet_api::{ExitInfo, ExitKind, Health, ProcessInfo, ProcessState, Signal};

/// One process and its identifying labels.
pub struct ProcessRow<'a> {
    pub labels: Labels,
    pub info: &'a ProcessInfo,
    /// The console's `host` label, for series per host and pool.
    pub host: Option<&'a str>,
}

impl<'a> ProcessRow<'a> {
    /// `name`, `group` and `program` labels, after `host` when given.
    pub fn new(host: Option<&'a str>, info: &'a ProcessInfo) -> ProcessRow<'a> {
        let mut pairs = Vec::with_capacity(4);
        if let Some(h) = host {
            pairs.push(("host", h));
        }
        pairs.extend([
            ("name", info.name.as_str()),
            ("group", info.group.as_str()),
            ("program", info.program.as_str()),
        ]);
        ProcessRow {
            labels: Labels::new(&pairs),
            info,
            host,
        }
    }
}

const HEALTH: [Health; 3] = [Health::Healthy, Health::Unhealthy, Health::Unknown];

/// The exit code to show: the code it exited with, -1 when a signal
/// killed it or it could not be started.
fn exit_code(e: &ExitInfo) -> i32 {
    match e.kind {
        ExitKind::Exited => e.code.unwrap_or(0),
        ExitKind::Signaled | ExitKind::SpawnFailed => -1,
    }
}

/// The number of the signal that killed it, 0 when it was not killed.
fn exit_signal(e: &ExitInfo) -> i32 {
    match (e.kind, e.signal.as_deref()) {
        (ExitKind::Signaled, Some(s)) => s
            .parse::<Signal>()
            .map(Signal::number)
            .or_else(|_| s.parse::<i32>())
            .unwrap_or(-1),
        _ => 0,
    }
}

/// Every per-process family of `rows`, named `{prefix}_process_…`;
/// `states` are the state values each process gets a series for.
pub fn process_families(t: &mut Text, prefix: &str, rows: &[ProcessRow], states: &[ProcessState]) {
    let name = format!("{prefix}_process_state");
    t.family(
        &name,
        Kind::Gauge,
        "Process state: one series per state value, 1 for the current state, 0 for the others.",
    );
    for r in rows {
        for s in states {
            let v = u8::from(r.info.state == *s);
            t.sample(&name, &r.labels.with("state", s.as_str()), v);
        }
    }

    let each = |t: &mut Text,
                suffix: &str,
                kind,
                help: &str,
                value: &dyn Fn(&ProcessInfo) -> Option<f64>| {
        let name = format!("{prefix}_process_{suffix}");
        t.family(&name, kind, help);
        for r in rows {
            if let Some(v) = value(r.info) {
                t.sample(&name, &r.labels, v);
            }
        }
    };
    each(
        t,
        "start_time_seconds",
        Kind::Gauge,
        "Unix time of the process's current (or last) spawn.",
        &|p| p.started_at.map(|ms| ms as f64 / 1000.0),
    );
    each(
        t,
        "restarts_total",
        Kind::Counter,
        "Spawns after the first, automatic and manual, since the agent started.",
        &|p| Some(f64::from(p.restarts)),
    );
    each(
        t,
        "unexpected_exits_total",
        Kind::Counter,
        "Exits fleet did not ask for (crashes, and exits the program chose), since the agent started.",
        &|p| Some(f64::from(p.exits_unasked)),
    );
    each(
        t,
        "last_exit_code",
        Kind::Gauge,
        "Exit code of the process's last exit; -1 when a signal killed it or it could not be spawned.",
        &|p| p.exit_status.as_ref().map(|e| f64::from(exit_code(e))),
    );
    each(
        t,
        "last_exit_signal",
        Kind::Gauge,
        "Number of the signal that ended the process's last run; 0 when it exited by itself.",
        &|p| p.exit_status.as_ref().map(|e| f64::from(exit_signal(e))),
    );
    each(
        t,
        "last_exit_time_seconds",
        Kind::Gauge,
        "Unix time of the process's last exit.",
        &|p| p.exit_status.as_ref().map(|e| e.at as f64 / 1000.0),
    );
    each(
        t,
        "cpu_seconds_total",
        Kind::Counter,
        "User and system CPU time of the running process (resets when it is restarted).",
        &|p| p.cpu_seconds,
    );
    each(
        t,
        "resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of the running process.",
        &|p| p.rss_bytes.map(|b| b as f64),
    );

    let name = format!("{prefix}_process_health");
    t.family(
        &name,
        Kind::Gauge,
        "Health-check verdict of each checked process: 1 for its current verdict.",
    );
    for r in rows {
        let Some(health) = r.info.health else {
            continue;
        };
        for h in HEALTH {
            t.sample(
                &name,
                &r.labels.with("health", h.as_str()),
                u8::from(h == health),
            );
        }
    }
}

/// Event listener protocol states, for `…_listener_state`.
const LISTENER_STATES: [&str; 4] = ["ACKNOWLEDGED", "READY", "BUSY", "UNKNOWN"];

/// Event listeners: per pool (`pool` label, after `host`) the events
/// handled, rejected (answered FAIL, or lost with a listener that died on
/// them: each went out again) and dropped (a full buffer), and what waits
/// in the buffer; per running listener process its protocol state.
pub fn listener_families(t: &mut Text, prefix: &str, rows: &[ProcessRow]) {
    let listeners: Vec<(&ProcessRow, &fleet_api::ListenerInfo)> = rows
        .iter()
        .filter_map(|r| r.info.listener.as_ref().map(|l| (r, l)))
        .collect();
    // Every process of a pool carries the pool's counts: one series each.
    let mut pools: Vec<(Labels, &fleet_api::ListenerInfo)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (r, l) in &listeners {
        if seen.insert((r.host, l.pool.as_str())) {
            let mut pairs = Vec::with_capacity(2);
            if let Some(h) = r.host {
                pairs.push(("host", h));
            }
            pairs.push(("pool", l.pool.as_str()));
            pools.push((Labels::new(&pairs), l));
        }
    }
    let name = format!("{prefix}_listener_events_total");
    t.family(
        &name,
        Kind::Counter,
        "Events of an event listener pool by outcome: handled (answered OK), rejected (answered FAIL or lost with its listener, then sent again), dropped (its buffer was full).",
    );
    for (labels, l) in &pools {
        for (outcome, n) in [
            ("handled", l.handled),
            ("rejected", l.rejected),
            ("dropped", l.dropped),
        ] {
            t.sample(&name, &labels.with("outcome", outcome), n);
        }
    }
    let name = format!("{prefix}_listener_buffered_events");
    t.family(
        &name,
        Kind::Gauge,
        "Events waiting in an event listener pool's buffer.",
    );
    for (labels, l) in &pools {
        t.sample(&name, labels, l.buffered);
    }
    let name = format!("{prefix}_listener_state");
    t.family(
        &name,
        Kind::Gauge,
        "Protocol state of each running event listener process: 1 for its current state.",
    );
    for (r, l) in &listeners {
        let Some(state) = &l.state else { continue };
        for s in LISTENER_STATES {
            t.sample(&name, &r.labels.with("state", s), u8::from(s == state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signalled_exit_has_code_minus_one_and_its_signal_number() {
        let mut p = ProcessInfo::new("g", "prog", "p\"1", ProcessState::Backoff);
        p.restarts = 2;
        p.exit_status = Some(ExitInfo {
            kind: ExitKind::Signaled,
            code: None,
            signal: Some("KILL".into()),
            core_dumped: false,
            stopped_by_us: false,
            expected: false,
            message: None,
            at: 1500,
        });
        let rows = [ProcessRow::new(Some("h"), &p)];
        let mut t = Text::new();
        process_families(&mut t, "x", &rows, &ProcessState::ALL);
        let text = t.finish();
        let l = "host=\"h\",name=\"g:p\\\"1\",group=\"g\",program=\"prog\"";
        for line in [
            format!("x_process_state{{{l},state=\"BACKOFF\"}} 1"),
            format!("x_process_state{{{l},state=\"RUNNING\"}} 0"),
            format!("x_process_restarts_total{{{l}}} 2"),
            format!("x_process_last_exit_code{{{l}}} -1"),
            format!("x_process_last_exit_signal{{{l}}} 9"),
            format!("x_process_last_exit_time_seconds{{{l}}} 1.5"),
        ] {
            assert!(text.lines().any(|x| x == line), "no {line} in\n{text}");
        }
        assert!(!text.contains("x_process_cpu_seconds_total{"), "{text}");
        assert!(!text.contains("x_process_health{"), "{text}");
    }
}
