//! supervisord's protocol: a second face of the agent, not a second agent.
//! `POST /RPC2` (XML-RPC), `GET /logtail/NAMESPEC[/stdout|/stderr]` and
//! `GET /mainlogtail` translate to the same owner commands, selectors,
//! signals and snapshots as `/v1`, so supervisorctl, Ansible, Datadog,
//! Telegraf, node_exporter and `xmlrpc.client` scripts work unchanged.
//! `wire.rs` the XML-RPC codec, `methods/` the one method table (name,
//! signature, help, handler; a file per topic), `info.rs`
//! namespecs and the process-info struct, `logtail.rs` logs. The contract:
//! reference/supervisor-xmlrpc.md; the mapping: ARCHITECTURE.md. The
//! routes are rows of `crate::routes::ROUTES` (access `TokenOrBasic`).

mod info;
mod logtail;
mod methods;
mod wire;

pub use logtail::{logtail, mainlogtail};
pub use methods::call;
pub use wire::{encode_response, parse_call, Code, Fault, Value};

/// Every method this face serves, sorted (what `system.listMethods`
/// answers).
pub fn method_names() -> impl Iterator<Item = &'static str> {
    methods::names().into_iter()
}

use crate::supervisor::Handle;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// One XML-RPC call: a fault is an XML-RPC `<fault>` in a 200; a body that
/// is not XML-RPC is a 400.
pub async fn rpc2(State(h): State<Handle>, body: Bytes) -> Response {
    let call = match parse_call(&body) {
        Ok(c) => c,
        Err(why) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an XML-RPC call: {why}\n"),
            )
                .into_response()
        }
    };
    let xml = match methods::call(&h, &call.method, call.params).await {
        Ok(v) => wire::encode_response(&v),
        Err(f) => f.encode(),
    };
    ([(CONTENT_TYPE, "text/xml")], xml).into_response()
}
