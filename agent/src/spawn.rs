//! Turning a [`ProcessSpec`] into a running child: resolve the command on
//! PATH, build the environment, check the user switch, create the output
//! pipes, then hand a prepared exec to `sys::spawn`. Failures are values
//! that end up in the process's `description`.

use crate::config::ProcessSpec;
use crate::sys;
use crate::sys::spawn::{Creds, Exec, Step, StepError};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Name of the variable that marks a program's descendants (see
/// `sys::proc::family`).
pub const MARK_VAR: &str = "FLEET_SPAWN_ID";

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("command not found: {command} (searched PATH={path})")]
    NotFound { command: String, path: String },
    #[error("command not executable: {0}")]
    NotExecutable(String),
    #[error("cannot run as user {0}: fleet-agent is not running as root")]
    NotRoot(String),
    #[error("argument or environment value contains a NUL byte")]
    Nul,
    #[error("{0}")]
    Fds(String),
    #[error("couldn't {step}{what}: {errno}", what = what(.step, .detail), errno = .errno.desc())]
    Step {
        step: Step,
        errno: nix::errno::Errno,
        detail: String,
    },
}

fn what(step: &Step, detail: &str) -> String {
    match step {
        Step::Chdir | Step::Exec | Step::SetUid => format!(" {detail}"),
        _ => String::new(),
    }
}

/// A started child and the read ends of its output pipes.
pub struct Spawned {
    pub pid: u32,
    /// An event listener's stdin (the write end); other programs read
    /// /dev/null.
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    /// `None` with `redirect_stderr`.
    pub stderr: Option<OwnedFd>,
}

fn cstr(s: impl AsRef<OsStr>) -> Result<CString, SpawnError> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| SpawnError::Nul)
}

fn is_executable(p: &Path) -> bool {
    p.is_file() && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok()
}

/// Resolve argv[0] like execvp, against the child's PATH.
fn resolve(
    command: &str,
    path_var: Option<&OsStr>,
    cwd: Option<&Path>,
) -> Result<PathBuf, SpawnError> {
    if command.contains('/') {
        let p = match cwd {
            Some(dir) if !command.starts_with('/') => dir.join(command),
            _ => PathBuf::from(command),
        };
        return if !p.exists() {
            Err(SpawnError::NotFound {
                command: command.into(),
                path: "(not searched: the command is a path)".into(),
            })
        } else if !is_executable(&p) {
            Err(SpawnError::NotExecutable(p.display().to_string()))
        } else {
            Ok(p)
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut found_not_exec = None;
    for dir in std::env::split_paths(path_var) {
        let candidate = dir.join(command);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
        if candidate.is_file() && found_not_exec.is_none() {
            found_not_exec = Some(candidate);
        }
    }
    match found_not_exec {
        Some(p) => Err(SpawnError::NotExecutable(p.display().to_string())),
        None => Err(SpawnError::NotFound {
            command: command.into(),
            path: path_var.to_string_lossy().into_owned(),
        }),
    }
}

/// Names of the environment variables that hold the agent's own secrets
/// (`token_env`, `enrollment_token_env`). Fixed for the agent's lifetime:
/// a reload cannot change `[agent]`.
static SECRET_ENV: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Keep the variables `names` out of every program's environment: a
/// program (maybe running as `nobody`) must never read the agent's token.
pub fn hide_env(names: &[String]) {
    *SECRET_ENV.write().unwrap_or_else(|e| e.into_inner()) = names.to_vec();
}

/// `SUPERVISOR_SERVER_URL`: the agent's unix socket as `unix://PATH`, set
/// once at start (`[agent] socket` cannot change on reload).
static SERVER_URL: std::sync::RwLock<String> = std::sync::RwLock::new(String::new());

/// Give every program supervisord's `SUPERVISOR_SERVER_URL`, so
/// `supervisor.childutils.getRPCInterface(os.environ)` (superlance's
/// listeners, supervisorctl in a program) reaches this agent's XML-RPC
/// face over its socket.
pub fn set_server_socket(socket: &Path) {
    *SERVER_URL.write().unwrap_or_else(|e| e.into_inner()) = format!("unix://{}", socket.display());
}

/// The child's environment: the agent's minus its secrets (`hide_env`),
/// then fleet's own variables, then
/// the user's identity (supervisord keeps root's HOME; we do not), then the
/// program's `environment`.
fn environment(spec: &ProcessSpec, mark: &str) -> Vec<(OsString, OsString)> {
    let hidden = SECRET_ENV.read().unwrap_or_else(|e| e.into_inner());
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !hidden.iter().any(|h| k == h.as_str()))
        .collect();
    drop(hidden);
    let mut set = |k: &str, v: &OsStr| {
        env.retain(|(key, _)| key != k);
        env.push((k.into(), v.to_owned()));
    };
    set("FLEET_PROCESS_NAME", OsStr::new(&spec.full_name()));
    set("FLEET_GROUP_NAME", OsStr::new(&spec.group));
    set("FLEET_PROGRAM_NAME", OsStr::new(&spec.program));
    set(MARK_VAR, OsStr::new(mark));
    // supervisord's own variables, as it sets them for every child.
    set("SUPERVISOR_ENABLED", OsStr::new("1"));
    set("SUPERVISOR_PROCESS_NAME", OsStr::new(&spec.name));
    set("SUPERVISOR_GROUP_NAME", OsStr::new(&spec.group));
    let url = SERVER_URL.read().unwrap_or_else(|e| e.into_inner()).clone();
    if !url.is_empty() {
        set("SUPERVISOR_SERVER_URL", OsStr::new(&url));
    }
    if let Some(user) = &spec.user {
        set("HOME", user.home.as_os_str());
        set("USER", OsStr::new(&user.name));
        set("LOGNAME", OsStr::new(&user.name));
    }
    for (k, v) in &spec.environment {
        set(k, OsStr::new(v));
    }
    env
}

/// Start one instance of `spec`. `mark` is the unique value of [`MARK_VAR`].
pub fn spawn(spec: &ProcessSpec, mark: &str, devnull: &OwnedFd) -> Result<Spawned, SpawnError> {
    // Two pipes (four descriptors while spawning; six for a listener's
    // stdin), never from the reserve: the API must answer even when
    // programs cannot start.
    sys::fd_room(6).map_err(SpawnError::Fds)?;
    let env = environment(spec, mark);
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    let path = resolve(&spec.argv[0], path_var, spec.directory.as_deref())?;

    let creds = match &spec.user {
        None => None,
        Some(u) if nix::unistd::geteuid().as_raw() == u.uid => None,
        Some(u) if !sys::is_root() => return Err(SpawnError::NotRoot(u.name.clone())),
        Some(u) => Some(Creds {
            uid: u.uid,
            gid: u.gid,
            groups: u.groups.clone(),
        }),
    };

    let step_err = |e: StepError, detail: String| SpawnError::Step {
        step: e.step,
        errno: e.errno,
        detail,
    };
    let io_err = |step, e: std::io::Error| SpawnError::Step {
        step,
        errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        detail: String::new(),
    };
    let (out_r, out_w) = sys::spawn::cloexec_pipe().map_err(|e| io_err(Step::Pipe, e))?;
    let err_pipe = if spec.redirect_stderr {
        None
    } else {
        Some(sys::spawn::cloexec_pipe().map_err(|e| io_err(Step::Pipe, e))?)
    };
    let in_pipe = match spec.listener {
        Some(_) => Some(sys::spawn::cloexec_pipe().map_err(|e| io_err(Step::Pipe, e))?),
        None => None,
    };
    let exec = Exec {
        path: cstr(&path)?,
        argv: spec.argv.iter().map(cstr).collect::<Result<_, _>>()?,
        envp: env
            .into_iter()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                CString::new(kv).map_err(|_| SpawnError::Nul)
            })
            .collect::<Result<_, _>>()?,
        cwd: spec.directory.as_ref().map(cstr).transpose()?,
        umask: spec.umask,
        creds,
        stdin: in_pipe
            .as_ref()
            .map_or(devnull.as_raw_fd(), |(r, _)| r.as_raw_fd()),
        stdout: out_w.as_raw_fd(),
        stderr: err_pipe
            .as_ref()
            .map_or(out_w.as_raw_fd(), |(_, w)| w.as_raw_fd()),
    };
    let pid = sys::spawn::spawn(&exec).map_err(|e| {
        let detail = match e.step {
            Step::Chdir => spec
                .directory
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            Step::SetUid => spec
                .user
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default(),
            _ => path.display().to_string(),
        };
        step_err(e, detail)
    })?;
    // The write ends now live in the child only, so EOF on the read ends
    // means every writer is gone.
    drop(out_w);
    let stderr = err_pipe.map(|(r, w)| {
        drop(w);
        r
    });
    let stdin = in_pipe.map(|(r, w)| {
        drop(r);
        w
    });
    Ok(Spawned {
        pid,
        stdin,
        stdout: out_r,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_on_path_and_reports_missing_commands() {
        let p = resolve("sh", Some(OsStr::new("/nonexistent:/bin:/usr/bin")), None).unwrap();
        assert!(p.ends_with("sh"));
        let err = resolve("no-such-cmd-xyz", Some(OsStr::new("/bin")), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "command not found: no-such-cmd-xyz (searched PATH=/bin)"
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        let err = resolve(plain.to_str().unwrap(), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("command not executable: {}", plain.display())
        );
    }
}
