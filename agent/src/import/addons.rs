//! supervisord add-ons fleet does natively: the
//! supervisord-dependent-startup plugin (`dependent_startup_*` keys and
//! its event listener) becomes `depends_on`, and superlance's `httpok`
//! listeners become `[program.X.health]` http checks. What does not map
//! is a warning; anything else about an event listener is left to the
//! generic "not converted".

use std::collections::HashMap;

use super::context::{fleet_name, raw_name, Cx};
use super::output::{Block, Val};
use super::Sec;

/// The plugin's keys in a `[program:x]`.
pub(super) const DEPENDENT_STARTUP_KEYS: &[&str] = &[
    "dependent_startup",
    "dependent_startup_wait_for",
    "dependent_startup_inherit_priority",
];

/// `dependent_startup_wait_for = redis:running web:running` → `depends_on`.
pub(super) fn dependent_startup(
    cx: &mut Cx,
    sec: &Sec,
    programs: &[&Sec],
    group_of: &HashMap<String, String>,
    block: &mut Block,
) {
    let enabled = sec.get("dependent_startup").is_some_and(|e| {
        matches!(
            e.value.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "on" | "1"
        )
    });
    if let Some(e) = sec.get("dependent_startup_inherit_priority") {
        cx.warn(sec, Some(e), "not needed: fleet starts a program after what it depends on whatever the priorities (a dependency always starts first and stops last)");
    }
    if enabled {
        undo_autostart(cx, sec, block);
    }
    let Some(wait) = sec.get("dependent_startup_wait_for") else {
        return;
    };
    if !enabled {
        cx.warn(sec, Some(wait), "dependent_startup is not true: the plugin ignores dependent_startup_wait_for, so does import");
        return;
    }
    let groups: Vec<String> = group_of.values().cloned().collect();
    let mut deps: Vec<String> = Vec::new();
    for item in wait.value.split_whitespace() {
        // `NAME:STATE` or `GROUP:NAME:STATE`.
        let parts: Vec<&str> = item.split(':').collect();
        let (name, state) = match parts.as_slice() {
            [n, s] => (*n, *s),
            [_, n, s] => (*n, *s),
            _ => {
                cx.warn(
                    sec,
                    Some(wait),
                    format!("{item:?} is not NAME:STATE; left out"),
                );
                continue;
            }
        };
        let dep = if programs.iter().any(|p| raw_name(p) == name) {
            fleet_name(name)
        } else if groups.iter().any(|g| *g == fleet_name(name)) {
            format!("group:{}", fleet_name(name))
        } else {
            cx.warn(
                sec,
                Some(wait),
                format!("{name:?} is no program or group here; left out of depends_on"),
            );
            continue;
        };
        if !state.eq_ignore_ascii_case("running") {
            cx.warn(sec, Some(wait), format!(
                "{item:?}: fleet waits for a dependency to be RUNNING (and healthy, with a check), not {}; \
                 kept as a dependency on {dep:?}", state.to_ascii_uppercase()
            ));
        }
        if !deps.contains(&dep) {
            deps.push(dep);
        }
    }
    if !deps.is_empty() {
        block.set("depends_on", Val::Strs(deps));
    }
}

fn undo_autostart(cx: &mut Cx, sec: &Sec, block: &mut Block) {
    // The plugin needs autostart=false (it starts them itself): fleet's
    // own start order replaces it, so they autostart again.
    let before = block.items.len();
    block
        .items
        .retain(|i| !(i.key == "autostart" && i.val == Val::Bool(false)));
    if block.items.len() != before {
        cx.warn(sec, sec.get("autostart"), "autostart=false was for the dependent-startup plugin, which started it; fleet starts it itself in depends_on order, so it autostarts");
    }
}

/// An `[eventlistener:x]` fleet replaces natively; false for any other.
pub(super) fn listener(cx: &mut Cx, sec: &Sec, blocks: &mut Vec<Block>) -> bool {
    let Some(cmd) = sec.get("command") else {
        return false;
    };
    let Ok(argv) = shell_words::split(&cmd.value) else {
        return false;
    };
    let base = |a: &str| a.rsplit('/').next().unwrap_or(a).to_owned();
    if argv.iter().any(|a| {
        let b = base(a);
        b.starts_with("supervisord-dependent-startup") || b == "supervisord_dependent_startup"
    }) {
        cx.warn(sec, None, "not needed: fleet orders starts itself (the programs' dependent_startup_wait_for became depends_on); left out");
        return true;
    }
    let Some(at) = argv
        .iter()
        .position(|a| base(a) == "httpok" || a == "superlance.httpok")
    else {
        return false;
    };
    httpok(cx, sec, &argv[at + 1..], blocks);
    true
}

/// What one httpok listener asks for.
#[derive(Default)]
struct Httpok {
    programs: Vec<String>,
    any: bool,
    timeout: Option<String>,
    code: Option<String>,
    body: Option<String>,
    url: Option<String>,
    unmapped: Vec<String>,
}

fn parse_httpok(args: &[String]) -> Result<Httpok, String> {
    let mut h = Httpok::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        // `-p X`, `-pX`, `--program=X`, `--program X`.
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o.to_owned(), Some(v.to_owned())),
            _ if a.starts_with("--") => (a.to_owned(), None),
            _ if a.starts_with('-') && a.len() > 2 => (a[..2].to_owned(), Some(a[2..].to_owned())),
            _ => (a.to_owned(), None),
        };
        let takes = matches!(
            opt.as_str(),
            "-p" | "--program"
                | "-t"
                | "--timeout"
                | "-c"
                | "--code"
                | "-b"
                | "--body"
                | "-s"
                | "--sendmail_program"
                | "-m"
                | "--email"
                | "-g"
                | "--gcore"
                | "-d"
                | "--coredir"
                | "-n"
                | "--name"
        );
        let value = if takes {
            match inline {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(args.get(i).cloned().ok_or(format!("{opt} needs a value"))?)
                }
            }
        } else {
            None
        };
        match opt.as_str() {
            "-p" | "--program" => h.programs.push(value.unwrap_or_default()),
            "-a" | "--any" => h.any = true,
            "-t" | "--timeout" => h.timeout = value,
            "-c" | "--code" => h.code = value,
            "-b" | "--body" => h.body = value,
            "-s" | "--sendmail_program" | "-m" | "--email" => h.unmapped.push(format!("{opt} (mail on restart): fleet has no mailer; alert on fleet_agent_process_health or follow GET /v1/events")),
            "-g" | "--gcore" | "-d" | "--coredir" => h.unmapped.push(format!("{opt} (core dump before restart): not done by fleet")),
            "-e" | "--eager" | "-E" | "--not-eager" => h.unmapped.push(format!("{opt}: fleet checks a process only while it runs")),
            "-n" | "--name" | "-v" | "--verbose" => {}
            o if o.starts_with('-') => return Err(format!("unknown option {o}")),
            _ => h.url = Some(a.to_owned()),
        }
        i += 1;
    }
    Ok(h)
}

fn httpok(cx: &mut Cx, sec: &Sec, args: &[String], blocks: &mut Vec<Block>) {
    let h = match parse_httpok(args) {
        Ok(h) => h,
        Err(e) => {
            cx.warn(
                sec,
                sec.get("command"),
                format!("httpok listener not converted: {e}"),
            );
            return;
        }
    };
    let Some(url) = h.url.clone() else {
        cx.warn(
            sec,
            sec.get("command"),
            "httpok listener without a URL; not converted",
        );
        return;
    };
    for m in &h.unmapped {
        cx.warn(sec, sec.get("command"), m.clone());
    }
    if h.any {
        cx.warn(sec, sec.get("command"), "httpok -a restarts every process when the URL fails; fleet checks one program at a time: add a [program.X.health] to the program that serves the URL");
    }
    let interval = match sec.get("events").map(|e| e.value.to_ascii_uppercase()) {
        Some(e) if e.split(',').any(|t| t.trim() == "TICK_5") => "5s",
        Some(e) if e.split(',').any(|t| t.trim() == "TICK_3600") => "3600s",
        Some(e) if e.split(',').any(|t| t.trim() == "TICK_60") => "60s",
        _ => {
            cx.warn(sec, sec.get("events"), "httpok runs on TICK_5, TICK_60 or TICK_3600 events; none found, the check runs every 60 s");
            "60s"
        }
    };
    let status = match &h.code {
        None => 200,
        Some(c) => match c.trim().parse::<i64>() {
            Ok(n) if (100..=599).contains(&n) => n,
            _ => {
                cx.warn(
                    sec,
                    sec.get("command"),
                    format!("httpok -c {c:?} is not an HTTP status; expecting 200"),
                );
                200
            }
        },
    };
    let timeout = h.timeout.as_deref().unwrap_or("10").trim().to_owned();
    let timeout = match timeout.parse::<u64>() {
        Ok(n) if n > 0 => format!("{n}s"),
        _ => {
            cx.warn(
                sec,
                sec.get("command"),
                format!("httpok -t {timeout:?} is not a number of seconds; using 10"),
            );
            "10s".to_owned()
        }
    };
    for spec in &h.programs {
        // `NAME`, `GROUP:NAME` or `GROUP:*`.
        let (group, name) = match spec.split_once(':') {
            Some((g, n)) => (Some(g), n),
            None => (None, spec.as_str()),
        };
        let wanted = match (group, name) {
            (Some(g), "*") => fleet_name(g),
            (_, n) => fleet_name(n),
        };
        let header = format!("program.{wanted}");
        let Some(at) = blocks.iter().position(|b| b.header == header) else {
            cx.warn(sec, sec.get("command"), format!("httpok -p {spec}: no program {wanted:?} was converted (a process of a numprocs program? name its program); no check added"));
            continue;
        };
        let health = format!("{header}.health");
        if blocks.iter().any(|b| b.header == health) {
            cx.warn(sec, sec.get("command"), format!("{wanted} already has a health check from another listener; this one is left out"));
            continue;
        }
        let numprocs = blocks[at]
            .items
            .iter()
            .find(|i| i.key == "numprocs")
            .map(|i| i.val.clone());
        if numprocs.is_some() {
            cx.warn(sec, sec.get("command"), format!("{wanted} runs several processes: the check goes to each, with the same URL; template it per instance (e.g. :80{{num:02}}) if each serves its own port"));
        }
        let mut b = Block {
            header: health,
            comments: vec![format!(
                "from [{}] (superlance httpok): restarts it when the URL fails, as httpok did",
                sec.name
            )],
            ..Block::default()
        };
        b.set("http", Val::Str(url.clone()));
        b.set("interval", Val::Str(interval.to_owned()));
        b.set("timeout", Val::Str(timeout.clone()));
        b.set("expect_status", Val::Int(status));
        if let Some(body) = &h.body {
            b.set("expect_body", Val::Str(body.clone()));
        }
        // httpok restarts at the first failed check.
        b.set("failures", Val::Int(1));
        b.set("on_unhealthy", Val::Str("restart".into()));
        blocks.insert(at + 1, b);
    }
    if h.programs.is_empty() && !h.any {
        cx.warn(
            sec,
            sec.get("command"),
            "httpok without -p names no process to restart; not converted",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        shell_words::split(s).unwrap()
    }

    #[test]
    fn httpok_options_parse_in_every_form() {
        let h = parse_httpok(&args(
            "-p web -papi --program worker --timeout=5 -c 204 -b'ok' -m ops@x -e http://127.0.0.1:8080/",
        ))
        .unwrap();
        assert_eq!(h.programs, ["web", "api", "worker"]);
        assert_eq!(h.timeout.as_deref(), Some("5"));
        assert_eq!(h.code.as_deref(), Some("204"));
        assert_eq!(h.body.as_deref(), Some("ok"));
        assert_eq!(h.url.as_deref(), Some("http://127.0.0.1:8080/"));
        assert_eq!(h.unmapped.len(), 2);
        assert!(parse_httpok(&args("-x http://a/")).is_err());
        assert!(parse_httpok(&args("-p")).is_err());
    }
}
