//! `GET /v1/hosts`: the inventory with each host's liveness.

use crate::server::App;
use axum::extract::State;
use axum::Json;
use fleet_api::HostsResponse;
use std::sync::Arc;

pub async fn hosts(State(app): State<Arc<App>>) -> Json<HostsResponse> {
    let names: Vec<String> = app.inventory.all().iter().map(|h| h.name.clone()).collect();
    Json(HostsResponse {
        hosts: app.picture.host_infos(&app.inventory, &names),
    })
}
