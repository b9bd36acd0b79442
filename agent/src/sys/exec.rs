//! What an in-place re-exec needs from the kernel (`crate::reexec`):
//! descriptors that survive `execve`, an anonymous file for the state,
//! and the exec itself, by path or by an open descriptor.

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use std::ffi::{CString, OsString};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

/// Keep `fd` open across `execve` (`inherit`), or close it there again.
pub fn set_inherit(fd: BorrowedFd<'_>, inherit: bool) -> std::io::Result<()> {
    let flags = if inherit {
        FdFlag::empty()
    } else {
        FdFlag::FD_CLOEXEC
    };
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// Take ownership of a descriptor number inherited across an exec, if it
/// is open; it is made close-on-exec so programs spawned later never get
/// it.
pub fn take_inherited(fd: RawFd) -> Option<OwnedFd> {
    if fd < 3 || fcntl(fd, FcntlArg::F_GETFD).is_err() {
        return None;
    }
    // SAFETY: the descriptor is open (F_GETFD succeeded) and nothing in
    // this image owns it yet: the old image handed it over by number, and
    // each number is taken once (the hand-off lists it once).
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    Some(owned)
}

/// An anonymous file holding `data`, rewound, sealed against writes.
pub fn memfd_with(data: &[u8]) -> std::io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let fd = memfd_create(
        c"fleet-agent-state",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data)?;
    f.rewind()?;
    let seals = nix::fcntl::SealFlag::F_SEAL_WRITE
        | nix::fcntl::SealFlag::F_SEAL_GROW
        | nix::fcntl::SealFlag::F_SEAL_SHRINK
        | nix::fcntl::SealFlag::F_SEAL_SEAL;
    fcntl(f.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
    Ok(f.into())
}

/// Everything in the file behind `fd`, from its start, at most `cap` bytes.
pub fn read_all(fd: OwnedFd, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::from(fd);
    f.rewind()?;
    let mut out = Vec::new();
    f.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// Open `path` read-only and close-on-exec: the image to fall back to.
pub fn open_image(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `open` just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstrings(items: impl IntoIterator<Item = OsString>) -> std::io::Result<Vec<CString>> {
    items
        .into_iter()
        .map(|s| CString::new(s.into_vec()).map_err(std::io::Error::other))
        .collect()
}

/// The process's environment as `execve` takes it, without `drop`.
pub fn environment(drop: &[&str]) -> Vec<OsString> {
    std::env::vars_os()
        .filter(|(k, _)| !drop.iter().any(|d| k == d))
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect()
}

/// Replace this image with `path`; returns only on failure.
pub fn exec_path(
    path: &std::path::Path,
    args: Vec<OsString>,
    env: Vec<OsString>,
) -> std::io::Error {
    let run = || -> std::io::Result<()> {
        let p =
            CString::new(path.as_os_str().to_owned().into_vec()).map_err(std::io::Error::other)?;
        let args = cstrings(args)?;
        let env = cstrings(env)?;
        Err(nix::unistd::execve(&p, &args, &env).unwrap_err().into())
    };
    run().unwrap_err()
}

/// Replace this image with the file open at `fd` (a binary replaced on
/// disk since it was opened still runs as it was); returns only on failure.
pub fn exec_fd(fd: BorrowedFd<'_>, args: Vec<OsString>, env: Vec<OsString>) -> std::io::Error {
    let run = || -> std::io::Result<()> {
        let args = cstrings(args)?;
        let env = cstrings(env)?;
        Err(nix::unistd::fexecve(fd.as_raw_fd(), &args, &env)
            .unwrap_err()
            .into())
    };
    run().unwrap_err()
}

/// The signals a re-exec holds over its window: blocked in the thread that
/// execs (the mask survives `execve`), so one arriving before the new
/// image has its handlers waits, pending, instead of killing it (SIGTERM's
/// default) or going unseen (SIGCHLD).
fn window_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut s = SigSet::empty();
    for sig in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR2,
        Signal::SIGCHLD,
    ] {
        s.add(sig);
    }
    s
}

/// Block the window's signals in this thread; returns the mask to restore.
pub fn block_window_signals() -> std::io::Result<nix::sys::signal::SigSet> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_BLOCK,
        Some(&window_signals()),
        Some(&mut old),
    )?;
    Ok(old)
}

pub fn restore_signals(old: &nix::sys::signal::SigSet) {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(old), None);
}

/// The supervisor's owner thread, once every handler is in place (and
/// after a failed re-exec): what arrived meanwhile is delivered now.
pub fn unblock_window_signals() {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&window_signals()), None);
}
