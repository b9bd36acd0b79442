//! `fleet-agent`: parse, validate, bind, then run until SIGTERM/SIGINT.

use anyhow::Context;
use clap::{Parser, Subcommand};
use fleet_agent::config::Config;
use fleet_agent::service::Boot;
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
    /// Print `yes` if this binary reads the re-exec state format
    /// MAJOR.MINOR, else why not (asked by a running agent before it
    /// re-executes into this binary).
    #[arg(long, value_name = "MAJOR.MINOR", hide = true)]
    check_resume: Option<String>,
    /// Internal (re-exec): take over from the state in descriptor FD.
    #[arg(long, value_name = "FD", hide = true, requires = "fallback")]
    resume: Option<i32>,
    /// Internal (re-exec): the previous image, run again if resuming fails.
    #[arg(long, value_name = "FD", hide = true, requires = "resume")]
    fallback: Option<i32>,
    /// Internal (re-exec): this image is the previous one, back after the
    /// new one failed to resume, for this reason.
    #[arg(long, value_name = "WHY", hide = true, requires = "resume")]
    resume_failed: Option<String>,
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
    if let Some(v) = &cli.check_resume {
        println!("{}", fleet_agent::reexec::resume::check(v));
        return ExitCode::SUCCESS;
    }
    if let (Some(state), Some(image)) = (cli.resume, cli.fallback) {
        return match resume(state, image, cli.resume_failed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fleet-agent: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
    // Still single-threaded: every thread created from here inherits the
    // block; the supervisor's owner thread alone takes these signals, once
    // every handler is in place.
    fleet_agent::sys::exec::block_window_signals().context("cannot block signals")?;
    // Still single-threaded: take NOTIFY_SOCKET out of the programs' env.
    fleet_agent::notify::take_socket();
    let config = Config::load(&path).map_err(|e| anyhow::anyhow!("invalid config:\n{e}"))?;
    fleet_daemon::log::init("info");
    // Our own image, open from the start: a re-exec's fallback, whatever
    // a package manager puts at the path later.
    let binary = std::env::current_exe().context("cannot find our own binary")?;
    let image = fleet_agent::sys::exec::open_image(&binary)
        .with_context(|| format!("cannot open {}", binary.display()))?;
    let boot = Boot {
        binary,
        image,
        resumed: None,
    };
    runtime()?.block_on(serve(config, None, boot))
}

/// The new image of a re-exec (or the old one back after it failed).
fn resume(state: i32, image: i32, failed: Option<String>) -> anyhow::Result<()> {
    // Signals the old image held over the exec stay pending until the
    // owner thread takes them again (inherited block; kept for threads).
    fleet_agent::sys::exec::block_window_signals().context("cannot block signals")?;
    fleet_daemon::log::init("info");
    let r = fleet_agent::reexec::resume::resume(state, image, failed)
        .map_err(|e| anyhow::anyhow!("cannot resume: {e}"))?;
    let boot = Boot {
        binary: r.binary,
        image: r.image,
        resumed: Some(r.carried),
    };
    let fds = Some((r.unix, r.tcp));
    runtime()?.block_on(serve(r.config, fds, boot))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One runtime thread (plus the supervisor's own, which parks on this
    // runtime's handle): the API, log pumps and followers are I/O-bound, and
    // the multi-threaded scheduler would add a worker, its malloc arena and
    // libm (its poll-time statistics call `pow`) to every host's RSS.
    // The main thread drives I/O and timers for both, from `block_on`.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

type Inherited = Option<(std::os::fd::OwnedFd, Option<std::os::fd::OwnedFd>)>;

async fn serve(config: Config, inherited: Inherited, boot: Boot) -> anyhow::Result<()> {
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
    let listeners = match inherited {
        Some((unix, tcp)) => Listeners::adopt(&config.agent, unix, tcp)?,
        None => Listeners::bind(&config.agent).await?,
    };
    fleet_agent::service::run_with(config, listeners, shutdown, Some(boot)).await?;
    Ok(())
}
