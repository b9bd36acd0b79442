//! Pieces `fleet-agent` and `fleet-console` both need as daemons, kept once:
//! `notify` (systemd `Type=notify` readiness), `docs` (man pages and
//! shell completions generated from their clap definitions), `log`
//! (stderr diagnostics filtered by `FLEET_LOG`), `http` (the JSON error
//! shape as an axum response, malformed bodies included), `tls` (the TLS
//! listener both serve HTTPS on), `serve` (serving with a connection cap,
//! a header-read timeout and a graceful drain), `secret`
//! (tokens that never print themselves, and the minimum token length both
//! configs apply, and `secret::resolve`, the one reader of a token's
//! source), `trust` (the one TLS trust type of every HTTPS client: system
//! roots, a CA file or a pin), `pin` (trust one certificate by
//! its SHA-256), `proof` (the registration challenge's HMAC), `routes` (the
//! route-table shape both daemons' routers are mounted from, with per-route
//! auth layers), `metrics` (the Prometheus text exposition, a lock-free
//! histogram and the per-process families both `/metrics` share), `time`
//! (epoch milliseconds) and `hex`.
#![forbid(unsafe_code)]

pub mod docs;
pub mod hex;
pub mod http;
pub mod log;
pub mod metrics;
pub mod notify;
pub mod pin;
pub mod proof;
pub mod routes;
pub mod secret;
pub mod serve;
pub mod time;
pub mod tls;
pub mod trust;

pub use secret::Secret;
