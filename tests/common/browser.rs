//! Headless Debian Chromium driven through `chromedriver` (WebDriver) with
//! `fantoccini`, wrapped in blocking calls so browser tests read like the
//! other end-to-end tests and poll with `wait_for`.
//!
//! Each `Browser` starts its own chromedriver on a port it picks itself
//! (`--port=0`, read back from its start-up line) and a fresh
//! Chromium profile; dropping it ends the WebDriver session (which quits
//! Chromium) and then chromedriver.

use super::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpStream;

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// chromedriver's console-log read (`POST /session/ID/se/log`): not in
/// W3C WebDriver, so not a fantoccini method.
#[derive(Debug)]
struct ReadBrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for ReadBrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A Chrome DevTools command through chromedriver
/// (`POST /session/ID/goog/cdp/execute`), e.g. to emulate dark mode.
#[derive(Debug)]
struct Cdp(Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.0.to_string()))
    }
}

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` of the console under test.
    pub base: String,
}

impl Browser {
    /// A fresh headless Chromium pointed at the console on `console_port`.
    pub fn start(console_port: u16) -> Browser {
        let driver_bin = which("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver not found on PATH: the browser tests need Debian's \
                 `chromium` and `chromium-driver` packages \
                 (apt-get install chromium chromium-driver; .ci/run installs them)"
            )
        });
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|n| which(n))
            .unwrap_or_else(|| {
                panic!(
                    "chromium not found on PATH: install Debian's `chromium` package \
                     (apt-get install chromium chromium-driver; .ci/run installs them)"
                )
            });
        let profile = tempfile::tempdir().unwrap();
        let out = profile.path().join("chromedriver.out");
        // chromedriver has been seen to exit at start-up, rarely, before it
        // listens (its own start, not the page's): say what it printed and
        // start it again, at most three times.
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let mut driver = Command::new(&driver_bin)
                .arg("--port=0")
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(out.with_extension("err")).unwrap())
                .spawn()
                .expect("spawn chromedriver");
            // "ChromeDriver was started successfully on port N." comes once
            // it listens.
            let port: Option<u16> =
                wait_for(Duration::from_secs(20), "chromedriver to listen", || {
                    if let Ok(Some(_)) = driver.try_wait() {
                        return Some(None);
                    }
                    let text = std::fs::read_to_string(&out).ok()?;
                    let rest = text.split("started successfully on port ").nth(1)?;
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse()
                        .ok()
                        .map(Some)
                });
            match port {
                Some(port) => break (driver, port),
                None => {
                    let said = std::fs::read_to_string(&out).unwrap_or_default()
                        + &std::fs::read_to_string(out.with_extension("err")).unwrap_or_default();
                    let st = driver.wait().unwrap();
                    assert!(
                        attempt < 3,
                        "chromedriver exited early ({st}) {attempt} times; it said: {said}"
                    );
                    eprintln!(
                        "chromedriver exited early ({st}), starting it again; it said: {said}"
                    );
                }
            }
        };
        let caps = serde_json::json!({
            "browserName": "chrome",
            // Keep the page's console (exceptions, failed loads) for
            // `js_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("start a Chromium session through chromedriver: {e}"));
        Browser {
            rt,
            client: Some(client),
            driver,
            _profile: profile,
            base: format!("http://127.0.0.1:{console_port}"),
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Load `path` (e.g. `/` or `/#/hosts`) from the console.
    pub fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.rt
            .block_on(self.c().goto(&url))
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Run `script` (a function body; `arguments[i]` are `args`).
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt
            .block_on(self.c().execute(script, args))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The browser console's errors since the last call: uncaught
    /// exceptions, unhandled rejections, `console.error`, and resources
    /// that failed to load, except answers of the JSON API (`/v1/…`), which
    /// the page shows itself (a 401 before login is how it learns it has
    /// no session). A module that fails to load or link stops the page
    /// with nothing on it but a line here.
    pub fn js_errors(&self) -> Vec<String> {
        let log = self
            .rt
            .block_on(self.c().issue_cmd(ReadBrowserLog))
            .unwrap_or_else(|e| panic!("read the browser console: {e}"));
        let entries = log
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("the browser console log is not a list: {log}"));
        let api = format!("{}/v1/", self.base);
        entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| !(m.starts_with(&api) && m.contains("Failed to load resource")))
            .collect()
    }

    /// Run a Chrome DevTools Protocol command (`Emulation.…`, …).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        let body = serde_json::json!({ "cmd": cmd, "params": params });
        self.rt
            .block_on(self.c().issue_cmd(Cdp(body)))
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Emulate `prefers-color-scheme: dark` (or light).
    pub fn color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            serde_json::json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
    }

    /// Panics with the console's errors, if any (`js_errors`).
    pub fn assert_no_js_errors(&self, when: &str) {
        let errors = self.js_errors();
        assert!(
            errors.is_empty(),
            "JS errors {when}:\n{}",
            errors.join("\n")
        );
    }

    /// Poll `script` until it returns something other than null/false.
    pub fn wait_js(&self, what: &str, script: &str) -> Value {
        wait_for(Duration::from_secs(30), what, || {
            let v = self.js(script, vec![]);
            (!v.is_null() && v != Value::Bool(false)).then_some(v)
        })
    }

    /// The element `css` selects, once it exists (20 s at most).
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.c()
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub fn click(&self, css: &str) {
        self.rt.block_on(async {
            let e = self.element(css).await;
            e.click()
                .await
                .unwrap_or_else(|e| panic!("click {css}: {e}"));
        })
    }

    pub fn type_into(&self, css: &str, text: &str) {
        self.rt.block_on(async {
            let e = self.element(css).await;
            e.send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("type into {css}: {e}"));
        })
    }

    /// Keys to whatever has focus (e.g. "/" for the filter shortcut).
    pub fn keys(&self, text: &str) {
        self.rt.block_on(async {
            let e = self.c().active_element().await.expect("active element");
            e.send_keys(text).await.expect("send keys");
        })
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.c().current_url())
            .expect("current url")
            .to_string()
    }

    pub fn source(&self) -> String {
        self.rt.block_on(self.c().source()).expect("page source")
    }

    /// The value of cookie `name` as the browser holds it (HttpOnly ones
    /// too: WebDriver sees them, page scripts do not).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let all = self
            .rt
            .block_on(self.c().get_all_cookies())
            .expect("cookies");
        all.iter()
            .find(|c| c.name() == name)
            .map(|c| c.value().to_string())
    }

    pub fn cookie_http_only(&self, name: &str) -> Option<bool> {
        let all = self
            .rt
            .block_on(self.c().get_all_cookies())
            .expect("cookies");
        all.iter()
            .find(|c| c.name() == name)
            .map(|c| c.http_only() == Some(true))
    }

    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        std::fs::write(path, png).unwrap();
    }

    pub fn resize(&self, w: u32, h: u32) {
        self.rt
            .block_on(self.c().set_window_size(w, h))
            .expect("resize");
    }

    /// Log in through the page's form and wait for the header to show who.
    pub fn login(&self, token: &str, name: &str) {
        self.goto("/");
        self.wait_js(
            "the login form",
            "return !document.getElementById('login').hidden",
        );
        self.type_into("#token", token);
        self.click("#login-form button[type=submit]");
        self.wait_js(
            &format!("the header to name {name}"),
            &format!(
                "const w = document.getElementById('who'); \
                 return !document.getElementById('top').hidden && w.textContent.startsWith({name:?})"
            ),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), c.close()).await });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP request to the console with arbitrary headers.
pub fn console_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect console");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    http(s, method, path, headers, body.as_bytes()).expect("HTTP to console")
}

/// `fleet_session=…` from a login answer's Set-Cookie.
pub fn session_cookie(r: &Response) -> String {
    let sc = r.header("set-cookie").expect("Set-Cookie on login");
    sc.split(';').next().unwrap().trim().to_string()
}
