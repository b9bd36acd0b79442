//! One task per supervisord host: read its status (one `system.multicall`
//! request) every `poll`, or at once when an op touched the host
//! (`Picture::resync`), and give it to the picture as a fleet agent's
//! status re-read is given (what changed is published as process events,
//! so the page follows). A read that fails or gets no answer within its
//! timeout marks the host down with why; the picture never waits on it.

use super::super::picture::Picture;
use super::{Restarts, SupervisordClient};
use std::sync::Arc;
use std::time::Duration;

/// How long one poll may take: twice the interval, from 2 s to 10 s.
pub fn poll_timeout(every: Duration) -> Duration {
    (every * 2).clamp(Duration::from_secs(2), Duration::from_secs(10))
}

pub async fn poll(
    host: String,
    client: Arc<SupervisordClient>,
    picture: Arc<Picture>,
    every: Duration,
) {
    let mut restarts = Restarts::default();
    let nudge = picture.nudge(&host);
    let limit = poll_timeout(every);
    loop {
        let next = tokio::time::Instant::now() + every;
        match tokio::time::timeout(limit, client.status(Some(&mut restarts))).await {
            Ok(Ok(st)) => {
                picture.set_status(&host, st);
            }
            Ok(Err(e)) => picture.set_down(&host, e.to_string()),
            Err(_) => picture.set_down(
                &host,
                format!("no answer from supervisord within {} ms", limit.as_millis()),
            ),
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = nudge.notified() => {}
        }
    }
}
