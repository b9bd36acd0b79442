//! One error shape for every response: `{"error": {"code", "message"}}`,
//! from the daemons' kit (fleet-daemon), shared with the agent.

pub use fleet_daemon::http::{json_body, ApiError};

impl From<crate::server::ops::Refused> for ApiError {
    fn from(r: crate::server::ops::Refused) -> Self {
        Self::new(r.0, r.1)
    }
}
