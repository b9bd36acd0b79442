//! One task per agent: open its event stream, read its status, then apply
//! each event to the picture. On any error the host is marked down (with
//! the error; staleness counts from the last bytes seen) and the task
//! reconnects with capped exponential backoff plus jitter, resuming with
//! `Last-Event-ID`.

use super::agent_client::{unreachable, AgentClient, CallError};
use super::picture::Picture;
use fleet_api::Event;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// An SSE block larger than this is garbage, not an event.
const MAX_BLOCK: usize = 1 << 20;

pub async fn follow(client: AgentClient, picture: Arc<Picture>) {
    let host = client.host.name.clone();
    let mut last_seq: Option<u64> = None;
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        let why = match session(&client, &picture, &mut last_seq).await {
            Ok(()) => "the agent closed its event stream".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::debug!(host = %host, "agent stream lost: {why}");
        picture.set_down(&host, why);
        if started.elapsed() > Duration::from_secs(10) {
            backoff = BACKOFF_MIN;
        }
        let jitter = fastrand::u64(0..=backoff.as_millis() as u64 / 2);
        tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn session(
    client: &AgentClient,
    picture: &Picture,
    last_seq: &mut Option<u64>,
) -> Result<(), CallError> {
    let host = &client.host.name;
    // Subscribe first, then read the status: nothing falls in between.
    let resp = client.events(*last_seq).await?;
    let st = client.status().await?;
    let instance = (st.pid, st.started_at);
    let prev = picture.set_status(host, st);
    if prev.is_some_and(|p| p != instance) {
        // A restarted agent numbers its events from 1 again.
        *last_seq = None;
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(unreachable)?;
        picture.touch(host);
        buf.extend_from_slice(&chunk);
        while let Some(end) = block_end(&buf) {
            let block: Vec<u8> = buf.drain(..end).collect();
            let (kind, data) = parse_block(&block);
            match kind.as_deref() {
                Some("state") | None if !data.is_empty() => {
                    let e: Event = match serde_json::from_str(&data) {
                        Ok(e) => e,
                        Err(e) => {
                            tracing::warn!(host = %host, "unreadable agent event: {e}");
                            continue;
                        }
                    };
                    *last_seq = Some(e.seq);
                    if !picture.apply(host, &e) {
                        picture.set_status(host, client.status().await?);
                    }
                }
                Some("gap") => {
                    picture.set_status(host, client.status().await?);
                }
                _ => {}
            }
        }
        if buf.len() > MAX_BLOCK {
            return Err(CallError::Unreachable(
                "agent event stream sent an oversized event".into(),
            ));
        }
    }
    Ok(())
}

/// End (exclusive) of the first complete SSE block, if any.
fn block_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// (event kind, joined data lines) of one SSE block.
fn parse_block(block: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(block);
    let mut kind = None;
    let mut data = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("event:") {
            kind = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
    }
    (kind, data.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sse_blocks() {
        let buf = b"id: 3\nevent: state\ndata: {\"a\":1}\n\n: keep-alive\n\n";
        let end = block_end(buf).unwrap();
        assert_eq!(
            parse_block(&buf[..end]),
            (Some("state".into()), "{\"a\":1}".into())
        );
        let rest = &buf[end..];
        assert_eq!(
            parse_block(&rest[..block_end(rest).unwrap()]),
            (None, String::new())
        );
        assert_eq!(block_end(b"data: x\n"), None);
    }
}
