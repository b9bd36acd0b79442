//! The one follow body: a stream's last `tail` bytes, then every chunk as
//! it is written, until `until` resolves (the agent stopping). Used by
//! `/v1/.../log?follow=true` and supervisord's `/logtail`. A reader that
//! falls behind is told how much it missed, in the stream.

use super::LogStream;
use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::future::Future;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub fn follow_body(
    stream: &LogStream,
    tail: usize,
    until: impl Future<Output = ()> + Send + 'static,
) -> Body {
    let (first, rx) = stream.follow(tail);
    let live = BroadcastStream::new(rx).map(|item| {
        Ok::<Bytes, Infallible>(match item {
            Ok(b) => b,
            Err(BroadcastStreamRecvError::Lagged(n)) => Bytes::from(format!(
                "\n[fleet-agent: {n} chunks skipped, this reader fell behind]\n"
            )),
        })
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(first)) })
        .chain(live)
        .take_until(until);
    Body::from_stream(body)
}
