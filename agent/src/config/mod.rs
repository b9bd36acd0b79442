//! Configuration: TOML in, a validated [`Config`] out.
//!
//! Stages: `raw` parses each file into a span-preserving tree; includes are
//! followed (globs, cycle detection); one file per section checks it
//! (`agent`, `program`, `group`, with the shared helpers in `validate` and
//! the value types in `values`), expanding `${VAR}` and resolving users;
//! then each program is expanded into its process instances (`expand`
//! templates) and the cross-file checks run (groups, duplicate process
//! names). Every problem is collected with its `file:line:col`; see
//! [`ConfigErrors`].

mod agent;
mod depends;
mod envfile;
mod error;
mod expand;
mod group;
mod health;
mod listener;
mod model;
mod program;
pub use agent::AGENT_KEYS;
pub use depends::ranks;
pub use health::HEALTH_KEYS;
pub use listener::{DEFAULT_HANDLER, LISTENER_KEYS};
pub use program::PROGRAM_KEYS;
mod raw;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// The one rule for a variable name, shared with `import`.
pub(crate) use expand::is_env_name;

use error::{FileId, Loc, Sink, SourceFile};
use expand::{expand_template, is_process_name, Instance};
use group::Group;
use program::{LogTarget, LogTemplate, Program};
use raw::{Key, Raw};
use validate::{is_section_name, key_loc, Ctx, Table};

/// Environment used for `${VAR}` expansion and `{host}`; tests pass their own.
#[derive(Clone, Debug, Default)]
pub struct LoadEnv {
    pub vars: HashMap<String, String>,
    pub hostname: String,
}

impl LoadEnv {
    /// The agent's own environment and the system host name.
    pub fn from_process() -> Self {
        // `vars_os`: `std::env::vars` panics on a non-UTF-8 variable, and
        // one odd variable must not stop the agent from loading its config.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        LoadEnv {
            vars,
            hostname: system_hostname(),
        }
    }
}

/// The kernel's host name. Read from /proc because nix's `gethostname`
/// needs a feature the workspace does not enable and `unsafe` is forbidden.
fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Config {
    /// Loads `path` with the agent's own environment.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(path, &LoadEnv::from_process())
    }

    /// Loads `path` (and its includes), reporting every problem found.
    pub fn load_with(path: &Path, env: &LoadEnv) -> Result<Config, ConfigErrors> {
        let mut loader = Loader::default();
        loader.load_file(path, None);
        let Loader { mut sink, docs, .. } = loader;
        if docs.is_empty() {
            return Err(sink.into_errors());
        }
        let mut cx = Ctx {
            sink: &mut sink,
            env,
        };
        let config = build(&mut cx, path, &docs);
        if sink.is_empty() {
            Ok(config)
        } else {
            Err(sink.into_errors())
        }
    }
}

/// One parsed file.
struct Doc {
    file: FileId,
    entries: Vec<(Key, Spanned<Raw>)>,
}

/// Reads the main file and, depth first, everything it includes.
#[derive(Default)]
struct Loader {
    sink: Sink,
    docs: Vec<Doc>,
    /// Canonical paths already loaded: a file included twice is read once.
    seen: HashSet<PathBuf>,
    /// The include chain being followed, for cycle detection.
    stack: Vec<(PathBuf, FileId)>,
}

impl Loader {
    /// `from`: the include entry that matched `path` (`None` for the main file).
    fn load_file(&mut self, path: &Path, from: Option<&Loc>) {
        let order = self.sink.files.len();
        let read = std::fs::canonicalize(path)
            .and_then(|canonical| Ok((std::fs::read_to_string(path)?, canonical)));
        let (text, canonical) = match read {
            Ok(x) => x,
            Err(e) => {
                let msg = format!("cannot read config file: {e}");
                self.sink.file_error(order, path, msg);
                return;
            }
        };
        if let Some(pos) = self.stack.iter().position(|(p, _)| *p == canonical) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, id)| self.sink.file(*id).path.display().to_string())
                .chain([path.display().to_string()])
                .collect();
            let loc = from.expect("the main file is never on the stack yet");
            self.sink
                .error(loc, format!("include cycle: {}", chain.join(" -> ")));
            return;
        }
        if !self.seen.insert(canonical.clone()) {
            return;
        }
        let file = self.sink.add_file(SourceFile::new(path, text));
        let entries = match raw::parse(&self.sink.file(file).text) {
            Ok(entries) => entries,
            Err((msg, span)) => {
                let loc = Loc { file, span };
                self.sink.error(&loc, format!("invalid TOML: {msg}"));
                return;
            }
        };
        let includes = self.include_patterns(file, &entries);
        self.docs.push(Doc { file, entries });
        self.stack.push((canonical, file));
        for (pattern, loc) in includes {
            for matched in self.expand_glob(file, &pattern, &loc) {
                self.load_file(&matched, Some(&loc));
            }
        }
        self.stack.pop();
    }

    /// The `include` entries of a file, with their locations.
    fn include_patterns(
        &mut self,
        file: FileId,
        entries: &[(Key, Spanned<Raw>)],
    ) -> Vec<(String, Loc)> {
        let Some((_, v)) = entries.iter().find(|(k, _)| k.name == "include") else {
            return Vec::new();
        };
        let expected = "expected an array of file names or glob patterns";
        let items: Vec<&Spanned<Raw>> = match v.get_ref() {
            Raw::Array(items) => items.iter().collect(),
            Raw::String(_) => vec![v],
            other => {
                let msg = format!("include: {expected}, found {}", other.describe());
                self.sink.error(&Loc::new(file, v.span()), msg);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let loc = Loc::new(file, item.span());
            match item.get_ref() {
                Raw::String(s) if !s.is_empty() => out.push((s.clone(), loc)),
                other => {
                    let msg = format!("include: {expected}, found {}", other.describe());
                    self.sink.error(&loc, msg);
                }
            }
        }
        out
    }

    /// Files matching `pattern` (relative to the including file), sorted;
    /// no match is fine (an empty conf.d).
    fn expand_glob(&mut self, file: FileId, pattern: &str, loc: &Loc) -> Vec<PathBuf> {
        let full = if Path::new(pattern).is_absolute() {
            pattern.to_string()
        } else {
            let dir = self.sink.file(file).dir.to_string_lossy().into_owned();
            format!("{}/{pattern}", glob::Pattern::escape(&dir))
        };
        let paths = match glob::glob(&full) {
            Ok(paths) => paths,
            Err(e) => {
                // e.pos counts in the joined path, which the user never wrote.
                let msg = format!("include: invalid glob pattern {pattern:?}: {}", e.msg);
                self.sink.error(loc, msg);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for p in paths {
            match p {
                Ok(p) => out.push(p),
                Err(e) => {
                    let msg = format!("include: cannot read {}: {}", e.path().display(), e.error());
                    self.sink.error(loc, msg);
                }
            }
        }
        out.sort();
        out
    }
}

const TOP_KEYS: &[&str] = &["include", "agent", "program", "eventlistener", "group"];

/// Checks every section of every file and expands the processes.
fn build(cx: &mut Ctx, source: &Path, docs: &[Doc]) -> Config {
    let mut agent_table = None;
    let mut programs: Vec<Program> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    // Every declared program and group, valid or not, so one bad section
    // does not also cause "unknown program" errors elsewhere.
    let mut declared_programs: HashMap<String, Loc> = HashMap::new();
    let mut declared_groups: HashMap<String, Loc> = HashMap::new();
    let mut listeners: HashSet<String> = HashSet::new();
    // Programs and listeners share one namespace (supervisord's groups
    // and pools); the first section's kind names it in the error.
    let mut kinds: HashMap<String, &str> = HashMap::new();

    for (i, doc) in docs.iter().enumerate() {
        let top = Table {
            file: doc.file,
            label: "",
            entries: &doc.entries,
        };
        cx.check_keys(&top, "the top-level table", TOP_KEYS);
        if let Some(v) = top.get("agent") {
            match v.get_ref() {
                Raw::Table(entries) if i == 0 => agent_table = Some(entries),
                Raw::Table(_) => cx.error(
                    &top.key_loc("agent"),
                    format!(
                        "[agent] is only allowed in the main config file ({})",
                        cx.sink.file(docs[0].file).path.display()
                    ),
                ),
                other => cx.error(
                    &top.loc(v),
                    format!("agent: expected a table, found {}", other.describe()),
                ),
            }
        }
        for kind in ["program", "eventlistener", "group"] {
            let declared = match kind {
                "group" => &mut declared_groups,
                _ => &mut declared_programs,
            };
            for (key, v) in sections(cx, &top, kind) {
                let loc = key_loc(doc.file, key);
                if let Some(first) = declared.get(&key.name) {
                    let first = located(cx, first);
                    let what = match kind {
                        "group" => "group",
                        _ => kinds.get(&key.name).copied().unwrap_or(kind),
                    };
                    cx.error(
                        &loc,
                        format!("{what} {:?} is already defined at {first}", key.name),
                    );
                    continue;
                }
                declared.insert(key.name.clone(), loc);
                kinds.insert(key.name.clone(), kind);
                let (file, name) = (doc.file, &key.name);
                match kind {
                    "program" => programs.extend(program::program(
                        cx,
                        name,
                        file,
                        key,
                        v,
                        listener::Kind::Program,
                    )),
                    "eventlistener" => {
                        listeners.insert(name.clone());
                        programs.extend(program::program(
                            cx,
                            name,
                            file,
                            key,
                            v,
                            listener::Kind::Listener,
                        ))
                    }
                    _ => groups.push(group::group(cx, name, file, key, v)),
                }
            }
        }
    }

    let agent = agent::agent(
        cx,
        agent_table.map(|entries| Table {
            file: docs[0].file,
            label: "agent",
            entries,
        }),
    );
    let group_of = group::check_groups(cx, &groups, &declared_programs);
    for g in &groups {
        for (p, loc) in g.programs.iter().filter(|(p, _)| listeners.contains(p)) {
            let msg = format!(
                "group.{}.programs: {p:?} is an event listener; a listener's pool is its own \
                 group (as in supervisord)",
                g.name
            );
            cx.error(loc, msg);
        }
    }
    let mut processes = processes(cx, &programs, &group_of, &agent);
    depends::resolve(cx, &programs, &group_of, &mut processes);
    Config {
        source: source.to_path_buf(),
        agent,
        processes,
    }
}

/// The `[program.*]` or `[group.*]` entries of a file, names checked.
fn sections<'t>(cx: &mut Ctx, top: &Table<'t>, kind: &str) -> Vec<(&'t Key, &'t Spanned<Raw>)> {
    let Some(v) = top.get(kind) else {
        return Vec::new();
    };
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{kind}: expected tables such as [{kind}.NAME], found {}",
            v.get_ref().describe()
        );
        cx.error(&top.loc(v), msg);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in entries {
        if is_section_name(&key.name) {
            out.push((key, v));
        } else {
            cx.error(
                &key_loc(top.file, key),
                format!(
                    "invalid {kind} name {:?} (use letters, digits, \"_\", \"-\" and \".\")",
                    key.name
                ),
            );
        }
    }
    out
}

/// `FILE:LINE:COL` of a location, for messages that point elsewhere.
fn located(cx: &Ctx, loc: &Loc) -> String {
    let f = cx.sink.file(loc.file);
    match &loc.span {
        Some(s) => {
            let (line, col) = f.line_col(s.start);
            format!("{}:{line}:{col}", f.path.display())
        }
        None => f.path.display().to_string(),
    }
}

/// Expands every program into its instances; checks names are valid and unique.
fn processes(
    cx: &mut Ctx,
    programs: &[Program],
    group_of: &HashMap<String, String>,
    agent: &AgentSettings,
) -> Vec<ProcessSpec> {
    let mut out = Vec::new();
    let mut owner: HashMap<String, &str> = HashMap::new();
    for p in programs {
        let group = group_of.get(&p.name).unwrap_or(&p.name);
        for num in (0..p.numprocs).map(|i| p.numprocs_start + i) {
            let mut inst = Instance {
                program: &p.name,
                group,
                host: &agent.host,
                num,
                process: None,
            };
            let name = expand_template(&p.process_name, &inst);
            if !is_process_name(&name) {
                let msg = format!(
                    "program.{}.process_name: {name:?} is not a valid process name (use letters, \
                     digits, \"_\", \".\", \"@\" and \"-\")",
                    p.name
                );
                cx.error(&p.process_name_loc, msg);
                break;
            }
            if let Some(other) = owner.get(name.as_str()) {
                let msg = format!(
                    "program.{}: process name {name:?} is already used by program {other:?} \
                     (process names must be unique on the host)",
                    p.name
                );
                cx.error(&p.process_name_loc, msg);
                break;
            }
            owner.insert(name.clone(), &p.name);
            inst.process = Some(&name);
            out.push(instance(p, &inst, &name, agent));
        }
    }
    out.sort_by(|a, b| (a.priority, &a.group, &a.name).cmp(&(b.priority, &b.group, &b.name)));
    out
}

fn instance(p: &Program, inst: &Instance, name: &str, agent: &AgentSettings) -> ProcessSpec {
    let t = |s: &str| expand_template(s, inst);
    let log = |l: &LogTemplate, stream: &str| LogSpec {
        path: match &l.target {
            LogTarget::Auto => Some(agent.log_dir.join(format!("{name}.{stream}.log"))),
            LogTarget::None => None,
            LogTarget::Path(s) => Some(p.base_dir.join(t(s))),
        },
        maxbytes: l.maxbytes,
        backups: l.backups,
    };
    // The per-instance fields; every other option is the program's as is.
    ProcessSpec {
        name: name.to_string(),
        group: inst.group.to_string(),
        program: p.name.clone(),
        num: inst.num,
        argv: p.argv.iter().map(|a| t(a)).collect(),
        directory: p.directory.as_deref().map(|d| p.base_dir.join(t(d))),
        // Applied in order, later wins: the files, then `environment`.
        environment: p
            .file_environment
            .iter()
            .cloned()
            .chain(p.environment.iter().map(|(k, v)| (k.clone(), t(v))))
            .collect(),
        stdout: log(&p.stdout, "stdout"),
        stderr: log(&p.stderr, "stderr"),
        health: p.health.as_ref().map(|h| h.expand(inst)),
        ..p.options.clone()
    }
}
