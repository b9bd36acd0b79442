//! The registration challenge, computed alike by the agent (answering) and
//! the console (checking): HMAC-SHA256, keyed by the agent's token, over
//! a fixed label, the registered name and the console's random nonce. Only
//! whoever holds the token the agent registered with can answer, so the
//! console trusts a registered URL only once the thing behind it proved it
//! is that agent (an internal service at an arbitrary URL cannot).

use ring::hmac;

fn message(name: &str, nonce: &str) -> Vec<u8> {
    let mut m = b"fleet-enroll-proof\0".to_vec();
    m.extend_from_slice(name.as_bytes());
    m.push(0);
    m.extend_from_slice(nonce.as_bytes());
    m
}

/// The agent's answer to `nonce` for `name`, in hex.
pub fn answer(token: &str, name: &str, nonce: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
    crate::hex::encode(hmac::sign(&key, &message(name, nonce)).as_ref())
}

/// Whether `proof` (hex) answers `nonce` for `name` under `token`
/// (constant time).
pub fn check(token: &str, name: &str, nonce: &str, proof: &str) -> bool {
    let want = answer(token, name, nonce);
    want.len() == proof.len()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            want.as_bytes(),
            proof.as_bytes(),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_check_only_with_the_same_token_name_and_nonce() {
        let p = answer("tok", "w-01", "n1");
        assert_eq!(p.len(), 64);
        assert!(check("tok", "w-01", "n1", &p));
        assert!(!check("other", "w-01", "n1", &p));
        assert!(!check("tok", "w-02", "n1", &p));
        assert!(!check("tok", "w-01", "n2", &p));
        assert!(!check("tok", "w-01", "n1", "zz"));
    }
}
