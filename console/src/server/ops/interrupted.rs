//! Operations a console stopped under (SIGKILL, crash, power loss): on the
//! next start, what each host really went through.
//!
//! While an operation runs, `run.rs` appends a `host` audit record as each
//! host's call starts (`Started`, with the picture's copy of the processes
//! the op selects there) and as it ends (`Finished`, its verdict). On the
//! next start, [`close`] turns every op whose newest record is still
//! `running` into `interrupted`, before anything is served:
//! - a host with a `Finished` record keeps its verdict;
//! - a host never started is `skipped`, "untouched";
//! - a host whose call started and never finished was *in flight*: it stays
//!   `pending` until [`resolve`] has read its agent again (the follower's
//!   status since this start, then its events) and compared the selected
//!   processes with their copy from when the call started ([`classify`]).
//!
//! Nothing is retried and nothing is held: the interrupted op is not live,
//! so a new op over the same hosts is accepted at once.

use super::lock;
use crate::server::audit::Store;
use crate::server::picture::now_ms;
use crate::server::App;
use fleet_api::{
    ActionResult, FleetEvent, HostResult, Op, OpRequest, OpState, Outcome, ProcessInfo,
    ProcessState, Selector, Verb, Verdict,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The audit kind of per-host progress records.
pub(super) const HOST: &str = "host";

/// One `host` audit record (its `at` is when it was written).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub(super) enum HostRecord {
    /// The host's call is about to be made; the processes it selects, as
    /// the picture showed them then.
    Started { host: String, before: Vec<Seen> },
    /// The host's verdict.
    Finished { result: HostResult },
}

/// A process as the picture showed it when a host's call started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Seen {
    pub name: String,
    pub state: ProcessState,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub started_at: Option<u64>,
}

impl Seen {
    pub(super) fn of(p: &ProcessInfo) -> Seen {
        Seen {
            name: p.name.clone(),
            state: p.state,
            pid: p.pid,
            started_at: p.started_at,
        }
    }
}

/// Append one `host` record of `op` (id, who) to the audit log.
pub(super) fn record(
    store: &Store,
    id: &str,
    who: &str,
    rec: &HostRecord,
    at: u64,
) -> Result<(), String> {
    let json = serde_json::to_string(rec).map_err(|e| e.to_string())?;
    store.op_record(id, HOST, who, &json, at)
}

/// The processes `req` selects on `host`: its `only` names there, or the
/// target selector.
pub(super) fn selected<'a>(
    req: &OpRequest,
    selector: &Selector,
    host: &str,
    procs: &'a [ProcessInfo],
) -> Vec<&'a ProcessInfo> {
    if req.only.is_empty() {
        return selector.select(procs);
    }
    let names: Vec<&str> = req
        .only
        .iter()
        .filter_map(|s| s.split_once('/'))
        .filter(|(h, _)| *h == host)
        .map(|(_, p)| p)
        .collect();
    procs
        .iter()
        .filter(|p| names.contains(&p.name.as_str()))
        .collect()
}

/// A host whose call was in flight when the console stopped.
#[derive(Clone, Debug)]
pub struct InFlight {
    host: String,
    /// When its call started (console clock, unix ms).
    started: u64,
    before: Vec<Seen>,
}

/// An interrupted op with hosts still to resolve.
pub struct Unresolved {
    op: Op,
    in_flight: Vec<InFlight>,
}

/// On start, before serving: every op the previous console left running
/// becomes `interrupted` (its result record written now), each host
/// classified from its `host` records. Returns how many ops were marked
/// and those with hosts in flight, for [`resolve`] once followers run.
/// Also picks up ops a console stopped under while it was still resolving
/// them.
pub fn close(store: &Store, now: u64) -> Result<(usize, Vec<Unresolved>), String> {
    let mut closed = 0;
    let mut out = Vec::new();
    for mut op in store.unfinished_ops()? {
        let mut started: HashMap<String, (u64, Vec<Seen>)> = HashMap::new();
        let mut finished: HashMap<String, HostResult> = HashMap::new();
        for (at, json) in store.op_records(&op.id, HOST)? {
            match serde_json::from_str::<HostRecord>(&json) {
                Ok(HostRecord::Started { host, before }) => {
                    started.insert(host, (at, before));
                }
                Ok(HostRecord::Finished { result }) => {
                    finished.insert(result.host.clone(), result);
                }
                // Never refuse to start over one record: that host is
                // judged as if it had none (`audit verify` names a record
                // changed behind the console's back).
                Err(e) => tracing::warn!(op = %op.id, "unreadable host record: {e}"),
            }
        }
        let previous = op.clone();
        let mut in_flight = Vec::new();
        for h in op
            .hosts
            .iter_mut()
            .filter(|h| h.verdict == Verdict::Pending)
        {
            if let Some(r) = finished.remove(&h.host) {
                let batch = h.batch;
                *h = HostResult { batch, ..r };
            } else if let Some((at, before)) = started.remove(&h.host) {
                h.message = IN_FLIGHT_WAITING.into();
                in_flight.push(InFlight {
                    host: h.host.clone(),
                    started: at,
                    before,
                });
            } else {
                h.verdict = Verdict::Skipped;
                h.message = "untouched: the console stopped before this host's turn".into();
            }
        }
        if op.state == OpState::Running {
            op.state = OpState::Interrupted;
            op.finished_at = Some(now);
            closed += 1;
        }
        if op != previous {
            store.append("result", &op, now)?;
        }
        if !in_flight.is_empty() {
            out.push(Unresolved { op, in_flight });
        }
    }
    Ok((closed, out))
}

const IN_FLIGHT: &str = "in flight when the console stopped";
const IN_FLIGHT_WAITING: &str =
    "in flight when the console stopped; waiting for its agent to show what it did";

/// Resolve every in-flight host of `ops` in the background: once its
/// agent is followed again and the selected processes settled, classify,
/// write a result record and publish the op.
pub fn resolve(app: &Arc<App>, ops: Vec<Unresolved>) {
    for u in ops {
        tokio::spawn(resolve_op(app.clone(), u));
    }
}

async fn resolve_op(app: Arc<App>, u: Unresolved) {
    let Unresolved { op, in_flight } = u;
    let req = Arc::new(op.request.clone());
    // Wait as long as the op would have waited for the host.
    let wait = Duration::from_millis(
        req.timeout_ms
            .unwrap_or(app.config.host_timeout_secs * 1000),
    );
    let op = Arc::new(Mutex::new(op));
    let mut set = JoinSet::new();
    for f in in_flight {
        let (app, req) = (app.clone(), req.clone());
        set.spawn(async move {
            let r = resolve_host(&app, &req, &f, wait).await;
            (f.host, r)
        });
    }
    while let Some(done) = set.join_next().await {
        let Ok((host, r)) = done else { continue };
        let now = now_ms();
        let snapshot = {
            let mut o = lock(&op);
            if let Some(slot) = o.hosts.iter_mut().find(|h| h.host == host) {
                let batch = slot.batch;
                *slot = HostResult { batch, ..r };
            }
            o.clone()
        };
        tracing::info!(op = %snapshot.id, %host, "in-flight host resolved");
        if let Err(e) = app.store.append("result", &snapshot, now) {
            tracing::error!("op {}: {e}", snapshot.id);
        }
        app.picture.publish(FleetEvent::Op { op: snapshot });
    }
}

/// How often a resolver looks at the picture (memory only, no I/O).
const LOOK: Duration = Duration::from_millis(200);

async fn resolve_host(app: &App, req: &OpRequest, f: &InFlight, wait: Duration) -> HostResult {
    // A stored target that no longer parses (written by another version)
    // says nothing about which processes the call touched: judging every
    // process of the host instead would report on processes it never
    // selected.
    let selector: Selector = match req.target.parse() {
        Ok(s) => s,
        Err(e) => {
            return HostResult {
                host: f.host.clone(),
                verdict: Verdict::Failed,
                batch: None,
                message: format!(
                    "{IN_FLIGHT}; the operation's stored target {:?} cannot be read back ({e}): what it did is unknown",
                    req.target
                ),
                processes: vec![],
            }
        }
    };
    let deadline = Instant::now() + wait;
    // The picture starts empty at each start: up means the follower has
    // read the agent's status since, and follows its events.
    while !app.picture.is_up(&f.host) {
        if Instant::now() >= deadline {
            return HostResult {
                host: f.host.clone(),
                verdict: Verdict::Unreachable,
                batch: None,
                message: format!(
                    "{IN_FLIGHT}; its agent has not answered since (waited {} s): what it did is unknown",
                    wait.as_secs()
                ),
                processes: vec![],
            };
        }
        tokio::time::sleep(LOOK).await;
    }
    // The agent finishes a verb on its own: give it the op's timeout to
    // settle what it was doing.
    let deadline = Instant::now() + wait;
    loop {
        let procs = app.picture.host_processes(&f.host);
        let now = selected(req, &selector, &f.host, &procs);
        let moving = now.iter().any(|p| {
            matches!(
                p.state,
                ProcessState::Starting | ProcessState::Stopping | ProcessState::Backoff
            )
        });
        if !moving || Instant::now() >= deadline {
            return classify(&f.host, req.action, &now, f.started, &f.before);
        }
        tokio::time::sleep(LOOK).await;
    }
}

/// The true outcome of a host whose call was in flight: what its agent
/// shows (`now`, the processes the op selects there) against their copy
/// from when the call started (`before`; a process missing from it is
/// judged by its start time against `started`). A process is done when a
/// restart left it RUNNING as another instance (pid, start time), a start
/// left it RUNNING, a stop left it stopped. Every one done: ok; every one
/// exactly as before: skipped (the call never took effect); else failed,
/// naming the rest. A signal leaves no trace: failed, "unknown".
pub(super) fn classify(
    host: &str,
    verb: Verb,
    now: &[&ProcessInfo],
    started: u64,
    before: &[Seen],
) -> HostResult {
    let result = |verdict, message: String, processes| HostResult {
        host: host.to_string(),
        verdict,
        batch: None,
        message,
        processes,
    };
    if now.is_empty() {
        return result(
            Verdict::Skipped,
            format!("{IN_FLIGHT}; its agent now shows none of the processes the operation selects"),
            vec![],
        );
    }
    let word = match verb {
        Verb::Restart => "restarted",
        Verb::Start => "running",
        Verb::Stop => "stopped",
        Verb::Signal => {
            return result(
                Verdict::Failed,
                format!("{IN_FLIGHT}; a signal leaves no trace, so whether the agent sent it is unknown: check the processes"),
                vec![],
            )
        }
    };
    let was = |p: &ProcessInfo| before.iter().find(|b| b.name == p.name);
    // The instance the call found (same pid and start time), or, with no
    // copy from then, one that started before the call.
    let same_instance = |p: &ProcessInfo| match was(p) {
        Some(b) => p.pid == b.pid && p.started_at == b.started_at,
        None => p.started_at.is_some_and(|t| t < started),
    };
    let untouched = |p: &ProcessInfo| match was(p) {
        Some(b) => p.state == b.state && same_instance(p),
        None => p.state.has_pid() && same_instance(p),
    };
    let done = |p: &ProcessInfo| match verb {
        Verb::Restart => p.state == ProcessState::Running && !same_instance(p),
        Verb::Start => p.state == ProcessState::Running,
        _ => p.state.is_stopped(),
    };
    let processes: Vec<ActionResult> = now
        .iter()
        .map(|p| ActionResult {
            name: p.name.clone(),
            outcome: if done(p) {
                Outcome::Ok
            } else {
                Outcome::Failed
            },
            state: p.state,
            pid: p.pid,
            message: if done(p) {
                String::new()
            } else if untouched(p) {
                format!("not {word} since the call: still {}", p.state)
            } else {
                format!("{} since the call", p.state)
            },
        })
        .collect();
    let (m, n) = (now.len(), now.iter().filter(|p| done(p)).count());
    let shows = format!("{IN_FLIGHT}; its agent shows {n} of {m} process(es) {word} since");
    if n == m {
        return result(Verdict::Ok, shows, processes);
    }
    if now.iter().all(|p| untouched(p)) {
        return result(
            Verdict::Skipped,
            format!("{shows}: the call never took effect (untouched)"),
            processes,
        );
    }
    let rest: Vec<String> = processes
        .iter()
        .filter(|r| r.outcome != Outcome::Ok)
        .map(|r| format!("{} is {}", r.name, r.state))
        .collect();
    result(
        Verdict::Failed,
        format!("{shows}; not: {}", rest.join(", ")),
        processes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(name: &str, state: ProcessState, pid: Option<u32>, started_at: u64) -> ProcessInfo {
        ProcessInfo {
            pid,
            started_at: Some(started_at),
            state_since: started_at,
            ..ProcessInfo::new("celery", "worker", name, state)
        }
    }

    const RUN: ProcessState = ProcessState::Running;

    fn verdict(verb: Verb, before: &[ProcessInfo], now: &[ProcessInfo]) -> (Verdict, String) {
        let seen: Vec<Seen> = before.iter().map(Seen::of).collect();
        let now: Vec<&ProcessInfo> = now.iter().collect();
        let r = classify("h", verb, &now, 1_000, &seen);
        if verb != Verb::Signal {
            assert_eq!(r.processes.len(), now.len(), "one entry per process");
        }
        (r.verdict, r.message)
    }

    #[test]
    fn restart_in_flight_is_judged_by_instance() {
        let before = [proc("a", RUN, Some(10), 500), proc("b", RUN, Some(11), 500)];
        // Both restarted: ok, and says so.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[
                proc("a", RUN, Some(20), 1_100),
                proc("b", RUN, Some(21), 1_200),
            ],
        );
        assert_eq!(v, Verdict::Ok);
        assert!(m.contains("in flight when the console stopped"), "{m}");
        assert!(m.contains("2 of 2 process(es) restarted since"), "{m}");
        // Neither touched: skipped, untouched.
        let (v, m) = verdict(Verb::Restart, &before, &before);
        assert_eq!(v, Verdict::Skipped);
        assert!(m.contains("0 of 2") && m.contains("untouched"), "{m}");
        // One restarted, one still the old instance: failed, naming it.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[proc("a", RUN, Some(20), 1_100), before[1].clone()],
        );
        assert_eq!(v, Verdict::Failed);
        assert!(
            m.contains("1 of 2") && m.contains("celery:b is RUNNING"),
            "{m}"
        );
        // Restarted but did not come up: failed.
        let (v, m) = verdict(
            Verb::Restart,
            &before,
            &[
                proc("a", RUN, Some(20), 1_100),
                proc("b", ProcessState::Fatal, None, 1_100),
            ],
        );
        assert_eq!(v, Verdict::Failed);
        assert!(m.contains("celery:b is FATAL"), "{m}");
        // No copy from the call's start: judged by start time.
        let (v, _) = verdict(Verb::Restart, &[], &[proc("a", RUN, Some(20), 1_100)]);
        assert_eq!(v, Verdict::Ok);
        let (v, _) = verdict(Verb::Restart, &[], &[proc("a", RUN, Some(10), 500)]);
        assert_eq!(v, Verdict::Skipped);
    }

    #[test]
    fn stop_start_signal_and_nothing_selected() {
        let running = [proc("a", RUN, Some(10), 500)];
        let stopped = [proc("a", ProcessState::Stopped, None, 500)];
        assert_eq!(verdict(Verb::Stop, &running, &stopped).0, Verdict::Ok);
        assert_eq!(verdict(Verb::Stop, &running, &running).0, Verdict::Skipped);
        assert_eq!(verdict(Verb::Start, &stopped, &running).0, Verdict::Ok);
        assert_eq!(verdict(Verb::Start, &stopped, &stopped).0, Verdict::Skipped);
        // Already running before a start: done all the same.
        assert_eq!(verdict(Verb::Start, &running, &running).0, Verdict::Ok);
        let (v, m) = verdict(Verb::Signal, &running, &running);
        assert_eq!(v, Verdict::Failed);
        assert!(m.contains("unknown"), "{m}");
        let r = classify("h", Verb::Restart, &[], 1_000, &[]);
        assert_eq!(r.verdict, Verdict::Skipped);
        assert!(r.message.contains("none of the processes"), "{}", r.message);
    }

    /// The cost of per-host records for a 500-host op (a record as each
    /// call starts and ends: 1,000 transactions). A measurement, not a
    /// check: `cargo test -p fleet-console --lib -- --ignored
    /// host_records_cost --nocapture`.
    #[test]
    #[ignore]
    fn host_records_cost() {
        let dir = tempfile::tempdir_in(std::env::var("COST_DIR").unwrap_or(".".into())).unwrap();
        let s = Store::open(dir.path()).unwrap();
        let hosts: Vec<String> = (0..500).map(|i| format!("host-{i:03}")).collect();
        let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let o = op(&names);
        s.append_intent(&o, 1).unwrap();
        let before: Vec<Seen> = ["a", "b"]
            .iter()
            .map(|n| Seen::of(&proc(n, RUN, Some(10), 0)))
            .collect();
        let mut each = Vec::new();
        let t0 = std::time::Instant::now();
        for h in &hosts {
            for rec in [
                HostRecord::Started {
                    host: h.clone(),
                    before: before.clone(),
                },
                HostRecord::Finished {
                    result: HostResult {
                        host: h.clone(),
                        verdict: Verdict::Ok,
                        batch: None,
                        message: String::new(),
                        processes: vec![],
                    },
                },
            ] {
                let t = std::time::Instant::now();
                record(&s, &o.id, &o.who, &rec, 2).unwrap();
                each.push(t.elapsed());
            }
        }
        let total = t0.elapsed();
        each.sort();
        let t1 = std::time::Instant::now();
        let (n, _) = close(&s, 3).unwrap();
        println!(
            "1000 host records: total {total:?}, p50 {:?}, p99 {:?}, max {:?}; close() of the 500-host op: {:?} ({n})",
            each[500],
            each[990],
            each[999],
            t1.elapsed()
        );
    }

    fn op(hosts: &[&str]) -> Op {
        Op {
            id: "op-1".into(),
            who: "ops".into(),
            request: serde_json::from_str(r#"{"action":"restart","target":"all"}"#).unwrap(),
            state: OpState::Running,
            created_at: 1,
            finished_at: None,
            hosts: hosts
                .iter()
                .map(|h| HostResult {
                    host: h.to_string(),
                    verdict: Verdict::Pending,
                    batch: Some(1),
                    message: String::new(),
                    processes: vec![],
                })
                .collect(),
            source: Some("127.0.0.1:5".into()),
        }
    }

    /// Done, in flight and untouched hosts from the `host` records; the
    /// op stays open until its in-flight host is resolved, across starts.
    #[test]
    fn close_classifies_hosts_from_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let o = op(&["done", "flying", "never"]);
        s.append_intent(&o, 1).unwrap();
        let before = vec![Seen::of(&proc("a", RUN, Some(10), 0))];
        for h in ["done", "flying"] {
            let rec = HostRecord::Started {
                host: h.into(),
                before: before.clone(),
            };
            record(&s, &o.id, &o.who, &rec, 2).unwrap();
        }
        let ok = HostResult {
            host: "done".into(),
            verdict: Verdict::Ok,
            batch: None,
            message: String::new(),
            processes: vec![],
        };
        record(&s, &o.id, &o.who, &HostRecord::Finished { result: ok }, 3).unwrap();
        let (n, open) = close(&s, 9).unwrap();
        assert_eq!((n, open.len()), (1, 1));
        let got = s.get("op-1").unwrap().unwrap();
        assert_eq!(got.state, OpState::Interrupted);
        assert_eq!(got.finished_at, Some(9));
        assert_eq!(got.source.as_deref(), Some("127.0.0.1:5"));
        let v: Vec<(Verdict, Option<usize>)> =
            got.hosts.iter().map(|h| (h.verdict, h.batch)).collect();
        assert_eq!(
            v,
            [
                (Verdict::Ok, Some(1)),
                (Verdict::Pending, Some(1)),
                (Verdict::Skipped, Some(1))
            ]
        );
        assert!(got.hosts[1].message.starts_with("in flight"));
        assert!(got.hosts[2].message.starts_with("untouched"));
        let f = &open[0].in_flight;
        assert_eq!(
            (f.len(), f[0].host.as_str(), f[0].started),
            (1, "flying", 2)
        );
        assert_eq!(f[0].before, before);
        // Stopped again before resolving: the next start resumes it, and
        // writes nothing new (nothing changed).
        let (n, open) = close(&s, 10).unwrap();
        assert_eq!((n, open.len()), (0, 1));
        assert_eq!(s.get("op-1").unwrap().unwrap().finished_at, Some(9));
        assert_eq!(s.verify().unwrap().0, 5);
    }
}
