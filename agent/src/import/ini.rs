//! A faithful reader of supervisord's INI dialect.
//!
//! supervisord (4.x, Python 3) reads its files with `RawConfigParser`
//! configured as `inline_comment_prefixes=(';', '#')`, `strict=False`, and
//! the defaults for everything else. That means:
//!
//! - a line whose first non-blank character is `;` or `#` is a comment;
//! - `;` or `#` starts an inline comment only at the start of the line or
//!   right after whitespace (`a;b` is a value, `a ;b` is `a`), so
//!   `bash -c 'x ; y'` is cut at ` ;` exactly as supervisord cuts it;
//! - `key = value`, `key=value` and `key: value` (the first `=` or `:`
//!   splits); keys are lower-cased, values stripped;
//! - a line indented deeper than its option line continues the value
//!   (joined with `\n`); blank lines inside a value are kept unless they end
//!   it; comment lines inside a value are skipped;
//! - section names are case-sensitive and taken as written between `[` and
//!   the last `]` (no trimming: `[ program:x ]` is not a program section);
//! - a repeated section merges into the first, a repeated key overrides;
//! - a line before any section, or a line without `=`/`:`, is an error.

/// One `key = value` as it ends up after merging (the last one wins).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased, as supervisord's `optionxform` does.
    pub key: String,
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// 1-based line of the first header.
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Sets `key`, replacing an earlier value in place.
    pub fn set(&mut self, entry: Entry) {
        match self.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(e) => *e = entry,
            None => self.entries.push(entry),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

const INLINE_PREFIXES: [char; 2] = [';', '#'];

/// Where an inline comment starts, with configparser's exact search: it
/// looks at the 1st, then the 2nd, ... occurrence of every prefix in turn
/// and stops at the first round in which some occurrence qualifies.
fn inline_comment_start(line: &str) -> Option<usize> {
    let mut from: Vec<(char, Option<usize>)> = INLINE_PREFIXES.iter().map(|&p| (p, None)).collect();
    let mut found: Option<usize> = None;
    while found.is_none() && !from.is_empty() {
        let mut next = Vec::new();
        for (prefix, last) in &from {
            let start = last.map_or(0, |i| i + 1);
            let Some(idx) = line
                .get(start..)
                .and_then(|s| s.find(*prefix))
                .map(|i| i + start)
            else {
                continue;
            };
            next.push((*prefix, Some(idx)));
            let prev_is_space = line[..idx]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
            if idx == 0 || prev_is_space {
                found = Some(found.map_or(idx, |f: usize| f.min(idx)));
            }
        }
        from = next;
    }
    found
}

/// Parses one file's text into its sections (in order of first appearance).
pub fn parse(text: &str) -> Result<Vec<Section>, ParseError> {
    let mut sections: Vec<Section> = Vec::new();
    // The value lines of each (section, key), joined at the end.
    let mut values: Vec<Vec<Vec<String>>> = Vec::new();
    let mut cursect: Option<usize> = None;
    let mut optname: Option<usize> = None;
    let mut indent_level = 0usize;

    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut comment_start = inline_comment_start(line);
        if line.trim_start().starts_with(['#', ';']) {
            comment_start = Some(0);
        }
        let value = line[..comment_start.unwrap_or(line.len())].trim();
        if value.is_empty() {
            // empty_lines_in_values: a blank (not comment) line is kept in
            // the value being read; a trailing one is stripped at the end.
            if comment_start.is_none() {
                if let (Some(s), Some(o)) = (cursect, optname) {
                    values[s][o].push(String::new());
                }
            }
            continue;
        }
        let cur_indent = line.find(|c: char| !c.is_whitespace()).unwrap_or(0);
        if let (Some(s), Some(o)) = (cursect, optname) {
            if cur_indent > indent_level {
                values[s][o].push(value.to_string());
                continue;
            }
        }
        indent_level = cur_indent;
        if let Some(header) = section_header(value) {
            let idx = match sections.iter().position(|s| s.name == header) {
                Some(idx) => idx,
                None => {
                    sections.push(Section {
                        name: header.to_string(),
                        line: lineno,
                        entries: Vec::new(),
                    });
                    values.push(Vec::new());
                    sections.len() - 1
                }
            };
            cursect = Some(idx);
            optname = None;
            continue;
        }
        let Some(s) = cursect else {
            return Err(ParseError {
                line: lineno,
                message: format!(
                    "expected a section header such as [program:NAME] before {:?}",
                    line.trim()
                ),
            });
        };
        let Some(pos) = value.find(['=', ':']) else {
            return Err(ParseError {
                line: lineno,
                message: format!("expected \"key = value\", found {:?}", line.trim()),
            });
        };
        let key = value[..pos].trim_end();
        if key.is_empty() {
            return Err(ParseError {
                line: lineno,
                message: format!("missing key before {:?}", &value[pos..pos + 1]),
            });
        }
        let key = key.to_lowercase();
        let v = value[pos + 1..].trim().to_string();
        let sect = &mut sections[s];
        let entry = Entry {
            key,
            value: String::new(),
            line: lineno,
        };
        match sect.entries.iter().position(|e| e.key == entry.key) {
            Some(o) => {
                sect.entries[o] = entry;
                values[s][o] = vec![v];
                optname = Some(o);
            }
            None => {
                sect.entries.push(entry);
                values[s].push(vec![v]);
                optname = Some(sect.entries.len() - 1);
            }
        }
    }
    for (sect, vals) in sections.iter_mut().zip(values) {
        for (e, lines) in sect.entries.iter_mut().zip(vals) {
            e.value = lines.join("\n").trim_end().to_string();
        }
    }
    Ok(sections)
}

/// `[name]`: everything between the `[` and the last `]` (configparser's
/// permissive, unanchored `\[(?P<header>.+)\]`).
fn section_header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Section {
        let mut s = parse(text).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        s.remove(0)
    }

    fn val<'a>(s: &'a Section, k: &str) -> &'a str {
        &s.get(k).unwrap_or_else(|| panic!("no {k} in {s:?}")).value
    }

    #[test]
    fn key_value_forms_and_case() {
        let s =
            one("[program:x]\n\tpriority\t=\t5\t\nCommand=a b\nuser = root\nDirectory :  /srv  \n");
        assert_eq!(s.name, "program:x");
        assert_eq!(val(&s, "command"), "a b");
        assert_eq!(val(&s, "user"), "root");
        assert_eq!(val(&s, "directory"), "/srv");
        // Indented first option after a header is an option, not a continuation.
        assert_eq!(val(&s, "priority"), "5");
        assert_eq!(s.get("command").unwrap().line, 3);
    }

    #[test]
    fn first_delimiter_splits() {
        let s = one("[a]\nurl=http://x:1/\nb: c=d\nenv=A=\"1\"\n");
        assert_eq!(val(&s, "url"), "http://x:1/");
        assert_eq!(val(&s, "b"), "c=d");
        assert_eq!(val(&s, "env"), "A=\"1\"");
    }

    #[test]
    fn comments() {
        let s = one(
            "; head\n# head\n[a]\n  ; indented comment\nx = 1 ; inline\ny = a;b\nz = a #b\nw = a#b\n\
             cmd = bash -c 'echo 1 ; echo 2'\nq = ;all comment\n",
        );
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "a;b");
        assert_eq!(val(&s, "z"), "a");
        assert_eq!(val(&s, "w"), "a#b");
        assert_eq!(val(&s, "cmd"), "bash -c 'echo 1");
        assert_eq!(val(&s, "q"), "");
    }

    #[test]
    fn inline_comment_search_quirk() {
        // Round 1: ';' at 5 qualifies, '#' at 1 does not; round 2 never runs,
        // so the '#' at 8 (which would qualify) is not seen.
        assert_eq!(inline_comment_start("a#b ; c #d"), Some(4));
        assert_eq!(inline_comment_start("a#b c #d ;e"), Some(9));
        assert_eq!(inline_comment_start("plain"), None);
        assert_eq!(inline_comment_start("\t;x"), Some(1));
    }

    #[test]
    fn continuation_lines() {
        let s = one("[a]\nenvironment = A=\"1\",\n    B=\"2\",\n\n\tC=\"3\"\n  ; skipped\n    D=\"4\"\n\nnext=1\n");
        assert_eq!(
            val(&s, "environment"),
            "A=\"1\",\nB=\"2\",\n\nC=\"3\"\nD=\"4\""
        );
        assert_eq!(val(&s, "next"), "1");
    }

    #[test]
    fn continuation_relative_to_option_indent() {
        let s = one("[a]\n  x = 1\n  y = 2\n    more\n");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "2\nmore");
    }

    #[test]
    fn sections_merge_and_keys_override() {
        let s = parse("[a]\nx=1\ny=1\n[b]\nz=1\n[a]\nx=2\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(val(&s[0], "x"), "2");
        assert_eq!(s[0].get("x").unwrap().line, 7);
        assert_eq!(val(&s[0], "y"), "1");
    }

    #[test]
    fn headers_are_taken_verbatim() {
        let s = parse("[ program:x ]\n[Program:Y]\n[a]]] trailing\n").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [" program:x ", "Program:Y", "a]]"]);
    }

    #[test]
    fn crlf_and_no_trailing_newline() {
        let s = one("[a]\r\nx = 1\r\ny=2");
        assert_eq!(val(&s, "x"), "1");
        assert_eq!(val(&s, "y"), "2");
    }

    #[test]
    fn errors_have_lines() {
        let e = parse("\n; c\nx = 1\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("section header"), "{}", e.message);
        let e = parse("[a]\nx = 1\njust words\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("key = value"), "{}", e.message);
        let e = parse("[a]\n= 1\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
