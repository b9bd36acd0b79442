//! One error shape for every response: `{"error": {"code", "message"}}`,
//! from the daemons' kit (fleet-daemon), shared with the console.

pub use fleet_daemon::http::{json_body, ApiError};
