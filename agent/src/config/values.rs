//! Parsers for single option values (numbers, durations, umask, sizes,
//! signals, autorestart). Each returns the tail of the message, e.g.
//! `expected an integer >= 1, found 0`; the caller prefixes the key path.

use std::time::Duration;

use super::model::{AutoRestart, Leftovers};
use super::raw::Raw;

fn found(v: &Raw) -> String {
    format!("found {}", v.describe())
}

/// An integer in `min..=max`; the message names only the bounds that matter.
pub(crate) fn int_in(v: &Raw, min: i64, max: i64) -> Result<i64, String> {
    // Bounds that are just "whatever fits" are noise unless they were hit.
    let huge = |b: i64| b.unsigned_abs() >= i32::MAX as u64;
    let expected = match v {
        Raw::Integer(i) if *i > max && huge(max) => format!("an integer <= {max}"),
        Raw::Integer(i) if *i < min && huge(min) => format!("an integer >= {min}"),
        _ => match (huge(min), huge(max)) {
            (true, true) => "an integer".to_string(),
            (false, true) => format!("an integer >= {min}"),
            _ => format!("an integer in {min}..={max}"),
        },
    };
    match v {
        Raw::Integer(i) if (min..=max).contains(i) => Ok(*i),
        _ => Err(format!("expected {expected}, {}", found(v))),
    }
}

pub(crate) fn boolean(v: &Raw) -> Result<bool, String> {
    match v {
        Raw::Boolean(b) => Ok(*b),
        _ => Err(format!("expected true or false, {}", found(v))),
    }
}

/// Seconds as an integer or a float (`0.5`), non-negative and finite.
pub(crate) fn seconds(v: &Raw) -> Result<Duration, String> {
    let secs = match v {
        Raw::Integer(i) => *i as f64,
        Raw::Float(f) => *f,
        _ => f64::NAN,
    };
    if secs >= 0.0 {
        if let Ok(d) = Duration::try_from_secs_f64(secs) {
            return Ok(d);
        }
    }
    Err(format!(
        "expected a non-negative number of seconds (e.g. 10 or 0.5), {}",
        found(v)
    ))
}

/// A duration: seconds as a number (`10`, `0.5`) or a string with a unit
/// (`"500ms"`, `"5s"`, `"2m"`, `"1h"`).
pub(crate) fn duration(v: &Raw) -> Result<Duration, String> {
    let Raw::String(s) = v else {
        return seconds(v).map_err(|_| {
            format!(
                "expected a duration such as \"5s\", \"500ms\" or \"2m\" (or seconds as a number), {}",
                found(v)
            )
        });
    };
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match num.parse::<f64>().map(|n| n * scale) {
        Ok(secs) if secs >= 0.0 => Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()),
        _ => Err(format!(
            "expected a duration such as \"5s\", \"500ms\" or \"2m\", {}",
            found(v)
        )),
    }
}

/// `"022"`, `"0o022"` or an integer written like supervisord's `022`.
///
/// `literal` is the integer as written in the file: TOML reads `022` as
/// decimal 22, so we take its digits as octal (supervisord's meaning), but
/// `0o022` is already octal in TOML and must not be reinterpreted.
pub(crate) fn umask(v: &Raw, literal: &str) -> Result<u32, String> {
    let err = || {
        format!(
            "expected an octal umask such as \"022\" or \"0o027\" (at most 0o777), {}",
            found(v)
        )
    };
    let value = match v {
        Raw::String(s) => {
            let s = s.trim();
            let digits = s.strip_prefix("0o").unwrap_or(s);
            if digits.is_empty() {
                return Err(err());
            }
            u32::from_str_radix(digits, 8).map_err(|_| err())?
        }
        Raw::Integer(i) if *i >= 0 => {
            let lit = literal.trim().replace('_', "");
            if lit.starts_with("0o") || lit.starts_with("0x") || lit.starts_with("0b") {
                u32::try_from(*i).map_err(|_| err())?
            } else {
                u32::from_str_radix(&i.to_string(), 8).map_err(|_| err())?
            }
        }
        _ => return Err(err()),
    };
    if value > 0o777 {
        return Err(err());
    }
    Ok(value)
}

/// Bytes as an integer or a string with a KB/MB/GB suffix (1024-based, as
/// in supervisord). 0 disables rotation.
pub(crate) fn bytes(v: &Raw) -> Result<u64, String> {
    let err = || {
        format!(
            "expected a size in bytes (an integer >= 0, or a string like \"50MB\" with a KB, MB \
             or GB suffix), {}",
            found(v)
        )
    };
    match v {
        Raw::Integer(i) => u64::try_from(*i).map_err(|_| err()),
        Raw::String(s) => {
            let s = s.trim();
            let upper = s.to_ascii_uppercase();
            let (digits, mult) = [("KB", 1u64 << 10), ("MB", 1 << 20), ("GB", 1 << 30)]
                .iter()
                .find_map(|(suf, m)| upper.strip_suffix(suf).map(|d| (d.trim_end(), *m)))
                .unwrap_or((upper.as_str(), 1));
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            digits
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(mult))
                .ok_or_else(err)
        }
        _ => Err(err()),
    }
}

/// A signal name with or without `SIG`, any case (or its number as a
/// string): the wire's one rule, `fleet_api::Signal`; returns its number.
pub(crate) fn signal(v: &Raw) -> Result<i32, String> {
    if let Raw::String(s) = v {
        if let Ok(sig) = s.parse::<fleet_api::Signal>() {
            return Ok(sig.number());
        }
    }
    Err(format!(
        "expected a signal name such as TERM, HUP, INT, QUIT, KILL, USR1 or USR2, {}",
        found(v)
    ))
}

/// `true`, `false` or `"unexpected"` (strings `"true"`/`"false"` too).
pub(crate) fn autorestart(v: &Raw) -> Result<AutoRestart, String> {
    match v {
        Raw::Boolean(true) => Ok(AutoRestart::Always),
        Raw::Boolean(false) => Ok(AutoRestart::Never),
        Raw::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(AutoRestart::Always),
            "false" => Ok(AutoRestart::Never),
            "unexpected" => Ok(AutoRestart::Unexpected),
            _ => Err(format!(
                "expected true, false or \"unexpected\", {}",
                found(v)
            )),
        },
        _ => Err(format!(
            "expected true, false or \"unexpected\", {}",
            found(v)
        )),
    }
}

/// `"stop"` or `"keep"`.
/// `startretries`: a count, or `"infinite"` (never FATAL).
pub(crate) fn startretries(v: &Raw) -> Result<u32, String> {
    match v {
        Raw::String(s) if s.trim().eq_ignore_ascii_case("infinite") => {
            Ok(super::model::INFINITE_RETRIES)
        }
        Raw::Integer(_) => {
            int_in(v, 0, i64::from(super::model::INFINITE_RETRIES) - 1).map(|n| n as u32)
        }
        _ => Err(format!("expected a count or \"infinite\", {}", found(v))),
    }
}

/// `backoff = "linear" | "exponential"`.
pub(crate) fn backoff(v: &Raw) -> Result<super::model::Backoff, String> {
    use super::model::Backoff;
    match v {
        Raw::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "linear" => Ok(Backoff::Linear),
            "exponential" => Ok(Backoff::Exponential),
            _ => Err(format!(
                "expected \"linear\" or \"exponential\", {}",
                found(v)
            )),
        },
        _ => Err(format!(
            "expected \"linear\" or \"exponential\", {}",
            found(v)
        )),
    }
}

pub(crate) fn leftovers(v: &Raw) -> Result<Leftovers, String> {
    match v {
        Raw::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "stop" => Ok(Leftovers::Stop),
            "keep" => Ok(Leftovers::Keep),
            _ => Err(format!("expected \"stop\" or \"keep\", {}", found(v))),
        },
        _ => Err(format!("expected \"stop\" or \"keep\", {}", found(v))),
    }
}

/// `exitcodes = [0, 2]`: a non-empty array of codes 0..=255.
pub(crate) fn exitcodes(v: &Raw) -> Result<Vec<i32>, String> {
    let expected = "expected a non-empty array of exit codes (integers 0..=255)";
    match v {
        Raw::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item.get_ref() {
                Raw::Integer(i) if (0..=255).contains(i) => Ok(*i as i32),
                other => Err(format!("{expected}, found {}", other.describe())),
            })
            .collect(),
        other => Err(format!("{expected}, found {}", other.describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Raw {
        Raw::String(x.into())
    }

    #[test]
    fn integers() {
        assert_eq!(int_in(&Raw::Integer(4), 1, i64::from(u32::MAX)), Ok(4));
        assert_eq!(
            int_in(&Raw::Integer(0), 1, i64::from(u32::MAX)).unwrap_err(),
            "expected an integer >= 1, found 0"
        );
        assert_eq!(
            int_in(&s("4"), 0, 255).unwrap_err(),
            "expected an integer in 0..=255, found \"4\""
        );
        assert_eq!(
            int_in(&Raw::Float(1.0), i64::MIN, i64::MAX).unwrap_err(),
            "expected an integer, found 1.0"
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(boolean(&Raw::Boolean(true)), Ok(true));
        assert_eq!(
            boolean(&s("yes")).unwrap_err(),
            "expected true or false, found \"yes\""
        );
    }

    #[test]
    fn duration_strings() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("5s", ms(5000)),
            ("500ms", ms(500)),
            ("2m", ms(120_000)),
            ("1h", ms(3_600_000)),
            ("0.5s", ms(500)),
            ("7", ms(7000)),
        ] {
            assert_eq!(duration(&s(text)), Ok(want), "{text}");
        }
        assert_eq!(duration(&Raw::Integer(3)), Ok(ms(3000)));
        for bad in ["", "s", "5 days", "-1s", "1.2.3s", "5sec"] {
            let e = duration(&s(bad)).unwrap_err();
            assert!(e.starts_with("expected a duration such as"), "{bad}: {e}");
        }
        assert!(duration(&Raw::Boolean(true)).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(seconds(&Raw::Integer(10)), Ok(Duration::from_secs(10)));
        assert_eq!(seconds(&Raw::Integer(0)), Ok(Duration::ZERO));
        assert_eq!(seconds(&Raw::Float(0.5)), Ok(Duration::from_millis(500)));
        for bad in [
            Raw::Integer(-1),
            Raw::Float(-0.5),
            Raw::Float(f64::NAN),
            Raw::Float(f64::INFINITY),
            Raw::Float(1e300),
            s("10"),
        ] {
            let e = seconds(&bad).unwrap_err();
            assert!(
                e.starts_with("expected a non-negative number of seconds"),
                "{e}"
            );
        }
    }

    #[test]
    fn umasks() {
        assert_eq!(umask(&s("022"), ""), Ok(0o022));
        assert_eq!(umask(&s("0o027"), ""), Ok(0o027));
        assert_eq!(umask(&s("777"), ""), Ok(0o777));
        assert_eq!(umask(&Raw::Integer(22), "022"), Ok(0o022));
        assert_eq!(umask(&Raw::Integer(22), "22"), Ok(0o022));
        assert_eq!(umask(&Raw::Integer(0), "0"), Ok(0));
        // TOML's own octal literal keeps its value.
        assert_eq!(umask(&Raw::Integer(0o27), "0o027"), Ok(0o027));
        for (bad, lit) in [
            (s("089"), ""),
            (s("1000"), ""),
            (s(""), ""),
            (s("0o"), ""),
            (s("abc"), ""),
            (Raw::Integer(28), "28"),
            (Raw::Integer(1000), "1000"),
            (Raw::Integer(-1), "-1"),
            (Raw::Boolean(true), "true"),
        ] {
            let e = umask(&bad, lit).unwrap_err();
            assert!(e.starts_with("expected an octal umask"), "{e}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(&Raw::Integer(0)), Ok(0));
        assert_eq!(bytes(&Raw::Integer(1234)), Ok(1234));
        assert_eq!(bytes(&s("1234")), Ok(1234));
        assert_eq!(bytes(&s("1KB")), Ok(1024));
        assert_eq!(bytes(&s("50MB")), Ok(50 * 1024 * 1024));
        assert_eq!(bytes(&s("2gb")), Ok(2 << 30));
        assert_eq!(bytes(&s(" 10 MB ")), Ok(10 << 20));
        for bad in [
            s("MB"),
            s("1.5MB"),
            s("10TB"),
            s("-1"),
            s("99999999999999999999GB"),
            Raw::Integer(-1),
            Raw::Float(1.0),
        ] {
            assert!(bytes(&bad).unwrap_err().starts_with("expected a size"));
        }
    }

    #[test]
    fn signals() {
        assert_eq!(signal(&s("TERM")), Ok(libc::SIGTERM));
        assert_eq!(signal(&s("SIGTERM")), Ok(libc::SIGTERM));
        assert_eq!(signal(&s("hup")), Ok(libc::SIGHUP));
        assert_eq!(signal(&s("sigint")), Ok(libc::SIGINT));
        assert_eq!(signal(&s("Quit")), Ok(libc::SIGQUIT));
        assert_eq!(signal(&s("KILL")), Ok(libc::SIGKILL));
        assert_eq!(signal(&s("USR1")), Ok(libc::SIGUSR1));
        assert_eq!(signal(&s("usr2")), Ok(libc::SIGUSR2));
        assert_eq!(signal(&s("WINCH")), Ok(libc::SIGWINCH));
        assert_eq!(
            signal(&s("TERMINATE")).unwrap_err(),
            "expected a signal name such as TERM, HUP, INT, QUIT, KILL, USR1 or USR2, \
             found \"TERMINATE\""
        );
        assert!(signal(&Raw::Integer(15)).is_err());
        assert!(signal(&s("")).is_err());
    }

    #[test]
    fn autorestarts() {
        assert_eq!(autorestart(&Raw::Boolean(true)), Ok(AutoRestart::Always));
        assert_eq!(autorestart(&Raw::Boolean(false)), Ok(AutoRestart::Never));
        assert_eq!(autorestart(&s("true")), Ok(AutoRestart::Always));
        assert_eq!(autorestart(&s("FALSE")), Ok(AutoRestart::Never));
        assert_eq!(autorestart(&s("unexpected")), Ok(AutoRestart::Unexpected));
        assert_eq!(
            autorestart(&s("sometimes")).unwrap_err(),
            "expected true, false or \"unexpected\", found \"sometimes\""
        );
        assert!(autorestart(&Raw::Integer(1)).is_err());
    }
}
