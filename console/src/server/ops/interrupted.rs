//! Operations a console stopped under (SIGKILL, crash, power loss): on the
//! next start, what each host really went through.
//!
//! While an operation runs, `run.rs` appends a journal record
//! (`journal.rs`) as each host's call starts (`Started`, with the
//! picture's copy of the processes the op selects there) and as it ends
//! (`Finished`, its verdict). On the
//! next start, [`close`] turns every op whose newest record is still
//! `running` into `interrupted`, before anything is served:
//! - a host with a `Finished` record keeps its verdict;
//! - a host never started is `skipped`, "untouched";
//! - a host whose call started and never finished was *in flight*: it stays
//!   `pending` until [`resolve`] has read its agent again (the follower's
//!   status since this start, then its events) and compared the selected
//!   processes with their copy from when the call started
//!   (`classify.rs`). The stored request is read with the same
//!   `Rules::read` that planned it; one that cannot be read back fails
//!   those hosts with the reason, never widens to other processes.
//!
//! Nothing is retried and nothing is held: the interrupted op is not live,
//! so a new op over the same hosts is accepted at once.

use super::classify::{classify, IN_FLIGHT};
use super::journal::{self, Seen};
use super::lock;
use super::plan::{Defaults, Rules};
use crate::server::picture::now_ms;
use crate::server::store::{Store, StoreError};
use crate::server::App;
use fleet_api::{FleetEvent, HostResult, Op, OpState, ProcessState, Verdict};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A host whose call was in flight when the console stopped.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub(super) host: String,
    /// When its call started (console clock, unix ms).
    pub(super) started: u64,
    pub(super) before: Vec<Seen>,
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
pub fn close(store: &Store, now: u64) -> Result<(usize, Vec<Unresolved>), StoreError> {
    close_ops(store, journal::unfinished(store)?, now)
}

/// With a shared store: ops taken over that cannot be resumed (their
/// stored request no longer reads back), or that a console was still
/// resolving when it stopped: closed as at a start and their in-flight
/// hosts resolved from their agents. Nothing is redone: hosts already
/// done keep their verdicts, hosts never started are `skipped`.
pub(super) fn close_taken(app: &Arc<App>, ops: Vec<Op>) -> Result<usize, StoreError> {
    let (closed, unresolved) = close_ops(&app.store, ops, now_ms())?;
    for u in &unresolved {
        tracing::warn!(op = %u.op.id, "took over an operation whose console stopped; resolving its in-flight hosts");
    }
    resolve(app, unresolved);
    Ok(closed)
}

fn close_ops(
    store: &Store,
    ops: Vec<Op>,
    now: u64,
) -> Result<(usize, Vec<Unresolved>), StoreError> {
    let mut closed = 0;
    let mut out = Vec::new();
    for mut op in ops {
        let journal::Hosts {
            mut started,
            mut finished,
            ..
        } = journal::read(store, &op.id)?;
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
            journal::result(store, &op, now)?;
        }
        if !in_flight.is_empty() {
            out.push(Unresolved { op, in_flight });
        }
    }
    Ok((closed, out))
}

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
    // Read once for all its hosts, as `plan()` read it.
    let rules = Rules::read(&op.request, Defaults::of(&app.config))
        .map_err(|e| e.1)
        .map(Arc::new);
    let op = Arc::new(Mutex::new(op));
    let mut set = JoinSet::new();
    for f in in_flight {
        let (app, rules) = (app.clone(), rules.clone());
        set.spawn(async move {
            let r = match rules {
                Ok(rules) => resolve_host(&app, &rules, &f).await,
                Err(why) => unreadable(&f.host, &why),
            };
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
        if let Err(e) = journal::result(&app.store, &snapshot, now) {
            tracing::error!("op {}: {e}", snapshot.id);
        }
        app.picture.publish(FleetEvent::Op { op: snapshot });
    }
}

/// How often a resolver looks at the picture (memory only, no I/O).
const LOOK: Duration = Duration::from_millis(200);

/// An in-flight host of an op whose stored request cannot be read back
/// (written by another version, or changed): which processes its call
/// touched is unknown, so it is failed with the reason. Judging every
/// process of the host instead would report on ones it never selected.
fn unreadable(host: &str, why: &str) -> HostResult {
    HostResult {
        host: host.to_string(),
        verdict: Verdict::Failed,
        batch: None,
        message: format!(
            "{IN_FLIGHT}; the operation's stored request cannot be read back ({why}): what it did is unknown"
        ),
        processes: vec![],
    }
}

pub(super) async fn resolve_host(app: &App, rules: &Rules, f: &InFlight) -> HostResult {
    // Wait as long as the op would have waited for the host.
    let wait = rules.timeout;
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
        let now = rules.selected(&f.host, &procs);
        let moving = now.iter().any(|p| {
            matches!(
                p.state,
                ProcessState::Starting | ProcessState::Stopping | ProcessState::Backoff
            )
        });
        if !moving || Instant::now() >= deadline {
            return classify(&f.host, rules.verb, &now, f.started, &f.before);
        }
        tokio::time::sleep(LOOK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::ProcessInfo;

    fn seen(name: &str) -> Seen {
        Seen::of(&ProcessInfo {
            pid: Some(10),
            ..ProcessInfo::new("celery", "worker", name, ProcessState::Running)
        })
    }

    /// A stored request this version cannot read fails its in-flight
    /// hosts with the reason; it never widens to other processes. (A bad
    /// `only` entry used to be dropped, leaving the host judged on nothing
    /// selected: "skipped".)
    #[test]
    fn unreadable_stored_request_is_an_error_not_all() {
        let d = Defaults {
            concurrency: 4,
            timeout: Duration::from_secs(1),
        };
        for json in [
            r#"{"action":"restart","target":"group:"}"#,
            r#"{"action":"restart","target":"all","only":["no-slash"]}"#,
            r#"{"action":"signal","target":"all","signal":"SIGNOPE"}"#,
            r#"{"action":"restart","target":"all","strategy":"rolling","batch":"0%"}"#,
        ] {
            let req: fleet_api::OpRequest = serde_json::from_str(json).unwrap();
            let why = Rules::read(&req, d).map(|_| ()).unwrap_err().1;
            let r = unreadable("h", &why);
            assert_eq!(r.verdict, Verdict::Failed, "{json}");
            assert!(r.message.contains("cannot be read back"), "{}", r.message);
            assert!(r.message.contains(&why), "{}", r.message);
            assert!(r.processes.is_empty());
        }
    }

    fn op(hosts: &[&str]) -> Op {
        super::super::test_op(hosts, Some(1), Some("127.0.0.1:5"))
    }

    /// Done, in flight and untouched hosts from the `host` records; the
    /// op stays open until its in-flight host is resolved, across starts.
    #[test]
    fn close_classifies_hosts_from_their_records() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let o = op(&["done", "flying", "never"]);
        s.append_intent(&o, 1).unwrap();
        let before = vec![seen("a")];
        for h in ["done", "flying"] {
            let rec = journal::Record::Started {
                host: h.into(),
                before: before.clone(),
                fence: None,
            };
            journal::write(&s, &o.id, &o.who, &rec, 2).unwrap();
        }
        let ok = HostResult {
            host: "done".into(),
            verdict: Verdict::Ok,
            batch: None,
            message: String::new(),
            processes: vec![],
        };
        let rec = journal::Record::Finished { result: ok };
        journal::write(&s, &o.id, &o.who, &rec, 3).unwrap();
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
