//! `fleet-sim`: N virtual fleet agents in one process, for measuring a
//! console at scale (benches/scenarios/scale5000.py) without N real
//! agents. Each virtual host listens on its own loopback port and serves
//! the agent's API with the agent's wire types (fleet-api), token check,
//! error shape and SSE framing: `/healthz`, `/v1/status`, `/v1/events`
//! (ids, `Last-Event-ID` resume, `gap`), `POST /v1/processes/{target}/
//! {verb}` (start, stop, restart, signal over supervisorctl selectors,
//! waiting as the agent does), `GET /v1/processes/{name}/log` (tail,
//! timestamps, follow) and the registration challenge
//! (`/v1/enroll/proof`). Each host runs M processes: a `celery` group of
//! `worker_NN` (half of them, rounded up) and a `web` group; `--crashing
//! PCT` of them crash-loop (RUNNING → EXITED → STARTING → BACKOFF →
//! STARTING → RUNNING, one step per event) at `--events-per-sec` across
//! the fleet. tests/sim_wire.rs runs the same wire checks against a real
//! agent and against this, so the two cannot drift.
//!
//! What it does NOT simulate: real processes (pids are made up, signals
//! change nothing, a start always succeeds after `startsecs`, a stop
//! takes 5 ms), CPU/memory figures (constant), log content (numbered
//! lines), `/metrics`, `/v1/reload`, log files (`log/file`, `log/clear`),
//! supervisord's XML-RPC face, TLS, the unix socket, `depends_on`
//! (`with_deps` is accepted and ignored), health checks, event
//! listeners, and the agent's own enrollment (it writes `[[agent]]`
//! entries instead); its event history is 64 events per host (the
//! agent's is 1,024).

mod api;
mod host;

use clap::Parser;
use futures_util::StreamExt;
use host::Host;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "fleet-sim",
    version,
    about = "Serve the fleet agent API for many virtual hosts on loopback ports"
)]
struct Args {
    /// Virtual hosts (one loopback port each).
    #[arg(long)]
    hosts: usize,
    /// Processes per host (half a `celery` group, the rest `web`).
    #[arg(long)]
    processes: usize,
    /// Share of the processes that crash-loop, in percent.
    #[arg(long, default_value_t = 0.0)]
    crashing: f64,
    /// Events per second across the fleet, made by the crash-looping
    /// processes (default: each steps every 2 s).
    #[arg(long)]
    events_per_sec: Option<f64>,
    /// Where to write the console.toml fragment of `[[agent]]` entries.
    #[arg(long)]
    agents_toml: PathBuf,
    /// First port (host K on BASE+K-1); default: ports the kernel picks.
    #[arg(long)]
    base_port: Option<u16>,
}

fn check(a: &Args) -> Result<(), String> {
    if !(1..=100_000).contains(&a.hosts) {
        return Err(format!("--hosts must be 1 to 100000, not {}", a.hosts));
    }
    if !(1..=1000).contains(&a.processes) {
        return Err(format!(
            "--processes must be 1 to 1000, not {}",
            a.processes
        ));
    }
    if !(0.0..=100.0).contains(&a.crashing) {
        return Err(format!(
            "--crashing is a percentage (0 to 100), not {}",
            a.crashing
        ));
    }
    if let Some(r) = a.events_per_sec {
        if !(r.is_finite() && r > 0.0) {
            return Err(format!("--events-per-sec must be above 0, not {r}"));
        }
        if crashing_count(a) == 0 {
            return Err(
                "--events-per-sec needs crash-looping processes to make the events: set --crashing above 0"
                    .into(),
            );
        }
    }
    if let Some(b) = a.base_port {
        if b == 0 || usize::from(b) + a.hosts > 65536 {
            return Err(format!(
                "--base-port {b} leaves no room for {} hosts",
                a.hosts
            ));
        }
    }
    Ok(())
}

/// Whether process `k` of the fleet (hosts × processes, in order)
/// crash-loops: spread evenly, `pct` of them.
fn crashes(k: usize, pct: f64) -> bool {
    let at = |k: usize| (k as f64 * pct / 100.0).floor();
    at(k + 1) > at(k)
}

fn crashing_count(a: &Args) -> usize {
    (0..a.hosts * a.processes)
        .filter(|&k| crashes(k, a.crashing))
        .count()
}

/// A token the console accepts (fleet_daemon's length rule).
fn token() -> String {
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..32)
        .map(|_| abc[fastrand::usize(..abc.len())] as char)
        .collect()
}

/// Descriptors: a listener and the console's event stream per host, and
/// the console's requests. Raise the soft limit to the hard one.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

fn write_toml(path: &std::path::Path, hosts: &[Arc<Host>]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::from("# Written by fleet-sim: one entry per virtual host.\n");
    for h in hosts {
        text.push_str(&format!(
            "\n[[agent]]\nname = \"{}\"\nurl = \"http://{}\"\ntoken = \"{}\"\n",
            h.name, h.listen, h.token
        ));
    }
    // The tokens are credentials: owner-only, replaced whole.
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `/healthz` answers `ok` on `addr`.
async fn answers(addr: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return false;
    };
    let req = b"GET /healthz HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n\r\n";
    if s.write_all(req).await.is_err() {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    out.starts_with(b"HTTP/1.1 200") && out.ends_with(b"ok\n")
}

/// Step the crash-looping processes round-robin, `rate` steps (events) a
/// second across the fleet, in 10 ms ticks.
async fn crash_loops(loopers: Vec<(Arc<Host>, usize)>, rate: f64) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    let started = tokio::time::Instant::now();
    let mut done = 0u64;
    loop {
        tick.tick().await;
        // Owed by the clock, so a late tick catches up instead of losing rate.
        let mut budget = started.elapsed().as_secs_f64() * rate - done as f64;
        while budget >= 1.0 {
            let (h, i) = &loopers[next];
            h.crash_step(*i);
            next = (next + 1) % loopers.len();
            done += 1;
            budget -= 1.0;
        }
    }
}

async fn run(a: Args) -> Result<(), String> {
    raise_fd_limit();
    let mut listeners = Vec::with_capacity(a.hosts);
    for k in 0..a.hosts {
        let port = a.base_port.map_or(0, |b| b + k as u16);
        let l = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port} for host {}: {e}", k + 1))?;
        listeners.push(l);
    }
    let mut hosts = Vec::with_capacity(a.hosts);
    let mut loopers = Vec::new();
    for (k, l) in listeners.into_iter().enumerate() {
        let addr = l.local_addr().map_err(|e| e.to_string())?.to_string();
        let pct = a.crashing;
        let first = k * a.processes;
        let h = Arc::new(Host::new(
            format!("sim-{:05}", k + 1),
            token(),
            addr,
            a.processes,
            |i| crashes(first + i, pct),
        ));
        loopers.extend(h.crashing().into_iter().map(|i| (h.clone(), i)));
        let app = api::router(h.clone());
        tokio::spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        hosts.push(h);
    }
    write_toml(&a.agents_toml, &hosts)
        .map_err(|e| format!("cannot write {}: {e}", a.agents_toml.display()))?;
    let dead = futures_util::stream::iter(hosts.iter())
        .map(|h| async move { answers(&h.listen).await })
        .buffer_unordered(256)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    if dead > 0 {
        return Err(format!("{dead} virtual hosts do not answer /healthz"));
    }
    if !loopers.is_empty() {
        let rate = a.events_per_sec.unwrap_or(loopers.len() as f64 / 2.0);
        tokio::spawn(crash_loops(loopers, rate));
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    if let Err(e) = check(&a) {
        eprintln!("fleet-sim: {e}");
        std::process::exit(2);
    }
    if let Err(e) = run(a).await {
        eprintln!("fleet-sim: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_crashing_share_is_spread_evenly() {
        let n = (0..1000).filter(|&k| super::crashes(k, 10.0)).count();
        assert_eq!(n, 100);
        assert_eq!((0..20).filter(|&k| super::crashes(k, 0.0)).count(), 0);
        assert_eq!((0..20).filter(|&k| super::crashes(k, 100.0)).count(), 20);
    }
}
