//! `GET /v1/events`: the fleet's events as server-sent events (`event:`
//! the kind, `id:` the console's sequence number). At most
//! [`MAX_SUBSCRIBERS`] streams at once; one more gets a clear 429.

use super::ApiError;
use crate::server::App;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use fleet_api::ErrorCode;
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

/// Event streams open at once (each is a connection and a broadcast
/// receiver; the connection cap is 1,024).
pub const MAX_SUBSCRIBERS: usize = 256;

/// Quiet time after which a stream carries an `alive` event.
pub const KEEP_ALIVE: Duration = Duration::from_secs(2);

pub async fn events(
    State(app): State<Arc<App>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let permit = app.event_streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            ErrorCode::TooManyRequests,
            format!("{MAX_SUBSCRIBERS} event streams are open; close one or try again later"),
        )
    })?;
    let rx = app.picture.subscribe();
    let stream = BroadcastStream::new(rx).map(move |item| {
        // Held as long as the stream lives.
        let _ = &permit;
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
    // An `alive` event (not a comment: a page sees events only) after 2 s
    // of quiet: the page calls a console silent for 5 s lost, so a stopped
    // or frozen console, or a dead network path, shows within seconds.
    let alive = SseEvent::default().event("alive").data("1");
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).event(alive)))
}
