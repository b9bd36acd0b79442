//! `fleet-agent`: parse, validate, bind, then run until SIGTERM/SIGINT.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleet_agent::config::Config;
use fleet_agent::Listeners;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fleet-agent",
    version,
    about = "Supervise programs from a TOML config (a supervisord replacement)",
    after_long_help = "Each [program.NAME] takes supervisord's keys (command, numprocs, \
process_name, directory, user, environment, autostart, autorestart, startsecs, startretries, \
stopsignal, stopwaitsecs, stopasgroup, killasgroup, redirect_stderr, stdout_logfile ...) and \
fleet's: environment_file, backoff, backoff_max, leftovers, depends_on = [\"redis\", \
\"group:NAME\"] (start order: a program starts once what it waits for is RUNNING, and \
healthy with a check; shutdown stops in reverse), and a [program.NAME.health] table with one \
check (http = \"URL\", tcp = \"HOST:PORT\" or exec = \"COMMAND\") and interval, timeout, \
start_period, failures, successes, on_unhealthy = \"restart\" | \"none\". An annotated \
example: /usr/share/doc/fleet-agent/examples/agent.toml."
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
    // Before anything of ours is open: drop the descriptors we inherited.
    fleet_agent::sys::close_inherited_fds();
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
    // Handlers before anything is bound: a SIGTERM right after READY=1 must
    // still be answered with STOPPING=1 and a clean stop.
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let shutdown = async move {
        let why = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        fleet_agent::notify::stopping();
        tracing::info!("{why} received");
    };
    let listeners = Listeners::bind(&config.agent).await?;
    fleet_agent::run(config, listeners, shutdown).await?;
    Ok(())
}
