//! fleetctl against a scripted fake console (the real one is tested
//! end-to-end elsewhere): the request shapes it sends and how it follows an
//! operation by long-polling.

use super::output::Style;
use super::{run, Cli, CliError, Status};
use bytes::Bytes;
use clap::Parser;
use fleet_api::{
    ActionResult, ErrorBody, ErrorCode, FleetProcess, FleetStatus, FleetSummary, HostInfo,
    HostResult, HostSource, Op, OpRequest, OpState, Outcome, ProcessInfo, ProcessState, Verdict,
};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Fake {
    /// (method, path and query, body) of every request.
    seen: Vec<(String, String, String)>,
    op: Option<Op>,
    /// Verdicts handed out, one per poll.
    script: Vec<Verdict>,
}

fn host(name: &str, up: bool) -> HostInfo {
    HostInfo {
        name: name.into(),
        url: format!("http://{name}:7070"),
        tags: Default::default(),
        groups: vec![],
        source: HostSource::Config,
        kind: Default::default(),
        up,
        version: Some("0.1.0".into()),
        last_seen: Some(0),
        stale_ms: Some(if up { 0 } else { 65_000 }),
        error: (!up).then(|| "connection refused".into()),
        processes: 1,
    }
}

fn proc_info(name: &str) -> ProcessInfo {
    let (group, process) = name.split_once(':').unwrap();
    ProcessInfo {
        pid: Some(4242),
        started_at: Some(0),
        description: "pid 4242".into(),
        ..ProcessInfo::new(group, group, process, ProcessState::Running)
    }
}

fn json(status: u16, v: &impl serde::Serialize) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(v).unwrap())))
        .unwrap()
}

fn fleet_status() -> FleetStatus {
    FleetStatus {
        hosts: vec![host("w-01", true), host("w-02", false)],
        processes: vec![
            FleetProcess::live("w-01", proc_info("celery:worker_00")),
            FleetProcess::live("w-02", proc_info("celery:worker_00")),
        ],
    }
}

fn answer(
    fake: &mut Fake,
    method: &str,
    uri: &str,
    body: &str,
    auth: Option<&str>,
) -> Response<Full<Bytes>> {
    if auth != Some("Bearer tok") {
        return json(
            401,
            &ErrorBody::new(ErrorCode::Unauthorized, "missing token"),
        );
    }
    let path = uri.split('?').next().unwrap();
    match (method, path) {
        ("GET", "/v1/status") => json(200, &fleet_status()),
        ("GET", "/v1/status/summary") => {
            let st = fleet_status();
            json(
                200,
                &FleetSummary {
                    counts: vec![],
                    hosts: st.hosts,
                    processes: st.processes,
                    complete: true,
                },
            )
        }
        ("POST", "/v1/ops") => {
            let request: OpRequest = serde_json::from_str(body).unwrap();
            let hosts = (1..=fake.script.len())
                .map(|i| HostResult {
                    host: format!("h{i}"),
                    verdict: Verdict::Pending,
                    batch: None,
                    message: String::new(),
                    processes: vec![],
                })
                .collect();
            let op = Op {
                id: "op-1".into(),
                who: "tester".into(),
                request,
                state: OpState::Running,
                created_at: 0,
                finished_at: None,
                hosts,
                source: None,
            };
            fake.op = Some(op.clone());
            json(201, &op)
        }
        ("GET", "/v1/ops/op-1") => {
            let op = fake.op.as_mut().unwrap();
            if let Some(h) = op.hosts.iter_mut().find(|h| h.verdict == Verdict::Pending) {
                let i: usize = h.host[1..].parse().unwrap();
                h.verdict = fake.script[i - 1];
                h.processes = vec![ActionResult {
                    name: "celery:worker_00".into(),
                    outcome: if h.verdict == Verdict::Ok {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    },
                    state: ProcessState::Running,
                    pid: Some(100 + i as u32),
                    message: String::new(),
                }];
                if h.verdict == Verdict::Unreachable {
                    h.processes.clear();
                    h.message = "timed out after 30s".into();
                }
            }
            if op.hosts.iter().all(|h| h.verdict != Verdict::Pending) {
                op.state = OpState::Done;
            }
            json(200, &*op)
        }
        _ => json(
            404,
            &ErrorBody::new(ErrorCode::NotFound, "no such endpoint"),
        ),
    }
}

/// Serve the fake on 127.0.0.1:0; returns its URL.
async fn serve(fake: Arc<Mutex<Fake>>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let fake = fake.clone();
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let fake = fake.clone();
                async move {
                    let method = req.method().to_string();
                    let uri = req.uri().to_string();
                    let auth = req
                        .headers()
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let mut f = fake.lock().unwrap();
                    f.seen.push((method.clone(), uri.clone(), body.clone()));
                    Ok::<_, std::convert::Infallible>(answer(
                        &mut f,
                        &method,
                        &uri,
                        &body,
                        auth.as_deref(),
                    ))
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    url
}

#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn fleetctl(url: &str, args: &[&str]) -> (Result<Status, CliError>, String) {
    let head = ["fleetctl", "--console", url, "--config", "/dev/null"];
    let argv = head.iter().chain(args).copied();
    let cli = Cli::try_parse_from(argv).unwrap();
    let buf = Buf::default();
    let r = run(cli, Box::new(buf.clone()), Style::plain()).await;
    let text = String::from_utf8(buf.0.borrow().clone()).unwrap();
    (r, text)
}

#[tokio::test(flavor = "current_thread")]
async fn an_operation_is_followed_host_by_host() {
    let fake = Arc::new(Mutex::new(Fake {
        script: vec![Verdict::Ok, Verdict::Failed, Verdict::Unreachable],
        ..Fake::default()
    }));
    let url = serve(fake.clone()).await;
    let (r, out) = fleetctl(
        &url,
        &[
            "--token",
            "tok",
            "restart",
            "group:celery",
            "--hosts",
            "w-*",
            "--rolling",
            "25%",
            "--max-failures",
            "2",
        ],
    )
    .await;
    assert_eq!(r.unwrap(), Status::Failed, "{out}");
    let f = fake.lock().unwrap();
    let (m, path, body) = &f.seen[0];
    assert_eq!((m.as_str(), path.as_str()), ("POST", "/v1/ops"));
    let req: OpRequest = serde_json::from_str(body).unwrap();
    assert_eq!(req.action, fleet_api::Verb::Restart);
    assert_eq!(req.target, "group:celery");
    assert_eq!(req.hosts.as_deref(), Some("w-*"));
    assert_eq!(req.strategy, fleet_api::StrategyKind::Rolling);
    assert_eq!(req.batch.as_deref(), Some("25%"));
    assert_eq!(req.max_failures, Some(2));
    let polls: Vec<&str> = f.seen[1..].iter().map(|s| s.1.as_str()).collect();
    assert_eq!(
        polls,
        [
            "/v1/ops/op-1?after=0",
            "/v1/ops/op-1?after=1",
            "/v1/ops/op-1?after=2"
        ]
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("h1  ok"), "{out}");
    assert!(lines[1].contains("celery:worker_00  restarted"), "{out}");
    assert!(lines[2].starts_with("h2  FAILED"), "{out}");
    assert!(
        lines[4].starts_with("h3  UNREACHABLE  timed out after 30s"),
        "{out}"
    );
    assert!(
        out.ends_with(
            "restart group:celery: done: 1 ok, 1 failed, 1 unreachable, 0 skipped (op op-1)\n"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_operation_that_succeeds_everywhere_exits_0() {
    let fake = Arc::new(Mutex::new(Fake {
        script: vec![Verdict::Ok, Verdict::Ok],
        ..Fake::default()
    }));
    let url = serve(fake.clone()).await;
    let (r, out) = fleetctl(
        &url,
        &["--token", "tok", "-o", "json", "signal", "usr1", "web"],
    )
    .await;
    assert_eq!(r.unwrap(), Status::Success, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "done");
    assert_eq!(v["request"]["signal"], "USR1");
    assert_eq!(v["request"]["strategy"], "parallel");
}

#[tokio::test(flavor = "current_thread")]
async fn fleet_status_shows_hosts_and_flags_unreachable_ones() {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let url = serve(fake.clone()).await;
    let (r, out) = fleetctl(
        &url,
        &["--token", "tok", "status", "group:celery", "--hosts", "w-*"],
    )
    .await;
    assert_eq!(r.unwrap(), Status::Failed, "a host is down: {out}");
    assert!(out.starts_with("HOST  GROUP   NAME "), "{out}");
    assert!(
        out.contains("w-02  celery  celery:worker_00  RUNNING"),
        "{out}"
    );
    assert_eq!(
        fake.lock().unwrap().seen[0].1,
        "/v1/status/summary?hosts=w-%2A&target=group%3Acelery&all_below=1000"
    );

    let (_, out) = fleetctl(&url, &["--token", "tok", "status", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let p = &v["processes"][0];
    for field in ["host", "name", "group", "state", "pid"] {
        assert!(!p[field].is_null(), "{field} in {p}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_token_is_a_clear_error() {
    let url = serve(Arc::new(Mutex::new(Fake::default()))).await;
    let (r, _) = fleetctl(&url, &["hosts"]).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        format!("missing token (from {url}, HTTP 401); pass --token or set FLEET_TOKEN")
    );
}

/// Past `all_below` the human status leads with the counts over every
/// host and names how many processes the table below lists.
#[test]
fn a_large_fleets_status_line_counts_states_and_the_troubled() {
    use fleet_api::{HostCounts, StateCount};
    let count = |state, count| StateCount { state, count };
    let mut fatal = proc_info("celery:worker_01");
    fatal.state = ProcessState::Fatal;
    let st = FleetSummary {
        hosts: vec![host("w-01", true), host("w-02", true), host("w-03", false)],
        counts: vec![
            HostCounts {
                host: "w-01".into(),
                states: vec![
                    count(ProcessState::Running, 1500),
                    count(ProcessState::Fatal, 1),
                ],
            },
            HostCounts {
                host: "w-02".into(),
                states: vec![count(ProcessState::Running, 500)],
            },
            HostCounts {
                host: "w-03".into(),
                states: vec![count(ProcessState::Unknown, 20)],
            },
        ],
        processes: vec![FleetProcess::live("w-01", fatal)],
        complete: false,
    };
    assert_eq!(
        super::fleet::summary_line(&st),
        "3 hosts (1 unreachable), 2021 processes: 2000 RUNNING, 1 FATAL, 20 UNKNOWN; \
         1 not RUNNING or STOPPED as wanted:\n"
    );
}
