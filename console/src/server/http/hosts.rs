//! `GET /v1/hosts`: the inventory with each host's liveness.
//! `DELETE /v1/hosts/{host}` (operator, audited): forget a registered
//! host, freeing its name (a squatted name can then be reclaimed).

use super::{operator, ApiError, Source};
use crate::server::auth::Caller;
use crate::server::inventory::RemoveError;
use crate::server::picture::now_ms;
use crate::server::App;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use fleet_api::{ErrorCode, HostsResponse};
use std::sync::Arc;

pub async fn hosts(State(app): State<Arc<App>>) -> Json<HostsResponse> {
    let names: Vec<String> = app.inventory.all().iter().map(|h| h.name.clone()).collect();
    Json(HostsResponse {
        hosts: app.picture.host_infos(&app.inventory, &names),
    })
}

pub async fn remove(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Source(source): Source,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    operator(&caller)?;
    let Path(name) = path?;
    let entry = app.inventory.removable(&name).map_err(|e| match e {
        RemoveError::Unknown => ApiError::not_found(format!("no host named {name:?}")),
        RemoveError::Configured => ApiError::new(
            ErrorCode::Conflict,
            format!("{name:?} is defined in console.toml; remove it there"),
        ),
    })?;
    // Audited before it happens: nothing unaudited.
    let detail = serde_json::json!({ "host": name, "url": entry.url });
    app.store
        .event("remove", &caller.name, source.as_deref(), &detail, now_ms())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    app.store
        .remove_agent(&name)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    app.inventory.remove(&name);
    app.unfollow(&name);
    tracing::info!(host = %name, who = %caller.name, "registered host removed");
    Ok(StatusCode::NO_CONTENT)
}
