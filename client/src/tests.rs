//! The client against real listeners (axum on a unix socket and on TCP):
//! path segments, connect errors, and what is shown of an answer that is
//! not the one asked for.

use crate::transport::{MAX_ERROR_BODY, POOL_IDLE};
use crate::{encode, http_client, Client, ClientError, Options, Trust};
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::routing::get;
use fleet_api::{ErrorBody, ErrorCode};
use fleet_daemon::trust::io_reason;
use std::time::Duration;

/// A unix-socket client and an http client for `router`, served on both.
async fn both(router: axum::Router) -> (tempfile::TempDir, [Client; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    let unix = tokio::net::UnixListener::bind(&sock).unwrap();
    let r = router.clone();
    tokio::spawn(async move { axum::serve(unix, r).await });
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, router).await });
    let opts = Options {
        user_agent: "test",
        connect_timeout: Duration::from_secs(5),
        follow_redirects: false,
    };
    let http = http_client(&opts, &Trust::System).unwrap();
    let clients = [Client::unix(sock), Client::http(&base, http, None, false)];
    (dir, clients)
}

/// A router answering every GET of `path` with `status` and `body`.
fn answering(path: &str, status: u16, body: impl Into<String>) -> axum::Router {
    let body = body.into();
    let status = StatusCode::from_u16(status).unwrap();
    axum::Router::new().route(
        path,
        get(move || {
            let body = body.clone();
            async move { (status, body) }
        }),
    )
}

#[test]
fn idle_connections_leave_the_pool_before_the_daemons_drop_them() {
    let daemon = fleet_daemon::serve::Limits::default().header_read_timeout;
    assert!(POOL_IDLE < daemon, "{POOL_IDLE:?} vs {daemon:?}");
}

#[test]
fn io_reasons_drop_the_errno() {
    let e = std::io::Error::from_raw_os_error(2);
    assert_eq!(io_reason(&e), "No such file or directory");
}

#[tokio::test(flavor = "current_thread")]
async fn missing_socket_is_a_connect_error_with_a_hint() {
    let c = Client::unix("/nonexistent/fleet.sock".into());
    let e = c
        .get_json::<serde_json::Value>("/v1/status")
        .await
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "cannot connect to /nonexistent/fleet.sock: No such file or directory (is fleet-agent running?)"
    );
}

/// Names as the server's router sees them: what the agent's
/// `/v1/processes/{name}/log` route would get, over both transports.
#[tokio::test(flavor = "current_thread")]
async fn path_segments_round_trip_over_both_transports() {
    let router = axum::Router::new().route(
        "/v1/processes/{name}/{verb}",
        get(
            |UrlPath((name, verb)): UrlPath<(String, String)>| async move {
                axum::Json(serde_json::json!({ "name": name, "verb": verb }))
            },
        ),
    );
    let (_dir, clients) = both(router).await;
    for c in &clients {
        for name in [
            "celery:worker_00",
            "web:*",
            "a@b",
            "group:celery",
            "sp ace/slash%?#",
            "é",
        ] {
            let got = c
                .get_json::<serde_json::Value>(&format!(
                    "/v1/processes/{}/log",
                    encode::segment(name)
                ))
                .await
                .unwrap_or_else(|e| panic!("{name} via {}: {e}", c.endpoint()));
            assert_eq!(got.data["name"], name, "via {}", c.endpoint());
            assert_eq!(got.data["verb"], "log");
        }
    }
}

/// fleet's error body becomes a typed error: its code and its message.
#[tokio::test(flavor = "current_thread")]
async fn a_fleet_error_body_is_decoded_into_its_code_and_message() {
    let body = ErrorBody::new(ErrorCode::NotFound, "no such process: web");
    let router = answering("/x", 404, serde_json::to_string(&body).unwrap());
    let (_dir, clients) = both(router).await;
    for c in &clients {
        match c.get_json::<serde_json::Value>("/x").await {
            Err(ClientError::Api {
                status: 404,
                code: Some(ErrorCode::NotFound),
                message,
                ..
            }) => assert_eq!(message, "no such process: web"),
            Err(e) => panic!("via {}: {e:?}", c.endpoint()),
            Ok(_) => panic!("via {}: a 404 was taken as an answer", c.endpoint()),
        }
    }
}

/// A non-2xx body that is not fleet's (a proxy's page, another service's
/// JSON) is named by its status only; a fleet message is capped.
#[tokio::test(flavor = "current_thread")]
async fn a_foreign_error_body_is_never_quoted() {
    let long = ErrorBody::new(ErrorCode::Conflict, "m".repeat(10_000));
    let router = answering("/html", 502, "<html>secret-page</html>")
        .merge(answering("/json", 500, r#"{"token":"secret-json"}"#))
        .merge(answering(
            "/long",
            409,
            serde_json::to_string(&long).unwrap(),
        ));
    let (_dir, clients) = both(router).await;
    for c in &clients {
        for (path, status) in [("/html", 502), ("/json", 500)] {
            let e = c.get_json::<serde_json::Value>(path).await.err().unwrap();
            let shown = e.to_string();
            assert!(!shown.contains("secret"), "{shown}");
            assert_eq!(
                shown,
                format!(
                    "HTTP status {status} (not a fleet error answer) (from {}, HTTP {status})",
                    c.endpoint()
                )
            );
            assert!(matches!(e, ClientError::Api { code: None, .. }), "{e:?}");
        }
        match c
            .get_json::<serde_json::Value>("/long")
            .await
            .err()
            .unwrap()
        {
            ClientError::Api { message, .. } => assert_eq!(message.chars().count(), 500),
            e => panic!("{e:?}"),
        }
    }
}

/// A 2xx body that is not the JSON asked for is described by its size and
/// where it stopped making sense, never quoted (serde's own message would
/// quote the value).
#[tokio::test(flavor = "current_thread")]
async fn a_foreign_answer_is_described_not_quoted() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Status {
        count: u32,
    }
    let html = "<html>secret-page</html>";
    let json = r#"{"count":"secret-value"}"#;
    let router = answering("/html", 200, html).merge(answering("/json", 200, json));
    let (_dir, clients) = both(router).await;
    for c in &clients {
        for (path, body, at) in [("/html", html, "line 1 column 1"), ("/json", json, "")] {
            let e = c.get_json::<Status>(path).await.err().unwrap();
            let shown = e.to_string();
            assert!(!shown.contains("secret"), "{shown}");
            let want = format!(
                "{}: unexpected answer to {path}: not a fleet answer: unexpected answer ({} bytes",
                c.endpoint(),
                body.len()
            );
            assert!(shown.starts_with(&want), "{shown}");
            assert!(shown.contains(at), "{shown}");
        }
    }
}

/// The one capped reader: a body past its cap is refused, and an error
/// body past `MAX_ERROR_BODY` is not read into a message.
#[tokio::test(flavor = "current_thread")]
async fn bodies_past_their_cap_are_refused() {
    let big = "x".repeat(MAX_ERROR_BODY + 1);
    let router = answering("/big", 200, big.clone()).merge(answering("/bigerr", 500, big));
    let (_dir, clients) = both(router).await;
    for c in &clients {
        let body = c.stream("/big", &[]).await.unwrap();
        let e = body.collect_capped(1024).await.err().unwrap();
        assert_eq!(e, "the answer is larger than 1024 bytes");
        let all = c
            .stream("/big", &[])
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(all.len(), MAX_ERROR_BODY + 1);
        let e = c
            .get_json::<serde_json::Value>("/bigerr")
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                ClientError::Api {
                    status: 500,
                    code: None,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

/// A 401 says where the token comes from.
#[tokio::test(flavor = "current_thread")]
async fn unauthorized_says_how_to_pass_a_token() {
    let body = ErrorBody::new(ErrorCode::Unauthorized, "missing or invalid token");
    let (_dir, clients) = both(answering("/x", 401, serde_json::to_string(&body).unwrap())).await;
    let e = clients[1]
        .get_json::<serde_json::Value>("/x")
        .await
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .ends_with("HTTP 401); pass --token or set FLEET_TOKEN"),
        "{e}"
    );
}
