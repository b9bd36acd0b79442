//! [`Secret`]: a token or password that never prints itself.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(…)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(…))");
        assert_eq!(s.expose(), "hunter2");
    }
}
