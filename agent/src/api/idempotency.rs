//! `Idempotency-Key` on the verbs (`POST /v1/processes/{target}/{verb}`):
//! a console that cannot know whether its call went through (it took over
//! an op whose console died mid-call) repeats it with the same key
//! (`OP/HOST/FENCE`), and gets the first call's answer instead of a
//! second restart. A small bounded cache in memory: the newest
//! [`MAX_KEYS`] keys, the oldest forgotten first; only answers of calls
//! that acted are kept (a refused call did nothing, so repeating it is
//! safe). A repeat that arrives while the first is still running waits
//! for it and answers with its answer; the first runs in a task of its
//! own (`processes.rs`), so its caller hanging up does not cancel it. An agent restart forgets the keys
//! (its processes restarted with it anyway).

use super::ApiError;
use axum::http::HeaderMap;
use fleet_api::ActionResponse;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::OnceCell;

/// Keys remembered at most: a console's in-flight calls per host are a
/// handful, so this outlives any takeover by far.
pub const MAX_KEYS: usize = 1024;

/// Longest key accepted (`OP/HOST/FENCE` is well under it).
const MAX_LEN: usize = 256;

pub type Slot = Arc<OnceCell<ActionResponse>>;

#[derive(Default)]
struct Cache {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The request's key, if it has one; a malformed one is refused.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let ok = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_LEN && k.bytes().all(|b| b.is_ascii_graphic()));
    match ok {
        Some(k) => Ok(Some(k.to_string())),
        None => Err(ApiError::bad_request(format!(
            "Idempotency-Key: 1 to {MAX_LEN} printable ASCII characters without spaces"
        ))),
    }
}

/// The slot of `key`: empty for a new key, the first answer for a repeat.
pub fn slot(key: &str) -> Slot {
    let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = c.slots.get(key) {
        return s.clone();
    }
    while c.order.len() >= MAX_KEYS {
        if let Some(old) = c.order.pop_front() {
            c.slots.remove(&old);
        }
    }
    let s = Slot::default();
    c.slots.insert(key.to_string(), s.clone());
    c.order.push_back(key.to_string());
    s
}
