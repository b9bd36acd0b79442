//! Browser-facing checks in front of every route, whatever the caller's
//! credentials (threats T10, DNS rebinding):
//!
//! - on a loopback listener, `Host` must name the listener (`localhost` or
//!   a loopback address, with the listener's port or none): a page on
//!   `evil.example` rebound to 127.0.0.1 sends `Host: evil.example` and is
//!   refused, reads included;
//! - a state-changing request (any method but GET/HEAD/OPTIONS) with an
//!   `Origin` must come from the console's own origin;
//! - a state-changing request's body must be `application/json` (an HTML
//!   form or a `text/plain` "simple" request cannot set that, so a
//!   cross-site page cannot make one without a CORS preflight, which the
//!   console never grants).
//!
//! Every refusal is a 403 saying which rule failed.

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleet_api::ErrorCode;
use std::net::{IpAddr, SocketAddr};

/// What the checks need to know about the listener.
#[derive(Clone, Copy, Debug)]
pub struct Listener {
    pub addr: SocketAddr,
    pub tls: bool,
}

pub async fn guard(State(l): State<Listener>, req: Request, next: Next) -> Response {
    match check(&l, req.method(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn refuse(msg: String) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, msg)
}

pub fn check(l: &Listener, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    if l.addr.ip().is_loopback() {
        match host {
            Some(h) if loopback_host(h, l.addr.port()) => {}
            Some(h) => {
                return Err(refuse(format!(
                    "Host {h:?} does not name this console ({}); refused (DNS rebinding)",
                    l.addr
                )))
            }
            None => return Err(refuse("missing Host header".into())),
        }
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let scheme = if l.tls { "https" } else { "http" };
        let own = host.map(|h| format!("{scheme}://{h}"));
        if own.as_deref() != Some(origin) {
            return Err(refuse(format!(
                "cross-origin request refused: Origin {origin:?} is not this console ({})",
                own.unwrap_or_else(|| format!("{scheme}://{}", l.addr))
            )));
        }
    }
    match headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("")) {
        Some(ct) if is_json(ct) => Ok(()),
        Some(ct) => Err(refuse(format!(
            "Content-Type {ct:?} refused: state-changing requests send application/json"
        ))),
        None if has_body(headers) => Err(refuse(
            "missing Content-Type: state-changing requests send application/json".into(),
        )),
        None => Ok(()),
    }
}

fn is_json(ct: &str) -> bool {
    ct.split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// `localhost` or a loopback address, with `port` or no port.
fn loopback_host(h: &str, port: u16) -> bool {
    let (name, p) = match h.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, rest)) => (ip, rest.strip_prefix(':')),
            None => return false,
        },
        None => match h.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (h, None),
        },
    };
    let port_ok = p.is_none_or(|p| p.parse::<u16>() == Ok(port));
    let name_ok = name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    port_ok && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l() -> Listener {
        Listener {
            addr: "127.0.0.1:9700".parse().unwrap(),
            tls: false,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1:9700",
            "localhost",
            "LOCALHOST:9700",
            "[::1]:9700",
            "127.0.0.1",
        ] {
            assert!(loopback_host(ok, 9700), "{ok}");
        }
        for bad in [
            "evil.example:9700",
            "127.0.0.1:80",
            "10.0.0.1:9700",
            "[::1",
            "localhost:x",
        ] {
            assert!(!loopback_host(bad, 9700), "{bad}");
        }
    }

    #[test]
    fn cross_site_simple_post_is_refused() {
        let get = Method::GET;
        let post = Method::POST;
        assert!(check(&l(), &get, &h(&[("host", "127.0.0.1:9700")])).is_ok());
        assert!(check(&l(), &get, &h(&[("host", "evil.example:9700")])).is_err());
        let own = [
            ("host", "127.0.0.1:9700"),
            ("origin", "http://127.0.0.1:9700"),
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ];
        assert!(check(&l(), &post, &h(&own)).is_ok());
        let mut evil = own;
        evil[1] = ("origin", "http://evil.example");
        assert!(check(&l(), &post, &h(&evil)).is_err());
        let mut plain = own;
        plain[2] = ("content-type", "text/plain");
        assert!(check(&l(), &post, &h(&plain)).is_err());
        let bodyless = [("host", "localhost"), ("content-length", "0")];
        assert!(check(&l(), &Method::DELETE, &h(&bodyless)).is_ok());
        let untyped = [("host", "localhost"), ("content-length", "5")];
        assert!(check(&l(), &post, &h(&untyped)).is_err());
    }
}
