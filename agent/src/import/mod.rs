//! `fleet-agent import`: a supervisord config in, an equivalent fleet TOML
//! config out.
//!
//! Stages: `ini` reads each file exactly as supervisord's config parser does;
//! [`load`] follows the main file's `[include] files = ...` globs and merges
//! the sections the way supervisord does (a later file's keys override);
//! `convert` maps every section and option (`program` the `[program:x]`
//! sections, `sections` the others, `datatypes` reading values by
//! supervisord's rules, `expand` turning `%(name)s` into fleet templates)
//! into the `output` model and collects a [`Warning`] for everything fleet
//! cannot express; `emit` writes that model as TOML, each block commented
//! with where it came from.

mod addons;
mod context;
pub mod convert;
mod datatypes;
pub mod emit;
pub mod expand;
mod httpok;
pub mod ini;
pub mod output;
mod program;
mod sections;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Something the reader must act on (or at least know), located in the
/// supervisord config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    /// The section as written, e.g. `program:celery`.
    pub section: String,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}]",
            self.file.display(),
            self.line,
            self.section
        )?;
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A config that cannot be read or that supervisord itself would refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub file: PathBuf,
    /// 0 when the whole file is concerned.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// One `key = value` after merging, with the file that set it.
#[derive(Clone, Debug)]
pub struct Ent {
    pub key: String,
    pub value: String,
    /// Index into [`Doc::files`].
    pub file: usize,
    pub line: usize,
}

#[derive(Clone, Debug)]
pub struct Sec {
    pub name: String,
    /// The file that first defined the section (supervisord's `section_to_file`).
    pub file: usize,
    pub line: usize,
    pub entries: Vec<Ent>,
}

impl Sec {
    pub fn get(&self, key: &str) -> Option<&Ent> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Every section of the main file and its includes, merged.
#[derive(Clone, Debug, Default)]
pub struct Doc {
    /// Absolute paths; `files[0]` is the main file.
    pub files: Vec<PathBuf>,
    pub sections: Vec<Sec>,
    /// Problems found while loading (unmatched include globs ...).
    pub warnings: Vec<Warning>,
}

impl Doc {
    /// Directory of a file: what `%(here)s` means for its values.
    pub fn dir(&self, file: usize) -> &Path {
        self.files[file].parent().unwrap_or(Path::new("/"))
    }

    fn merge(&mut self, file: usize, sections: Vec<ini::Section>) {
        for s in sections {
            let ents = s.entries.into_iter().map(|e| Ent {
                key: e.key,
                value: e.value,
                file,
                line: e.line,
            });
            match self.sections.iter_mut().find(|x| x.name == s.name) {
                Some(existing) => {
                    for e in ents {
                        match existing.entries.iter_mut().find(|x| x.key == e.key) {
                            Some(old) => *old = e,
                            None => existing.entries.push(e),
                        }
                    }
                }
                None => self.sections.push(Sec {
                    name: s.name,
                    file,
                    line: s.line,
                    entries: ents.collect(),
                }),
            }
        }
    }
}

fn read(path: &Path) -> Result<(PathBuf, Vec<ini::Section>), Error> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = std::fs::read_to_string(path).map_err(|e| Error {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let sections = ini::parse(&text).map_err(|e| Error {
        file: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    Ok((abs, sections))
}

/// Reads the main file and the files its `[include]` names, as supervisord
/// does: globs relative to the main file's directory, each sorted, and
/// only the main file's `[include]` is followed.
pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Doc, Error> {
    let (abs, sections) = read(path)?;
    let mut doc = Doc {
        files: vec![abs],
        ..Doc::default()
    };
    doc.merge(0, sections);
    let Some(include) = doc.sections.iter().find(|s| s.name == "include").cloned() else {
        return Ok(doc);
    };
    let Some(files) = include.get("files") else {
        return Err(Error {
            file: path.to_path_buf(),
            line: include.line,
            message: "[include] has no \"files\" setting (supervisord refuses this)".into(),
        });
    };
    let base = doc.dir(0).to_path_buf();
    let conf_env = Default::default();
    let scope = expand::Scope {
        here: &base,
        program: None,
        group: None,
        numprocs: None,
        env,
        conf_env: &conf_env,
        host: "",
    };
    let at = |message: String| Error {
        file: path.to_path_buf(),
        line: files.line,
        message: format!("[include] files: {message}"),
    };
    let patterns = expand::expand(&files.value, &scope, expand::Mode::Static)
        .map_err(at)?
        .text;
    for pattern in patterns.split_whitespace() {
        let full = base.join(pattern);
        let full = full.to_string_lossy();
        let mut matched: Vec<PathBuf> = match glob::glob(&full) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(e) => return Err(at(format!("invalid glob {pattern:?}: {}", e.msg))),
        };
        matched.sort();
        if matched.is_empty() {
            doc.warnings.push(Warning {
                file: doc.files[0].clone(),
                line: files.line,
                section: "include".into(),
                key: Some("files".into()),
                message: format!("no file matches {full:?} (supervisord warns the same)"),
            });
        }
        for m in matched {
            let (abs, sections) = read(&m)?;
            if doc.files.contains(&abs) {
                continue;
            }
            doc.files.push(abs);
            let id = doc.files.len() - 1;
            if let Some(s) = sections.iter().find(|s| s.name == "include") {
                doc.warnings.push(Warning {
                    file: doc.files[id].clone(),
                    line: s.line,
                    section: "include".into(),
                    key: None,
                    message: "an [include] inside an included file is not followed by \
                              supervisord; not followed here either"
                        .into(),
                });
            }
            let sections = sections
                .into_iter()
                .filter(|s| s.name != "include")
                .collect();
            doc.merge(id, sections);
        }
    }
    Ok(doc)
}

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<Warning>,
}

/// Imports `path` with the given environment and host name.
pub fn import_with(
    path: &Path,
    env: &HashMap<String, String>,
    host: &str,
) -> Result<Imported, Error> {
    let doc = load(path, env)?;
    let out = convert::convert(&doc, env, host)?;
    Ok(Imported {
        toml: emit::emit(&out),
        warnings: out.warnings,
    })
}

/// Imports `path` with this process's environment and host name.
pub fn import(path: &Path) -> Result<Imported, Error> {
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let host = crate::config::LoadEnv::from_process().hostname;
    import_with(path, &env, &host)
}

/// Said once per import: the one default that differs from supervisord's
/// and that the TOML does not spell out (the default is the safe one).
pub const LEFTOVERS_NOTE: &str = "note: fleet stops what a program leaves behind when its main \
process exits (supervisord leaves it running unless stopasgroup/killasgroup); \
set leftovers = \"keep\" on a program that means to leave a daemon behind";

/// The `fleet-agent import` command: 0 done (warnings allowed), 1 the
/// config cannot be read or converted, or the output cannot be written.
pub fn run(path: &Path, write: Option<&Path>, force: bool) -> u8 {
    let imported = match import(path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("fleet-agent import: {e}");
            return 1;
        }
    };
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    if imported.toml.contains("[program.") {
        eprintln!("{LEFTOVERS_NOTE}");
    }
    let Some(dir) = write else {
        print!("{}", imported.toml);
        return 0;
    };
    let target = dir.join("agent.toml");
    if target.exists() && !force {
        eprintln!(
            "fleet-agent import: {} already exists; not overwriting it (use --force)",
            target.display()
        );
        return 1;
    }
    let written =
        std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&target, &imported.toml));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {} ({} warning{}); check it with `fleet-agent check {}`",
                target.display(),
                imported.warnings.len(),
                if imported.warnings.len() == 1 {
                    ""
                } else {
                    "s"
                },
                target.display()
            );
            0
        }
        Err(e) => {
            eprintln!("fleet-agent import: cannot write {}: {e}", target.display());
            1
        }
    }
}
