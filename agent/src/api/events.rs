//! `GET /v1/events`: state changes as server-sent events. Each event's id
//! is its sequence number; a client reconnecting with `Last-Event-ID`
//! gets what it missed (or a `gap` event if history no longer has it).

use crate::supervisor::Handle;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

fn sse(e: &fleet_api::Event) -> SseEvent {
    SseEvent::default()
        .id(e.seq.to_string())
        .event("state")
        .json_data(e)
        .unwrap_or_else(|_| SseEvent::default().comment("unserializable event"))
}

pub async fn events(
    State(h): State<Handle>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (past, missed, rx) = h.events.resume(last);
    let gap = missed.then(|| {
        SseEvent::default()
            .event("gap")
            .data("some events were dropped; re-read /v1/status")
    });
    let head = gap
        .into_iter()
        .chain(past.iter().map(sse))
        .map(Ok)
        .collect::<Vec<_>>();
    let live = BroadcastStream::new(rx).map(move |item| {
        Ok(match item {
            Ok(seq) => match h.events.get(seq) {
                Some(e) => sse(&e),
                // Only a follower a whole history behind loses one this way.
                None => SseEvent::default()
                    .event("gap")
                    .data(format!("event {seq} dropped; re-read /v1/status")),
            },
            Err(BroadcastStreamRecvError::Lagged(n)) => SseEvent::default()
                .event("gap")
                .data(format!("{n} events dropped; re-read /v1/status")),
        })
    });
    // The live part ends when the supervisor closes the log at exit.
    Sse::new(futures_util::stream::iter(head).chain(live))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
