//! The only `waitpid` in the agent. Called by the supervisor loop when
//! SIGCHLD arrives; collects every exited child, ours or adopted.

use crate::state::Exit;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Reap every child that has exited, without blocking.
pub fn reap_all() -> Vec<(u32, Exit)> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid.as_raw() as u32, Exit::Code(code))),
            Ok(WaitStatus::Signaled(pid, sig, core_dumped)) => out.push((
                pid.as_raw() as u32,
                Exit::Signal {
                    signal: sig as i32,
                    core_dumped,
                },
            )),
            Ok(WaitStatus::StillAlive) => break,
            // Stop/continue reports are not requested (no WUNTRACED); skip.
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            // ECHILD: no children at all.
            Err(_) => break,
        }
    }
    out
}
