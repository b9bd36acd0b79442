//! The reason one click away: the full current log file downloads through
//! the console byte for byte (larger than the in-memory tail), never through
//! a symlink; a tail asked for with `timestamps=true` gives each line the
//! time the agent read it.

mod common;
use common::console::*;
use common::*;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const T: Duration = Duration::from_secs(30);
/// More than the agent's 64 KiB tail.
const FLOOD: u64 = 300_000;

fn programs() -> String {
    format!(
        r#"
[program.flood]
command = "TESTPROG flood {FLOOD} 1000"
startsecs = 0
autorestart = false

[program.ticker]
command = "TESTPROG ticker 200"
startsecs = 0
"#
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The agent's stdout log file of `program`.
fn log_file(a: &Agent, program: &str) -> PathBuf {
    std::fs::read_dir(&a.log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with(program) && n.contains("stdout")
        })
        .unwrap_or_else(|| panic!("no stdout log of {program} in {}", a.log_dir.display()))
}

#[test]
fn the_current_log_file_downloads_byte_for_byte_through_the_console() {
    let (a, port) = tcp_agent(&programs());
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    a.wait_state("flood:flood", "EXITED", T);
    let path = log_file(&a, "flood");
    let on_disk = wait_for(T, "the whole flood in its file", || {
        let b = std::fs::read(&path).ok()?;
        (b.len() as u64 == FLOOD).then_some(b)
    });

    let url = "/v1/hosts/w-01/processes/flood:flood/log/file?stream=stdout";
    let r = wait_for(T, "the console to know w-01", || {
        let r = c.request("GET", url, Some(VIEWER), "");
        (r.status != 404 || !r.text().contains("no host")).then_some(r)
    });
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"w-01_flood_flood_stdout.log\"")
    );
    assert!(r.body.len() == on_disk.len(), "{} bytes", r.body.len());
    assert!(r.body == on_disk, "the download differs from the file");
    // The tail is only the last 64 KiB: the download is the whole file.
    let tail = c.request(
        "GET",
        "/v1/hosts/w-01/processes/flood:flood/log?stream=stdout&tail=1000000",
        Some(VIEWER),
        "",
    );
    assert_eq!(tail.status, 200);
    assert!(tail.body.len() < r.body.len() / 2, "{}", tail.body.len());
    assert!(on_disk.ends_with(&tail.body));

    // Bad input: clear errors.
    let r = c.request(
        "GET",
        "/v1/hosts/w-01/processes/flood:flood/log/file?stream=stdin",
        Some(VIEWER),
        "",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("unknown stream"), "{}", r.text());
    let r = c.request(
        "GET",
        "/v1/hosts/w-01/processes/nope/log/file",
        Some(VIEWER),
        "",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = c.request("GET", url, None, "");
    assert_eq!(r.status, 401, "{}", r.text());

    // A log file swapped for a symlink is not followed.
    let secret = a.dir.path().join("secret");
    std::fs::write(&secret, "not for the console\n").unwrap();
    std::fs::remove_file(&path).unwrap();
    std::os::unix::fs::symlink(&secret, &path).unwrap();
    let r = c.request("GET", url, Some(VIEWER), "");
    assert_ne!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("not for the console"), "{}", r.text());
    assert!(
        r.text().contains("cannot read the stdout log file"),
        "{}",
        r.text()
    );
}

#[test]
fn a_tail_with_timestamps_says_when_the_agent_read_each_line() {
    let before = now_ms();
    let (a, port) = tcp_agent(&programs());
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    a.wait_state("ticker:ticker", "RUNNING", T);
    let url = "/v1/hosts/w-01/processes/ticker/log?stream=stdout&tail=65536";
    let text = wait_for(T, "a few ticks through the console", || {
        let r = c.request("GET", &format!("{url}&timestamps=true"), Some(VIEWER), "");
        let t = r.text();
        (r.status == 200 && t.lines().count() >= 5).then_some(t)
    });
    let after = now_ms();
    let mut last = 0;
    for (i, line) in text.lines().enumerate() {
        let (ms, rest) = line.split_once('\t').unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!(rest, format!("tick {i}"), "{text}");
        let ms: u64 = ms.parse().unwrap_or_else(|_| panic!("no time in {line:?}"));
        assert!(
            (before..=after).contains(&ms),
            "{ms} not in {before}..={after}"
        );
        assert!(ms >= last, "times go back: {text}");
        last = ms;
    }
    // Without the parameter the tail is the program's bytes, unchanged.
    let plain = c.request("GET", url, Some(VIEWER), "").text();
    assert!(plain.starts_with("tick 0\ntick 1\n"), "{plain}");
    assert!(!plain.contains('\t'));
    // A follower gets the same shape, on the same (agent's) clock, through
    // the console: live lines and history line up in time.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", c.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    use std::io::Write;
    write!(
        s,
        "GET /v1/hosts/w-01/processes/ticker/log?stream=stdout&tail=0&follow=true&timestamps=true HTTP/1.1\r\n\
         Host: 127.0.0.1:{}\r\nAuthorization: Bearer {VIEWER}\r\n\r\n",
        c.port
    )
    .unwrap();
    let from = now_ms();
    let text = read_stream_until(&s, T, "three stamped live lines", |t| {
        t.matches("\ttick ").count() >= 3
    });
    let to = now_ms();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\ttick ")).collect();
    for l in &lines[..3] {
        // Chunked framing may precede the first; the stamp ends at the tab.
        let (ms, rest) = l.split_once('\t').unwrap();
        let ms: u64 = ms[ms.len().saturating_sub(13)..]
            .parse()
            .unwrap_or_else(|_| panic!("no time in {l:?}"));
        assert!(rest.starts_with("tick "), "{l:?}");
        assert!(
            (from - 1000..=to).contains(&ms),
            "{ms} not near {from}..{to}"
        );
    }
    drop(a);
}

/// The page: tail lines carry the agent's time (shown beside the line,
/// not in its text), and each stream's link downloads the whole file.
#[test]
fn the_page_shows_line_times_and_links_the_log_files() {
    let (a, port) = tcp_agent(&programs());
    let c = Console::start(&agent_entries(&[("w-01", port)]));
    a.wait_state("flood:flood", "EXITED", T);
    let path = log_file(&a, "flood");
    wait_for(T, "the whole flood in its file", || {
        (std::fs::metadata(&path).ok()?.len() == FLOOD).then_some(())
    });
    let b = common::browser::Browser::start(c.port);
    b.login(VIEWER, "watcher");
    b.goto("/#/proc/w-01/ticker:ticker?stream=stdout");
    let first = b.wait_js(
        "tail lines with the agent's times",
        "const l = [...document.querySelectorAll('#log .ln[data-st]')]; \
         return l.length >= 3 && [l[0].querySelector('.t').textContent, l[0].querySelector('.tx').textContent, l[0].textContent];",
    );
    // The time is text (a copy keeps it), apart from the program's own.
    let time = first[0].as_str().unwrap();
    assert!(
        time.len() == 13 && time.as_bytes()[2] == b':' && time.as_bytes()[8] == b'.',
        "{first}"
    );
    assert_eq!(first[1], "tick 0", "{first}");
    assert_eq!(first[2], format!("{time}tick 0\n"), "{first}");
    b.goto("/#/proc/w-01/flood:flood");
    let got = b.wait_js(
        "the stdout file link, fetched as the page would",
        "const a = document.querySelector('a[data-file=\"stdout\"]'); if (!a) return false; \
         const x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); \
         return [x.status, x.responseText.length, a.hasAttribute('download')];",
    );
    assert_eq!(got, serde_json::json!([200, FLOOD, true]), "{got}");
}
