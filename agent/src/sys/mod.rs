//! Every `unsafe` line of the agent lives here: fork/exec, prctl, signals,
//! waitpid and /proc reading. The rest of the crate forbids unsafe code.

pub mod proc;
pub mod signal;
pub mod spawn;
pub mod wait;

/// Become the child subreaper, so descendants that daemonize (double fork,
/// setsid) are re-parented to the agent and reaped by it, never by init.
pub fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
