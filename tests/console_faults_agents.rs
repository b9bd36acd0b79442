//! Agents failing mid-operation (issue #15, item 6): a real console and 100
//! real agents on loopback TCP; during a parallel restart of all of them 10
//! agents are SIGKILLed and one is black-holed (SIGSTOPped: its kernel still
//! accepts connections, nothing answers). The operation ends within its
//! per-host timeout with a verdict per host, `fleetctl status` answers from
//! the console's picture throughout (p99 < 50 ms in an optimized build,
//! see `STATUS_P99`; every call answered), and
//! the dead and black-holed hosts are shown down within a bounded time.
//!
//! The figures it prints (op duration, detection times, fleetctl latency,
//! the console's RSS and fds) feed the issue's note.

mod common;
use common::console::*;
use common::ctl::*;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const AGENTS: usize = 100;
/// Every tenth agent is SIGKILLed: 10 %.
const KILL_EVERY: usize = 10;
/// Not one of the killed.
const BLACK_HOLE: usize = 55;
/// The op's per-host timeout.
const HOST_TIMEOUT: Duration = Duration::from_secs(30);
/// What the op may take past its per-host timeout on a loaded machine.
const OP_MARGIN: Duration = Duration::from_secs(15);
/// How long after its fault a host may still be shown up: the console
/// hears a killed agent's stream break at once; a black-holed one is caught
/// by the op's timeout plus the re-read it triggers (10 s), or by the event
/// stream's read timeout (40 s) whichever comes first.
const DOWN_WITHIN: Duration = Duration::from_secs(60);
/// `fleetctl status` p99 bound. The issue's 50 ms is for optimized
/// binaries (`cargo test --release`). An unoptimized build on a small shared
/// machine spends 100-250 ms per call in JSON alone (measured here with a
/// p50 of ~200 ms on an idle fleet), so there the bound is what separates
/// "answered from the picture" from "waited on an agent": below the
/// console's shortest agent deadline (3 s to connect; a black hole accepts
/// connections, so waiting on it would cost the 10 s status deadline or
/// the op's timeout, on every call while it lasts). The p99 of 100+ calls
/// leaves out a lone scheduler stall of a machine whose load is ~40.
const STATUS_P99: Duration = if cfg!(debug_assertions) {
    Duration::from_secs(3)
} else {
    Duration::from_millis(50)
};
/// Agents started at once.
const SPAWNERS: usize = 8;

/// Two programs per agent. `web` takes `startsecs` to count as started, so
/// each restart lasts at least that long and the faults land while the
/// op's calls are in flight, even when the test itself waits a while for
/// a CPU between the op's start and the signals. Stops are quick (TERM ends `sleep`), and the
/// agent's own wait for a restart (twice stopwaitsecs, plus startsecs and
/// 5 s) stays far above what a loaded machine needs.
const PROGRAMS: &str = r#"
[program.web]
command = "TESTPROG sleep"
startsecs = 5
stopwaitsecs = 10

[program.worker]
command = "TESTPROG sleep"
startsecs = 0
stopwaitsecs = 10
"#;

fn name(i: usize) -> String {
    format!("a-{i:03}")
}

fn killed(i: usize) -> bool {
    i.is_multiple_of(KILL_EVERY)
}

/// The agents, torn down together: the black hole thawed, every live agent
/// told to stop at once, then each waited for (a dead agent's programs
/// killed).
struct Fleet {
    agents: Vec<Agent>,
    frozen: Option<i32>,
}

impl Fleet {
    fn start() -> Fleet {
        let next = AtomicUsize::new(0);
        let started: Mutex<Vec<(usize, Agent)>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..SPAWNERS {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= AGENTS {
                        break;
                    }
                    let (a, _) = tcp_agent(PROGRAMS);
                    started.lock().unwrap().push((i, a));
                });
            }
        });
        let mut agents = started.into_inner().unwrap();
        agents.sort_by_key(|(i, _)| *i);
        Fleet {
            agents: agents.into_iter().map(|(_, a)| a).collect(),
            frozen: None,
        }
    }

    fn pid(&self, i: usize) -> Pid {
        Pid::from_raw(self.agents[i].pid() as i32)
    }

    fn thaw(&mut self) {
        if let Some(p) = self.frozen.take() {
            let _ = kill(Pid::from_raw(p), Signal::SIGCONT);
        }
    }

    /// Stop every agent and check that no process is left: live agents
    /// exit 0 with nothing behind them; a killed agent's programs (its
    /// successor would stop them) are killed here.
    fn teardown(mut self) {
        self.thaw();
        for i in 0..self.agents.len() {
            if !killed(i) {
                let _ = kill(self.pid(i), Signal::SIGTERM);
            }
        }
        for (i, a) in self.agents.iter_mut().enumerate() {
            let code = a.wait_exit(Duration::from_secs(60));
            if killed(i) {
                assert_eq!(code, None, "{} was SIGKILLed", name(i));
                for p in a.strays() {
                    let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
                }
            } else {
                assert_eq!(code, Some(0), "{} exit: {}", name(i), a.stderr());
            }
            wait_for(
                Duration::from_secs(10),
                &format!("no process of {} left", name(i)),
                || a.strays().is_empty().then_some(()),
            );
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // A failed test still leaves no stopped agent behind.
        self.thaw();
        for i in 0..self.agents.len() {
            if let Some(c) = &self.agents[i].child {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            }
        }
    }
}

/// One `fleetctl status` run: when it started (since the test's t0), how
/// long it took, the hosts it showed down, and what was wrong with it.
struct Sample {
    at: Duration,
    took: Duration,
    /// The same question straight over HTTP (no process to start).
    http: Duration,
    /// The console's threads meanwhile: on a CPU, and runnable without one.
    ran: Duration,
    waited: Duration,
    down: BTreeSet<String>,
    error: Option<String>,
}

/// Pause between two `fleetctl status` runs, so the sampler is a steady
/// reader rather than one more core's worth of load on a small machine.
const PACE: Duration = Duration::from_millis(25);

/// Run the real `fleetctl status -o json` against the console until `stop`
/// hangs up. Each run must answer: exit 0 with every host up, or 1 naming
/// each down host on stderr, the JSON printed either way.
fn sample_status(
    c: &Console,
    url: &str,
    home: &std::path::Path,
    t0: Instant,
    stop: mpsc::Receiver<()>,
    count: &AtomicUsize,
) -> Vec<Sample> {
    let mut out = Vec::new();
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(PACE) {
        let mut cmd = fleetctl_cmd();
        cmd.args(["--console", url, "--token", VIEWER, "status", "-o", "json"])
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home);
        let at = t0.elapsed();
        let console = c.child.as_ref().unwrap().id();
        let (run0, wait0) = sched(console);
        let started = Instant::now();
        let o = run(cmd);
        let took = started.elapsed();
        let (run1, wait1) = sched(console);
        // Summed over live threads: one that ended in between (a blocking
        // pool thread idle for 10 s) takes its share with it.
        let (ran, waited) = (run1.saturating_sub(run0), wait1.saturating_sub(wait0));
        let (down, error) = check_status(&o);
        let started = Instant::now();
        let r = c.try_request("GET", "/v1/status", Some(VIEWER), "");
        let http = started.elapsed();
        let error = error.or_else(|| match r {
            Ok(r) if r.status == 200 => None,
            Ok(r) => Some(format!("GET /v1/status: {} {}", r.status, r.text())),
            Err(e) => Some(format!("GET /v1/status: {e}")),
        });
        out.push(Sample {
            at,
            took,
            http,
            ran,
            waited,
            down,
            error,
        });
        count.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// The hosts a `fleetctl status -o json` run shows down, and what is wrong
/// with the run if anything.
fn check_status(o: &Out) -> (BTreeSet<String>, Option<String>) {
    let st: Value = match serde_json::from_str(&o.stdout) {
        Ok(v) if o.code == 0 || o.code == 1 => v,
        _ => return (BTreeSet::new(), Some(format!("{o:?}"))),
    };
    let Some(hosts) = st["hosts"].as_array().filter(|h| h.len() == AGENTS) else {
        return (BTreeSet::new(), Some(format!("not {AGENTS} hosts: {o:?}")));
    };
    let down: BTreeSet<String> = hosts
        .iter()
        .filter(|h| h["up"] == false)
        .map(|h| h["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let unnamed = down
        .iter()
        .find(|h| !o.stderr.contains(&format!("host {h} is unreachable")));
    let error = if (o.code == 1) == down.is_empty() {
        Some(format!("exit code vs {} down hosts: {o:?}", down.len()))
    } else {
        unnamed.map(|h| format!("{h} down but not named: {o:?}"))
    };
    (down, error)
}

/// The console's time on a CPU and time runnable without one, summed over
/// its threads: tells a console that blocks from a machine that starves it.
fn sched(pid: u32) -> (Duration, Duration) {
    let (mut run, mut wait) = (0, 0);
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
    {
        let Some(text) = t
            .ok()
            .and_then(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        else {
            continue;
        };
        let mut f = text
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        run += f.next().unwrap_or(0);
        wait += f.next().unwrap_or(0);
    }
    (Duration::from_nanos(run), Duration::from_nanos(wait))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn host<'a>(hosts: &'a Value, name: &str) -> &'a Value {
    hosts["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {hosts}"))
}

#[test]
fn agents_killed_and_black_holed_mid_restart() {
    let t_start = Instant::now();
    let mut fleet = Fleet::start();
    eprintln!("started {AGENTS} agents in {:?}", t_start.elapsed());
    let entries: Vec<(String, u16)> = fleet
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| (name(i), a.tcp_port()))
        .collect();
    let e: Vec<(&str, u16)> = entries.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let c = Console::start(&agent_entries(&e));
    let console_pid = c.child.as_ref().unwrap().id();
    wait_for(Duration::from_secs(120), "every host up", || {
        let h = c.get("/v1/hosts");
        h["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["up"] == true)
            .then_some(())
    });
    c.wait_running(2 * AGENTS, Duration::from_secs(120));
    eprintln!(
        "console: {AGENTS} hosts up after {:?}; RSS {} kB, {} fds",
        t_start.elapsed(),
        rss_kb(console_pid),
        fds(console_pid)
    );

    let url = format!("http://127.0.0.1:{}", c.port);
    let home = tempfile::tempdir().unwrap();
    let (stop, stopped) = mpsc::channel::<()>();
    let count = AtomicUsize::new(0);
    let sampled = |n: usize| {
        wait_for(Duration::from_secs(30), "fleetctl status samples", || {
            (count.load(Ordering::Relaxed) >= n).then_some(())
        })
    };
    let t0 = Instant::now();
    let (samples, done, op_took, fault_at) = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample_status(&c, &url, home.path(), t0, stopped, &count));
        // The picture answers before the faults, too.
        sampled(10);

        let op_start = Instant::now();
        let op = c.op(&format!(
            r#"{{"action":"restart","target":"all","timeout_ms":{}}}"#,
            HOST_TIMEOUT.as_millis()
        ));
        let id = op["id"].as_str().unwrap().to_string();
        let fault_at = t0.elapsed();
        let faulted = Instant::now();
        for i in (0..AGENTS).filter(|&i| killed(i)) {
            kill(fleet.pid(i), Signal::SIGKILL).unwrap();
        }
        kill(fleet.pid(BLACK_HOLE), Signal::SIGSTOP).unwrap();
        fleet.frozen = Some(fleet.pid(BLACK_HOLE).as_raw());
        // Mid-op: the restarts (each at least web's 5 s startsecs) are
        // still in flight.
        let now = c.get(&format!("/v1/ops/{id}"));
        assert_eq!(now["state"], "running", "faults after the op ended: {now}");

        // Down within a bound, seen through GET /v1/hosts: the killed at
        // once, the black hole once a deadline caught it.
        let expected: BTreeSet<String> = (0..AGENTS)
            .filter(|&i| killed(i) || i == BLACK_HOLE)
            .map(name)
            .collect();
        let shown_down = |want: &dyn Fn(&BTreeSet<String>) -> bool, what: &str| {
            wait_for(DOWN_WITHIN, what, || {
                let h = c.get("/v1/hosts");
                let down: BTreeSet<String> = h["hosts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|h| h["up"] == false)
                    .map(|h| h["name"].as_str().unwrap().to_string())
                    .collect();
                want(&down).then_some(())
            });
            faulted.elapsed()
        };
        let killed_down = shown_down(
            &|down| {
                expected
                    .iter()
                    .filter(|n| *n != &name(BLACK_HOLE))
                    .all(|n| down.contains(n))
            },
            "the killed hosts to be shown down",
        );
        let done = c.wait_op(&id, HOST_TIMEOUT + OP_MARGIN + Duration::from_secs(60));
        let op_took = op_start.elapsed();
        let hole_down = shown_down(
            &|down| down == &expected,
            "the faulty hosts to be shown down",
        );
        eprintln!(
            "GET /v1/hosts shows the killed hosts down {killed_down:?} after the faults, the black hole {hole_down:?}"
        );
        // And through fleetctl: a few samples started after that.
        sampled(count.load(Ordering::Relaxed) + 3);
        drop(stop);
        (sampler.join().unwrap(), done, op_took, fault_at)
    });

    // The op: within its per-host timeout (plus a margin), a verdict per
    // host, each the right one.
    eprintln!("op took {op_took:?} (per-host timeout {HOST_TIMEOUT:?})");
    assert!(
        op_took < HOST_TIMEOUT + OP_MARGIN,
        "op took {op_took:?}: {done}"
    );
    assert_eq!(done["state"], "done", "{done}");
    let hosts = done["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), AGENTS, "{done}");
    let mut bad = Vec::new();
    for h in hosts {
        let n = h["host"].as_str().unwrap();
        let i: usize = n.trim_start_matches("a-").parse().unwrap();
        let verdict = h["verdict"].as_str().unwrap();
        let msg = h["message"].as_str().unwrap_or_default();
        if i == BLACK_HOLE {
            // Nothing ever answered: the agent may or may not have acted.
            assert_eq!(verdict, "unreachable", "{h}");
            assert_eq!(
                msg,
                format!("no answer within {} ms", HOST_TIMEOUT.as_millis()),
                "{h}"
            );
        } else if killed(i) {
            // Refused, or the connection closed before an answer: not
            // "failed", which is an agent's own answer.
            assert_eq!(verdict, "unreachable", "{h}");
            assert!(!msg.is_empty(), "{h}");
        } else if verdict != "ok" || h["processes"].as_array().map(Vec::len) != Some(2) {
            bad.push(format!("{h}\n{}", fleet.agents[i].stderr()));
        }
    }
    assert!(
        bad.is_empty(),
        "{} healthy hosts not ok:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let mut messages: Vec<&str> = hosts
        .iter()
        .filter(|h| killed(h["host"].as_str().unwrap()[2..].parse().unwrap()))
        .map(|h| h["message"].as_str().unwrap_or_default())
        .collect();
    messages.sort();
    messages.dedup();
    eprintln!("killed hosts' messages: {messages:?}");

    // The picture: killed hosts down with their error and a growing
    // staleness, the black hole down too.
    let h = c.get("/v1/hosts");
    for i in (0..AGENTS).filter(|&i| killed(i) || i == BLACK_HOLE) {
        let v = host(&h, &name(i));
        assert_eq!(v["up"], false, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert!(v["stale_ms"].as_u64().is_some_and(|s| s > 0), "{v}");
    }
    // Whichever deadline caught the black hole, its error says so: a
    // status re-read (after the op, or the periodic one) or the event
    // stream's silence.
    let hole = host(&h, &name(BLACK_HOLE));
    let why = hole["error"].as_str().unwrap_or_default();
    assert!(
        why == "no answer to a status request within 10 s"
            || why.ends_with("nothing received for 40s"),
        "{hole}"
    );
    eprintln!(
        "down as: killed {:?}, black hole {why:?}",
        host(&h, &name(0))["error"]
    );

    // fleetctl: every call answered, p99 < 50 ms, and the hosts shown down
    // within the bound.
    let mut took: Vec<Duration> = samples.iter().map(|s| s.took).collect();
    took.sort();
    let (p50, p99, max) = (
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        took[took.len() - 1],
    );
    eprintln!(
        "fleetctl status: {} calls, p50 {p50:?}, p99 {p99:?}, max {max:?}",
        took.len()
    );
    let mut http: Vec<Duration> = samples.iter().map(|s| s.http).collect();
    http.sort();
    eprintln!(
        "GET /v1/status: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&http, 0.5),
        percentile(&http, 0.99),
        http[http.len() - 1]
    );
    let mut worst: Vec<&Sample> = samples.iter().collect();
    worst.sort_by_key(|s| std::cmp::Reverse(s.took));
    for s in worst.iter().take(3) {
        eprintln!(
            "  slowest: at {:?} fleetctl {:?}, GET {:?}; the console's threads meanwhile ran {:?}, waited for a CPU {:?}",
            s.at, s.took, s.http, s.ran, s.waited
        );
    }
    assert!(took.len() >= 50, "only {} samples", took.len());
    let failed: Vec<&String> = samples.iter().filter_map(|s| s.error.as_ref()).collect();
    assert!(
        failed.is_empty(),
        "{} fleetctl runs failed: {failed:#?}",
        failed.len()
    );
    assert!(
        p99 < STATUS_P99,
        "fleetctl status p99 {p99:?} (bound {STATUS_P99:?})"
    );
    let shown_down = |i: usize| {
        samples
            .iter()
            .find(|s| s.at >= fault_at && s.down.contains(&name(i)))
            .map(|s| s.at - fault_at)
            .unwrap_or_else(|| panic!("fleetctl never showed {} down", name(i)))
    };
    let killed_down = (0..AGENTS)
        .filter(|&i| killed(i))
        .map(shown_down)
        .max()
        .unwrap();
    let hole_down = shown_down(BLACK_HOLE);
    eprintln!(
        "fleetctl shows the killed hosts down {killed_down:?} after the faults, the black hole {hole_down:?}"
    );
    assert!(killed_down < DOWN_WITHIN && hole_down < DOWN_WITHIN);
    let last = samples.last().unwrap();
    assert_eq!(last.down.len(), AGENTS / KILL_EVERY + 1, "{:?}", last.down);
    eprintln!(
        "console at the end: RSS {} kB, {} fds",
        rss_kb(console_pid),
        fds(console_pid)
    );
    drop(c);
    fleet.teardown();
}
