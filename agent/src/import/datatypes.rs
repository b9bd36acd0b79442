//! supervisord's value types, parsed with its own rules (`datatypes.py`):
//! booleans `true/yes/on/1`, sizes `50MB` 1024-based, signals by name or
//! number, `exitcodes=0,2`, octal umask, `environment=A="1",B="2"` read
//! with Python's `shlex`. A value supervisord rejects is an error here too.

pub(super) fn py_int(s: &str) -> Result<i64, String> {
    let t = s.trim().replace('_', "");
    t.strip_prefix('+')
        .unwrap_or(&t)
        .parse::<i64>()
        .map(|_| ())
        .and_then(|()| t.parse::<i64>())
        .map_err(|_| format!("{s:?} is not an integer"))
}

pub(super) fn boolean(s: &str) -> Result<bool, String> {
    match s.to_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "{s:?} is not a boolean (true/false, yes/no, on/off, 1/0)"
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Restart {
    Always,
    Never,
    Unexpected,
}

pub(super) fn auto_restart(s: &str) -> Result<Restart, String> {
    match s.to_lowercase().as_str() {
        "false" | "no" | "off" | "0" => Ok(Restart::Never),
        "unexpected" => Ok(Restart::Unexpected),
        "true" | "yes" | "on" | "1" => Ok(Restart::Always),
        _ => Err(format!(
            "invalid autorestart value {s:?} (true, false or unexpected)"
        )),
    }
}

pub(super) fn byte_size(s: &str) -> Result<u64, String> {
    let v = s.to_lowercase();
    let (digits, mult) = [("kb", 1u64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| v.strip_suffix(suf).map(|d| (d, *m)))
        .unwrap_or((v.as_str(), 1));
    let n = py_int(digits).map_err(|_| format!("{s:?} is not a size (e.g. 50MB)"))?;
    u64::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 50MB)"))
}

/// A signal name without `SIG`, from a name or a number (Python's int()
/// syntax, as supervisord reads it); the set is the wire's, `fleet_api::Signal`.
pub(super) fn signal_name(s: &str) -> Result<String, String> {
    use fleet_api::Signal;
    let sig = match py_int(s) {
        Ok(n) => i32::try_from(n).ok().and_then(Signal::from_number),
        Err(_) => s.parse::<Signal>().ok(),
    };
    sig.map(|s| s.name().to_string())
        .ok_or_else(|| format!("value {s:?} is not a valid signal name"))
}

pub(super) fn exitcodes(s: &str) -> Result<Vec<i64>, String> {
    s.split(',')
        .map(|c| match py_int(c) {
            Ok(n) if (0..=255).contains(&n) => Ok(n),
            _ => Err(format!(
                "{s:?} is not a list of exit codes (0-255, e.g. 0,2)"
            )),
        })
        .collect()
}

pub(super) fn octal(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    u32::from_str_radix(t, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal umask (e.g. 022)"))
}

/// Python's non-POSIX `shlex` tokens, as `dict_of_key_value_pairs` reads
/// them: words of letters, digits and `_/.+-():` (plus the `{}$` of fleet
/// templates already substituted in), quoted strings kept with their quotes,
/// any other character a token of its own, `#` a comment to end of line.
pub(super) fn shlex_tokens(s: &str) -> Result<Vec<String>, String> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "_/.+-():{}$".contains(c);
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let mut tokens = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let skip_comment = |i: &mut usize| {
        while *i < chars.len() && chars[*i] != '\n' {
            *i += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        if is_space(c) {
            i += 1;
        } else if c == '#' {
            skip_comment(&mut i);
        } else if c == '"' || c == '\'' {
            let mut tok = String::from(c);
            i += 1;
            loop {
                let Some(&n) = chars.get(i) else {
                    return Err("no closing quotation".into());
                };
                tok.push(n);
                i += 1;
                if n == c {
                    break;
                }
            }
            tokens.push(tok);
        } else if is_word(c) {
            let mut tok = String::new();
            while let Some(&n) = chars.get(i) {
                if is_word(n) || n == '"' || n == '\'' {
                    tok.push(n);
                    i += 1;
                } else if n == '#' {
                    // Non-POSIX shlex skips the comment but keeps the word going.
                    skip_comment(&mut i);
                } else {
                    break;
                }
            }
            tokens.push(tok);
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    Ok(tokens)
}

/// Variables in order.
pub(super) type Pairs = Vec<(String, String)>;

/// `KEY="val",KEY2=val2` as supervisord's `dict_of_key_value_pairs` reads
/// it. That function skips one token after each pair without checking it
/// is a comma, so `A=hello world` is `A=hello`: the skipped non-commas are
/// returned second, for a warning.
pub(super) fn key_value_pairs(s: &str) -> Result<(Pairs, Vec<String>), String> {
    let tokens = shlex_tokens(s)?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut dropped = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(sep) = tokens.get(i + 3).filter(|t| *t != ",") {
            dropped.push(sep.clone());
        }
        match tokens.get(i..i + 3) {
            Some([k, eq, v]) if eq == "=" => {
                let v = v.trim_matches(['\'', '"']).to_string();
                match out.iter_mut().find(|(x, _)| x == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k.clone(), v)),
                }
            }
            _ => return Err(format!("unexpected end of key/value pairs in value {s:?}")),
        }
        i += 4;
    }
    Ok((out, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatypes() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("OFF"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(auto_restart("unexpected"), Ok(Restart::Unexpected));
        assert_eq!(auto_restart("TRUE"), Ok(Restart::Always));
        assert_eq!(byte_size("50MB"), Ok(50 << 20));
        assert_eq!(byte_size("1kb"), Ok(1024));
        assert_eq!(byte_size("0"), Ok(0));
        assert!(byte_size("1.5MB").is_err());
        assert_eq!(signal_name("TERM").unwrap(), "TERM");
        assert_eq!(signal_name("sigquit").unwrap(), "QUIT");
        assert_eq!(signal_name("9").unwrap(), "KILL");
        assert_eq!(signal_name("15").unwrap(), "TERM");
        assert!(signal_name("NOPE").is_err());
        assert_eq!(exitcodes("0,2"), Ok(vec![0, 2]));
        assert_eq!(exitcodes(" 0 , 3 "), Ok(vec![0, 3]));
        assert!(exitcodes("0,256").is_err());
        assert_eq!(octal("022"), Ok(0o22));
        assert_eq!(octal("002"), Ok(2));
        assert!(octal("8").is_err());
        assert_eq!(py_int(" +5 "), Ok(5));
        assert_eq!(py_int("1_000"), Ok(1000));
        assert!(py_int("5s").is_err());
    }

    #[test]
    fn environment_syntax() {
        let kv = |s: &str| {
            let (pairs, dropped) = key_value_pairs(s).unwrap();
            assert!(dropped.is_empty(), "{dropped:?}");
            pairs
        };
        assert_eq!(
            kv("A=\"1\",B=\"2\""),
            [("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(
            kv("PATH=\"/opt/venv/bin:/usr/bin\", C_FORCE_ROOT=true ,\n  URL='redis://h:6379/0'"),
            [
                ("PATH".into(), "/opt/venv/bin:/usr/bin".into()),
                ("C_FORCE_ROOT".into(), "true".into()),
                ("URL".into(), "redis://h:6379/0".into()),
            ]
        );
        // Commas and spaces need quotes; the last duplicate wins.
        assert_eq!(kv("A=\"x, y\",A=z"), [("A".into(), "z".into())]);
        assert_eq!(
            kv("W={num:02},H=${HOME}/x"),
            [
                ("W".into(), "{num:02}".into()),
                ("H".into(), "${HOME}/x".into())
            ]
        );
        assert_eq!(kv(""), []);
        // supervisord's quirk: the token after a pair is skipped unchecked.
        let (pairs, dropped) = key_value_pairs("A=hello world").unwrap();
        assert_eq!(pairs, [("A".into(), "hello".into())]);
        assert_eq!(dropped, ["world"]);
        assert!(key_value_pairs("A=x@y").is_err());
        assert!(key_value_pairs("A=\"open").is_err());
    }
}
