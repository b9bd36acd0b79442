//! The rolling batch spec (`OpRequest::batch`, `fleetctl --rolling`): a
//! number of hosts (`"2"`) or a percentage of the selection (`"25%"`).

use std::fmt;
use std::str::FromStr;

/// How many hosts a rolling operation touches at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// This many hosts, at least 1.
    Hosts(usize),
    /// This percentage of the selected hosts, 1-100, rounded up.
    Percent(u8),
}

impl Batch {
    /// Hosts per batch for a selection of `fleet` hosts: at least 1, at
    /// most the whole selection.
    pub fn size(self, fleet: usize) -> usize {
        let n = match self {
            Self::Hosts(n) => n,
            // Whole hundreds first: `fleet * p` overflows for a fleet past
            // usize::MAX / 100 (found by tests/prop.rs).
            Self::Percent(p) => {
                let p = usize::from(p);
                fleet / 100 * p + (fleet % 100 * p).div_ceil(100)
            }
        };
        n.clamp(1, fleet.max(1))
    }
}

impl Default for Batch {
    /// One host at a time, what a rolling operation does without a spec.
    fn default() -> Self {
        Self::Hosts(1)
    }
}

/// A spec that is neither; the message names the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchError(pub String);

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BatchError {}

impl FromStr for Batch {
    type Err = BatchError;

    fn from_str(s: &str) -> Result<Self, BatchError> {
        let bad = || {
            BatchError(format!(
                "bad batch {s:?}: expected a number of hosts like \"2\" or a percentage like \"25%\""
            ))
        };
        // Digits only: `usize::from_str` would also take a sign.
        let number = |t: &str| {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            t.parse::<usize>().ok()
        };
        match s.trim().strip_suffix('%') {
            Some(p) => match number(p) {
                Some(p @ 1..=100) => Ok(Self::Percent(p as u8)),
                _ => Err(bad()),
            },
            None => match number(s) {
                Some(n @ 1..) => Ok(Self::Hosts(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hosts(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_of_a_huge_fleet_does_not_overflow() {
        let fleet = 1usize << 62;
        assert_eq!(Batch::Percent(4).size(fleet), fleet.div_ceil(25));
        assert_eq!(Batch::Percent(100).size(usize::MAX), usize::MAX);
        assert_eq!(Batch::Percent(1).size(usize::MAX), usize::MAX.div_ceil(100));
        assert_eq!(Batch::Percent(33).size(10), 4);
        assert_eq!(Batch::Percent(50).size(1), 1);
    }

    #[test]
    fn parses_counts_and_percentages() {
        for (text, want) in [
            ("1", Batch::Hosts(1)),
            ("10", Batch::Hosts(10)),
            (" 2 ", Batch::Hosts(2)),
            ("25%", Batch::Percent(25)),
            ("100%", Batch::Percent(100)),
            ("1%", Batch::Percent(1)),
            ("25 %", Batch::Percent(25)),
        ] {
            assert_eq!(text.parse::<Batch>(), Ok(want), "{text}");
        }
        for bad in [
            "", "0", "0%", "101%", "150%", "x", "x%", "-1", "+2", "5%%", "%", "2.5",
        ] {
            let e = bad.parse::<Batch>().unwrap_err();
            assert!(e.0.contains("expected a number of hosts"), "{bad}: {e}");
        }
    }

    #[test]
    fn sizes_for_a_fleet() {
        for (spec, fleet, want) in [
            ("2", 5, 2),
            ("10", 5, 5),
            ("25%", 10, 3),
            ("1%", 10, 1),
            ("100%", 7, 7),
            ("50%", 3, 2),
            ("3", 0, 1),
            ("50%", 0, 1),
        ] {
            assert_eq!(
                spec.parse::<Batch>().unwrap().size(fleet),
                want,
                "{spec} of {fleet}"
            );
        }
        assert_eq!(Batch::default().size(9), 1);
    }

    #[test]
    fn display_round_trips() {
        for s in ["3", "25%"] {
            assert_eq!(s.parse::<Batch>().unwrap().to_string(), s);
        }
    }
}
