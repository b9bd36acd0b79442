//! The one HTTP client for fleet's APIs, used by the console (its follow
//! tasks, op workers and log route, towards agents), by fleetctl (towards
//! one agent or the console) and by the agent's enrollment (towards its
//! console). It depends on fleet-api and the daemons' kit only.
//!
//! `transport` is the [`Client`]: a unix socket (hyper; the agent's local
//! socket needs no token) or http(s) (reqwest, with a bearer token; trust
//! is the kit's `fleet_daemon::trust::Trust`: the system roots, a CA file,
//! or a pinned certificate fingerprint). `body` reads answers, always
//! capped ([`ByteStream`]). `error` is [`ClientError`]: a non-2xx answer
//! becomes [`ClientError::Api`] with fleet's error body (`fleet_api::
//! ErrorBody`) decoded into its code and message; a body that is not
//! fleet's is never quoted. `sse` parses server-sent events (resumed by
//! the callers with `Last-Event-ID`), `encode` percent-encodes path
//! segments (process names and selectors contain `:`). `xmlrpc` is the
//! XML-RPC codec, both sides: the agent's supervisord face and the
//! console's calls to supervisord hosts.
#![forbid(unsafe_code)]

mod body;
pub mod encode;
mod error;
pub mod reexec;
pub mod sse;
mod transport;
pub mod xmlrpc;

pub use body::{ByteStream, Response};
pub use error::ClientError;
pub use transport::{http_client, Client, Fetched, Options, Trust};

#[cfg(test)]
mod tests;
