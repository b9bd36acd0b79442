//! The one HTTP client for fleet's APIs, used by the console (its follow
//! tasks, op workers and log route, towards agents), by fleetctl (towards
//! one agent or the console) and by the agent's enrollment (towards its
//! console). It depends on fleet-api and the daemons' kit only.
//!
//! `transport` is the [`Client`]: a unix socket (hyper; the agent's local
//! socket needs no token) or http(s) (reqwest, with a bearer token; trust
//! from the system roots, a CA file, or a pinned certificate fingerprint,
//! the kit's `fleet_daemon::pin`). Non-2xx answers become [`ClientError::Api`] carrying the
//! server's `{"error": {...}}` message. `sse` parses server-sent events
//! (resumed by the callers with `Last-Event-ID`), `encode` percent-encodes
//! path segments (process names and selectors contain `:`).

pub mod encode;
pub mod sse;
mod transport;

pub use transport::{
    http_client, ByteStream, Client, ClientError, Fetched, Options, Response, Trust,
};
