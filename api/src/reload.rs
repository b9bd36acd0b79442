use serde::{Deserialize, Serialize};

/// Answer of `POST /v1/reload` (and what SIGHUP logs): program names, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResponse {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Settings that a reload cannot apply (e.g. a new listen address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
