//! Aligned tables, state colours, uptimes and JSON printing.

use fleet_api::ProcessState;
use std::io::IsTerminal;

/// Colour only for a terminal, and never with `NO_COLOR` set.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    pub fn plain() -> Style {
        Style { color: false }
    }
}

/// One table cell: text, and an ANSI colour code applied after padding.
#[derive(Clone, Debug)]
pub struct Cell {
    pub text: String,
    pub color: Option<&'static str>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text: printable(text),
            color: None,
        }
    }
}

/// Text from a program or a remote party (descriptions, exit and check
/// messages, names) as it may reach a terminal: every control character
/// (an escape sequence could move the cursor, retitle or recolour the
/// operator's terminal) becomes U+FFFD.
pub fn printable(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_owned())
    }
}

pub fn state_color(state: ProcessState) -> Option<&'static str> {
    match state {
        ProcessState::Running => Some("32"),
        ProcessState::Starting | ProcessState::Stopping | ProcessState::Backoff => Some("33"),
        ProcessState::Exited | ProcessState::Fatal => Some("31"),
        ProcessState::Stopped => None,
        // A down host's process: the grey of "nobody knows".
        ProcessState::Unknown => Some("90"),
    }
}

/// `healthy` green, `unhealthy` red, `unknown` grey, `-` without a check.
pub fn health_cell(health: Option<fleet_api::Health>) -> Cell {
    use fleet_api::Health;
    match health {
        None => Cell::from("-"),
        Some(h) => Cell {
            text: h.as_str().to_owned(),
            color: match h {
                Health::Healthy => Some("32"),
                Health::Unhealthy => Some("31"),
                Health::Unknown => Some("90"),
            },
        },
    }
}

pub fn state_cell(state: ProcessState) -> Cell {
    Cell {
        text: state.as_str().to_owned(),
        color: state_color(state),
    }
}

pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    show_header: bool,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
            show_header: true,
        }
    }

    /// Columns aligned, no header line (action results).
    pub fn headless(columns: usize) -> Table {
        Table {
            header: vec![""; columns],
            rows: Vec::new(),
            show_header: false,
        }
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Two spaces between columns; the last column is not padded.
    pub fn render(&self, style: Style) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.text.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<Cell> = self.header.iter().map(|h| Cell::from(*h)).collect();
        let header = self.show_header.then_some(&header);
        for r in header.into_iter().chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(n) {
                let last = i + 1 == n;
                let pad = if last {
                    0
                } else {
                    widths[i] - c.text.chars().count()
                };
                match (style.color, c.color) {
                    (true, Some(code)) => line.push_str(&format!("\x1b[{code}m{}\x1b[0m", c.text)),
                    _ => line.push_str(&c.text),
                }
                if !last {
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// "1:02:03", or "3d 1:02:03" past a day (supervisord's form).
pub fn duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}:{m:02}:{s:02}")
    } else {
        format!("{h}:{m:02}:{s:02}")
    }
}

pub use fleet_daemon::time::now_ms;

/// Local wall-clock time of day (UTC; fleetctl has no tz database) for
/// event lines: "12:34:56.789".
pub fn clock(ms: u64) -> String {
    let day_ms = ms % 86_400_000;
    let (h, m, s, milli) = (
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{milli:03}")
}

#[cfg(test)]
mod tests {

    #[test]
    fn cells_never_carry_control_characters() {
        let c = Cell::from("ok \x1b[2J\x1b]0;pwned\x07 done\n".to_string());
        assert_eq!(
            c.text,
            "ok \u{fffd}[2J\u{fffd}]0;pwned\u{fffd} done\u{fffd}"
        );
        assert_eq!(Cell::from("plain ünïcode").text, "plain ünïcode");
    }

    use super::*;

    #[test]
    fn tables_align_and_colour_after_padding() {
        let mut t = Table::new(&["NAME", "STATE", "PID"]);
        t.row(vec![
            "web:web_00".into(),
            state_cell(ProcessState::Running),
            "12".into(),
        ]);
        t.row(vec![
            "w:x".into(),
            state_cell(ProcessState::Fatal),
            "".into(),
        ]);
        assert_eq!(
            t.render(Style::plain()),
            "NAME        STATE    PID\nweb:web_00  RUNNING  12\nw:x         FATAL\n"
        );
        let coloured = t.render(Style { color: true });
        assert!(
            coloured.contains("\x1b[32mRUNNING\x1b[0m  12"),
            "{coloured:?}"
        );
    }

    #[test]
    fn durations_read_like_supervisord() {
        assert_eq!(duration(0), "0:00:00");
        assert_eq!(duration(3_723_000), "1:02:03");
        assert_eq!(duration(90_000_000), "1d 1:00:00");
        assert_eq!(clock(3_723_004), "01:02:03.004");
    }
}
