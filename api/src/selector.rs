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

    #[test]
    fn display_round_trips() {
        for s in ["all", "group:celery", "flower", "celery:w_01"] {
            assert_eq!(s.parse::<Selector>().unwrap().to_string(), s);
        }
    }
}
