//! Percent-encoding of one URL path segment.
//!
//! Everything but RFC 3986's unreserved characters is encoded, `:` and `@`
//! included: both may stand raw in a path, but a server decodes `%3A` the
//! same way, and raw they read as a scheme or userinfo to lax parsers. A
//! process name like `celery:worker_00` or a selector like `web:*` arrives
//! as written (tested through real routes in `transport`).

pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn segments_are_percent_encoded() {
        for (raw, encoded) in [
            ("web:web_00", "web%3Aweb_00"),
            ("celery:worker_00", "celery%3Aworker_00"),
            ("web:*", "web%3A%2A"),
            ("a@b", "a%40b"),
            ("a b/c", "a%20b%2Fc"),
            ("100%", "100%25"),
            ("plain-name.1~", "plain-name.1~"),
            ("é", "%C3%A9"),
        ] {
            assert_eq!(segment(raw), encoded, "{raw}");
        }
    }
}
