//! In-place re-exec (`POST /v1/agent/reexec`): the agent replaces its own
//! image with a (new) binary and keeps its pid, its children, their pipes
//! and its listening sockets, as systemd's `daemon-reexec` and HAProxy's
//! master do. Nothing is spawned or signalled by it.
//!
//! The old image, in order (each step named in the error that stops it,
//! after which the old image carries on as before): `binary` (exists,
//! executable), `check-resume` (the binary itself says it reads this
//! state format), `config` (the file still says what the agent runs),
//! `freeze` (the owner answers with its table, `supervisor/adopt.rs`, then
//! waits: nothing is reaped — a child exiting now stays a zombie for the
//! next image to reap, once), the servers stop accepting (connections wait
//! in the listen backlog), `pumps` (`logs/handoff.rs`: what was read is
//! written, the pipes are given back), `state` (`state.rs` into a sealed
//! memfd, the log tails into another, `logs/carry.rs`; the descriptors to
//! keep lose FD_CLOEXEC), `RELOADING=1`, `exec`.
//! `resume.rs` is the new image's side; when it cannot resume it execs the
//! old image again from the descriptor opened at start (so a package
//! manager replacing the file does not matter), which resumes and records
//! why. The HTTP connection of the request ends with the exec: the caller
//! reads the outcome from `GET /v1/agent/reexec` (by its `id`) once the
//! socket answers again — `fleet_client`'s `reexec` does both.

pub mod resume;
pub mod state;

use crate::logs::{carry, handoff};
use crate::supervisor::{unix_ms, Handle, Pipes};
use crate::sys::exec;
use fleet_api::{ReexecOutcome, ReexecRequest};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How long the pumps get to write what they read (a full disk holds a
/// pump; then the re-exec is refused rather than losing bytes).
const PUMPS_WITHIN: Duration = Duration::from_secs(5);
/// How long `--check-resume` may take.
const CHECK_WITHIN: Duration = Duration::from_secs(10);

/// Test-only: a new image started with this set to 1 (or to the path of a
/// file that exists) fails to resume, so the fallback to the old image is
/// exercised (`tests/agent_reexec.rs`).
pub const FAIL_RESUME_VAR: &str = "FLEET_TEST_FAIL_RESUME";
/// Test-only: set to 1 (or to the path of a file that exists), the exec
/// itself fails — after the pumps and listeners' links handed everything
/// over — so the old image taking it all back is exercised
/// (`tests/agent_reexec_listeners.rs`).
pub const FAIL_EXEC_VAR: &str = "FLEET_TEST_FAIL_EXEC";
/// Test-only: the old image sends itself SIGTERM after its last check and
/// just before `execve` — the moment a signal handled by another thread
/// would be lost with the old image (`tests/agent_reexec.rs`).
pub const TERM_BEFORE_EXEC_VAR: &str = "FLEET_TEST_TERM_BEFORE_EXEC";
/// Test-only: the old image writes this major instead of its own, so an
/// unknown major's refusal (at `check-resume`) is exercised.
pub const FORMAT_MAJOR_VAR: &str = "FLEET_TEST_FORMAT_MAJOR";

/// What a running agent needs to re-exec itself; set by `service::run`
/// for the `fleet-agent` binary (an agent run in-process has none).
pub struct Context {
    /// The binary it runs as (the default to execute).
    pub binary: PathBuf,
    pub config: PathBuf,
    /// Its own image, open since it started.
    pub image: OwnedFd,
    /// Duplicates of the listening sockets (the servers own the others).
    pub unix: OwnedFd,
    pub tcp: Option<OwnedFd>,
    /// Set: the servers stop accepting.
    pub pause: watch::Sender<bool>,
    /// Serve the listeners again (after a failed exec).
    pub serve_again: Box<dyn Fn() + Send + Sync>,
    pub outcome: Mutex<ReexecOutcome>,
    busy: tokio::sync::Mutex<()>,
}

impl Context {
    pub fn new(
        binary: PathBuf,
        config: PathBuf,
        image: OwnedFd,
        unix: OwnedFd,
        tcp: Option<OwnedFd>,
        pause: watch::Sender<bool>,
        serve_again: Box<dyn Fn() + Send + Sync>,
    ) -> Context {
        Context {
            binary,
            config,
            image,
            unix,
            tcp,
            pause,
            serve_again,
            outcome: Mutex::new(ReexecOutcome::default()),
            busy: tokio::sync::Mutex::new(()),
        }
    }
}

static CONTEXT: Mutex<Option<Arc<Context>>> = Mutex::new(None);
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
static TERM: std::sync::LazyLock<Arc<AtomicBool>> =
    std::sync::LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The agent is stopping (SIGTERM/SIGINT): a re-exec not yet past its
/// last step gives up, so the stop is not lost with the old image.
pub fn shutting_down() {
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
}

pub fn install(ctx: Context) -> Arc<Context> {
    // Set in the signal handler itself (beside tokio's), so the last
    // check before the exec sees a SIGTERM the runtime has not yet handed
    // to the shutdown future.
    for sig in [libc::SIGTERM, libc::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, TERM.clone()) {
            tracing::warn!("cannot watch signal {sig} for re-execs: {e}");
        }
    }
    let ctx = Arc::new(ctx);
    *CONTEXT.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
    ctx
}

fn context() -> Option<Arc<Context>> {
    CONTEXT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The last re-exec's outcome.
pub fn outcome() -> ReexecOutcome {
    context()
        .map(|c| c.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_default()
}

fn set_outcome(o: ReexecOutcome) {
    if let Some(c) = context() {
        *c.outcome.lock().unwrap_or_else(|e| e.into_inner()) = o;
    }
}

/// A step that failed, with the old image still in charge.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {message}")]
pub struct Failed {
    pub step: &'static str,
    pub message: String,
}

fn failed(step: &'static str) -> impl Fn(String) -> Failed {
    move |message| Failed { step, message }
}

/// Carry out `req`: returns only if it failed (on success this image is
/// gone and the new one answers `GET /v1/agent/reexec`).
pub async fn reexec(h: &Handle, req: ReexecRequest) -> Failed {
    match run(h, req).await {
        Ok(never) => match never {},
        Err(f) => {
            tracing::error!("re-exec refused at {f}; this image carries on");
            f
        }
    }
}

async fn run(h: &Handle, req: ReexecRequest) -> Result<std::convert::Infallible, Failed> {
    let arrived = unix_ms(SystemTime::now());
    let ctx = context().ok_or_else(|| Failed {
        step: "binary",
        message: "this agent runs in-process and cannot re-exec".into(),
    })?;
    let _busy = ctx.busy.try_lock().map_err(|_| Failed {
        step: "binary",
        message: "another re-exec is in progress".into(),
    })?;
    let binary = req
        .binary
        .clone()
        .map_or_else(|| ctx.binary.clone(), PathBuf::from);
    executable(&binary).map_err(failed("binary"))?;
    let minor = check_resume(&binary)
        .await
        .map_err(failed("check-resume"))?;
    let config = crate::config::Config::load(&ctx.config).map_err(|e| Failed {
        step: "config",
        message: format!("the config file is invalid now: {e}"),
    })?;
    let (table, thaw) = h
        .freeze(config, minor >= state::LISTENERS_SINCE)
        .await
        .map_err(|(step, message)| Failed { step, message })?;
    ctx.pause.send_replace(true);
    let back = |pipes: Pipes, f: Failed| {
        handoff::thaw();
        let _ = thaw.send(pipes);
        ctx.pause.send_replace(false);
        (ctx.serve_again)();
        f
    };
    let pipes = match handoff::freeze(PUMPS_WITHIN).await {
        Ok(p) => p,
        Err(p) => {
            let f = Failed {
                step: "pumps",
                message: "a log pump did not finish writing in time (is the log disk full?)".into(),
            };
            return Err(back(p, f));
        }
    };
    let snap = h.snapshot();
    let tails = carry::export(
        snap.procs
            .iter()
            .map(|p| (&*p.info.name, &p.stdout, &p.stderr)),
    );
    let state = state::Handoff {
        format_major: std::env::var(FORMAT_MAJOR_VAR)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(state::FORMAT_MAJOR),
        format_minor: state::FORMAT_MINOR,
        version: state::version(),
        binary: ctx.binary.clone(),
        config: ctx.config.clone(),
        image_fd: ctx.image.as_raw_fd(),
        notify_socket: fleet_daemon::notify::socket(),
        unix_fd: ctx.unix.as_raw_fd(),
        tcp_fd: ctx.tcp.as_ref().map(|t| t.as_raw_fd()),
        pipes: pipes
            .iter()
            .map(|(tag, fd)| state::Pipe {
                name: tag.name.clone(),
                stderr: tag.stderr,
                fd: fd.as_raw_fd(),
            })
            .collect(),
        request: state::Request {
            id: req.id.clone(),
            binary: binary.clone(),
            arrived,
        },
        table,
        tails: tails.as_ref().map(|(_, index)| index.clone()),
    };
    // Refused here, not by the new image: an image that cannot read the
    // state falls back to this one, which could not read it either.
    let sized = |b: Vec<u8>| match b.len() as u64 <= state::MAX_BYTES {
        true => Ok(b),
        false => Err(std::io::Error::other(format!(
            "the state is {} bytes, over {} (event listeners' buffers?)",
            b.len(),
            state::MAX_BYTES
        ))),
    };
    let memfd = match state::to_bytes(&state)
        .map_err(std::io::Error::other)
        .and_then(sized)
        .and_then(|b| exec::memfd_with(&b))
    {
        Ok(fd) => fd,
        Err(e) => return Err(back(pipes, failed("state")(e.to_string()))),
    };
    let keep: Vec<_> = [&memfd, &ctx.image, &ctx.unix]
        .into_iter()
        .chain(ctx.tcp.as_ref())
        .chain(tails.as_ref().map(|(fd, _)| fd))
        .chain(pipes.iter().map(|(_, fd)| fd))
        .collect();
    let inherit = |on: bool| {
        keep.iter()
            .try_for_each(|fd| exec::set_inherit(fd.as_fd(), on))
    };
    if let Err(e) = inherit(true) {
        let _ = inherit(false);
        return Err(back(pipes, failed("state")(e.to_string())));
    }
    tracing::info!(binary = %binary.display(), "re-executing in place");
    fleet_daemon::notify::reloading();
    let args = resume::args(&binary, memfd.as_raw_fd(), ctx.image.as_raw_fd(), None);
    let mask = exec::block_window_signals();
    // No thread takes a signal since the freeze (the owner, the one that
    // does, blocked them): one arriving now waits, pending, through the
    // exec for the new image. A SIGTERM taken before is the shutdown's: the
    // frozen owner would never hear it in the new image, so the re-exec
    // gives up.
    let e = if SHUTTING_DOWN.load(Ordering::SeqCst) || TERM.load(Ordering::SeqCst) {
        "the agent is shutting down".into()
    } else if resume::forced(FAIL_EXEC_VAR) {
        format!("{FAIL_EXEC_VAR} is set (a test's forced failure)")
    } else {
        if resume::forced(TERM_BEFORE_EXEC_VAR) {
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::SIGTERM);
        }
        exec::exec_path(&binary, args, exec::environment(&[TERM_BEFORE_EXEC_VAR])).to_string()
    };
    if let Ok(old) = &mask {
        exec::restore_signals(old);
    }
    let _ = inherit(false);
    fleet_daemon::notify::ready();
    Err(back(pipes, failed("exec")(e)))
}

/// A regular file this process may execute.
fn executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK)
        .map_err(|e| format!("{} is not executable: {e}", path.display()))
}

/// Ask the binary whether it reads the state this build writes: it prints
/// `yes MAJOR.MINOR VERSION` (what it writes itself) or why not
/// (`resume::check`). Returns its minor (0 if it does not say).
async fn check_resume(binary: &Path) -> Result<u32, String> {
    let major = std::env::var(FORMAT_MAJOR_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(state::FORMAT_MAJOR);
    let arg = format!("{major}.{}", state::FORMAT_MINOR);
    let mut child = std::process::Command::new(binary)
        .arg("--check-resume")
        .arg(&arg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    // Its exit is reaped by the owner (the agent's only waiter); its
    // answer is what it prints.
    let out = child.stdout.take();
    let pid = child.id();
    let read = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        if let Some(o) = out {
            use std::io::Read;
            let _ = o.take(4096).read_to_string(&mut text);
        }
        text
    });
    let text = match tokio::time::timeout(CHECK_WITHIN, read).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            let _ = crate::sys::signal::send(pid, libc::SIGKILL);
            return Err(format!("no answer within {CHECK_WITHIN:?}"));
        }
    };
    let text = text.trim();
    match text.strip_prefix("yes") {
        Some(rest) => Ok(rest
            .split_whitespace()
            .next()
            .and_then(|v| v.split_once('.')?.1.parse().ok())
            .unwrap_or(0)),
        None if text.is_empty() => Err(format!(
            "{} does not answer --check-resume (not a fleet-agent that can resume)",
            binary.display()
        )),
        None => Err(format!("{} refuses: {text}", binary.display())),
    }
}

/// `OsString` of a number, for argv.
fn num(n: i32) -> OsString {
    n.to_string().into()
}

#[cfg(test)]
mod tests;
