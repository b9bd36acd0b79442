//! The web page: static assets embedded in the binary (no build step, no
//! files to install), served without auth. The page's data comes from the
//! JSON API with the session cookie (`http::session`).
//!
//! Every asset is sent with `Cache-Control: no-cache` and a content-hash
//! `ETag`, so a browser revalidates cheaply (304) and never runs a stale
//! page after an upgrade, plus a strict Content-Security-Policy: scripts
//! and styles only from this origin, no inline code, no framing.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// A page module: `js!("views/hosts")` serves `web/views/hosts.js` at
/// `/ui/views/hosts.js`. Every file the page imports must be listed here
/// (`every_import_is_served` fails otherwise).
macro_rules! js {
    ($name:literal) => {
        Asset {
            path: concat!("/ui/", $name, ".js"),
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../../web/", $name, ".js")),
        }
    };
}

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../../web/index.html"),
    },
    Asset {
        path: "/ui/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../web/app.css"),
    },
    Asset {
        path: "/ui/favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../web/favicon.svg"),
    },
    // The page's native ES modules; app.js is the entry (see its header
    // for the import graph).
    js!("app"),
    js!("api"),
    js!("clicks"),
    js!("data"),
    js!("dialogs"),
    js!("events"),
    js!("filter"),
    js!("keyboard"),
    js!("log"),
    js!("morph"),
    js!("notify"),
    js!("ops"),
    js!("picture"),
    js!("pieces"),
    js!("render"),
    js!("router"),
    js!("session"),
    js!("state"),
    js!("util"),
    js!("vlist"),
    js!("views/detail"),
    js!("views/hosts"),
    js!("views/ops"),
    js!("views/overview"),
    js!("views/processes"),
    js!("views/rows"),
    js!("views/tables"),
];

/// Strong ETags from a SHA-256 of each asset, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let d = ring::digest::digest(&ring::digest::SHA256, a.body);
                format!("\"{}\"", fleet_daemon::hex::encode(&d.as_ref()[..12]))
            })
            .collect()
    })
}

fn serve(i: usize, headers: &HeaderMap) -> Response {
    let a = &ASSETS[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.body.into_response()
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(ETAG, v);
    }
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// Routes for the page and its assets (no auth).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().enumerate().fold(Router::new(), |r, (i, a)| {
        r.route(a.path, get(move |h: HeaderMap| async move { serve(i, &h) }))
    })
}

/// The paths `router` serves (the auth matrix test walks them).
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str, etag: Option<&str>) -> Response {
        let mut req = Request::get(path);
        if let Some(e) = etag {
            req = req.header(IF_NONE_MATCH, e);
        }
        router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn page_and_assets_have_types_csp_and_etags() {
        for (path, ty) in [
            ("/", "text/html"),
            ("/ui/app.js", "text/javascript"),
            ("/ui/views/hosts.js", "text/javascript"),
            ("/ui/app.css", "text/css"),
        ] {
            let r = get(path, None).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            let h = r.headers();
            assert!(h[CONTENT_TYPE].to_str().unwrap().starts_with(ty), "{path}");
            assert!(h[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"));
            assert_eq!(h[CACHE_CONTROL], "no-cache");
            let tag = h[ETAG].to_str().unwrap().to_string();
            let again = get(path, Some(&tag)).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        }
    }

    /// The specifiers a module imports from (static `import … from "x"`,
    /// `import "x"` and `export … from "x"`, over one or more lines).
    fn imports(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stmt: Option<String> = None;
        for line in src.lines() {
            let l = line.trim();
            let s = match stmt.take() {
                Some(s) => s + " " + l,
                None if l.starts_with("import ")
                    || l.starts_with("export {")
                    || l.starts_with("export *") =>
                {
                    l.to_owned()
                }
                None => continue,
            };
            if !s.ends_with(';') {
                stmt = Some(s);
                continue;
            }
            let spec = match s.rsplit_once(" from ") {
                Some((_, r)) => r,
                None => s.trim_start_matches("import "),
            };
            if let Some(q) = spec.trim().strip_prefix('"') {
                out.push(q.split('"').next().unwrap_or("").to_owned());
            }
        }
        out
    }

    /// `spec` imported by the module served at `from`, as a served path.
    fn resolve(from: &str, spec: &str) -> String {
        assert!(
            spec.starts_with("./") || spec.starts_with("../"),
            "{from}: import {spec:?} is not relative"
        );
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    fn modules() -> impl Iterator<Item = (&'static str, &'static str)> {
        ASSETS
            .iter()
            .filter(|a| a.path.ends_with(".js"))
            .map(|a| (a.path, std::str::from_utf8(a.body).unwrap()))
    }

    /// A module the binary does not serve fails to load in the browser, and
    /// silently but for the console: catch a missing `js!` here instead.
    #[test]
    fn every_import_is_served() {
        let served: Vec<&str> = paths().collect();
        let mut seen = 0;
        for (path, src) in modules() {
            assert!(!src.contains("import("), "{path}: no dynamic import");
            for spec in imports(src) {
                let target = resolve(path, &spec);
                assert!(
                    served.contains(&target.as_str()),
                    "{path} imports {spec}: {target} is not served"
                );
                seen += 1;
            }
        }
        assert!(seen > 50, "only {seen} imports found: is the parser blind?");
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(html.contains(r#"<script type="module" src="/ui/app.js">"#));
        assert!(served.contains(&"/ui/app.js"));
        // Every module on disk is embedded (a new file needs its `js!`).
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        for dir in [web.clone(), web.join("views")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "js") {
                    let rel = p.strip_prefix(&web).unwrap().to_str().unwrap().to_owned();
                    let url = format!("/ui/{rel}");
                    assert!(
                        served.contains(&url.as_str()),
                        "{rel} is on disk but not served"
                    );
                }
            }
        }
    }

    #[test]
    fn the_import_parser_reads_what_the_page_writes() {
        let src = "// import x from \"./no.js\";\nimport { a, b } from \"./a.js\";\nimport {\n  c,\n} from \"../c.js\";\nimport \"./side.js\";\nexport { d } from \"./d.js\";\nexport function f() {}\nexport const g = 1;\n";
        assert_eq!(imports(src), ["./a.js", "../c.js", "./side.js", "./d.js"]);
        assert_eq!(resolve("/ui/views/hosts.js", "../state.js"), "/ui/state.js");
        assert_eq!(resolve("/ui/app.js", "./views/ops.js"), "/ui/views/ops.js");
    }

    /// STYLE.md's bound for a production file, for each module.
    #[test]
    fn no_module_exceeds_600_lines() {
        for (path, src) in modules() {
            let n = src.lines().count();
            assert!(n <= 600, "{path} has {n} lines");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("style="));
        assert!(!html.contains("<style"));
    }
}
