//! Issue #14, the auth matrix: every route of both daemons, taken from the
//! route tables their routers are built from (`fleet_agent::routes::ROUTES`,
//! `fleet_console::server::http::routes()`), so a new route cannot be
//! missed, × every kind of credential, against the real binaries. The
//! expected answer of each (route, credential) comes from the route's
//! access level alone (`expect_*` below), never from a per-route list.

mod common;
use common::console::*;
use fleet_agent::routes::{Access as AgentAccess, ROUTES as AGENT_ROUTES};
use fleet_console::server::http::{routes as console_routes, Access};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const ENROLL: &str = "matrix-enroll-0123456789abcdef";
const BAD: &str = "wrong-token-0123456789abcdefgh";
const EVIL: &str = "http://evil.example";

/// What a caller holds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    Nothing,
    BadToken,
    Viewer,
    Operator,
    /// The page's session cookie (an operator's) without `X-CSRF-Token`.
    CookieNoCsrf,
    /// The session cookie and its CSRF token, sent by a page on another
    /// origin.
    CookieForeignOrigin,
    Enrollment,
    /// The agent's own token as a bearer token.
    AgentToken,
    /// HTTP Basic, any user, the agent's token as the password.
    AgentBasic,
}

const CREDS: [Cred; 9] = [
    Cred::Nothing,
    Cred::BadToken,
    Cred::Viewer,
    Cred::Operator,
    Cred::CookieNoCsrf,
    Cred::CookieForeignOrigin,
    Cred::Enrollment,
    Cred::AgentToken,
    Cred::AgentBasic,
];

/// What the matrix expects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Past authentication: a GET answers 200; anything else answers what
    /// its handler decides, but never 401/403 nor a routing miss.
    Allowed,
    Status(u16),
}

struct Session {
    cookie: String,
    csrf: String,
}

/// One request; only the status line and headers are read, so an event
/// stream or a followed log answers too. The connection is dropped after.
fn call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
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
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // The headers, then a body of known length (error answers); a stream
    // (chunked: events, followed logs) is not waited for.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{method} {path}: {e}"),
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            match length {
                Some(n) if raw.len() < end + 4 + n.min(64 * 1024) => {}
                _ => break,
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status line in {text:?}"));
    (status, text)
}

/// The route pattern with its parameters filled from `names` (real names:
/// a host the console manages, a process it runs, an op that exists). A
/// parameter without a real name fails the test, so a new route gets one.
fn fill(pattern: &str, names: &[(&str, &str)]) -> String {
    pattern
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => {
                    let p = p.trim_start_matches('*');
                    names
                        .iter()
                        .find(|(k, _)| *k == p)
                        .unwrap_or_else(|| panic!("no real name for {{{p}}} in {pattern}"))
                        .1
                        .to_string()
                }
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn bearer(t: &str) -> (String, String) {
    ("Authorization".into(), format!("Bearer {t}"))
}

fn basic(password: &str) -> (String, String) {
    let out = common::base64(format!("user:{password}").as_bytes());
    ("Authorization".into(), format!("Basic {out}"))
}

fn headers(cred: Cred, session: &Session) -> Vec<(String, String)> {
    match cred {
        Cred::Nothing => vec![],
        Cred::BadToken => vec![bearer(BAD)],
        Cred::Viewer => vec![bearer(VIEWER)],
        Cred::Operator => vec![bearer(OPERATOR)],
        Cred::CookieNoCsrf => vec![("Cookie".into(), session.cookie.clone())],
        Cred::CookieForeignOrigin => vec![
            ("Cookie".into(), session.cookie.clone()),
            ("X-CSRF-Token".into(), session.csrf.clone()),
            ("Origin".into(), EVIL.into()),
        ],
        Cred::Enrollment => vec![bearer(ENROLL)],
        Cred::AgentToken => vec![bearer(AGENT_TOKEN)],
        Cred::AgentBasic => vec![basic(AGENT_TOKEN)],
    }
}

/// The token a caller holding `cred` can put in a login body.
fn held_token(cred: Cred) -> &'static str {
    match cred {
        Cred::BadToken => BAD,
        Cred::Viewer => VIEWER,
        Cred::Operator => OPERATOR,
        Cred::Enrollment => ENROLL,
        Cred::AgentToken | Cred::AgentBasic => AGENT_TOKEN,
        Cred::Nothing | Cred::CookieNoCsrf | Cred::CookieForeignOrigin => "",
    }
}

/// The console's answer to `cred` on a route of access `access`.
fn expect_console(access: Access, method: &str, cred: Cred) -> Expect {
    use Cred::*;
    use Expect::*;
    let safe = method == "GET" || method == "HEAD";
    // The browser guard comes first, whatever the route: a state-changing
    // request from another origin is refused.
    if !safe && cred == CookieForeignOrigin {
        return Status(403);
    }
    let cookie = matches!(cred, CookieNoCsrf | CookieForeignOrigin);
    match access {
        Access::Public => Allowed,
        Access::Viewer | Access::Operator => match cred {
            Viewer if access == Access::Operator => Status(403),
            Viewer | Operator => Allowed,
            // A cookie reads; a change needs the session's CSRF token.
            _ if cookie && safe => Allowed,
            _ if cookie => Status(403),
            _ => Status(401),
        },
        // The token travels in the body; only a console token logs in.
        Access::Login => match cred {
            Viewer | Operator => Allowed,
            _ => Status(401),
        },
        Access::Session if safe => {
            if cookie {
                Allowed
            } else {
                Status(401)
            }
        }
        // Logging out needs the session's CSRF token; without a session
        // there is nothing to end (204).
        Access::Session => {
            if cookie {
                Status(403)
            } else {
                Allowed
            }
        }
        Access::Enrollment => match cred {
            Enrollment => Allowed,
            _ => Status(401),
        },
    }
}

/// The agent's answer (TCP listener) to `cred` on a route of `access`.
fn expect_agent(access: AgentAccess, cred: Cred) -> Expect {
    match (access, cred) {
        (AgentAccess::Public, _) | (_, Cred::AgentToken) => Expect::Allowed,
        (AgentAccess::TokenOrBasic, Cred::AgentBasic) => Expect::Allowed,
        _ => Expect::Status(401),
    }
}

fn check(what: &str, method: &str, expect: Expect, (status, text): (u16, String)) {
    match expect {
        Expect::Status(s) => assert_eq!(status, s, "{what}: expected {s}, got:\n{text}"),
        Expect::Allowed => {
            assert!(
                !matches!(status, 401 | 403 | 405) && status < 500,
                "{what}: expected past authentication, got:\n{text}"
            );
            assert!(
                !(status == 404 && text.contains("no such endpoint")),
                "{what}: the route is not mounted:\n{text}"
            );
            // With real names a read succeeds (or, for supervisord's main
            // log, which the agent does not keep, says so).
            if method == "GET" {
                assert!(
                    status == 200 || status == 404,
                    "{what}: expected 200:\n{text}"
                );
            }
        }
    }
}

/// A realistic body for the routes that take one (`{}` otherwise).
fn console_body(method: &str, path: &str, cred: Cred) -> String {
    match (method, path) {
        ("POST", "/v1/session") => format!(r#"{{"token":"{}"}}"#, held_token(cred)),
        ("POST", "/v1/ops") => r#"{"action":"start","target":"all"}"#.into(),
        ("POST", "/v1/agents/register") => {
            r#"{"name":"matrix-new","url":"http://127.0.0.1:1","version":"0","agent_token":"matrix-agent-0123456789abcdef"}"#.into()
        }
        ("GET", _) | ("HEAD", _) | ("DELETE", _) => String::new(),
        _ => "{}".into(),
    }
}

fn agent_body(method: &str, path: &str) -> String {
    match (method, path) {
        ("POST", p) if p.starts_with("/RPC2") => "<?xml version=\"1.0\"?><methodCall>\
             <methodName>supervisor.getState</methodName><params/></methodCall>"
            .into(),
        ("POST", "/v1/enroll/proof") => r#"{"name":"w1","nonce":"0123456789abcdef"}"#.into(),
        // Past the token check, refused at its first step (a real re-exec
        // would end the connection unanswered).
        ("POST", "/v1/agent/reexec") => r#"{"binary":"/nonexistent/fleet-agent"}"#.into(),
        ("POST", _) => "{}".into(),
        _ => String::new(),
    }
}

#[test]
fn t12_every_route_of_both_daemons_times_every_credential() {
    let (agent, agent_port) = tcp_agent(CELERY);
    let c = Console::start(&format!(
        "[enrollment]\ntoken = \"{ENROLL}\"\n\n{}",
        agent_entries(&[("w1", agent_port)])
    ));
    c.wait_running(2, Duration::from_secs(30));
    let op = c.op(r#"{"action":"start","target":"all"}"#);
    let op_id = op["id"].as_str().unwrap().to_string();
    c.wait_op(&op_id, Duration::from_secs(30));

    // The page's session, an operator's.
    let r = c.request(
        "POST",
        "/v1/session",
        None,
        &format!(r#"{{"token":"{OPERATOR}"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r
        .header("set-cookie")
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let session = Session {
        cookie,
        csrf: r.json()["csrf"].as_str().unwrap().to_string(),
    };

    let names = [
        ("host", "w1"),
        ("name", "celery:worker_00"),
        ("id", op_id.as_str()),
        ("target", "celery:worker_00"),
        ("verb", "start"),
        ("rest", "celery:worker_00"),
    ];

    // The console: its own routes and the page's assets.
    let routes = console_routes();
    assert!(routes.len() >= 15, "{}", routes.len());
    let mut checked = 0;
    for (method, pattern, access) in &routes {
        let method = method.as_str();
        let path = fill(pattern, &names);
        for cred in CREDS {
            let expect = expect_console(*access, method, cred);
            let got = call(
                c.port,
                method,
                &path,
                &headers(cred, &session),
                &console_body(method, pattern, cred),
            );
            let what = format!("console {method} {path} ({access:?}) with {cred:?}");
            check(&what, method, expect, got);
            checked += 1;
        }
    }

    // The agent's TCP listener: bearer everywhere, Basic on supervisord's.
    assert!(AGENT_ROUTES.len() >= 10, "{}", AGENT_ROUTES.len());
    for r in AGENT_ROUTES {
        let method = r.method.as_str();
        let path = fill(r.path, &names);
        for cred in CREDS {
            let expect = expect_agent(r.access, cred);
            let got = call(
                agent_port,
                method,
                &path,
                &headers(cred, &session),
                &agent_body(method, r.path),
            );
            let what = format!("agent {method} {path} ({:?}) with {cred:?}", r.access);
            if expect == Expect::Status(401) && r.access == AgentAccess::TokenOrBasic {
                // supervisord's answer, which supervisorctl understands.
                assert!(
                    got.1.contains("WWW-Authenticate: Basic realm=\"default\"")
                        || got.1.contains("www-authenticate: Basic realm=\"default\""),
                    "{what}: {}",
                    got.1
                );
            }
            check(&what, method, expect, got);
            checked += 1;
        }
    }
    assert_eq!(checked, (routes.len() + AGENT_ROUTES.len()) * CREDS.len());
    drop(agent);
}

/// T15 (clickjacking): every page asset the console serves — the public
/// rows of its route table but `/healthz` — forbids framing.
#[test]
fn t15_every_page_asset_forbids_framing() {
    let c = Console::start("");
    let mut assets = 0;
    for (method, path, access) in console_routes() {
        if access != Access::Public || path == "/healthz" {
            continue;
        }
        let r = c.request(method.as_str(), path, None, "");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp:?}");
        assets += 1;
    }
    assert!(assets >= 2, "{assets}");
}
