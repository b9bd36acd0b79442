//! Running an operation: its hosts in parallel (bounded) or in rolling
//! batches behind a health gate, each host one agent call with a timeout;
//! a `host` record as each host's call starts and ends, the result record
//! at the end.

use super::interrupted::{resolve_host, InFlight};
use super::journal::{self, Record, Seen};
use super::plan::{plan, Defaults, Plan, Strategy};
use super::registry::{finish, Admitted, End, Ops};
use super::{lock, Refused};
use crate::server::agent_client::CallError;
use crate::server::picture::now_ms;
use crate::server::store::StoreError;
use crate::server::App;
use fleet_api::{
    ActionResult, FleetEvent, Health, HostResult, Op, OpRequest, Outcome, ProcessState, Verb,
    Verdict,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

impl Ops {
    /// Plan, audit and start an operation; returns it as first recorded.
    /// `source` is the caller's address, kept with the op.
    pub fn create(
        app: &Arc<App>,
        who: &str,
        source: Option<String>,
        req: OpRequest,
    ) -> Result<Op, Refused> {
        let plan = plan(
            &req,
            &app.inventory,
            &app.picture,
            Defaults::of(&app.config),
        )?;
        let (op, tx, fence) = match Ops::admit(app, who, source, req, &plan)? {
            Admitted::Preview(op) => return Ok(*op),
            Admitted::Live { op, tx, fence } => (op, tx, fence),
        };
        let first = lock(&op).clone();
        spawn(app, op, tx, plan, fence, vec![]);
        Ok(first)
    }
}

/// Run `op` in the background: first its hosts `in_flight` (a taken-over
/// op's, each with the fence its call was made under), then every host
/// still pending, in the op's batches.
pub(super) fn spawn(
    app: &Arc<App>,
    op: Arc<Mutex<Op>>,
    tx: watch::Sender<u64>,
    plan: Plan,
    fence: Option<u64>,
    in_flight: Vec<(InFlight, u64)>,
) {
    let task = tokio::spawn(run(app.clone(), op.clone(), tx, plan, fence, in_flight));
    // A panic in the op task must not leave the op "running" forever
    // (holding its hosts: every overlapping op would get 409).
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = task.await {
            if e.is_panic() {
                finish(&app, &op, End::Panicked);
            }
        }
    });
}

async fn run(
    app: Arc<App>,
    op: Arc<Mutex<Op>>,
    tx: watch::Sender<u64>,
    plan: Plan,
    fence: Option<u64>,
    in_flight: Vec<(InFlight, u64)>,
) {
    let (id, who) = {
        let o = lock(&op);
        (o.id.clone(), o.who.clone())
    };
    let lost = Arc::new(AtomicBool::new(false));
    let (store_of, op_id, lost_on_write) = (app.clone(), id.clone(), lost.clone());
    let journal = journal::writer(move |rows| {
        let r = store_of.store.append_fenced(rows, &op_id, fence);
        if let Err(StoreError::Fenced(_)) = &r {
            lost_on_write.store(true, Ordering::Release);
        }
        r
    });
    let renewer = tokio::spawn(renew(app.clone(), id.clone(), fence, lost.clone()));
    let ctx = Arc::new(Ctx {
        journal,
        lost,
        app: app.clone(),
        op: op.clone(),
        id,
        who,
        tx,
        plan,
        fence,
    });
    let rolling = matches!(ctx.plan.rules.strategy, Strategy::Rolling { .. });
    settle_in_flight(&ctx, in_flight, rolling).await;
    // A taken-over op runs only its hosts still pending; its failures so
    // far count towards `max_failures`.
    let (todo, mut failures) = {
        let o = lock(&op);
        let todo: Vec<(String, usize)> = o
            .hosts
            .iter()
            .filter(|h| h.verdict == Verdict::Pending)
            .map(|h| (h.host.clone(), h.batch.unwrap_or(1)))
            .collect();
        let failed = o.hosts.iter().filter(|h| failed(h.verdict)).count();
        (todo, failed)
    };
    let mut end = End::Done;
    match ctx.plan.rules.strategy {
        Strategy::Parallel { concurrency } => {
            let hosts: Vec<String> = todo.into_iter().map(|(h, _)| h).collect();
            run_hosts(&ctx, &hosts, concurrency, false).await;
        }
        Strategy::Rolling { max_failures, .. } => {
            // The op's batches as recorded at admission (`batch` of each
            // host), so a new owner keeps them.
            let last = lock(&op).hosts.iter().filter_map(|h| h.batch).max();
            let last = last.unwrap_or(1);
            for b in 1..=last {
                let batch: Vec<String> = todo
                    .iter()
                    .filter(|(_, x)| *x == b)
                    .map(|(h, _)| h.clone())
                    .collect();
                if !batch.is_empty() {
                    failures += run_hosts(&ctx, &batch, batch.len(), true).await;
                    app.picture.publish(FleetEvent::Op {
                        op: lock(&op).clone(),
                    });
                }
                if failures >= max_failures && b < last {
                    end = End::Aborted;
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
    renewer.abort();
    finish(&app, &op, end);
    ctx.tx.send_modify(|v| *v += 1);
}

/// Keep this console's lease on op `id` (PostgreSQL) while it runs; once
/// the lease is gone (expired while the console was paused or cut off
/// from the database, or taken over), `lost` stops the runner before its
/// next host call.
async fn renew(app: Arc<App>, id: String, fence: Option<u64>, lost: Arc<AtomicBool>) {
    if fence.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let app = app.clone();
        let op_id = id.clone();
        let renewed = tokio::task::spawn_blocking(move || app.store.renew(&op_id, fence)).await;
        match renewed {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::warn!(op = %id, "lease lost: this console stops the operation");
                lost.store(true, Ordering::Release);
                return;
            }
            // Unreachable for now: the next tick tries again; a lease that
            // runs out meanwhile is refused then.
            Ok(Err(e)) => tracing::warn!(op = %id, "cannot renew the lease: {e}"),
            Err(_) => return,
        }
    }
}

/// A third of the lease (`store::LEASE`, 10 s): two renewals may fail
/// before it runs out.
const RENEW_EVERY: Duration = Duration::from_secs(3);

struct Ctx {
    app: Arc<App>,
    /// The lease is gone: no host call may start.
    lost: Arc<AtomicBool>,
    /// Per-host records, group-committed.
    journal: journal::Writer,
    op: Arc<Mutex<Op>>,
    id: String,
    who: String,
    tx: watch::Sender<u64>,
    plan: Plan,
    /// Its lease's fence (PostgreSQL), in each call's `Idempotency-Key`.
    fence: Option<u64>,
}

fn failed(v: Verdict) -> bool {
    matches!(v, Verdict::Failed | Verdict::Unreachable)
}

/// The hosts whose call was in flight when a taken-over op's console
/// stopped: each resolved from its agent (`interrupted::resolve_host`);
/// where that cannot tell (no answer, or nothing changed yet, or a
/// signal, which leaves no trace), the call is repeated with the first
/// call's `Idempotency-Key`: an agent that acted answers as it did then,
/// one that did not acts now — never a second restart.
async fn settle_in_flight(ctx: &Arc<Ctx>, in_flight: Vec<(InFlight, u64)>, gate: bool) {
    let mut set = JoinSet::new();
    for (f, fence) in in_flight {
        let ctx = ctx.clone();
        set.spawn(async move {
            let verb = ctx.plan.rules.verb;
            let r = resolve_host(&ctx.app, &ctx.plan.rules, &f).await;
            let unsure = matches!(r.verdict, Verdict::Unreachable | Verdict::Skipped)
                || verb == Verb::Signal;
            let r = if unsure && verb != Verb::Reexec && !ctx.lost.load(Ordering::Acquire) {
                let again = one_host(&ctx, &f.host, gate, fence).await;
                let message = format!(
                    "in flight when its console stopped; repeated with the first call's Idempotency-Key (fence {fence}){}{}",
                    if again.message.is_empty() { "" } else { ": " },
                    again.message
                );
                HostResult { message, ..again }
            } else {
                r
            };
            ctx.finished(r).await;
            ctx.tx.send_modify(|v| *v += 1);
        });
    }
    while set.join_next().await.is_some() {}
}

impl Ctx {
    /// Record that `host`'s call starts, with the processes it selects as
    /// the picture shows them, and show the host in flight.
    async fn started(&self, host: &str) -> Result<(), StoreError> {
        let procs = self.app.picture.host_processes(host);
        let before = self
            .plan
            .rules
            .selected(host, &procs)
            .into_iter()
            .map(Seen::of)
            .collect();
        let rec = Record::Started {
            host: host.to_string(),
            before,
            fence: self.fence,
        };
        self.journal
            .write(&self.id, &self.who, &rec, now_ms())
            .await?;
        if let Some(slot) = lock(&self.op).hosts.iter_mut().find(|x| x.host == host) {
            slot.message = "in flight".into();
        }
        Ok(())
    }

    /// Record `host`'s verdict, then show it.
    async fn finished(&self, r: HostResult) {
        let rec = Record::Finished { result: r.clone() };
        let written = self.journal.write(&self.id, &self.who, &rec, now_ms());
        if let Err(e) = written.await {
            tracing::error!(op = %self.id, host = %r.host, "{e}");
        }
        let mut o = lock(&self.op);
        if let Some(slot) = o.hosts.iter_mut().find(|x| x.host == r.host) {
            let batch = slot.batch;
            *slot = HostResult { batch, ..r };
        }
    }
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
            if ctx.lost.load(Ordering::Acquire) {
                // Another console owns the op now: its hosts are its own.
                return false;
            }
            // Recorded before the call, so a console killed during it
            // knows this host was in flight (intent before act, per host).
            let r = match ctx.started(&h).await {
                Ok(()) => one_host(&ctx, &h, gate, ctx.fence.unwrap_or(0)).await,
                Err(e) => HostResult {
                    host: h.clone(),
                    verdict: Verdict::Failed,
                    batch: None,
                    message: format!("not touched: {e}"),
                    processes: vec![],
                },
            };
            let failed = failed(r.verdict);
            ctx.finished(r).await;
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

/// Test-only (`tests/console_ha.rs`): `FLEET_TEST_DIE_IN_FLIGHT` set to
/// `before:HOST` or `after:HOST` SIGKILLs this console with HOST's call
/// in flight — its `started` record written and its request not sent, or
/// its answer in and its verdict not written: the two moments a takeover
/// cannot tell apart from the store, which only the agent's
/// `Idempotency-Key` answers settle.
fn die_in_flight(moment: &str, host: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("FLEET_TEST_DIE_IN_FLIGHT").ok());
    if at.as_deref().and_then(|s| s.split_once(':')) == Some((moment, host)) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// One host's call(s), each with `Idempotency-Key: OP/HOST/FENCE` (`/N`
/// added per target when a page selection names several: the agent keys
/// its answers by the key alone).
async fn one_host(ctx: &Ctx, host: &str, gate: bool, fence: u64) -> HostResult {
    let result =
        |verdict, message: String, processes| HostResult::new(host, verdict, message, processes);
    let Some(entry) = ctx.app.inventory.get(host) else {
        return result(Verdict::Failed, "host left the inventory".into(), vec![]);
    };
    let client = match ctx.app.clients.for_host(&entry) {
        Ok(c) => c,
        Err(e) => return result(Verdict::Unreachable, e, vec![]),
    };
    if ctx.plan.rules.verb == Verb::Reexec {
        let r = super::reexec::one_host(&client, host, ctx.plan.rules.timeout).await;
        ctx.app.picture.resync(host);
        return r;
    }
    // A page selection names processes per host; anything else is the
    // one target. The agent's answer changes what events may not carry
    // (`wanted` of a stopped process): have the follower re-read it.
    let rules = &ctx.plan.rules;
    let targets = rules.targets(host);
    // Agents get the signal by its name, whatever form the request used.
    let signal = rules.signal.map(|s| s.name().to_owned());
    let timeout = rules.timeout;
    die_in_flight("before", host);
    let call = async {
        let mut all = fleet_api::ActionResponse {
            verb: rules.verb,
            target: rules.selector.to_string(),
            results: vec![],
        };
        for (i, t) in targets.iter().enumerate() {
            let mut key = format!("{}/{host}/{fence}", ctx.id);
            if targets.len() > 1 {
                key = format!("{key}/{i}");
            }
            let r = client
                .act(t, rules.verb, signal.clone(), rules.with_deps, &key)
                .await?;
            all.results.extend(r.results);
        }
        Ok::<_, CallError>(all)
    };
    let answer = tokio::time::timeout(timeout, call).await;
    die_in_flight("after", host);
    ctx.app.picture.resync(host);
    let resp = match answer {
        Err(_) => {
            return result(
                Verdict::Unreachable,
                format!("no answer within {} ms", timeout.as_millis()),
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
    let wants_running = matches!(rules.verb, Verb::Start | Verb::Restart);
    if gate && wants_running {
        if let Err(why) = healthy(&client, &resp.results, timeout).await {
            return result(Verdict::Failed, why, resp.results);
        }
    }
    result(Verdict::Ok, String::new(), resp.results)
}

/// Rolling health gate: every touched process is still RUNNING with the
/// pid the action reported and, where it has a health check, healthy —
/// read fresh from the agent until `window` is over. An unhealthy verdict
/// fails at once (the agent only gives one after `failures` checks in a
/// row past the start period); an undecided one is waited for.
async fn healthy(
    client: &crate::server::agent_client::AgentClient,
    results: &[ActionResult],
    window: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let st = match tokio::time::timeout(left.max(Duration::from_millis(100)), client.status())
            .await
        {
            Ok(Ok(st)) => st,
            Ok(Err(e)) => return Err(format!("health check failed: {e}")),
            Err(_) => return Err("health check timed out".into()),
        };
        let mut bad = Vec::new();
        let mut undecided = Vec::new();
        for r in results {
            match st.processes.iter().find(|p| p.name == r.name) {
                Some(p) if p.state == ProcessState::Running && p.pid == r.pid => {
                    let why = p
                        .health_message
                        .as_deref()
                        .unwrap_or("no check has run yet");
                    match p.health {
                        Some(Health::Unhealthy) => {
                            bad.push(format!("{} is unhealthy ({why})", r.name))
                        }
                        Some(Health::Unknown) => undecided.push(format!("{} ({why})", r.name)),
                        Some(Health::Healthy) | None => {}
                    }
                }
                Some(p) => bad.push(format!("{} is {} ({})", r.name, p.state, p.description)),
                None => bad.push(format!("{} disappeared", r.name)),
            }
        }
        if !bad.is_empty() {
            return Err(format!("not healthy after the batch: {}", bad.join("; ")));
        }
        if undecided.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "not healthy within {} s: health still unknown for {}",
                window.as_secs(),
                undecided.join("; ")
            ));
        }
        // The agent decides at its check interval; a few reads a second
        // see it promptly at one small request each.
        tokio::time::sleep(GATE_POLL.min(left)).await;
    }
}

/// How often the rolling gate re-reads a host's status while a health
/// verdict is pending.
const GATE_POLL: Duration = Duration::from_millis(250);
