//! The parsed TOML as a tree in which every value and every key keeps its
//! byte span.
//!
//! Why not serde structs with `deny_unknown_fields`: serde stops at the first
//! unknown key or wrong type, and we want to report every problem at once.
//! So the file is parsed into this span-preserving tree and `validate` checks
//! keys and types itself. Tables keep file order.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A TOML value whose children keep their spans.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Raw {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    /// Only ever an error here; kept as its text for the message.
    Datetime(String),
    Array(Vec<Spanned<Raw>>),
    Table(Vec<(Key, Spanned<Raw>)>),
}

/// A table key and where it was written (`None` if the parser gave no span).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub name: String,
    pub span: Option<Range<usize>>,
}

/// A table's entries in file order.
pub(crate) type Entries = Vec<(Key, Spanned<Raw>)>;

/// Parses a whole document; the error carries toml's message and span.
pub(crate) fn parse(text: &str) -> Result<Entries, (String, Option<Range<usize>>)> {
    match toml::from_str::<Raw>(text) {
        Ok(Raw::Table(entries)) => Ok(entries),
        Ok(_) => Err(("expected a TOML document".into(), None)),
        // One line per error: toml's message may span several.
        Err(e) => Err((e.message().trim_end().replace('\n', "; "), e.span())),
    }
}

impl Raw {
    /// What kind of value this is, without the value (for secrets).
    pub fn kind(&self) -> &'static str {
        match self {
            Raw::String(_) => "a string",
            Raw::Integer(_) => "an integer",
            Raw::Float(_) => "a float",
            Raw::Boolean(_) => "a boolean",
            Raw::Datetime(_) => "a datetime",
            Raw::Array(_) => "an array",
            Raw::Table(_) => "a table",
        }
    }

    /// Describes the value for "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Raw::String(s) => format!("{s:?}"),
            Raw::Integer(i) => i.to_string(),
            Raw::Float(f) => format!("{f:?}"),
            Raw::Boolean(b) => b.to_string(),
            Raw::Datetime(d) => format!("a datetime ({d})"),
            Raw::Array(_) => "an array".into(),
            Raw::Table(_) => "a table".into(),
        }
    }
}

// The protocol between `serde_spanned` and the toml deserializer: asking
// for a struct with exactly these names makes toml hand over the span.
// We speak it directly (instead of using `Spanned<String>` for keys) because
// a datetime value arrives as a one-key map whose key has no span, and
// `Spanned<String>` would fail on it.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
// How toml presents a datetime to `deserialize_any`: a map with this one key.
const DATETIME_FIELD: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_string(),
            span: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (None, None, None);
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                SPANNED_START => start = Some(map.next_value::<usize>()?),
                SPANNED_END => end = Some(map.next_value::<usize>()?),
                SPANNED_VALUE => name = Some(map.next_value::<String>()?),
                other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field(SPANNED_VALUE))?;
        let span = match (start, end) {
            (Some(s), Some(e)) => Some(s..e),
            _ => None,
        };
        Ok(Key { name, span })
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        i64::try_from(v)
            .map(Raw::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<SpannedRaw>()? {
            items.push(item.0);
        }
        Ok(Raw::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if key.span.is_none() && key.name == DATETIME_FIELD && entries.is_empty() {
                return Ok(Raw::Datetime(map.next_value::<String>()?));
            }
            entries.push((key, map.next_value::<SpannedRaw>()?.0));
        }
        Ok(Raw::Table(entries))
    }
}

/// `Spanned<Raw>` that also accepts a value toml hands over without a span.
/// toml gives no span for tables created implicitly by a dotted header
/// (`[program.web]` creates `program`), and `serde_spanned` rejects those.
struct SpannedRaw(Spanned<Raw>);

impl<'de> Deserialize<'de> for SpannedRaw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, SpannedRawVisitor)
    }
}

struct SpannedRawVisitor;

impl<'de> Visitor<'de> for SpannedRawVisitor {
    type Value = SpannedRaw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpannedRaw, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(SpannedRaw(Spanned::new(0..0, Raw::Table(Vec::new()))));
        };
        if first.span.is_none() && first.name == SPANNED_START {
            let start = map.next_value::<usize>()?;
            let (mut end, mut value) = (None, None);
            while let Some(field) = map.next_key::<String>()? {
                match field.as_str() {
                    SPANNED_END => end = Some(map.next_value::<usize>()?),
                    SPANNED_VALUE => value = Some(map.next_value::<Raw>()?),
                    other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
                }
            }
            let value = value.ok_or_else(|| de::Error::missing_field(SPANNED_VALUE))?;
            let end = end.unwrap_or(start);
            return Ok(SpannedRaw(Spanned::new(start..end, value)));
        }
        if first.span.is_none() && first.name == DATETIME_FIELD {
            let text = map.next_value::<String>()?;
            return Ok(SpannedRaw(Spanned::new(0..0, Raw::Datetime(text))));
        }
        // A table without its own span: it starts where its first key does.
        let span = first.span.clone().unwrap_or(0..0);
        let mut entries = vec![(first, map.next_value::<SpannedRaw>()?.0)];
        while let Some(key) = map.next_key::<Key>()? {
            entries.push((key, map.next_value::<SpannedRaw>()?.0));
        }
        Ok(SpannedRaw(Spanned::new(span, Raw::Table(entries))))
    }

    fn visit_bool<E>(self, v: bool) -> Result<SpannedRaw, E> {
        Ok(SpannedRaw(Spanned::new(0..0, Raw::Boolean(v))))
    }

    fn visit_i64<E>(self, v: i64) -> Result<SpannedRaw, E> {
        Ok(SpannedRaw(Spanned::new(0..0, Raw::Integer(v))))
    }

    fn visit_f64<E>(self, v: f64) -> Result<SpannedRaw, E> {
        Ok(SpannedRaw(Spanned::new(0..0, Raw::Float(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<SpannedRaw, E> {
        Ok(SpannedRaw(Spanned::new(0..0, Raw::String(v.into()))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SpannedRaw, A::Error> {
        Ok(SpannedRaw(Spanned::new(0..0, RawVisitor.visit_seq(seq)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(t: &'a [(Key, Spanned<Raw>)], k: &str) -> &'a Spanned<Raw> {
        &t.iter().find(|(key, _)| key.name == k).unwrap().1
    }

    #[test]
    fn keeps_spans_of_keys_values_and_array_elements() {
        let text = "a = 1\n[t]\nzz = \"x\"\nb = [true, 2.5]\n";
        let doc = parse(text).unwrap();
        let a = get(&doc, "a");
        assert_eq!(a.get_ref(), &Raw::Integer(1));
        assert_eq!(&text[a.span()], "1");
        let Raw::Table(t) = get(&doc, "t").get_ref() else {
            panic!()
        };
        // File order, not sorted.
        assert_eq!(t[0].0.name, "zz");
        assert_eq!(&text[t[0].0.span.clone().unwrap()], "zz");
        let Raw::Array(items) = get(t, "b").get_ref() else {
            panic!()
        };
        assert_eq!(&text[items[1].span()], "2.5");
        assert_eq!(items[0].get_ref(), &Raw::Boolean(true));
    }

    #[test]
    fn datetimes_are_values_not_errors() {
        let doc = parse("d = 1979-05-27T07:32:00Z\nx = 1").unwrap();
        assert!(matches!(get(&doc, "d").get_ref(), Raw::Datetime(s) if s.starts_with("1979")));
        assert_eq!(get(&doc, "x").get_ref(), &Raw::Integer(1));
    }

    #[test]
    fn syntax_errors_have_a_span() {
        let (msg, span) = parse("a = \n").unwrap_err();
        assert!(!msg.is_empty());
        assert!(span.is_some());
        let (msg, _) = parse("a = 1\na = 2\n").unwrap_err();
        assert!(msg.contains("duplicate"), "{msg}");
    }

    #[test]
    fn dotted_headers_create_tables_with_spanned_keys() {
        for text in [
            "[program.web]\nx = 1\n",
            "[a]\n[program.web]\nx = 1\n",
            "program.web.x = 1\n",
        ] {
            let doc = parse(text).unwrap();
            let Raw::Table(t) = get(&doc, "program").get_ref() else {
                panic!()
            };
            assert_eq!(&text[t[0].0.span.clone().unwrap()], "web", "{text}");
        }
    }

    #[test]
    fn describe_values() {
        assert_eq!(Raw::String("x".into()).describe(), "\"x\"");
        assert_eq!(Raw::Integer(0).describe(), "0");
        assert_eq!(Raw::Float(0.5).describe(), "0.5");
        assert_eq!(Raw::Array(vec![]).describe(), "an array");
    }
}
