//! [`Trust`]: which certificates an HTTPS server may present, the one type
//! for the agent's trust in its console (`console_ca_file`,
//! `console_fingerprint`), the console's in an agent (`ca_file`,
//! `fingerprint`) and fleetctl's (`--cacert`); and [`Trust::apply`], the
//! one place it becomes a reqwest client's TLS set-up.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which certificates an https server may present. `System` is also what
/// a plain-http endpoint carries (there is nothing to check).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Trust {
    /// The system's roots.
    System,
    /// Only certificates chaining to the CA(s) in this PEM file.
    CaFile(PathBuf),
    /// The system's roots plus the CA(s) in this PEM file (fleetctl's
    /// `--cacert`: a private console next to public ones).
    ExtraCa(PathBuf),
    /// Only the certificate whose DER SHA-256 is this (see [`crate::pin`]).
    Fingerprint([u8; 32]),
}

/// A CA file that cannot be used: the path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaError {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for CaError {}

impl Trust {
    /// `b` set up to trust what `self` names (a CA file is read now, so a
    /// bad one fails the set-up rather than the first request).
    pub fn apply(&self, b: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, CaError> {
        Ok(match self {
            Self::System => b,
            Self::CaFile(path) => ca_file(path)?
                .into_iter()
                .fold(b.tls_built_in_root_certs(false), |b, c| {
                    b.add_root_certificate(c)
                }),
            Self::ExtraCa(path) => ca_file(path)?
                .into_iter()
                .fold(b, |b, c| b.add_root_certificate(c)),
            Self::Fingerprint(fp) => b.use_preconfigured_tls(crate::pin::client_config(*fp)),
        })
    }
}

fn ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, CaError> {
    let bad = |reason: String| CaError {
        path: path.to_owned(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(io_reason(&e)))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(root_reason(&e)))?;
    if certs.is_empty() {
        return Err(bad("no certificate found".into()));
    }
    Ok(certs)
}

/// "No such file or directory" without std's " (os error 2)".
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// The most specific cause in an error chain, io errors preferred.
pub fn root_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.get_ref().is_none() {
                return io_reason(io);
            }
        }
        last = err.to_string();
        cur = err.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(t: &Trust) -> Result<reqwest::Client, CaError> {
        Ok(t.apply(reqwest::Client::builder())?.build().unwrap())
    }

    #[test]
    fn every_trust_builds_a_client() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        for t in [
            Trust::System,
            Trust::CaFile(ca.clone()),
            Trust::ExtraCa(ca.clone()),
            Trust::Fingerprint([7; 32]),
        ] {
            client(&t).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        }
    }

    #[test]
    fn a_bad_ca_file_names_its_path_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = client(&Trust::CaFile(missing.clone())).unwrap_err();
        assert_eq!(e.path, missing);
        assert_eq!(e.reason, "No such file or directory");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client(&Trust::ExtraCa(empty.clone())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: no certificate found", empty.display())
        );
    }
}
