//! The console's wire types: hosts, the fleet picture, bulk operations and
//! agent registration. Process-level shapes are the agent's own
//! ([`ProcessInfo`], [`ActionResult`], [`Event`]) with a `host` added, so a
//! script reads the same fields whether it talks to an agent or the console.

use crate::action::{ActionResult, Verb};
use crate::event::Event;
use crate::process::{ProcessInfo, ProcessState, Wanted};
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

/// Which daemon manages a host: a fleet agent, or supervisord polled over
/// XML-RPC while an estate moves to fleet (`kind` in console.toml).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    #[default]
    Fleet,
    Supervisord,
}

impl HostKind {
    /// The name in console.toml and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HostKind::Fleet => "fleet",
            HostKind::Supervisord => "supervisord",
        }
    }
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
    /// `fleet` (also when absent: older consoles) or `supervisord`.
    #[serde(default)]
    pub kind: HostKind,
    /// The console currently holds a live event stream to this agent (a
    /// supervisord host: its last poll was answered).
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
    /// Set when the host is down: nobody can know the process's state, so
    /// `info.state` is `UNKNOWN`, `info.pid` is absent, and this is what the
    /// agent last reported, as of the host's last contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known: Option<LastKnown>,
}

/// A down host's process as its agent last reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastKnown {
    pub state: ProcessState,
    pub pid: Option<u32>,
    /// Unix ms of the console's last contact with the agent.
    pub as_of: Option<u64>,
}

impl FleetProcess {
    /// A live host's process, as its agent reports it.
    pub fn live(host: &str, info: ProcessInfo) -> FleetProcess {
        FleetProcess {
            host: host.to_string(),
            info,
            last_known: None,
        }
    }

    /// A down host's process: `UNKNOWN`, no pid, no running time, with the
    /// last report kept apart in `last_known`.
    pub fn unknown(host: &str, mut info: ProcessInfo, as_of: Option<u64>) -> FleetProcess {
        let last_known = LastKnown {
            state: info.state,
            pid: info.pid,
            as_of,
        };
        info.state = ProcessState::Unknown;
        info.pid = None;
        info.cpu_seconds = None;
        info.rss_bytes = None;
        info.description = format!(
            "host unreachable; last known {}{}",
            last_known.state,
            last_known
                .pid
                .map(|p| format!(", pid {p}"))
                .unwrap_or_default()
        );
        FleetProcess {
            host: host.to_string(),
            info,
            last_known: Some(last_known),
        }
    }
}

/// `GET /v1/status?hosts=SEL&target=SEL`: answered from the console's
/// in-memory picture, never by fanning out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    pub hosts: Vec<HostInfo>,
    pub processes: Vec<FleetProcess>,
}

/// `GET /v1/status/summary?hosts=SEL&target=SEL&all_below=N`: the fleet
/// in a size a person reads at any scale (`GET /v1/status` carries every
/// process: 36 MiB at 5,000 hosts × 20).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetSummary {
    pub hosts: Vec<HostInfo>,
    /// Per host, in `hosts` order, its selected processes per state as
    /// `GET /v1/status` shows them (`UNKNOWN` on an unreachable host).
    pub counts: Vec<HostCounts>,
    /// Every selected process when there are at most `all_below` of them
    /// (`complete`); otherwise only the [`FleetSummary::troubled`] ones.
    pub processes: Vec<FleetProcess>,
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostCounts {
    pub host: String,
    pub states: Vec<StateCount>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateCount {
    pub state: ProcessState,
    pub count: usize,
}

impl FleetSummary {
    /// What an operator must look at: neither RUNNING nor STOPPED as
    /// wanted. A process on an unreachable host is not listed (its state
    /// is not known; the host's own entry says why).
    pub fn troubled(p: &ProcessInfo) -> bool {
        match p.state {
            ProcessState::Running | ProcessState::Unknown => false,
            ProcessState::Stopped => p.wanted != Wanted::Stopped,
            _ => true,
        }
    }

    /// Selected processes per state over the whole selection, in
    /// [`ProcessState::ALL`] order.
    pub fn totals(&self) -> Vec<StateCount> {
        let mut out: Vec<StateCount> = Vec::new();
        for c in self.counts.iter().flat_map(|h| &h.states) {
            match out.iter_mut().find(|o| o.state == c.state) {
                Some(o) => o.count += c.count,
                None => out.push(*c),
            }
        }
        let rank = |s: ProcessState| {
            ProcessState::ALL
                .iter()
                .position(|a| *a == s)
                .unwrap_or(usize::MAX)
        };
        out.sort_by_key(|c| rank(c.state));
        out
    }
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
    /// start/restart: also start, on each host, what the processes wait
    /// for (`depends_on`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub with_deps: bool,
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

impl HostResult {
    /// A host's verdict outside any batch.
    pub fn new(
        host: &str,
        verdict: Verdict,
        message: String,
        processes: Vec<ActionResult>,
    ) -> HostResult {
        HostResult {
            host: host.to_string(),
            verdict,
            batch: None,
            message,
            processes,
        }
    }
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

/// `GET /v1/ops`: newest first. Each host's `processes` is left empty
/// here (the page stays small at thousands of hosts); `GET /v1/ops/{id}`
/// has them.
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

    #[test]
    fn host_kind_defaults_to_fleet() {
        let old = r#"{"name":"w","url":"http://w:1","source":"config","up":true}"#;
        let h: HostInfo = serde_json::from_str(old).unwrap();
        assert_eq!(h.kind, HostKind::Fleet);
        let mut v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["kind"], "fleet");
        v["kind"] = "supervisord".into();
        let h: HostInfo = serde_json::from_value(v).unwrap();
        assert_eq!(h.kind, HostKind::Supervisord);
    }

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
            last_known: None,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["host"], "w-01");
        assert_eq!(v["name"], "celery:worker_00");
        assert_eq!(v["state"], "RUNNING");
        assert!(v.get("last_known").is_none());
        let back: FleetProcess = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);

        // A down host's process: UNKNOWN, no pid, no timing, the report
        // kept apart.
        let u = FleetProcess::unknown("w-01", p.info.clone(), Some(7));
        let v = serde_json::to_value(&u).unwrap();
        assert_eq!(v["state"], "UNKNOWN");
        assert!(v["pid"].is_null());
        assert_eq!(v["last_known"]["state"], "RUNNING");
        assert_eq!(v["last_known"]["pid"], 42);
        assert_eq!(v["last_known"]["as_of"], 7);
        assert_eq!(u.info.timing(10_000), None);
        assert_eq!(
            u.info.description,
            "host unreachable; last known RUNNING, pid 42"
        );
    }
}
