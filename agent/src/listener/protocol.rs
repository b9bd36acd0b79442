//! The listener side of supervisord's protocol as a pure parser over what
//! a listener writes on its stdout (`dispatchers.py`
//! `PEventListenerDispatcher`): `READY\n` when it wants an event, then,
//! after the event, `RESULT <len>\n` and `len` bytes (`OK` or `FAIL`).
//!
//! | state        | input                    | next         | said          |
//! |--------------|--------------------------|--------------|---------------|
//! | ACKNOWLEDGED | `READY\n`                | READY        | Ready         |
//! | ACKNOWLEDGED | 6 bytes, not `READY\n`   | UNKNOWN      | Violation     |
//! | READY        | any byte                 | UNKNOWN      | Violation     |
//! | READY        | (`sent`: an event went)  | BUSY         |               |
//! | BUSY         | `RESULT n\n` + n bytes   | ACKNOWLEDGED | Result(bytes) |
//! | BUSY         | a bad result line        | UNKNOWN      | Violation     |
//! | UNKNOWN      | anything                 | UNKNOWN      | (discarded)   |
//!
//! A violation while BUSY hands the event back (supervisord's
//! `EventRejectedEvent`); UNKNOWN lasts until the process is spawned
//! again. Beyond supervisord, what is kept is bounded: a result line
//! longer than [`MAX_LINE`] or a result over [`MAX_RESULT`] bytes is a
//! violation, so a listener that floods its stdout costs no memory.

use serde::{Deserialize, Serialize};

pub const READY: &[u8] = b"READY\n";
const RESULT: &[u8] = b"RESULT ";
/// `RESULT ` and up to 20 digits.
pub const MAX_LINE: usize = 32;
pub const MAX_RESULT: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Acknowledged,
    Ready,
    Busy,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Acknowledged => "ACKNOWLEDGED",
            State::Ready => "READY",
            State::Busy => "BUSY",
            State::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Said {
    Ready,
    /// The result's bytes; supervisord's default handler accepts `OK`
    /// only.
    Result(Vec<u8>),
    /// It broke the protocol; the words say how (never its bytes, which
    /// may be anything).
    Violation(String),
}

/// Serializable: a re-exec carries a conversation half-way through (a
/// result line read, its bytes not yet).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parser {
    state: State,
    buf: Vec<u8>,
    /// BUSY: the length from the result line, once read.
    want: Option<usize>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            state: State::Acknowledged,
            buf: Vec::new(),
            want: None,
        }
    }
}

impl Parser {
    pub fn state(&self) -> State {
        self.state
    }

    /// An event was handed to the listener: READY → BUSY. False (and no
    /// change) in any other state.
    pub fn sent(&mut self) -> bool {
        if self.state != State::Ready {
            return false;
        }
        self.state = State::Busy;
        true
    }

    fn violate(&mut self, why: String, out: &mut Vec<Said>) {
        self.state = State::Unknown;
        self.buf = Vec::new();
        self.want = None;
        out.push(Said::Violation(why));
    }

    /// Feed what the listener wrote; returns what it said, in order.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Said> {
        let mut out = Vec::new();
        if self.state == State::Unknown {
            return out;
        }
        self.buf.extend_from_slice(data);
        loop {
            if self.buf.is_empty() {
                break;
            }
            match self.state {
                State::Unknown => {
                    self.buf.clear();
                    break;
                }
                State::Acknowledged => {
                    if self.buf.len() < READY.len() {
                        if !READY.starts_with(&self.buf) {
                            self.violate("wrote something other than READY".into(), &mut out);
                        }
                        break;
                    }
                    if self.buf.starts_with(READY) {
                        self.buf.drain(..READY.len());
                        self.state = State::Ready;
                        out.push(Said::Ready);
                    } else {
                        self.violate("wrote something other than READY".into(), &mut out);
                    }
                }
                State::Ready => {
                    self.violate("wrote while READY (no event was out)".into(), &mut out);
                }
                State::Busy => match self.want {
                    None => {
                        let Some(pos) = self.buf.iter().position(|&b| b == b'\n') else {
                            if self.buf.len() > MAX_LINE {
                                self.violate("result line too long".into(), &mut out);
                            }
                            break;
                        };
                        let line = &self.buf[..pos];
                        let len = line
                            .strip_prefix(RESULT)
                            .and_then(|n| std::str::from_utf8(n).ok())
                            .and_then(|n| n.trim().parse::<usize>().ok());
                        match len {
                            Some(n) if n <= MAX_RESULT => {
                                self.want = Some(n);
                                self.buf.drain(..=pos);
                            }
                            Some(n) => {
                                self.violate(format!("result of {n} bytes is too long"), &mut out)
                            }
                            None => self.violate("bad result line".into(), &mut out),
                        }
                    }
                    Some(n) => {
                        if self.buf.len() < n {
                            break;
                        }
                        let result: Vec<u8> = self.buf.drain(..n).collect();
                        self.want = None;
                        self.state = State::Acknowledged;
                        out.push(Said::Result(result));
                    }
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_exchange_byte_by_byte() {
        let mut p = Parser::default();
        let mut said = Vec::new();
        for b in b"READY\n" {
            said.extend(p.feed(&[*b]));
        }
        assert_eq!(said, vec![Said::Ready]);
        assert!(p.sent());
        let mut said = Vec::new();
        for b in b"RESULT 2\nOKREADY\n" {
            said.extend(p.feed(&[*b]));
        }
        assert_eq!(said, vec![Said::Result(b"OK".to_vec()), Said::Ready]);
        assert_eq!(p.state(), State::Ready);
    }

    #[test]
    fn a_conversation_carried_half_way_goes_on() {
        let mut p = Parser::default();
        p.feed(b"READY\n");
        p.sent();
        assert_eq!(p.feed(b"RESULT 2\nO"), vec![]);
        let json = serde_json::to_string(&p).unwrap();
        let mut q: Parser = serde_json::from_str(&json).unwrap();
        assert_eq!(q, p);
        assert_eq!(q.state(), State::Busy);
        assert_eq!(q.feed(b"K"), vec![Said::Result(b"OK".to_vec())]);
    }

    #[test]
    fn fail_and_a_result_and_ready_in_one_write() {
        let mut p = Parser::default();
        assert_eq!(p.feed(b"READY\n"), vec![Said::Ready]);
        p.sent();
        assert_eq!(
            p.feed(b"RESULT 4\nFAILREADY\n"),
            vec![Said::Result(b"FAIL".to_vec()), Said::Ready]
        );
    }

    #[test]
    fn violations_end_in_unknown_and_discard_the_rest() {
        let mut p = Parser::default();
        assert!(matches!(p.feed(b"hello\n")[..], [Said::Violation(_)]));
        assert_eq!(p.state(), State::Unknown);
        assert_eq!(p.feed(b"READY\n"), vec![]);
        assert!(!p.sent());

        let mut p = Parser::default();
        assert!(matches!(p.feed(b"RE")[..], []));
        assert!(matches!(p.feed(b"X")[..], [Said::Violation(_)]));

        let mut p = Parser::default();
        p.feed(b"READY\n");
        assert!(matches!(p.feed(b"x")[..], [Said::Violation(_)]));

        let mut p = Parser::default();
        p.feed(b"READY\n");
        p.sent();
        assert!(matches!(p.feed(b"RESULT x\n")[..], [Said::Violation(_)]));

        let mut p = Parser::default();
        p.feed(b"READY\n");
        p.sent();
        assert!(matches!(p.feed(&[b'7'; 100])[..], [Said::Violation(_)]));

        let mut p = Parser::default();
        p.feed(b"READY\n");
        p.sent();
        assert!(matches!(
            p.feed(b"RESULT 99999999\n")[..],
            [Said::Violation(_)]
        ));
    }
}
