//! Verbs against the console (`--console URL`): the fleet picture, bulk
//! operations followed by long-polling, hosts, operation history, events.

use super::agent::{copy_log, event_line, follow_log, log_query, process_table};
use super::args::{ActArgs, HostsCmd, TailArgs, Verb};
use super::client::{encode_segment, ClientError};
use super::output::{self, Cell, Table};
use super::{action_table, events, signal_name, CliError, Ctx, Status};
use fleet_api::{
    Batch, ErrorCode, FleetEvent, FleetSummary, HostInfo, HostResult, HostsResponse, Op, OpRequest,
    OpState, OpsResponse, StrategyKind, Verdict,
};
use std::collections::HashSet;
use std::io::IsTerminal;

/// Agent-only verbs are usage errors here.
pub fn check(verb: &Verb) -> Result<(), CliError> {
    match verb {
        Verb::Reload => Err(CliError::Usage(
            "reload is an agent verb: pass --agent SOCKET-or-URL (the console has no fleet-wide reload)"
                .into(),
        )),
        Verb::Reexec {
            binary: Some(_), ..
        } => Err(CliError::Usage(
            "reexec --binary is for one agent (--agent); across the fleet each agent re-executes its own binary".into(),
        )),
        Verb::Reexec {
            rolling: Some(r), ..
        } => batch(r).map(drop),
        Verb::Tail(t) if t.names.len() != 2 => Err(CliError::Usage(
            "in console mode tail needs HOST PROCESS".into(),
        )),
        Verb::Start(a) | Verb::Stop(a) | Verb::Restart(a) | Verb::Signal { act: a, .. } => {
            if let Some(r) = &a.rolling {
                batch(r).map(drop)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `N` or `N%` (`fleet_api::Batch`, as the console reads it).
fn batch(s: &str) -> Result<Batch, CliError> {
    s.parse::<Batch>().map_err(|_| {
        CliError::Usage(format!(
            "bad --rolling {s:?} (expected a number of hosts like 2, or a percentage like 25%)"
        ))
    })
}

pub async fn run(ctx: &Ctx, verb: Verb) -> Result<Status, CliError> {
    use fleet_api::Verb as V;
    match verb {
        Verb::Status { target, hosts } => status(ctx, target.as_deref(), hosts.hosts).await,
        Verb::Start(a) => op(ctx, V::Start, None, a).await,
        Verb::Stop(a) => op(ctx, V::Stop, None, a).await,
        Verb::Restart(a) => op(ctx, V::Restart, None, a).await,
        Verb::Signal { signal, act } => {
            let sig = signal_name(&signal)?;
            op(ctx, V::Signal, Some(sig), act).await
        }
        Verb::Tail(t) => tail(ctx, t).await,
        Verb::Hosts { action: None } => hosts(ctx).await,
        Verb::Hosts {
            action: Some(HostsCmd::Remove { name }),
        } => {
            let path = format!("/v1/hosts/{}", encode_segment(&name));
            ctx.client.request("DELETE", &path, None, &[]).await?;
            writeln!(ctx.out.borrow_mut(), "{name}: removed")?;
            Ok(Status::Success)
        }
        Verb::Events => events(ctx).await,
        Verb::Ops { id } => ops(ctx, id).await,
        Verb::Reexec {
            target,
            hosts,
            rolling,
            max_failures,
            dry_run,
            ..
        } => {
            let a = ActArgs {
                target,
                hosts,
                rolling,
                max_failures,
                concurrency: None,
                dry_run,
                with_deps: false,
            };
            op(ctx, V::Reexec, None, a).await
        }
        Verb::Reload => unreachable!("refused by check()"),
    }
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode_segment(v))))
        .collect();
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// The cap on `status -o json`'s answer: every process of the fleet, about
/// 360 bytes each (36 MiB at 100,000); room for 700,000.
const STATUS_JSON_MAX: usize = 256 * 1024 * 1024;

/// Up to this many processes the human table lists them all (as it always
/// did); beyond, counts per state and the troubled processes.
const STATUS_TABLE_ALL: usize = 1000;

async fn status(
    ctx: &Ctx,
    target: Option<&str>,
    hosts: Option<String>,
) -> Result<Status, CliError> {
    let q = query(&[("hosts", hosts.as_deref()), ("target", target)]);
    let hosts = if ctx.json() {
        // The console's answer as it came (compact): at 100,000 processes
        // re-reading it into a tree and pretty-printing took 2.4 s of the
        // 2.8; only the hosts are read, for the exit status.
        #[derive(serde::Deserialize)]
        struct Hosts {
            hosts: Vec<HostInfo>,
        }
        let path = format!("/v1/status{q}");
        let (st, bytes) = ctx
            .client
            .get_json_bytes::<Hosts>(&path, STATUS_JSON_MAX)
            .await?;
        ctx.print_bytes(&bytes)?;
        ctx.print_bytes(b"\n")?;
        st.hosts
    } else {
        let sep = if q.is_empty() { '?' } else { '&' };
        let path = format!("/v1/status/summary{q}{sep}all_below={STATUS_TABLE_ALL}");
        // Read straight into the summary: through a JSON tree first (what
        // `get_json` keeps for `-o json`), 1,000 rows took 20 ms more.
        let (st, _) = ctx
            .client
            .get_json_bytes::<FleetSummary>(&path, STATUS_JSON_MAX)
            .await?;
        if !st.complete {
            ctx.print(&summary_line(&st))?;
        }
        let rows = st
            .processes
            .iter()
            .map(|p| (Some(p.host.as_str()), &p.info));
        let mut t = process_table(rows);
        if t.is_empty() {
            t = Table::new(&["HOST", "NAME", "STATE", "PID", "UPTIME", "DESCRIPTION"]);
        }
        ctx.print(&t.render(ctx.style))?;
        st.hosts
    };
    let down: Vec<_> = hosts.iter().filter(|h| !h.up).collect();
    for h in &down {
        let age = h
            .stale_ms
            .map(|ms| format!(", picture {} old", output::duration(ms)))
            .unwrap_or_default();
        eprintln!(
            "fleetctl: host {} is unreachable: {}{age}",
            h.name,
            h.error.as_deref().unwrap_or("no live connection")
        );
    }
    Ok(if down.is_empty() {
        Status::Success
    } else {
        Status::Failed
    })
}

/// `5000 hosts (55 unreachable), 100000 processes: 94000 RUNNING, …; not
/// RUNNING or STOPPED as wanted:` above the table of those.
pub(super) fn summary_line(st: &FleetSummary) -> String {
    let down = st.hosts.iter().filter(|h| !h.up).count();
    let totals = st.totals();
    let all: usize = totals.iter().map(|c| c.count).sum();
    let states: Vec<String> = totals
        .iter()
        .map(|c| format!("{} {}", c.count, c.state))
        .collect();
    let down = match down {
        0 => String::new(),
        n => format!(" ({n} unreachable)"),
    };
    format!(
        "{} hosts{down}, {all} processes: {}; {} not RUNNING or STOPPED as wanted{}\n",
        st.hosts.len(),
        states.join(", "),
        st.processes.len(),
        if st.processes.is_empty() { "" } else { ":" }
    )
}

fn is_final(v: Verdict) -> bool {
    v != Verdict::Pending
}

fn verdict_cell(v: Verdict) -> Cell {
    let (text, color) = match v {
        Verdict::Pending => ("pending", None),
        Verdict::Ok => ("ok", Some("32")),
        Verdict::Failed => ("FAILED", Some("31")),
        Verdict::Unreachable => ("UNREACHABLE", Some("31")),
        Verdict::Skipped => ("skipped", Some("33")),
    };
    Cell {
        text: text.into(),
        color,
    }
}

/// A host's verdict line, then one indented line per process.
fn host_lines(ctx: &Ctx, op: &Op, h: &HostResult) -> String {
    let mut head = Table::headless(3);
    let host = match h.batch {
        Some(b) => format!("[batch {b}] {}", h.host),
        None => h.host.clone(),
    };
    head.row(vec![
        host.into(),
        verdict_cell(h.verdict),
        h.message.clone().into(),
    ]);
    let mut text = head.render(ctx.style);
    if op.request.dry_run {
        for p in &h.processes {
            text.push_str(&format!(
                "    {}  would {}  ({})\n",
                p.name, op.request.action, p.state
            ));
        }
    } else {
        let t = action_table(
            op.request.action,
            op.request.signal.as_deref(),
            &h.processes,
            "    ",
        );
        text.push_str(&t.render(ctx.style));
    }
    text
}

fn summary(op: &Op) -> (String, Vec<String>) {
    let count = |v: Verdict| op.hosts.iter().filter(|h| h.verdict == v).count();
    let bad: Vec<String> = op
        .hosts
        .iter()
        .filter(|h| matches!(h.verdict, Verdict::Failed | Verdict::Unreachable))
        .map(|h| h.host.clone())
        .collect();
    let state = match op.state {
        OpState::Done => "done",
        OpState::Aborted => "ABORTED",
        OpState::Running => "running",
        OpState::Interrupted => "INTERRUPTED (the console stopped during it)",
    };
    // An interrupted op's hosts in flight stay pending until resolved.
    let unresolved = match op.state {
        OpState::Interrupted => match count(Verdict::Pending) {
            0 => String::new(),
            n => format!(", {n} in flight (outcome not yet known)"),
        },
        _ => String::new(),
    };
    let mut line = format!(
        "{} {}{}: {state}: {} ok, {} failed, {} unreachable, {} skipped{unresolved} (op {})",
        op.request.action,
        op.request.target,
        if op.request.dry_run { " (dry run)" } else { "" },
        count(Verdict::Ok),
        count(Verdict::Failed),
        count(Verdict::Unreachable),
        count(Verdict::Skipped),
        op.id
    );
    line.push('\n');
    (line, bad)
}

async fn op(
    ctx: &Ctx,
    action: fleet_api::Verb,
    signal: Option<String>,
    a: ActArgs,
) -> Result<Status, CliError> {
    let req = OpRequest {
        action,
        target: a.target,
        hosts: a.hosts.hosts,
        signal,
        strategy: if a.rolling.is_some() {
            StrategyKind::Rolling
        } else {
            StrategyKind::Parallel
        },
        concurrency: a.concurrency.map(|c| c as usize),
        batch: a.rolling,
        max_failures: a.max_failures,
        timeout_ms: None,
        dry_run: a.dry_run,
        only: vec![],
        with_deps: a.with_deps,
    };
    let first = match ctx.client.post_json::<_, Op>("/v1/ops", &req).await {
        // An empty selection is a typo's blast radius: exit 2, no op made.
        Err(ClientError::Api {
            code: Some(ErrorCode::NotFound | ErrorCode::BadSelector),
            message,
            ..
        }) => return Err(CliError::Usage(message)),
        other => other?,
    };
    let mut op = first.data;
    let mut raw = first.raw;
    let progress = !ctx.json() && std::io::stderr().is_terminal();
    let mut shown: HashSet<String> = HashSet::new();
    loop {
        if !ctx.json() {
            if progress {
                eprint!("\r\x1b[K");
            }
            for h in op.hosts.iter().filter(|h| is_final(h.verdict)) {
                if shown.insert(h.host.clone()) {
                    ctx.print(&host_lines(ctx, &op, h))?;
                }
            }
        }
        if op.state != OpState::Running {
            break;
        }
        let done = op.hosts.iter().filter(|h| is_final(h.verdict)).count();
        if progress {
            eprint!(
                "{} {}: {done}/{} hosts done…",
                op.request.action,
                op.request.target,
                op.hosts.len()
            );
        }
        let path = format!("/v1/ops/{}?after={done}", encode_segment(&op.id));
        let next = ctx.client.get_json::<Op>(&path).await?;
        op = next.data;
        raw = next.raw;
    }
    if ctx.json() {
        ctx.print_json(&raw)?;
    } else {
        ctx.print(&summary(&op).0)?;
    }
    let (_, bad) = summary(&op);
    if op.all_ok() {
        return Ok(Status::Success);
    }
    if !bad.is_empty() {
        eprintln!(
            "fleetctl: {} failed on: {}",
            op.request.action,
            bad.join(", ")
        );
    } else if op.state == OpState::Aborted {
        eprintln!("fleetctl: operation {} was aborted", op.id);
    } else if op.state == OpState::Interrupted {
        eprintln!(
            "fleetctl: operation {} was interrupted: the console stopped during it",
            op.id
        );
    }
    Ok(Status::Failed)
}

async fn tail(ctx: &Ctx, t: TailArgs) -> Result<Status, CliError> {
    let (host, name) = (&t.names[0], &t.names[1]);
    let path = format!(
        "/v1/hosts/{}/processes/{}/log?{}",
        encode_segment(host),
        encode_segment(name),
        log_query(&t)
    );
    match t.follow {
        true => follow_log(ctx, &path).await,
        false => copy_log(ctx, &path).await,
    }
}

async fn hosts(ctx: &Ctx) -> Result<Status, CliError> {
    let r = ctx.client.get_json::<HostsResponse>("/v1/hosts").await?;
    if ctx.json() {
        ctx.print_json(&r.raw)?;
        return Ok(Status::Success);
    }
    let mut t = Table::new(&[
        "HOST",
        "STATE",
        "VERSION",
        "PROCS",
        "LAST SEEN",
        "GROUPS",
        "TAGS",
        "ERROR",
    ]);
    let now = output::now_ms();
    for h in &r.data.hosts {
        let state = if h.up {
            Cell {
                text: "up".into(),
                color: Some("32"),
            }
        } else {
            Cell {
                text: "DOWN".into(),
                color: Some("31"),
            }
        };
        let seen = h
            .last_seen
            .map(|at| format!("{} ago", output::duration(now.saturating_sub(at))))
            .unwrap_or_else(|| "never".into());
        let tags: Vec<String> = h.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        t.row(vec![
            h.name.clone().into(),
            state,
            h.version.clone().unwrap_or_else(|| "-".into()).into(),
            h.processes.to_string().into(),
            seen.into(),
            h.groups.join(",").into(),
            tags.join(",").into(),
            h.error.clone().unwrap_or_default().into(),
        ]);
    }
    ctx.print(&t.render(ctx.style))?;
    Ok(Status::Success)
}

async fn events(ctx: &Ctx) -> Result<Status, CliError> {
    events::follow(&ctx.client, "/v1/events", |ev| {
        // The console's keep-alive, for pages: nothing happened.
        if ev.event == "alive" {
            return Ok(());
        }
        let Ok(raw) = serde_json::from_str::<serde_json::Value>(&ev.data) else {
            if !ev.data.is_empty() {
                eprintln!("fleetctl: {}: {}", ev.event, ev.data);
            }
            return Ok(());
        };
        if ctx.json() {
            return Ok(ctx.print_json_line(&raw)?);
        }
        let line = match serde_json::from_value::<FleetEvent>(raw) {
            Ok(FleetEvent::Process { host, event }) => event_line(Some(&host), &event),
            Ok(FleetEvent::Host { host }) => format!(
                "{}  {}  {}{}\n",
                output::clock(output::now_ms()),
                host.name,
                if host.up { "up" } else { "DOWN" },
                host.error.map(|e| format!("  {e}")).unwrap_or_default()
            ),
            Ok(FleetEvent::Op { op }) => format!(
                "{}  op {}  {} {}  {}\n",
                output::clock(output::now_ms()),
                op.id,
                op.request.action,
                op.request.target,
                op_state(&op)
            ),
            Err(_) => return Ok(()),
        };
        Ok(ctx.print(&line)?)
    })
    .await
}

fn op_state(op: &Op) -> &'static str {
    match op.state {
        OpState::Running => "running",
        OpState::Done if op.all_ok() => "done",
        OpState::Done => "done (failures)",
        OpState::Aborted => "ABORTED",
        OpState::Interrupted => "INTERRUPTED",
    }
}

fn time_of(ms: u64) -> String {
    let ago = output::now_ms().saturating_sub(ms);
    format!("{} ago", output::duration(ago))
}

async fn ops(ctx: &Ctx, id: Option<String>) -> Result<Status, CliError> {
    if let Some(id) = id {
        let r = ctx
            .client
            .get_json::<Op>(&format!("/v1/ops/{}", encode_segment(&id)))
            .await?;
        if ctx.json() {
            ctx.print_json(&r.raw)?;
        } else {
            let op = &r.data;
            let mut text = format!(
                "op {} by {}{}, {} ({})\n",
                op.id,
                op.who,
                op.source
                    .as_deref()
                    .map(|s| format!(" from {s}"))
                    .unwrap_or_default(),
                time_of(op.created_at),
                op.request.hosts.as_deref().unwrap_or("all hosts")
            );
            for h in &op.hosts {
                text.push_str(&host_lines(ctx, op, h));
            }
            text.push_str(&summary(op).0);
            ctx.print(&text)?;
        }
        return Ok(Status::Success);
    }
    let r = ctx.client.get_json::<OpsResponse>("/v1/ops").await?;
    if ctx.json() {
        ctx.print_json(&r.raw)?;
        return Ok(Status::Success);
    }
    let mut t = Table::new(&[
        "ID", "CREATED", "WHO", "ACTION", "TARGET", "HOSTS", "STATE", "RESULT",
    ]);
    for op in &r.data.ops {
        let count = |v: Verdict| op.hosts.iter().filter(|h| h.verdict == v).count();
        let result = format!(
            "{} ok, {} failed, {} unreachable",
            count(Verdict::Ok),
            count(Verdict::Failed),
            count(Verdict::Unreachable)
        );
        let action = match &op.request.signal {
            Some(s) => format!("signal {s}"),
            None => op.request.action.to_string(),
        };
        let state = op_state(op);
        t.row(vec![
            op.id.clone().into(),
            time_of(op.created_at).into(),
            op.who.clone().into(),
            action.into(),
            op.request.target.clone().into(),
            op.request
                .hosts
                .clone()
                .unwrap_or_else(|| "all".into())
                .into(),
            state.into(),
            result.into(),
        ]);
    }
    ctx.print(&t.render(ctx.style))?;
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_batches_are_counts_or_percentages() {
        for ok in ["1", "10", "25%", "100%"] {
            assert!(batch(ok).is_ok(), "{ok}");
        }
        for bad in ["0", "0%", "101%", "x", "", "-1", "+1", "5%%"] {
            assert!(batch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_skip_absent_values_and_encode_the_rest() {
        assert_eq!(query(&[("hosts", None), ("target", None)]), "");
        assert_eq!(
            query(&[
                ("hosts", Some("web-*,role=worker")),
                ("target", Some("group:web"))
            ]),
            "?hosts=web-%2A%2Crole%3Dworker&target=group%3Aweb"
        );
    }

    #[test]
    fn an_interrupted_op_says_so_and_counts_hosts_still_in_flight() {
        let host = |name: &str, verdict| HostResult {
            host: name.into(),
            verdict,
            batch: None,
            message: String::new(),
            processes: vec![],
        };
        let mut op = Op {
            id: "op-1".into(),
            who: "ops".into(),
            request: serde_json::from_str(r#"{"action":"restart","target":"web"}"#).unwrap(),
            state: OpState::Interrupted,
            created_at: 0,
            finished_at: Some(1),
            hosts: vec![
                host("a", Verdict::Ok),
                host("b", Verdict::Pending),
                host("c", Verdict::Skipped),
            ],
            source: Some("127.0.0.1:9".into()),
        };
        let (line, bad) = summary(&op);
        assert_eq!(
            line,
            "restart web: INTERRUPTED (the console stopped during it): 1 ok, 0 failed, 0 unreachable, 1 skipped, 1 in flight (outcome not yet known) (op op-1)\n"
        );
        assert!(bad.is_empty());
        assert!(!op.all_ok(), "an interrupted op is never all ok");
        assert_eq!(op_state(&op), "INTERRUPTED");
        op.hosts[1].verdict = Verdict::Ok;
        assert!(!summary(&op).0.contains("in flight"));
    }
}
