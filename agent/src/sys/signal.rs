//! Signal names and delivery. Signals travel on the wire as names ("TERM");
//! which ones exist is `fleet_api::Signal`'s rule, this maps them to nix's.

use fleet_api::Signal as Wire;
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// nix's signal for a wire signal, by name, so the number is this
/// platform's even where it differs from Linux's generic numbering.
pub fn to_nix(s: Wire) -> Signal {
    match s {
        Wire::Hup => Signal::SIGHUP,
        Wire::Int => Signal::SIGINT,
        Wire::Quit => Signal::SIGQUIT,
        Wire::Ill => Signal::SIGILL,
        Wire::Trap => Signal::SIGTRAP,
        Wire::Abrt => Signal::SIGABRT,
        Wire::Bus => Signal::SIGBUS,
        Wire::Fpe => Signal::SIGFPE,
        Wire::Kill => Signal::SIGKILL,
        Wire::Usr1 => Signal::SIGUSR1,
        Wire::Segv => Signal::SIGSEGV,
        Wire::Usr2 => Signal::SIGUSR2,
        Wire::Pipe => Signal::SIGPIPE,
        Wire::Alrm => Signal::SIGALRM,
        Wire::Term => Signal::SIGTERM,
        Wire::Stkflt => Signal::SIGSTKFLT,
        Wire::Chld => Signal::SIGCHLD,
        Wire::Cont => Signal::SIGCONT,
        Wire::Stop => Signal::SIGSTOP,
        Wire::Tstp => Signal::SIGTSTP,
        Wire::Ttin => Signal::SIGTTIN,
        Wire::Ttou => Signal::SIGTTOU,
        Wire::Urg => Signal::SIGURG,
        Wire::Xcpu => Signal::SIGXCPU,
        Wire::Xfsz => Signal::SIGXFSZ,
        Wire::Vtalrm => Signal::SIGVTALRM,
        Wire::Prof => Signal::SIGPROF,
        Wire::Winch => Signal::SIGWINCH,
        Wire::Io => Signal::SIGIO,
        Wire::Pwr => Signal::SIGPWR,
        Wire::Sys => Signal::SIGSYS,
    }
}

/// "TERM" for 15; the number as text for anything unnamed.
pub fn name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(s) => s.as_str().trim_start_matches("SIG").to_owned(),
        Err(_) => signal.to_string(),
    }
}

/// Send `signal` to `pid`; ESRCH (already gone) is not an error.
pub fn send(pid: u32, signal: i32) -> Result<(), Errno> {
    let sig = Signal::try_from(signal)?;
    match kill(Pid::from_raw(pid as i32), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Send `signal` to process group `pgid`; ESRCH (empty group) is not an error.
pub fn send_group(pgid: u32, signal: i32) -> Result<(), Errno> {
    let sig = Signal::try_from(signal)?;
    match killpg(Pid::from_raw(pgid as i32), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Monotonic clock reading of the earliest SIGCHLD not yet taken by the
/// owner (0: none), written by the signal action [`stamp_sigchld`] adds.
static SIGCHLD_AT: AtomicU64 = AtomicU64::new(0);

/// CLOCK_MONOTONIC in nanoseconds; async-signal-safe.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into our struct, and is
    // async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Stamp each SIGCHLD's arrival (beside tokio's own handler), so the owner
/// can tell how long an exit waited for it: [`take_sigchld_stamp`]. Once
/// per process; later calls do nothing.
pub fn stamp_sigchld() -> std::io::Result<()> {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        // SAFETY: the action reads the clock and does one atomic
        // compare-exchange: both async-signal-safe, no allocation, no lock.
        unsafe {
            signal_hook::low_level::register(libc::SIGCHLD, || {
                let now = monotonic_ns().max(1);
                let _ = SIGCHLD_AT.compare_exchange(0, now, Relaxed, Relaxed);
            })
        }?;
        *done = true;
    }
    Ok(())
}

/// When the earliest SIGCHLD since the last take arrived (a
/// [`monotonic_ns`] reading), clearing it: a SIGCHLD arriving from now on
/// stamps again.
pub fn take_sigchld_stamp() -> Option<u64> {
    Some(SIGCHLD_AT.swap(0, Relaxed)).filter(|&t| t != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_set_is_what_this_platform_can_send() {
        for &s in Wire::ALL {
            let n = to_nix(s);
            assert_eq!(n as i32, s.number(), "{s}");
            assert_eq!(name(n as i32), s.name());
        }
        // Every signal nix can send is on the wire, and nothing else.
        assert_eq!(Signal::iterator().count(), Wire::ALL.len());
    }

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "TERM");
        assert_eq!(name(libc::SIGUSR2), "USR2");
        assert_eq!(name(40), "40");
    }
}
