//! The supervisor: one task that owns the process table.
//!
//! It runs on its own thread (a current-thread runtime), so no log flood or
//! HTTP load on the main runtime can delay a restart. It waits on a closed
//! set of events — SIGCHLD, SIGHUP/SIGTERM/SIGINT/SIGUSR2, commands from the
//! API (each with a reply channel), and the next real deadline (a state's,
//! or a leftover hunt's SIGKILL) — none can starve another — and never
//! ticks. Everything else talks to it through a [`Handle`]: commands go in
//! over an mpsc channel; the current picture comes out through a `watch` of
//! [`Snapshot`] and state changes through the [`EventLog`].

mod adopt;
mod events;
mod groups;
mod health;
mod leftovers;
mod lifecycle;
mod listeners;
mod listeners_handoff;
mod log_faults;
mod order;
mod previous;
mod publish;
mod reload;
mod run;
mod shutdown;
mod table;
mod verbs;
mod wait;

pub use adopt::Table;
pub use events::EventLog;
pub use groups::{GroupError, GroupOp, GroupReply, Reread};
pub use log_faults::report as report_log_faults;
pub use reload::{diff, Diff};
pub use run::{start, start_adopting, Adopted, Exit as SupervisorExit};
pub use table::{describe, unix_ms};
pub use wait::Acted;

use crate::config::Config;
use crate::logs::LogStream;
use fleet_api::{Outcome, ProcessInfo, ReloadResponse, Selector, Verb};
use std::collections::HashMap;
use std::sync::Arc;
use table::Proc;
use tokio::sync::{mpsc, oneshot, watch};

struct Owner {
    config: Config,
    procs: Vec<Proc>,
    /// Full name → index in `procs`.
    index: HashMap<String, usize>,
    /// Main pid → full name.
    pids: HashMap<u32, String>,
    events: Arc<EventLog>,
    /// Stdin, log pumps and spawn numbers (`lifecycle.rs`).
    spawning: lifecycle::Parts,
    agent_pid: u32,
    /// This agent's identity in spawn markers (see `previous.rs`).
    agent_id: String,
    /// The shutdown's progress (`shutdown.rs`).
    shutdown: shutdown::Parts,
    /// Leftover families and strays being stopped (`leftovers.rs`).
    leftovers: leftovers::Parts,
    /// The snapshot and events of this cycle (`publish.rs`).
    publishing: publish::Parts,
    /// Health checks in flight (`health.rs`).
    health: health::Parts,
    /// Starts held for their dependencies, start ranks (`order.rs`).
    order: order::Parts,
    /// Event listener pools and links (`listeners.rs`).
    listening: listeners::Parts,
}

/// One process as handlers see it.
#[derive(Clone)]
pub struct ProcSnap {
    /// Everything but the live fields (uptime text, cpu, memory), which the
    /// handler fills in when it answers.
    pub info: ProcessInfo,
    /// Spawn attempts so far (failed ones included); lets a waiter tell a
    /// fresh start from an old one.
    pub attempts: u64,
    pub startsecs: std::time::Duration,
    pub stopwaitsecs: std::time::Duration,
    /// Start order (lowest first); stops go in reverse.
    pub priority: i32,
    /// Start rank from `depends_on` (0: waits for nothing); orders
    /// before `priority`.
    pub rank: u32,
    /// A start is held until what it waits for is ready (`depends_on`).
    pub waiting: bool,
    pub stdout: Arc<LogStream>,
    /// The same stream as `stdout` with `redirect_stderr`.
    pub stderr: Arc<LogStream>,
}

/// The process table as last published.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// Sorted by full name.
    pub procs: Vec<ProcSnap>,
    pub shutting_down: bool,
}

impl Snapshot {
    pub fn get(&self, full_name: &str) -> Option<&ProcSnap> {
        self.procs.iter().find(|p| p.info.name == full_name)
    }
}

/// What the owner did for one process when it received an action.
#[derive(Clone, Debug)]
pub struct Touched {
    pub name: String,
    /// Spawn attempts before the action, to recognise the new instance.
    pub attempts_before: u64,
    /// Set when the outcome is already known (nothing to wait for).
    pub done: Option<(Outcome, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("{0}")]
    NoMatch(String),
    #[error("the agent is shutting down")]
    ShuttingDown,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("config invalid, nothing changed:\n{0}")]
    Invalid(String),
    #[error("the agent is shutting down")]
    ShuttingDown,
}

pub enum Command {
    Act {
        selector: Selector,
        verb: Verb,
        signal: Option<i32>,
        /// Also start what the selected processes wait for.
        with_deps: bool,
        reply: oneshot::Sender<Result<Vec<Touched>, ActError>>,
    },
    /// `config: None` re-reads the config file the agent started with.
    Reload {
        config: Option<Box<Config>>,
        reply: oneshot::Sender<Result<ReloadResponse, ReloadError>>,
    },
    /// supervisord's group-level config changes (the XML-RPC face).
    Groups {
        op: GroupOp,
        reply: oneshot::Sender<Result<GroupReply, GroupError>>,
    },
    /// supervisord's `sendRemoteCommEvent`: a `REMOTE_COMMUNICATION`
    /// event for the listeners.
    Remote {
        kind: String,
        data: String,
    },
    Shutdown,
    /// An in-place re-exec: answer with the table (or why not), then do
    /// nothing at all until `thaw` resolves (the exec failed) or the image
    /// is replaced.
    /// `config` is the config file read afresh: it must equal the one
    /// the table runs by, since the new image reads the file. Unless
    /// `listeners` (the new image carries them), no listener may run.
    Freeze {
        config: Box<Config>,
        listeners: bool,
        reply: oneshot::Sender<Result<Table, (&'static str, String)>>,
        thaw: oneshot::Receiver<Pipes>,
    },
}

/// Pipes the pumps gave back for a re-exec (`logs::handoff`).
pub type Pipes = Vec<(crate::logs::handoff::Tag, std::os::fd::OwnedFd)>;

/// Cheap to clone; what HTTP handlers hold.
#[derive(Clone)]
pub struct Handle {
    pub commands: mpsc::Sender<Command>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub events: Arc<EventLog>,
    pub host: String,
    pub started_at: u64,
    /// The TCP address the API is served on, if any (the bound port, even
    /// when the config asked for port 0).
    pub listen: Option<std::net::SocketAddr>,
}

impl Handle {
    /// Resolves once the supervisor has finished (after a shutdown), so
    /// endless streams (events, log follow) can end cleanly.
    pub fn finished(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut w = self.snapshot.clone();
        async move { while w.changed().await.is_ok() {} }
    }

    pub async fn act(
        &self,
        selector: Selector,
        verb: Verb,
        signal: Option<i32>,
        with_deps: bool,
    ) -> Result<Vec<Touched>, ActError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Act {
            selector,
            verb,
            signal,
            with_deps,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| ActError::ShuttingDown)?;
        rx.await.map_err(|_| ActError::ShuttingDown)?
    }

    pub async fn reload(&self, config: Option<Config>) -> Result<ReloadResponse, ReloadError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Reload {
            config: config.map(Box::new),
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| ReloadError::ShuttingDown)?;
        rx.await.map_err(|_| ReloadError::ShuttingDown)?
    }

    pub async fn groups(&self, op: GroupOp) -> Result<GroupReply, GroupError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Groups { op, reply })
            .await
            .map_err(|_| GroupError::ShuttingDown)?;
        rx.await.map_err(|_| GroupError::ShuttingDown)?
    }

    /// Raise a `REMOTE_COMMUNICATION` event; false once shutting down.
    pub async fn remote_event(&self, kind: String, data: String) -> bool {
        self.commands
            .send(Command::Remote { kind, data })
            .await
            .is_ok()
    }

    /// Ask the owner to stop every program and finish; returns at once.
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }

    /// Freeze the owner for a re-exec (`Command::Freeze`); sending the
    /// pipes the pumps gave back (or dropping the sender) thaws it.
    pub async fn freeze(
        &self,
        config: Config,
        listeners: bool,
    ) -> Result<(Table, oneshot::Sender<Pipes>), (&'static str, String)> {
        let (reply, rx) = oneshot::channel();
        let (thaw_tx, thaw) = oneshot::channel();
        let config = Box::new(config);
        self.commands
            .send(Command::Freeze {
                config,
                listeners,
                reply,
                thaw,
            })
            .await
            .map_err(|_| ("freeze", "the agent is shutting down".to_owned()))?;
        let table = rx
            .await
            .map_err(|_| ("freeze", "the agent is shutting down".to_owned()))??;
        Ok((table, thaw_tx))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }
}
