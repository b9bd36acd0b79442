//! The signals a verb may send, one set for every reader of the wire (agent,
//! console, fleetctl): the 31 standard Linux signals, named with or without
//! `SIG` in any case (`"TERM"`, `"SIGTERM"`, `"term"`) or numbered (`"15"`).
//!
//! Real-time signals (32-64) are not in the set: the agent delivers through
//! nix's `Signal`, which has no real-time values, and a console that
//! accepted them would audit operations every agent then refuses.
//! Numbers are Linux's generic numbering (x86, ARM, RISC-V), the one the
//! agent checks against its own at test time.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

macro_rules! signals {
    ($($variant:ident = $num:literal $name:literal,)*) => {
        /// A signal, travelling on the wire as its bare name (`"TERM"`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Signal {
            $($variant,)*
        }

        impl Signal {
            /// Every accepted signal, in number order.
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The name without `SIG`: `"TERM"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Signal::$variant => $name,)*
                }
            }

            /// The Linux signal number.
            pub fn number(self) -> i32 {
                match self {
                    $(Signal::$variant => $num,)*
                }
            }
        }
    };
}

signals! {
    Hup = 1 "HUP",
    Int = 2 "INT",
    Quit = 3 "QUIT",
    Ill = 4 "ILL",
    Trap = 5 "TRAP",
    Abrt = 6 "ABRT",
    Bus = 7 "BUS",
    Fpe = 8 "FPE",
    Kill = 9 "KILL",
    Usr1 = 10 "USR1",
    Segv = 11 "SEGV",
    Usr2 = 12 "USR2",
    Pipe = 13 "PIPE",
    Alrm = 14 "ALRM",
    Term = 15 "TERM",
    Stkflt = 16 "STKFLT",
    Chld = 17 "CHLD",
    Cont = 18 "CONT",
    Stop = 19 "STOP",
    Tstp = 20 "TSTP",
    Ttin = 21 "TTIN",
    Ttou = 22 "TTOU",
    Urg = 23 "URG",
    Xcpu = 24 "XCPU",
    Xfsz = 25 "XFSZ",
    Vtalrm = 26 "VTALRM",
    Prof = 27 "PROF",
    Winch = 28 "WINCH",
    Io = 29 "IO",
    Pwr = 30 "PWR",
    Sys = 31 "SYS",
}

impl Signal {
    /// The signal numbered `n`, if it is in the set.
    pub fn from_number(n: i32) -> Option<Signal> {
        Self::ALL.iter().copied().find(|s| s.number() == n)
    }
}

/// A signal outside the set; the message names the accepted forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalError(pub String);

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SignalError {}

impl FromStr for Signal {
    type Err = SignalError;

    fn from_str(s: &str) -> Result<Self, SignalError> {
        let t = s.trim();
        let found = if t.bytes().all(|b| b.is_ascii_digit()) {
            t.parse::<i32>().ok().and_then(Self::from_number)
        } else {
            let upper = t.to_ascii_uppercase();
            let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
            Self::ALL.iter().copied().find(|sig| sig.name() == bare)
        };
        found.ok_or_else(|| {
            SignalError(format!(
                "unknown signal {s:?} (expected a name like HUP, USR1, TERM or a number 1-31)"
            ))
        })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Signal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Any form `FromStr` takes, and a bare JSON number.
impl<'de> Deserialize<'de> for Signal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Signal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signal name like \"TERM\" or a number 1-31")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Signal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Signal, E> {
                i32::try_from(v)
                    .ok()
                    .and_then(Signal::from_number)
                    .ok_or_else(|| E::custom(format!("unknown signal number {v}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Signal, E> {
                i32::try_from(v)
                    .ok()
                    .and_then(Signal::from_number)
                    .ok_or_else(|| E::custom(format!("unknown signal number {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_prefixes_cases_and_numbers() {
        for (text, want) in [
            ("TERM", Signal::Term),
            ("SIGTERM", Signal::Term),
            ("term", Signal::Term),
            ("SigTerm", Signal::Term),
            (" hup ", Signal::Hup),
            ("15", Signal::Term),
            ("1", Signal::Hup),
            ("31", Signal::Sys),
            ("STKFLT", Signal::Stkflt),
            ("sigstkflt", Signal::Stkflt),
            ("16", Signal::Stkflt),
            ("USR2", Signal::Usr2),
            ("WINCH", Signal::Winch),
            ("IO", Signal::Io),
        ] {
            assert_eq!(text.parse::<Signal>(), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_everything_else_naming_the_forms() {
        for bad in [
            "",
            "SIG",
            "NOPE",
            "TERMINATE",
            "0",
            "32",
            "40",
            "64",
            "65",
            "-1",
            "+15",
            "1.5",
            "SIG15",
            "RTMIN",
            "POLL",
            "IOT",
        ] {
            let e = bad.parse::<Signal>().unwrap_err();
            assert!(e.0.contains("expected a name like HUP"), "{bad}: {e}");
        }
    }

    #[test]
    fn numbers_and_names_round_trip() {
        assert_eq!(Signal::ALL.len(), 31);
        for (i, s) in Signal::ALL.iter().enumerate() {
            assert_eq!(s.number(), i as i32 + 1);
            assert_eq!(Signal::from_number(s.number()), Some(*s));
            assert_eq!(s.name().parse::<Signal>(), Ok(*s));
            assert_eq!(s.to_string(), s.name());
        }
    }

    #[test]
    fn json_is_the_name_and_old_forms_still_read() {
        assert_eq!(serde_json::to_string(&Signal::Term).unwrap(), "\"TERM\"");
        for text in ["\"TERM\"", "\"SIGTERM\"", "\"term\"", "\"15\"", "15"] {
            assert_eq!(
                serde_json::from_str::<Signal>(text).unwrap(),
                Signal::Term,
                "{text}"
            );
        }
        for bad in ["\"40\"", "40", "\"NOPE\"", "null", "-3"] {
            assert!(serde_json::from_str::<Signal>(bad).is_err(), "{bad}");
        }
    }
}
