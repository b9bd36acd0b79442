//! With a shared store, what the other consoles heard from agents: behind
//! a load balancer an agent's registration and heartbeats reach any one
//! console. Often enough ([`every`]) the registered agents are read back; a new or
//! changed registration is followed here too, one removed elsewhere is
//! forgotten, and a heartbeat another console took counts here — so no
//! replica misses a host, or shows a live one down because its heartbeats
//! went to another replica.

use super::inventory::Registered;
use super::store::RegisteredAgent;
use super::App;
use fleet_api::HostSource;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// A quarter of the stale window (`stale_after_secs`, three heartbeats
/// by default), at most 2 s: a heartbeat another console took is counted
/// here long before the host would look stale.
pub fn every(stale_after_secs: u64) -> Duration {
    (Duration::from_secs(stale_after_secs) / 4)
        .clamp(Duration::from_millis(250), Duration::from_secs(2))
}

pub async fn follow_shared(app: Arc<App>) {
    if !app.store.shared() {
        return;
    }
    let mut tick = tokio::time::interval(every(app.config.stale_after_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut missing = HashMap::new();
    loop {
        tick.tick().await;
        let a = app.clone();
        match tokio::task::spawn_blocking(move || a.store.agents()).await {
            Ok(Ok(rows)) => apply(&app, rows, &mut missing),
            Ok(Err(e)) => tracing::warn!("cannot read the registered agents: {e}"),
            Err(_) => return,
        }
    }
}

/// Take in the store's registrations. A registered host the store no
/// longer has is forgotten once two reads in a row miss it: this console's
/// own new registration is in its inventory a moment before it is in the
/// store, which one read may catch.
fn apply(app: &App, rows: Vec<RegisteredAgent>, missing: &mut HashMap<String, u32>) {
    let mut now = HashSet::with_capacity(rows.len());
    for r in rows {
        let name = r.reg.name.clone();
        // Stored by a console that admitted it: identified. A name
        // console.toml owns here stays this console's (as at start).
        match app.inventory.register(&r.reg, true) {
            Ok(Registered::Changed) => {
                tracing::info!(host = %name, url = %r.reg.url, "agent registered (at another console)");
                app.follow(&name, Some(r.last_heartbeat));
            }
            Ok(Registered::Same) => {
                if app.picture.heard_elsewhere(&name, r.last_heartbeat)
                    && app.inventory.get(&name).is_some_and(|h| !h.is_proven())
                {
                    app.reprove(&name);
                }
            }
            Err(_) => {}
        }
        now.insert(name);
    }
    let registered: Vec<String> = app
        .inventory
        .all()
        .into_iter()
        .filter(|h| h.source == HostSource::Registered && !now.contains(&h.name))
        .map(|h| h.name.clone())
        .collect();
    missing.retain(|name, _| registered.contains(name));
    for gone in registered {
        let misses = missing.entry(gone.clone()).or_insert(0);
        *misses += 1;
        if *misses >= 2 {
            missing.remove(&gone);
            app.inventory.remove(&gone);
            app.unfollow(&gone);
            tracing::info!(host = %gone, "registered host removed (at another console)");
        }
    }
}
