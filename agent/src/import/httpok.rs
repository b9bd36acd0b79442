//! superlance's `httpok` event listener → `[program.X.health]` http
//! checks on the programs it restarts.
//!
//! httpok's rules, from its source (superlance/httpok.py): options are
//! read with Python's `getopt` (`hp:at:c:b:s:m:g:d:eEn:`, long forms
//! too), exactly one URL follows them, `-p` is repeatable and matches a
//! process by its name or `group:name` (no wildcards), `-c` is repeatable
//! (default 200), `-t` defaults to 10 s, and it checks on each `TICK_*`
//! event it gets (ignoring the others), restarting the RUNNING ones at
//! the first bad answer.

use std::collections::HashMap;

use super::context::{fleet_name, Cx};
use super::output::{Block, Val};
use super::Sec;

/// What one httpok listener asks for.
#[derive(Debug, Default)]
pub(super) struct Httpok {
    programs: Vec<String>,
    any: bool,
    timeout: Option<i64>,
    codes: Vec<i64>,
    body: Option<String>,
    url: String,
    /// Options fleet has no equivalent for, each with its warning.
    unmapped: Vec<String>,
}

const SHORT: &str = "hp:at:c:b:s:m:g:d:eEn:";
const LONG: &[&str] = &[
    "help",
    "program=",
    "any",
    "timeout=",
    "code=",
    "body=",
    "sendmail_program=",
    "email=",
    "gcore=",
    "coredir=",
    "eager",
    "not-eager",
    "name=",
];

/// `(option, value)` pairs, then the arguments left.
type Parsed<'a> = (Vec<(String, String)>, &'a [String]);

/// Python's `getopt.getopt`: `(option, value)` pairs and the arguments
/// left from the first non-option on.
fn getopt(args: &[String]) -> Result<Parsed<'_>, String> {
    let mut opts = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if a == "--" {
            return Ok((opts, &args[i + 1..]));
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            // getopt takes a unique prefix of a long option.
            let matches: Vec<&str> = LONG
                .iter()
                .copied()
                .filter(|l| l.trim_end_matches('=') == name)
                .chain(LONG.iter().copied().filter(|l| l.starts_with(name)))
                .collect();
            let full = match matches.as_slice() {
                [] => return Err(format!("unknown option --{name}")),
                [first, ..] if first.trim_end_matches('=') == name => *first,
                [one] => *one,
                _ => return Err(format!("--{name} is not a unique option prefix")),
            };
            let takes = full.ends_with('=');
            let name = full.trim_end_matches('=');
            let value = match (takes, inline) {
                (true, Some(v)) => v,
                (true, None) => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or(format!("--{name} needs a value"))?
                }
                (false, Some(_)) => return Err(format!("--{name} takes no value")),
                (false, None) => String::new(),
            };
            opts.push((format!("--{name}"), value));
        } else if a.len() > 1 && a.starts_with('-') {
            let mut rest = &a[1..];
            while let Some(c) = rest.chars().next() {
                rest = &rest[c.len_utf8()..];
                let Some(at) = SHORT.find(c).filter(|_| c != ':') else {
                    return Err(format!("unknown option -{c}"));
                };
                if SHORT[at + 1..].starts_with(':') {
                    let value = if rest.is_empty() {
                        i += 1;
                        args.get(i).cloned().ok_or(format!("-{c} needs a value"))?
                    } else {
                        rest.to_owned()
                    };
                    opts.push((format!("-{c}"), value));
                    break;
                }
                opts.push((format!("-{c}"), String::new()));
            }
        } else {
            return Ok((opts, &args[i..]));
        }
        i += 1;
    }
    Ok((opts, &[]))
}

/// httpok's command line, or why httpok itself would not run with it.
pub(super) fn parse(args: &[String]) -> Result<Httpok, String> {
    let (opts, rest) = getopt(args)?;
    let [url] = rest else {
        return Err(match rest {
            [] => "no URL".into(),
            _ => format!("one URL expected after the options, found {rest:?}"),
        });
    };
    let mut h = Httpok {
        url: url.clone(),
        ..Httpok::default()
    };
    let int = |o: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("{o} {v:?} is not a number (httpok exits at start)"))
    };
    for (o, v) in opts {
        match o.as_str() {
            "-h" | "--help" => return Err("-h only prints httpok's usage".into()),
            "-p" | "--program" => h.programs.push(v),
            "-a" | "--any" => h.any = true,
            "-t" | "--timeout" => h.timeout = Some(int(&o, &v)?),
            "-c" | "--code" => h.codes.push(int(&o, &v)?),
            "-b" | "--body" => h.body = Some(v),
            "-m" | "--email" | "-s" | "--sendmail_program" => h.unmapped.push(format!("{o} (mail on restart): fleet sends no mail; use the console's alert rules, or follow GET /v1/events (`fleetctl events`) for health and restart events")),
            "-g" | "--gcore" | "-d" | "--coredir" => h.unmapped.push(format!("{o} (gcore a hung process before restarting it): fleet takes no core dump; not converted")),
            "-e" | "--eager" => h.unmapped.push(format!("{o} (eager, httpok's default): httpok also checked (and mailed) with no watched process RUNNING; fleet checks a process only while it runs")),
            "-E" | "--not-eager" => h.unmapped.push(format!("{o}: fleet checks a process only while it runs, as -E does")),
            _ => {} // -n / --name: only in the mail's subject.
        }
    }
    Ok(h)
}

/// A converted program: its block and the supervisord process names it
/// runs.
struct Target {
    block: usize,
    name: String,
    group: String,
    processes: Vec<String>,
}

/// The `[program.X]` blocks and their process names (the names httpok's
/// `-p` matches).
fn targets(cx: &Cx, blocks: &[Block], group_of: &HashMap<String, String>) -> Vec<Target> {
    let groups: HashMap<String, String> = group_of
        .iter()
        .map(|(p, g)| (fleet_name(p), g.clone()))
        .collect();
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let Some(name) = b
            .header
            .strip_prefix("program.")
            .filter(|_| b.sub.is_none())
        else {
            continue;
        };
        let get = |k: &str| b.items.iter().find(|i| i.key == k).map(|i| &i.val);
        let template = match get("process_name") {
            Some(Val::Str(s)) => s.clone(),
            _ => "{program}".to_owned(),
        };
        let int = |k: &str, d: i64| match get(k) {
            Some(Val::Int(n)) => *n,
            _ => d,
        };
        let (n, start) = (int("numprocs", 1), int("numprocs_start", 0));
        let group = groups.get(name).cloned().unwrap_or_else(|| name.to_owned());
        let processes = (start..start + n)
            .map(|num| process_name(&template, name, &group, cx.host, num))
            .collect();
        out.push(Target {
            block: i,
            name: name.to_owned(),
            group,
            processes,
        });
    }
    out
}

/// A fleet `process_name` template for one instance: `{program}`,
/// `{group}`, `{host}`, `{num}`, `{num:0N}`.
fn process_name(t: &str, program: &str, group: &str, host: &str, num: i64) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let Some(end) = rest[i..].find('}') else {
            rest = &rest[i..];
            break;
        };
        let field = &rest[i + 1..i + end];
        match field {
            "program" => out.push_str(program),
            "group" => out.push_str(group),
            "host" => out.push_str(host),
            "num" => out.push_str(&num.to_string()),
            f => match f
                .strip_prefix("num:0")
                .and_then(|w| w.parse::<usize>().ok())
            {
                Some(w) => out.push_str(&format!("{num:0w$}")),
                None => out.push_str(&rest[i..=i + end]),
            },
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The check interval: the shortest `TICK_N` the listener gets.
fn interval(events: &str) -> Option<u64> {
    events
        .split(',')
        .filter_map(|e| match e.trim().to_ascii_uppercase().as_str() {
            "TICK_5" => Some(5),
            "TICK_60" => Some(60),
            "TICK_3600" => Some(3600),
            _ => None,
        })
        .min()
}

/// An httpok listener → health checks; false when it cannot be converted
/// (a warning says why; the caller keeps it as a listener).
pub(super) fn convert(
    cx: &mut Cx,
    sec: &Sec,
    args: &[String],
    group_of: &HashMap<String, String>,
    blocks: &mut Vec<Block>,
) -> bool {
    let cmd = sec.get("command");
    let h = match parse(args) {
        Ok(h) => h,
        Err(e) => {
            cx.warn(
                sec,
                cmd,
                format!("no health check made from this httpok listener: {e}"),
            );
            return false;
        }
    };
    let url = match h.url.split_once("://") {
        Some((scheme, rest))
            if matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
                && !rest.is_empty()
                && !rest.starts_with('/') =>
        {
            format!("{}://{rest}", scheme.to_ascii_lowercase())
        }
        _ => {
            cx.warn(sec, cmd, format!("no health check made from this httpok listener: {:?} is no http:// or https:// URL with a host (httpok exits on it)", h.url));
            return false;
        }
    };
    let events = sec.get("events");
    let Some(every) = events.and_then(|e| interval(&e.value)) else {
        cx.warn(sec, events.or(cmd), "no health check made from this httpok listener: it checks on TICK_5, TICK_60 or TICK_3600 events and gets none, so it never checked");
        return false;
    };
    if h.programs.is_empty() && !h.any {
        cx.warn(
            sec,
            cmd,
            "no health check made from this httpok listener: without -p or -a it restarts nothing",
        );
        return false;
    }
    for m in &h.unmapped {
        cx.warn(sec, cmd, m.clone());
    }
    if h.any {
        cx.warn(sec, cmd, "httpok -a restarts every RUNNING process when the URL fails: fleet's check belongs to one program, so no health check is made from it; add a [program.X.health] to the program(s) that serve the URL");
    }
    let timeout = match h.timeout {
        None => 10,
        Some(t) if t > 0 => t,
        Some(t) => {
            cx.warn(
                sec,
                cmd,
                format!("httpok -t {t}: not a usable timeout (every check failed); written as 10s"),
            );
            10
        }
    };
    let mut codes: Vec<i64> = Vec::new();
    for c in &h.codes {
        if (100..=599).contains(c) {
            if !codes.contains(c) {
                codes.push(*c);
            }
        } else {
            cx.warn(
                sec,
                cmd,
                format!("httpok -c {c} is no HTTP status; left out"),
            );
        }
    }
    if codes.is_empty() {
        codes.push(200);
    }

    // `-p`: each process name or `group:name` → its program.
    let all = targets(cx, blocks, group_of);
    let mut chosen: Vec<(usize, Vec<String>)> = Vec::new();
    for spec in &h.programs {
        if spec.contains('*') {
            cx.warn(sec, cmd, format!("httpok -p {spec}: httpok compares names exactly (no wildcards), so it restarted nothing; no check added"));
            continue;
        }
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-') {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        let (group, name) = match spec.split_once(':') {
            Some((g, n)) => (Some(fleet_name(g)), clean(n)),
            None => (None, clean(spec)),
        };
        let mut found = false;
        for (ti, t) in all.iter().enumerate() {
            if group.as_ref().is_some_and(|g| *g != t.group) || !t.processes.contains(&name) {
                continue;
            }
            found = true;
            match chosen.iter_mut().find(|(i, _)| *i == ti) {
                Some((_, named)) if !named.contains(&name) => named.push(name.clone()),
                Some(_) => {}
                None => chosen.push((ti, vec![name.clone()])),
            }
        }
        if !found {
            cx.warn(sec, cmd, format!("httpok -p {spec}: no process of that name in the converted programs (httpok restarted nothing for it either); no check added"));
        }
    }

    let mut checks: Vec<(usize, Block)> = Vec::new();
    for (ti, named) in chosen {
        let t = &all[ti];
        if blocks
            .iter()
            .any(|b| b.header == blocks[t.block].header && b.sub.is_some())
        {
            cx.warn(sec, cmd, format!("{} already has a health check from another httpok listener; fleet runs one check per program, this one is left out", t.name));
            continue;
        }
        let n = t.processes.len();
        if n > 1 && named.len() < n {
            cx.warn(sec, cmd, format!(
                "httpok -p names {} of the {n} processes of {}: fleet's check belongs to the program, so every instance gets it, with the same URL for each unless the url is templated with {{num}} (e.g. :80{{num:02}})",
                named.join(", "), t.name
            ));
        } else if n > 1 {
            cx.warn(sec, cmd, format!("{} runs {n} processes: each gets the check, with the same URL for each unless the url is templated with {{num}} (e.g. :80{{num:02}})", t.name));
        }
        let mut b = Block {
            header: blocks[t.block].header.clone(),
            sub: Some("health".into()),
            comments: vec![format!(
                "from [{}] (superlance httpok): restarts it at the first failed check, as httpok did",
                sec.name
            )],
            ..Block::default()
        };
        b.set("http", Val::Str(url.clone()));
        b.set("interval", Val::Str(format!("{every}s")));
        b.set("timeout", Val::Str(format!("{timeout}s")));
        match codes.as_slice() {
            [one] => b.set("expect_status", Val::Int(*one)),
            many => b.set("expect_status", Val::Ints(many.to_vec())),
        }
        if let Some(body) = &h.body {
            b.set("expect_body", Val::Str(body.clone()));
        }
        b.set("failures", Val::Int(1));
        b.set("on_unhealthy", Val::Str("restart".into()));
        checks.push((t.block, b));
    }
    if checks.is_empty() {
        // Nothing of it is in the TOML: the caller keeps it as a listener.
        return false;
    }
    // Each right after its program, from the last so indexes hold.
    checks.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, b) in checks {
        blocks.insert(at + 1, b);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn options_parse_as_getopt_does() {
        let h = parse(&args(
            "-p web -papi --program worker --timeout=5 -c 204 -c200 -b'ok' -m ops@x -eE -n x http://127.0.0.1:8080/",
        ))
        .unwrap();
        assert_eq!(h.programs, ["web", "api", "worker"]);
        assert_eq!(h.timeout, Some(5));
        assert_eq!(h.codes, [204, 200]);
        assert_eq!(h.body.as_deref(), Some("ok"));
        assert_eq!(h.url, "http://127.0.0.1:8080/");
        assert_eq!(h.unmapped.len(), 3);
        let h = parse(&args("-at5 http://a/")).unwrap();
        assert!(h.any);
        assert_eq!(h.timeout, Some(5));
        for bad in [
            "-x http://a/",
            "-p",
            "-t ten http://a/",
            "-c ok http://a/",
            "-p web",
            "http://a/ -p web",
            "--e http://a/",
            "-h http://a/",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            parse(&args("--prog=web --time 3 http://a/"))
                .unwrap()
                .programs,
            ["web"]
        );
        // `--` ends the options.
        assert_eq!(parse(&args("-p w -- -weird")).unwrap().url, "-weird");
    }

    #[test]
    fn process_names_and_intervals() {
        assert_eq!(process_name("{program}_{num:02}", "w", "g", "h", 3), "w_03");
        assert_eq!(
            process_name("{group}-{num}@{host}", "w", "g", "h", 1),
            "g-1@h"
        );
        assert_eq!(interval("PROCESS_STATE,TICK_60,TICK_5"), Some(5));
        assert_eq!(interval("tick_3600"), Some(3600));
        assert_eq!(interval("PROCESS_STATE"), None);
    }
}
