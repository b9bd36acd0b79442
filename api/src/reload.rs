use serde::{Deserialize, Serialize};

/// Answer of `POST /v1/reload` (and what SIGHUP logs): program names, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResponse {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
}
