//! The new image's side of a re-exec: `fleet-agent --resume FD --fallback
//! FD` reads the hand-off, takes the descriptors it names (each made
//! close-on-exec again, so no program inherits them) and runs with the
//! table adopted instead of started. When it cannot, it execs the old
//! image from the fallback descriptor with `--resume-failed WHY`, before
//! taking anything, so the old image finds every descriptor as it left it.

use super::state::{self, Handoff};
use super::{num, FAIL_RESUME_VAR};
use crate::config::Config;
use crate::logs::carry;
use crate::logs::handoff::Tag;
use crate::supervisor::Adopted;
use crate::sys::exec;
use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// The arguments the new image is started with.
pub fn args(binary: &Path, state: RawFd, image: RawFd, failed: Option<&str>) -> Vec<OsString> {
    let mut a = vec![
        binary.as_os_str().to_owned(),
        "--resume".into(),
        num(state),
        "--fallback".into(),
        num(image),
    ];
    if let Some(why) = failed {
        a.push("--resume-failed".into());
        a.push(why.into());
    }
    a
}

/// `fleet-agent --check-resume MAJOR.MINOR`: print `yes` when this build
/// reads that state format, else why not.
pub fn check(version: &str) -> String {
    let parsed = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
    match parsed {
        Some((major, minor)) => match state::readable(major, minor) {
            Ok(()) => format!(
                "yes {}.{} {}",
                state::FORMAT_MAJOR,
                state::FORMAT_MINOR,
                state::version()
            ),
            Err(why) => format!("no: {why}"),
        },
        None => format!("no: cannot read the version {version:?}"),
    }
}

/// What `main` needs to carry on as the re-executed agent.
pub struct Resumed {
    pub config: Config,
    pub unix: OwnedFd,
    pub tcp: Option<OwnedFd>,
    /// This image's own file, for its own next fallback.
    pub image: OwnedFd,
    /// The binary this image runs as.
    pub binary: PathBuf,
    pub carried: Carried,
}

/// What `service::run_with` takes over.
pub struct Carried {
    pub adopted: Adopted,
    pub handoff: Handoff,
    /// Set in the old image resumed after the new one failed: why.
    pub failed: Option<String>,
}

/// The new image serves: record the outcome `GET /v1/agent/reexec` reads.
pub fn served(handoff: &Handoff, failed: Option<String>) {
    let now = crate::supervisor::unix_ms(std::time::SystemTime::now());
    let outcome = match failed {
        Some(why) => {
            tracing::error!(
                "re-exec of {} failed at resume: {why}; the previous image carries on",
                handoff.request.binary.display()
            );
            fleet_api::ReexecOutcome {
                id: handoff.request.id.clone(),
                ok: None,
                error: Some(format!(
                    "resume: {} could not resume ({why}); {} carries on",
                    handoff.request.binary.display(),
                    handoff.version
                )),
            }
        }
        None => {
            let ok = fleet_api::ReexecResponse {
                pid: std::process::id(),
                binary: handoff.request.binary.display().to_string(),
                version: state::version(),
                previous_version: handoff.version.clone(),
                took_ms: now.saturating_sub(handoff.request.arrived),
            };
            tracing::info!(from = %ok.previous_version, to = %ok.version, took_ms = ok.took_ms, "re-executed in place");
            fleet_api::ReexecOutcome {
                id: handoff.request.id.clone(),
                ok: Some(ok),
                error: None,
            }
        }
    };
    super::set_outcome(outcome);
}

/// Resume from the hand-off in `state_fd`; on failure, fall back to the
/// image in `image_fd` (does not return then, unless that exec fails too).
pub fn resume(state_fd: RawFd, image_fd: RawFd, failed: Option<String>) -> Result<Resumed, String> {
    let attempt = read(state_fd, failed.is_some());
    let (handoff, config) = match attempt {
        Ok(ok) => ok,
        Err(why) if failed.is_none() => {
            tracing::error!("cannot resume: {why}; the previous image takes over again");
            let e = fall_back(state_fd, image_fd, &why);
            return Err(format!("{why}; and the previous image cannot run: {e}"));
        }
        Err(why) => return Err(why),
    };
    // From here on nothing fails: take what the hand-off names.
    let take = |fd: RawFd| exec::take_inherited(fd);
    let _state = take(state_fd);
    let old_image = take(image_fd);
    let unix = take(handoff.unix_fd).ok_or("the unix socket was not handed over")?;
    let tcp = handoff.tcp_fd.and_then(take);
    let tails = carry::Received::new(
        handoff.tails.clone(),
        handoff.tails.as_ref().and_then(|t| take(t.fd)),
    );
    let pipes = handoff
        .pipes
        .iter()
        .filter_map(|p| {
            let fd = take(p.fd)?;
            let tag = Tag {
                name: p.name.clone(),
                stderr: p.stderr,
            };
            Some((tag, fd))
        })
        .collect();
    // The new image falls back to itself next time; the old one resumed
    // keeps its own image, whatever is at its path now.
    let (binary, image) = match (&failed, old_image) {
        (Some(_), Some(img)) => (handoff.binary.clone(), img),
        _ => {
            let b = handoff.request.binary.clone();
            let img = exec::open_image(&b)
                .or_else(|_| exec::open_image(Path::new("/proc/self/exe")))
                .map_err(|e| format!("cannot open {}: {e}", b.display()))?;
            (b, img)
        }
    };
    fleet_daemon::notify::set_socket(handoff.notify_socket.clone());
    let listener_fds = handoff
        .table
        .listening
        .iter()
        .flat_map(|l| &l.links)
        .filter_map(|k| k.conversation.as_ref())
        .flat_map(|c| c.fds())
        .filter_map(|n| Some((n, take(n)?)))
        .collect();
    let adopted = Adopted {
        table: handoff.table.clone(),
        tails,
        pipes,
        listener_fds,
    };
    Ok(Resumed {
        config,
        unix,
        tcp,
        image,
        binary,
        carried: Carried {
            adopted,
            handoff,
            failed,
        },
    })
}

fn read(state_fd: RawFd, fallback: bool) -> Result<(Handoff, Config), String> {
    // Read through a duplicate: the descriptor itself stays as the old
    // image left it, for a fallback.
    let dup = nix::unistd::dup(state_fd).map_err(|e| format!("no state descriptor: {e}"))?;
    let dup = exec::take_inherited(dup).ok_or("no state descriptor")?;
    let bytes = exec::read_all(dup, state::MAX_BYTES).map_err(|e| e.to_string())?;
    let handoff = state::parse(&bytes)?;
    if !fallback && forced(FAIL_RESUME_VAR) {
        return Err(format!("{FAIL_RESUME_VAR}=1 (a test's forced failure)"));
    }
    let config = Config::load(&handoff.config)
        .map_err(|e| format!("invalid config {}:\n{e}", handoff.config.display()))?;
    Ok((handoff, config))
}

/// Test-only (`FAIL_RESUME_VAR`, `FAIL_EXEC_VAR`): `1`, or the path of a
/// file that exists.
pub(super) fn forced(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1" || Path::new(&v).exists())
}

/// Exec the old image again, telling it why; returns only on failure.
fn fall_back(state_fd: RawFd, image_fd: RawFd, why: &str) -> std::io::Error {
    let Some(image) = exec::take_inherited(image_fd) else {
        return std::io::Error::other("no image descriptor");
    };
    // Kept open for the old image again (take_inherited set CLOEXEC).
    let _ = exec::set_inherit(image.as_fd(), true);
    let args = args(Path::new("fleet-agent"), state_fd, image_fd, Some(why));
    let e = exec::exec_fd(image.as_fd(), args, exec::environment(&[FAIL_RESUME_VAR]));
    std::mem::forget(image);
    e
}
