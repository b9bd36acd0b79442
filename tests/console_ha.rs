//! Several consoles on one PostgreSQL (`common/pg.rs` starts a real one):
//! any console accepts any request.

mod common;

use common::browser::{console_http, session_cookie};
use common::console::*;
use common::pg::{self, Pg};
use common::*;

/// A login on A is valid on B; a logout on B ends it on A.
#[test]
fn sessions_hold_across_consoles() {
    let db = Pg::start();
    let (_, url) = db.database();
    let a = pg::console(&url, None, "");
    let b = pg::console(&url, Some(&a), "");
    let body = format!(r#"{{"token":"{OPERATOR}"}}"#);
    let login = console_http(a.port, "POST", "/v1/session", &[], &body);
    assert_eq!(login.status, 200, "{}", login.text());
    let cookie = session_cookie(&login);
    let csrf = login.json()["csrf"].as_str().unwrap().to_string();
    let me = console_http(b.port, "GET", "/v1/session", &[("Cookie", &cookie)], "");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["name"], "ops");
    let out = console_http(
        b.port,
        "DELETE",
        "/v1/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    );
    assert_eq!(out.status, 204, "{}", out.text());
    for port in [a.port, b.port] {
        let me = console_http(port, "GET", "/v1/session", &[("Cookie", &cookie)], "");
        assert_eq!(me.status, 401, "{}", me.text());
    }
    // Both consoles wrote to one chain: intact.
    let (code, out, err) =
        console_bin(&["audit", "verify", "--config", a.config.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
}
