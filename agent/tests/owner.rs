//! Owner-level tests, in-process: the real supervisor (`supervisor::start`)
//! and the whole agent (`fleet_agent::run`) against real child processes,
//! driven through the same `Handle` the HTTP handlers hold.
//!
//! The owner reaps with `waitpid(-1)` and makes this process a child
//! subreaper, so two owners in one process would reap each other's
//! children: the tests take `ONE_OWNER` and run one at a time.

use fleet_agent::config::Config;
use fleet_agent::supervisor::{self, ActError, Handle, SupervisorExit};
use fleet_api::{ProcessState, Selector, Verb};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

static ONE_OWNER: Mutex<()> = Mutex::new(());

/// Run `test` on a fresh runtime, one owner at a time. The lock is taken
/// before the runtime exists: a runtime parked on the lock would hold its
/// share of the process's signal pipe without reading it.
fn one_owner(test: impl std::future::Future<Output = ()>) {
    let _one = ONE_OWNER.lock().unwrap_or_else(|e| e.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

const T: Duration = Duration::from_secs(20);

fn config(dir: &Path, programs: &str) -> Config {
    let path = dir.join("agent.toml");
    std::fs::write(
        &path,
        format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n\n{programs}",
            dir.join("agent.sock").display().to_string(),
            dir.join("logs").display().to_string(),
        ),
    )
    .unwrap();
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

const TWO: &str = r#"
[program.web]
command = "sleep 600"
numprocs = 2
process_name = "web_{num}"
startsecs = 0
stopwaitsecs = 2

[program.cron]
command = ["/bin/sh", "-c", "exec sleep 600"]
startsecs = 0
stopwaitsecs = 2
"#;

/// Wait, on snapshot changes (no polling), until `f` holds.
async fn until(h: &Handle, what: &str, f: impl Fn(&Handle) -> bool) {
    let mut w = h.snapshot.clone();
    let wait = async {
        while !f(h) {
            if w.changed().await.is_err() {
                break;
            }
        }
    };
    if tokio::time::timeout(T, wait).await.is_err() || !f(h) {
        panic!("timed out waiting for {what}");
    }
}

fn state(h: &Handle, name: &str) -> Option<(ProcessState, Option<u32>)> {
    let s = h.snapshot();
    let p = s.get(name)?;
    Some((p.info.state, p.info.pid))
}

fn pid(h: &Handle, name: &str) -> u32 {
    state(h, name).and_then(|s| s.1).expect("a pid")
}

async fn running(h: &Handle, name: &str) -> u32 {
    until(h, &format!("{name} RUNNING"), |h| {
        matches!(state(h, name), Some((ProcessState::Running, Some(_))))
    })
    .await;
    pid(h, name)
}

fn alive(pid: u32) -> bool {
    // A zombie would count as alive for kill(0); read the state instead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

async fn finish(h: Handle, done: tokio::sync::oneshot::Receiver<SupervisorExit>) {
    h.shutdown().await;
    let exit = tokio::time::timeout(T, done)
        .await
        .expect("owner finished")
        .expect("owner thread alive");
    for p in exit.pumps {
        let _ = tokio::time::timeout(T, p).await;
    }
}

#[test]
fn verbs_drive_real_processes() {
    one_owner(async {
        let dir = tempfile::tempdir().unwrap();
        let (h, done) =
            supervisor::start(config(dir.path(), TWO), tokio::runtime::Handle::current()).unwrap();
        let w0 = running(&h, "web:web_0").await;
        let w1 = running(&h, "web:web_1").await;
        let cron = running(&h, "cron:cron").await;

        // stop by program: both instances, and only them.
        let touched = h
            .act("web".parse::<Selector>().unwrap(), Verb::Stop, None, false)
            .await
            .unwrap();
        assert_eq!(touched.len(), 2);
        until(&h, "web stopped", |h| {
            ["web:web_0", "web:web_1"]
                .iter()
                .all(|n| state(h, n).unwrap().0 == ProcessState::Stopped)
        })
        .await;
        assert!(!alive(w0) && !alive(w1));
        assert_eq!(pid(&h, "cron:cron"), cron);

        // start one instance by group:process.
        h.act(
            "web:web_1".parse::<Selector>().unwrap(),
            Verb::Start,
            None,
            false,
        )
        .await
        .unwrap();
        let w1b = running(&h, "web:web_1").await;
        assert_ne!(w1b, w1);
        assert_eq!(state(&h, "web:web_0").unwrap().0, ProcessState::Stopped);

        // restart: a new pid, the old one gone.
        h.act(
            "cron".parse::<Selector>().unwrap(),
            Verb::Restart,
            None,
            false,
        )
        .await
        .unwrap();
        until(&h, "cron restarted", |h| {
            matches!(state(h, "cron:cron"), Some((ProcessState::Running, Some(p))) if p != cron)
        })
        .await;
        assert!(!alive(cron));

        // signal: TERM kills sleep; autorestart (unexpected exit) brings it back.
        let before = pid(&h, "web:web_1");
        h.act(
            "web:web_1".parse::<Selector>().unwrap(),
            Verb::Signal,
            Some(libc::SIGTERM),
            false,
        )
        .await
        .unwrap();
        until(&h, "web_1 restarted after TERM", |h| {
            matches!(state(h, "web:web_1"), Some((ProcessState::Running, Some(p))) if p != before)
        })
        .await;

        // A selector matching nothing is an error and touches nothing.
        let e = h
            .act("nope".parse::<Selector>().unwrap(), Verb::Stop, None, false)
            .await
            .unwrap_err();
        assert!(matches!(e, ActError::NoMatch(_)), "{e}");
        assert_eq!(state(&h, "web:web_1").unwrap().0, ProcessState::Running);

        let left = [pid(&h, "web:web_1"), pid(&h, "cron:cron")];
        finish(h, done).await;
        assert!(left.iter().all(|&p| !alive(p)), "{left:?}");
    });
}

#[test]
fn reload_touches_only_what_changed() {
    one_owner(async {
        let dir = tempfile::tempdir().unwrap();
        let (h, done) =
            supervisor::start(config(dir.path(), TWO), tokio::runtime::Handle::current()).unwrap();
        let w0 = running(&h, "web:web_0").await;
        let cron = running(&h, "cron:cron").await;
        // web unchanged; cron changed; extra added; (nothing removed yet)
        let next = config(
            dir.path(),
            &(TWO.replace("exec sleep 600\"]", "exec sleep 601\"]")
                + "\n[program.extra]\ncommand = \"sleep 600\"\nstartsecs = 0\n"),
        );
        let r = h.reload(Some(next)).await.unwrap();
        assert_eq!(r.added, vec!["extra"]);
        assert_eq!(r.changed, vec!["cron"]);
        assert!(r.removed.is_empty(), "{r:?}");
        running(&h, "extra:extra").await;
        until(&h, "cron restarted with its new command", |h| {
            matches!(state(h, "cron:cron"), Some((ProcessState::Running, Some(p))) if p != cron)
        })
        .await;
        assert_eq!(pid(&h, "web:web_0"), w0, "an unchanged program was touched");
        assert!(!alive(cron));

        // Remove web: stopped and gone from the table; the rest untouched.
        let extra = pid(&h, "extra:extra");
        let only = "[program.extra]\ncommand = \"sleep 600\"\nstartsecs = 0\n";
        let r = h.reload(Some(config(dir.path(), only))).await.unwrap();
        assert_eq!(r.removed, vec!["cron", "web"]);
        until(&h, "web and cron removed", |h| {
            h.snapshot().procs.len() == 1
        })
        .await;
        assert!(!alive(w0));
        assert_eq!(pid(&h, "extra:extra"), extra);
        finish(h, done).await;
        assert!(!alive(extra));
    });
}

#[test]
fn shutdown_stops_everything_in_reverse_priority() {
    one_owner(async {
        let dir = tempfile::tempdir().unwrap();
        let programs = r#"
    [program.db]
    command = "sleep 600"
    priority = 1
    startsecs = 0

    [program.app]
    command = "sleep 600"
    priority = 2
    startsecs = 0
    "#;
        let (h, done) = supervisor::start(
            config(dir.path(), programs),
            tokio::runtime::Handle::current(),
        )
        .unwrap();
        let db = running(&h, "db:db").await;
        let app = running(&h, "app:app").await;
        let (_, _, mut events) = h.events.resume(None);
        finish(h.clone(), done).await;
        assert!(!alive(db) && !alive(app));
        // app (priority 2) reached STOPPED before db (priority 1).
        let mut order = Vec::new();
        while let Ok(seq) = events.try_recv() {
            let e = h.events.get(seq).expect("in the history");
            if e.to == ProcessState::Stopped {
                order.push(e.name);
            }
        }
        assert_eq!(order, vec!["app:app", "db:db"]);
        let e = h
            .act(Selector::All, Verb::Start, None, false)
            .await
            .expect_err("no verbs after shutdown");
        assert!(matches!(e, ActError::ShuttingDown), "{e}");
    });
}

/// The whole agent in-process: `run` serves the socket, and returns once
/// the shutdown future resolves, with the socket removed.
#[test]
fn run_serves_then_stops_on_the_shutdown_future() {
    one_owner(async {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(
            dir.path(),
            "[program.a]\ncommand = \"sleep 600\"\nstartsecs = 0\n",
        );
        let socket = cfg.agent.socket.clone();
        let listeners = fleet_agent::Listeners::bind(&cfg.agent).await.unwrap();
        assert!(!socket.exists(), "the socket appears only once served");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(fleet_agent::run(cfg, listeners, async move {
            let _ = stopped.await;
        }));
        let deadline = tokio::time::Instant::now() + T;
        let body = loop {
            if socket.exists() {
                let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
                break tokio::task::spawn_blocking(move || get(s, "/v1/status"))
                    .await
                    .unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "socket never appeared"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        assert!(body.contains("\"a:a\""), "{body}");
        stop.send(()).unwrap();
        tokio::time::timeout(T, agent)
            .await
            .expect("run returned")
            .unwrap()
            .unwrap();
        assert!(!socket.exists());
    });
}

fn get(mut s: std::os::unix::net::UnixStream, path: &str) -> String {
    use std::io::{Read, Write};
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
