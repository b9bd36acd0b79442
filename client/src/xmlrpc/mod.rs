//! XML-RPC on the wire, both sides: the agent's face parses a
//! `methodCall` and encodes a `methodResponse` or a fault (`fault.rs`); the
//! console's supervisord client encodes a `methodCall` and parses the
//! answer. One parser for both: quick-xml events into a small tree, then
//! the nine value types; no entity but XML's five, nesting bounded.
//! Lenient where supervisord is (an untyped `<value>` is a string, `<params>`
//! may be missing), strict where clients depend on it (always-typed output,
//! `<int>` and `<boolean>`, never `<nil/>`).

use quick_xml::events::Event;
use quick_xml::Reader;
use std::fmt::Write;

mod fault;
pub use fault::{Code, Fault};

/// An XML-RPC value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Bool(bool),
    Str(String),
    Double(f64),
    /// Kept as sent; no method takes one.
    DateTime(String),
    /// Kept as sent (base64 text); no method takes one.
    Base64(String),
    Array(Vec<Value>),
    /// Members in order.
    Struct(Vec<(String, Value)>),
    /// Accepted on input (some clients send it); never sent.
    Nil,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn record<const N: usize>(members: [(&str, Value); N]) -> Value {
        Value::Struct(
            members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    pub fn member(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Struct(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A parsed `methodCall`.
#[derive(Debug, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

/// Nesting deeper than this is refused (no method needs more than 4).
const MAX_DEPTH: usize = 64;

struct Node {
    name: String,
    children: Vec<Node>,
    text: String,
}

fn tree(body: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(body);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let open = |name: &str| Node {
        name: name.to_owned(),
        children: Vec::new(),
        text: String::new(),
    };
    loop {
        let ev = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("nested deeper than {MAX_DEPTH} elements"));
                }
                stack.push(open(e.local_name().as_ref()));
            }
            Event::Empty(e) => {
                let node = open(e.local_name().as_ref());
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("more than one root element".into()),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.into_inner());
                }
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&ch);
                }
            }
            Event::Eof => break,
            // Declarations, comments, processing instructions, doctypes:
            // nothing to do (no entity is ever expanded from a doctype).
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element".into());
    }
    root.ok_or_else(|| "no root element".into())
}

fn elements<'a>(n: &'a Node, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
    n.children.iter().filter(move |c| c.name == name)
}

fn value(v: &Node) -> Result<Value, String> {
    let Some(typed) = v.children.first() else {
        // `<value>foo</value>` is a string.
        return Ok(Value::Str(v.text.clone()));
    };
    let text = typed.text.trim();
    Ok(match typed.name.as_str() {
        "int" | "i4" | "i8" => Value::Int(text.parse().map_err(|_| format!("bad int {text:?}"))?),
        "boolean" => match text {
            "0" => Value::Bool(false),
            "1" => Value::Bool(true),
            _ => return Err(format!("bad boolean {text:?} (expected 0 or 1)")),
        },
        "string" => Value::Str(typed.text.clone()),
        "double" => Value::Double(text.parse().map_err(|_| format!("bad double {text:?}"))?),
        "dateTime.iso8601" => Value::DateTime(text.to_owned()),
        "base64" => Value::Base64(text.to_owned()),
        "nil" => Value::Nil,
        "array" => {
            let data = elements(typed, "data")
                .next()
                .ok_or("array without <data>")?;
            Value::Array(
                elements(data, "value")
                    .map(value)
                    .collect::<Result<_, _>>()?,
            )
        }
        "struct" => {
            let mut members = Vec::new();
            for m in elements(typed, "member") {
                let name = elements(m, "name").next().ok_or("member without <name>")?;
                let v = elements(m, "value")
                    .next()
                    .ok_or("member without <value>")?;
                members.push((name.text.clone(), value(v)?));
            }
            Value::Struct(members)
        }
        other => return Err(format!("unknown value type <{other}>")),
    })
}

/// Parse a request body; `Err` says why it is not an XML-RPC call.
pub fn parse_call(body: &[u8]) -> Result<Call, String> {
    let body = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let root = tree(body)?;
    if root.name != "methodCall" {
        return Err(format!("root element is <{}>, not <methodCall>", root.name));
    }
    let method = elements(&root, "methodName")
        .next()
        .ok_or("no <methodName>")?
        .text
        .trim()
        .to_owned();
    let mut params = Vec::new();
    if let Some(ps) = elements(&root, "params").next() {
        for p in elements(ps, "param") {
            let v = elements(p, "value").next().ok_or("param without <value>")?;
            params.push(value(v)?);
        }
    }
    Ok(Call { method, params })
}

/// XML 1.0 text: escape markup; characters XML cannot carry (control
/// bytes in a program's output) become U+FFFD, so every client can parse
/// the answer.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

pub(crate) fn encode_value(out: &mut String, v: &Value) {
    out.push_str("<value>");
    match v {
        Value::Int(i) => {
            let _ = write!(out, "<int>{i}</int>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Str(s) => {
            out.push_str("<string>");
            escape_into(out, s);
            out.push_str("</string>");
        }
        Value::Double(d) => {
            let _ = write!(out, "<double>{d:?}</double>");
        }
        Value::DateTime(s) => {
            out.push_str("<dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601>");
        }
        Value::Base64(s) => {
            out.push_str("<base64>");
            escape_into(out, s);
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>\n");
            for i in items {
                encode_value(out, i);
                out.push('\n');
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>\n");
            for (k, v) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, k);
                out.push_str("</name>\n");
                encode_value(out, v);
                out.push_str("\n</member>\n");
            }
            out.push_str("</struct>");
        }
        // Go clients choke on <nil/>; supervisord sends "none".
        Value::Nil => out.push_str("<string>none</string>"),
    }
    out.push_str("</value>");
}

pub fn encode_response(v: &Value) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n");
    encode_value(&mut out, v);
    out.push_str("\n</param>\n</params>\n</methodResponse>\n");
    out
}

/// A `methodCall` body (the console's calls to supervisord).
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from("<?xml version='1.0'?>\n<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        encode_value(&mut out, p);
        out.push_str("\n</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out
}

/// A fault as a client reads it: supervisord's code (possibly one this
/// side does not know) and its `faultString`.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteFault {
    pub code: i64,
    pub text: String,
}

impl RemoteFault {
    /// The code's name (`BAD_NAME`), when it is one of supervisord's.
    pub fn name(&self) -> Option<&'static str> {
        Code::from_i64(self.code).map(Code::name)
    }
}

/// Parse a `methodResponse`: its one value, or the fault it carries;
/// `Err` says why it is not an XML-RPC answer (never quoting it).
pub fn parse_response(body: &[u8]) -> Result<Result<Value, RemoteFault>, String> {
    let body = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let root = tree(body)?;
    if root.name != "methodResponse" {
        return Err(format!(
            "root element is <{}>, not <methodResponse>",
            root.name
        ));
    }
    if let Some(f) = elements(&root, "fault").next() {
        let v = value(elements(f, "value").next().ok_or("fault without <value>")?)?;
        let code = match v.member("faultCode") {
            Some(Value::Int(c)) => *c,
            _ => return Err("fault without an integer faultCode".into()),
        };
        let text = match v.member("faultString") {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        };
        return Ok(Err(RemoteFault { code, text }));
    }
    let p = elements(&root, "params")
        .next()
        .and_then(|ps| elements(ps, "param").next())
        .ok_or("answer without <params><param>")?;
    let v = elements(p, "value").next().ok_or("param without <value>")?;
    Ok(Ok(value(v)?))
}

#[cfg(test)]
mod tests;
