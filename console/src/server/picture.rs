//! The live picture of the fleet: per host, the last status the agent gave
//! plus every event since, whether the stream is live, and why not. Written
//! only by each host's follower task (and heartbeats); read by status,
//! hosts, metrics and the ops engine. Never does I/O.
//!
//! Architecture Invariant: `GET /v1/status` is answered from here; nothing
//! in this module waits on an agent.

use super::inventory::{HostEntry, Inventory};
use fleet_api::{
    AgentStatus, Event, FleetEvent, FleetProcess, HostCounts, HostInfo, HostSource, ProcessInfo,
    ProcessState, StateCount,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, Notify};

#[derive(Clone, Debug, Default)]
pub struct HostView {
    pub up: bool,
    pub error: Option<String>,
    pub last_seen: Option<u64>,
    /// When the host went down (or when the console started looking).
    pub down_since: u64,
    pub version: Option<String>,
    /// (pid, started_at) of the agent the picture came from.
    pub instance: Option<(u32, u64)>,
    /// Sorted by name.
    pub processes: Vec<ProcessInfo>,
    /// Registered hosts: last heartbeat (unix ms).
    pub heartbeat: Option<u64>,
    /// Times the follower's event stream broke off or could not be opened
    /// (each followed by a reconnect), since the console started.
    pub reconnects: u64,
    /// A fleet agent or a supervisord host.
    pub kind: fleet_api::HostKind,
}

pub struct Picture {
    hosts: RwLock<HashMap<String, HostView>>,
    bus: broadcast::Sender<(u64, FleetEvent)>,
    seq: AtomicU64,
    /// Registered hosts without a heartbeat this long are shown down.
    stale_after_ms: u64,
    nudges: Mutex<HashMap<String, Arc<Notify>>>,
}

pub use fleet_daemon::time::now_ms;

impl Picture {
    pub fn new(stale_after_ms: u64) -> Picture {
        Picture {
            hosts: RwLock::new(HashMap::new()),
            bus: broadcast::channel(4096).0,
            seq: AtomicU64::new(0),
            stale_after_ms,
            nudges: Mutex::default(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, HostView>> {
        self.hosts.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, HostView>> {
        self.hosts.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<(u64, FleetEvent)> {
        self.bus.subscribe()
    }

    pub fn publish(&self, e: FleetEvent) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.bus.send((seq, e));
    }

    /// Start tracking a host (down until its follower connects).
    pub fn track(&self, name: &str, heartbeat: Option<u64>) {
        let mut hosts = self.write();
        let v = hosts.entry(name.to_string()).or_insert_with(|| HostView {
            down_since: now_ms(),
            error: Some("connecting".into()),
            ..HostView::default()
        });
        if heartbeat.is_some() {
            v.heartbeat = heartbeat;
        }
    }

    /// Which daemon answers for `name` (set before it is followed).
    pub fn set_kind(&self, name: &str, kind: fleet_api::HostKind) {
        if let Some(v) = self.write().get_mut(name) {
            v.kind = kind;
        }
    }

    pub fn heartbeat(&self, name: &str, version: &str) {
        let mut hosts = self.write();
        if let Some(v) = hosts.get_mut(name) {
            v.heartbeat = Some(now_ms());
            v.version = Some(version.to_string());
        }
    }

    /// A heartbeat another console took (shared store), at `at`: newer
    /// than any this console knows? Then it counts here too.
    pub fn heard_elsewhere(&self, name: &str, at: u64) -> bool {
        let mut hosts = self.write();
        match hosts.get_mut(name) {
            Some(v) if v.heartbeat.is_some_and(|hb| hb < at) => {
                v.heartbeat = Some(at);
                true
            }
            _ => false,
        }
    }

    /// A fresh full status from the agent. Returns the previous instance.
    /// Processes that differ from what the picture held are published as
    /// process events (carrying the new copy), and a changed process list
    /// as a host event, so page and event readers follow a re-read too.
    pub fn set_status(&self, name: &str, st: AgentStatus) -> Option<(u32, u64)> {
        let mut procs = st.processes;
        procs.sort_by(|a, b| a.name.cmp(&b.name));
        let mut hosts = self.write();
        let v = hosts.entry(name.to_string()).or_default();
        let was_up = v.up;
        let prev = v.instance;
        v.up = true;
        v.error = None;
        v.last_seen = Some(now_ms());
        v.version = Some(st.version);
        v.instance = Some((st.pid, st.started_at));
        let same_list = v.processes.len() == procs.len()
            && v.processes
                .iter()
                .zip(&procs)
                .all(|(a, b)| a.name == b.name);
        let changed: Vec<Event> = match was_up && same_list {
            true => v
                .processes
                .iter()
                .zip(&procs)
                .filter(|(old, new)| !same_but_live_figures(old, new))
                .map(|(old, new)| Event {
                    seq: 0,
                    time: now_ms(),
                    name: new.name.clone(),
                    group: new.group.clone(),
                    from: old.state,
                    to: new.state,
                    pid: new.pid,
                    exit_status: new.exit_status.clone(),
                    description: new.description.clone(),
                    process: Some(Box::new(new.clone())),
                    removed: false,
                })
                .collect(),
            false => vec![],
        };
        v.processes = procs;
        drop(hosts);
        if !was_up || !same_list {
            self.publish_host(name);
        }
        for event in changed {
            self.publish(FleetEvent::Process {
                host: name.to_string(),
                event,
            });
        }
        prev
    }

    /// Apply one agent event. False when the process is unknown and the
    /// event does not carry it (an older agent's): the caller re-reads the
    /// status.
    pub fn apply(&self, host: &str, e: &Event) -> bool {
        let mut hosts = self.write();
        let Some(v) = hosts.get_mut(host) else {
            return false;
        };
        v.last_seen = Some(now_ms());
        let Some(p) = v.processes.iter_mut().find(|p| p.name == e.name) else {
            // New to the picture (a reload added it): an event that carries
            // it whole is enough; an older agent's is not.
            let Some(new) = e.process.as_ref().filter(|_| !e.removed) else {
                return e.removed;
            };
            let at = v.processes.partition_point(|p| p.name < new.name);
            v.processes.insert(at, (**new).clone());
            drop(hosts);
            self.publish(FleetEvent::Process {
                host: host.to_string(),
                event: e.clone(),
            });
            self.publish_host(host);
            return true;
        };
        // Events older than the status we hold are already in it.
        if e.time < p.state_since {
            return true;
        }
        if e.removed {
            v.processes.retain(|p| p.name != e.name);
            drop(hosts);
            self.publish(FleetEvent::Process {
                host: host.to_string(),
                event: e.clone(),
            });
            self.publish_host(host);
            return true;
        }
        match &e.process {
            // The agent's own copy after the change: take it whole, keeping
            // the last CPU/memory reading while the pid is the same.
            Some(now) => {
                let (cpu, rss) = match now.pid.is_some() && now.pid == p.pid {
                    true => (p.cpu_seconds, p.rss_bytes),
                    false => (None, None),
                };
                *p = (**now).clone();
                p.cpu_seconds = cpu;
                p.rss_bytes = rss;
            }
            // A note, not a state change (leftovers stopped, a log that
            // cannot be written): what it reports is in the agent's status,
            // so re-read that rather than touch state or its time.
            None if e.from == e.to => {
                drop(hosts);
                self.resync(host);
                self.publish(FleetEvent::Process {
                    host: host.to_string(),
                    event: e.clone(),
                });
                return true;
            }
            // An older agent: what the event itself says.
            None => {
                p.state = e.to;
                p.state_since = e.time;
                if e.to == ProcessState::Starting {
                    p.started_at = Some(e.time);
                }
                p.pid = if e.to.has_pid() {
                    e.pid.or(p.pid)
                } else {
                    None
                };
                if e.exit_status.is_some() {
                    p.exit_status = e.exit_status.clone();
                }
                p.description = e.description.clone();
            }
        }
        drop(hosts);
        self.publish(FleetEvent::Process {
            host: host.to_string(),
            event: e.clone(),
        });
        true
    }

    /// Ask `host`'s follower to re-read the agent's status: something
    /// changed that events do not carry (an operator's stop of an exited
    /// process changes only `wanted`; a reload adds or drops processes).
    pub fn resync(&self, host: &str) {
        self.nudge(host).notify_one();
    }

    /// What `host`'s follower waits on for [`Picture::resync`].
    pub fn nudge(&self, host: &str) -> Arc<Notify> {
        let mut n = self.nudges.lock().unwrap_or_else(|e| e.into_inner());
        n.entry(host.to_string()).or_default().clone()
    }

    /// Bytes arrived from the host (keep-alives included).
    pub fn touch(&self, host: &str) {
        if let Some(v) = self.write().get_mut(host) {
            v.last_seen = Some(now_ms());
        }
    }

    pub fn set_down(&self, host: &str, error: String) {
        let mut hosts = self.write();
        let v = hosts.entry(host.to_string()).or_default();
        let was_up = v.up;
        if was_up {
            v.down_since = now_ms();
        }
        v.up = false;
        v.error = Some(error);
        drop(hosts);
        if was_up {
            self.publish_host(host);
        }
    }

    /// `host`'s follower lost its stream (or could not open it) and will
    /// try again.
    pub fn reconnecting(&self, host: &str) {
        if let Some(v) = self.write().get_mut(host) {
            v.reconnects += 1;
        }
    }

    /// Each host's reconnect count (see [`HostView::reconnects`]).
    pub fn reconnects(&self) -> HashMap<String, u64> {
        self.read()
            .iter()
            .map(|(h, v)| (h.clone(), v.reconnects))
            .collect()
    }

    fn publish_host(&self, name: &str) {
        let info = self
            .read()
            .get(name)
            .map(|v| self.info_from(name, v, now_ms()));
        if let Some(mut info) = info {
            // The inventory fills these in for API answers; events carry
            // what the picture knows.
            info.url = String::new();
            self.publish(FleetEvent::Host { host: info });
        }
    }

    fn info_from(&self, name: &str, v: &HostView, now: u64) -> HostInfo {
        let up = self.reachable(v, now);
        let mut error = v.error.clone();
        if let Some(hb) = v.heartbeat.filter(|_| self.heartbeat_stale(v, now)) {
            error = Some(format!(
                "no heartbeat for {}s",
                now.saturating_sub(hb) / 1000
            ));
        }
        let stale_ms = if up {
            0
        } else {
            now.saturating_sub(v.last_seen.unwrap_or(v.down_since))
        };
        HostInfo {
            name: name.to_string(),
            url: String::new(),
            tags: Default::default(),
            groups: vec![],
            source: if v.heartbeat.is_some() {
                HostSource::Registered
            } else {
                HostSource::Config
            },
            kind: v.kind,
            up,
            version: v.version.clone(),
            last_seen: v.last_seen,
            stale_ms: Some(stale_ms),
            error: if up { None } else { error },
            processes: v.processes.len(),
        }
    }

    /// `HostInfo` for each named host, in the given order.
    pub fn host_infos(&self, inv: &Inventory, names: &[String]) -> Vec<HostInfo> {
        let now = now_ms();
        let hosts = self.read();
        names
            .iter()
            .filter_map(|n| inv.get(n))
            .map(|e| self.info_for(&hosts, &e, inv, now))
            .collect()
    }

    fn info_for(
        &self,
        hosts: &HashMap<String, HostView>,
        e: &HostEntry,
        inv: &Inventory,
        now: u64,
    ) -> HostInfo {
        let empty = HostView {
            down_since: now,
            error: Some("not followed yet".into()),
            ..HostView::default()
        };
        let v = hosts.get(&e.name).unwrap_or(&empty);
        let mut info = self.info_from(&e.name, v, now);
        info.url = e.url.clone();
        info.tags = e.tags.clone();
        info.groups = inv.groups_of(&e.name);
        info.source = e.source;
        info.kind = e.kind.host_kind();
        if info.version.is_none() {
            info.version = e.version.clone();
        }
        info
    }

    /// Processes of the named hosts that `keep` accepts, with their host.
    pub fn processes(
        &self,
        names: &[String],
        mut keep: impl FnMut(&ProcessInfo, &[ProcessInfo]) -> bool,
    ) -> Vec<FleetProcess> {
        let now = now_ms();
        let hosts = self.read();
        let mut out = Vec::new();
        for n in names {
            if let Some(v) = hosts.get(n) {
                for p in &v.processes {
                    if keep(p, &v.processes) {
                        out.push(self.project(n, v, p, now));
                    }
                }
            }
        }
        out
    }

    /// Per named host, the processes `keep` accepts counted by the state
    /// `processes` would show, and those of them `list` accepts (given
    /// that state) as `processes` projects them: a summary without a copy
    /// of every process.
    pub fn tally(
        &self,
        names: &[String],
        mut keep: impl FnMut(&ProcessInfo, &[ProcessInfo]) -> bool,
        mut list: impl FnMut(ProcessState, &ProcessInfo) -> bool,
    ) -> (Vec<HostCounts>, Vec<FleetProcess>) {
        let now = now_ms();
        let hosts = self.read();
        let (mut counts, mut listed) = (Vec::with_capacity(names.len()), Vec::new());
        for n in names {
            let mut states: Vec<StateCount> = Vec::new();
            if let Some(v) = hosts.get(n) {
                let reachable = self.reachable(v, now);
                for p in v.processes.iter().filter(|p| keep(p, &v.processes)) {
                    let state = if reachable {
                        p.state
                    } else {
                        ProcessState::Unknown
                    };
                    match states.iter_mut().find(|c| c.state == state) {
                        Some(c) => c.count += 1,
                        None => states.push(StateCount { state, count: 1 }),
                    }
                    if list(state, p) {
                        listed.push(self.project(n, v, p, now));
                    }
                }
            }
            counts.push(HostCounts {
                host: n.clone(),
                states,
            });
        }
        (counts, listed)
    }

    /// A process as the console can vouch for it: the agent's report while
    /// the host is reachable, `UNKNOWN` with the report as `last_known`
    /// once it is not (its programs may have died with it).
    fn project(&self, host: &str, v: &HostView, p: &ProcessInfo, now: u64) -> FleetProcess {
        if self.reachable(v, now) {
            FleetProcess::live(host, described(p, now))
        } else {
            FleetProcess::unknown(host, p.clone(), v.last_seen)
        }
    }

    /// Whether the console can vouch for `v`'s picture at `now`: a live
    /// stream and, for a registered host, a recent heartbeat.
    fn reachable(&self, v: &HostView, now: u64) -> bool {
        v.up && !self.heartbeat_stale(v, now)
    }

    fn heartbeat_stale(&self, v: &HostView, now: u64) -> bool {
        v.heartbeat
            .is_some_and(|hb| now.saturating_sub(hb) > self.stale_after_ms)
    }

    /// One host's processes as `GET /v1/status` shows them (`UNKNOWN` when
    /// the host is down): what a dry run lists.
    pub fn host_fleet_processes(&self, name: &str) -> Vec<FleetProcess> {
        let now = now_ms();
        self.read()
            .get(name)
            .map(|v| {
                v.processes
                    .iter()
                    .map(|p| self.project(name, v, p, now))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A copy of one host's processes, as the agent's status shows them.
    pub fn host_processes(&self, name: &str) -> Vec<ProcessInfo> {
        self.read()
            .get(name)
            .map(|v| v.processes.iter().map(|p| described(p, now_ms())).collect())
            .unwrap_or_default()
    }

    /// (up, down) host counts and processes per state, for /metrics.
    pub fn counts(&self, inv: &Inventory) -> (usize, usize, HashMap<ProcessState, usize>) {
        let names: Vec<String> = inv.all().iter().map(|h| h.name.clone()).collect();
        let infos = self.host_infos(inv, &names);
        let up = infos.iter().filter(|h| h.up).count();
        let mut by_state = HashMap::new();
        let now = now_ms();
        for v in self.read().values() {
            let reachable = self.reachable(v, now);
            for p in &v.processes {
                let state = if reachable {
                    p.state
                } else {
                    ProcessState::Unknown
                };
                *by_state.entry(state).or_insert(0) += 1;
            }
        }
        (up, infos.len() - up, by_state)
    }

    /// Whether `name`'s follower holds a live stream: its processes here
    /// are the agent's status read since this console started, plus every
    /// event since.
    pub fn is_up(&self, name: &str) -> bool {
        self.read().get(name).is_some_and(|v| v.up)
    }
}

/// A process as the agent's `/v1/status` shows it at `now`: a live
/// process's description is its timing, computed from the fields (as the
/// agent does), never text that was true when an event was sent.
fn described(p: &ProcessInfo, now: u64) -> ProcessInfo {
    let mut p = p.clone();
    if let Some(t) = p.timing(now) {
        p.description = t;
    }
    p
}

/// Equal apart from what the agent derives when asked (CPU, memory, a live
/// process's timing text): nothing a reader needs to hear about.
fn same_but_live_figures(a: &ProcessInfo, b: &ProcessInfo) -> bool {
    let strip = |p: &ProcessInfo| ProcessInfo {
        cpu_seconds: None,
        rss_bytes: None,
        description: match p.state.has_pid() {
            true => String::new(),
            false => p.description.clone(),
        },
        ..p.clone()
    };
    strip(a) == strip(b)
}
