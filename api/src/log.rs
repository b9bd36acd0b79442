//! How logs travel. A tail asked for with `timestamps=true` is lines of
//! `MS\tLINE`, MS the unix ms the agent read the line's first byte from
//! the pipe, or empty when it no longer knows (older than its index of
//! receive times). A log file download sends at most [`LOG_FILE_MAX`]
//! bytes (a larger file's last ones).

/// The most bytes a log file download sends; the console refuses a longer
/// body from an agent.
pub const LOG_FILE_MAX: u64 = 256 << 20;
