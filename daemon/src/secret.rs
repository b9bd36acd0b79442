//! [`Secret`]: a token or password that never prints itself;
//! [`resolve`]: the one reader of a token's source (inline, `*_file`,
//! `*_env`, a flag or an environment variable) with one trimming rule; and
//! [`too_weak`]: the one minimum-strength rule both daemons apply to the
//! tokens in their configs.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// A secret string. `Debug` shows `Secret(…)`, never the value, and there
/// is no `Display`: the only way to the text is [`Secret::expose`], so a
/// config struct can derive `Debug` and be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Where a token comes from. No `Debug`: `Inline` holds the token itself.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// Written in a config (`token = "…"`) or given as a flag.
    Inline(&'a str),
    /// A file holding the token (`token_file`, `--token-file`).
    File(&'a Path),
    /// The name of an environment variable holding the token (`token_env`).
    Env(&'a str),
}

/// A token file larger than this is not a token file (a key, a log, a
/// device): refused rather than read whole.
pub const MAX_FILE_BYTES: u64 = 4096;

/// The token `source` names, by one rule for every source and every
/// caller: whitespace around it is dropped (a file written by `echo` ends
/// in `\n`, one saved on Windows in `\r\n`, and a token is never padded),
/// and what remains must be one non-empty word: a bearer token cannot
/// hold a space (RFC 6750's b64token), so a space or control character
/// inside (a file of two lines, a pasted phrase) is refused rather than
/// sent and mismatched. `env` looks a variable up (`std::env::var(n).ok()`
/// in production; a map in tests). Errors name the source (the path, the
/// variable), never the value; the caller prefixes its key.
pub fn resolve(source: Source<'_>, env: impl Fn(&str) -> Option<String>) -> Result<Secret, String> {
    let (text, origin) = match source {
        Source::Inline(s) => (s.to_owned(), "the token".to_owned()),
        Source::File(path) => (read_file(path)?, path.display().to_string()),
        Source::Env(name) => match env(name).filter(|v| !v.trim().is_empty()) {
            Some(v) => (v, format!("environment variable {name}")),
            None => {
                return Err(format!(
                    "environment variable {name} is not set or is empty"
                ))
            }
        },
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{origin} is empty"));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{origin} holds a space, line break or control character inside the token; a token is one word (generate one with `{GENERATE_TOKEN}`)"
        ));
    }
    Ok(Secret::new(token))
}

fn read_file(path: &Path) -> Result<String, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    // Bounded: `/dev/zero` or a multi-gigabyte file must not hang the load.
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {MAX_FILE_BYTES} bytes: not a token file",
            path.display()
        ));
    }
    // The io error for invalid UTF-8 does not quote the bytes.
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// Tokens carry at least 128 bits: 22 base64 characters. A token is
/// compared as text, so characters are counted, whatever their alphabet.
pub const MIN_TOKEN_CHARS: usize = 22;

/// How to make a good token, named in every refusal.
pub const GENERATE_TOKEN: &str = "head -c 32 /dev/urandom | base64";

/// Why `token` is too short to be a credential, or `None` when it is long
/// enough. The message names the command that generates a good one.
pub fn too_weak(token: &str) -> Option<String> {
    (token.chars().count() < MIN_TOKEN_CHARS).then(|| {
        format!(
            "token is shorter than {MIN_TOKEN_CHARS} characters (128 bits); generate one with `{GENERATE_TOKEN}`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// An error never quotes the value (nor any part of it).
    fn refused(r: Result<Secret, String>, secret_part: &str) -> String {
        let e = r.expect_err("must be refused");
        assert!(!e.contains(secret_part), "the error quotes the value: {e}");
        e
    }

    #[test]
    fn every_source_drops_surrounding_whitespace_by_one_rule() {
        let dir = tempfile::tempdir().unwrap();
        let padded = [
            TOKEN.to_string(),
            format!("{TOKEN}\n"),
            format!("{TOKEN}\r\n"),
            format!("  {TOKEN}\t\n\n"),
            format!("\n{TOKEN} "),
        ];
        for (i, text) in padded.iter().enumerate() {
            let env = |n: &str| (n == "TOK").then(|| text.clone());
            let path = file(&dir, &format!("t{i}"), text.as_bytes());
            for source in [
                Source::Inline(text),
                Source::File(&path),
                Source::Env("TOK"),
            ] {
                assert_eq!(resolve(source, env).unwrap().expose(), TOKEN, "{text:?}");
            }
        }
    }

    #[test]
    fn empty_or_blank_is_refused_from_every_source() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["", " ", "\n", "\r\n\t "] {
            let path = file(&dir, "blank", text.as_bytes());
            let env = |n: &str| (n == "TOK").then(|| text.to_string());
            assert_eq!(
                resolve(Source::Inline(text), no_env).unwrap_err(),
                "the token is empty"
            );
            assert_eq!(
                resolve(Source::File(&path), no_env).unwrap_err(),
                format!("{} is empty", path.display())
            );
            assert_eq!(
                resolve(Source::Env("TOK"), env).unwrap_err(),
                "environment variable TOK is not set or is empty"
            );
        }
    }

    #[test]
    fn a_space_or_line_break_inside_is_refused_without_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = ("firsthalfofthetoken123", "secondhalfofthetoken45");
        for sep in [" ", "\n", "\r\n", "\t", "\u{0}"] {
            let text = format!("{a}{sep}{b}\n");
            let path = file(&dir, "two", text.as_bytes());
            let env = |n: &str| (n == "TOK").then(|| text.clone());
            for source in [
                Source::Inline(&text),
                Source::File(&path),
                Source::Env("TOK"),
            ] {
                let e = refused(resolve(source, env), a);
                assert!(!e.contains(b), "{e}");
                assert!(e.contains("inside the token"), "{e}");
            }
        }
    }

    #[test]
    fn file_errors_name_the_path_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let e = resolve(Source::File(&missing), no_env).unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read {}: ", missing.display())),
            "{e}"
        );
        // A directory, not a file.
        let e = resolve(Source::File(dir.path()), no_env).unwrap_err();
        assert!(e.starts_with("cannot read "), "{e}");
        // Too large: a key or a log named by mistake; bounded, not read whole.
        let big = file(&dir, "big", format!("{TOKEN}\n").repeat(100).as_bytes());
        let e = refused(resolve(Source::File(&big), no_env), TOKEN);
        assert!(
            e.ends_with("is larger than 4096 bytes: not a token file"),
            "{e}"
        );
        let e = resolve(Source::File(Path::new("/dev/zero")), no_env).unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        // Not text.
        let bin = file(&dir, "bin", b"secretpart\xff\xfe");
        let e = refused(resolve(Source::File(&bin), no_env), "secretpart");
        assert_eq!(e, format!("{} is not UTF-8 text", bin.display()));
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = resolve(Source::Env("NOT_SET_ANYWHERE"), no_env).unwrap_err();
        assert_eq!(
            e,
            "environment variable NOT_SET_ANYWHERE is not set or is empty"
        );
        let env = |_: &str| Some(format!("{TOKEN} extra"));
        let e = refused(resolve(Source::Env("TOK"), env), TOKEN);
        assert!(
            e.starts_with("environment variable TOK holds a space"),
            "{e}"
        );
    }

    #[test]
    fn tokens_under_128_bits_are_too_weak() {
        assert!(too_weak("a").unwrap().contains(GENERATE_TOKEN));
        assert!(too_weak(&"x".repeat(21)).is_some());
        assert!(too_weak(&"x".repeat(22)).is_none());
        // 32 random bytes in base64, what the named command prints.
        assert!(too_weak("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=").is_none());
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(…))");
        assert_eq!(s.expose(), "hunter2");
    }
}
