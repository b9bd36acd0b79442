//! Bulk operations: validate and resolve a request, refuse overlaps, write
//! the intent to the audit log, then run it in the background — parallel
//! (bounded concurrency, per-host timeout) or rolling (health-gated batches,
//! abort after `max_failures`) — and record the result.
//!
//! Architecture Invariant: an operation the audit log did not accept is
//! never started. Restart is one agent call, never stop-then-start.

use super::agent_client::CallError;
use super::picture::now_ms;
use super::App;
use fleet_api::{
    ActionResult, Batch, ErrorCode, FleetEvent, HostResult, Op, OpRequest, OpState, Outcome,
    ProcessState, Selector, Signal, StrategyKind, Verb, Verdict,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Why an operation was refused before it started (status from the code).
#[derive(Debug)]
pub struct Refused(pub ErrorCode, pub String);

/// The longest a `GET /v1/ops/{id}?after=N` waits.
pub const LONG_POLL: Duration = Duration::from_secs(25);

struct LiveOp {
    op: Arc<Mutex<Op>>,
    progress: watch::Receiver<u64>,
    hosts: BTreeSet<String>,
    target: Selector,
    touches: HashSet<(String, String)>,
}

#[derive(Default)]
pub struct Ops {
    live: Mutex<HashMap<String, LiveOp>>,
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
}

struct Plan {
    selector: Selector,
    hosts: Vec<String>,
    touches: HashSet<(String, String)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A rolling request's batch spec (one host at a time without one).
fn batch(req: &OpRequest) -> Result<Batch, Refused> {
    match &req.batch {
        Some(b) => b
            .parse()
            .map_err(|e: fleet_api::BatchError| Refused(ErrorCode::BadRequest, e.0)),
        None => Ok(Batch::default()),
    }
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
    fn plan(&self, app: &App, req: &OpRequest) -> Result<Plan, Refused> {
        let selector: Selector = req
            .target
            .parse()
            .map_err(|e: fleet_api::SelectorError| Refused(ErrorCode::BadSelector, e.0))?;
        match (req.action, &req.signal) {
            (Verb::Signal, None) => {
                return Err(Refused(
                    ErrorCode::BadSignal,
                    "signal needs \"signal\": NAME".into(),
                ))
            }
            (Verb::Signal, Some(s)) => {
                s.parse::<Signal>()
                    .map_err(|e| Refused(ErrorCode::BadSignal, e.0))?;
            }
            (v, Some(_)) => {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    format!("{v} takes no signal"),
                ))
            }
            (_, None) => {}
        }
        if req.concurrency == Some(0) {
            return Err(Refused(
                ErrorCode::BadRequest,
                "concurrency must be at least 1".into(),
            ));
        }
        if req.timeout_ms == Some(0) {
            return Err(Refused(
                ErrorCode::BadRequest,
                "timeout_ms must be at least 1".into(),
            ));
        }
        let hosts = app
            .inventory
            .resolve(req.hosts.as_deref())
            .map_err(|e| Refused(ErrorCode::BadSelector, e))?;
        match (req.strategy, &req.batch) {
            (StrategyKind::Rolling, Some(b)) => {
                b.parse::<Batch>()
                    .map_err(|e| Refused(ErrorCode::BadRequest, e.0))?;
            }
            (StrategyKind::Rolling, None) => {}
            (StrategyKind::Parallel, Some(_)) => {
                return Err(Refused(
                    ErrorCode::BadRequest,
                    "batch is for the rolling strategy".into(),
                ))
            }
            (StrategyKind::Parallel, None) => {}
        }
        let touches = app
            .picture
            .processes(&hosts, |p, all| selector.matches(p, all))
            .into_iter()
            .map(|p| (p.host, p.info.name))
            .collect::<HashSet<_>>();
        // A target that matches nothing anywhere we can see is a typo, not
        // an operation: refuse it rather than audit a fleet of "skipped".
        // (Hosts we know nothing about may still match, so proceed then.)
        let seen = hosts
            .iter()
            .any(|h| !app.picture.host_processes(h).is_empty());
        if touches.is_empty() && seen {
            return Err(Refused(
                ErrorCode::NotFound,
                format!(
                    "target {:?} matches no process on the selected hosts",
                    req.target
                ),
            ));
        }
        Ok(Plan {
            selector,
            hosts,
            touches,
        })
    }

    /// Validate, audit and start an operation; returns it as first recorded.
    pub fn create(app: &Arc<App>, who: &str, req: OpRequest) -> Result<Op, Refused> {
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
            app.store
                .append("result", &op, now)
                .map_err(|e| Refused(ErrorCode::Internal, e))?;
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
                .append("intent", &op, now)
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
        tokio::spawn(async move { run(app2, shared, tx, plan.selector).await });
        Ok(op)
    }

    fn count(&self, outcome: &'static str) {
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
    pub fn list(app: &App, limit: usize) -> Result<Vec<Op>, String> {
        let mut ops = app.store.list(limit)?;
        let live = lock(&app.ops.live);
        for o in &mut ops {
            if let Some(l) = live.get(&o.id) {
                *o = lock(&l.op).clone();
            }
        }
        Ok(ops)
    }
}

async fn run(app: Arc<App>, op: Arc<Mutex<Op>>, tx: watch::Sender<u64>, selector: Selector) {
    let mut req = lock(&op).request.clone();
    // Agents get the signal by its name, whatever form the request used
    // (plan() refused any the agents would not take).
    req.signal = req
        .signal
        .and_then(|s| s.parse::<Signal>().ok())
        .map(|s| s.name().to_owned());
    let hosts: Vec<String> = lock(&op).hosts.iter().map(|h| h.host.clone()).collect();
    let timeout = Duration::from_millis(
        req.timeout_ms
            .unwrap_or(app.config.host_timeout_secs * 1000),
    );
    let ctx = Arc::new(Ctx {
        app: app.clone(),
        op: op.clone(),
        tx,
        target: selector.to_string(),
        req: req.clone(),
        timeout,
    });
    let mut aborted = false;
    match req.strategy {
        StrategyKind::Parallel => {
            let n = req.concurrency.unwrap_or(app.config.concurrency);
            run_hosts(&ctx, &hosts, n, false).await;
        }
        StrategyKind::Rolling => {
            let size = batch(&req).unwrap_or_default().size(hosts.len());
            let max_failures = req.max_failures.unwrap_or(1).max(1);
            let mut failures = 0;
            let batches: Vec<&[String]> = hosts.chunks(size).collect();
            for (i, batch) in batches.iter().enumerate() {
                failures += run_hosts(&ctx, batch, batch.len(), true).await;
                app.picture.publish(FleetEvent::Op {
                    op: lock(&op).clone(),
                });
                if failures >= max_failures && i + 1 < batches.len() {
                    aborted = true;
                    let mut o = lock(&op);
                    for h in o.hosts.iter_mut().filter(|h| h.verdict == Verdict::Pending) {
                        h.verdict = Verdict::Skipped;
                        h.message = format!(
                            "not touched: the rolling operation stopped after {failures} failed host(s) (max_failures {max_failures})"
                        );
                    }
                    break;
                }
            }
        }
    }
    let now = now_ms();
    let done = {
        let mut o = lock(&op);
        o.state = if aborted {
            OpState::Aborted
        } else {
            OpState::Done
        };
        o.finished_at = Some(now);
        o.clone()
    };
    if let Err(e) = app.store.append("result", &done, now) {
        tracing::error!("op {}: {e}", done.id);
    }
    app.ops.count(if aborted {
        "aborted"
    } else if done.all_ok() {
        "ok"
    } else {
        "failed"
    });
    lock(&app.ops.live).remove(&done.id);
    ctx.tx.send_modify(|v| *v += 1);
    app.picture.publish(FleetEvent::Op { op: done });
}

struct Ctx {
    app: Arc<App>,
    op: Arc<Mutex<Op>>,
    tx: watch::Sender<u64>,
    target: String,
    req: OpRequest,
    timeout: Duration,
}

/// Run on `hosts`, `n` at a time; returns how many failed (failed or
/// unreachable). With `gate`, a host that reports ok is re-checked.
async fn run_hosts(ctx: &Arc<Ctx>, hosts: &[String], n: usize, gate: bool) -> usize {
    let sem = Arc::new(Semaphore::new(n.max(1)));
    let mut set = JoinSet::new();
    for h in hosts {
        let ctx = ctx.clone();
        let sem = sem.clone();
        let h = h.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let r = one_host(&ctx, &h, gate).await;
            let failed = matches!(r.verdict, Verdict::Failed | Verdict::Unreachable);
            {
                let mut o = lock(&ctx.op);
                if let Some(slot) = o.hosts.iter_mut().find(|x| x.host == h) {
                    let batch = slot.batch;
                    *slot = HostResult { batch, ..r };
                }
            }
            ctx.tx.send_modify(|v| *v += 1);
            failed
        });
    }
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        if r.unwrap_or(true) {
            failed += 1;
        }
    }
    failed
}

async fn one_host(ctx: &Ctx, host: &str, gate: bool) -> HostResult {
    let result = |verdict, message: String, processes| HostResult {
        host: host.to_string(),
        verdict,
        batch: None,
        message,
        processes,
    };
    let Some(entry) = ctx.app.inventory.get(host) else {
        return result(Verdict::Failed, "host left the inventory".into(), vec![]);
    };
    let client = match ctx.app.clients.for_host(&entry) {
        Ok(c) => c,
        Err(e) => return result(Verdict::Unreachable, e, vec![]),
    };
    let call = client.act(&ctx.target, ctx.req.action, ctx.req.signal.clone());
    let resp = match tokio::time::timeout(ctx.timeout, call).await {
        Err(_) => {
            return result(
                Verdict::Unreachable,
                format!("no answer within {} ms", ctx.timeout.as_millis()),
                vec![],
            )
        }
        Ok(Err(CallError::Unreachable(m))) => return result(Verdict::Unreachable, m, vec![]),
        Ok(Err(CallError::Agent {
            status: 404,
            message,
        })) => {
            return result(
                Verdict::Skipped,
                format!("nothing to do here: {message}"),
                vec![],
            )
        }
        Ok(Err(CallError::Agent { message, .. })) => {
            return result(Verdict::Failed, format!("agent refused: {message}"), vec![])
        }
        Ok(Ok(r)) => r,
    };
    let failed: Vec<String> = resp
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| format!("{}: {}", r.name, r.message))
        .collect();
    if !failed.is_empty() {
        return result(Verdict::Failed, failed.join("; "), resp.results);
    }
    let wants_running = matches!(ctx.req.action, Verb::Start | Verb::Restart);
    if gate && wants_running {
        if let Err(why) = healthy(&client, &resp.results, ctx.timeout).await {
            return result(Verdict::Failed, why, resp.results);
        }
    }
    result(Verdict::Ok, String::new(), resp.results)
}

/// Rolling health gate: every touched process is still RUNNING with the
/// pid the action reported, read fresh from the agent.
async fn healthy(
    client: &super::agent_client::AgentClient,
    results: &[ActionResult],
    timeout: Duration,
) -> Result<(), String> {
    let st = match tokio::time::timeout(timeout, client.status()).await {
        Ok(Ok(st)) => st,
        Ok(Err(e)) => return Err(format!("health check failed: {e}")),
        Err(_) => return Err("health check timed out".into()),
    };
    let mut bad = Vec::new();
    for r in results {
        match st.processes.iter().find(|p| p.name == r.name) {
            Some(p) if p.state == ProcessState::Running && p.pid == r.pid => {}
            Some(p) => bad.push(format!("{} is {} ({})", r.name, p.state, p.description)),
            None => bad.push(format!("{} disappeared", r.name)),
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("not healthy after the batch: {}", bad.join("; ")))
    }
}
