//! Shared harness for the end-to-end tests: locate (and build once) the real
//! binaries, run a real `fleet-agent` in a temp dir, talk HTTP to it, and
//! poll for conditions with a deadline instead of sleeping.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The test helper program (built with this package).
pub fn testprog() -> &'static str {
    env!("CARGO_BIN_EXE_fleet-testprog")
}

/// A workspace binary, built once per test process. Tests of the root
/// package cannot name other packages' binaries, so build them here; cargo's
/// own lock makes concurrent test binaries safe.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "fleet-agent",
            "-p",
            "fleet-console",
            "-p",
            "fleet-sim",
        ]);
        // Cargo gives tests CARGO_MANIFEST_DIR and friends; build scripts
        // that track them (ring's) would see a changed environment and
        // rebuild half the tree on every test binary. Build as a shell would,
        // keeping the caller's own settings (profile overrides such as
        // CARGO_PROFILE_DEV_DEBUG=0: dropping them rebuilt everything).
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CARGO_")
                && !k.starts_with("CARGO_PROFILE_")
                && !matches!(
                    k.as_str(),
                    "CARGO_HOME"
                        | "CARGO_TARGET_DIR"
                        | "CARGO_BUILD_JOBS"
                        | "CARGO_TERM_COLOR"
                        | "CARGO_INCREMENTAL"
                )
            {
                cmd.env_remove(&k);
            }
        }
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        // target/<profile>/deps/<test-exe> → target/<profile>
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().to_path_buf()
    });
    let p = dir.join(name);
    assert!(p.exists(), "{} not built", p.display());
    p
}

/// Poll `f` until it returns Some, or panic with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, f)
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Poll `f` until it returns Some, or give up after `timeout` (None). The
/// one place tests pause: between polls, backing off from 1 ms to 50 ms.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        // Never past the deadline: one last poll happens right at it.
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// SIGTERM `child`, wait up to `timeout` for it to exit, then SIGKILL it.
pub fn stop_child(child: &mut Child, timeout: Duration) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    if poll_until(timeout, || child.try_wait().ok().flatten()).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over any stream, `Connection: close`, whole body.
pub fn http<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    let typed = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !typed {
        // supervisord's face takes XML, as supervisorctl sends it.
        let ty = if path.starts_with("/RPC2") {
            "text/xml"
        } else {
            "application/json"
        };
        req.push_str(&format!("Content-Type: {ty}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("header not utf-8"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Decodes a chunked body; a stream cut off by the server's exit (an event
/// stream at shutdown) yields the complete chunks received.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|t| usize::from_str_radix(t.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else {
            break;
        };
        b = &b[eol + 2..];
        let Some(chunk) = b.get(..size) else { break };
        out.extend_from_slice(chunk);
        b = b.get(size + 2..).unwrap_or_default();
    }
    out
}

/// A running `fleet-agent` with its own temp dir, socket and log dir.
/// Dropping it stops the agent and kills anything it left behind.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log_dir: PathBuf,
    pub child: Option<Child>,
    /// Marker in the environment of the agent and everything it spawns, so
    /// cleanup finds strays even if the agent died.
    tag: String,
}

impl Agent {
    /// Write `programs` (TOML for `[program.*]` etc.) under an `[agent]`
    /// section pointing into a fresh temp dir, and start the agent.
    pub fn start(programs: &str) -> Agent {
        Self::start_with("", programs)
    }

    /// Like `start`, with extra `[agent]` keys.
    pub fn start_with(agent_keys: &str, programs: &str) -> Agent {
        Self::start_as(agent_keys, programs, |_| {})
    }

    /// Like `start_with`, with a last say on the agent's command (extra
    /// inherited descriptors, environment).
    pub fn start_as(
        agent_keys: &str,
        programs: &str,
        customize: impl FnOnce(&mut Command),
    ) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let log_dir = dir.path().join("logs");
        let config = dir.path().join("agent.toml");
        let text = format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n{agent_keys}\n{}",
            socket.display().to_string(),
            log_dir.display().to_string(),
            programs.replace("TESTPROG", testprog())
        );
        std::fs::write(&config, text).unwrap();
        let tag = format!("{}-{}", std::process::id(), unique());
        let mut agent = Agent {
            dir,
            config,
            socket,
            log_dir,
            child: None,
            tag,
        };
        agent.spawn_as(customize);
        agent
    }

    pub fn spawn(&mut self) {
        self.spawn_as(|_| {})
    }

    fn spawn_as(&mut self, customize: impl FnOnce(&mut Command)) {
        let mut cmd = Command::new(bin("fleet-agent"));
        cmd.arg("--config")
            .arg(&self.config)
            .env("FLEET_TEST_TAG", &self.tag)
            .env("FLEET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join("agent.stderr")).unwrap(),
            ));
        customize(&mut cmd);
        let child = cmd.spawn().expect("spawn fleet-agent");
        self.child = Some(child);
        let sock = self.socket.clone();
        wait_for(Duration::from_secs(20), "agent socket", || {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("agent exited early ({st}): {}", self.stderr());
                }
            }
            UnixStream::connect(&sock).ok().map(|_| ())
        });
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// The TCP port the agent serves on, as its status reports it (the
    /// socket appears only once every listener is bound, so this is known
    /// as soon as `start` returns).
    pub fn tcp_port(&self) -> u16 {
        let st = self.status();
        let listen = st["listen"]
            .as_str()
            .unwrap_or_else(|| panic!("no TCP listener in {st}"));
        listen.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.stderr")).unwrap_or_default()
    }

    /// Replace the config file (the agent reads it on reload).
    pub fn write_config(&self, programs: &str) {
        let text = format!(
            "[agent]\nsocket = {:?}\nlog_dir = {:?}\n\n{}",
            self.socket.display().to_string(),
            self.log_dir.display().to_string(),
            programs.replace("TESTPROG", testprog())
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn request(&self, method: &str, path: &str, body: &str) -> Response {
        let s = UnixStream::connect(&self.socket).expect("connect agent socket");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        http(s, method, path, &[], body.as_bytes()).expect("HTTP to agent")
    }

    pub fn get(&self, path: &str) -> Value {
        let r = self.request("GET", path, "");
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, body)
    }

    /// One XML-RPC call on the socket, each param an XML value's inner
    /// text (`<string>web</string>`, `<int>0</int>`); the answer's text,
    /// fault or not (the HTTP status must be 200).
    pub fn xmlrpc(&self, method: &str, params: &[String]) -> String {
        let params: String = params
            .iter()
            .map(|p| format!("<param><value>{p}</value></param>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName>\
             <params>{params}</params></methodCall>"
        );
        let r = self.post("/RPC2", &body);
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        r.text()
    }

    pub fn status(&self) -> Value {
        self.get("/v1/status")
    }

    /// The process entry named `name` (full `group:process` or process).
    pub fn process(&self, name: &str) -> Value {
        self.find_process(name)
            .unwrap_or_else(|| panic!("no process {name} in {}", self.status()))
    }

    pub fn find_process(&self, name: &str) -> Option<Value> {
        self.status()["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name || p["process"] == name)
            .cloned()
    }

    pub fn state(&self, name: &str) -> String {
        self.process(name)["state"].as_str().unwrap().to_string()
    }

    pub fn pid_of(&self, name: &str) -> Option<i32> {
        self.process(name)["pid"].as_i64().map(|p| p as i32)
    }

    /// Wait until `name` is in `state`; returns its entry.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        wait_for(timeout, &format!("{name} to be {state}"), || {
            self.find_process(name).filter(|p| p["state"] == state)
        })
    }

    /// Send a signal to the agent itself.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig).unwrap();
    }

    /// Wait for the agent to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut().unwrap();
        let st = wait_for(timeout, "agent to exit", || child.try_wait().unwrap());
        self.child = None;
        st.code()
    }

    /// Pids of live processes (not zombies) carrying this agent's marker,
    /// other than the agent itself.
    pub fn strays(&self) -> Vec<i32> {
        let agent = self.child.as_ref().map(|c| c.id() as i32);
        tagged_pids(&self.tag)
            .into_iter()
            .filter(|p| Some(*p) != agent && !is_zombie(*p))
            .collect()
    }

    /// Zombie children of the agent.
    pub fn zombies(&self) -> Vec<i32> {
        let agent = self.pid() as i32;
        all_pids()
            .into_iter()
            .filter(|&p| ppid(p) == Some(agent) && is_zombie(p))
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(15));
        }
        for p in tagged_pids(&self.tag) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A loopback port that refuses connections and that nobody else can take
/// while the guard lives: a TCP socket bound to it that never listens.
pub fn closed_port() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2)/bind(2)/getsockname(2) on a fresh descriptor
    // that the OwnedFd then owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let rc = libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let mut got: libc::sockaddr_in = std::mem::zeroed();
        let mut glen = len;
        let rc = libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
        assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
        (owned, u16::from_be(got.sin_port))
    }
}

/// A loopback port nothing listens on right now (for a program to bind).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split(' ').map(str::to_string).collect())
}

pub fn is_zombie(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] == "Z")
}

/// Alive: exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|f| f[0] != "Z" && f[0] != "X")
}

pub fn ppid(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

pub fn tagged_pids(tag: &str) -> Vec<i32> {
    let needle = format!("FLEET_TEST_TAG={tag}\0");
    all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .map(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Read a pid file written by `fleet-testprog` (waits for it to appear).
pub fn read_pids(path: &Path) -> Vec<i32> {
    wait_for(Duration::from_secs(10), "pid file", || {
        std::fs::read_to_string(path).ok()
    })
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

pub mod browser;
pub mod console;
pub mod ctl;
pub mod listen;
pub mod pg;
pub mod pki;
pub mod truth;

/// Read the agent's event history (and what follows) until `done` holds
/// for the events seen, or panic after `timeout`.
pub fn events_until(
    a: &Agent,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let mut sock = UnixStream::connect(&a.socket).unwrap();
    sock.write_all(
        b"GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nLast-Event-ID: 0\r\n\r\n",
    )
    .unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let events = |text: &str| -> Vec<Value> {
        text.lines()
            .filter_map(|l| serde_json::from_str(l.strip_prefix("data:")?.trim()).ok())
            .collect()
    };
    events(&read_stream_until(sock, timeout, what, |t| {
        done(&events(t))
    }))
}

/// Read a stream (a server-sent event stream, a log follow) already
/// requested on `s` until `done`
/// holds for the text so far, or panic after `timeout`.
pub fn read_stream_until(
    mut s: impl Read,
    timeout: Duration,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&raw).into_owned();
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {text}"
        );
        match s.read(&mut buf) {
            Ok(0) => panic!("stream ended while waiting for {what}: {text}"),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading {what}: {e}"),
        }
    }
}

/// A note event (`from == to`) of `name` whose description has `needle`.
pub fn log_event(events: &[Value], name: &str, needle: &str) -> bool {
    events.iter().any(|e| {
        e["name"] == name
            && e["from"] == e["to"]
            && e["description"].as_str().unwrap_or("").contains(needle)
    })
}

/// Standard base64 (for HTTP Basic headers), without a dependency.
pub fn base64(raw: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in raw.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Run `fleet-console ARGS` (not the server): exit code, stdout, stderr.
pub fn console_bin(args: &[&str]) -> (Option<i32>, String, String) {
    run_bin("fleet-console", args)
}

/// Run `fleet-agent ARGS` to completion (a check, not a daemon): exit
/// code, stdout, stderr.
pub fn agent_bin(args: &[&str]) -> (Option<i32>, String, String) {
    run_bin("fleet-agent", args)
}

fn run_bin(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin(name))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
