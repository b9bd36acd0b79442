//! Where fleetctl connects, resolved from flags, then the environment
//! (`FLEET_CONSOLE`, `FLEET_AGENT`, `FLEET_TOKEN`, `FLEET_TOKEN_FILE`),
//! then a config file, then the default agent socket.
//!
//! A token is never sent over plain `http://` to a non-loopback host, and a
//! config file (or token file) holding one that group or others can read
//! gets a warning.

use fleet_daemon::secret::{self, Source};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

pub const DEFAULT_SOCKET: &str = "/run/fleet/agent.sock";
pub const SYSTEM_CONFIG: &str = "/etc/fleet/fleetctl.toml";

/// The config file (`fleetctl.toml`). Unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub console: Option<String>,
    pub agent: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub cacert: Option<PathBuf>,
}

/// A bearer token. Its `Debug` never shows it.
pub use fleet_daemon::Secret;

/// What fleetctl talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The console at a URL.
    Console(String),
    /// One agent, on a unix socket.
    AgentSocket(PathBuf),
    /// One agent, at a URL.
    AgentUrl(String),
}

impl Target {
    pub fn is_console(&self) -> bool {
        matches!(self, Self::Console(_))
    }

    fn agent(s: &str) -> Self {
        if is_url(s) {
            Self::AgentUrl(s.trim_end_matches('/').to_owned())
        } else {
            Self::AgentSocket(PathBuf::from(s))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Console(u) | Self::AgentUrl(u) => f.write_str(u),
            Self::AgentSocket(p) => write!(f, "{}", p.display()),
        }
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

#[derive(Debug)]
pub struct Resolved {
    pub target: Target,
    pub token: Option<Secret>,
    pub cacert: Option<PathBuf>,
    /// Printed to stderr before anything else.
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Everything resolution reads, gathered so tests can supply their own.
#[derive(Debug, Default)]
pub struct Inputs {
    pub flag_console: Option<String>,
    pub flag_agent: Option<String>,
    pub flag_token: Option<String>,
    pub flag_token_file: Option<PathBuf>,
    pub flag_cacert: Option<PathBuf>,
    pub flag_config: Option<PathBuf>,
    pub env_console: Option<String>,
    pub env_agent: Option<String>,
    pub env_token: Option<String>,
    pub env_token_file: Option<PathBuf>,
    /// `$FLEETCTL_CONFIG`.
    pub env_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Inputs {
    /// Read the process environment (empty variables count as unset).
    pub fn with_env(self) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            env_console: var("FLEET_CONSOLE"),
            env_agent: var("FLEET_AGENT"),
            env_token: var("FLEET_TOKEN"),
            env_token_file: var("FLEET_TOKEN_FILE").map(PathBuf::from),
            env_config: var("FLEETCTL_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            ..self
        }
    }
}

/// Load the config file: an explicit one (flag or env) must exist; the
/// default ones are optional.
fn load_file(inputs: &Inputs) -> Result<Option<(PathBuf, FileConfig)>, ConfigError> {
    let explicit = inputs
        .flag_config
        .clone()
        .or_else(|| inputs.env_config.clone());
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => return read_file(&p).map(|c| Some((p, c))),
        None => inputs
            .home
            .iter()
            .map(|h| h.join(".config/fleet/fleetctl.toml"))
            .chain([PathBuf::from(SYSTEM_CONFIG)])
            .collect(),
    };
    for p in candidates {
        if p.exists() {
            return read_file(&p).map(|c| Some((p, c)));
        }
    }
    Ok(None)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.message().to_owned(),
    })
}

/// Pick the first level (flags, env, file) that names a console or agent.
fn pick(
    level: &str,
    console: Option<&str>,
    agent: Option<&str>,
) -> Result<Option<Target>, ConfigError> {
    match (console, agent) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
            "{level} set both a console and an agent; pass --console or --agent to choose"
        ))),
        (Some(c), None) => Ok(Some(Target::Console(c.trim_end_matches('/').to_owned()))),
        (None, Some(a)) => Ok(Some(Target::agent(a))),
        (None, None) => Ok(None),
    }
}

pub fn resolve(inputs: &Inputs) -> Result<Resolved, ConfigError> {
    let file = load_file(inputs)?;
    let (file_path, file) = match file {
        Some((p, c)) => (Some(p), c),
        None => (None, FileConfig::default()),
    };
    let file_level = file_path
        .as_ref()
        .map_or_else(|| "the config file".to_owned(), |p| p.display().to_string());
    let target = match pick(
        "the flags",
        inputs.flag_console.as_deref(),
        inputs.flag_agent.as_deref(),
    )? {
        Some(t) => t,
        None => match pick(
            "the environment (FLEET_CONSOLE and FLEET_AGENT)",
            inputs.env_console.as_deref(),
            inputs.env_agent.as_deref(),
        )? {
            Some(t) => t,
            None => pick(&file_level, file.console.as_deref(), file.agent.as_deref())?
                .unwrap_or_else(|| Target::AgentSocket(PathBuf::from(DEFAULT_SOCKET))),
        },
    };
    if file.token.is_some() && file.token_file.is_some() {
        return Err(ConfigError::Invalid(format!(
            "{file_level}: set token or token_file, not both"
        )));
    }
    let mut warnings = Vec::new();
    // The first source set wins: flag, environment, config file. Each is
    // read by the kit's one `secret::resolve`, the rule both daemons use.
    let file_name = file_path.as_deref().unwrap_or(Path::new("")).display();
    let (holder, source) = match (
        &inputs.flag_token,
        &inputs.flag_token_file,
        &inputs.env_token,
        &inputs.env_token_file,
        &file.token,
        &file.token_file,
    ) {
        (Some(t), ..) => ("--token".to_owned(), Some(Source::Inline(t))),
        (None, Some(tf), ..) => ("--token-file".to_owned(), Some(Source::File(tf))),
        (None, None, Some(_), ..) => ("FLEET_TOKEN".to_owned(), Some(Source::Env("FLEET_TOKEN"))),
        (None, None, None, Some(tf), ..) => ("FLEET_TOKEN_FILE".to_owned(), Some(Source::File(tf))),
        (None, None, None, None, Some(t), _) => {
            if let Some(w) = file_path.as_deref().and_then(readable_by_others) {
                warnings.push(w);
            }
            (format!("{file_name}: token"), Some(Source::Inline(t)))
        }
        (None, None, None, None, None, Some(tf)) => {
            (format!("{file_name}: token_file"), Some(Source::File(tf)))
        }
        (None, None, None, None, None, None) => (String::new(), None),
    };
    let token = match source {
        None => None,
        Some(source) => {
            let env = |n: &str| inputs.env_token.clone().filter(|_| n == "FLEET_TOKEN");
            let token = secret::resolve(source, env)
                .map_err(|e| ConfigError::Invalid(format!("{holder}: {e}")))?;
            if let Source::File(tf) = source {
                warnings.extend(readable_by_others(tf));
            }
            Some(token)
        }
    };
    if token.is_some() {
        if let Target::Console(url) | Target::AgentUrl(url) = &target {
            if let Ok(crate::server::config::UrlKind::Http { loopback: false }) =
                crate::server::config::check_agent_url(url)
            {
                return Err(ConfigError::Invalid(format!(
                    "refusing to send the token over plain http:// to {url}: it would cross the network in clear; use https://"
                )));
            }
        }
    }
    let cacert = inputs.flag_cacert.clone().or(file.cacert);
    Ok(Resolved {
        target,
        token,
        cacert,
        warnings,
    })
}

/// A warning when `path` (holding a token) is readable by group or others.
fn readable_by_others(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds a token and is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nohome() -> Inputs {
        Inputs {
            home: Some(PathBuf::from("/nonexistent-home-for-test")),
            ..Inputs::default()
        }
    }

    #[test]
    fn default_is_the_agent_socket() {
        // /etc/fleet/fleetctl.toml could exist on a dev machine; point the
        // explicit config at an empty file instead.
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("empty.toml");
        std::fs::write(&cfg, "").unwrap();
        let r = resolve(&Inputs {
            flag_config: Some(cfg),
            ..nohome()
        })
        .unwrap();
        assert_eq!(r.target, Target::AgentSocket(DEFAULT_SOCKET.into()));
        assert!(r.token.is_none());
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("f.toml");
        let tf = dir.path().join("tok");
        std::fs::write(&tf, "file-token\n").unwrap();
        std::fs::write(
            &cfg,
            format!(
                "console = \"https://file/\"\ntoken_file = {:?}\ncacert = \"/ca.pem\"\n",
                tf.display().to_string()
            ),
        )
        .unwrap();
        let base = Inputs {
            flag_config: Some(cfg.clone()),
            ..nohome()
        };
        let r = resolve(&base).unwrap();
        assert_eq!(r.target, Target::Console("https://file".into()));
        assert_eq!(r.token.unwrap().expose(), "file-token");
        assert_eq!(r.cacert.unwrap(), PathBuf::from("/ca.pem"));

        let env = Inputs {
            env_agent: Some("/tmp/a.sock".into()),
            env_token: Some("env-token".into()),
            ..base
        };
        let r = resolve(&env).unwrap();
        assert_eq!(r.target, Target::AgentSocket("/tmp/a.sock".into()));
        assert_eq!(r.token.unwrap().expose(), "env-token");

        let flags = Inputs {
            flag_agent: Some("http://127.0.0.1:9/".into()),
            flag_token: Some("flag-token".into()),
            ..env
        };
        let r = resolve(&flags).unwrap();
        assert_eq!(r.target, Target::AgentUrl("http://127.0.0.1:9".into()));
        assert_eq!(r.token.unwrap().expose(), "flag-token");
    }

    #[test]
    fn bad_config_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("f.toml");
        std::fs::write(&cfg, "consol = \"x\"\n").unwrap();
        let e = resolve(&Inputs {
            flag_config: Some(cfg),
            ..nohome()
        })
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `consol`"), "{e}");
        let e = resolve(&Inputs {
            flag_config: Some(dir.path().join("missing.toml")),
            ..nohome()
        })
        .unwrap_err();
        assert!(e.to_string().contains("cannot read config"), "{e}");
    }

    #[test]
    fn both_at_one_level_is_ambiguous() {
        let e = resolve(&Inputs {
            env_console: Some("http://c".into()),
            env_agent: Some("/a".into()),
            flag_config: Some("/dev/null".into()),
            ..nohome()
        })
        .unwrap_err();
        assert!(e.to_string().contains("both"), "{e}");
    }

    /// The kit's one token rule, for every fleetctl source: padding is
    /// dropped, a blank or two-word token is an error naming its source
    /// (`--token ""` used to mean "no token", silently, so a mistyped
    /// `--token "$TOK"` got a 401 instead of an error), never the value.
    #[test]
    fn tokens_follow_the_kits_one_trimming_rule() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("tok");
        let with = |i: Inputs| Inputs {
            flag_config: Some("/dev/null".into()),
            ..i
        };
        std::fs::write(&tf, "\n file-token-0123456789ab\r\n").unwrap();
        let r = resolve(&with(Inputs {
            env_token_file: Some(tf.clone()),
            ..nohome()
        }))
        .unwrap();
        assert_eq!(r.token.unwrap().expose(), "file-token-0123456789ab");

        let e = resolve(&with(Inputs {
            flag_token: Some(" ".into()),
            ..nohome()
        }))
        .unwrap_err();
        assert_eq!(e.to_string(), "--token: the token is empty");

        std::fs::write(&tf, "first-line-token\nsecond-line-token\n").unwrap();
        let e = resolve(&with(Inputs {
            flag_token_file: Some(tf.clone()),
            ..nohome()
        }))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(&format!("--token-file: {} holds a space", tf.display())),
            "{e}"
        );
        assert!(!e.contains("line-token"), "{e}");

        let e = resolve(&with(Inputs {
            env_token: Some("two words".into()),
            ..nohome()
        }))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("FLEET_TOKEN: environment variable FLEET_TOKEN holds a space"),
            "{e}"
        );
        assert!(!e.contains("words"), "{e}");
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(…)");
    }
}
