//! fork + exec with every step's failure reported back to the parent.
//!
//! Everything the child needs (C strings, group list) is prepared before
//! `fork`, because after fork in a multi-threaded process only
//! async-signal-safe calls are allowed: the child makes raw libc calls and
//! never allocates. A CLOEXEC pipe carries `(step, errno)` back if a step
//! fails; EOF on it means exec succeeded. The failed child `_exit`s and is
//! reaped by the one reaper like any other unknown pid.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The step of the child's set-up that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Pipe,
    Fork,
    Setsid,
    Stdio,
    SetGroups,
    SetGid,
    SetUid,
    Chdir,
    Exec,
}

impl Step {
    fn from_u8(b: u8) -> Step {
        match b {
            2 => Step::Setsid,
            3 => Step::Stdio,
            4 => Step::SetGroups,
            5 => Step::SetGid,
            6 => Step::SetUid,
            7 => Step::Chdir,
            _ => Step::Exec,
        }
    }
    fn code(self) -> u8 {
        match self {
            Step::Pipe | Step::Fork => 0,
            Step::Setsid => 2,
            Step::Stdio => 3,
            Step::SetGroups => 4,
            Step::SetGid => 5,
            Step::SetUid => 6,
            Step::Chdir => 7,
            Step::Exec => 8,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Pipe => "create pipe",
            Step::Fork => "fork",
            Step::Setsid => "create process group",
            Step::Stdio => "set up stdio",
            Step::SetGroups => "set supplementary groups",
            Step::SetGid => "setgid",
            Step::SetUid => "setuid",
            Step::Chdir => "chdir",
            Step::Exec => "exec",
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepError {
    pub step: Step,
    pub errno: nix::errno::Errno,
}

/// Credentials to switch to in the child.
pub struct Creds {
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
}

/// A fully prepared exec.
pub struct Exec {
    /// Absolute (or explicitly relative) path of the program.
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: Option<CString>,
    pub umask: Option<libc::mode_t>,
    pub creds: Option<Creds>,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
}

fn null_terminated(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// A pipe whose both ends are close-on-exec.
pub fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these two fresh descriptors, owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Fork and exec. Returns the child's pid once exec has succeeded.
pub fn spawn(exec: &Exec) -> Result<u32, StepError> {
    let err = |step| move |errno| StepError { step, errno };
    let (report_r, report_w) = cloexec_pipe()
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        .map_err(err(Step::Pipe))?;
    let argv = null_terminated(&exec.argv);
    let envp = null_terminated(&exec.envp);

    // SAFETY: the child branch only makes async-signal-safe libc calls on
    // memory prepared above, and always ends in execve or _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(StepError {
            step: Step::Fork,
            errno: nix::errno::Errno::last(),
        });
    }
    if pid == 0 {
        // Child.
        unsafe { child(exec, &argv, &envp, report_w.as_raw_fd()) }
    }
    drop(report_w);
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into our own stack buffer.
        let n = unsafe {
            libc::read(
                report_r.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n == 0 {
            break;
        }
        if n < 0 {
            if nix::errno::Errno::last() == nix::errno::Errno::EINTR {
                continue;
            }
            break;
        }
        got += n as usize;
    }
    if got == 0 {
        return Ok(pid as u32);
    }
    let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
    Err(StepError {
        step: Step::from_u8(buf[0]),
        errno: nix::errno::Errno::from_raw(errno),
    })
}

/// Runs in the forked child. Never returns.
unsafe fn child(
    exec: &Exec,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    report: RawFd,
) -> ! {
    let fail = |step: Step| -> ! {
        let errno = *libc::__errno_location();
        let mut msg = [0u8; 5];
        msg[0] = step.code();
        msg[1..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(report, msg.as_ptr().cast(), msg.len());
        libc::_exit(127);
    };

    // Own process group, so a stop can reach the whole group and a signal
    // sent to the agent's group does not reach the program.
    if libc::setpgid(0, 0) != 0 {
        fail(Step::Setsid);
    }
    // The agent's runtime blocks or ignores signals (SIGPIPE is ignored by
    // Rust); programs must start with the defaults.
    let mut set: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut set);
    libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    for sig in 1..32 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }

    if libc::dup2(exec.stdin, 0) < 0
        || libc::dup2(exec.stdout, 1) < 0
        || libc::dup2(exec.stderr, 2) < 0
    {
        fail(Step::Stdio);
    }

    if let Some(creds) = &exec.creds {
        if libc::setgroups(creds.groups.len(), creds.groups.as_ptr()) != 0 {
            fail(Step::SetGroups);
        }
        if libc::setgid(creds.gid) != 0 {
            fail(Step::SetGid);
        }
        if libc::setuid(creds.uid) != 0 {
            fail(Step::SetUid);
        }
    }
    if let Some(cwd) = &exec.cwd {
        if libc::chdir(cwd.as_ptr()) != 0 {
            fail(Step::Chdir);
        }
    }
    if let Some(mask) = exec.umask {
        libc::umask(mask);
    }
    libc::execve(exec.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    fail(Step::Exec)
}
