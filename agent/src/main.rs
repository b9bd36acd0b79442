//! `fleet-agent`: parse, validate, bind, then run until SIGTERM/SIGINT.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleet_agent::config::Config;
use fleet_agent::{api, server, supervisor, sys};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "fleet-agent",
    version,
    about = "Supervise programs from a TOML config (a supervisord replacement)"
)]
struct Cli {
    /// Config file to run with (runs in the foreground, logs to stderr).
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a config file: exit 0 if it is valid, 1 with every error if not.
    Check {
        #[arg(value_name = "FILE")]
        config: PathBuf,
    },
    /// Convert a supervisord config (and its [include] files) to fleet TOML on
    /// stdout; warnings for anything without an equivalent go to stderr.
    Import {
        #[arg(value_name = "SUPERVISORD_CONF")]
        path: PathBuf,
        /// Write DIR/agent.toml instead of printing it.
        #[arg(long, value_name = "DIR")]
        write: Option<PathBuf>,
        /// With --write, replace an existing agent.toml.
        #[arg(long, requires = "write")]
        force: bool,
    },
}

/// How long to let log pumps drain after the last program stopped.
const DRAIN: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    // Packaging: `fleet-agent gen-docs DIR` writes man pages and completions.
    if let Some(dir) = fleet_agent::docs::requested() {
        use clap::CommandFactory;
        return fleet_agent::docs::run(&[Cli::command()], &dir);
    }
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Check { config }) => check(&config),
        Some(Cmd::Import { path, write, force }) => {
            ExitCode::from(fleet_agent::import::run(&path, write.as_deref(), force))
        }
        None => {
            match cli.config {
                Some(path) => match run(path) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("fleet-agent: {e:#}");
                        ExitCode::FAILURE
                    }
                },
                None => {
                    eprintln!("fleet-agent: no config given: use --config FILE (or `fleet-agent check FILE`)");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(c) => {
            let programs: std::collections::BTreeSet<&str> =
                c.processes.iter().map(|p| p.program.as_str()).collect();
            println!(
                "{}: ok ({} programs, {} processes)",
                path.display(),
                programs.len(),
                c.processes.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    // Still single-threaded: take NOTIFY_SOCKET out of the programs' env.
    fleet_agent::notify::take_socket();
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    fleet_daemon::log::init("info");
    // One runtime thread (plus the supervisor's own, which parks on this
    // runtime's handle): the API, log pumps and followers are I/O-bound, and
    // the multi-threaded scheduler would add a worker, its malloc arena and
    // libm (its poll-time statistics call `pow`) to every host's RSS.
    // The main thread drives I/O and timers for both, from `block_on`.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    sys::set_child_subreaper().context("cannot become child subreaper")?;
    let unix = server::bind_unix(&config.agent.socket)?;
    let tcp = server::bind_tcp(&config.agent).await?;
    let tls = match (&config.agent.tls, &tcp) {
        (Some(files), Some(_)) => Some(server::tls_acceptor(files)?),
        _ => None,
    };
    if !sys::is_root() {
        for p in config.processes.iter().filter(|p| p.user.is_some()) {
            tracing::warn!(process = %p.full_name(), "user is set but fleet-agent is not root: it will fail to start unless the user is the agent's own");
        }
    }
    if let (Some(addr), None) = (config.agent.listen, &tls) {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "TCP listener without TLS on a non-loopback address: the token crosses the network in clear");
        }
    }
    let socket = config.agent.socket.clone();
    let listen = config.agent.listen;
    let token = config.agent.token.as_ref().map(|t| t.expose().to_owned());
    let enroll = config.agent.enroll.clone().zip(config.agent.token.clone());
    let host = config.agent.host.clone();
    let (handle, done) = supervisor::start(config, tokio::runtime::Handle::current())
        .context("cannot start the supervisor")?;
    let finished = handle.finished();
    let finished = futures_util::future::FutureExt::shared(finished);
    let router = api::router(handle);
    let mut servers = vec![server::serve_unix(
        unix,
        router.clone(),
        Box::pin(finished.clone()),
    )];
    if let (Some(tcp), Some(token)) = (tcp, token) {
        servers.push(server::serve_tcp(
            tcp,
            tls.clone(),
            router,
            token,
            Box::pin(finished),
        )?);
    }
    if let Some((e, token)) = enroll {
        tokio::spawn(fleet_agent::enroll::run(e, host, token));
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        socket = %socket.display(),
        listen = ?listen,
        tls = tls.is_some(),
        "fleet-agent started"
    );
    // Listen before announcing readiness: a SIGTERM right after READY=1
    // must still be answered with STOPPING=1.
    use tokio::signal::unix::{signal, SignalKind};
    if let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            fleet_agent::notify::stopping();
        });
    }
    fleet_agent::notify::ready();
    let exit = done.await.context("supervisor thread died")?;
    // Every program has stopped; let the pumps write their last bytes.
    let drain = futures_util::future::join_all(exit.pumps);
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        tracing::warn!(
            "some output pipes are still open (a descendant holds them); not waiting longer"
        );
    }
    // Streams (events, log follow) have ended; let their last bytes out.
    let servers = futures_util::future::join_all(servers);
    let _ = tokio::time::timeout(Duration::from_secs(2), servers).await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("fleet-agent stopped");
    Ok(())
}
