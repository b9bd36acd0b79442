//! Response bodies: read chunk by chunk (log follow, server-sent events),
//! passed through as a stream, or collected whole — always capped. This is
//! the workspace's one capped body reader.

use bytes::Bytes;
use fleet_daemon::trust::root_reason;
use futures_util::Stream;
use http_body_util::BodyExt;
use std::time::Duration;

/// The largest body [`ByteStream::collect`] reads.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) enum Body {
    Hyper(hyper::body::Incoming),
    Reqwest(reqwest::Response),
}

/// A response body read chunk by chunk (log follow, server-sent events).
pub struct ByteStream {
    body: Body,
    /// The longest wait for the next chunk (event streams send keep-alives).
    read_timeout: Option<Duration>,
}

/// An answer with a 2xx status (see `Client::request`).
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: ByteStream,
}

impl Response {
    /// A log answer's `x-log-offset`: the stream offset of its first byte.
    pub fn log_offset(&self) -> Option<u64> {
        self.headers
            .get(fleet_api::LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
    }
}

impl ByteStream {
    pub(crate) fn new(body: Body) -> ByteStream {
        ByteStream {
            body,
            read_timeout: None,
        }
    }

    /// Fail a read that waits longer than `t` for its next chunk.
    pub fn with_read_timeout(mut self, t: Duration) -> ByteStream {
        self.read_timeout = Some(t);
        self
    }

    /// The next chunk, or `None` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self.read_timeout {
            None => self.body.chunk().await,
            Some(t) => tokio::time::timeout(t, self.body.chunk())
                .await
                .map_err(|_| format!("timed out: nothing received for {}s", t.as_secs()))?,
        }
    }

    /// The whole body, refused past [`MAX_BODY`] bytes (a JSON answer of
    /// a whole fleet is a few MiB; a hostile server's endless body must
    /// not cost more).
    pub async fn collect(self) -> Result<Vec<u8>, String> {
        self.collect_capped(MAX_BODY).await
    }

    /// The whole body, or an error once it passes `cap` bytes (read no
    /// further than the chunk that passes it).
    pub async fn collect_capped(mut self, cap: usize) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            if out.len() + c.len() > cap {
                return Err(format!("the answer is larger than {cap} bytes"));
            }
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    /// As a stream of chunks (to pass a body through, as the console's log
    /// route does).
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures_util::stream::unfold(self, |mut s| async move {
            match s.chunk().await {
                Ok(Some(b)) => Some((Ok(b), s)),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), s)),
            }
        })
    }
}

impl Body {
    async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Self::Hyper(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(root_reason(&e)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if !data.is_empty() {
                                return Ok(Some(data));
                            }
                        }
                    }
                }
            },
            Self::Reqwest(r) => r.chunk().await.map_err(|e| root_reason(&e)),
        }
    }
}
