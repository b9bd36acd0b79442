//! The option mapping: supervisord sections and keys to fleet's, with a
//! [`Warning`] for everything fleet has no equivalent for.
//!
//! Values are parsed with supervisord's own rules (`datatypes.py`: booleans
//! `true/yes/on/1`, sizes `50MB` 1024-based, signals by name or number,
//! `exitcodes=0,2`, octal umask, `environment=A="1",B="2"` read with
//! Python's `shlex`), so a value supervisord rejects is an [`Error`] here
//! too. Only values that differ from fleet's defaults are written; fleet's
//! program defaults are supervisord's, so a supervisord default never needs
//! spelling out.

use std::collections::{BTreeMap, HashMap};

use super::expand::{expand, Expanded, Mode, Scope};
use super::{Doc, Ent, Error, Sec, Warning};

/// A TOML value to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    /// An inline table of strings (environment), sorted.
    Table(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: String,
    pub val: Val,
}

/// One TOML table (`[program.x]`, `[group.x]`, `[agent]`) or, with no
/// header, a block of comments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// e.g. `program.celery`; empty for a comment-only block.
    pub header: String,
    /// Comment lines written above the header.
    pub comments: Vec<String>,
    pub items: Vec<Item>,
    /// Comment lines written after the items (e.g. commented-out keys).
    pub trailer: Vec<String>,
}

impl Block {
    fn set(&mut self, key: &str, val: Val) {
        self.items.push(Item {
            key: key.to_string(),
            val,
        });
    }
}

/// The converted config.
#[derive(Clone, Debug, Default)]
pub struct Output {
    pub files: Vec<std::path::PathBuf>,
    pub blocks: Vec<Block>,
    pub warnings: Vec<Warning>,
}

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

/// `[A-Za-z_][A-Za-z0-9_]*`, what fleet accepts as a variable name.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A program or group name as fleet accepts it.
fn fleet_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

// ---- supervisord's datatypes ----

fn py_int(s: &str) -> Result<i64, String> {
    let t = s.trim().replace('_', "");
    t.strip_prefix('+')
        .unwrap_or(&t)
        .parse::<i64>()
        .map(|_| ())
        .and_then(|()| t.parse::<i64>())
        .map_err(|_| format!("{s:?} is not an integer"))
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "{s:?} is not a boolean (true/false, yes/no, on/off, 1/0)"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restart {
    Always,
    Never,
    Unexpected,
}

fn auto_restart(s: &str) -> Result<Restart, String> {
    match s.to_lowercase().as_str() {
        "false" | "no" | "off" | "0" => Ok(Restart::Never),
        "unexpected" => Ok(Restart::Unexpected),
        "true" | "yes" | "on" | "1" => Ok(Restart::Always),
        _ => Err(format!(
            "invalid autorestart value {s:?} (true, false or unexpected)"
        )),
    }
}

fn byte_size(s: &str) -> Result<u64, String> {
    let v = s.to_lowercase();
    let (digits, mult) = [("kb", 1u64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| v.strip_suffix(suf).map(|d| (d, *m)))
        .unwrap_or((v.as_str(), 1));
    let n = py_int(digits).map_err(|_| format!("{s:?} is not a size (e.g. 50MB)"))?;
    u64::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 50MB)"))
}

/// A signal name without `SIG`, from a name or a number.
fn signal_name(s: &str) -> Result<String, String> {
    use nix::sys::signal::Signal;
    use std::str::FromStr;
    let sig = match py_int(s) {
        Ok(n) => i32::try_from(n).ok().and_then(|n| Signal::try_from(n).ok()),
        Err(_) => {
            let upper = s.trim().to_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&name).ok()
        }
    };
    sig.map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .ok_or_else(|| format!("value {s:?} is not a valid signal name"))
}

fn exitcodes(s: &str) -> Result<Vec<i64>, String> {
    s.split(',')
        .map(|c| match py_int(c) {
            Ok(n) if (0..=255).contains(&n) => Ok(n),
            _ => Err(format!(
                "{s:?} is not a list of exit codes (0-255, e.g. 0,2)"
            )),
        })
        .collect()
}

fn octal(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    u32::from_str_radix(t, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal umask (e.g. 022)"))
}

/// Python's non-POSIX `shlex` tokens, as `dict_of_key_value_pairs` reads
/// them: words of letters, digits and `_/.+-():` (plus the `{}$` of fleet
/// templates already substituted in), quoted strings kept with their quotes,
/// any other character a token of its own, `#` a comment to end of line.
pub fn shlex_tokens(s: &str) -> Result<Vec<String>, String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "_/.+-():{}$".contains(c);
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let skip_comment = |i: &mut usize| {
        while *i < chars.len() && chars[*i] != '\n' {
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if is_space(c) {
            i += 1;
        } else if c == '#' {
            skip_comment(&mut i);
        } else if c == '"' || c == '\'' {
            let mut tok = String::from(c);
            i += 1;
            loop {
                let Some(&n) = chars.get(i) else {
                    return Err("no closing quotation".into());
                };
                tok.push(n);
                i += 1;
                if n == c {
                    break;
                }
            }
            tokens.push(tok);
        } else if is_word(c) {
            let mut tok = String::new();
            while let Some(&n) = chars.get(i) {
                if is_word(n) || n == '"' || n == '\'' {
                    tok.push(n);
                    i += 1;
                } else if n == '#' {
                    // Non-POSIX shlex skips the comment but keeps the word going.
                    skip_comment(&mut i);
                } else {
                    break;
                }
            }
            tokens.push(tok);
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    Ok(tokens)
}

/// Variables in order.
pub type Pairs = Vec<(String, String)>;

/// `KEY="val",KEY2=val2` as supervisord's `dict_of_key_value_pairs` reads
/// it. That function skips one token after each pair without checking it
/// is a comma, so `A=hello world` is `A=hello`: the skipped non-commas are
/// returned second, for a warning.
pub fn key_value_pairs(s: &str) -> Result<(Pairs, Vec<String>), String> {
    let tokens = shlex_tokens(s)?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut dropped = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(sep) = tokens.get(i + 3).filter(|t| *t != ",") {
            dropped.push(sep.clone());
        }
        match tokens.get(i..i + 3) {
            Some([k, eq, v]) if eq == "=" => {
                let v = v.trim_matches(['\'', '"']).to_string();
                match out.iter_mut().find(|(x, _)| x == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k.clone(), v)),
                }
            }
            _ => return Err(format!("unexpected end of key/value pairs in value {s:?}")),
        }
        i += 4;
    }
    Ok((out, dropped))
}

fn warn_dropped(cx: &mut Cx, sec: &Sec, ent: &Ent, dropped: &[String]) {
    for d in dropped {
        cx.warn(
            sec,
            Some(ent),
            format!(
            "supervisord silently drops {d:?} here (a value with spaces or commas needs quotes); \
             dropped too: quote the value if it was meant to include it"
        ),
        );
    }
}

/// Bytes as fleet writes them: `"50MB"` when exact, else an integer.
fn size_val(n: u64) -> Val {
    for (suf, m) in [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] {
        if n > 0 && (n / m) * m == n {
            return Val::Str(format!("{}{suf}", n / m));
        }
    }
    Val::Int(n as i64)
}

// ---- the conversion ----

struct Cx<'a> {
    doc: &'a Doc,
    env: &'a HashMap<String, String>,
    host: &'a str,
    warnings: Vec<Warning>,
    /// `[supervisord] environment`, already fleet syntax.
    global_env: Vec<(String, String)>,
    /// `[supervisord] umask`.
    global_umask: Option<u32>,
}

impl Cx<'_> {
    fn warn(&mut self, sec: &Sec, ent: Option<&Ent>, message: impl Into<String>) {
        let (file, line) = match ent {
            Some(e) => (e.file, e.line),
            None => (sec.file, sec.line),
        };
        self.warnings.push(Warning {
            file: self.doc.files[file].clone(),
            line,
            section: sec.name.clone(),
            key: ent.map(|e| e.key.clone()),
            message: message.into(),
        });
    }

    fn error(&self, sec: &Sec, ent: Option<&Ent>, message: impl Into<String>) -> Error {
        let (file, line) = match ent {
            Some(e) => (e.file, e.line),
            None => (sec.file, sec.line),
        };
        let what = match ent {
            Some(e) => format!("[{}] {}", sec.name, e.key),
            None => format!("[{}]", sec.name),
        };
        Error {
            file: self.doc.files[file].clone(),
            line,
            message: format!("{what}: {}", message.into()),
        }
    }

    fn scope<'s>(
        &'s self,
        ent: &Ent,
        program: Option<(&'s str, &'s str, Option<u32>)>,
        conf_env: &'s BTreeMap<String, String>,
    ) -> Scope<'s> {
        Scope {
            here: self.doc.dir(ent.file),
            program: program.map(|p| p.0),
            group: program.map(|p| p.1),
            numprocs: program.and_then(|p| p.2),
            env: self.env,
            conf_env,
            host: self.host,
        }
    }
}

/// Per-program state while converting one `[program:x]`.
struct Prog<'a> {
    sec: &'a Sec,
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

/// Converts the merged document.
pub fn convert(doc: &Doc, env: &HashMap<String, String>, host: &str) -> Result<Output, Error> {
    let mut cx = Cx {
        doc,
        env,
        host,
        warnings: doc.warnings.clone(),
        global_env: Vec::new(),
        global_umask: None,
    };
    let mut out = Output {
        files: doc.files.clone(),
        ..Output::default()
    };
    let mut agent = Block {
        header: "agent".into(),
        ..Block::default()
    };
    let mut skipped = Block::default();

    // Settings that apply to every program come first.
    if let Some(sec) = doc.sections.iter().find(|s| s.name == "supervisord") {
        supervisord(&mut cx, sec, &mut agent)?;
    }

    // Group membership, as supervisord resolves it.
    let programs: Vec<&Sec> = doc
        .sections
        .iter()
        .filter(|s| s.name.starts_with("program:"))
        .collect();
    let fcgi: Vec<&Sec> = doc
        .sections
        .iter()
        .filter(|s| s.name.starts_with("fcgi-program:"))
        .collect();
    let raw_name = |s: &Sec| {
        s.name
            .split_once(':')
            .map_or("", |(_, n)| n)
            .trim()
            .to_string()
    };
    let mut group_of: HashMap<String, String> = HashMap::new();
    let mut groups: Vec<Block> = Vec::new();
    for sec in doc.sections.iter().filter(|s| s.name.starts_with("group:")) {
        let gname = raw_name(sec);
        check_name(&cx, sec, &gname)?;
        let fname = fleet_name(&gname);
        if fname != gname {
            cx.warn(sec, None, format!("renamed group {gname:?} to {fname:?} (fleet names use letters, digits, \"_\", \"-\" and \".\")"));
        }
        let mut block = Block {
            header: format!("group.{fname}"),
            comments: vec![origin(doc, sec)],
            ..Block::default()
        };
        let conf_env = BTreeMap::new();
        let Some(list) = sec.get("programs") else {
            return Err(cx.error(
                sec,
                None,
                "no \"programs\" setting (supervisord refuses this)",
            ));
        };
        let text = expand(&list.value, &cx.scope(list, None, &conf_env), Mode::Static)
            .map_err(|m| cx.error(sec, Some(list), m))?
            .text;
        let mut members = Vec::new();
        for p in text.split(',').map(str::trim) {
            if programs.iter().any(|s| raw_name(s) == p) {
                if let Some(other) = group_of.get(p) {
                    cx.warn(sec, Some(list), format!(
                        "program {p:?} is also in group {other:?}: supervisord runs it in both groups, \
                         fleet allows one group per program; left out of this one (copy the \
                         [program:{p}] section under another name to run it twice)"
                    ));
                    continue;
                }
                group_of.insert(p.to_string(), fname.clone());
                members.push(fleet_name(p));
            } else if fcgi.iter().any(|s| raw_name(s) == p) {
                cx.warn(
                    sec,
                    Some(list),
                    format!(
                    "{p:?} is an [fcgi-program], which is not converted (see its warning); left out"
                ),
                );
            } else {
                return Err(cx.error(
                    sec,
                    Some(list),
                    format!("names unknown program {p:?} (supervisord refuses this)"),
                ));
            }
        }
        if let Some(pr) = sec.get("priority") {
            let v = expand(&pr.value, &cx.scope(pr, None, &conf_env), Mode::Static)
                .map_err(|m| cx.error(sec, Some(pr), m))?
                .text;
            let n = py_int(&v).map_err(|m| cx.error(sec, Some(pr), m))?;
            if n != 999 {
                block.set("priority", Val::Int(n));
                cx.warn(sec, Some(pr), "fleet accepts a group priority but orders starts and stops by each program's priority; set priority on the member programs to keep this order");
            }
        }
        for e in &sec.entries {
            if e.key != "programs" && e.key != "priority" {
                cx.warn(
                    sec,
                    Some(e),
                    "unknown key, ignored by supervisord; not converted",
                );
            }
        }
        if members.is_empty() {
            cx.warn(sec, None, "no program left in this group; not converted");
            continue;
        }
        block.set("programs", Val::Strs(members));
        groups.push(block);
    }

    let mut blocks = Vec::new();
    for sec in &programs {
        let name = raw_name(sec);
        check_name(&cx, sec, &name)?;
        let group = group_of.get(&name).cloned();
        if let Some(b) = program(&mut cx, sec, &name, group)? {
            blocks.push(b);
        }
    }

    for sec in &doc.sections {
        other_section(&mut cx, sec, &mut agent, &mut skipped);
    }

    if !agent.items.is_empty() || !agent.trailer.is_empty() {
        out.blocks.push(agent);
    }
    out.blocks.extend(blocks);
    out.blocks.extend(groups);
    if !skipped.trailer.is_empty() {
        out.blocks.push(skipped);
    }
    out.warnings = cx.warnings;
    Ok(out)
}

/// Adds a hint when a bad value spans lines (supervisord's parser joins an
/// indented line to the value above it, a classic trap).
fn continued(ent: &Ent, message: String) -> String {
    if ent.value.contains('\n') {
        format!("{message} (the value spans several lines: an indented line continues the one above it)")
    } else {
        message
    }
}

fn origin(doc: &Doc, sec: &Sec) -> String {
    format!(
        "from [{}] in {}:{}",
        sec.name,
        doc.files[sec.file].display(),
        sec.line
    )
}

/// supervisord's `process_or_group_name`.
fn check_name(cx: &Cx, sec: &Sec, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(cx.error(sec, None, "empty name"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, ' ' | ':' | '/')) {
        return Err(cx.error(
            sec,
            None,
            format!("invalid name {name:?} because of character {c:?} (supervisord refuses this)"),
        ));
    }
    Ok(())
}

/// `[supervisord]`: what applies to programs or to the agent.
fn supervisord(cx: &mut Cx, sec: &Sec, agent: &mut Block) -> Result<(), Error> {
    let none = BTreeMap::new();
    for ent in &sec.entries {
        let value = |cx: &Cx, mode| {
            expand(&ent.value, &cx.scope(ent, None, &none), mode)
                .map(|e| e.text)
                .map_err(|m| cx.error(sec, Some(ent), m))
        };
        match ent.key.as_str() {
            "environment" => {
                let text = value(cx, Mode::Template)?;
                let (pairs, dropped) = key_value_pairs(&text).map_err(|m| cx.error(sec, Some(ent), m))?;
        warn_dropped(cx, sec, ent, &dropped);
                for (k, v) in pairs {
                    if is_env_name(&k) {
                        cx.global_env.push((k, v));
                    } else {
                        cx.warn(sec, Some(ent), format!("variable name {k:?} is not accepted by fleet (letters, digits and _); left out"));
                    }
                }
            }
            "umask" => {
                let m = octal(&value(cx, Mode::Static)?).map_err(|m| cx.error(sec, Some(ent), m))?;
                cx.global_umask = Some(m);
            }
            "childlogdir" => {
                let v = value(cx, Mode::Static)?;
                let dir = cx.doc.dir(ent.file).join(v);
                agent.set("log_dir", Val::Str(dir.display().to_string()));
                cx.warn(sec, Some(ent), "mapped to [agent] log_dir; fleet names AUTO logs {process}.stdout.log / {process}.stderr.log there and keeps them across restarts (supervisord deletes them)");
            }
            "identifier" => cx.warn(sec, Some(ent), "fleet identifies an agent by [agent] name (default: the host name); set that instead"),
            "logfile" | "logfile_maxbytes" | "logfile_backups" | "loglevel" => cx.warn(sec, Some(ent), "fleet-agent logs to stderr (the journal under systemd); choose the level with FLEET_LOG=info|debug"),
            "pidfile" => cx.warn(sec, Some(ent), "not needed: fleet-agent runs in the foreground and systemd tracks its pid"),
            "nodaemon" | "silent" => cx.warn(sec, Some(ent), "not needed: fleet-agent always runs in the foreground, logging to stderr"),
            "minfds" => cx.warn(sec, Some(ent), "set LimitNOFILE= in the fleet-agent systemd unit (programs inherit it)"),
            "minprocs" => cx.warn(sec, Some(ent), "set LimitNPROC= in the fleet-agent systemd unit (programs inherit it)"),
            "nocleanup" => cx.warn(sec, Some(ent), "not needed: fleet never deletes log files at start"),
            "user" => cx.warn(sec, Some(ent), "run fleet-agent as this user instead (User= in its systemd unit); programs without user= then run as it"),
            "directory" => cx.warn(sec, Some(ent), "set WorkingDirectory= in the fleet-agent systemd unit, or directory on each program"),
            "strip_ansi" => cx.warn(sec, Some(ent), "no equivalent: fleet writes program output byte for byte"),
            _ => cx.warn(sec, Some(ent), "unknown key, ignored by supervisord; not converted"),
        }
    }
    Ok(())
}

/// Logs as fleet understands them.
#[derive(Clone, Debug, PartialEq)]
enum Log {
    Auto,
    None,
    Path(String),
}

fn program(
    cx: &mut Cx,
    sec: &Sec,
    raw_name: &str,
    group: Option<String>,
) -> Result<Option<Block>, Error> {
    let name = fleet_name(raw_name);
    let mut block = Block {
        header: format!("program.{name}"),
        comments: vec![origin(cx.doc, sec)],
        ..Block::default()
    };
    if name != raw_name {
        cx.warn(sec, None, format!("renamed program {raw_name:?} to {name:?} (fleet names use letters, digits, \"_\", \"-\" and \".\")"));
    }
    let mut p = Prog {
        sec,
        group: group.unwrap_or_else(|| name.clone()),
        name,
        numprocs: 1,
        conf_env: BTreeMap::new(),
    };

    // Numbers and switches (read before the loop over processes in supervisord).
    let numprocs = cx.pvalue(&p, "numprocs", py_int)?.unwrap_or(1);
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
    let numprocs_start = cx.pvalue(&p, "numprocs_start", py_int)?.unwrap_or(0);
    if !(0..=i64::from(u32::MAX)).contains(&numprocs_start) {
        return Err(cx.error(
            sec,
            sec.get("numprocs_start"),
            "numprocs_start must be >= 0",
        ));
    }

    // process_name: validated before expansion, as supervisord does.
    let process_name = match sec.get("process_name") {
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
            let t = cx.pexpand(&p, ent, Mode::Template, true)?;
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
    };

    // environment: [supervisord] environment overlaid by the program's.
    let mut env: Vec<(String, String)> = cx.global_env.clone();
    if let Some(ent) = sec.get("environment") {
        // supervisord expands this before adding it to the ENV_ names.
        let saved = std::mem::take(&mut p.conf_env);
        let text = cx.pexpand(&p, ent, Mode::Template, true)?;
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

    let command = match sec.get("command") {
        Some(ent) => cx.pexpand(&p, ent, Mode::Template, true)?,
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

    if let Some(ent) = sec.get("directory") {
        let d = cx.pexpand(&p, ent, Mode::Template, true)?;
        if !d.is_empty() {
            let d = absolute(cx, sec, ent, d, "directory");
            block.set("directory", Val::Str(d));
        }
    }
    if let Some(ent) = sec.get("user") {
        let u = cx.pexpand(&p, ent, Mode::Static, false)?;
        if u.is_empty() || u.contains(char::is_whitespace) {
            let m = continued(ent, format!("invalid user name {u:?}"));
            return Err(cx.error(sec, Some(ent), m));
        }
        block.set("user", Val::Str(super::expand::escape_dollars(&u, false)));
    }
    let umask = match cx.pvalue(&p, "umask", octal)? {
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

    if let Some(n) = cx.pvalue(&p, "priority", py_int)? {
        if n != 999 {
            block.set("priority", Val::Int(n));
        }
    }
    if let Some(false) = cx.pvalue(&p, "autostart", boolean)? {
        block.set("autostart", Val::Bool(false));
    }
    match cx.pvalue(&p, "autorestart", auto_restart)? {
        Some(Restart::Always) => block.set("autorestart", Val::Bool(true)),
        Some(Restart::Never) => block.set("autorestart", Val::Bool(false)),
        _ => {}
    }
    if let Some(codes) = cx.pvalue(&p, "exitcodes", exitcodes)? {
        if codes != [0] {
            block.set("exitcodes", Val::Ints(codes));
        }
    }
    let nonneg = |s: &str| {
        py_int(s).and_then(|n| {
            if n >= 0 {
                Ok(n)
            } else {
                Err(format!("{s:?} must be >= 0"))
            }
        })
    };
    for (key, default) in [("startsecs", 1), ("startretries", 3)] {
        if let Some(n) = cx.pvalue(&p, key, nonneg)? {
            if n != default {
                block.set(key, Val::Int(n));
            }
        }
    }
    if let Some(sig) = cx.pvalue(&p, "stopsignal", signal_name)? {
        if sig != "TERM" {
            block.set("stopsignal", Val::Str(sig));
        }
    }
    if let Some(n) = cx.pvalue(&p, "stopwaitsecs", nonneg)? {
        if n != 10 {
            block.set("stopwaitsecs", Val::Int(n));
        }
    }
    let stopasgroup = cx.pvalue(&p, "stopasgroup", boolean)?.unwrap_or(false);
    let killasgroup = cx
        .pvalue(&p, "killasgroup", boolean)?
        .unwrap_or(stopasgroup);
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

    logs(cx, &p, &mut block)?;

    // What fleet has no equivalent for.
    for stream in ["stdout", "stderr"] {
        let cap = format!("{stream}_capture_maxbytes");
        if let Some(n) = cx.pvalue(&p, &cap, byte_size)? {
            if n != 0 {
                cx.warn(sec, sec.get(&cap), "no capture mode in fleet (PROCESS_COMMUNICATION events); the bytes between the capture tokens are written to the log like any output");
            }
        }
        let ev = format!("{stream}_events_enabled");
        if let Some(true) = cx.pvalue(&p, &ev, boolean)? {
            cx.warn(sec, sec.get(&ev), "no PROCESS_LOG events in fleet; follow the output with GET /v1/processes/NAME/log?follow=true or `fleetctl tail -f`");
        }
        let sl = format!("{stream}_syslog");
        if let Some(true) = cx.pvalue(&p, &sl, boolean)? {
            cx.warn(sec, sec.get(&sl), "fleet does not send output to syslog; the log file (and journald, if you point the log at /dev/stdout with maxbytes 0) is where it goes");
        }
    }
    if let Some(ent) = sec.get("serverurl") {
        if !ent.value.trim().eq_ignore_ascii_case("auto") {
            cx.warn(sec, Some(ent), "fleet does not set SUPERVISOR_SERVER_URL; programs that call back should use the agent socket (/run/fleet/agent.sock) or FLEET_* variables");
        }
    }
    for e in &sec.entries {
        if !PROGRAM_KEYS.contains(&e.key.as_str()) {
            cx.warn(
                sec,
                Some(e),
                "unknown key, ignored by supervisord; not converted",
            );
        }
    }
    Ok(Some(block))
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

/// stdout/stderr log options, including the same-file quirk.
fn logs(cx: &mut Cx, p: &Prog, block: &mut Block) -> Result<(), Error> {
    let sec = p.sec;
    let mut redirect = cx.pvalue(p, "redirect_stderr", boolean)?.unwrap_or(false);
    let target = |cx: &mut Cx, stream: &str| -> Result<Log, Error> {
        let key = format!("{stream}_logfile");
        let Some(ent) = sec.get(&key) else {
            return Ok(Log::Auto);
        };
        let t = cx.pexpand(p, ent, Mode::Template, true)?;
        Ok(match t.to_lowercase().as_str() {
            "auto" => Log::Auto,
            "none" => Log::None,
            "syslog" => {
                cx.warn(sec, Some(ent), "fleet does not send output to syslog (deprecated in supervisord too); written as NONE: output is kept only in the agent's in-memory tail");
                Log::None
            }
            "" => return Err(cx.error(sec, Some(ent), "empty log file name")),
            _ => Log::Path(absolute(cx, sec, ent, t, &key)),
        })
    };
    let out = target(cx, "stdout")?;
    let err = target(cx, "stderr")?;
    let mut same_file = false;
    if let (false, Log::Path(a), Log::Path(b)) = (redirect, &out, &err) {
        if a == b {
            same_file = true;
            redirect = true;
        }
    }
    if same_file {
        block.trailer.push(
            "stderr_logfile was the same file as stdout_logfile: supervisord appends both streams to it \
             through two writers; fleet writes the same bytes through one (redirect_stderr), so \
             rotation cannot race"
                .into(),
        );
    } else if redirect {
        if let (Log::Path(_), Some(ent)) = (&err, sec.get("stderr_logfile")) {
            cx.warn(
                sec,
                Some(ent),
                "redirect_stderr=true: this file is ignored (supervisord ignores it too); left out",
            );
        }
    }
    if redirect {
        block.set("redirect_stderr", Val::Bool(true));
    }
    if p.numprocs > 1 {
        if let Log::Path(path) = &out {
            if !path.contains("{num") && !path.contains("{process}") {
                cx.warn(sec, sec.get("stdout_logfile"), format!(
                    "all {} processes append to one file {path:?} (as under supervisord), and each rotates it; \
                     consider {{num:02}} in the name",
                    p.numprocs
                ));
            }
        }
    }
    for (stream, log) in [("stdout", out), ("stderr", err)] {
        if stream == "stderr" && redirect {
            for k in ["stderr_logfile_maxbytes", "stderr_logfile_backups"] {
                if sec.get(k).is_some() {
                    block
                        .trailer
                        .push(format!("{k}: left out, stderr goes to the stdout log"));
                }
            }
            continue;
        }
        match log {
            Log::Auto => {}
            Log::None => block.set(&format!("{stream}_logfile"), Val::Str("NONE".into())),
            Log::Path(path) => block.set(&format!("{stream}_logfile"), Val::Str(path)),
        }
        let mb = format!("{stream}_logfile_maxbytes");
        if let Some(n) = cx.pvalue(p, &mb, byte_size)? {
            if n != DEFAULT_MAXBYTES {
                block.set(&mb, size_val(n));
            }
        }
        let bk = format!("{stream}_logfile_backups");
        if let Some(n) = cx.pvalue(p, &bk, |s| {
            py_int(s).and_then(|n| {
                if n >= 0 {
                    Ok(n)
                } else {
                    Err(format!("{s:?} must be >= 0"))
                }
            })
        })? {
            if n != 10 {
                block.set(&bk, Val::Int(n));
            }
        }
    }
    Ok(())
}

/// Sections other than `[program:x]`, `[group:x]` and `[supervisord]`.
fn other_section(cx: &mut Cx, sec: &Sec, agent: &mut Block, skipped: &mut Block) {
    let kind = sec
        .name
        .split_once(':')
        .map_or(sec.name.as_str(), |(k, _)| k);
    let each = |cx: &mut Cx, msg: &dyn Fn(&str) -> Option<String>| {
        for e in &sec.entries {
            let m = msg(&e.key)
                .unwrap_or_else(|| "unknown key, ignored by supervisord; not converted".into());
            cx.warn(sec, Some(e), m);
        }
    };
    match kind {
        "program" | "group" | "supervisord" | "include" if sec.name != "program" && sec.name != "group" => {}
        "unix_http_server" => each(cx, &|k| match k {
            "file" => Some("fleet's control socket is [agent] socket (default /run/fleet/agent.sock); left at its default so supervisord and fleet can run side by side while you migrate".into()),
            "chmod" | "chown" => Some("fleet's socket is always mode 0600, owned by the agent's user; access is by file permission, like root-only supervisorctl".into()),
            "username" | "password" => Some("not needed: the unix socket is guarded by its file permissions (no password)".into()),
            _ => None,
        }),
        "inet_http_server" => {
            if let Some(port) = sec.get("port") {
                let listen = listen_addr(&port.value);
                agent.trailer.push(format!("supervisord listened on port={} ({}:{}).", port.value, cx.doc.files[port.file].display(), port.line));
                agent.trailer.push("fleet requires a bearer token on TCP; generate one and uncomment:".into());
                agent.trailer.push("  head -c 32 /dev/urandom | base64 > /etc/fleet/agent.token; chmod 600 /etc/fleet/agent.token".into());
                agent.trailer.push(format!("listen = {}", super::emit::toml_str(&listen)));
                agent.trailer.push("token_file = \"/etc/fleet/agent.token\"".into());
            }
            each(cx, &|k| match k {
                "port" => Some("written as a commented-out [agent] listen: fleet serves TCP only with a bearer token; generate a token: `[agent] token_file`, then uncomment listen".into()),
                "username" | "password" => Some("fleet has no passwords (and never copies a plaintext one): generate a token: `[agent] token_file` (clients send it as a bearer token, FLEET_TOKEN for fleetctl)".into()),
                _ => None,
            });
        }
        "supervisorctl" => each(cx, &|k| match k {
            "serverurl" => Some("use fleetctl --agent unix:///run/fleet/agent.sock (or --console URL); FLEET_CONSOLE sets the default".into()),
            "username" | "password" => Some("fleetctl sends a bearer token: --token or FLEET_TOKEN".into()),
            "prompt" | "history_file" => Some("fleetctl has no interactive shell; not needed".into()),
            _ => None,
        }),
        "rpcinterface" | "ctlplugin" => {
            let standard = sec.entries.iter().all(|e| {
                e.value.trim() == "supervisor.rpcinterface:make_main_rpcinterface"
                    && e.key == "supervisor.rpcinterface_factory"
            });
            let msg = if standard && kind == "rpcinterface" {
                "not needed: fleet's HTTP JSON API is built in (nothing to configure)".to_string()
            } else {
                format!("[{kind}:*] plugins (XML-RPC interfaces, supervisorctl plugins) are not supported; port the plugin to fleet's HTTP API")
            };
            cx.warn(sec, None, msg);
        }
        "eventlistener" => {
            cx.warn(sec, None, "not converted: fleet has no event listener protocol; subscribe to state changes with GET /v1/events (server-sent events) or `fleetctl events` and run the listener as an ordinary program that reads them");
            skipped.trailer.push(format!("[{}] ({}:{}) not converted: event listener", sec.name, cx.doc.files[sec.file].display(), sec.line));
        }
        "fcgi-program" => {
            cx.warn(sec, None, "not converted: fleet does not create FastCGI sockets; run the app as a [program] that binds its own socket (e.g. gunicorn --bind unix:...)");
            skipped.trailer.push(format!("[{}] ({}:{}) not converted: fcgi-program", sec.name, cx.doc.files[sec.file].display(), sec.line));
        }
        "DEFAULT" => cx.warn(sec, None, "supervisord's parser lets every section inherit [DEFAULT] values; import does not: copy these keys into the sections that need them"),
        _ => cx.warn(sec, None, "supervisord ignores this section (section names are case-sensitive and untrimmed); not converted"),
    }
}

/// supervisord's `inet_address` (`host:port`, `*:port`, `:port`, `port`) as IP:PORT.
fn listen_addr(v: &str) -> String {
    let v = v.trim();
    let (host, port) = v.rsplit_once(':').unwrap_or(("", v));
    let host = match host {
        "" | "*" => "0.0.0.0",
        "localhost" => "127.0.0.1",
        h => h,
    };
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatypes() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("OFF"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(auto_restart("unexpected"), Ok(Restart::Unexpected));
        assert_eq!(auto_restart("TRUE"), Ok(Restart::Always));
        assert_eq!(byte_size("50MB"), Ok(50 << 20));
        assert_eq!(byte_size("1kb"), Ok(1024));
        assert_eq!(byte_size("0"), Ok(0));
        assert!(byte_size("1.5MB").is_err());
        assert_eq!(signal_name("TERM").unwrap(), "TERM");
        assert_eq!(signal_name("sigquit").unwrap(), "QUIT");
        assert_eq!(signal_name("9").unwrap(), "KILL");
        assert_eq!(signal_name("15").unwrap(), "TERM");
        assert!(signal_name("NOPE").is_err());
        assert_eq!(exitcodes("0,2"), Ok(vec![0, 2]));
        assert_eq!(exitcodes(" 0 , 3 "), Ok(vec![0, 3]));
        assert!(exitcodes("0,256").is_err());
        assert_eq!(octal("022"), Ok(0o22));
        assert_eq!(octal("002"), Ok(2));
        assert!(octal("8").is_err());
        assert_eq!(py_int(" +5 "), Ok(5));
        assert_eq!(py_int("1_000"), Ok(1000));
        assert!(py_int("5s").is_err());
    }

    #[test]
    fn environment_syntax() {
        let kv = |s: &str| {
            let (pairs, dropped) = key_value_pairs(s).unwrap();
            assert!(dropped.is_empty(), "{dropped:?}");
            pairs
        };
        assert_eq!(
            kv("A=\"1\",B=\"2\""),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(
            kv("PATH=\"/opt/venv/bin:/usr/bin\", C_FORCE_ROOT=true ,\n  URL='redis://h:6379/0'"),
            [
                ("PATH".into(), "/opt/venv/bin:/usr/bin".into()),
                ("C_FORCE_ROOT".into(), "true".into()),
                ("URL".into(), "redis://h:6379/0".into()),
            ]
        );
        // Commas and spaces need quotes; the last duplicate wins.
        assert_eq!(kv("A=\"x, y\",A=z"), [("A".into(), "z".into())]);
        assert_eq!(
            kv("W={num:02},H=${HOME}/x"),
            [
                ("W".into(), "{num:02}".into()),
                ("H".into(), "${HOME}/x".into())
            ]
        );
        assert_eq!(kv(""), []);
        // supervisord's quirk: the token after a pair is skipped unchecked.
        let (pairs, dropped) = key_value_pairs("A=hello world").unwrap();
        assert_eq!(pairs, [("A".into(), "hello".into())]);
        assert_eq!(dropped, ["world"]);
        assert!(key_value_pairs("A=x@y").is_err());
        assert!(key_value_pairs("A=\"open").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr("*:9001"), "0.0.0.0:9001");
        assert_eq!(listen_addr(":9001"), "0.0.0.0:9001");
        assert_eq!(listen_addr("9001"), "0.0.0.0:9001");
        assert_eq!(listen_addr("127.0.0.1:9001"), "127.0.0.1:9001");
        assert_eq!(listen_addr("localhost:9001"), "127.0.0.1:9001");
    }

    #[test]
    fn names() {
        assert_eq!(fleet_name("celery-beat.v2"), "celery-beat.v2");
        assert_eq!(fleet_name("a+b@c"), "a_b_c");
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
}
