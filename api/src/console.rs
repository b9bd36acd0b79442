//! The console's wire types: hosts, the fleet picture, bulk operations and
//! agent registration. Process-level shapes are the agent's own
//! ([`ProcessInfo`], [`ActionResult`], [`Event`]) with a `host` added, so a
//! script reads the same fields whether it talks to an agent or the console.

use crate::action::{ActionResult, Verb};
use crate::event::Event;
use crate::process::ProcessInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Console token roles. Viewers read; operators read and act.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
}

/// Where the console learned of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostSource {
    /// Listed in console.toml.
    Config,
    /// Announced itself with an enrollment token.
    Registered,
}

/// One agent as the console sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Host groups (from console.toml) this host belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    pub source: HostSource,
    /// The console currently holds a live event stream to this agent.
    pub up: bool,
    /// Agent version, once seen.
    #[serde(default)]
    pub version: Option<String>,
    /// Last time the console heard from the agent (unix ms).
    #[serde(default)]
    pub last_seen: Option<u64>,
    /// How old the console's picture of this host is, in ms (0 when live).
    #[serde(default)]
    pub stale_ms: Option<u64>,
    /// Why the host is down, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Number of processes in the last picture.
    #[serde(default)]
    pub processes: usize,
}

/// `GET /v1/hosts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostsResponse {
    pub hosts: Vec<HostInfo>,
}

/// A process on a host: the agent's [`ProcessInfo`] plus `host`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetProcess {
    pub host: String,
    #[serde(flatten)]
    pub info: ProcessInfo,
}

/// `GET /v1/status?hosts=SEL&target=SEL`: answered from the console's
/// in-memory picture, never by fanning out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    pub hosts: Vec<HostInfo>,
    pub processes: Vec<FleetProcess>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// All selected hosts at once, `concurrency` at a time.
    #[default]
    Parallel,
    /// Batches of `batch` hosts; each must be healthy before the next.
    Rolling,
}

/// `POST /v1/ops`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRequest {
    pub action: Verb,
    /// Process selector (`all`, `group:celery`, `web`, `web:web_00`).
    pub target: String,
    /// Host selector (`web-*,@workers,role=worker`); absent means all hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<String>,
    /// Signal name for `signal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(default)]
    pub strategy: StrategyKind,
    /// Parallel: hosts in flight at once (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Rolling: batch size, `"N"` hosts or `"N%"` of the selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Rolling: stop after this many failed hosts (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<usize>,
    /// Per-host timeout in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// List what would be touched; touch nothing (and write no audit
    /// record: a plan is not an operation).
    #[serde(default)]
    pub dry_run: bool,
    /// Exactly these processes, each `HOST/GROUP:PROCESS` (a selection
    /// made on the page): one operation, however many names and hosts.
    /// `target` and `hosts` still bound it (the page sends `all` and the
    /// selection's hosts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only: Vec<String>,
}

/// Per-host verdict of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Not reached yet.
    Pending,
    /// Every process reached the verb's end state.
    Ok,
    /// The agent answered and some process failed, or the agent refused.
    Failed,
    /// The agent could not be reached in time.
    Unreachable,
    /// Not touched (a rolling operation stopped before this host, the
    /// selection matched nothing on it, or the console stopped before its
    /// turn).
    Skipped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    pub host: String,
    pub verdict: Verdict,
    /// Rolling: the 1-based batch this host is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default)]
    pub processes: Vec<ActionResult>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpState {
    Running,
    /// Finished; every host has a final verdict.
    Done,
    /// A rolling operation hit `max_failures`; later hosts are skipped.
    Aborted,
    /// The console stopped while the operation ran. Each host says what
    /// really happened: its recorded verdict, untouched (`skipped`), or,
    /// for a host in flight at that moment, what its agent showed once it
    /// could be asked (`pending` until then).
    Interrupted,
}

/// An operation, as `POST /v1/ops` answers it and `GET /v1/ops/{id}` reads
/// it back (also the audit record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub id: String,
    /// Name of the token that asked.
    pub who: String,
    pub request: OpRequest,
    pub state: OpState,
    pub created_at: u64,
    #[serde(default)]
    pub finished_at: Option<u64>,
    pub hosts: Vec<HostResult>,
    /// The caller's address (`IP:port`) as the console saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Op {
    /// True when every host that was to be touched ended ok.
    pub fn all_ok(&self) -> bool {
        self.state == OpState::Done
            && self
                .hosts
                .iter()
                .all(|h| matches!(h.verdict, Verdict::Ok | Verdict::Skipped))
    }
}

/// `GET /v1/ops`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpsResponse {
    pub ops: Vec<Op>,
    /// `offset` for the next page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

/// One item of the console's `GET /v1/events` stream. The SSE `event:`
/// field carries the kind (`process`, `host`, `op`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FleetEvent {
    /// A process state change on a host.
    Process {
        host: String,
        #[serde(flatten)]
        event: Event,
    },
    /// A host went up or down.
    Host { host: HostInfo },
    /// An operation progressed or finished.
    Op { op: Op },
}

/// `POST /v1/agents/register` (enrollment token) and heartbeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub name: String,
    /// Where the console reaches the agent's API.
    pub url: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub version: String,
    /// Token the console must present to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
}

/// `POST /v1/enroll/proof` on an agent: the console's challenge to a
/// registered agent, before it trusts the registered URL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofRequest {
    /// The name the agent registered.
    pub name: String,
    /// Random, chosen by the console.
    pub nonce: String,
}

/// The agent's answer: HMAC-SHA256 of name and nonce under its token
/// (`fleet_daemon::proof`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProofResponse {
    pub proof: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistrationResponse {
    /// Seconds between heartbeats the console expects.
    pub heartbeat_secs: u64,
    /// Issued when the agent registered with the enrollment token: its own
    /// credential, the Bearer of its later heartbeats (so the enrollment
    /// token only bootstraps and can be rotated without touching enrolled
    /// agents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ProcessState;

    #[test]
    fn op_request_defaults() {
        let r: OpRequest =
            serde_json::from_str(r#"{"action":"restart","target":"group:celery"}"#).unwrap();
        assert_eq!(r.strategy, StrategyKind::Parallel);
        assert!(!r.dry_run);
        assert_eq!(r.hosts, None);
    }

    #[test]
    fn fleet_process_is_flat() {
        let p = FleetProcess {
            host: "w-01".into(),
            info: ProcessInfo {
                pid: Some(42),
                started_at: Some(1),
                state_since: 2,
                description: "pid 42, uptime 0:00:01".into(),
                ..ProcessInfo::new("celery", "worker", "worker_00", ProcessState::Running)
            },
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["host"], "w-01");
        assert_eq!(v["name"], "celery:worker_00");
        assert_eq!(v["state"], "RUNNING");
        let back: FleetProcess = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
