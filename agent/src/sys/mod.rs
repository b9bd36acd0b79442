//! Every `unsafe` line of the agent lives here: fork/exec, prctl, signals,
//! waitpid and /proc reading. The rest of the crate forbids unsafe code.

pub mod proc;
pub mod signal;
pub mod spawn;
pub mod time;
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

/// Close every descriptor from 3 up that the agent inherited (a job
/// runner's pipe, an ssh session's socket): holding them would keep the
/// parent waiting for an EOF that never comes, and no program should get
/// them. Call first thing, before the agent opens anything of its own.
pub fn close_inherited_fds() {
    // SAFETY: close_range(2) with integer arguments; nothing of ours is
    // open yet.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc lists (collect first: the
    // directory listing holds an fd of its own).
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY: closing a descriptor nothing in this process uses yet
        // (the listing's own fd is already closed: EBADF, ignored).
        unsafe { libc::close(fd) };
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
