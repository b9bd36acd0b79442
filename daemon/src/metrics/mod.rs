//! The Prometheus text exposition (format 0.0.4) both daemons' `/metrics`
//! write through, once: families with their `# HELP`/`# TYPE` lines, every
//! sample of a family together, label values escaped (backslash, quote,
//! newline), non-finite values as `+Inf`/`-Inf`/`NaN`. `histogram.rs` is a
//! lock-free histogram a hot path can record into with a few atomic adds;
//! `process.rs` the per-process families the agent and the console both
//! expose, so their names, labels and state mapping cannot drift.
//!
//! Everything is computed when a scrape asks: nothing here wakes up on its
//! own.

mod histogram;
mod process;

pub use histogram::{Histogram, LATENCY_BUCKETS, OP_BUCKETS};
pub use process::{listener_families, process_families, ProcessRow};

use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A sample's value: integers print as integers, floats in Prometheus's
/// spelling.
pub trait Value {
    fn write(&self, out: &mut String);
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn write(&self, out: &mut String) {
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
int_value!(u8, u32, u64, usize, i32, i64);

impl Value for f64 {
    fn write(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// Rendered label pairs (`k="v",k="v"`), escaped once and reused for every
/// family a process (or host) appears in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels(String);

impl Labels {
    pub fn new(pairs: &[(&str, &str)]) -> Labels {
        let mut l = Labels::default();
        for (k, v) in pairs {
            l.push(k, v);
        }
        l
    }

    /// These labels plus `k="v"`.
    pub fn with(&self, k: &str, v: &str) -> Labels {
        let mut l = self.clone();
        l.push(k, v);
        l
    }

    fn push(&mut self, k: &str, v: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(k);
        self.0.push_str("=\"");
        escape_into(&mut self.0, v);
        self.0.push('"');
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A label value as the text format needs it: `\` → `\\`, `"` → `\"`,
/// newline → `\n`.
pub fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// An exposition being written. Call [`Text::family`] before a family's
/// samples, and write each family's samples together.
#[derive(Default)]
pub struct Text {
    out: String,
}

impl Text {
    pub fn new() -> Text {
        Text::default()
    }

    /// The `# HELP` and `# TYPE` lines of family `name`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &Labels, value: impl Value) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            self.out.push_str(&labels.0);
            self.out.push('}');
        }
        self.out.push(' ');
        value.write(&mut self.out);
        self.out.push('\n');
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &Labels::default(), value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_spelled_as_prometheus_does() {
        let mut t = Text::new();
        t.family("x_total", Kind::Counter, "Help\nwith a newline.");
        let l = Labels::new(&[("name", "a\"b\\c\nd")]);
        t.sample("x_total", &l.with("k", "v"), 3u64);
        t.sample("x_total", &Labels::default(), f64::INFINITY);
        t.sample("x_total", &Labels::default(), 0.25);
        t.sample("x_total", &Labels::default(), 1024.0);
        assert_eq!(
            t.finish(),
            "# HELP x_total Help with a newline.\n# TYPE x_total counter\n\
             x_total{name=\"a\\\"b\\\\c\\nd\",k=\"v\"} 3\nx_total +Inf\nx_total 0.25\nx_total 1024\n"
        );
    }
}
