//! A real `fleet-console` for the end-to-end tests, and real agents on
//! loopback TCP for it to manage.

use super::*;
use std::net::TcpStream;

pub const OPERATOR: &str = "op-token-0123456789abcdef";
pub const VIEWER: &str = "view-token-0123456789abcdef";
pub const AGENT_TOKEN: &str = "agent-token-0123456789abcdef";

/// The fleet the console tests manage on every agent: a `celery` group of
/// two workers.
pub const CELERY: &str = r#"
[program.worker]
command = "TESTPROG sleep"
numprocs = 2
process_name = "{program}_{num:02}"
startsecs = 0
stopwaitsecs = 2

[group.celery]
programs = ["worker"]
"#;

/// A real agent listening on loopback TCP with `AGENT_TOKEN`, on a port
/// it picked itself (no window for another test to take it).
pub fn tcp_agent(programs: &str) -> (Agent, u16) {
    let a = Agent::start_with(
        &format!("listen = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\n"),
        programs,
    );
    let port = a.tcp_port();
    (a, port)
}

/// The port in a console's "listening on http(s)://ADDR" log line.
pub fn listening_port(log: &str) -> Option<u16> {
    let at = log.rfind("listening on http")?;
    let rest = &log[at..];
    let addr = rest.split("://").nth(1)?.split_whitespace().next()?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// `[agent]` keys of an agent named `name` that enrolls with the console
/// on `port` using `enrollment_token` (and heartbeats there).
pub fn enrolling_keys(name: &str, port: u16, enrollment_token: &str) -> String {
    format!(
        "name = \"{name}\"\nlisten = \"127.0.0.1:0\"\ntoken = \"{AGENT_TOKEN}\"\n\
         console = \"http://127.0.0.1:{port}\"\nenrollment_token = \"{enrollment_token}\"\n"
    )
}

/// `[[agent]]` entries for console.toml.
pub fn agent_entries(agents: &[(&str, u16)]) -> String {
    agents
        .iter()
        .map(|(name, port)| {
            format!(
                "[[agent]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{AGENT_TOKEN}\"\n\n"
            )
        })
        .collect()
}

pub struct Console {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
    /// Extra environment for every start (test hooks).
    pub env: Vec<(String, String)>,
}

impl Console {
    /// Start with the standard tokens plus `extra` (agents, groups…).
    pub fn start(extra: &str) -> Console {
        Self::start_with("", extra)
    }

    /// Like `start`, with extra `[console]` keys.
    pub fn start_with(console_keys: &str, extra: &str) -> Console {
        let dir = tempfile::tempdir().unwrap();
        // Port 0: the console picks a free port and logs it; restarts
        // reuse it (see `spawn`).
        let port = 0;
        let config = dir.path().join("console.toml");
        let text = format!(
            "[console]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n{console_keys}\n\
             [[tokens]]\nname = \"ops\"\ntoken = \"{OPERATOR}\"\nrole = \"operator\"\n\n\
             [[tokens]]\nname = \"watcher\"\ntoken = \"{VIEWER}\"\nrole = \"viewer\"\n\n{extra}"
        );
        std::fs::write(&config, text).unwrap();
        let mut c = Console {
            dir,
            config,
            port,
            child: None,
            env: vec![],
        };
        c.spawn();
        c
    }

    /// Start (or restart) the console. The first start listens on port 0
    /// and reads the port from the console's log; later starts reuse it,
    /// so agents and browsers that know the URL keep it.
    pub fn spawn(&mut self) {
        let log = self.dir.path().join("console.stderr");
        let seen = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) as usize;
        let child = Command::new(bin("fleet-console"))
            .arg("--config")
            .arg(&self.config)
            .env("FLEET_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            ))
            .spawn()
            .expect("spawn fleet-console");
        self.child = Some(child);
        let port = wait_for(Duration::from_secs(20), "console to listen", || {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("console exited early ({st}): {}", self.stderr());
            }
            let text = std::fs::read(&log).unwrap_or_default();
            listening_port(&String::from_utf8_lossy(text.get(seen..)?))
        });
        if self.port == 0 {
            self.port = port;
            let text = std::fs::read_to_string(&self.config).unwrap();
            let fixed = text.replacen(
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"127.0.0.1:{port}\""),
                1,
            );
            std::fs::write(&self.config, fixed).unwrap();
        }
        assert_eq!(port, self.port, "the console came back on another port");
        wait_for(Duration::from_secs(20), "console to answer", || {
            self.try_request("GET", "/healthz", None, "")
                .ok()
                .filter(|r| r.status == 200)
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("console.stderr")).unwrap_or_default()
    }

    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> std::io::Result<Response> {
        let s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        http(s, method, path, &headers, body.as_bytes())
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Response {
        self.try_request(method, path, token, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.stderr()))
    }

    /// GET with the viewer token, expecting 200.
    pub fn get(&self, path: &str) -> Value {
        let r = self.request("GET", path, Some(VIEWER), "");
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// POST /v1/ops as operator; returns the 201 answer.
    pub fn op(&self, body: &str) -> Value {
        let r = self.request("POST", "/v1/ops", Some(OPERATOR), body);
        assert_eq!(r.status, 201, "POST /v1/ops {body}: {}", r.text());
        r.json()
    }

    /// Long-poll the op until it is no longer running.
    pub fn wait_op(&self, id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        let mut after = 0;
        loop {
            let op = self.get(&format!("/v1/ops/{id}?after={after}"));
            if op["state"] != "running" {
                return op;
            }
            after = op["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| h["verdict"] != "pending")
                .count();
            assert!(Instant::now() < deadline, "op {id} still running: {op}");
        }
    }

    /// Wait until the picture shows `n` RUNNING processes on up hosts.
    pub fn wait_running(&self, n: usize, timeout: Duration) -> Value {
        wait_for(
            timeout,
            &format!("{n} RUNNING processes in the console"),
            || {
                let st = self.get("/v1/status");
                let running = st["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["state"] == "RUNNING")
                    .count();
                (running == n).then_some(st)
            },
        )
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Verdict per host of a finished op.
pub fn verdicts(op: &Value) -> Vec<(String, String)> {
    op["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host"].as_str().unwrap().to_string(),
                h["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (host, name) → pid from a status answer.
pub fn pids(status: &Value) -> std::collections::BTreeMap<(String, String), i64> {
    status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some((
                (
                    p["host"].as_str()?.to_string(),
                    p["name"].as_str()?.to_string(),
                ),
                p["pid"].as_i64()?,
            ))
        })
        .collect()
}

/// One process of `host` in the console's `/v1/status` (Null if absent).
pub fn console_process(c: &Console, host: &str, name: &str) -> Value {
    let st = c.get("/v1/status");
    st["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["host"] == host && p["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}
