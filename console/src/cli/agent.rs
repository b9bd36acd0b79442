//! Verbs against one agent (`--agent SOCKET-or-URL`, or the default socket).

use super::args::{ActArgs, TailArgs, Verb};
use super::client::encode_segment;
use super::output::{self, Table};
use super::{action_table, events, selector, signal_name, CliError, Ctx, Status};
use fleet_api::{
    ActionRequest, ActionResponse, AgentStatus, Event, Health, Outcome, ProcessInfo, ReloadResponse,
};

/// Console-only options are usage errors here.
pub fn check(verb: &Verb) -> Result<(), CliError> {
    let console_only = |what: &str| {
        Err(CliError::Usage(format!(
            "{what} needs the console: pass --console URL or set FLEET_CONSOLE"
        )))
    };
    let act = match verb {
        Verb::Hosts { .. } => return console_only("hosts"),
        Verb::Ops { .. } => return console_only("ops"),
        Verb::Status { hosts, .. } if hosts.hosts.is_some() => return console_only("--hosts"),
        Verb::Reexec { hosts, .. } if hosts.hosts.is_some() => return console_only("--hosts"),
        Verb::Reexec {
            rolling: Some(_), ..
        } => return console_only("--rolling"),
        Verb::Reexec { target, .. } if target != "all" => {
            return console_only("reexec with a TARGET")
        }
        Verb::Tail(t) if t.names.len() == 2 => return console_only("tail with a HOST"),
        Verb::Start(a) | Verb::Stop(a) | Verb::Restart(a) | Verb::Signal { act: a, .. } => a,
        _ => return Ok(()),
    };
    if act.hosts.hosts.is_some() {
        return console_only("--hosts");
    }
    if act.rolling.is_some() || act.max_failures.is_some() {
        return console_only("--rolling");
    }
    if act.concurrency.is_some() {
        return console_only("--concurrency");
    }
    Ok(())
}

pub async fn run(ctx: &Ctx, verb: Verb) -> Result<Status, CliError> {
    match verb {
        Verb::Status { target, .. } => status(ctx, target.as_deref()).await,
        Verb::Start(a) => act(ctx, fleet_api::Verb::Start, None, a).await,
        Verb::Stop(a) => act(ctx, fleet_api::Verb::Stop, None, a).await,
        Verb::Restart(a) => act(ctx, fleet_api::Verb::Restart, None, a).await,
        Verb::Signal { signal, act: a } => {
            let sig = signal_name(&signal)?;
            act(ctx, fleet_api::Verb::Signal, Some(sig), a).await
        }
        Verb::Tail(t) => tail(ctx, t).await,
        Verb::Reload => reload(ctx).await,
        Verb::Reexec { binary, .. } => reexec(ctx, binary).await,
        Verb::Events => events(ctx).await,
        Verb::Hosts { .. } | Verb::Ops { .. } => unreachable!("refused by check()"),
    }
}

fn no_match(ctx: &Ctx, target: &str) -> CliError {
    CliError::NoMatch(format!(
        "no process matches {target:?} on {}",
        ctx.client.endpoint()
    ))
}

async fn status(ctx: &Ctx, target: Option<&str>) -> Result<Status, CliError> {
    let mut st = ctx.client.get_json::<AgentStatus>("/v1/status").await?;
    let shown: Vec<&ProcessInfo> = match target {
        None => st.data.processes.iter().collect(),
        Some(t) => {
            let chosen = selector(t)?.select(&st.data.processes);
            if chosen.is_empty() {
                return Err(no_match(ctx, t));
            }
            chosen
        }
    };
    if ctx.json() {
        if target.is_some() {
            let names: Vec<&str> = shown.iter().map(|p| p.name.as_str()).collect();
            if let Some(serde_json::Value::Array(list)) = st.raw.get_mut("processes") {
                list.retain(|p| p["name"].as_str().is_some_and(|n| names.contains(&n)));
            }
        }
        ctx.print_json(&st.raw)?;
    } else {
        ctx.print(&process_table(shown.iter().map(|p| (None, *p))).render(ctx.style))?;
    }
    Ok(Status::Success)
}

/// The status table; `host` is shown when any row has one, `health` when
/// any process has a check.
pub fn process_table<'a>(rows: impl Iterator<Item = (Option<&'a str>, &'a ProcessInfo)>) -> Table {
    let rows: Vec<_> = rows.collect();
    let with_host = rows.iter().any(|(h, _)| h.is_some());
    let with_health = rows.iter().any(|(_, p)| p.health.is_some());
    let mut header: Vec<&'static str> = Vec::new();
    if with_host {
        header.push("HOST");
    }
    header.extend(["GROUP", "NAME", "STATE"]);
    if with_health {
        header.push("HEALTH");
    }
    header.extend(["PID", "UPTIME", "DESCRIPTION"]);
    let mut t = Table::new(&header);
    let now = output::now_ms();
    for (host, p) in rows {
        let uptime = p
            .uptime_ms(now)
            .map_or_else(|| "-".to_owned(), output::duration);
        let mut cells = Vec::new();
        if with_host {
            cells.push(host.unwrap_or("").into());
        }
        // A live process's description is its timing ("pid N, uptime T"),
        // which the PID and UPTIME columns show: show only ones that add
        // (why a check fails).
        let mut description = match (p.timing(now), p.health) {
            (Some(_), Some(Health::Unhealthy | Health::Unknown)) => {
                p.health_message.clone().unwrap_or_default()
            }
            (Some(_), _) => String::new(),
            (None, _) => p.description.clone(),
        };
        // A listener says so, with its pool's counts.
        if let Some(l) = &p.listener {
            description = match description.is_empty() {
                true => l.summary(),
                false => format!("{}; {description}", l.summary()),
            };
        }
        cells.extend([
            p.group.clone().into(),
            p.name.clone().into(),
            output::state_cell(p.state),
        ]);
        if with_health {
            cells.push(output::health_cell(p.health));
        }
        cells.extend([
            p.pid
                .map_or_else(|| "-".to_owned(), |p| p.to_string())
                .into(),
            uptime.into(),
            description.into(),
        ]);
        t.row(cells);
    }
    t
}

async fn act(
    ctx: &Ctx,
    verb: fleet_api::Verb,
    signal: Option<String>,
    a: ActArgs,
) -> Result<Status, CliError> {
    if a.dry_run {
        return dry_run(ctx, verb, &a.target).await;
    }
    let path = format!("/v1/processes/{}/{verb}", encode_segment(&a.target));
    let body = ActionRequest {
        signal: signal.clone(),
        wait: None,
        with_deps: a.with_deps.then_some(true),
    };
    let resp = ctx
        .client
        .post_json::<_, ActionResponse>(&path, &body)
        .await?;
    if ctx.json() {
        ctx.print_json(&resp.raw)?;
    } else {
        let t = action_table(verb, signal.as_deref(), &resp.data.results, "");
        ctx.print(&t.render(ctx.style))?;
    }
    let failed: Vec<&str> = resp
        .data
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| r.name.as_str())
        .collect();
    if failed.is_empty() {
        return Ok(Status::Success);
    }
    eprintln!(
        "fleetctl: {verb} failed for {} of {} processes: {}",
        failed.len(),
        resp.data.results.len(),
        failed.join(", ")
    );
    Ok(Status::Failed)
}

/// What a verb would touch, from the current status; nothing is sent.
async fn dry_run(ctx: &Ctx, verb: fleet_api::Verb, target: &str) -> Result<Status, CliError> {
    let st = ctx.client.get_json::<AgentStatus>("/v1/status").await?;
    let chosen = selector(target)?.select(&st.data.processes);
    if chosen.is_empty() {
        return Err(no_match(ctx, target));
    }
    if ctx.json() {
        let names: Vec<&str> = chosen.iter().map(|p| p.name.as_str()).collect();
        ctx.print_json(&serde_json::json!({
            "verb": verb, "target": target, "dry_run": true, "processes": names,
        }))?;
    } else {
        let mut t = Table::headless(3);
        for p in chosen {
            t.row(vec![
                p.name.clone().into(),
                format!("would {verb}").into(),
                output::state_cell(p.state),
            ]);
        }
        ctx.print(&t.render(ctx.style))?;
    }
    Ok(Status::Success)
}

pub fn log_query(t: &TailArgs) -> String {
    let stream = if t.stderr { "stderr" } else { "stdout" };
    let mut q = format!("stream={stream}");
    if let Some(n) = t.bytes {
        q.push_str(&format!("&tail={n}"));
    }
    if t.follow {
        q.push_str("&follow=true");
    }
    q
}

/// Copy a log body to stdout as it arrives.
pub async fn copy_log(ctx: &Ctx, path: &str) -> Result<Status, CliError> {
    let mut body = ctx.client.stream(path, &[]).await?;
    loop {
        match body.chunk().await {
            Ok(Some(bytes)) => ctx.print_bytes(&bytes)?,
            Ok(None) => return Ok(Status::Success),
            Err(e) => return Err(ctx.client.broken(e).into()),
        }
    }
}

async fn tail(ctx: &Ctx, t: TailArgs) -> Result<Status, CliError> {
    let name = &t.names[0];
    let path = format!(
        "/v1/processes/{}/log?{}",
        encode_segment(name),
        log_query(&t)
    );
    match t.follow {
        true => follow_log(ctx, &path).await,
        false => copy_log(ctx, &path).await,
    }
}

/// How long `tail -f` waits for an agent whose stream broke to answer
/// again (a re-exec takes milliseconds; a package upgrade, seconds).
const FOLLOW_AGAIN_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// `tail -f` (on an agent, or through a console): copy as it arrives. When
/// the connection breaks (the agent re-executing for an upgrade; the
/// console says the agent is unreachable meanwhile), wait for it and go on
/// from the byte reached — `from` = the answer's `x-log-offset` plus the
/// bytes copied — so nothing is missed or printed twice. A stream the
/// agent ends (it is stopping) ends the command.
pub async fn follow_log(ctx: &Ctx, path: &str) -> Result<Status, CliError> {
    let mut from: Option<u64> = None;
    loop {
        let asked = match from {
            Some(at) => format!("{path}&from={at}"),
            None => path.to_owned(),
        };
        let since = std::time::Instant::now();
        let resp = loop {
            match ctx.client.request("GET", &asked, None, &[]).await {
                Ok(r) => break r,
                Err(
                    fleet_client::ClientError::Connect { .. }
                    | fleet_client::ClientError::Transport { .. },
                ) if from.is_some() && since.elapsed() < FOLLOW_AGAIN_WITHIN => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let start = resp.log_offset();
        match (from, start) {
            (Some(want), Some(got)) if got > want => eprintln!(
                "fleetctl: {} bytes were written and left the agent's tail meanwhile",
                got - want
            ),
            (Some(want), Some(got)) if got < want => {
                eprintln!("fleetctl: the agent's log started over (the agent restarted)")
            }
            _ => {}
        }
        let mut body = resp.body;
        let mut at = start;
        loop {
            match body.chunk().await {
                Ok(Some(bytes)) => {
                    ctx.print_bytes(&bytes)?;
                    at = at.map(|a| a + bytes.len() as u64);
                }
                Ok(None) => return Ok(Status::Success),
                // An agent too old to say where it started cannot be
                // followed further without a gap or a repeat.
                Err(e) if at.is_none() => return Err(ctx.client.broken(e).into()),
                Err(_) => {
                    eprintln!("fleetctl: the log stream broke (the agent re-executing?); going on once it answers");
                    from = at;
                    break;
                }
            }
        }
    }
}

/// How long the new image may take to serve.
const REEXEC_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

async fn reexec(ctx: &Ctx, binary: Option<String>) -> Result<Status, CliError> {
    use fleet_client::reexec::{reexec, ReexecError};
    match reexec(&ctx.client, binary, REEXEC_WITHIN).await {
        Ok(r) => {
            if ctx.json() {
                ctx.print_json(&serde_json::to_value(&r).unwrap_or_default())?;
            } else {
                ctx.print(&format!(
                    "re-executed {} in place: pid {}, {} -> {}, {} ms\n",
                    r.binary, r.pid, r.previous_version, r.version, r.took_ms
                ))?;
            }
            Ok(Status::Success)
        }
        Err(ReexecError::Refused(e)) => Err(e.into()),
        Err(e) => {
            eprintln!("fleetctl: {e}");
            Ok(Status::Failed)
        }
    }
}

async fn reload(ctx: &Ctx) -> Result<Status, CliError> {
    let r = ctx
        .client
        .post_json::<_, ReloadResponse>("/v1/reload", &serde_json::json!({}))
        .await?;
    if ctx.json() {
        ctx.print_json(&r.raw)?;
        return Ok(Status::Success);
    }
    let r = r.data;
    let mut text = String::new();
    for (what, list) in [
        ("added", &r.added),
        ("changed", &r.changed),
        ("removed", &r.removed),
    ] {
        if !list.is_empty() {
            text.push_str(&format!("{what}: {}\n", list.join(", ")));
        }
    }
    if text.is_empty() {
        text = format!("no changes ({} programs unchanged)\n", r.unchanged.len());
    }
    ctx.print(&text)?;
    for w in &r.warnings {
        eprintln!("fleetctl: warning: {w}");
    }
    Ok(Status::Success)
}

pub fn event_line(host: Option<&str>, e: &Event) -> String {
    let mut line = output::clock(e.time);
    if let Some(h) = host {
        line.push_str(&format!("  {h}"));
    }
    line.push_str(&format!("  {}  {} -> {}", e.name, e.from, e.to));
    if let Some(pid) = e.pid {
        line.push_str(&format!("  pid {pid}"));
    }
    // The description already says how it exited, when there is one.
    match (&e.exit_status, e.description.is_empty()) {
        (_, false) => line.push_str(&format!("  {}", e.description)),
        (Some(x), true) => line.push_str(&format!("  ({x})")),
        (None, true) => {}
    }
    let mut line = output::printable(line);
    line.push('\n');
    line
}

async fn events(ctx: &Ctx) -> Result<Status, CliError> {
    events::follow(&ctx.client, "/v1/events", |ev| {
        if ev.event == "gap" {
            eprintln!("fleetctl: {}", ev.data);
            return Ok(());
        }
        let Ok(raw) = serde_json::from_str::<serde_json::Value>(&ev.data) else {
            return Ok(());
        };
        if ctx.json() {
            ctx.print_json_line(&raw)?;
        } else if let Ok(e) = serde_json::from_value::<Event>(raw) {
            ctx.print(&event_line(None, &e))?;
        }
        Ok(())
    })
    .await
}
