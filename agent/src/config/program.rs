//! The `[program.NAME]` section: every option checked, `${VAR}` expanded,
//! user resolved. Per-instance templates (`{num}` ...) are left in place;
//! `mod.rs` expands them once groups are known.

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{getgrouplist, Gid, Uid, User};
use toml::Spanned;

use super::error::{FileId, Loc};
use super::expand::{check_process_name, is_env_name};
use super::health::HealthTemplate;
use super::listener::{capture_mode, Kind};
use super::model::{ProcessSpec, UserSpec};
use super::raw::{Key, Raw};
use super::validate::{key_loc, Ctx, Table};
use super::values;

/// Every key of a `[program.*]` section (also what the property tests
/// draw from).
pub const PROGRAM_KEYS: &[&str] = &[
    "command",
    "numprocs",
    "numprocs_start",
    "process_name",
    "directory",
    "user",
    "umask",
    "environment",
    "environment_file",
    "priority",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "backoff",
    "backoff_max",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "leftovers",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "health",
    "depends_on",
    "stdout_events_enabled",
    "stderr_events_enabled",
    "stdout_capture_maxbytes",
    "stderr_capture_maxbytes",
];

/// Where a stream goes, before templates.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum LogTarget {
    /// `{log_dir}/{process}.{stream}.log`
    Auto,
    None,
    /// Template, relative to the program's file directory.
    Path(String),
}

#[derive(Clone, Debug)]
pub(crate) struct LogTemplate {
    pub target: LogTarget,
    pub maxbytes: u64,
    pub backups: u32,
}

/// A checked program. The options that may hold `{num}`-style templates
/// are kept apart, still unexpanded; every other option is in `options`.
#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub name: String,
    /// Directory of the defining file: base for relative paths.
    pub base_dir: PathBuf,
    pub argv: Vec<String>,
    pub numprocs: u32,
    pub numprocs_start: u32,
    pub process_name: String,
    /// `process_name`'s value if set, else the program's name.
    pub process_name_loc: Loc,
    pub directory: Option<String>,
    /// Sorted by key.
    pub environment: Vec<(String, String)>,
    /// From `environment_file`, in file order, not templated (a file's
    /// text is the file's); `environment` overrides it.
    pub file_environment: Vec<(String, String)>,
    pub stdout: LogTemplate,
    pub stderr: LogTemplate,
    /// `[program.X.health]`, templates unexpanded.
    pub health: Option<HealthTemplate>,
    /// `depends_on` as written (a program, or `group:NAME`), with where;
    /// resolved to processes by `depends.rs` once every program is known.
    pub depends_on: Vec<(String, Loc)>,
    /// What every instance takes as is (user, priority, restart and stop
    /// policy ...); its per-instance fields are left at their defaults
    /// for `instance()` in mod.rs to fill.
    pub options: ProcessSpec,
}

const U32_MAX: i64 = u32::MAX as i64;

/// Checks `[program.NAME]`; `None` if anything in it was wrong (the errors
/// are in the sink).
pub(crate) fn program(
    cx: &mut Ctx,
    name: &str,
    file: FileId,
    key: &Key,
    v: &Spanned<Raw>,
    kind: Kind,
) -> Option<Program> {
    let errors_before = cx.sink.len();
    let label = format!("{}.{name}", kind.section());
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{label}: expected a table, found {}",
            v.get_ref().describe()
        );
        cx.error(&Loc::new(file, v.span()), msg);
        return None;
    };
    let t = Table {
        file,
        label: &label,
        entries,
    };
    match kind {
        Kind::Program => cx.check_keys(&t, &format!("[{label}]"), PROGRAM_KEYS),
        Kind::Listener => {
            let keys: Vec<&str> = PROGRAM_KEYS
                .iter()
                .chain(super::listener::LISTENER_KEYS)
                .copied()
                .collect();
            cx.check_keys(&t, &format!("[{label}]"), &keys);
        }
    }
    capture_mode(cx, &t);
    let listener = match kind {
        Kind::Program => None,
        Kind::Listener => super::listener::listener(cx, &t, &key_loc(file, key)),
    };

    let argv = command(cx, &t, key);
    let numprocs = cx.field(&t, "numprocs", 1, |v| values::int_in(v, 1, U32_MAX)) as u32;
    let numprocs_start =
        cx.field(&t, "numprocs_start", 0, |v| values::int_in(v, 0, U32_MAX)) as u32;
    if numprocs_start.checked_add(numprocs - 1).is_none() {
        let loc = t.loc(t.get("numprocs_start").expect("non-default"));
        cx.error(
            &loc,
            format!("{label}.numprocs_start: numprocs_start + numprocs - 1 must fit in 32 bits"),
        );
    }

    let process_name_loc = match t.get("process_name") {
        Some(v) => t.loc(v),
        None => key_loc(file, key),
    };
    let process_name = cx
        .string(&t, "process_name")
        .unwrap_or_else(|| "{program}".into());
    match check_process_name(&process_name) {
        Err(e) => cx.error(&process_name_loc, format!("{label}.process_name: {e}")),
        Ok(false) if numprocs > 1 => cx.error(
            &process_name_loc,
            format!(
                "{label}.process_name: numprocs = {numprocs} needs {{num}} in process_name so \
                 each instance gets its own name (e.g. process_name = \"{{program}}_{{num:02}}\")"
            ),
        ),
        Ok(_) => {}
    }

    let directory = cx.string(&t, "directory");
    if directory.as_deref() == Some("") {
        let loc = t.loc(t.get("directory").expect("just read"));
        cx.error(
            &loc,
            format!("{label}.directory: expected a path, found \"\""),
        );
    }
    let user = cx.string(&t, "user").and_then(|u| match resolve_user(&u) {
        Ok(spec) => Some(spec),
        Err(e) => {
            let loc = t.loc(t.get("user").expect("just read"));
            cx.error(&loc, format!("{label}.user: {e}"));
            None
        }
    });
    let umask = t.get("umask").and_then(|v| {
        let literal = &cx.sink.file(file).text[v.span()];
        match values::umask(v.get_ref(), literal) {
            Ok(m) => Some(m),
            Err(e) => {
                cx.error(&t.loc(v), format!("{label}.umask: {e}"));
                None
            }
        }
    });
    let environment = environment(cx, &t);
    let file_environment = environment_files(cx, &t);

    let mut o = options(cx, &t, user, umask, kind);
    o.listener = listener;
    let health = super::health::health(cx, &t);
    let depends_on = depends_on(cx, &t);
    let stdout = match kind {
        Kind::Program => log(cx, &t, "stdout"),
        Kind::Listener => LogTemplate {
            target: LogTarget::None,
            maxbytes: 0,
            backups: 0,
        },
    };
    let stderr = log(cx, &t, "stderr");

    if cx.sink.len() != errors_before {
        return None;
    }
    Some(Program {
        name: name.to_string(),
        base_dir: cx.sink.file(file).dir.clone(),
        argv: argv?,
        numprocs,
        numprocs_start,
        process_name,
        process_name_loc,
        directory,
        environment,
        file_environment,
        stdout,
        stderr,
        health,
        depends_on,
        options: o,
    })
}

/// `depends_on = ["redis", "group:NAME"]`: names only; whether they exist
/// and form no cycle is checked once every program is read.
fn depends_on(cx: &mut Ctx, t: &Table) -> Vec<(String, Loc)> {
    let Some(v) = t.get("depends_on") else {
        return Vec::new();
    };
    let label = format!("{}.depends_on", t.label);
    let Raw::Array(items) = v.get_ref() else {
        let msg = format!(
            "{label}: expected an array of program names or \"group:NAME\", found {}",
            v.get_ref().describe()
        );
        cx.error(&t.loc(v), msg);
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(s) = cx.string_value(t.file, &label, item) else {
            continue;
        };
        let name = s.strip_prefix("group:").unwrap_or(&s);
        if !super::validate::is_section_name(name) {
            cx.error(
                &t.loc(item),
                format!("{label}: expected a program name or \"group:NAME\", found {s:?}"),
            );
            continue;
        }
        out.push((s, t.loc(item)));
    }
    out
}

/// `environment_file = "PATH"` or `["PATH", "-PATH"]`: systemd's
/// `EnvironmentFile=` (a leading `-`: the file may be missing), read now,
/// at load and at each reload; later files override earlier ones.
fn environment_files(cx: &mut Ctx, t: &Table) -> Vec<(String, String)> {
    let Some(v) = t.get("environment_file") else {
        return Vec::new();
    };
    let label = format!("{}.environment_file", t.label);
    let items: Vec<&Spanned<Raw>> = match v.get_ref() {
        Raw::String(_) => vec![v],
        Raw::Array(items) => items.iter().collect(),
        other => {
            let msg = format!(
                "{label}: expected a path or an array of paths, found {}",
                other.describe()
            );
            cx.error(&t.loc(v), msg);
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Some(s) = cx.string_value(t.file, &label, item) else {
            continue;
        };
        let (optional, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.as_str()),
        };
        if s.is_empty() {
            cx.error(
                &t.loc(item),
                format!("{label}: expected a path, found \"\""),
            );
            continue;
        }
        let path = cx.sink.file(t.file).dir.join(s);
        match read_env_file(&path) {
            Ok(pairs) => out.extend(pairs),
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => cx.error(&t.loc(item), format!("{label}: {}: {e}", path.display())),
        }
    }
    out
}

/// Read and parse one environment file; a syntax error is `InvalidData`
/// naming the line (never a value).
fn read_env_file(path: &std::path::Path) -> std::io::Result<Vec<(String, String)>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    f.take(super::envfile::MAX_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > super::envfile::MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB",
            super::envfile::MAX_BYTES >> 10
        )));
    }
    super::envfile::parse(&text).map_err(|(line, why)| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line {line}: {why}"),
        )
    })
}

/// The options every instance takes as is: restart and stop policy,
/// priority. Each starts at its default in `ProcessSpec::default()`.
fn options(
    cx: &mut Ctx,
    t: &Table,
    user: Option<UserSpec>,
    umask: Option<u32>,
    kind: Kind,
) -> ProcessSpec {
    let t = *t;
    let mut o = ProcessSpec {
        user,
        umask,
        // supervisord: listeners start first and stop last.
        priority: match kind {
            Kind::Program => ProcessSpec::default().priority,
            Kind::Listener => -1,
        },
        ..ProcessSpec::default()
    };
    o.priority = cx.field(&t, "priority", o.priority.into(), |v| {
        values::int_in(v, i32::MIN.into(), i32::MAX.into())
    }) as i32;
    o.autostart = cx.field(&t, "autostart", o.autostart, values::boolean);
    o.autorestart = cx.field(&t, "autorestart", o.autorestart, values::autorestart);
    o.exitcodes = cx.field(&t, "exitcodes", o.exitcodes, values::exitcodes);
    o.startsecs = cx.field(&t, "startsecs", o.startsecs, values::seconds);
    o.startretries = cx.field(&t, "startretries", o.startretries, values::startretries);
    o.backoff = cx.field(&t, "backoff", o.backoff, values::backoff);
    o.backoff_max = cx.field(&t, "backoff_max", o.backoff_max, values::seconds);
    o.stopsignal = cx.field(&t, "stopsignal", o.stopsignal, values::signal);
    o.stopwaitsecs = cx.field(&t, "stopwaitsecs", o.stopwaitsecs, values::seconds);
    o.stopasgroup = cx.field(&t, "stopasgroup", o.stopasgroup, values::boolean);
    // supervisord: killasgroup defaults to stopasgroup.
    o.killasgroup = cx.field(&t, "killasgroup", o.stopasgroup, values::boolean);
    o.leftovers = cx.field(&t, "leftovers", o.leftovers, values::leftovers);
    o.redirect_stderr = cx.field(&t, "redirect_stderr", o.redirect_stderr, values::boolean);
    o.stdout_events = cx.field(&t, "stdout_events_enabled", false, values::boolean);
    o.stderr_events = cx.field(&t, "stderr_events_enabled", false, values::boolean);
    o
}

/// `command`: a string split like a shell does (after `${VAR}`, so a
/// variable may carry several arguments), or an array used as is.
fn command(cx: &mut Ctx, t: &Table, program_key: &Key) -> Option<Vec<String>> {
    let label = format!("{}.command", t.label);
    let Some(v) = t.get("command") else {
        cx.error(
            &key_loc(t.file, program_key),
            format!("{}: missing required key \"command\"", t.label),
        );
        return None;
    };
    let argv = match v.get_ref() {
        Raw::String(_) => {
            let line = cx.string_value(t.file, &label, v)?;
            match shell_words::split(&line) {
                Ok(argv) => argv,
                Err(e) => {
                    cx.error(
                        &t.loc(v),
                        format!("{label}: cannot split into arguments: {e}"),
                    );
                    return None;
                }
            }
        }
        Raw::Array(items) => {
            let mut argv = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                argv.push(cx.string_value(t.file, &format!("{label}[{i}]"), item));
            }
            argv.into_iter().collect::<Option<Vec<_>>>()?
        }
        other => {
            let msg = format!(
                "{label}: expected a string or an array of strings, found {}",
                other.describe()
            );
            cx.error(&t.loc(v), msg);
            return None;
        }
    };
    match argv.first() {
        Some(a) if !a.is_empty() => Some(argv),
        _ => {
            cx.error(&t.loc(v), format!("{label}: expected a non-empty command"));
            None
        }
    }
}

/// `environment = { KEY = "value" }`, values `${VAR}`-expanded.
fn environment(cx: &mut Ctx, t: &Table) -> Vec<(String, String)> {
    let Some(v) = t.get("environment") else {
        return Vec::new();
    };
    let label = format!("{}.environment", t.label);
    // Values may be secrets: messages say what kind a value is, never
    // what it is (they reach `POST /v1/reload`'s answer and the log).
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{label}: expected a table of strings such as {{ KEY = \"value\" }}, found {}",
            v.get_ref().kind()
        );
        cx.error(&t.loc(v), msg);
        return Vec::new();
    };
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !is_env_name(&key.name) {
            cx.error(
                &key_loc(t.file, key),
                format!(
                    "{label}: invalid variable name {:?} (expected letters, digits and _, \
                     not starting with a digit)",
                    key.name
                ),
            );
            continue;
        }
        let item_label = format!("{label}.{}", key.name);
        if let r @ (Raw::Integer(_) | Raw::Float(_) | Raw::Boolean(_)) = value.get_ref() {
            // The common slip is `PORT = 8000`; say how to fix it.
            cx.error(
                &t.loc(value),
                format!(
                    "{item_label}: expected a string, found {} (quote it: {} = \"...\")",
                    r.kind(),
                    key.name
                ),
            );
            continue;
        }
        if let Some(s) = cx.secret_value(t.file, &item_label, value) {
            out.push((key.name.clone(), s));
        }
    }
    out.sort();
    out
}

/// `{stream}_logfile`, `_maxbytes`, `_backups`.
fn log(cx: &mut Ctx, t: &Table, stream: &str) -> LogTemplate {
    let key = format!("{stream}_logfile");
    let target = match cx.string(t, &key) {
        None => LogTarget::Auto,
        Some(s) if s.eq_ignore_ascii_case("auto") => LogTarget::Auto,
        Some(s) if s.eq_ignore_ascii_case("none") => LogTarget::None,
        Some(s) if s.is_empty() => {
            let loc = t.loc(t.get(&key).expect("just read"));
            cx.error(
                &loc,
                format!(
                    "{}.{key}: expected a path, \"AUTO\" or \"NONE\", found \"\"",
                    t.label
                ),
            );
            LogTarget::Auto
        }
        Some(s) => LogTarget::Path(s),
    };
    let maxbytes = cx.field(t, &format!("{key}_maxbytes"), 50 << 20, values::bytes);
    let backups = cx.field(t, &format!("{key}_backups"), 10, |v| {
        values::int_in(v, 0, U32_MAX)
    });
    LogTemplate {
        target,
        maxbytes,
        backups: backups as u32,
    }
}

/// Looks a user up by name (or numeric uid) in the system's user database.
pub(crate) fn resolve_user(name: &str) -> Result<UserSpec, String> {
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    };
    let user = match found {
        Ok(Some(u)) => u,
        Ok(None) => return Err(format!("unknown user {name:?}")),
        Err(e) => return Err(format!("cannot look up user {name:?}: {e}")),
    };
    let primary = user.gid;
    // Falls back to the primary group: a process can still run without its
    // supplementary groups, and the lookup rarely fails for a known user.
    let mut groups: Vec<u32> = CString::new(user.name.as_str())
        .ok()
        .and_then(|c| getgrouplist(&c, primary).ok())
        .map(|gs| gs.into_iter().map(Gid::as_raw).collect())
        .unwrap_or_default();
    if !groups.contains(&primary.as_raw()) {
        groups.insert(0, primary.as_raw());
    }
    Ok(UserSpec {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: primary.as_raw(),
        groups,
        home: user.dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves() {
        let root = resolve_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert_eq!(root.name, "root");
        assert_eq!(resolve_user("0").unwrap(), root);
    }

    #[test]
    fn unknown_user_is_named() {
        assert_eq!(
            resolve_user("no-such-user-xyz").unwrap_err(),
            "unknown user \"no-such-user-xyz\""
        );
    }

    #[test]
    fn exit_codes() {
        let arr = |v: Vec<Raw>| Raw::Array(v.into_iter().map(|r| Spanned::new(0..0, r)).collect());
        assert_eq!(
            values::exitcodes(&arr(vec![Raw::Integer(0), Raw::Integer(2)])),
            Ok(vec![0, 2])
        );
        assert!(values::exitcodes(&arr(vec![])).is_err());
        assert!(values::exitcodes(&arr(vec![Raw::Integer(256)])).is_err());
        assert!(values::exitcodes(&Raw::Integer(0)).is_err());
    }
}
