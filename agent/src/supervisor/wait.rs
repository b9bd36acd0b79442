//! When a verb has done its work: the one rule both faces (`/v1` and
//! supervisord's XML-RPC) use to wait for start/stop/restart/signal and
//! judge each process's outcome, by watching published snapshots (never
//! the table). A start or restart is judged on a fresh spawn attempt
//! (`Touched::attempts_before`), so an old RUNNING does not count.

use super::{ActError, Handle, Snapshot, Touched};
use fleet_api::{ActionResult, Outcome, ProcessState, Selector, Verb, Wanted};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Extra time allowed beyond a process's own start/stop timeouts.
const WAIT_SLACK: Duration = Duration::from_secs(5);

/// The longest an answer waits for a start held for its dependencies.
const DEPENDENCY_WAIT: Duration = Duration::from_secs(120);

/// One process a verb touched and how it ended.
#[derive(Clone, Debug)]
pub struct Acted {
    pub touched: Touched,
    pub result: ActionResult,
}

impl Handle {
    /// Run `verb` on what `target` names, then (with `wait`) wait until
    /// each process reaches the verb's end state or fails; without `wait`,
    /// report each one's state right away.
    pub async fn act_and_wait(
        &self,
        target: Selector,
        verb: Verb,
        signal: Option<i32>,
        with_deps: bool,
        wait: bool,
    ) -> Result<Vec<ActionResult>, ActError> {
        let mut each = self
            .act_each_and_wait(vec![target], verb, signal, with_deps, wait)
            .await;
        Ok(each.remove(0)?.into_iter().map(|a| a.result).collect())
    }

    /// Run `verb` on each target in the given order (one owner command
    /// each), then wait for all of them together as
    /// [`Handle::act_and_wait`] does; one answer per target.
    pub async fn act_each_and_wait(
        &self,
        targets: Vec<Selector>,
        verb: Verb,
        signal: Option<i32>,
        with_deps: bool,
        wait: bool,
    ) -> Vec<Result<Vec<Acted>, ActError>> {
        let mut watch = self.snapshot.clone();
        let mut acted = Vec::with_capacity(targets.len());
        for target in targets {
            acted.push(self.act(target, verb, signal, with_deps).await);
        }
        let touched: Vec<Touched> = acted
            .iter()
            .flat_map(|a| a.iter().flatten().cloned())
            .collect();
        let mut results = wait_for(&mut watch, verb, &touched, wait).await.into_iter();
        acted
            .into_iter()
            .map(|a| {
                Ok(a?
                    .into_iter()
                    .zip(results.by_ref())
                    .map(|(touched, result)| Acted { touched, result })
                    .collect())
            })
            .collect()
    }
}

/// The state a verb drives a process to, and whether `state` settles it.
fn settled(verb: Verb, state: ProcessState) -> Option<bool> {
    use ProcessState as S;
    match (verb, state) {
        (Verb::Start | Verb::Restart, S::Running) => Some(true),
        (Verb::Start | Verb::Restart, S::Backoff | S::Fatal | S::Exited | S::Stopped) => {
            Some(false)
        }
        (Verb::Stop, s) if s.is_stopped() => Some(true),
        (Verb::Signal, _) => Some(true),
        _ => None,
    }
}

/// Judge one process against the latest snapshot: `Some` once settled.
fn judge(snap: &Snapshot, verb: Verb, t: &Touched) -> Option<ActionResult> {
    let Some(p) = snap.get(&t.name) else {
        return Some(ActionResult {
            name: t.name.clone(),
            outcome: Outcome::Failed,
            state: ProcessState::Stopped,
            pid: None,
            message: "removed by a reload".into(),
        });
    };
    let result = |outcome, message: String| ActionResult {
        name: t.name.clone(),
        outcome,
        state: p.info.state,
        pid: p.info.pid,
        message,
    };
    if let Some((outcome, msg)) = &t.done {
        return Some(result(*outcome, msg.clone()));
    }
    let fresh = p.attempts > t.attempts_before;
    match verb {
        Verb::Start | Verb::Restart if p.info.wanted == Wanted::Stopped => {
            Some(result(Outcome::Failed, "stopped by another request".into()))
        }
        Verb::Start | Verb::Restart if !fresh => None,
        _ => match settled(verb, p.info.state)? {
            true => Some(result(Outcome::Ok, String::new())),
            false => Some(result(Outcome::Failed, p.info.description.clone())),
        },
    }
}

/// Wait (bounded by the slowest process's own timeouts plus slack) until
/// every touched process is judged; one result each, in order.
async fn wait_for(
    watch: &mut watch::Receiver<Arc<Snapshot>>,
    verb: Verb,
    touched: &[Touched],
    wait: bool,
) -> Vec<ActionResult> {
    let mut done: HashMap<String, ActionResult> = HashMap::new();
    let began = Instant::now();
    let mut deadline = {
        let snap = watch.borrow().clone();
        let longest = touched
            .iter()
            .filter_map(|t| snap.get(&t.name))
            .map(|p| match verb {
                Verb::Start => p.startsecs,
                Verb::Stop => p.stopwaitsecs * 2,
                Verb::Restart => p.stopwaitsecs * 2 + p.startsecs,
                Verb::Signal | Verb::Reexec => Duration::ZERO,
            })
            .max()
            .unwrap_or_default();
        Instant::now() + longest + WAIT_SLACK
    };
    loop {
        let snap = watch.borrow_and_update().clone();
        for t in touched {
            if done.contains_key(&t.name) {
                continue;
            }
            let verdict = if wait || t.done.is_some() {
                judge(&snap, verb, t)
            } else {
                // Not waiting: report the state right now.
                snap.get(&t.name).map(|p| ActionResult {
                    name: t.name.clone(),
                    outcome: Outcome::Ok,
                    state: p.info.state,
                    pid: p.info.pid,
                    message: "not waited for".into(),
                })
            };
            if let Some(v) = verdict {
                done.insert(t.name.clone(), v);
            }
        }
        if done.len() == touched.len() {
            break;
        }
        // A start held for its dependencies gets their time too, within
        // a bound: an answer never waits for ever on a dependency that
        // stays unhealthy (the start still happens when it is ready).
        for t in touched.iter().filter(|t| !done.contains_key(&t.name)) {
            if let Some(p) = snap.get(&t.name).filter(|p| p.waiting) {
                let want = Instant::now() + p.startsecs + WAIT_SLACK;
                deadline = deadline.max(want.min(began + DEPENDENCY_WAIT));
            }
        }
        let timed_out = tokio::time::timeout_at(deadline, watch.changed()).await;
        if !matches!(timed_out, Ok(Ok(()))) {
            break;
        }
    }
    let snap = watch.borrow().clone();
    touched
        .iter()
        .map(|t| {
            done.remove(&t.name).unwrap_or_else(|| {
                let (state, pid) = snap
                    .get(&t.name)
                    .map_or((ProcessState::Stopped, None), |p| {
                        (p.info.state, p.info.pid)
                    });
                ActionResult {
                    name: t.name.clone(),
                    outcome: Outcome::Failed,
                    state,
                    pid,
                    message: match snap.get(&t.name) {
                        Some(p) if p.waiting => {
                            format!("{}; it starts when they are ready", p.info.description)
                        }
                        _ => format!("timed out waiting ({state})"),
                    },
                }
            })
        })
        .collect()
}
