//! Issue #23 item 7: SIGTERM is never lost. A release agent once ignored a
//! SIGTERM for 35 minutes while a program crash-looped (a second one
//! stopped it). Each trial here is a real agent whose program exits at
//! once and is restarted at once (a spawn storm: clone/exec and reaping
//! all the time), signalled at a random moment from its first microseconds
//! (before its handlers exist) to well into the storm; every agent must
//! exit within 2 × its largest stopwaitsecs (+ slack) and leave nothing.
//! The random delay before each SIGTERM is the point of the test, not a
//! wait for a condition.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// 2 × stopwaitsecs (1 s) + slack for a loaded machine.
const BOUND: Duration = Duration::from_secs(2 + 8);

fn trial(i: u64, delay: Duration) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n\n\
             [program.crash]\ncommand = [{tp:?}, \"exit\", \"1\"]\nstartsecs = 0\nautorestart = true\nstopwaitsecs = 1\n\
             [program.quiet]\ncommand = [{tp:?}, \"sleep\"]\nstartsecs = 0\nstopwaitsecs = 1\n",
            dir.path().join("agent.sock").display().to_string(),
            dir.path().join("logs").display().to_string(),
            tp = testprog(),
        ),
    )
    .unwrap();
    let tag = format!("sigterm-{}-{i}", std::process::id());
    let mut child = Command::new(bin("fleet-agent"))
        .arg("--config")
        .arg(&config)
        .env("FLEET_TEST_TAG", &tag)
        .env("FLEET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < delay {
        std::thread::yield_now();
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let signalled = Instant::now();
    let exited = poll_until(BOUND, || child.try_wait().ok().flatten());
    let verdict = match exited {
        Some(_) => Ok(()),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "trial {i}: agent alive {:?} after a SIGTERM sent {delay:?} after its start",
                signalled.elapsed()
            ))
        }
    };
    // Nothing of the agent's is left (its programs are stopped with it).
    let left = poll_until(Duration::from_secs(5), || {
        tagged_pids(&tag).into_iter().all(is_zombie).then_some(())
    });
    for p in tagged_pids(&tag) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    verdict?;
    left.ok_or_else(|| format!("trial {i}: processes left after the agent exited"))
}

#[test]
fn sigterm_at_any_moment_of_a_crash_storm_stops_the_agent() {
    // Delays spread over start-up (0–50 ms: before and while the handlers
    // are installed and the first spawns happen) and the storm (to 1.5 s).
    let delays: Vec<Duration> = (0..48u64)
        .map(|i| {
            let r = fastrand_like(i);
            if i % 2 == 0 {
                Duration::from_micros(r % 50_000)
            } else {
                Duration::from_micros(50_000 + r % 1_450_000)
            }
        })
        .collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = delays
            .chunks(8)
            .enumerate()
            .map(|(b, chunk)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .filter_map(|(j, d)| trial((b * 8 + j) as u64, *d).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A fixed pseudo-random sequence (splitmix64): reproducible trials.
fn fastrand_like(i: u64) -> u64 {
    let mut z = i
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 27)
}
