//! [`Secret`]: a token or password that never prints itself, and
//! [`too_weak`]: the one minimum-strength rule both daemons apply to the
//! tokens in their configs.

use std::fmt;

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
