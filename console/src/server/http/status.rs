//! `GET /v1/status?hosts=SEL&target=SEL`: from the picture, never by
//! asking agents.

use super::ApiError;
use crate::server::App;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use fleet_api::{ErrorCode, FleetStatus, Selector};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct StatusQuery {
    hosts: Option<String>,
    target: Option<String>,
}

pub async fn status(
    State(app): State<Arc<App>>,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<FleetStatus>, ApiError> {
    let Query(q) = q?;
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
    let mut processes = app
        .picture
        .processes(&names, |p, all| target.matches(p, all));
    // The agent's "pid N, uptime T" was true when it was sent; keep the
    // uptime current as the agent's own status does, from the data.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for p in &mut processes {
        if let Some(timing) = p.info.timing(now) {
            p.info.description = timing;
        }
    }
    Ok(Json(FleetStatus {
        hosts: app.picture.host_infos(&app.inventory, &names),
        processes,
    }))
}
