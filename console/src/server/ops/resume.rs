//! Taking over an operation whose console stopped renewing its lease
//! (shared store; `store::LEASE`): the new owner, at the fence its claim
//! got, FINISHES the op under its own lease:
//! - hosts with a `Finished` record keep their verdicts, never redone;
//! - a host whose call was in flight is resolved from its agent, or where
//!   that cannot tell, its call is repeated with the first call's
//!   `Idempotency-Key` (`run::settle_in_flight`);
//! - the hosts never started run as any op's do, in the op's batches,
//!   every record fenced by the new lease.
//!
//! An op whose stored request no longer reads back, or one a console was
//! already resolving as interrupted, is closed instead
//! (`interrupted::close_taken`).

use super::interrupted::{close_taken, InFlight};
use super::journal;
use super::plan::{replan, Defaults};
use super::run::spawn;
use super::Ops;
use crate::server::store::StoreError;
use crate::server::App;
use fleet_api::{FleetEvent, HostResult, Op, OpState, Verdict};
use std::sync::Arc;

/// Take over the ops just claimed, `(id, new fence)`; returns how many
/// were closed as interrupted rather than resumed.
pub fn take_over(app: &Arc<App>, claimed: &[(String, u64)]) -> Result<usize, StoreError> {
    let mut close = Vec::new();
    for (id, fence) in claimed {
        let Some(op) = app.store.get(id)? else {
            continue;
        };
        if op.state != OpState::Running {
            close.push(op);
            continue;
        }
        match replan(&op, &app.picture, Defaults::of(&app.config)) {
            Ok(plan) => resume(app, op, plan, *fence)?,
            Err(why) => {
                tracing::warn!(op = %op.id, "cannot resume a taken-over operation: {}", why.1);
                close.push(op);
            }
        }
    }
    close_taken(app, close)
}

fn resume(
    app: &Arc<App>,
    mut op: Op,
    plan: super::plan::Plan,
    fence: u64,
) -> Result<(), StoreError> {
    let journal::Hosts {
        started,
        mut finished,
        fences,
    } = journal::read(&app.store, &op.id)?;
    let mut in_flight = Vec::new();
    for h in op
        .hosts
        .iter_mut()
        .filter(|h| h.verdict == Verdict::Pending)
    {
        if let Some(r) = finished.remove(&h.host) {
            let batch = h.batch;
            *h = HostResult { batch, ..r };
        } else if let Some((at, before)) = started.get(&h.host) {
            h.message = "in flight when its console stopped; resolving from its agent".into();
            let f = InFlight {
                host: h.host.clone(),
                started: *at,
                before: before.clone(),
            };
            in_flight.push((f, fences.get(&h.host).copied().unwrap_or(0)));
        }
    }
    let pending = op
        .hosts
        .iter()
        .filter(|h| h.verdict == Verdict::Pending)
        .count();
    tracing::warn!(
        op = %op.id,
        fence,
        "took over an operation whose console stopped: {} host(s) in flight to resolve, {} more to run",
        in_flight.len(),
        pending - in_flight.len()
    );
    let (shared, tx) = Ops::adopt(app, op.clone(), &plan, fence);
    app.picture.publish(FleetEvent::Op { op });
    spawn(app, shared, tx, plan, Some(fence), in_flight);
    Ok(())
}
