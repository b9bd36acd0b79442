//! `fleet-console --config FILE` runs the console in the foreground;
//! `fleet-console check FILE` validates a console.toml;
//! `fleet-console audit verify --config FILE` checks the audit hash chain;
//! `fleet-console migrate --config FILE` creates or upgrades the store's schema;
//! `fleet-console demo` runs a console and a few local agents (see `demo`).

use clap::{Parser, Subcommand};
use fleet_console::server::{self, config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "fleet-console", version, about = "fleet's central server")]
struct Cli {
    /// console.toml
    #[arg(long, short, env = "FLEET_CONSOLE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a console.toml and exit.
    Check { config: PathBuf },
    /// The audit log (in the config's data_dir).
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// Create or upgrade the store's schema (SQLite in data_dir, or
    /// PostgreSQL with [store] url) and exit; a schema newer than this
    /// console's is refused. The console also migrates an older schema
    /// at start.
    Migrate {
        /// PostgreSQL: the role the consoles run as; it is granted
        /// only SELECT and INSERT on the audit tables.
        #[arg(long)]
        app_role: Option<String>,
    },
    /// Run a demo fleet: N local agents with harmless programs and a
    /// console, until Ctrl-C (which stops and removes everything).
    Demo {
        /// How many agents to start.
        #[arg(long, default_value_t = 5)]
        agents: usize,
        /// Console port on 127.0.0.1 (default 9700, or a free port if taken; 0: any free port).
        #[arg(long)]
        port: Option<u16>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of every audit record: exit 0 and print the
    /// record count and head hash when intact; exit 1 naming the first
    /// broken or missing record otherwise.
    Verify,
}

fn audit_verify(path: Option<PathBuf>) -> ExitCode {
    let Some(path) = path else {
        eprintln!("fleet-console: audit verify needs --config FILE");
        return ExitCode::from(2);
    };
    let result = config::load(&path).and_then(|c| {
        server::store::Store::open_existing(c.store.as_ref(), &c.data_dir)
            .and_then(|s| s.verify())
            .map_err(|e| e.to_string())
    });
    match result {
        Ok((n, head)) => {
            println!("audit log intact: {n} record(s), head {head}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fleet-console: audit log: {e}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(path: Option<PathBuf>, app_role: Option<String>) -> ExitCode {
    let Some(path) = path else {
        eprintln!("fleet-console: migrate needs --config FILE");
        return ExitCode::from(2);
    };
    let result = config::load(&path).and_then(|c| {
        let what = match &c.store {
            Some(_) => "PostgreSQL store",
            None => "SQLite store",
        };
        server::store::Store::migrate(c.store.as_ref(), &c.data_dir, app_role.as_deref())
            .map(|v| (what, v))
            .map_err(|e| e.to_string())
    });
    match result {
        Ok((what, (before, after))) if before == after => {
            println!("{what}: schema version {after}, up to date");
            ExitCode::SUCCESS
        }
        Ok((what, (before, after))) => {
            println!("{what}: schema migrated from version {before} to {after}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fleet-console: migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // Packaging: `fleet-console gen-docs DIR` writes man pages and
    // completions for fleet-console and fleetctl.
    if let Some(dir) = fleet_console::docs::requested() {
        use clap::CommandFactory;
        let commands = [Cli::command(), fleet_console::cli::Cli::command()];
        return fleet_console::docs::run(&commands, &dir);
    }
    let cli = Cli::parse();
    let path = match (cli.command, cli.config) {
        (Some(Cmd::Check { config }), _) => {
            return match config::load(&config) {
                Ok(c) => {
                    println!(
                        "{}: ok ({} agent(s), {} token(s), listen {})",
                        config.display(),
                        c.agents.len(),
                        c.tokens.len(),
                        c.listen
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("fleet-console: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        (
            Some(Cmd::Audit {
                command: AuditCmd::Verify,
            }),
            config,
        ) => return audit_verify(config),
        (Some(Cmd::Migrate { app_role }), config) => return migrate(config, app_role),
        (Some(Cmd::Demo { agents, port }), _) => {
            return fleet_console::demo::run(fleet_console::demo::Options { agents, port });
        }
        (None, Some(p)) => p,
        (None, None) => {
            eprintln!("fleet-console: --config FILE is required (or: fleet-console check FILE)");
            return ExitCode::from(2);
        }
    };
    fleet_daemon::log::init("info");
    raise_fd_limit();
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleet-console: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Still single-threaded: take NOTIFY_SOCKET out of the environment.
    fleet_console::notify::take_socket();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fleet-console: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(serve(cfg))
}

/// Open the store, bind, say READY, serve until SIGTERM or SIGINT.
async fn serve(cfg: config::Config) -> ExitCode {
    let app = match server::App::new(cfg) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fleet-console: {e}");
            return ExitCode::FAILURE;
        }
    };
    if app.auth.open() {
        tracing::warn!(
            "no [[tokens]] configured: anyone who can reach the loopback listener may act"
        );
    }
    let listener = match tokio::net::TcpListener::bind(app.config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fleet-console: cannot listen on {}: {e}", app.config.listen);
            return ExitCode::FAILURE;
        }
    };
    let scheme = if app.config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        "listening on {scheme}://{} ({} agent(s), data in {}, {})",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        app.inventory.len(),
        app.config.data_dir.display(),
        app.store.describe()
    );
    // Handlers first, then READY=1: a SIGTERM right after readiness must
    // not be missed.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .expect("SIGINT handler");
    fleet_console::notify::ready();
    let shutdown = async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        fleet_console::notify::stopping();
        tracing::info!("shutting down");
    };
    match server::run(app, listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet-console: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The console holds a connection per agent (its event stream) plus one per
/// host in flight in an operation: raise the soft fd limit to the hard one,
/// as Go's runtime does, so 1024 (a common default) is not the fleet's size.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}
