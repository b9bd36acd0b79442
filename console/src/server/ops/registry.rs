//! The running operations: overlap refusal, the audit record before any
//! host is touched, the one [`finish`], progress for long-polls, and the
//! history. Takes a [`Plan`]; never reads the request.

use super::plan::Plan;
use super::{journal, lock, Refused};
use crate::server::picture::now_ms;
use crate::server::store::StoreError;
use crate::server::App;
use fleet_api::{
    ActionResult, ErrorCode, FleetEvent, HostResult, Op, OpRequest, OpState, Outcome, Selector,
    Verdict,
};
use fleet_daemon::metrics::{Histogram, OP_BUCKETS};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The longest a `GET /v1/ops/{id}?after=N` waits.
pub const LONG_POLL: Duration = Duration::from_secs(25);

/// The longest a long-poll that has news waits for more (see [`Ops::get`]).
const GATHER_MAX: Duration = Duration::from_secs(1);

pub(super) struct LiveOp {
    op: Arc<Mutex<Op>>,
    progress: watch::Receiver<u64>,
    hosts: BTreeSet<String>,
    target: Selector,
    touches: HashSet<(String, String)>,
    /// Its lease's fence (PostgreSQL): every record it writes checks it.
    fence: Option<u64>,
}

#[derive(Default)]
pub struct Ops {
    pub(super) live: Mutex<HashMap<String, LiveOp>>,
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    /// How long finished ops took, by (action, outcome).
    durations: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
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

/// An op the registry accepted.
pub(super) enum Admitted {
    /// A dry run: the preview, finished (nothing to run, nothing audited).
    Preview(Box<Op>),
    /// Audited and live: run it, reporting progress on `tx`.
    Live {
        op: Arc<Mutex<Op>>,
        tx: watch::Sender<u64>,
        fence: Option<u64>,
    },
}

impl Ops {
    /// Refuse an overlap, audit the intent and hold the plan's hosts; or,
    /// for a dry run, preview it. `source` is the caller's address.
    pub(super) fn admit(
        app: &App,
        who: &str,
        source: Option<String>,
        req: OpRequest,
        plan: &Plan,
    ) -> Result<Admitted, Refused> {
        let this = &app.ops;
        let now = now_ms();
        let batch = plan.batch_size();
        let mut op = Op {
            id: new_id(),
            who: who.to_string(),
            request: req,
            state: OpState::Running,
            created_at: now,
            finished_at: None,
            hosts: plan
                .hosts
                .iter()
                .enumerate()
                .map(|(i, h)| HostResult {
                    host: h.clone(),
                    verdict: Verdict::Pending,
                    batch: batch.map(|n| i / n + 1),
                    message: String::new(),
                    processes: vec![],
                })
                .collect(),
            source,
        };
        if op.request.dry_run {
            preview(app, plan, &mut op, now);
            // A plan changes nothing and is not an operation: it is not in
            // the audit log (the operation, if confirmed, will be).
            this.count("dry_run");
            return Ok(Admitted::Preview(Box::new(op)));
        }
        let selector = &plan.rules.selector;
        let (tx, rx) = watch::channel(0u64);
        let shared = Arc::new(Mutex::new(op.clone()));
        let fence = {
            let mut live = lock(&this.live);
            let host_set: BTreeSet<String> = plan.hosts.iter().cloned().collect();
            for (id, other) in live.iter() {
                // Finished (a reader may already have seen it done) but not
                // yet out of `live`: its hosts are free.
                if other.hosts.is_disjoint(&host_set) || lock(&other.op).state != OpState::Running {
                    continue;
                }
                let overlap = other.target == *selector
                    || other.target == Selector::All
                    || *selector == Selector::All
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
            // Other consoles' ops (shared store): refused where their hosts
            // meet ours. They carry no process list, so any shared host is
            // an overlap; this console's own were judged above.
            let mine: HashSet<String> = live.keys().cloned().collect();
            let hosts = host_set.clone();
            let conflict = Box::new(move |running: Vec<Op>| {
                running
                    .into_iter()
                    .filter(|o| !mine.contains(&o.id))
                    .find(|o| o.hosts.iter().any(|h| hosts.contains(&h.host)))
                    .map(|o| {
                        format!(
                            "operation {} ({} {}) is running on some of these hosts (on another console); wait for it (GET /v1/ops/{})",
                            o.id, o.request.action, o.request.target, o.id
                        )
                    })
            });
            // Intent before act: refuse if the audit log cannot take it.
            let fence = journal::intent(&app.store, &op, now, conflict)
                .map_err(|e| Refused(ErrorCode::Internal, format!("{e}; nothing was done")))?
                .map_err(|why| Refused(ErrorCode::Conflict, why))?;
            live.insert(
                op.id.clone(),
                LiveOp {
                    op: shared.clone(),
                    progress: rx,
                    hosts: host_set,
                    target: selector.clone(),
                    touches: plan.touches.clone(),
                    fence,
                },
            );
            fence
        };
        app.picture.publish(FleetEvent::Op { op });
        Ok(Admitted::Live {
            op: shared,
            tx,
            fence,
        })
    }

    /// Hold op `op`, taken over from another console at `fence`, as this
    /// console's own: its hosts, its lease's fence, progress for reads.
    pub(super) fn adopt(
        app: &App,
        op: Op,
        plan: &Plan,
        fence: u64,
    ) -> (Arc<Mutex<Op>>, watch::Sender<u64>) {
        let (tx, rx) = watch::channel(0u64);
        let shared = Arc::new(Mutex::new(op));
        let id = lock(&shared).id.clone();
        lock(&app.ops.live).insert(
            id,
            LiveOp {
                op: shared.clone(),
                progress: rx,
                hosts: plan.hosts.iter().cloned().collect(),
                target: plan.rules.selector.clone(),
                touches: plan.touches.clone(),
                fence: Some(fence),
            },
        );
        (shared, tx)
    }

    pub(crate) fn count(&self, outcome: &'static str) {
        *lock(&self.outcomes).entry(outcome).or_insert(0) += 1;
    }

    pub fn outcomes(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.outcomes).clone()
    }

    fn observe(&self, action: &'static str, outcome: &'static str, took: Duration) {
        lock(&self.durations)
            .entry((action, outcome))
            .or_insert_with(|| Histogram::new(OP_BUCKETS))
            .observe(took);
    }

    /// `f` over each (action, outcome) of `keys` with its histogram of op
    /// durations (an empty one before the first), for /metrics.
    pub fn durations(
        &self,
        keys: &[(&'static str, &'static str)],
        mut f: impl FnMut(&str, &str, &Histogram),
    ) {
        let empty = Histogram::new(OP_BUCKETS);
        let d = lock(&self.durations);
        for &(action, outcome) in keys {
            f(action, outcome, d.get(&(action, outcome)).unwrap_or(&empty));
        }
    }

    /// The op, once more than `after` hosts are final or it stopped running
    /// (or the long-poll expired).
    pub async fn get(app: &App, id: &str, after: Option<usize>) -> Result<Option<Op>, StoreError> {
        let live = lock(&app.ops.live)
            .get(id)
            .map(|l| (l.op.clone(), l.progress.clone()));
        let Some((op, mut rx)) = live else {
            return remote(app, id, after).await;
        };
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let mut gathered = false;
        loop {
            // Some(pause): news, gather more first; None: keep waiting.
            let gather = {
                let o = lock(&op);
                let ready = match after {
                    None => true,
                    Some(n) => count_final(&o) > n || o.state != OpState::Running,
                };
                if ready && (gathered || after.is_none() || o.state != OpState::Running) {
                    return Ok(Some(o.clone()));
                }
                // Each answer is the whole op (O(hosts)); answering every
                // host's verdict as it lands made a 5,000-host op O(hosts²)
                // (3.7 MiB copied, sent and parsed per verdict). Gather
                // verdicts for hosts/10 ms (≤ 1 s) or until the op ends:
                // the answers' cost stays in proportion to the op's length.
                ready.then(|| Duration::from_millis((o.hosts.len() / 10) as u64))
            };
            if let Some(pause) = gather {
                let until = deadline.min(tokio::time::Instant::now() + pause.min(GATHER_MAX));
                gathered = true;
                while let Ok(Ok(())) = tokio::time::timeout_at(until, rx.changed()).await {
                    if lock(&op).state != OpState::Running {
                        break;
                    }
                }
                continue;
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
    ) -> Result<(Vec<Op>, bool), StoreError> {
        let query = crate::server::store::OpQuery {
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

/// How often a long-poll on another console's op, and the follower of
/// other consoles' ops, read the store.
const REMOTE_POLL: Duration = Duration::from_millis(500);

/// An op this console does not run: as the store has it — with a shared
/// store, another console's running op with its hosts' verdicts from
/// their records as they land; a long-poll re-reads it until ready.
async fn remote(app: &App, id: &str, after: Option<usize>) -> Result<Option<Op>, StoreError> {
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    loop {
        let Some(op) = read_remote(app, id)? else {
            return Ok(None);
        };
        let ready = match after {
            None => true,
            Some(n) => count_final(&op) > n || op.state != OpState::Running,
        };
        if ready || !app.store.shared() || tokio::time::Instant::now() >= deadline {
            return Ok(Some(op));
        }
        tokio::time::sleep(REMOTE_POLL).await;
    }
}

/// Op `id` from the store, a running one with its finished hosts filled
/// in from their records.
fn read_remote(app: &App, id: &str) -> Result<Option<Op>, StoreError> {
    let Some(mut op) = app.store.get(id)? else {
        return Ok(None);
    };
    if op.state == OpState::Running {
        let done = journal::read(&app.store, id)?.finished;
        for h in op
            .hosts
            .iter_mut()
            .filter(|h| h.verdict == Verdict::Pending)
        {
            if let Some(r) = done.get(&h.host) {
                let batch = h.batch;
                *h = HostResult { batch, ..r.clone() };
            }
        }
    }
    Ok(Some(op))
}

/// With a shared store: other consoles' ops on this console's event
/// stream (the page), read from the store by polling (every
/// `REMOTE_POLL`; simpler than LISTEN/NOTIFY and survives a database
/// restart without a reconnect protocol). Each running op is published as
/// its hosts finish, and once more when it ends.
pub async fn follow_remote_ops(app: Arc<App>) {
    if !app.store.shared() {
        return;
    }
    let mut seen: HashMap<String, (OpState, usize)> = HashMap::new();
    loop {
        tokio::time::sleep(REMOTE_POLL).await;
        let a = app.clone();
        let known: Vec<String> = seen.keys().cloned().collect();
        let read = tokio::task::spawn_blocking(move || remote_round(&a, known)).await;
        let ops = match read {
            Ok(Ok(ops)) => ops,
            Ok(Err(e)) => {
                tracing::warn!("cannot read other consoles' ops: {e}");
                continue;
            }
            Err(_) => return,
        };
        for op in ops {
            let now = (op.state, count_final(&op));
            if seen.get(&op.id) == Some(&now) {
                continue;
            }
            if op.state == OpState::Running {
                seen.insert(op.id.clone(), now);
            } else {
                seen.remove(&op.id);
            }
            app.picture.publish(FleetEvent::Op { op });
        }
    }
}

/// The running ops this console does not run, and the ones followed so
/// far (to see them end).
fn remote_round(app: &App, known: Vec<String>) -> Result<Vec<Op>, StoreError> {
    let running = crate::server::store::OpQuery {
        result: Some("running"),
        ..Default::default()
    };
    let (ops, _) = app.store.query(&running, 0, 100)?;
    let mut ids: Vec<String> = ops.into_iter().map(|o| o.id).collect();
    ids.extend(known);
    ids.sort();
    ids.dedup();
    let mine: HashSet<String> = lock(&app.ops.live).keys().cloned().collect();
    let mut out = Vec::new();
    for id in ids.iter().filter(|id| !mine.contains(*id)) {
        out.extend(read_remote(app, id)?);
    }
    Ok(out)
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

/// How a live op ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum End {
    /// Every host had its turn.
    Done,
    /// A rolling op stopped after too many failed hosts.
    Aborted,
    /// The op task panicked: hosts not finished are failed.
    Panicked,
}

/// The one way a live op ends: its state and finish time set, its result
/// record written, its outcome counted, its hosts released, and it
/// published.
pub(super) fn finish(app: &App, op: &Mutex<Op>, end: End) {
    let now = now_ms();
    let done = {
        let mut o = lock(op);
        o.state = match end {
            End::Done => OpState::Done,
            End::Aborted | End::Panicked => OpState::Aborted,
        };
        o.finished_at = Some(now);
        if end == End::Panicked {
            for h in o.hosts.iter_mut().filter(|h| h.verdict == Verdict::Pending) {
                h.verdict = Verdict::Failed;
                h.message =
                    "internal error: the operation task failed; see the console's log".into();
            }
        }
        // Counted before the op lock is let go: whoever sees it finished
        // sees it counted.
        let outcome = match end {
            End::Aborted => "aborted",
            End::Done if o.all_ok() => "ok",
            End::Done | End::Panicked => "failed",
        };
        app.ops.count(outcome);
        let took = Duration::from_millis(now.saturating_sub(o.created_at));
        app.ops.observe(o.request.action.as_str(), outcome, took);
        o.clone()
    };
    if end == End::Panicked {
        tracing::error!(op = %done.id, "operation task panicked; marked aborted");
    }
    let fence = lock(&app.ops.live).get(&done.id).and_then(|l| l.fence);
    if let Err(e) = journal::result_fenced(&app.store, &done, now, fence) {
        tracing::error!("op {}: {e}", done.id);
    }
    lock(&app.ops.live).remove(&done.id);
    app.picture.publish(FleetEvent::Op { op: done });
}

/// A dry run's answer: each host skipped, with the processes the op would
/// act on there as the picture shows them.
fn preview(app: &App, plan: &Plan, op: &mut Op, now: u64) {
    op.state = OpState::Done;
    op.finished_at = Some(now);
    let verb = op.request.action;
    let only = !plan.rules.only.is_empty();
    for h in &mut op.hosts {
        let procs = app.picture.host_fleet_processes(&h.host);
        let down = procs.iter().any(|p| p.last_known.is_some());
        h.verdict = Verdict::Skipped;
        h.processes = plan
            .rules
            .selector
            .select(&procs)
            .into_iter()
            .filter(|p| {
                !only
                    || plan
                        .touches
                        .contains(&(h.host.clone(), p.info.name.clone()))
            })
            .map(|p| ActionResult {
                name: p.info.name.clone(),
                outcome: Outcome::Already,
                state: p.info.state,
                pid: p.info.pid,
                message: match &p.last_known {
                    Some(k) => format!(
                        "dry run: would {verb}, but the host is unreachable (last known {})",
                        k.state
                    ),
                    None => format!("dry run: would {verb}"),
                },
            })
            .collect();
        h.message = if procs.is_empty() {
            "dry run: host has no known processes (down or not yet seen)".into()
        } else if h.processes.is_empty() {
            "dry run: no matching process on this host".into()
        } else if down {
            format!(
                "dry run: host unreachable; {} process(es) last known here would fail to {verb}",
                h.processes.len()
            )
        } else {
            format!("dry run: would {verb} {} process(es)", h.processes.len())
        };
    }
}
