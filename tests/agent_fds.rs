//! Descriptors: a program starts with fds 0, 1 and 2 only, and the agent
//! keeps nothing it inherited, so whoever started it (a CI step, `ssh host
//! fleet-agent …`, a container runtime) sees EOF on its pipe.

mod common;
use common::*;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// The fd numbers open in `pid`, from /proc.
fn fds(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

fn target(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn programs_and_the_agent_hold_no_inherited_descriptor() {
    // The parent's pipe, passed as fd 251 (not close-on-exec, as a job
    // runner leaves it), and /dev/null as fd 10.
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let devnull: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let (w, n) = (write_end.as_raw_fd(), devnull.as_raw_fd());
    let pipe = target(std::process::id() as i32, w);
    assert!(pipe.starts_with("pipe:"), "{pipe}");
    let mut a = Agent::start_as(
        "",
        r#"
[program.sh]
command = ["/bin/sh", "-c", "exec sleep 600"]
startsecs = 0

[program.direct]
command = "TESTPROG sleep"
startsecs = 0
"#,
        move |cmd| {
            // SAFETY: dup2 between fork and exec, async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(w, 251) < 0 || libc::dup2(n, 10) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    // Our own copies go: only the agent (and whatever it leaks) holds the
    // write end now.
    drop(write_end);
    drop(devnull);

    for name in ["sh:sh", "direct:direct"] {
        let pid = a.wait_state(name, "RUNNING", T)["pid"].as_i64().unwrap() as i32;
        let open = fds(pid);
        assert_eq!(
            open,
            vec![0, 1, 2],
            "{name}: {:?}",
            open.iter()
                .map(|&f| (f, target(pid, f)))
                .collect::<Vec<_>>()
        );
    }
    // The agent holds neither the pipe nor anything at fd 251 (it opens
    // far fewer descriptors; fd 10 may be its own /dev/null by now).
    let agent = a.pid() as i32;
    let held: Vec<(i32, String)> = fds(agent)
        .into_iter()
        .map(|f| (f, target(agent, f)))
        .filter(|(f, t)| *f == 251 || *t == pipe)
        .collect();
    assert!(held.is_empty(), "agent still holds {held:?}");

    // The parent sees EOF while the agent and its programs run on.
    let mut r = std::fs::File::from(read_end);
    let mut buf = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(r.read_to_end(&mut buf).map(|_| buf.len()));
    });
    let got = rx
        .recv_timeout(T)
        .expect("EOF on the parent's pipe while the agent runs");
    assert_eq!(got.unwrap(), 0);
    assert!(alive(a.pid() as i32));
    a.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(a.wait_exit(T), Some(0));
}
