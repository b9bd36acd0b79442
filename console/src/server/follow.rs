//! One task per agent: open its event stream, read its status, then apply
//! each event to the picture. On any error the host is marked down (with
//! the error; staleness counts from the last bytes seen) and the task
//! reconnects with capped exponential backoff plus jitter, resuming with
//! `Last-Event-ID`.
//!
//! Events carry each changed process whole (`Event::process`), notes
//! (`from == to`) included, so a `wanted` change of a stopped process or a
//! process a reload added or dropped arrives as one. CPU/memory, and
//! anything an older agent's events lack, come from re-reading the status
//! when an operation touched the host (`Picture::resync`) and every
//! `RESYNC`.

use super::agent_client::{AgentClient, CallError};
use super::picture::Picture;
use fleet_api::Event;
use fleet_client::sse::SseParser;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// A restarted agent is back in the picture within this (plus jitter).
const BACKOFF_MAX: Duration = Duration::from_secs(4);
/// How often a live host's full status is re-read anyway.
const RESYNC: Duration = Duration::from_secs(30);

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
        picture.reconnecting(&host);
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
    let mut body = resp;
    let mut parser = SseParser::default();
    let broken = |e: String| CallError::Unreachable(format!("event stream broke off: {e}"));
    let nudge = picture.nudge(host);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
    loop {
        let chunk = tokio::select! {
            c = body.chunk() => c.map_err(broken)?,
            _ = nudge.notified() => {
                picture.set_status(host, client.status().await?);
                continue;
            }
            _ = every.tick() => {
                picture.set_status(host, client.status().await?);
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        picture.touch(host);
        for ev in parser.feed(&chunk).map_err(broken)? {
            match ev.event.as_str() {
                "state" | "message" => {
                    let e: Event = match serde_json::from_str(&ev.data) {
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
                "gap" => {
                    picture.set_status(host, client.status().await?);
                }
                _ => {}
            }
        }
    }
    Ok(())
}
