//! The audit chain's key and head, kept outside the database.
//!
//! Each audit row's link is `HMAC-SHA256(key, previous link ‖ the row's
//! fields)`. The key is `DATA_DIR/audit.key` (0600, made at first start):
//! whoever can write the database but not read that file (an SQL-level
//! attacker, a database restored or edited elsewhere) cannot forge a link,
//! so an edited, inserted or recomputed row fails `audit verify`. The head
//! (`DATA_DIR/audit.head`: the newest record's number and link, rewritten
//! after every append, and logged at start and stop) catches a chain cut
//! at its tail. An attacker who can also read the key file can rewrite the
//! whole log and the head file; only the heads logged to the journal (or
//! shipped off the host) still tell then.
//!
//! Rows written by a console before the key existed keep their plain
//! SHA-256 links: the key file records the first keyed record (`from`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Result, StoreError};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const MAGIC: &str = "fleet-audit-key v1";

#[derive(Clone)]
pub struct Chain {
    key: ring::hmac::Key,
    /// The first record linked with the key.
    from: i64,
    head: PathBuf,
}

impl Chain {
    /// Read the key (or make it, keyed from record `next`), for a store in
    /// `dir`. `create` false: a missing key is an error (`audit verify`).
    pub fn open(dir: &Path, next: i64, create: bool) -> Result<Chain> {
        let path = dir.join("audit.key");
        let head = dir.join("audit.head");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                make_key(&path, next)?;
                std::fs::read_to_string(&path)
                    .map_err(StoreError::io(format!("cannot read {}", path.display())))?
            }
            Err(error) => {
                let what = format!("cannot read {}", path.display());
                return Err(StoreError::Io { what, error });
            }
        };
        if create {
            // Tighten a key file someone loosened; never widen it.
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        let bad = || StoreError::BadFile {
            path: path.clone(),
            kind: "key file",
        };
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(bad());
        }
        let from = lines
            .next()
            .and_then(|l| l.strip_prefix("from "))
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let key = lines
            .next()
            .and_then(|l| l.strip_prefix("key "))
            .and_then(fleet_daemon::hex::decode)
            .filter(|k| k.len() == 32)
            .ok_or_else(bad)?;
        Ok(Chain {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            from,
            head,
        })
    }

    /// Record `seq`'s link from the previous link and its fields (each
    /// length-prefixed, so no two rows serialise alike).
    pub fn link(&self, seq: i64, prev: &str, fields: &[impl AsRef<str>]) -> String {
        let mut msg = Vec::with_capacity(256);
        msg.extend_from_slice(prev.as_bytes());
        for f in fields {
            let f = f.as_ref();
            msg.extend_from_slice(&(f.len() as u64).to_be_bytes());
            msg.extend_from_slice(f.as_bytes());
        }
        let tag = if seq >= self.from {
            ring::hmac::sign(&self.key, &msg).as_ref().to_vec()
        } else {
            ring::digest::digest(&ring::digest::SHA256, &msg)
                .as_ref()
                .to_vec()
        };
        fleet_daemon::hex::encode(&tag)
    }

    /// Write the head after an append (a new file renamed over the old:
    /// a crash leaves the previous head, never half of one).
    pub fn set_head(&self, seq: i64, link: &str) -> Result<()> {
        let tmp = self.head.with_extension("head.new");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(f, "{seq} {link}")?;
            std::fs::rename(&tmp, &self.head)
        };
        write().map_err(StoreError::io(format!(
            "cannot write {}",
            self.head.display()
        )))
    }

    /// The head file's record number and link, if there is one.
    pub fn head(&self) -> Result<Option<(i64, String)>> {
        match std::fs::read_to_string(&self.head) {
            Ok(t) => {
                let (seq, link) = t
                    .trim()
                    .split_once(' ')
                    .and_then(|(s, l)| Some((s.parse().ok()?, l.to_string())))
                    .ok_or_else(|| StoreError::BadFile {
                        path: self.head.clone(),
                        kind: "head",
                    })?;
                Ok(Some((seq, link)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StoreError::Io {
                what: format!("cannot read {}", self.head.display()),
                error,
            }),
        }
    }

    /// Names the key without revealing it (and the first keyed record):
    /// a shared database keeps it, so every console on it uses one key.
    pub fn fingerprint(&self) -> String {
        let tag = ring::hmac::sign(&self.key, b"fleet audit key fingerprint");
        format!(
            "{} from {}",
            fleet_daemon::hex::encode(&tag.as_ref()[..16]),
            self.from
        )
    }

    pub fn head_path(&self) -> &Path {
        &self.head
    }
}

fn make_key(path: &Path, from: i64) -> Result<()> {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| StoreError::Random)?;
    let text = format!(
        "{MAGIC}\nfrom {from}\nkey {}\n",
        fleet_daemon::hex::encode(&key)
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(StoreError::io(format!("cannot create {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_links_depend_on_the_key_and_legacy_links_do_not() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ca = Chain::open(a.path(), 3, true).unwrap();
        let cb = Chain::open(b.path(), 3, true).unwrap();
        let f = ["x", "y"];
        assert_eq!(
            ca.link(2, GENESIS, &f),
            cb.link(2, GENESIS, &f),
            "legacy: plain SHA-256"
        );
        assert_ne!(
            ca.link(3, GENESIS, &f),
            cb.link(3, GENESIS, &f),
            "keyed from 3"
        );
        assert_ne!(
            ca.link(3, GENESIS, &["xy", ""]),
            ca.link(3, GENESIS, &["x", "y"])
        );
        let mode = std::fs::metadata(a.path().join("audit.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // Reopened: the same key and start.
        let again = Chain::open(a.path(), 99, false).unwrap();
        assert_eq!(again.link(5, GENESIS, &f), ca.link(5, GENESIS, &f));
        ca.set_head(7, "abc").unwrap();
        assert_eq!(again.head().unwrap(), Some((7, "abc".to_string())));
        assert!(Chain::open(tempfile::tempdir().unwrap().path(), 1, false).is_err());
    }
}
