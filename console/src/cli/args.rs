//! Command-line arguments (clap derive). Parsing only: no I/O here.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Control fleet: one agent (unix socket or URL) or the whole fleet through
/// the console.
#[derive(Debug, Parser)]
#[command(
    name = "fleetctl",
    version,
    about = "Control fleet: one agent, or every host through the console",
    max_term_width = 100
)]
pub struct Cli {
    /// Talk to the console at URL (env FLEET_CONSOLE).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        conflicts_with = "agent",
        help_heading = "Connection"
    )]
    pub console: Option<String>,

    /// Talk to one agent: a unix socket path or an http(s):// URL
    /// (env FLEET_AGENT; default /run/fleet/agent.sock).
    #[arg(
        long,
        global = true,
        value_name = "SOCKET-OR-URL",
        help_heading = "Connection"
    )]
    pub agent: Option<String>,

    /// Bearer token (env FLEET_TOKEN). Never printed; prefer --token-file
    /// (a command line is visible to every user in `ps`).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "Connection"
    )]
    pub token: Option<String>,

    /// Read the bearer token from this file (env FLEET_TOKEN_FILE): unlike
    /// --token, it does not show in `ps`.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "token",
        help_heading = "Connection"
    )]
    pub token_file: Option<PathBuf>,

    /// Extra CA certificate (PEM) to trust for https:// URLs.
    #[arg(long, global = true, value_name = "PEM", help_heading = "Connection")]
    pub cacert: Option<PathBuf>,

    /// Config file (default $FLEETCTL_CONFIG, ~/.config/fleet/fleetctl.toml,
    /// then /etc/fleet/fleetctl.toml).
    #[arg(long, global = true, value_name = "FILE", help_heading = "Connection")]
    pub config: Option<PathBuf>,

    /// Output format.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,

    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `fleetctl hosts …`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum HostsCmd {
    /// Forget a self-registered host, freeing its name (operator; audited).
    Remove {
        /// The host's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Show processes (TARGET defaults to all).
    Status {
        /// all, group:NAME, NAME, GROUP:PROCESS or GROUP:*
        target: Option<String>,
        #[command(flatten)]
        hosts: HostsArg,
    },
    /// Start processes.
    Start(ActArgs),
    /// Stop processes.
    Stop(ActArgs),
    /// Restart processes (one verb the agent performs).
    Restart(ActArgs),
    /// Send a signal (HUP, USR1, TERM, or a number) to processes.
    Signal {
        /// Signal name or number.
        signal: String,
        #[command(flatten)]
        act: ActArgs,
    },
    /// Print a process's log tail; -f keeps following it.
    Tail(TailArgs),
    /// Re-read the agent's config and apply the differences (agent mode).
    Reload,
    /// Re-execute the agent in place (same pid; no program restarted),
    /// e.g. after its package was upgraded; in console mode on every host
    /// (`--hosts`, `--rolling`) that runs a process TARGET names.
    Reexec {
        /// The binary to execute (agent mode; default: the one the agent
        /// runs as).
        #[arg(long, value_name = "PATH")]
        binary: Option<String>,
        /// Console mode: the hosts running a process this names (default all).
        #[arg(default_value = "all")]
        target: String,
        #[command(flatten)]
        hosts: HostsArg,
        /// Rolling: batches of N hosts or N% of them (console mode).
        #[arg(long, value_name = "N|N%")]
        rolling: Option<String>,
        /// Rolling: abort after F failed hosts (console mode).
        #[arg(long, value_name = "F", requires = "rolling")]
        max_failures: Option<usize>,
        /// List the hosts it would touch; touch nothing (console mode).
        #[arg(long)]
        dry_run: bool,
    },
    /// List the console's hosts, or remove a registered one (console mode).
    Hosts {
        #[command(subcommand)]
        action: Option<HostsCmd>,
    },
    /// Print state changes as they happen.
    Events,
    /// List recent operations, or show one (console mode).
    Ops {
        /// Operation id.
        id: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct HostsArg {
    /// Host selector: names, globs, @group, tag=value, comma-separated
    /// (console mode).
    #[arg(long, value_name = "SEL")]
    pub hosts: Option<String>,
}

#[derive(Debug, Args)]
pub struct ActArgs {
    /// all, group:NAME, NAME, GROUP:PROCESS or GROUP:*
    pub target: String,
    #[command(flatten)]
    pub hosts: HostsArg,
    /// Rolling: batches of N hosts or N% of them (console mode).
    #[arg(long, value_name = "N|N%")]
    pub rolling: Option<String>,
    /// Rolling: abort after F failed hosts (console mode).
    #[arg(long, value_name = "F", requires = "rolling")]
    pub max_failures: Option<usize>,
    /// Hosts in flight at once (console mode; default: the console's
    /// `concurrency`, 512 unless configured).
    #[arg(long, value_name = "C", value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency: Option<u64>,
    /// List what would be touched; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// start/restart: also start what the processes wait for
    /// (`depends_on`), in order; a dependency already running is left
    /// alone.
    #[arg(long)]
    pub with_deps: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// [HOST] PROCESS (HOST only in console mode).
    #[arg(value_name = "[HOST] PROCESS", num_args = 1..=2, required = true)]
    pub names: Vec<String>,
    /// Keep printing new output.
    #[arg(short, long)]
    pub follow: bool,
    /// Read stderr instead of stdout.
    #[arg(long)]
    pub stderr: bool,
    /// Bytes of tail to print first.
    #[arg(short = 'n', long = "bytes", value_name = "BYTES")]
    pub bytes: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn console_and_agent_conflict() {
        let r = Cli::try_parse_from(["fleetctl", "--console", "u", "--agent", "a", "status"]);
        assert!(r.is_err());
    }

    #[test]
    fn tail_takes_one_or_two_names() {
        let c = Cli::try_parse_from(["fleetctl", "tail", "-f", "web:web_00"]).unwrap();
        let Verb::Tail(t) = c.verb else { panic!() };
        assert!(t.follow);
        assert_eq!(t.names, ["web:web_00"]);
        assert!(Cli::try_parse_from(["fleetctl", "tail"]).is_err());
        assert!(Cli::try_parse_from(["fleetctl", "tail", "a", "b", "c"]).is_err());
    }

    #[test]
    fn signal_takes_signal_then_target() {
        let c = Cli::try_parse_from(["fleetctl", "signal", "HUP", "group:web"]).unwrap();
        let Verb::Signal { signal, act } = c.verb else {
            panic!()
        };
        assert_eq!(signal, "HUP");
        assert_eq!(act.target, "group:web");
    }
}
