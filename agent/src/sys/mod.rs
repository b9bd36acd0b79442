//! Every `unsafe` line of the agent lives here: fork/exec, prctl, signals,
//! waitpid and /proc reading. The rest of the crate forbids unsafe code.

pub mod exec;
pub mod proc;
pub mod signal;
pub mod spawn;
pub mod time;
pub mod wait;

/// Register a descriptor the caller owns with the runtime's reactor, for
/// readiness (tokio's safe `AsyncFd::with_interest` is deprecated: it cannot
/// know its `T` keeps the descriptor open).
/// On failure the descriptor comes back with the error.
pub fn register_readable(
    fd: std::os::fd::OwnedFd,
) -> Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>, (std::os::fd::OwnedFd, std::io::Error)>
{
    // SAFETY: an `OwnedFd` is open, stays open while the `AsyncFd` owns it
    // and always answers the same number to `as_raw_fd`.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts())
}

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

/// Descriptors the agent keeps for itself (API connections, the runtime,
/// /proc reads): what programs' pipes and log files may not take.
pub const FD_RESERVE: u64 = 16;

/// The lowest free descriptor number and the soft RLIMIT_NOFILE.
/// Descriptors are allocated lowest first, so the lowest free one is
/// about how many are open; one syscall pair, cheap enough per spawn.
pub fn fd_usage() -> (u64, u64) {
    // SAFETY: epoll_create1 returns a fresh descriptor (the lowest free)
    // that we close at once; getrlimit writes into our struct.
    unsafe {
        let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let lowest = if fd >= 0 {
            libc::close(fd);
            fd as u64
        } else {
            u64::MAX
        };
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        let limit = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur
        } else {
            u64::MAX
        };
        (lowest, limit)
    }
}

/// Descriptors the agent has open (entries of /proc/self/fd, less the
/// listing's own); the lowest free number when /proc cannot be read.
pub fn open_fds() -> u64 {
    match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => (rd.count() as u64).saturating_sub(1),
        Err(_) => fd_usage().0,
    }
}

/// `Err` with a clear message when opening `more` descriptors would eat
/// into [`FD_RESERVE`].
pub fn fd_room(more: u64) -> Result<(), String> {
    let (lowest, limit) = fd_usage();
    if lowest.saturating_add(more) > limit.saturating_sub(FD_RESERVE) {
        Err(format!(
            "too many open files: RLIMIT_NOFILE is {limit} and the agent keeps {FD_RESERVE} for itself"
        ))
    } else {
        Ok(())
    }
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
