//! What a browser could send to supervisord's face: `POST /RPC2` takes
//! HTTP Basic, which a browser replays on its own, so a page elsewhere
//! could post a "simple" cross-origin request (`text/plain`, no preflight)
//! carrying the user's saved credentials. The JSON routes are safe by their
//! `application/json` body; these are made safe the same way: a request
//! with an `Origin` (no page is served by the agent, so every browser
//! request is cross-origin) is refused, and the body must be `text/xml`
//! (what supervisorctl and Python's xmlrpc.client send), which no simple
//! request can carry. A layer on supervisord's POST routes (see
//! `super::router`), on every listener.

use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, ORIGIN};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn browser_guard(req: Request, next: Next) -> Response {
    if req.method() == Method::POST {
        if let Some(why) = refusal(req.headers()) {
            return (StatusCode::FORBIDDEN, format!("403 Forbidden: {why}\n")).into_response();
        }
    }
    next.run(req).await
}

/// Why a POST to supervisord's face is refused, if it is.
fn refusal(h: &axum::http::HeaderMap) -> Option<&'static str> {
    if h.contains_key(ORIGIN) {
        return Some("cross-origin requests are refused");
    }
    let media = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match media {
        Some(m) if m.eq_ignore_ascii_case("text/xml") => None,
        _ => Some("XML-RPC requests are Content-Type: text/xml"),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_non_browser_text_xml_passes() {
        assert_eq!(refusal(&headers(&[("content-type", "text/xml")])), None);
        assert_eq!(
            refusal(&headers(&[("content-type", "TEXT/XML; charset=utf-8")])),
            None
        );
        for bad in [
            headers(&[("content-type", "text/plain")]),
            headers(&[]),
            headers(&[("content-type", "text/xmlx")]),
            headers(&[
                ("content-type", "text/xml"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[("content-type", "text/xml"), ("origin", "null")]),
        ] {
            assert!(refusal(&bad).is_some(), "{bad:?}");
        }
    }
}
