//! `environment_file`: systemd's `EnvironmentFile=` syntax. `KEY=VALUE`
//! lines; blank lines and lines starting with `#` or `;` are comments; an
//! optional leading `export `; a value in double quotes (with `\"`, `\\`,
//! `\$`, `` \` `` and `\n` escapes, and may span lines), in single quotes
//! (literal), or bare (spaces around it dropped, a backslash escapes the
//! next character, a trailing backslash joins the next line). Errors name
//! the line and never quote a value: these files hold secrets.

use super::expand::is_env_name;

/// The most bytes an environment file may hold (a file of that size is a
/// mistake, such as a binary or a device).
pub const MAX_BYTES: u64 = 1 << 20;

/// `KEY=VALUE` pairs in file order, or (line, why) for the first error.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let line_no = i + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            return Err((line_no, "expected KEY=VALUE".into()));
        };
        let key = key.trim_end();
        if !is_env_name(key) {
            return Err((
                line_no,
                format!(
                    "invalid variable name {key:?} (expected letters, digits and _, \
                     not starting with a digit)"
                ),
            ));
        }
        let value = value(rest.trim_start(), &mut || lines.next().map(|(_, l)| l))
            .map_err(|why| (line_no, format!("{key}: {why}")))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// One value, reading more lines from `more` where it continues.
fn value<'a>(first: &'a str, more: &mut dyn FnMut() -> Option<&'a str>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = first.to_string();
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            rest.remove(0);
            loop {
                let mut chars = rest.chars();
                while let Some(c) = chars.next() {
                    match c {
                        c if c == q => {
                            let tail = chars.as_str().trim();
                            if !tail.is_empty() && !tail.starts_with('#') {
                                return Err("text after the closing quote".into());
                            }
                            return Ok(out);
                        }
                        '\\' if q == '"' => match chars.next() {
                            Some('n') => out.push('\n'),
                            Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                            Some(c) => {
                                out.push('\\');
                                out.push(c);
                            }
                            // A backslash at the end joins the next line.
                            None => break,
                        },
                        c => out.push(c),
                    }
                }
                let ended_with_join = q == '"' && rest.ends_with('\\') && !rest.ends_with("\\\\");
                if !ended_with_join {
                    out.push('\n');
                }
                rest = more()
                    .ok_or_else(|| format!("no closing {q} before the end of the file"))?
                    .to_string();
            }
        }
        _ => loop {
            let mut chars = rest.trim_end().chars().peekable();
            let mut joined = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some(c) => out.push(c),
                        None => joined = true,
                    }
                } else {
                    out.push(c);
                }
            }
            if !joined {
                return Ok(out.trim_end().to_string());
            }
            match more() {
                Some(l) => rest = l.trim_start().to_string(),
                None => return Ok(out),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_syntax() {
        let text = "# comment\n; also\n\nA=1\nexport B = two words \nC=\"quoted \\\"x\\\" \\$HOME\"\nD='lit $X \\n'\nE=a\\\n  b\nF=\"multi\nline\"\nG=\n";
        let got = parse(text).unwrap();
        assert_eq!(
            got,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "quoted \"x\" $HOME".into()),
                ("D".into(), "lit $X \\n".into()),
                ("E".into(), "ab".into()),
                ("F".into(), "multi\nline".into()),
                ("G".into(), "".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_never_the_value() {
        let e = parse("A=1\nthis is not a pair\n").unwrap_err();
        assert_eq!(e.0, 2);
        let e = parse("A=1\n9X=secret-value\n").unwrap_err();
        assert_eq!(e.0, 2);
        assert!(!e.1.contains("secret-value"), "{}", e.1);
        let e = parse("K=\"unclosed secret-value\n").unwrap_err();
        assert_eq!(e.0, 1);
        assert!(!e.1.contains("secret-value"), "{}", e.1);
        assert!(e.1.contains("closing"), "{}", e.1);
        let e = parse("K='x' trailing\n").unwrap_err();
        assert!(e.1.contains("after the closing quote"), "{}", e.1);
    }
}
