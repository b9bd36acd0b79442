//! Following a server-sent events stream, resuming with `Last-Event-ID`
//! when the connection breaks off. A reconnect that fails ends the command
//! (exit 1) rather than retrying forever.

use super::client::Client;
use super::{CliError, Status};
use fleet_client::sse::{SseEvent, SseParser};
use std::time::Duration;

/// Pause before reconnecting, so a server that closes at once is not
/// hammered.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

pub async fn follow(
    client: &Client,
    path: &str,
    mut on_event: impl FnMut(SseEvent) -> Result<(), CliError>,
) -> Result<Status, CliError> {
    let mut last_id: Option<String> = None;
    loop {
        let mut stream = client.events(path, last_id.as_deref()).await?;
        let mut parser = SseParser::default();
        let why = loop {
            match stream.chunk().await.and_then(|b| match b {
                Some(bytes) => parser.feed(&bytes).map(Some),
                None => Ok(None),
            }) {
                Ok(Some(events)) => {
                    for ev in events {
                        if let Some(id) = &ev.id {
                            last_id = Some(id.clone());
                        }
                        on_event(ev)?;
                    }
                }
                Ok(None) => break "the server closed it".to_owned(),
                Err(e) => break e,
            }
        };
        eprintln!(
            "fleetctl: event stream from {} broke off ({why}); reconnecting",
            client.endpoint()
        );
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}
