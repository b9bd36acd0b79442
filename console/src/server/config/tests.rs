//! console.toml: whole files in, every problem named.

use super::*;
use fleet_api::Role;

fn p(text: &str) -> Result<Config, String> {
    parse(text, Path::new("/etc/fleet/console.toml"))
}

#[test]
fn agent_urls_are_scheme_host_port_and_nothing_else() {
    for ok in [
        "http://127.0.0.1:9",
        "https://agent.internal:443/",
        "http://[::1]:5",
    ] {
        assert!(check_agent_url(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://127.0.0.1:9\\admin\\x",
        "http://127.0.0.1:9\\",
        "http://u:p@h:1",
        "http://h:1/x",
        "http://h:1?x",
        "http://h:1#x",
        "http://h:1\tx",
        "http://h:99999",
        "ftp://h:1",
        "http://",
    ] {
        assert!(check_agent_url(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn minimal_loopback_config_is_fine() {
    let c = p("[console]\ndata_dir = \"d\"\ninsecure_no_auth = true\n").unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.data_dir, PathBuf::from("/etc/fleet/d"));
    assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
}

#[test]
fn no_tokens_needs_insecure_no_auth_on_loopback() {
    let e = p("[console]\ndata_dir = \"d\"\n").unwrap_err();
    assert!(e.contains("no [[tokens]]: add an operator token"), "{e}");
    assert!(e.contains("insecure_no_auth = true"), "{e}");
    let e = p("[console]\nlisten = \"0.0.0.0:9700\"\ninsecure_no_auth = true\n").unwrap_err();
    assert!(e.contains("without [[tokens]]"), "{e}");
}

#[test]
fn unknown_keys_are_errors() {
    let e = p("[console]\nlisten = \"127.0.0.1:1\"\nlistne = 1\n").unwrap_err();
    assert!(e.contains("unknown field `listne`"), "{e}");
}

#[test]
fn non_loopback_without_tokens_is_refused() {
    let e = p("[console]\nlisten = \"0.0.0.0:9700\"\n").unwrap_err();
    assert!(e.contains("without [[tokens]]"), "{e}");
}

#[test]
fn collects_every_error() {
    let e = p(r#"
[[tokens]]
name = "ops"
role = "admin"
token = "x"

[[agent]]
name = "w 1"
url = "http://10.0.0.1:9701"

[[agent]]
name = "w2"
url = "ftp://x"
"#)
    .unwrap_err();
    assert!(e.contains("role \"admin\""), "{e}");
    assert!(e.contains("names use letters"), "{e}");
    assert!(e.contains("allow_insecure_http"), "{e}");
    assert!(e.contains("must start with http"), "{e}");
}

#[test]
fn full_example_parses() {
    let c = p(r#"
[console]
listen = "0.0.0.0:9700"
[[tokens]]
name = "ops"
token = "t0k-0123456789abcdefghijkl"
role = "operator"
[[agent]]
name = "w-01"
url = "https://10.0.0.11:9701"
token = "agent-0123456789abcdefghijkl"
tags = { role = "worker" }
fingerprint = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
[[agent]]
name = "w-02"
url = "http://10.0.0.12:9701"
allow_insecure_http = true
[host_groups]
workers = ["w-*"]
[enrollment]
token = "enroll-0123456789abcdefghijkl"
"#)
    .unwrap();
    assert_eq!(c.agents.len(), 2);
    assert!(matches!(c.agents[0].trust, Trust::Fingerprint(b) if b[1] == 0x11));
    assert!(c.agents[1].insecure);
    assert_eq!(c.tokens[0].role, Role::Operator);
    assert!(format!("{c:?}").contains("Secret(…)"));
    assert!(!format!("{c:?}").contains("t0k"));
    let e = p("[[tokens]]\nname = \"ops\"\ntoken = \"a\"\nrole = \"viewer\"\n").unwrap_err();
    assert!(e.contains("shorter than 22 characters"), "{e}");
    assert!(e.contains("head -c 32 /dev/urandom | base64"), "{e}");
}

const OPS: &str =
    "[[tokens]]\nname = \"ops\"\ntoken = \"t0k-0123456789abcdefghijkl\"\nrole = \"operator\"\n";

/// The kit's one token rule: an inline token's padding is dropped (it
/// used to be kept, so `token = "T "` never matched `Bearer T`), as is a
/// file's; a token of two words is refused without being quoted.
#[test]
fn tokens_follow_the_kits_one_trimming_rule() {
    let token = "q83vEjRWeJq83vEjRWeJq80=";
    let head =
        "[console]\nlisten = \"0.0.0.0:9700\"\n[[tokens]]\nname = \"ops\"\nrole = \"viewer\"\n";
    let c = p(&format!("{head}token = \" {token}\\n\"\n")).unwrap();
    assert_eq!(c.tokens[0].secret.expose(), token);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ops.token");
    std::fs::write(&file, format!("{token}\r\n")).unwrap();
    let c = p(&format!("{head}token_file = {file:?}\n")).unwrap();
    assert_eq!(c.tokens[0].secret.expose(), token);
    std::fs::write(&file, format!("{token}\n{token}\n")).unwrap();
    let e = p(&format!("{head}token_file = {file:?}\n")).unwrap_err();
    assert!(e.contains("holds a space, line break"), "{e}");
    assert!(!e.contains(token), "{e}");
    let e = p(&format!("{head}token = \"{token} {token}\"\n")).unwrap_err();
    assert!(e.contains("the token holds a space"), "{e}");
    assert!(!e.contains(token), "{e}");
}

#[test]
fn enrollment_tokens_rotate_and_expire() {
    let c = p(&format!(
        "{OPS}[enrollment]\ntoken = \"new-0123456789abcdefghijkl\"\nrate_per_sec = 5\n\
         [[enrollment.tokens]]\nname = \"2026\"\ntoken = \"old-0123456789abcdefghijkl\"\n\
         expires = 2027-01-31T12:00:00Z\n\
         [[enrollment.tokens]]\ntoken = \"day-0123456789abcdefghijkl\"\nexpires = 1970-01-02\n\
         [[enrollment.tokens]]\ntoken = \"off-0123456789abcdefghijkl\"\nexpires = 1970-01-01T02:00:00+01:00\n"
    ))
    .unwrap();
    let e = &c.enrollment;
    assert_eq!(e.len(), 4);
    assert_eq!(
        (e[0].name.as_str(), e[0].expires.is_none()),
        ("enrollment", true)
    );
    assert_eq!(e[1].name, "2026");
    assert_eq!(
        e[1].expires,
        Some((1_801_396_800_000, "2027-01-31T12:00:00Z".to_string()))
    );
    assert_eq!(e[2].name, "enrollment.tokens[1]");
    assert_eq!(e[2].expires.as_ref().unwrap().0, 86_400_000);
    assert_eq!(e[3].expires.as_ref().unwrap().0, 3_600_000);
    assert!(e[1].expired(1_801_396_800_000) && !e[1].expired(1_801_396_799_999));
    assert!(!e[0].expired(u64::MAX));
    assert_eq!(c.enrollment_rate, 5);

    // Only the extra tokens: fine. Bad ones: every problem named.
    let c = p(&format!(
        "{OPS}[enrollment]\n[[enrollment.tokens]]\ntoken = \"x-0123456789abcdefghijklm\"\n"
    ))
    .unwrap();
    assert_eq!(c.enrollment.len(), 1);
    let e = p(&format!(
        "{OPS}[enrollment]\ntoken = \"x-0123456789abcdefghijklm\"\nexpires = 2027-01-31T12:00:00\n\
         [[enrollment.tokens]]\ntoken = \"x-0123456789abcdefghijklm\"\n\
         [[enrollment.tokens]]\ntoken = \"short\"\n[[enrollment.tokens]]\nexpires = 2027-01-01\n"
    ))
    .unwrap_err();
    for want in [
        "enrollment: expires = 2027-01-31T12:00:00: a time needs a UTC offset",
        "enrollment.tokens[0]: the same token is listed twice",
        "enrollment.tokens[1]: token is shorter than 22 characters",
        "enrollment.tokens[2]: set token or token_file",
    ] {
        assert!(e.contains(want), "{want}\n{e}");
    }
}

/// One problem in each section, all named at once, each after the file.
#[test]
fn every_section_reports_its_problems_together() {
    let e = p(&format!(
        "[console]\ntls_cert = \"c.pem\"\nheartbeat_secs = 0\nconcurrency = 0\n{OPS}\
         [host_groups]\nweb = [\"[\"]\n\
         [enrollment]\nname = \"x\"\nrate_per_sec = 0\n"
    ))
    .unwrap_err();
    let want = [
        "console.tls_cert and console.tls_key: set both or neither",
        "console.heartbeat_secs must be at least 1",
        "console.concurrency must be at least 1",
        "host_groups.web: bad pattern \"[\"",
        "enrollment.rate_per_sec must be at least 1",
        "enrollment: expires/name without token or token_file",
    ];
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), want.len(), "{e}");
    for (line, want) in lines.iter().zip(want) {
        assert_eq!(*line, format!("/etc/fleet/console.toml: {want}"));
    }
}

/// `kind = "supervisord"`: its url forms, credentials from a file, poll;
/// each kind's keys refused on the other, the password never quoted.
#[test]
fn supervisord_hosts_and_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("old.pass");
    std::fs::write(&pass, "hunter2-very-secret\n").unwrap();
    let text = format!(
        r#"{OPS}
[[agent]]
name = "old-web-07"
kind = "supervisord"
url = "http://127.0.0.1:9001/RPC2"
username = "admin"
password_file = "{}"
poll = "500ms"
tags = {{ role = "web" }}

[[agent]]
name = "old-local"
kind = "supervisord"
url = "unix:///var/run/supervisor.sock"
"#,
        pass.display()
    );
    let c = p(&text).unwrap();
    let AgentKind::Supervisord(sv) = &c.agents[0].kind else {
        panic!("{:?}", c.agents[0].kind)
    };
    assert_eq!(
        sv.endpoint,
        Endpoint::Http {
            base: "http://127.0.0.1:9001".into(),
            path: "/RPC2".into()
        }
    );
    assert_eq!(sv.poll, std::time::Duration::from_millis(500));
    let (user, secret) = sv.credentials.as_ref().unwrap();
    assert_eq!(
        (user.as_str(), secret.expose()),
        ("admin", "hunter2-very-secret")
    );
    assert!(!format!("{c:?}").contains("hunter2"));
    let AgentKind::Supervisord(local) = &c.agents[1].kind else {
        panic!()
    };
    assert_eq!(
        local.endpoint,
        Endpoint::Unix("/var/run/supervisor.sock".into())
    );
    assert_eq!(local.poll, DEFAULT_POLL);
    assert!(matches!(c.agents[1].kind, AgentKind::Supervisord(_)));

    let e = p(&format!(
        r#"{OPS}
[[agent]]
name = "a"
kind = "supervisord"
url = "http://10.0.0.1:9001/RPC2"
token = "agent-0123456789abcdefghijkl"
username = "admin"
password_file = "{}"
poll = "fast"

[[agent]]
name = "b"
url = "http://127.0.0.1:9701"
poll = "2s"
username = "x"

[[agent]]
name = "c"
kind = "circus"
url = "http://127.0.0.1:9701"

[[agent]]
name = "d"
kind = "supervisord"
url = "ftp://x/RPC2"
username = "only"
"#,
        pass.display()
    ))
    .unwrap_err();
    for want in [
        "agent \"a\": token is for fleet agents",
        "agent \"a\": poll must be a duration",
        "agent \"a\": plain http:// to a non-loopback address sends the password in clear",
        "agent \"b\": poll is for kind = \"supervisord\" hosts",
        "agent \"b\": username is for kind = \"supervisord\" hosts",
        "agent \"c\": kind must be \"fleet\" or \"supervisord\"",
        "agent \"d\": url: \"ftp://x/RPC2\" must start with",
        "agent \"d\": set username and password_file together",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
    assert!(!e.contains("hunter2"), "{e}");
}

/// `[store]`: absent is SQLite; a URL is PostgreSQL; every bad key is
/// named, and neither the URL's password nor the password file's
/// content is ever in a message or in `Debug`.
#[test]
fn store_section() {
    let base = "[console]\ndata_dir = \"d\"\ninsecure_no_auth = true\n";
    assert!(p(base).unwrap().store.is_none());
    let pw = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(pw.path(), "s3cret-password-from-file\n").unwrap();
    let c = p(&format!(
        "{base}[store]\nurl = \"postgres://fleet:hunter2@db.internal/fleet\"\npassword_file = \"{}\"\n",
        pw.path().display()
    ))
    .unwrap();
    let s = c.store.as_ref().unwrap();
    assert_eq!(
        s.password.as_ref().map(|p| p.expose()),
        Some("s3cret-password-from-file")
    );
    assert_eq!(s.tls, super::PgTls::Disable);
    let full = p(&format!(
        "{base}[store]\nurl = \"postgres://a@b/c\"\ntls = \"verify-full\"\nca_file = \"{}\"\n",
        pw.path().display()
    ))
    .unwrap();
    let want = super::PgTls::VerifyFull(pw.path().to_path_buf());
    assert_eq!(full.store.unwrap().tls, want);
    let req = p(&format!(
        "{base}[store]\nurl = \"postgres://a@b/c\"\ntls = \"require\"\n"
    ))
    .unwrap();
    assert_eq!(req.store.unwrap().tls, super::PgTls::Require);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2") && !dbg.contains("s3cret"), "{dbg}");
    for (store, want) in [
        ("password_file = \"/nonexistent\"", "store: url is required"),
        ("url = \"mysql://x@y/z\"", "store.url: expected postgres://"),
        (
            "url = \"postgres://a@b/c\"\ntls = \"maybe\"",
            "store.tls: expected \"disable\"",
        ),
        (
            "url = \"postgres://a@b/c\"\ntls = \"verify-full\"",
            "needs ca_file",
        ),
        (
            "url = \"postgres://a@b/c\"\ntls = \"verify-full\"\nca_file = \"/nonexistent/ca.pem\"",
            "store.ca_file: cannot read /nonexistent/ca.pem",
        ),
        (
            "url = \"postgres://a@b/c\"\ntls = \"require\"\nca_file = \"ca.pem\"",
            "store.ca_file: only with tls = \"verify-full\"",
        ),
        (
            "url = \"postgres://a:hunter2@b/c\"\nport = 1",
            "unknown field `port`",
        ),
    ] {
        let e = p(&format!("{base}[store]\n{store}\n")).unwrap_err();
        assert!(e.contains(want), "{store}: {e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
