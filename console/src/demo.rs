//! `fleet-console demo`: the whole product on one machine in one command.
//!
//! Writes a temp dir with N agent configs running harmless `sh -c` programs
//! (a `celery` group of four ticking workers per worker host, a beat, a web
//! program and one program that keeps crashing), starts the real
//! `fleet-agent` binaries found next to this executable on loopback TCP
//! with random tokens, and serves the console in-process. On Ctrl-C or
//! SIGTERM it stops the console, sends SIGTERM to every agent (each stops its
//! programs), waits for them and removes the temp dir: nothing is left
//! behind.

use crate::server::{self, config};
use nix::sys::signal::Signal;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The console's port when none is asked for; a free one if it is taken.
pub const DEFAULT_PORT: u16 = 9700;
/// How long an agent may take to stop its programs before it is killed.
const AGENT_STOP: Duration = Duration::from_secs(30);
/// How long an agent may take to open its TCP port.
const AGENT_START: Duration = Duration::from_secs(20);

pub struct Options {
    pub agents: usize,
    /// `None`: 9700, else a free port. `Some(0)`: a free port.
    pub port: Option<u16>,
}

/// One started agent.
struct DemoAgent {
    name: String,
    home: PathBuf,
    port: u16,
    token: String,
    tags: &'static str,
    child: Child,
}

/// Owns the temp dir and the agent processes; `Drop` is the last resort
/// (kill, wait, remove) when `stop` was not reached.
struct Demo {
    dir: PathBuf,
    agents: Vec<DemoAgent>,
}

pub fn run(opts: Options) -> ExitCode {
    fleet_daemon::log::init("warn");
    match run_inner(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet-console demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(opts: Options) -> Result<(), String> {
    if opts.agents == 0 || opts.agents > 100 {
        return Err("--agents must be between 1 and 100".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let bin_dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
    let agent_bin = bin_dir.join("fleet-agent");
    if !agent_bin.exists() {
        return Err(format!(
            "{} not found: the demo runs the real agent next to this binary; build it with cargo build --release",
            agent_bin.display()
        ));
    }
    let rng = SystemRandom::new();
    let dir = make_dir(&rng)?;
    let mut demo = Demo {
        dir,
        agents: Vec::new(),
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = rt.block_on(serve(&mut demo, &agent_bin, &bin_dir, opts, &rng));
    // Ends the console's follower tasks before their agents go away.
    rt.shutdown_timeout(Duration::from_secs(2));
    demo.stop();
    result
}

async fn serve(
    demo: &mut Demo,
    agent_bin: &Path,
    bin_dir: &Path,
    opts: Options,
    rng: &SystemRandom,
) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;

    for i in 1..=opts.agents {
        let (name, tags) = if i == 1 {
            ("web-01".to_string(), "{ role = \"web\" }")
        } else {
            (format!("w-{i:02}"), "{ role = \"worker\" }")
        };
        let a = demo.spawn_agent(agent_bin, name, tags, rng)?;
        demo.agents.push(a);
    }
    // A port found free can be taken before the agent binds it: such an
    // agent exits at start, and is started again on another port.
    for i in 0..demo.agents.len() {
        let mut tries = 0;
        while !wait_listening(&mut demo.agents[i]).await? {
            tries += 1;
            if tries == 5 {
                return Err(format!(
                    "agent {} could not bind a free port",
                    demo.agents[i].name
                ));
            }
            let (name, tags) = (demo.agents[i].name.clone(), demo.agents[i].tags);
            demo.agents[i] = demo.spawn_agent(agent_bin, name, tags, rng)?;
        }
    }

    let listener = bind(opts.port).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;
    let operator = random_token(rng)?;
    let viewer = random_token(rng)?;
    let console_toml = demo.dir.join("console.toml");
    std::fs::write(&console_toml, demo.console_config(addr, &operator, &viewer))
        .map_err(|e| format!("cannot write {}: {e}", console_toml.display()))?;
    let cfg = config::load(&console_toml)?;
    let app = server::App::new(cfg).map_err(|e| e.to_string())?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::run(app, listener, async move {
        let _ = stop_rx.await;
    }));

    print!("{}", demo.banner(addr, bin_dir, &operator, &viewer));

    let mut server = server;
    // The demo supervises its agents: one that dies (killed to see what
    // the page says) is reaped at once, not left a zombie, and started
    // again on its port with its token, as systemd would.
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let failed = loop {
        tokio::select! {
            _ = term.recv() => break None,
            _ = int.recv() => break None,
            r = &mut server => break Some(r),
            _ = watch.tick() => demo.revive(agent_bin),
        }
    };
    eprintln!(
        "fleet-console demo: stopping the console and {} agent(s)…",
        demo.agents.len()
    );
    match failed {
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(format!("console failed: {e}")),
        Some(Err(e)) => Err(format!("console task failed: {e}")),
        None => {
            let _ = stop_tx.send(());
            match tokio::time::timeout(Duration::from_secs(10), server).await {
                Ok(Ok(Err(e))) => Err(format!("console failed: {e}")),
                _ => Ok(()),
            }
        }
    }
}

impl Demo {
    /// What the demo prints: where everything is and what to try.
    fn banner(&self, addr: SocketAddr, bin_dir: &Path, operator: &str, viewer: &str) -> String {
        let demo = self;
        let url = format!("http://{addr}");
        let fleetctl = bin_dir.join("fleetctl");
        let fleetctl = if fleetctl.exists() {
            fleetctl.display().to_string()
        } else {
            "fleetctl".into()
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fleet demo: {} agent(s) on loopback, console in this process\n",
            demo.agents.len()
        );
        let _ = writeln!(out, "  console:        {url}");
        let _ = writeln!(out, "  operator token: {operator}");
        let _ = writeln!(out, "  viewer token:   {viewer}");
        let _ = writeln!(
            out,
            "  files:          {} (removed on exit)",
            demo.dir.display()
        );
        let _ = writeln!(out, "  hosts:");
        for a in &demo.agents {
            let _ = writeln!(
                out,
                "    {:<8} http://127.0.0.1:{}  tags {}",
                a.name, a.port, a.tags
            );
        }
        let _ = writeln!(out, "\nIn another terminal:\n");
        let _ = writeln!(out, "  export FLEET_CONSOLE={url} FLEET_TOKEN={operator}");
        let _ = writeln!(out, "  {fleetctl} status");
        let _ = writeln!(out, "  {fleetctl} hosts");
        let _ = writeln!(out, "  {fleetctl} restart group:celery");
        let _ = writeln!(
            out,
            "  {fleetctl} restart group:celery --hosts @workers --rolling 1"
        );
        let _ = writeln!(out, "  {fleetctl} ops");
        if let Some(w) = demo.agents.iter().find(|a| !a.tags.contains("web")) {
            let _ = writeln!(
                out,
                "  touch {}   # {}'s broker turns unhealthy (rm it to recover)",
                w.home.join("broker-down").display(),
                w.name
            );
        }
        let _ = writeln!(
            out,
            "\nOpen {url} and log in with a token. Ctrl-C stops the console and every agent."
        );
        out
    }

    /// Reap every agent that exited and start it again from its config.
    fn revive(&mut self, agent_bin: &Path) {
        for a in &mut self.agents {
            let Ok(Some(st)) = a.child.try_wait() else {
                continue;
            };
            eprintln!(
                "fleet-console demo: agent {} exited ({st}); starting it again",
                a.name
            );
            match start_agent(agent_bin, &a.home) {
                Ok(child) => a.child = child,
                Err(e) => eprintln!("fleet-console demo: {e}"),
            }
        }
    }

    fn spawn_agent(
        &self,
        agent_bin: &Path,
        name: String,
        tags: &'static str,
        rng: &SystemRandom,
    ) -> Result<DemoAgent, String> {
        let home = self.dir.join(&name);
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        let port = free_port()?;
        let token = random_token(rng)?;
        let programs = if tags.contains("web") {
            WEB_PROGRAMS
        } else {
            WORKER_PROGRAMS
        };
        let programs = programs.replace("DEMO_HOME", &home.display().to_string());
        let text = format!(
            "[agent]\nname = \"{name}\"\nsocket = {:?}\nlog_dir = {:?}\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{token}\"\n\n{programs}",
            home.join("agent.sock").display().to_string(),
            home.join("logs").display().to_string(),
        );
        let cfg = home.join("agent.toml");
        std::fs::write(&cfg, text).map_err(|e| format!("cannot write {}: {e}", cfg.display()))?;
        let child = start_agent(agent_bin, &home)?;
        Ok(DemoAgent {
            name,
            home,
            port,
            token,
            tags,
            child,
        })
    }

    fn console_config(&self, addr: SocketAddr, operator: &str, viewer: &str) -> String {
        let mut s = format!(
            "[console]\nlisten = \"{addr}\"\ndata_dir = {:?}\nheartbeat_secs = 2\n\n\
             [[tokens]]\nname = \"demo-operator\"\ntoken = \"{operator}\"\nrole = \"operator\"\n\n\
             [[tokens]]\nname = \"demo-viewer\"\ntoken = \"{viewer}\"\nrole = \"viewer\"\n\n\
             [host_groups]\nworkers = [\"w-*\"]\nweb = [\"web-*\"]\n\n",
            self.dir.join("console").display().to_string()
        );
        for a in &self.agents {
            let _ = write!(
                s,
                "[[agent]]\nname = \"{}\"\nurl = \"http://127.0.0.1:{}\"\ntoken = \"{}\"\ntags = {}\n\n",
                a.name, a.port, a.token, a.tags
            );
        }
        s
    }

    /// SIGTERM every agent, wait for each (they stop their programs first),
    /// kill what did not stop in time, remove the temp dir.
    fn stop(&mut self) {
        let agents = std::mem::take(&mut self.agents);
        let (tx, rx) = mpsc::channel();
        let mut pending = Vec::new();
        for mut a in agents {
            let pid = a.child.id();
            signal(pid, Signal::SIGTERM);
            pending.push(pid);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = a.child.wait();
                let _ = tx.send(pid);
            });
        }
        drop(tx);
        let deadline = Instant::now() + AGENT_STOP;
        while !pending.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(pid) => pending.retain(|p| *p != pid),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    for &pid in &pending {
                        eprintln!(
                            "fleet-console demo: agent {pid} did not stop in time; killing it"
                        );
                        signal(pid, Signal::SIGKILL);
                    }
                    while let Ok(pid) = rx.recv() {
                        pending.retain(|p| *p != pid);
                    }
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!(
                "fleet-console demo: cannot remove {}: {e}",
                self.dir.display()
            );
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if !self.agents.is_empty() {
            self.stop();
        }
    }
}

/// Start the agent whose home (config, log) is `home`.
fn start_agent(agent_bin: &Path, home: &Path) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("agent.log"))
        .map_err(|e| format!("cannot open the agent log: {e}"))?;
    use std::os::unix::process::CommandExt;
    Command::new(agent_bin)
        .arg("--config")
        .arg(home.join("agent.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // Its own process group: Ctrl-C reaches the demo only, which
        // then stops the agents in order.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", agent_bin.display()))
}

/// `pid` is our own child, not yet reaped (its waiter thread holds it).
fn signal(pid: u32, sig: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
    }
}

async fn bind(port: Option<u16>) -> Result<tokio::net::TcpListener, String> {
    let want = port.unwrap_or(DEFAULT_PORT);
    match tokio::net::TcpListener::bind(("127.0.0.1", want)).await {
        Ok(l) => Ok(l),
        Err(e) if port.is_none() && e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!("fleet-console demo: port {want} is taken; using a free port");
            tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))
        }
        Err(e) => Err(format!("cannot listen on 127.0.0.1:{want}: {e}")),
    }
}

/// Wait until the agent serves: its unix socket appears only once its TCP
/// listener is bound and served, so a port another process holds is never
/// mistaken for the agent's. `Ok(false)`: it lost its port to another
/// process and exited (start it again on another port).
async fn wait_listening(a: &mut DemoAgent) -> Result<bool, String> {
    let deadline = Instant::now() + AGENT_START;
    loop {
        if let Ok(Some(st)) = a.child.try_wait() {
            let log = std::fs::read_to_string(a.home.join("agent.log")).unwrap_or_default();
            if log.contains("cannot listen on 127.0.0.1") {
                return Ok(false);
            }
            return Err(format!("agent {} exited at start ({st}):\n{log}", a.name));
        }
        if a.home.join("agent.sock").exists() {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "agent {} did not open 127.0.0.1:{} within {AGENT_START:?}",
                a.name, a.port
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

fn random_token(rng: &SystemRandom) -> Result<String, String> {
    let mut b = [0u8; 24];
    rng.fill(&mut b)
        .map_err(|_| "the system random generator failed".to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A fresh 0700 directory under the system temp dir.
fn make_dir(rng: &SystemRandom) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut b = [0u8; 6];
    rng.fill(&mut b)
        .map_err(|_| "the system random generator failed".to_string())?;
    let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("fleet-demo-{suffix}"));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Every program stops as a group so no `sleep` outlives its shell.
/// `DEMO_HOME` is the agent's directory.
const WORKER_PROGRAMS: &str = r#"# The workers' broker, started first. Healthy while DEMO_HOME/broker-down
# does not exist: `touch` it to watch it turn unhealthy on the page.
[program.broker]
command = ["sh", "-c", "echo 'broker: accepting'; while :; do sleep 5; done"]
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true

[program.broker.health]
exec = "test ! -e 'DEMO_HOME/broker-down'"
interval = "2s"
timeout = "1s"
failures = 1

# Start once the broker is RUNNING and healthy; stop before it.
[program.worker]
command = ["sh", "-c", "echo 'worker {num} ready'; while :; do echo 'worker {num}: tick'; sleep 2; done"]
numprocs = 4
process_name = "worker_{num:02}"
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true
depends_on = ["broker"]

[group.celery]
programs = ["worker"]
"#;

const WEB_PROGRAMS: &str = r#"[program.web]
command = ["sh", "-c", "echo 'web: serving'; while :; do echo 'web: GET / 200'; sleep 3; done"]
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true

[program.beat]
command = ["sh", "-c", "while :; do echo 'beat: scheduling'; sleep 5; done"]
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true

[program.worker]
command = ["sh", "-c", "while :; do echo 'worker {num}: tick'; sleep 2; done"]
numprocs = 2
process_name = "worker_{num:02}"
startsecs = 1
stopwaitsecs = 5
stopasgroup = true
killasgroup = true

[group.celery]
programs = ["beat", "worker"]

# Flaps: up for a few seconds, then crashes; restarted every time.
[program.flaky]
command = ["sh", "-c", "echo 'flaky: up'; sleep 4; echo 'flaky: lost the broker' >&2; exit 1"]
startsecs = 1
autorestart = true
stopwaitsecs = 5
stopasgroup = true
killasgroup = true
"#;
