//! `GET /v1/events`: the fleet's events as server-sent events (`event:`
//! the kind, `id:` the console's sequence number).

use crate::server::App;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use fleet_api::FleetEvent;
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

fn kind(e: &FleetEvent) -> &'static str {
    match e {
        FleetEvent::Process { .. } => "process",
        FleetEvent::Host { .. } => "host",
        FleetEvent::Op { .. } => "op",
    }
}

pub async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = app.picture.subscribe();
    let stream = BroadcastStream::new(rx).map(|item| {
        Ok(match item {
            Ok((seq, e)) => SseEvent::default()
                .id(seq.to_string())
                .event(kind(&e))
                .json_data(&e)
                .unwrap_or_else(|_| SseEvent::default().comment("unserializable event")),
            Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                .event("gap")
                .data(format!("{n} events dropped; re-read /v1/status")),
        })
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
