//! The hand-off: what the old image writes into an anonymous file for the
//! new one, as versioned JSON. A reader accepts unknown fields (a newer
//! writer's additions) and any minor version of its major; a different
//! major is refused — by the pre-flight `--check-resume`, before the exec.

use crate::supervisor::Table;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Bumped for a change an older reader would misread.
pub const FORMAT_MAJOR: u32 = 1;
/// Bumped for an addition an older reader may ignore.
pub const FORMAT_MINOR: u32 = 2;
/// The first minor that carries event listeners (`Table::listening`): an
/// image of an older one would leave running listeners unlinked, so a
/// re-exec into it is refused while one runs.
pub const LISTENERS_SINCE: u32 = 1;
/// The hand-off is small (a table and the event history); anything larger
/// is not ours.
pub const MAX_BYTES: u64 = 64 << 20;

/// This build's version as the API reports it. `FLEET_VERSION_SUFFIX` at
/// build time marks a second build of the same tree; so does running as
/// the file `FLEET_TEST_NEXT_BINARY` names (test-only: version N+1 as a
/// copy of the binary, which also writes a field N does not know).
pub fn version() -> String {
    format!(
        "{}{}{}",
        env!("CARGO_PKG_VERSION"),
        option_env!("FLEET_VERSION_SUFFIX").unwrap_or(""),
        if is_test_next() { "+next" } else { "" }
    )
}

/// Test-only: the env var that makes a copy of the binary "version N+1".
pub const NEXT_BINARY_VAR: &str = "FLEET_TEST_NEXT_BINARY";

fn is_test_next() -> bool {
    let Some(next) = std::env::var_os(NEXT_BINARY_VAR) else {
        return false;
    };
    std::env::current_exe().is_ok_and(|me| me == std::path::Path::new(&next))
}

/// What N+1 adds to the hand-off (N ignores it: unknown fields are read
/// past).
pub fn extra() -> Option<serde_json::Value> {
    is_test_next().then(|| serde_json::json!({"written_by": version(), "since": FORMAT_MINOR}))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Handoff {
    pub format_major: u32,
    pub format_minor: u32,
    /// The writer's version.
    pub version: String,
    /// The binary the writer runs as (a fallback execs it from `image_fd`).
    pub binary: PathBuf,
    /// Its config file.
    pub config: PathBuf,
    /// The writer's own image, open since it started: the fallback when
    /// the new image cannot resume, whatever is at `binary` now.
    pub image_fd: i32,
    pub notify_socket: Option<PathBuf>,
    pub unix_fd: i32,
    pub tcp_fd: Option<i32>,
    /// Each program's output pipes (read ends), by process and stream.
    pub pipes: Vec<Pipe>,
    pub request: Request,
    pub table: Table,
    /// The log tails' memfd and its index (`logs/carry.rs`; format 1.2,
    /// absent from 1.0 and 1.1 and when the memfd could not be made).
    #[serde(default)]
    pub tails: Option<crate::logs::carry::Index>,
}

/// The hand-off as written: with the test's "N+1" field (`extra`), which
/// no reader declares, so every reader shows it reads past unknown fields.
pub fn to_bytes(h: &Handoff) -> serde_json::Result<Vec<u8>> {
    let mut v = serde_json::to_value(h)?;
    if let (Some(x), Some(map)) = (extra(), v.as_object_mut()) {
        map.insert("test_next_only".into(), x);
    }
    serde_json::to_vec(&v)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pipe {
    pub name: String,
    pub stderr: bool,
    pub fd: i32,
}

/// The re-exec request being carried out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: Option<String>,
    /// What is being executed.
    pub binary: PathBuf,
    /// Unix ms when the request arrived (for `took_ms`).
    pub arrived: u64,
}

/// Can this build read a hand-off of `major.minor`?
pub fn readable(major: u32, _minor: u32) -> Result<(), String> {
    if major == FORMAT_MAJOR {
        Ok(())
    } else {
        Err(format!(
            "state format {major}.x, this build reads {FORMAT_MAJOR}.x"
        ))
    }
}

/// Parse a hand-off, refusing an unknown major before anything else.
pub fn parse(bytes: &[u8]) -> Result<Handoff, String> {
    #[derive(Deserialize)]
    struct Head {
        format_major: u32,
        format_minor: u32,
    }
    let head: Head =
        serde_json::from_slice(bytes).map_err(|e| format!("cannot read the state: {e}"))?;
    readable(head.format_major, head.format_minor)?;
    serde_json::from_slice(bytes).map_err(|e| format!("cannot read the state: {e}"))
}
