//! Process selectors in supervisorctl's syntax, and the one rule for which
//! processes a selector names (the agent acts by it, the console plans and
//! shows by it, fleetctl previews by it).

use crate::process::ProcessInfo;
use std::fmt;
use std::str::FromStr;

/// Which processes a verb applies to, in supervisorctl's syntax:
/// `all`, `group:NAME`, `NAME` (a program, every instance; or a process
/// name), `GROUP:PROCESS`, `GROUP:*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    All,
    /// Every process of a program group.
    Group(String),
    /// A program (all its instances) or a bare process name.
    Name(String),
    /// One process of a group.
    Process {
        group: String,
        process: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorError(pub String);

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelectorError {}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, SelectorError> {
        let bad = |why: &str| {
            SelectorError(format!(
                "bad selector {s:?}: {why} (expected all, group:NAME, NAME, GROUP:PROCESS or GROUP:*)"
            ))
        };
        if s == "all" {
            return Ok(Self::All);
        }
        match s.split_once(':') {
            None if valid_name(s) => Ok(Self::Name(s.to_owned())),
            None => Err(bad("names use letters, digits and _ - . @")),
            Some(("group", g)) if valid_name(g) => Ok(Self::Group(g.to_owned())),
            Some((g, "*")) if valid_name(g) => Ok(Self::Group(g.to_owned())),
            Some((g, p)) if valid_name(g) && valid_name(p) => Ok(Self::Process {
                group: g.to_owned(),
                process: p.to_owned(),
            }),
            Some(_) => Err(bad("names use letters, digits and _ - . @")),
        }
    }
}

/// The three names a selector looks at, for whatever a reader holds per
/// process (the wire's `ProcessInfo`, the agent's own table entries).
pub trait Selectable {
    fn group(&self) -> &str;
    fn program(&self) -> &str;
    fn process(&self) -> &str;
}

impl Selectable for ProcessInfo {
    fn group(&self) -> &str {
        &self.group
    }
    fn program(&self) -> &str {
        &self.program
    }
    fn process(&self) -> &str {
        &self.process
    }
}

impl Selectable for crate::console::FleetProcess {
    fn group(&self) -> &str {
        &self.info.group
    }
    fn program(&self) -> &str {
        &self.info.program
    }
    fn process(&self) -> &str {
        &self.info.process
    }
}

impl Selector {
    /// Does the selector name `p`, one of the processes `host` holds? A bare
    /// `NAME` is a program when any process on the host has that program,
    /// else a process or group name (supervisorctl's reading), which is why
    /// matching one process needs its neighbours.
    pub fn matches<'a, T: Selectable + 'a>(
        &self,
        p: &T,
        host: impl IntoIterator<Item = &'a T>,
    ) -> bool {
        let by_program = match self {
            Self::Name(n) => host.into_iter().any(|q| q.program() == n),
            _ => false,
        };
        self.matches_one(p, by_program)
    }

    /// The processes of one host the selector names, in the host's order.
    pub fn select<'a, T: Selectable>(&self, host: impl IntoIterator<Item = &'a T>) -> Vec<&'a T> {
        let all: Vec<&T> = host.into_iter().collect();
        let by_program = match self {
            Self::Name(n) => all.iter().any(|q| q.program() == n),
            _ => false,
        };
        all.into_iter()
            .filter(|p| self.matches_one(*p, by_program))
            .collect()
    }

    fn matches_one<T: Selectable>(&self, p: &T, by_program: bool) -> bool {
        match self {
            Self::All => true,
            Self::Group(g) => p.group() == g,
            Self::Process { group, process } => p.group() == group && p.process() == process,
            Self::Name(n) if by_program => p.program() == n,
            Self::Name(n) => p.process() == n || p.group() == n,
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Group(g) => write!(f, "group:{g}"),
            Self::Name(n) => f.write_str(n),
            Self::Process { group, process } => write!(f, "{group}:{process}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supervisorctl_forms() {
        assert_eq!("all".parse(), Ok(Selector::All));
        assert_eq!("group:celery".parse(), Ok(Selector::Group("celery".into())));
        assert_eq!("celery:*".parse(), Ok(Selector::Group("celery".into())));
        assert_eq!("flower".parse(), Ok(Selector::Name("flower".into())));
        assert_eq!(
            "celery:worker_01".parse(),
            Ok(Selector::Process {
                group: "celery".into(),
                process: "worker_01".into()
            })
        );
    }

    #[test]
    fn rejects_garbage_with_the_forms_it_accepts() {
        for bad in ["", "a b", "x:", ":y", "group:", "a:b:c", "../etc", "g:*x"] {
            let err = bad.parse::<Selector>().unwrap_err();
            assert!(err.0.contains("expected all"), "{bad}: {err}");
        }
    }

    /// (group, program, process)
    struct P(&'static str, &'static str, &'static str);

    impl Selectable for P {
        fn group(&self) -> &str {
            self.0
        }
        fn program(&self) -> &str {
            self.1
        }
        fn process(&self) -> &str {
            self.2
        }
    }

    #[test]
    fn selects_like_supervisorctl() {
        let host = [
            P("celery", "worker", "worker_00"),
            P("celery", "worker", "worker_01"),
            P("celery", "beat", "beat"),
            P("web", "web", "web_00"),
            // A process named like another group's program.
            P("tools", "cron", "beat"),
        ];
        let table: &[(&str, &[&str])] = &[
            ("all", &["worker_00", "worker_01", "beat", "web_00", "beat"]),
            ("group:celery", &["worker_00", "worker_01", "beat"]),
            ("celery:*", &["worker_00", "worker_01", "beat"]),
            ("celery:worker_00", &["worker_00"]),
            ("worker", &["worker_00", "worker_01"]),
            // A program named "beat" exists: the bare name is the program.
            ("beat", &["beat"]),
            // No program "celery": the bare name is a group.
            ("celery", &["worker_00", "worker_01", "beat"]),
            // No program "web_00": the bare name is a process.
            ("web_00", &["web_00"]),
            ("web", &["web_00"]),
            ("nope", &[]),
            ("group:nope", &[]),
            ("web:worker_00", &[]),
        ];
        for (sel, want) in table {
            let sel: Selector = sel.parse().unwrap();
            let got: Vec<&str> = sel.select(&host).iter().map(|p| p.2).collect();
            assert_eq!(&got, want, "{sel}");
            let one_by_one: Vec<&str> = host
                .iter()
                .filter(|p| sel.matches(*p, &host))
                .map(|p| p.2)
                .collect();
            assert_eq!(one_by_one, got, "{sel}");
        }
        // "beat" as a program picks celery's beat, not tools' process "beat".
        let beat = Selector::Name("beat".into());
        assert!(beat.matches(&host[2], &host));
        assert!(!beat.matches(&host[4], &host));
    }

    #[test]
    fn display_round_trips() {
        for s in ["all", "group:celery", "flower", "celery:w_01"] {
            assert_eq!(s.parse::<Selector>().unwrap().to_string(), s);
        }
    }
}
