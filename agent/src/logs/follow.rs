//! The follow bodies: a stream's last `tail` bytes, then every chunk as it
//! is written, until `until` resolves (the agent stopping). `follow_body`
//! is the bytes as written (`/v1/.../log?follow=true`, supervisord's
//! `/logtail`); `stamped_follow_body` is the same as `MS\tLINE` lines
//! (`&timestamps=true`). A reader that falls behind is told how much it
//! missed, in the stream.

use super::{LogStream, Span};
use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::future::Future;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

/// The body, and the stream offset of its first byte.
pub fn follow_body(
    stream: &LogStream,
    span: Span,
    until: impl Future<Output = ()> + Send + 'static,
) -> (Body, u64) {
    let (first, rx, start) = stream.follow(span);
    (body(Bytes::from(first), rx, |b| b, until), start)
}

/// The last `tail` bytes stamped, then each new line as `MS\tLINE`, MS the
/// agent's clock when the chunk holding the line's first byte reached this
/// follower (one clock, the agent's, for history and live lines). A line
/// split across chunks is stamped once, at its start.
pub fn stamped_follow_body(
    stream: &LogStream,
    span: Span,
    until: impl Future<Output = ()> + Send + 'static,
) -> (Body, u64) {
    let (bytes, stamps, rx, start) = stream.follow_stamped(span);
    let first = stamped(&bytes, &stamps);
    // The tail ends at a line end (or is empty): the next byte starts one.
    let mut line_start = first.is_empty() || first.ends_with('\n');
    let each = move |chunk: Bytes| {
        let ms = fleet_daemon::time::now_ms().to_string();
        let mut out = String::with_capacity(chunk.len() + 16);
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            if line_start {
                out.push_str(&ms);
                out.push('\t');
            }
            out.push_str(&String::from_utf8_lossy(piece));
            line_start = piece.ends_with(b"\n");
        }
        Bytes::from(out)
    };
    (body(Bytes::from(first), rx, each, until), start)
}

/// `first`, then each chunk of `rx` through `each`, until `until`.
fn body(
    first: Bytes,
    rx: broadcast::Receiver<Bytes>,
    mut each: impl FnMut(Bytes) -> Bytes + Send + 'static,
    until: impl Future<Output = ()> + Send + 'static,
) -> Body {
    let live = BroadcastStream::new(rx).map(move |item| {
        Ok::<Bytes, Infallible>(each(match item {
            Ok(b) => b,
            Err(BroadcastStreamRecvError::Lagged(n)) => Bytes::from(format!(
                "\n[fleet-agent: {n} chunks skipped, this reader fell behind]\n"
            )),
        }))
    });
    let body = futures_util::stream::once(async move { Ok(first) })
        .chain(live)
        .take_until(until);
    Body::from_stream(body)
}

/// `bytes` as `MS\tLINE\n` lines: MS the time of the line's first byte
/// (from `stamps`, (offset, ms) pairs each covering the bytes up to the
/// next), empty before the first pair. Bytes that are not UTF-8 are
/// replaced, as the page would.
pub fn stamped(bytes: &[u8], stamps: &[(u64, u64)]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    let mut at = 0usize;
    let mut next = 0usize;
    let mut time = None;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        while next < stamps.len() && stamps[next].0 <= at as u64 {
            time = Some(stamps[next].1);
            next += 1;
        }
        if let Some(ms) = time {
            out.push_str(&ms.to_string());
        }
        out.push('\t');
        out.push_str(&String::from_utf8_lossy(line));
        at += line.len();
    }
    out
}
