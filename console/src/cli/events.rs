//! Following a server-sent events stream, resuming with `Last-Event-ID`
//! when the connection breaks off. A reconnect that fails ends the command
//! (exit 1) rather than retrying forever.

use super::client::Client;
use super::sse::{SseEvent, SseParser};
use super::{CliError, Status};
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
        let headers: Vec<(&str, &str)> = match &last_id {
            Some(id) => vec![("last-event-id", id.as_str())],
            None => vec![],
        };
        let mut stream = client.stream(path, &headers).await?;
        let mut parser = SseParser::default();
        let why = loop {
            match stream.chunk().await {
                Ok(Some(bytes)) => {
                    for ev in parser.feed(&bytes) {
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
