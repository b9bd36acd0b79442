//! Throwaway certificates for the TLS tests, made with rcgen (no openssl
//! CLI: a test must not depend on a tool it could skip without).

/// A CA and a leaf for 127.0.0.1/localhost signed by it.
pub struct Pki {
    pub ca: rcgen::Certificate,
    pub leaf: rcgen::Certificate,
    pub leaf_key: rcgen::KeyPair,
}

pub fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleet-test-ca");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    Pki { ca, leaf, leaf_key }
}

impl Pki {
    /// Write `ca.pem`, `leaf.pem` and `leaf.key` into `dir`.
    pub fn write(&self, dir: &std::path::Path) {
        std::fs::write(dir.join("ca.pem"), self.ca.pem()).unwrap();
        std::fs::write(dir.join("leaf.pem"), self.leaf.pem()).unwrap();
        std::fs::write(dir.join("leaf.key"), self.leaf_key.serialize_pem()).unwrap();
    }

    /// The leaf's SHA-256 fingerprint, lowercase hex.
    pub fn leaf_fingerprint(&self) -> String {
        ring::digest::digest(&ring::digest::SHA256, self.leaf.der())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
