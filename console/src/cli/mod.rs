//! `fleetctl`, the command-line client.
//!
//! Theory of operation: `main` parses arguments (clap; its errors exit 2),
//! validates selectors and signal names locally (exit 2, nothing sent),
//! resolves where to connect ([`config`]: flags, env, config file, default
//! socket), then runs one verb against either one agent ([`agent`]) or the
//! console ([`fleet`]) over one small [`client::Client`]. Output is an
//! aligned table (or the API's own JSON with `-o json`). Exit codes: 0 when
//! everything asked succeeded, 1 when some process or host failed or the
//! server could not be reached or refused (one line on stderr naming it),
//! 2 for usage errors. A closed stdout (`fleetctl status | head`) is success.

mod agent;
mod args;
mod client;
mod config;
#[cfg(test)]
mod console_tests;
mod events;
mod fleet;
mod output;

pub use args::Cli;

use args::{Format, Verb};
use client::{Client, ClientError};
use config::ConfigError;
use fleet_api::{ActionResult, Outcome, Selector, Signal};
use output::{Style, Table};
use std::cell::RefCell;
use std::io::Write;
use std::process::ExitCode;

/// How a verb that ran to completion went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything asked succeeded.
    Success,
    /// Some process or host failed; the output said which.
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments: exit 2, nothing was sent.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The selection matched nothing (exit 1).
    #[error("{0}")]
    NoMatch(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Config(_) => 2,
            Self::Client(_) | Self::NoMatch(_) | Self::Output(_) => 1,
        }
    }
}

/// Everything a verb needs.
pub struct Ctx {
    pub client: Client,
    pub format: Format,
    pub style: Style,
    /// Where results go (stdout; a buffer in tests). Flushed per write so
    /// followers see lines as they come.
    out: RefCell<Box<dyn Write>>,
}

impl Ctx {
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    pub fn print_bytes(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut out = self.out.borrow_mut();
        out.write_all(bytes)?;
        out.flush()
    }

    pub fn print(&self, text: &str) -> std::io::Result<()> {
        self.print_bytes(text.as_bytes())
    }

    /// Pretty JSON, as the API sent it.
    pub fn print_json(&self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        text.push('\n');
        self.print(&text)
    }

    /// One compact JSON value per line (event streams).
    pub fn print_json_line(&self, value: &serde_json::Value) -> std::io::Result<()> {
        let mut text = serde_json::to_string(value).map_err(std::io::Error::other)?;
        text.push('\n');
        self.print(&text)
    }
}

/// The whole program; `src/bin/fleetctl.rs` only calls this.
pub fn main() -> ExitCode {
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fleetctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let out = Box::new(std::io::stdout());
    match rt.block_on(run(cli, out, Style::detect())) {
        Ok(Status::Success) => ExitCode::SUCCESS,
        Ok(Status::Failed) => ExitCode::from(1),
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Run one parsed command line, writing results to `out`.
pub async fn run(cli: Cli, out: Box<dyn Write>, style: Style) -> Result<Status, CliError> {
    validate(&cli.verb)?;
    let inputs = config::Inputs {
        flag_console: cli.console,
        flag_agent: cli.agent,
        flag_token: cli.token,
        flag_token_file: cli.token_file,
        flag_cacert: cli.cacert,
        flag_config: cli.config,
        ..Default::default()
    }
    .with_env();
    let resolved = config::resolve(&inputs)?;
    for w in &resolved.warnings {
        eprintln!("fleetctl: warning: {w}");
    }
    let console = resolved.target.is_console();
    if console {
        fleet::check(&cli.verb)?;
    } else {
        agent::check(&cli.verb)?;
    }
    let client = client::connect(&resolved.target, resolved.token, resolved.cacert.as_deref())?;
    let ctx = Ctx {
        client,
        format: cli.output,
        style,
        out: RefCell::new(out),
    };
    if console {
        fleet::run(&ctx, cli.verb).await
    } else {
        agent::run(&ctx, cli.verb).await
    }
}

/// Checks that need no server: selectors and signal names.
fn validate(verb: &Verb) -> Result<(), CliError> {
    match verb {
        Verb::Status {
            target: Some(t), ..
        } => selector(t).map(drop),
        Verb::Start(a) | Verb::Stop(a) | Verb::Restart(a) => selector(&a.target).map(drop),
        Verb::Signal { signal, act } => {
            signal_name(signal)?;
            selector(&act.target).map(drop)
        }
        _ => Ok(()),
    }
}

pub fn selector(s: &str) -> Result<Selector, CliError> {
    s.parse::<Selector>().map_err(|e| CliError::Usage(e.0))
}

/// `hup`, `SIGHUP` or `1` → `"HUP"` (the name the wire carries); anything
/// outside `fleet_api::Signal`'s set is a usage error.
pub fn signal_name(s: &str) -> Result<String, CliError> {
    s.parse::<Signal>()
        .map(|sig| sig.name().to_owned())
        .map_err(|e| CliError::Usage(e.0))
}

/// What happened to one process, in words.
fn outcome_text(verb: fleet_api::Verb, signal: Option<&str>, r: &ActionResult) -> String {
    use fleet_api::Verb as V;
    match (r.outcome, verb) {
        (Outcome::Ok, V::Start) => "started".into(),
        (Outcome::Ok, V::Stop) => "stopped".into(),
        (Outcome::Ok, V::Restart) => "restarted".into(),
        (Outcome::Ok, V::Signal) => format!("sent SIG{}", signal.unwrap_or("?")),
        (Outcome::Ok, V::Reexec) => "re-executed".into(),
        (Outcome::Already, V::Stop) => "already stopped".into(),
        (Outcome::Already, V::Signal) => "not running".into(),
        (Outcome::Already, _) => "already running".into(),
        (Outcome::Failed, _) => "FAILED".into(),
    }
}

/// One aligned line per process: name, outcome, state, pid, message.
fn action_table(
    verb: fleet_api::Verb,
    signal: Option<&str>,
    results: &[ActionResult],
    indent: &str,
) -> Table {
    let mut t = Table::headless(5);
    for r in results {
        let outcome = outcome_text(verb, signal, r);
        let color = match r.outcome {
            Outcome::Failed => Some("31"),
            _ => None,
        };
        t.row(vec![
            format!("{indent}{}", r.name).into(),
            output::Cell {
                text: outcome,
                color,
            },
            output::state_cell(r.state),
            r.pid.map(|p| format!("pid {p}")).unwrap_or_default().into(),
            r.message.clone().into(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_normalise_like_the_agent() {
        assert_eq!(signal_name("hup").unwrap(), "HUP");
        assert_eq!(signal_name("SIGUSR1").unwrap(), "USR1");
        assert_eq!(signal_name("15").unwrap(), "TERM");
        for bad in ["NOPE", "0", "40", "99", "", "SIG"] {
            assert!(matches!(signal_name(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn bad_selectors_are_usage_errors() {
        let e = selector("a b").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("expected all"));
    }

    #[test]
    fn action_lines_say_what_happened() {
        let r = ActionResult {
            name: "web:web_00".into(),
            outcome: Outcome::Ok,
            state: fleet_api::ProcessState::Running,
            pid: Some(7),
            message: String::new(),
        };
        let t = action_table(fleet_api::Verb::Restart, None, &[r], "");
        assert_eq!(
            t.render(Style::plain()),
            "web:web_00  restarted  RUNNING  pid 7\n"
        );
    }
}
