//! What every section's check shares: the problems found so far, paths
//! relative to the config file, and secrets read through the kit's one
//! token rule (`fleet_daemon::secret`).

use fleet_daemon::secret::Source;
use fleet_daemon::Secret;
use std::path::{Path, PathBuf};

/// One file's check: every problem is collected, none stops it.
pub(super) struct Ctx<'a> {
    /// The config file's directory: relative paths are relative to it.
    base: &'a Path,
    pub errs: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(path: &'a Path) -> Ctx<'a> {
        Ctx {
            base: path.parent().unwrap_or(Path::new(".")),
            errs: Vec::new(),
        }
    }

    pub fn error(&mut self, e: impl Into<String>) {
        self.errs.push(e.into());
    }

    /// Whether a problem of `what` was named already.
    pub fn named(&self, what: &str) -> bool {
        self.errs.iter().any(|e| e.starts_with(what))
    }

    /// `p` relative to the config file's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// A `token` or `token_file` (one of them, or neither: `None`).
    pub fn secret(
        &mut self,
        what: &str,
        inline: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<Secret> {
        let read = match (inline, file) {
            (Some(_), Some(_)) => {
                self.error(format!("{what}: set token or token_file, not both"));
                return None;
            }
            (Some(t), None) => fleet_daemon::secret::resolve(Source::Inline(&t), |_| None),
            (None, Some(f)) => {
                fleet_daemon::secret::resolve(Source::File(&self.path(&f)), |_| None)
            }
            (None, None) => return None,
        };
        read.map_err(|e| self.error(format!("{what}: {e}"))).ok()
    }

    /// Refuse a guessable token, saying how to make a good one (the rule
    /// is `fleet_daemon::secret::too_weak`, the agent's too).
    pub fn strong_enough(&mut self, what: &str, s: &Secret) {
        if let Some(e) = fleet_daemon::secret::too_weak(s.expose()) {
            self.error(format!("{what}: {e}"));
        }
    }

    /// The problems, each prefixed with the file, one per line (`None`:
    /// there were none).
    pub fn into_error(self, path: &Path) -> Option<String> {
        if self.errs.is_empty() {
            return None;
        }
        let lines: Vec<String> = self
            .errs
            .into_iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect();
        Some(lines.join("\n"))
    }
}
