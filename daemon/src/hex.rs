//! Lower-case hex, for digests (certificate fingerprints, session keys,
//! the audit key).

pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The bytes of `s` (either case), or `None` for odd length or a non-hex
/// digit.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    // from_str_radix alone would take a sign ("+1").
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lower_case_two_digits_per_byte() {
        assert_eq!(super::encode(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(super::encode(&[]), "");
    }

    #[test]
    fn decode_is_encodes_inverse_and_refuses_bad_text() {
        assert_eq!(
            super::decode("000fA0ff"),
            Some(vec![0x00, 0x0f, 0xa0, 0xff])
        );
        for bad in ["0", "zz", "+1", "é0"] {
            assert_eq!(super::decode(bad), None, "{bad}");
        }
    }
}
