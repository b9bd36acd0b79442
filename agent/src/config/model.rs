//! The validated, fully expanded configuration: what the rest of the agent
//! consumes. Produced by `Config::load` (see `mod.rs`); nothing here is
//! serializable (the wire types live in `fleet-api`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A loaded, valid config.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The main config file, as given.
    pub source: PathBuf,
    pub agent: AgentSettings,
    /// Every process instance of every program, sorted by (priority, full name).
    pub processes: Vec<ProcessSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentSettings {
    /// Host name reported by the API (`[agent] name`, default: the system hostname).
    pub host: String,
    /// Unix control socket path (`[agent] socket`, default `/run/fleet/agent.sock`).
    pub socket: PathBuf,
    /// Optional TCP listener (`[agent] listen = "IP:PORT"`).
    pub listen: Option<SocketAddr>,
    /// Bearer token for TCP, from `token`, `token_file` or `token_env`.
    pub token: Option<Secret>,
    /// TLS for the TCP listener (`tls_cert` + `tls_key`, PEM); both or neither.
    pub tls: Option<TlsFiles>,
    /// Default directory for AUTO log files (`[agent] log_dir`, default `/var/log/fleet`).
    pub log_dir: PathBuf,
    /// Self-registration with a console (`[agent] console = "URL"`).
    pub enroll: Option<Enrollment>,
    /// Environment variables that hold the agent's secrets (`token_env`,
    /// `enrollment_token_env`): removed from every program's environment.
    pub secret_env: Vec<String>,
    /// `forward_output = true`: programs' output also to the agent's own
    /// stdout/stderr, line by line with the process name (containers).
    pub forward_output: bool,
}

/// `console`, `enrollment_token[_file|_env]`, `advertise_url`, `tags`.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrollment {
    /// The console's base URL, without a trailing slash.
    pub console: String,
    /// Sent as the Bearer token of `POST /v1/agents/register`.
    pub token: Secret,
    /// Where the console reaches this agent (default from `listen`).
    pub advertise_url: String,
    pub tags: BTreeMap<String, String>,
    /// How the console's certificate is checked (`console_ca_file`,
    /// `console_fingerprint`; default the system roots).
    pub trust: Trust,
    /// Plain `http://` to a non-loopback console, allowed by
    /// `allow_insecure_console = true` (warned about at every start).
    pub insecure: bool,
    /// Where the credential the console issues is kept across restarts
    /// (`credential_file`, 0600); without it a restarted agent enrolls
    /// again with the enrollment token.
    pub credential_file: Option<PathBuf>,
}

/// How the agent checks its console's TLS certificate: the kit's one
/// trust type (`System`, `CaFile` or `Fingerprint` here).
pub use fleet_daemon::trust::Trust;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A secret string whose Debug never shows the value.
pub use fleet_daemon::Secret;

/// `autorestart = true | false | "unexpected"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoRestart {
    Always,
    Never,
    /// Restart only when the exit code is not in `exitcodes`.
    Unexpected,
}

/// `startretries = "infinite"`: a count no process reaches.
pub const INFINITE_RETRIES: u32 = u32::MAX;

/// `backoff = "linear" | "exponential"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    Linear,
    Exponential,
}

/// `leftovers = "stop" | "keep"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leftovers {
    /// Every process of the family still alive once the main has exited
    /// gets the stop signal, then SIGKILL after `stopwaitsecs`.
    Stop,
    /// Leave them be (supervisord's behaviour): for a program that means to
    /// leave a daemon behind.
    Keep,
}

/// `[program.X.health]`: how the agent decides a running process is
/// healthy (`check`), how often and how strictly.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthSpec {
    pub check: HealthCheck,
    /// Between the end of one check and the start of the next (checks of
    /// one process never overlap, so a slow target cannot pile them up).
    pub interval: Duration,
    /// A check that has not answered by then failed (an exec check is
    /// killed with its process group).
    pub timeout: Duration,
    /// From the spawn: failures in this window do not count, and checks
    /// run every `min(interval, 1s)` so a quick start is seen quickly.
    pub start_period: Duration,
    /// Consecutive failures that make it unhealthy.
    pub failures: u32,
    /// Consecutive successes that make it healthy.
    pub successes: u32,
    pub on_unhealthy: OnUnhealthy,
}

/// One kind of check, templates already expanded for the instance.
#[derive(Clone, Debug, PartialEq)]
pub enum HealthCheck {
    /// GET `url`; healthy when the status is in `expect_status` (default
    /// any 2xx or 3xx; redirects are not followed) and the body contains
    /// `expect_body` when set. An https target's certificate is not
    /// checked (as Kubernetes' probes).
    Http {
        url: String,
        expect_status: Vec<u16>,
        expect_body: Option<String>,
    },
    /// A TCP connection to `HOST:PORT` is accepted.
    Tcp { addr: String },
    /// The command exits 0; run as the program's user, in its directory,
    /// with its environment.
    Exec { argv: Vec<String> },
}

/// `on_unhealthy = "restart" | "none"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnUnhealthy {
    /// Only report it (status, events, metrics, the rolling gate).
    None,
    /// Restart it with its stop semantics; the exit records why.
    Restart,
}

/// Where one output stream goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSpec {
    /// `None` for `"NONE"` (output is still kept in the in-memory tail).
    pub path: Option<PathBuf>,
    /// Rotate when the file reaches this size; 0 disables rotation.
    pub maxbytes: u64,
    /// Rotated files kept (`path.1` … `path.N`); 0 truncates at maxbytes.
    pub backups: u32,
}

/// The account a process runs as (`user = "name"`), resolved at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (from the group database), primary gid included.
    pub groups: Vec<u32>,
    pub home: PathBuf,
}

/// One process instance (a program with numprocs = 3 gives three), with
/// every template and `${VAR}` already expanded. Two specs compare equal
/// exactly when a reload must leave the running process alone.
///
/// This is also the one list of program options: `config/program.rs` reads
/// each option into a `ProcessSpec` starting from [`ProcessSpec::default`]
/// (supervisord's defaults), and each instance takes that spec whole, with
/// only the per-instance fields (name, group, program, num, argv, directory,
/// environment, stdout, stderr) filled in. A new option is a field here
/// with its default, plus its key and its check in `program.rs`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    /// The process name (`process_name` expanded), unique on the host.
    pub name: String,
    /// Program group: the `[group.X]` holding the program, else the program name.
    pub group: String,
    /// The `[program.X]` section name.
    pub program: String,
    /// Instance number (`numprocs_start` + index).
    pub num: u32,
    /// argv[0] is the command as written; resolved against PATH at spawn.
    pub argv: Vec<String>,
    pub directory: Option<PathBuf>,
    pub user: Option<UserSpec>,
    pub umask: Option<u32>,
    /// Added to (and overriding) the agent's own environment, in order.
    pub environment: Vec<(String, String)>,
    pub priority: i32,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    pub startsecs: Duration,
    /// Failed starts before FATAL; `startretries = "infinite"` is
    /// `u32::MAX` ([`INFINITE_RETRIES`]), which is never reached.
    pub startretries: u32,
    /// The delay before retry k: `Linear` k seconds (supervisord's), or
    /// `Exponential` 2^(k-1) seconds; never more than `backoff_max`.
    pub backoff: Backoff,
    pub backoff_max: Duration,
    /// Signal number (validated), e.g. `libc::SIGTERM`.
    pub stopsignal: i32,
    pub stopwaitsecs: Duration,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    /// What happens to the family members left once the main process has
    /// exited (`leftovers = "stop" | "keep"`).
    pub leftovers: Leftovers,
    pub redirect_stderr: bool,
    pub stdout: LogSpec,
    /// Ignored when `redirect_stderr` is true.
    pub stderr: LogSpec,
    /// `[program.X.health]`, expanded for this instance.
    pub health: Option<HealthSpec>,
    /// Full names (`group:process`) of the processes this one waits for
    /// (`depends_on`), resolved and checked for cycles at load.
    pub depends_on: Vec<String>,
    /// `stdout_events_enabled` / `stderr_events_enabled`: its output also
    /// goes to listeners as `PROCESS_LOG_STDOUT` / `STDERR` events.
    pub stdout_events: bool,
    pub stderr_events: bool,
    /// Set for an `[eventlistener.X]` process: its stdin and stdout carry
    /// supervisord's listener protocol.
    pub listener: Option<ListenerSpec>,
}

/// What `[eventlistener.X]` adds to a program: its pool is X.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerSpec {
    /// The subscribed type names as written (upper-cased), for the API.
    pub events: Vec<String>,
    pub subs: crate::listener::event::Subs,
    /// Events the pool holds while no listener is ready (supervisord's
    /// default 10); a full buffer discards its oldest.
    pub buffer_size: usize,
}

impl ProcessSpec {
    /// `group:process`, the name the API uses.
    pub fn full_name(&self) -> String {
        format!("{}:{}", self.group, self.name)
    }

    /// Whether `other` differs from this spec only in what a running
    /// process can take without a restart (its health check and its
    /// start order).
    pub fn same_process(&self, other: &ProcessSpec) -> bool {
        let strip = |s: &ProcessSpec| ProcessSpec {
            health: None,
            depends_on: Vec::new(),
            ..s.clone()
        };
        strip(self) == strip(other)
    }
}

/// supervisord's defaults for every option (fleet's defaults are the same),
/// with no name, no command and no log files.
impl Default for ProcessSpec {
    fn default() -> Self {
        ProcessSpec {
            name: String::new(),
            group: String::new(),
            program: String::new(),
            num: 0,
            argv: Vec::new(),
            directory: None,
            user: None,
            umask: None,
            environment: Vec::new(),
            priority: 999,
            autostart: true,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            startsecs: Duration::from_secs(1),
            startretries: 3,
            backoff: Backoff::Linear,
            // Past supervisord's: its delay grows for ever; with its
            // default of 3 retries the cap is never reached.
            backoff_max: Duration::from_secs(60),
            stopsignal: libc::SIGTERM,
            stopwaitsecs: Duration::from_secs(10),
            stopasgroup: false,
            // supervisord: killasgroup defaults to stopasgroup.
            killasgroup: false,
            // Not supervisord's: it keeps them (its issue #1101).
            leftovers: Leftovers::Stop,
            redirect_stderr: false,
            stdout: LogSpec::default(),
            stderr: LogSpec::default(),
            health: None,
            depends_on: Vec::new(),
            stdout_events: false,
            stderr_events: false,
            listener: None,
        }
    }
}

#[cfg(test)]
impl ProcessSpec {
    /// A spec with supervisord's defaults and no log files, for tests.
    pub(crate) fn example(program: &str, name: &str, argv: &[&str]) -> ProcessSpec {
        ProcessSpec {
            name: name.into(),
            group: program.into(),
            program: program.into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            ..ProcessSpec::default()
        }
    }
}
