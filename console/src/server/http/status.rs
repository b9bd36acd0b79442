//! `GET /v1/status?hosts=SEL&target=SEL` and its summary
//! `GET /v1/status/summary?…&all_below=N`: from the picture, never by
//! asking agents.

use super::ApiError;
use crate::server::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use fleet_api::{ErrorCode, FleetStatus, FleetSummary, Selector};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct StatusQuery {
    hosts: Option<String>,
    target: Option<String>,
    /// Summary only: list every process when there are at most this many.
    all_below: Option<usize>,
}

/// The process selector and the host names a query names.
fn selection(app: &App, q: &StatusQuery) -> Result<(Selector, Vec<String>), ApiError> {
    let target: Selector = q
        .target
        .as_deref()
        .unwrap_or("all")
        .parse()
        .map_err(|e: fleet_api::SelectorError| ApiError::new(ErrorCode::BadSelector, e.0))?;
    let names = app
        .inventory
        .resolve(q.hosts.as_deref())
        .or_else(|e| match q.hosts {
            // An empty inventory is an empty fleet, not an error.
            None if app.inventory.is_empty() => Ok(vec![]),
            _ => Err(ApiError::new(ErrorCode::BadSelector, e)),
        })?;
    Ok((target, names))
}

pub async fn status(
    State(app): State<Arc<App>>,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<FleetStatus>, ApiError> {
    let Query(q) = q?;
    let (target, names) = selection(&app, &q)?;
    // `processes` keeps each live process's uptime current, as the agent's
    // own status does, from the data.
    let processes = app
        .picture
        .processes(&names, |p, all| target.matches(p, all));
    Ok(Json(FleetStatus {
        hosts: app.picture.host_infos(&app.inventory, &names),
        processes,
    }))
}

pub async fn summary(
    State(app): State<Arc<App>>,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<FleetSummary>, ApiError> {
    let Query(q) = q?;
    let (target, names) = selection(&app, &q)?;
    let keep = |p: &_, all: &[_]| target.matches(p, all);
    let (counts, troubled) = app.picture.tally(&names, keep, |state, p| {
        state != fleet_api::ProcessState::Unknown && FleetSummary::troubled(p)
    });
    let total: usize = counts.iter().flat_map(|h| &h.states).map(|c| c.count).sum();
    let complete = total <= q.all_below.unwrap_or(0);
    let processes = match complete {
        true => app.picture.processes(&names, keep),
        false => troubled,
    };
    Ok(Json(FleetSummary {
        hosts: app.picture.host_infos(&app.inventory, &names),
        counts,
        processes,
        complete,
    }))
}
