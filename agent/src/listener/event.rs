//! supervisord's event types and their payloads, byte for byte as its
//! `events.py` renders them, and the header line a listener reads first.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt::Write;

/// Every concrete event type fleet can send. `PROCESS_STATE_UNKNOWN` and
/// `PROCESS_COMMUNICATION_*` exist for subscriptions only: fleet never
/// raises them (no process is ever UNKNOWN on its own host, and capture
/// mode is refused at load).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    ProcessStateStopped,
    ProcessStateExited,
    ProcessStateStarting,
    ProcessStateStopping,
    ProcessStateBackoff,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateUnknown,
    ProcessCommunicationStdout,
    ProcessCommunicationStderr,
    ProcessLogStdout,
    ProcessLogStderr,
    RemoteCommunication,
    SupervisorStateChangeRunning,
    SupervisorStateChangeStopping,
    Tick5,
    Tick60,
    Tick3600,
    ProcessGroupAdded,
    ProcessGroupRemoved,
}

use Kind::*;

/// (name, concrete types): supervisord's `EventTypes`, abstract names
/// included (`PROCESS_STATE` is every `PROCESS_STATE_*`, `EVENT` all).
const NAMES: &[(&str, &[Kind])] = &[
    ("PROCESS_STATE_STOPPED", &[ProcessStateStopped]),
    ("PROCESS_STATE_EXITED", &[ProcessStateExited]),
    ("PROCESS_STATE_STARTING", &[ProcessStateStarting]),
    ("PROCESS_STATE_STOPPING", &[ProcessStateStopping]),
    ("PROCESS_STATE_BACKOFF", &[ProcessStateBackoff]),
    ("PROCESS_STATE_FATAL", &[ProcessStateFatal]),
    ("PROCESS_STATE_RUNNING", &[ProcessStateRunning]),
    ("PROCESS_STATE_UNKNOWN", &[ProcessStateUnknown]),
    (
        "PROCESS_COMMUNICATION_STDOUT",
        &[ProcessCommunicationStdout],
    ),
    (
        "PROCESS_COMMUNICATION_STDERR",
        &[ProcessCommunicationStderr],
    ),
    ("PROCESS_LOG_STDOUT", &[ProcessLogStdout]),
    ("PROCESS_LOG_STDERR", &[ProcessLogStderr]),
    ("REMOTE_COMMUNICATION", &[RemoteCommunication]),
    (
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        &[SupervisorStateChangeRunning],
    ),
    (
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        &[SupervisorStateChangeStopping],
    ),
    ("TICK_5", &[Tick5]),
    ("TICK_60", &[Tick60]),
    ("TICK_3600", &[Tick3600]),
    ("PROCESS_GROUP_ADDED", &[ProcessGroupAdded]),
    ("PROCESS_GROUP_REMOVED", &[ProcessGroupRemoved]),
    (
        "PROCESS_STATE",
        &[
            ProcessStateStopped,
            ProcessStateExited,
            ProcessStateStarting,
            ProcessStateStopping,
            ProcessStateBackoff,
            ProcessStateFatal,
            ProcessStateRunning,
            ProcessStateUnknown,
        ],
    ),
    (
        "PROCESS_COMMUNICATION",
        &[ProcessCommunicationStdout, ProcessCommunicationStderr],
    ),
    ("PROCESS_LOG", &[ProcessLogStdout, ProcessLogStderr]),
    (
        "SUPERVISOR_STATE_CHANGE",
        &[SupervisorStateChangeRunning, SupervisorStateChangeStopping],
    ),
    ("TICK", &[Tick5, Tick60, Tick3600]),
    ("PROCESS_GROUP", &[ProcessGroupAdded, ProcessGroupRemoved]),
];

/// Every type name a listener may subscribe to, for error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n).chain(["EVENT"])
}

/// The set of concrete types a list of subscriptions names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subs(u32);

impl Subs {
    /// Parse one name (case-insensitive, as supervisord upper-cases it).
    pub fn parse(name: &str) -> Option<Subs> {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "EVENT" {
            return Some(Subs(u32::MAX));
        }
        let (_, kinds) = NAMES.iter().find(|(n, _)| *n == upper)?;
        Some(kinds.iter().fold(Subs(0), |s, k| s.with(*k)))
    }

    pub fn with(self, k: Kind) -> Subs {
        Subs(self.0 | 1 << k as u32)
    }

    pub fn union(self, o: Subs) -> Subs {
        Subs(self.0 | o.0)
    }

    pub fn has(self, k: Kind) -> bool {
        self.0 & (1 << k as u32) != 0
    }
}

impl Kind {
    /// The name in the header (`eventname:`).
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, ks)| ks.len() == 1 && ks[0] == self)
            .map(|(n, _)| *n)
            .expect("every kind has its own name")
    }

    /// The concrete type `name` names (`eventname:`), if any.
    pub fn named(name: &str) -> Option<Kind> {
        NAMES
            .iter()
            .find(|(n, ks)| ks.len() == 1 && *n == name)
            .map(|(_, ks)| ks[0])
    }

    /// The `PROCESS_STATE_*` type of a state.
    pub fn of_state(s: fleet_api::ProcessState) -> Kind {
        use fleet_api::ProcessState as S;
        match s {
            S::Stopped => ProcessStateStopped,
            S::Starting => ProcessStateStarting,
            S::Running => ProcessStateRunning,
            S::Backoff => ProcessStateBackoff,
            S::Stopping => ProcessStateStopping,
            S::Exited => ProcessStateExited,
            S::Fatal => ProcessStateFatal,
            S::Unknown => ProcessStateUnknown,
        }
    }

    /// Tick periods in seconds, for the types that are ticks.
    pub const TICKS: [(Kind, u64); 3] = [(Tick5, 5), (Tick60, 60), (Tick3600, 3600)];
}

/// A type is carried (a re-exec's hand-off) by the name a listener reads,
/// so the names are defined once, in `NAMES`.
impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Kind::named(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type {name:?}")))
    }
}

/// One event, its payload rendered when it happened (supervisord renders
/// a state change's pid and tries eagerly too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: Kind,
    pub payload: String,
}

/// A process as payloads name it: `processname` is the process name
/// alone, `groupname` its group.
pub struct Who<'a> {
    pub process: &'a str,
    pub group: &'a str,
}

impl Event {
    /// `PROCESS_STATE_*`: `processname:N groupname:G from_state:S` then
    /// the type's extras: `tries` for STARTING and BACKOFF, `expected` and
    /// `pid` for EXITED, `pid` for RUNNING, STOPPING and STOPPED.
    pub fn state(
        who: &Who,
        from: fleet_api::ProcessState,
        to: fleet_api::ProcessState,
        tries: u32,
        expected: bool,
        pid: Option<u32>,
    ) -> Event {
        let kind = Kind::of_state(to);
        let mut p = format!(
            "processname:{} groupname:{} from_state:{}",
            who.process, who.group, from
        );
        let pid = pid.unwrap_or(0);
        let _ = match kind {
            ProcessStateStarting | ProcessStateBackoff => write!(p, " tries:{tries}"),
            ProcessStateExited => write!(p, " expected:{} pid:{pid}", u8::from(expected)),
            ProcessStateRunning | ProcessStateStopping | ProcessStateStopped => {
                write!(p, " pid:{pid}")
            }
            _ => Ok(()),
        };
        Event { kind, payload: p }
    }

    /// `TICK_N`: `when:` the start of the period that just began.
    pub fn tick(kind: Kind, when: u64) -> Event {
        Event {
            kind,
            payload: format!("when:{when}"),
        }
    }

    /// `PROCESS_GROUP_ADDED` / `REMOVED`: `groupname:G\n`.
    pub fn group(kind: Kind, group: &str) -> Event {
        Event {
            kind,
            payload: format!("groupname:{group}\n"),
        }
    }

    /// `SUPERVISOR_STATE_CHANGE_*`: an empty payload.
    pub fn supervisor(kind: Kind) -> Event {
        Event {
            kind,
            payload: String::new(),
        }
    }

    /// `REMOTE_COMMUNICATION`: `type:T\nDATA`.
    pub fn remote(kind_type: &str, data: &str) -> Event {
        Event {
            kind: RemoteCommunication,
            payload: format!("type:{kind_type}\n{data}"),
        }
    }

    /// `PROCESS_LOG_STDOUT` / `STDERR`: a header line, then the output as
    /// read (supervisord's wording for output that is not UTF-8).
    pub fn log(who: &Who, pid: u32, stderr: bool, data: &[u8]) -> Event {
        let (kind, channel) = match stderr {
            false => (ProcessLogStdout, "stdout"),
            true => (ProcessLogStderr, "stderr"),
        };
        let data = match std::str::from_utf8(data) {
            Ok(s) => s.to_owned(),
            Err(_) => format!("Undecodable: {}", python_bytes_repr(data)),
        };
        Event {
            kind,
            payload: format!(
                "processname:{} groupname:{} pid:{pid} channel:{channel}\n{data}",
                who.process, who.group
            ),
        }
    }
}

/// The header and payload a listener reads: `ver:3.0 server:supervisor
/// serial:N pool:P poolserial:M eventname:T len:L\n` + payload. `len`
/// counts characters, as supervisord (Python 3, `len(str)`) does, so a
/// listener reading its stdin as text reads exactly the payload.
pub fn envelope(serial: u64, pool: &str, pool_serial: u64, e: &Event) -> Vec<u8> {
    format!(
        "ver:3.0 server:supervisor serial:{serial} pool:{pool} poolserial:{pool_serial} \
         eventname:{} len:{}\n{}",
        e.kind.name(),
        e.payload.chars().count(),
        e.payload
    )
    .into_bytes()
}

/// Python's `repr(bytes)`, as supervisord quotes undecodable output.
fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            c if c as char == quote => {
                s.push('\\');
                s.push(quote)
            }
            0x20..=0x7e => s.push(c as char),
            c => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push(quote);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_api::ProcessState as S;

    const W: Who = Who {
        process: "web_01",
        group: "web",
    };

    #[test]
    fn state_payloads_are_supervisords() {
        let e = Event::state(&W, S::Running, S::Exited, 0, false, Some(42));
        assert_eq!(e.kind.name(), "PROCESS_STATE_EXITED");
        assert_eq!(
            e.payload,
            "processname:web_01 groupname:web from_state:RUNNING expected:0 pid:42"
        );
        let e = Event::state(&W, S::Exited, S::Backoff, 2, false, None);
        assert_eq!(
            e.payload,
            "processname:web_01 groupname:web from_state:EXITED tries:2"
        );
        let e = Event::state(&W, S::Backoff, S::Fatal, 3, false, None);
        assert_eq!(
            e.payload,
            "processname:web_01 groupname:web from_state:BACKOFF"
        );
        let e = Event::state(&W, S::Starting, S::Running, 0, true, Some(7));
        assert_eq!(
            e.payload,
            "processname:web_01 groupname:web from_state:STARTING pid:7"
        );
    }

    #[test]
    fn other_payloads_and_the_envelope() {
        assert_eq!(Event::tick(Tick5, 1700000005).payload, "when:1700000005");
        assert_eq!(
            Event::group(ProcessGroupAdded, "web").payload,
            "groupname:web\n"
        );
        assert_eq!(Event::remote("alert", "x y").payload, "type:alert\nx y");
        assert_eq!(
            Event::log(&W, 9, true, b"oops\n").payload,
            "processname:web_01 groupname:web pid:9 channel:stderr\noops\n"
        );
        assert_eq!(
            Event::log(&W, 9, false, b"a\xff'").payload,
            "processname:web_01 groupname:web pid:9 channel:stdout\nUndecodable: b\"a\\xff'\""
        );
        let env = envelope(3, "mon", 1, &Event::remote("t", "é"));
        assert_eq!(
            String::from_utf8(env).unwrap(),
            "ver:3.0 server:supervisor serial:3 pool:mon poolserial:1 \
             eventname:REMOTE_COMMUNICATION len:8\ntype:t\né"
        );
    }

    #[test]
    fn subscriptions_expand_abstract_names() {
        let s = Subs::parse("process_state").unwrap();
        assert!(s.has(ProcessStateFatal) && s.has(ProcessStateRunning));
        assert!(!s.has(Tick5));
        assert!(Subs::parse("EVENT").unwrap().has(ProcessGroupRemoved));
        assert!(Subs::parse("TICK").unwrap().has(Tick3600));
        assert_eq!(Subs::parse("NOPE"), None);
        for (n, ks) in NAMES {
            if ks.len() == 1 {
                assert_eq!(ks[0].name(), *n);
                assert_eq!(Kind::named(n), Some(ks[0]));
            }
        }
        assert_eq!(Kind::named("PROCESS_STATE"), None);
        let e = Event::state(&W, S::Running, S::Exited, 0, false, Some(42));
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""kind":"PROCESS_STATE_EXITED""#), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Event>(r#"{"kind":"TICK","payload":""}"#).is_err());
    }
}
