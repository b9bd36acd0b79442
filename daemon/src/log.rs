//! Diagnostics to stderr, filtered by `FLEET_LOG` (`info`,
//! `warn,fleet_agent=debug`, …: a default level plus per-target levels).
//!
//! `Targets` rather than `EnvFilter`: the same syntax for what operators
//! write, without the regex engine `EnvFilter` links in (about 180 KiB of
//! code that would be resident in every agent).

use std::str::FromStr;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The variable that sets the filter.
pub const VAR: &str = "FLEET_LOG";

/// Parse a `FLEET_LOG` value.
pub fn parse(spec: &str) -> Result<Targets, String> {
    Targets::from_str(spec.trim()).map_err(|e| format!("{VAR}={spec:?}: {e}"))
}

/// Install the stderr subscriber, filtered by `FLEET_LOG`, or by `default`
/// when it is unset. An invalid value is reported on stderr and `default`
/// is used: a typo must not silence the daemon.
pub fn init(default: &str) {
    let env = std::env::var(VAR).ok().filter(|s| !s.trim().is_empty());
    let filter = env.as_deref().map(parse).and_then(|r| {
        r.map_err(|e| eprintln!("ignoring {e}; using {default:?}"))
            .ok()
    });
    let filter = filter.unwrap_or_else(|| parse(default).unwrap_or_default());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never into
                // journald or a log file.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .init();
}

#[cfg(test)]
mod tests {
    use super::parse;
    use tracing::Level;

    #[test]
    fn levels_and_targets() {
        let f = parse("warn,fleet_agent=debug").unwrap();
        assert!(f.would_enable("fleet_agent::supervisor", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        assert!(f.would_enable("hyper", &Level::WARN));
        assert!(parse("info").unwrap().would_enable("x", &Level::INFO));
    }

    #[test]
    fn a_bad_value_is_an_error_naming_the_variable() {
        let e = parse("fleet_agent=loud").unwrap_err();
        assert!(e.contains("FLEET_LOG"), "{e}");
    }
}
