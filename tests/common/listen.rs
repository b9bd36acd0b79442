//! Event listeners and in-place re-execs, for the tests of both
//! (`agent_listeners.rs`, `agent_reexec*.rs`): the fixture listener and
//! what it recorded, a listener's status, and a re-exec read as
//! `fleet_client::reexec` reads it.

use super::{http, unique, wait_for, Agent, Response};
use serde_json::Value;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// `tests/fixtures/listener.py`: records each event as a JSON line.
pub fn fixture_listener() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/listener.py")
        .display()
        .to_string()
}

/// The events a fixture listener recorded, in order.
pub fn recorded(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn wait_recorded(path: &Path, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_for(T, what, || {
        let r = recorded(path);
        f(&r).then_some(r)
    })
}

/// What the status says of listener `name`.
pub fn listener(a: &Agent, name: &str) -> Value {
    a.process(name)["listener"].clone()
}

/// Wait until listener `name` is in protocol state `state`.
pub fn wait_listener(a: &Agent, name: &str, state: &str) {
    wait_for(T, &format!("{name} {state}"), || {
        (listener(a, name)["state"] == state).then_some(())
    });
}

/// A REMOTE_COMMUNICATION event through supervisord's XML-RPC method.
pub fn remote(a: &Agent, kind: &str, data: &str) {
    let res = a.xmlrpc(
        "supervisor.sendRemoteCommEvent",
        &[
            format!("<string>{kind}</string>"),
            format!("<string>{data}</string>"),
        ],
    );
    assert!(res.contains("<boolean>1</boolean>"), "{res}");
}

/// GET over the agent's unix socket (no token needed there).
pub fn unix_get(a: &Agent, path: &str) -> std::io::Result<Response> {
    let s = UnixStream::connect(&a.socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    http(s, "GET", path, &[], b"")
}

/// POST the re-exec (`body`: more fields of the request), then read its
/// outcome as `fleet_client::reexec` does: the exec ends the connection
/// unanswered. A refusal before the exec is its error response.
pub fn reexec(a: &Agent, body: &str) -> Value {
    let id = format!("t{}", unique());
    let body = match body {
        "" => format!("{{\"id\":\"{id}\"}}"),
        b => format!("{{\"id\":\"{id}\",{b}}}"),
    };
    if let Ok(r) = UnixStream::connect(&a.socket)
        .and_then(|s| http(s, "POST", "/v1/agent/reexec", &[], body.as_bytes()))
    {
        if r.status != 0 && r.status != 200 {
            return r.json();
        }
    }
    wait_for(T, "the re-exec's outcome", || {
        let o = unix_get(a, "/v1/agent/reexec").ok()?.json();
        (o["id"] == id.as_str()).then_some(o)
    })
}
