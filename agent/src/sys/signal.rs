//! Signal names and delivery. Signals travel on the wire as names ("TERM").

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::str::FromStr;

/// Parse "TERM", "SIGTERM", "term" or "15" into a signal number.
pub fn parse(name: &str) -> Option<i32> {
    let trimmed = name.trim();
    if let Ok(n) = trimmed.parse::<i32>() {
        return Signal::try_from(n).ok().map(|s| s as i32);
    }
    let upper = trimmed.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full).ok().map(|s| s as i32)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_prefixes() {
        assert_eq!(parse("TERM"), Some(libc::SIGTERM));
        assert_eq!(parse("sigkill"), Some(libc::SIGKILL));
        assert_eq!(parse("HUP"), Some(libc::SIGHUP));
        assert_eq!(parse("10"), Some(libc::SIGUSR1));
        assert_eq!(parse("NOPE"), None);
        assert_eq!(parse("999"), None);
        assert_eq!(name(libc::SIGTERM), "TERM");
        assert_eq!(name(libc::SIGUSR2), "USR2");
    }
}
