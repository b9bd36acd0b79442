//! `[program:x]`: every supervisord program option mapped to fleet's, only
//! values that differ from fleet's defaults written (fleet's program
//! defaults are supervisord's, so a supervisord default never needs
//! spelling out), and a warning for each option fleet has no equivalent for.

use std::collections::{BTreeMap, HashMap};

use super::context::{continued, fleet_name, origin, warn_dropped, Cx};
use super::datatypes::{
    auto_restart, boolean, byte_size, exitcodes, key_value_pairs, octal, py_int, signal_name,
    Restart,
};
use super::expand::{escape_dollars, expand, Expanded, Mode};
use super::output::{Block, Val};
use super::{Ent, Error, Sec};

mod listener;
mod logs;
use crate::config::is_env_name;
use logs::logs;
#[cfg(test)]
use logs::size_val;

const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "startsecs",
    "startretries",
    "autorestart",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
    "environment",
    "directory",
    "umask",
    "serverurl",
];

const DEFAULT_MAXBYTES: u64 = 50 << 20;

/// Per-program state while converting one `[program:x]`.
struct Prog<'a> {
    sec: &'a Sec,
    /// An `[eventlistener:x]`: a program whose stdin/stdout carry the
    /// listener protocol.
    listener: bool,
    name: String,
    group: String,
    numprocs: u32,
    conf_env: BTreeMap<String, String>,
}

impl<'a> Prog<'a> {
    fn names(&self, per_process: bool) -> Option<(&str, &str, Option<u32>)> {
        Some((
            self.name.as_str(),
            self.group.as_str(),
            per_process.then_some(self.numprocs),
        ))
    }
}

impl Cx<'_> {
    /// Expands `ent` in a program section; notes become warnings.
    fn pexpand(
        &mut self,
        p: &Prog,
        ent: &Ent,
        mode: Mode,
        per_process: bool,
    ) -> Result<String, Error> {
        let r: Result<Expanded, String> = {
            let scope = self.scope(ent, p.names(per_process), &p.conf_env);
            expand(&ent.value, &scope, mode)
        };
        let e = r.map_err(|m| self.error(p.sec, Some(ent), m))?;
        for n in e.notes {
            self.warn(p.sec, Some(ent), n);
        }
        Ok(e.text)
    }

    /// A statically expanded value parsed with `parse`.
    fn pvalue<T>(
        &mut self,
        p: &Prog,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Error> {
        let Some(ent) = p.sec.get(key) else {
            return Ok(None);
        };
        let text = self.pexpand(p, ent, Mode::Static, false)?;
        match parse(&text) {
            Ok(v) => Ok(Some(v)),
            Err(m) => Err(self.error(p.sec, Some(ent), continued(ent, m))),
        }
    }
}

/// One `[program:x]`; `None` when supervisord would run no process for it.
/// Each step reads its keys in supervisord's order and writes fleet's.
pub(super) fn program(
    cx: &mut Cx,
    sec: &Sec,
    raw_name: &str,
    group: Option<String>,
) -> Result<Option<Block>, Error> {
    convert(cx, sec, raw_name, group, false)
}

/// One `[eventlistener:x]` as `[eventlistener.x]`: a program's keys (its
/// pool is its own group) plus `events`, `buffer_size`, `result_handler`.
pub(super) fn listener(cx: &mut Cx, sec: &Sec, raw_name: &str) -> Result<Option<Block>, Error> {
    convert(cx, sec, raw_name, None, true)
}

fn convert(
    cx: &mut Cx,
    sec: &Sec,
    raw_name: &str,
    group: Option<String>,
    listener: bool,
) -> Result<Option<Block>, Error> {
    let name = fleet_name(raw_name);
    let kind = if listener { "eventlistener" } else { "program" };
    let mut block = Block {
        header: format!("{kind}.{name}"),
        comments: vec![origin(cx.doc, sec)],
        ..Block::default()
    };
    if name != raw_name {
        cx.warn(sec, None, format!("renamed program {raw_name:?} to {name:?} (fleet names use letters, digits, \"_\", \"-\" and \".\")"));
    }
    let mut p = Prog {
        sec,
        listener,
        group: group.unwrap_or_else(|| name.clone()),
        name,
        numprocs: 1,
        conf_env: BTreeMap::new(),
    };
    let Some(numprocs_start) = counts(cx, &mut p)? else {
        return Ok(None);
    };
    let process_name = process_name(cx, &p)?;
    let env = environment(cx, &mut p)?;
    let command = command(cx, &p)?;
    block.set("command", Val::Str(command));
    if let Some(pn) = process_name.filter(|pn| pn != "{program}") {
        block.set("process_name", Val::Str(pn));
    }
    if p.numprocs != 1 {
        block.set("numprocs", Val::Int(p.numprocs.into()));
    }
    if numprocs_start != 0 {
        block.set("numprocs_start", Val::Int(numprocs_start));
    }
    if listener {
        listener::keys(cx, &p, &mut block)?;
    }
    identity(cx, &p, env, &mut block)?;
    restart_rules(cx, &p, &mut block)?;
    stop_rules(cx, &p, &mut block)?;
    logs(cx, &p, &mut block)?;
    not_converted(cx, &p, &mut block)?;
    Ok(Some(block))
}

/// `numprocs` and `numprocs_start` (read before the loop over processes in
/// supervisord): `None` when there is no process to run.
fn counts(cx: &mut Cx, p: &mut Prog) -> Result<Option<i64>, Error> {
    let sec = p.sec;
    let numprocs = cx.pvalue(p, "numprocs", py_int)?.unwrap_or(1);
    if numprocs < 1 {
        cx.warn(
            sec,
            sec.get("numprocs"),
            "numprocs < 1: supervisord runs no process for this program; not converted",
        );
        return Ok(None);
    }
    p.numprocs = u32::try_from(numprocs)
        .map_err(|_| cx.error(sec, sec.get("numprocs"), "numprocs is too large"))?;
    let numprocs_start = cx.pvalue(p, "numprocs_start", py_int)?.unwrap_or(0);
    if !(0..=i64::from(u32::MAX)).contains(&numprocs_start) {
        return Err(cx.error(
            sec,
            sec.get("numprocs_start"),
            "numprocs_start must be >= 0",
        ));
    }

    Ok(Some(numprocs_start))
}

/// `process_name`: validated before expansion, as supervisord does.
fn process_name(cx: &mut Cx, p: &Prog) -> Result<Option<String>, Error> {
    let sec = p.sec;
    Ok(match sec.get("process_name") {
        Some(ent) => {
            if let Some(c) = ent
                .value
                .trim()
                .chars()
                .find(|c| matches!(c, ' ' | ':' | '/'))
            {
                return Err(cx.error(
                    sec,
                    Some(ent),
                    format!("invalid name {:?} because of character {c:?}", ent.value),
                ));
            }
            if p.numprocs > 1 && !ent.value.contains("%(process_num)") {
                return Err(cx.error(
                    sec,
                    Some(ent),
                    "%(process_num) must be present within process_name when numprocs > 1",
                ));
            }
            let t = cx.pexpand(p, ent, Mode::Template, true)?;
            // A process name holds no `${VAR}` (fleet refuses one, and the
            // characters a value brings): resolved now, from this
            // environment, as supervisord resolved it at its start.
            let t = resolve_env(&t, cx.env).map_err(|m| cx.error(sec, Some(ent), m))?;
            let clean = clean_process_name(&t);
            if clean != t {
                cx.warn(sec, Some(ent), format!("process names become {clean:?} (fleet process names use letters, digits, \"_\", \".\", \"@\" and \"-\")"));
            }
            Some(clean)
        }
        None if p.numprocs > 1 => {
            return Err(cx.error(
                sec,
                sec.get("numprocs"),
                "%(process_num) must be present within process_name when numprocs > 1",
            ));
        }
        None => None,
    })
}

/// `environment`: [supervisord] environment overlaid by the program's; also
/// what later expansions see as `ENV_` names.
fn environment(cx: &mut Cx, p: &mut Prog) -> Result<Vec<(String, String)>, Error> {
    let sec = p.sec;
    let mut env: Vec<(String, String)> = cx.global_env.clone();
    if let Some(ent) = sec.get("environment") {
        // supervisord expands this before adding it to the ENV_ names.
        let saved = std::mem::take(&mut p.conf_env);
        let text = cx.pexpand(p, ent, Mode::Template, true)?;
        p.conf_env = saved;
        let (pairs, dropped) = key_value_pairs(&text).map_err(|m| cx.error(sec, Some(ent), m))?;
        warn_dropped(cx, sec, ent, &dropped);
        for (k, v) in pairs {
            if !is_env_name(&k) {
                cx.warn(sec, Some(ent), format!("variable name {k:?} is not accepted by fleet (letters, digits and _); left out"));
                continue;
            }
            match env.iter_mut().find(|(x, _)| *x == k) {
                Some(slot) => slot.1 = v,
                None => env.push((k, v)),
            }
        }
    }
    p.conf_env = env.iter().cloned().collect();

    Ok(env)
}

/// `command`, which fleet splits at load.
fn command(cx: &mut Cx, p: &Prog) -> Result<String, Error> {
    let sec = p.sec;
    let command = match sec.get("command") {
        Some(ent) => cx.pexpand(p, ent, Mode::Template, true)?,
        None => {
            return Err(cx.error(
                sec,
                None,
                "program section does not specify a command (supervisord refuses this)",
            ))
        }
    };
    if command.trim().is_empty() {
        return Err(cx.error(sec, sec.get("command"), "empty command"));
    }
    // supervisord splits it only when it spawns (and fails then); fleet's
    // loader splits it at load, so refuse it here, at its line (found by
    // agent/tests/prop.rs: an unclosed quote was written out as is).
    if let Err(e) = shell_words::split(&command) {
        return Err(cx.error(
            sec,
            sec.get("command"),
            format!("{command:?} cannot be split into arguments: {e} (supervisord would fail to start it)"),
        ));
    }
    Ok(command)
}

/// Where and as whom it runs: `directory`, `user`, `umask`, `environment`.
fn identity(
    cx: &mut Cx,
    p: &Prog,
    env: Vec<(String, String)>,
    block: &mut Block,
) -> Result<(), Error> {
    let sec = p.sec;
    if let Some(ent) = sec.get("directory") {
        let d = cx.pexpand(p, ent, Mode::Template, true)?;
        if !d.is_empty() {
            let d = absolute(cx, sec, ent, d, "directory");
            block.set("directory", Val::Str(d));
        }
    }
    if let Some(ent) = sec.get("user") {
        let u = cx.pexpand(p, ent, Mode::Static, false)?;
        if u.is_empty() || u.contains(char::is_whitespace) {
            let m = continued(ent, format!("invalid user name {u:?}"));
            return Err(cx.error(sec, Some(ent), m));
        }
        block.set("user", Val::Str(escape_dollars(&u, false)));
    }
    let umask = match cx.pvalue(p, "umask", octal)? {
        Some(m) => Some(m),
        None => cx.global_umask,
    };
    if let Some(m) = umask {
        block.set("umask", Val::Str(format!("{m:03o}")));
    }
    if !env.is_empty() {
        let mut env = env;
        env.sort();
        block.set("environment", Val::Table(env));
    }

    Ok(())
}

/// `startsecs`, `startretries`, `stopwaitsecs`: whole seconds or counts.
fn nonneg(s: &str) -> Result<i64, String> {
    py_int(s).and_then(|n| {
        if n >= 0 {
            Ok(n)
        } else {
            Err(format!("{s:?} must be >= 0"))
        }
    })
}

/// When it starts and restarts: `priority`, `autostart`, `autorestart`,
/// `exitcodes`, `startsecs`, `startretries`.
fn restart_rules(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    // supervisord's (and fleet's) listeners default to -1: first up,
    // last down.
    let default_priority = if p.listener { -1 } else { 999 };
    if let Some(n) = cx.pvalue(p, "priority", py_int)? {
        if n != default_priority {
            block.set("priority", Val::Int(n));
        }
    }
    if let Some(false) = cx.pvalue(p, "autostart", boolean)? {
        block.set("autostart", Val::Bool(false));
    }
    match cx.pvalue(p, "autorestart", auto_restart)? {
        Some(Restart::Always) => block.set("autorestart", Val::Bool(true)),
        Some(Restart::Never) => block.set("autorestart", Val::Bool(false)),
        _ => {}
    }
    if let Some(codes) = cx.pvalue(p, "exitcodes", exitcodes)? {
        if codes != [0] {
            block.set("exitcodes", Val::Ints(codes));
        }
    }
    for (key, default) in [("startsecs", 1), ("startretries", 3)] {
        if let Some(n) = cx.pvalue(p, key, nonneg)? {
            if n != default {
                block.set(key, Val::Int(n));
            }
        }
    }
    Ok(())
}

/// How it stops: `stopsignal`, `stopwaitsecs`, `stopasgroup`, `killasgroup`.
fn stop_rules(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    let sec = p.sec;
    if let Some(sig) = cx.pvalue(p, "stopsignal", signal_name)? {
        if sig != "TERM" {
            block.set("stopsignal", Val::Str(sig));
        }
    }
    if let Some(n) = cx.pvalue(p, "stopwaitsecs", nonneg)? {
        if n != 10 {
            block.set("stopwaitsecs", Val::Int(n));
        }
    }
    let stopasgroup = cx.pvalue(p, "stopasgroup", boolean)?.unwrap_or(false);
    let killasgroup = cx.pvalue(p, "killasgroup", boolean)?.unwrap_or(stopasgroup);
    if stopasgroup && !killasgroup {
        return Err(cx.error(
            sec,
            sec.get("killasgroup"),
            "cannot set stopasgroup=true and killasgroup=false (supervisord refuses this)",
        ));
    }
    if stopasgroup {
        block.set("stopasgroup", Val::Bool(true));
    }
    if killasgroup != stopasgroup {
        block.set("killasgroup", Val::Bool(killasgroup));
    }

    Ok(())
}

/// What fleet has no equivalent for: a warning each, and unknown keys.
fn not_converted(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    let sec = p.sec;
    for stream in ["stdout", "stderr"] {
        let cap = format!("{stream}_capture_maxbytes");
        if let Some(n) = cx.pvalue(p, &cap, byte_size)? {
            if n != 0 {
                cx.warn(sec, sec.get(&cap), "no capture mode in fleet (PROCESS_COMMUNICATION events); the bytes between the capture tokens are written to the log like any output");
            }
        }
        let ev = format!("{stream}_events_enabled");
        if let Some(true) = cx.pvalue(p, &ev, boolean)? {
            match (p.listener, stream) {
                (true, "stdout") => cx.warn(sec, sec.get(&ev), "a listener's stdout is its protocol channel: no PROCESS_LOG_STDOUT events from it (supervisord sends none either); left out"),
                _ => block.set(&ev, Val::Bool(true)),
            }
        }
        let sl = format!("{stream}_syslog");
        if let Some(true) = cx.pvalue(p, &sl, boolean)? {
            cx.warn(sec, sec.get(&sl), "fleet does not send output to syslog; the log file (and journald, if you point the log at /dev/stdout with maxbytes 0) is where it goes");
        }
    }
    if let Some(ent) = sec.get("serverurl") {
        if !ent.value.trim().eq_ignore_ascii_case("auto") {
            cx.warn(sec, Some(ent), "fleet sets SUPERVISOR_SERVER_URL to the agent's own socket (unix://…, where childutils and supervisorctl reach its XML-RPC face); this URL is not used");
        }
    }
    for e in &sec.entries {
        let key = e.key.as_str();
        let listener_key = p.listener && listener::KEYS.contains(&key);
        // The dependent-startup plugin's keys are addons.rs's.
        if !PROGRAM_KEYS.contains(&key) && !listener_key && !key.starts_with("dependent_startup") {
            cx.warn(
                sec,
                Some(e),
                "unknown key, ignored by supervisord; not converted",
            );
        }
    }
    Ok(())
}

/// Makes a relative path absolute against the file that wrote it.
fn absolute(cx: &mut Cx, sec: &Sec, ent: &Ent, path: String, what: &str) -> String {
    if let Some(rest) = path.strip_prefix('~') {
        if rest.is_empty() || rest.starts_with('/') {
            return format!("${{HOME}}{rest}");
        }
        cx.warn(
            sec,
            Some(ent),
            format!("{what} {path:?}: \"~user\" is not expanded by fleet; write the full path"),
        );
        return path;
    }
    if path.starts_with('/') || path.starts_with("${") || path.starts_with('{') {
        return path;
    }
    let abs = format!("{}/{path}", cx.doc.dir(ent.file).display());
    cx.warn(
        sec,
        Some(ent),
        format!(
        "{what} {path:?} is relative: supervisord resolves it against its own working directory, \
         fleet against the config file's; written as {abs:?}, check it"
    ),
    );
    abs
}

/// `t` (fleet template syntax) with each `${VAR}` replaced by its value in
/// `env` and `$$` by `$`; the other templates are kept. Found by
/// agent/tests/prop.rs: `process_name=%(ENV_HOME)s` was written as
/// `{HOME}`, which the loader refuses.
fn resolve_env(t: &str, env: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some((var, r)) = after.strip_prefix('{').and_then(|a| a.split_once('}')) {
            match env.get(var) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "{t:?} uses the environment variable {var}, which is not set here \
                         (a process name is fixed when converted)"
                    ))
                }
            }
            rest = r;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `{process}`-free process name with characters fleet refuses replaced.
fn clean_process_name(t: &str) -> String {
    let mut out = String::new();
    let mut in_field = false;
    for c in t.chars() {
        match c {
            '{' => in_field = true,
            '}' => in_field = false,
            _ => {}
        }
        let ok =
            in_field || c == '}' || c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
        out.push(if ok { c } else { '_' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            clean_process_name("{program}_{num:02}"),
            "{program}_{num:02}"
        );
        assert_eq!(clean_process_name("w+{num}@x"), "w_{num}@x");
        assert_eq!(size_val(50 << 20), Val::Str("50MB".into()));
        assert_eq!(size_val(1 << 30), Val::Str("1GB".into()));
        assert_eq!(size_val(1000), Val::Int(1000));
        assert_eq!(size_val(0), Val::Int(0));
    }

    #[test]
    fn a_process_name_resolves_environment_variables_now() {
        let env = HashMap::from([("HOME".to_owned(), "/home/x".to_owned())]);
        assert_eq!(
            resolve_env("C_${HOME}_{num:02}$$", &env).unwrap(),
            "C_/home/x_{num:02}$"
        );
        let e = resolve_env("${NOPE}", &env).unwrap_err();
        assert!(e.contains("NOPE"), "{e}");
    }
}
