//! The running operations: overlap refusal, the audit record before any
//! host is touched, progress for long-polls, and the history.

use super::plan::batch;
use super::{lock, run, Refused};
use crate::server::picture::now_ms;
use crate::server::App;
use fleet_api::{
    ActionResult, ErrorCode, FleetEvent, HostResult, Op, OpRequest, OpState, Outcome, Selector,
    StrategyKind, Verdict,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a `GET /v1/ops/{id}?after=N` waits.
pub const LONG_POLL: Duration = Duration::from_secs(25);

pub(super) struct LiveOp {
    op: Arc<Mutex<Op>>,
    progress: watch::Receiver<u64>,
    hosts: BTreeSet<String>,
    target: Selector,
    touches: HashSet<(String, String)>,
}

#[derive(Default)]
pub struct Ops {
    pub(super) live: Mutex<HashMap<String, LiveOp>>,
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
}

fn new_id() -> String {
    format!("op-{:x}-{:06x}", now_ms(), fastrand::u32(..0xff_ffff))
}

fn count_final(op: &Op) -> usize {
    op.hosts
        .iter()
        .filter(|h| h.verdict != Verdict::Pending)
        .count()
}

impl Ops {
    /// Validate, audit and start an operation; returns it as first recorded.
    /// `source` is the caller's address, kept with the op.
    pub fn create(
        app: &Arc<App>,
        who: &str,
        source: Option<String>,
        req: OpRequest,
    ) -> Result<Op, Refused> {
        let this = &app.ops;
        let plan = this.plan(app, &req)?;
        let now = now_ms();
        let mut op = Op {
            id: new_id(),
            who: who.to_string(),
            request: req.clone(),
            state: OpState::Running,
            created_at: now,
            finished_at: None,
            hosts: plan
                .hosts
                .iter()
                .map(|h| HostResult {
                    host: h.clone(),
                    verdict: Verdict::Pending,
                    batch: None,
                    message: String::new(),
                    processes: vec![],
                })
                .collect(),
            source,
        };
        if req.strategy == StrategyKind::Rolling {
            let n = batch(&req)?.size(plan.hosts.len());
            for (i, h) in op.hosts.iter_mut().enumerate() {
                h.batch = Some(i / n + 1);
            }
        }
        if req.dry_run {
            op.state = OpState::Done;
            op.finished_at = Some(now);
            for h in &mut op.hosts {
                let procs = app.picture.host_processes(&h.host);
                h.verdict = Verdict::Skipped;
                h.processes = plan
                    .selector
                    .select(&procs)
                    .into_iter()
                    .filter(|p| {
                        req.only.is_empty()
                            || plan.touches.contains(&(h.host.clone(), p.name.clone()))
                    })
                    .map(|p| ActionResult {
                        name: p.name.clone(),
                        outcome: Outcome::Already,
                        state: p.state,
                        pid: p.pid,
                        message: format!("dry run: would {}", req.action),
                    })
                    .collect();
                h.message = if procs.is_empty() {
                    "dry run: host has no known processes (down or not yet seen)".into()
                } else {
                    format!(
                        "dry run: would {} {} process(es)",
                        req.action,
                        h.processes.len()
                    )
                };
            }
            // A plan changes nothing and is not an operation: it is not in
            // the audit log (the operation, if confirmed, will be).
            this.count("dry_run");
            return Ok(op);
        }
        let (tx, rx) = watch::channel(0u64);
        let shared = Arc::new(Mutex::new(op.clone()));
        {
            let mut live = lock(&this.live);
            let host_set: BTreeSet<String> = plan.hosts.iter().cloned().collect();
            for (id, other) in live.iter() {
                if other.hosts.is_disjoint(&host_set) {
                    continue;
                }
                let overlap = other.target == plan.selector
                    || other.target == Selector::All
                    || plan.selector == Selector::All
                    || !other.touches.is_disjoint(&plan.touches);
                if overlap {
                    return Err(Refused(
                        ErrorCode::Conflict,
                        format!(
                            "operation {id} ({} {}) is still running on some of these hosts and processes; wait for it (GET /v1/ops/{id})",
                            lock(&other.op).request.action,
                            other.target
                        ),
                    ));
                }
            }
            // Intent before act: refuse if the audit log cannot take it.
            app.store
                .append_intent(&op, now)
                .map_err(|e| Refused(ErrorCode::Internal, format!("{e}; nothing was done")))?;
            live.insert(
                op.id.clone(),
                LiveOp {
                    op: shared.clone(),
                    progress: rx,
                    hosts: host_set,
                    target: plan.selector.clone(),
                    touches: plan.touches,
                },
            );
        }
        app.picture.publish(FleetEvent::Op { op: op.clone() });
        let app2 = app.clone();
        let watched = shared.clone();
        let task = tokio::spawn(async move { run::run(app2, shared, tx, plan.selector).await });
        // A panic in the op task must not leave the op "running" forever
        // (holding its hosts: every overlapping op would get 409).
        let app3 = app.clone();
        tokio::spawn(async move {
            if let Err(e) = task.await {
                if e.is_panic() {
                    fail_panicked(&app3, &watched);
                }
            }
        });
        Ok(op)
    }

    pub(crate) fn count(&self, outcome: &'static str) {
        *lock(&self.outcomes).entry(outcome).or_insert(0) += 1;
    }

    pub fn outcomes(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.outcomes).clone()
    }

    /// The op, once more than `after` hosts are final or it stopped running
    /// (or the long-poll expired).
    pub async fn get(app: &App, id: &str, after: Option<usize>) -> Result<Option<Op>, String> {
        let live = lock(&app.ops.live)
            .get(id)
            .map(|l| (l.op.clone(), l.progress.clone()));
        let Some((op, mut rx)) = live else {
            return app.store.get(id);
        };
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        loop {
            {
                let o = lock(&op);
                let ready = match after {
                    None => true,
                    Some(n) => count_final(&o) > n || o.state != OpState::Running,
                };
                if ready {
                    return Ok(Some(o.clone()));
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // Finished (sender gone) or the long-poll expired.
                _ => return Ok(Some(lock(&op).clone())),
            }
        }
    }

    /// Newest first; running ops come from memory.
    /// Newest first, `offset` matching ops skipped, at most `limit`, and
    /// whether more match.
    pub fn list(
        app: &App,
        filter: &OpFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Op>, bool), String> {
        let query = crate::server::audit::OpQuery {
            action: filter.action.as_deref(),
            target: filter.target.as_deref(),
            who: filter.who.as_deref(),
            result: filter.result.as_deref(),
        };
        let (mut ops, more) = app.store.query(&query, offset, limit)?;
        let live = lock(&app.ops.live);
        for o in &mut ops {
            if let Some(l) = live.get(&o.id) {
                *o = lock(&l.op).clone();
            }
        }
        Ok((ops, more))
    }
}

/// `GET /v1/ops` filters; each given one must hold.
#[derive(Debug, Default, serde::Deserialize)]
pub struct OpFilter {
    /// The verb.
    pub action: Option<String>,
    /// A substring of the process target or the host selector.
    pub target: Option<String>,
    pub who: Option<String>,
    /// `ok`, `failed` (some host failed or was unreachable), `running`,
    /// `aborted`, `interrupted`.
    pub result: Option<String>,
}

impl OpFilter {
    pub fn check(&self) -> Result<(), String> {
        match self.result.as_deref() {
            None | Some("ok" | "failed" | "running" | "aborted" | "interrupted") => Ok(()),
            Some(r) => Err(format!(
                "unknown result {r:?} (expected ok, failed, running, aborted or interrupted)"
            )),
        }
    }
}

/// The op task panicked: mark the op aborted (hosts not finished failed),
/// write its result record and release its hosts.
fn fail_panicked(app: &App, op: &Mutex<Op>) {
    let now = now_ms();
    let done = {
        let mut o = lock(op);
        o.state = OpState::Aborted;
        o.finished_at = Some(now);
        for h in o.hosts.iter_mut().filter(|h| h.verdict == Verdict::Pending) {
            h.verdict = Verdict::Failed;
            h.message = "internal error: the operation task failed; see the console's log".into();
        }
        o.clone()
    };
    tracing::error!(op = %done.id, "operation task panicked; marked aborted");
    if let Err(e) = app.store.append("result", &done, now) {
        tracing::error!("op {}: {e}", done.id);
    }
    app.ops.count("failed");
    lock(&app.ops.live).remove(&done.id);
    app.picture.publish(FleetEvent::Op { op: done });
}
