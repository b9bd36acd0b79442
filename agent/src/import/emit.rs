//! Writes the converted config as TOML, each table preceded by a comment
//! naming the supervisord section and file it came from.

use std::fmt::Write;

use super::output::{Output, Val};

/// A TOML basic string (escaped by the toml crate).
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A key, bare when TOML allows it.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml_str(k)
    }
}

fn value(v: &Val) -> String {
    match v {
        Val::Str(s) => toml_str(s),
        Val::Int(i) => i.to_string(),
        Val::Bool(b) => b.to_string(),
        Val::Strs(items) => {
            let items: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
            format!("[{}]", items.join(", "))
        }
        Val::Ints(items) => {
            let items: Vec<String> = items.iter().map(i64::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        Val::Table(pairs) => {
            let items: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_str(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// Comment lines: one `# ` per line of text.
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "# {line}");
    }
}

/// The whole TOML document.
pub fn emit(o: &Output) -> String {
    let mut out = String::new();
    out.push_str("# fleet-agent config converted from supervisord by `fleet-agent import`.\n");
    if let Some((main, rest)) = o.files.split_first() {
        let _ = writeln!(out, "# Source: {}", main.display());
        for f in rest {
            let _ = writeln!(out, "#   included: {}", f.display());
        }
    }
    let _ = writeln!(
        out,
        "# {} warning(s) were printed when converting; review them, then run `fleet-agent check` on this file.",
        o.warnings.len()
    );
    for b in &o.blocks {
        out.push('\n');
        for c in &b.comments {
            comment(&mut out, c);
        }
        if !b.header.is_empty() {
            let header: Vec<String> = b.header.split('.').map(toml_key).collect();
            // `program.NAME` where NAME may itself contain dots.
            let mut header = match b.header.split_once('.') {
                Some((kind, name)) if name.contains('.') => format!("{kind}.{}", toml_str(name)),
                _ => header.join("."),
            };
            if let Some(sub) = &b.sub {
                header = format!("{header}.{}", toml_key(sub));
            }
            let _ = writeln!(out, "[{header}]");
        }
        for item in &b.items {
            let _ = writeln!(out, "{} = {}", toml_key(&item.key), value(&item.val));
        }
        for t in &b.trailer {
            comment(&mut out, t);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::output::{Block, Item};
    use super::*;

    #[test]
    fn values_and_headers() {
        let o = Output {
            files: vec!["/etc/supervisord.conf".into()],
            blocks: vec![
                Block {
                    header: "program.web.v2".into(),
                    comments: vec!["from [program:web.v2]".into()],
                    items: vec![
                        Item {
                            key: "command".into(),
                            val: Val::Str("sh -c \"echo \\\"hi\\\"\"".into()),
                        },
                        Item {
                            key: "exitcodes".into(),
                            val: Val::Ints(vec![0, 2]),
                        },
                        Item {
                            key: "environment".into(),
                            val: Val::Table(vec![("A".into(), "1".into())]),
                        },
                    ],
                    trailer: vec!["note".into()],
                    ..Block::default()
                },
                Block {
                    header: "program.web.v2".into(),
                    sub: Some("health".into()),
                    items: vec![Item {
                        key: "http".into(),
                        val: Val::Str("http://127.0.0.1:8080/".into()),
                    }],
                    ..Block::default()
                },
                Block {
                    // A program named `web.health` is no sub-table.
                    header: "program.web.health".into(),
                    items: vec![Item {
                        key: "command".into(),
                        val: Val::Str("true".into()),
                    }],
                    ..Block::default()
                },
            ],
            warnings: vec![],
        };
        let text = emit(&o);
        assert!(text.contains("[program.\"web.v2\"]\n"), "{text}");
        assert!(text.contains("exitcodes = [0, 2]\n"), "{text}");
        assert!(text.contains("environment = { A = \"1\" }\n"), "{text}");
        assert!(text.contains("# note\n"), "{text}");
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert!(text.contains("[program.\"web.v2\".health]\n"), "{text}");
        assert!(text.contains("[program.\"web.health\"]\n"), "{text}");
        assert_eq!(
            parsed["program"]["web.v2"]["health"]["http"]
                .as_str()
                .unwrap(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            parsed["program"]["web.health"]["command"].as_str().unwrap(),
            "true"
        );
        assert_eq!(
            parsed["program"]["web.v2"]["command"].as_str().unwrap(),
            "sh -c \"echo \\\"hi\\\"\""
        );
    }
}
