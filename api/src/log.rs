//! How logs travel. A tail asked for with `timestamps=true` is lines of
//! `MS\tLINE`, MS the unix ms the agent read the line's first byte from
//! the pipe, or empty when it no longer knows (older than its index of
//! receive times). A log file download sends at most [`LOG_FILE_MAX`]
//! bytes (a larger file's last ones).

/// The most bytes a log file download sends; the console refuses a longer
/// body from an agent.
pub const LOG_FILE_MAX: u64 = 256 << 20;

use serde::{Deserialize, Serialize};

/// A process's output stream, as the wire names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stream {
    #[default]
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream a query names (stdout when it names none), or why not.
    pub fn parse(given: Option<&str>) -> Result<Stream, String> {
        match given.unwrap_or("stdout") {
            "stdout" => Ok(Stream::Stdout),
            "stderr" => Ok(Stream::Stderr),
            other => Err(format!(
                "unknown stream {other:?} (expected stdout or stderr)"
            )),
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The query of a log tail or follow: the agent's
/// `GET /v1/processes/{name}/log` and the console's, which passes it on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogQuery {
    pub stream: Option<String>,
    pub tail: Option<usize>,
    pub follow: Option<bool>,
    pub timestamps: Option<bool>,
    /// Instead of `tail`: the bytes from this stream offset on that the
    /// tail still holds (offsets count every byte since the stream began,
    /// across the agent's re-execs; each answer's [`LOG_OFFSET_HEADER`]
    /// says where its first byte is).
    #[serde(default)]
    pub from: Option<u64>,
}

/// The response header of a log tail or follow: the stream offset of its
/// first byte, so a follower whose connection broke asks `from` =
/// that + the bytes it got.
pub const LOG_OFFSET_HEADER: &str = "x-log-offset";

impl LogQuery {
    /// The query string asking an agent for this, with `stream` checked.
    pub fn to_query(&self, stream: Stream) -> String {
        let mut q = format!("stream={}", stream.as_str());
        if let Some(t) = self.tail {
            q.push_str(&format!("&tail={t}"));
        }
        if self.follow == Some(true) {
            q.push_str("&follow=true");
        }
        if self.timestamps == Some(true) {
            q.push_str("&timestamps=true");
        }
        if let Some(at) = self.from {
            q.push_str(&format!("&from={at}"));
        }
        q
    }
}

/// The query of a log file download (`.../log/file`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileQuery {
    pub stream: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_queries() {
        assert_eq!(Stream::parse(None), Ok(Stream::Stdout));
        assert_eq!(Stream::parse(Some("stderr")), Ok(Stream::Stderr));
        assert!(Stream::parse(Some("STDOUT"))
            .unwrap_err()
            .contains("expected stdout or stderr"));
        let q = LogQuery {
            tail: Some(10),
            follow: Some(true),
            ..Default::default()
        };
        assert_eq!(
            q.to_query(Stream::Stderr),
            "stream=stderr&tail=10&follow=true"
        );
    }
}
