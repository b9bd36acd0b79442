//! A small server-sent events parser: feed it bytes as they arrive, take
//! complete events out. Events without data are not dispatched (as in
//! browsers); an event that grows past [`MAX_EVENT`] is an error, not a
//! reason to buffer without end.

/// The largest event (or line) the parser holds while it is incomplete.
pub const MAX_EVENT: usize = 1 << 20;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: String,
    pub data: String,
}

#[derive(Default)]
pub struct SseParser {
    buf: Vec<u8>,
    cur: SseEvent,
    has_data: bool,
}

impl SseParser {
    /// Add bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            if line.is_empty() {
                let ev = std::mem::take(&mut self.cur);
                if self.has_data {
                    out.push(SseEvent {
                        event: if ev.event.is_empty() {
                            "message".into()
                        } else {
                            ev.event
                        },
                        ..ev
                    });
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue; // comment / keep-alive
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "data" => {
                    if self.has_data {
                        self.cur.data.push('\n');
                    }
                    self.cur.data.push_str(value);
                    self.has_data = true;
                }
                "event" => self.cur.event = value.to_owned(),
                "id" => self.cur.id = Some(value.to_owned()),
                _ => {}
            }
        }
        if self.buf.len() + self.cur.data.len() > MAX_EVENT {
            return Err(format!("an event larger than {MAX_EVENT} bytes"));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.feed(b"id: 7\nevent: state\nda").unwrap().is_empty());
        let evs = p
            .feed(b"ta: {\"a\":1}\n\n: keep-alive\n\ndata: x\ndata: y\r\n\r\n")
            .unwrap();
        assert_eq!(
            evs,
            vec![
                SseEvent {
                    id: Some("7".into()),
                    event: "state".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "x\ny".into()
                },
            ]
        );
    }

    #[test]
    fn gap_events_and_crlf_blocks_are_dispatched() {
        let mut p = SseParser::default();
        let evs = p
            .feed(b"event: gap\r\ndata: 3 events dropped\r\n\r\nid: 9\n\n")
            .unwrap();
        assert_eq!(
            evs,
            vec![SseEvent {
                id: None,
                event: "gap".into(),
                data: "3 events dropped".into()
            }]
        );
    }

    #[test]
    fn an_endless_event_is_an_error() {
        let mut p = SseParser::default();
        let line = vec![b'x'; 4096];
        let mut fed = 0;
        let err = loop {
            match p.feed(&line) {
                Ok(evs) => assert!(evs.is_empty()),
                Err(e) => break e,
            }
            fed += line.len();
            assert!(fed <= MAX_EVENT, "no error after {fed} bytes");
        };
        assert!(err.contains("larger than"), "{err}");
    }
}
