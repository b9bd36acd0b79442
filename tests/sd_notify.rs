//! systemd `Type=notify` readiness, as the packaged units rely on: the
//! agent sends READY=1 once it serves its socket and STOPPING=1 on SIGTERM,
//! and the programs it runs do not inherit NOTIFY_SOCKET.

mod common;
use common::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .expect("a notification before the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn agent_notifies_ready_and_stopping_and_hides_the_socket_from_programs() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let socket = dir.path().join("agent.sock");
    let env_out = dir.path().join("env.txt");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n\n[program.probe]\n\
             command = [\"/bin/sh\", \"-c\", \"echo \\\"NOTIFY_SOCKET=${{NOTIFY_SOCKET:-unset}}\\\" > {}; exec sleep 60\"]\n\
             startsecs = 0\n",
            socket.display().to_string(),
            dir.path().join("logs").display().to_string(),
            env_out.display()
        ),
    )
    .unwrap();
    let mut agent = Command::new(bin("fleet-agent"))
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = recv(&listener);
    assert!(ready.starts_with("READY=1"), "{ready:?}");
    assert!(
        ready.contains(&format!("MAINPID={}", agent.id())),
        "{ready:?}"
    );
    // Ready means served: the socket accepts connections now.
    std::os::unix::net::UnixStream::connect(&socket).expect("socket is up at READY=1");
    let seen = wait_for(Duration::from_secs(20), "the program's env dump", || {
        std::fs::read_to_string(&env_out)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(seen, "NOTIFY_SOCKET=unset\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(recv(&listener), "STOPPING=1");
    let status = agent.wait().unwrap();
    assert!(status.success(), "{status}");
}
