//! Bearer tokens with roles, compared in constant time. Every configured
//! token is compared (no early exit), so timing does not tell which one
//! nearly matched.
//!
//! The web page trades a token for a session (`Sessions`): a random cookie
//! value plus a CSRF token the page echoes on every state-changing request.

use super::config::TokenConfig;
use fleet_api::Role;
use fleet_daemon::hex::encode as hex;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Who is asking: the token's name (never its value) and role.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

pub struct Auth {
    tokens: Vec<TokenConfig>,
    pub sessions: Sessions,
}

pub enum Denied {
    Missing,
    Wrong,
}

impl Auth {
    pub fn new(tokens: Vec<TokenConfig>) -> Auth {
        Auth {
            tokens,
            sessions: Sessions::default(),
        }
    }

    /// Sessions kept in `shared` (the PostgreSQL store): a login on one
    /// console is valid on every other, and a logout ends it everywhere.
    pub fn with_shared(tokens: Vec<TokenConfig>, shared: Arc<dyn SharedSessions>) -> Auth {
        let sessions = Sessions {
            shared: Some(shared),
            ..Sessions::default()
        };
        Auth { tokens, sessions }
    }

    /// True when no token is configured (only allowed on loopback).
    pub fn open(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn check(&self, header: Option<&str>) -> Result<Caller, Denied> {
        if self.open() {
            return Ok(Caller {
                name: "anonymous".into(),
                role: Role::Operator,
            });
        }
        let given = header.and_then(bearer_token).ok_or(Denied::Missing)?;
        self.check_token(given)
    }

    /// The caller a bare token (the login form's) belongs to.
    pub fn check_token(&self, given: &str) -> Result<Caller, Denied> {
        let mut found: Option<&TokenConfig> = None;
        for t in &self.tokens {
            if bool::from(t.secret.expose().as_bytes().ct_eq(given.as_bytes())) {
                found = Some(t);
            }
        }
        found
            .map(|t| Caller {
                name: t.name.clone(),
                role: t.role,
            })
            .ok_or(Denied::Wrong)
    }
}

/// Constant-time check of a bearer header against one secret.
pub fn bearer_is(header: Option<&str>, secret: &str) -> bool {
    header
        .and_then(bearer_token)
        .is_some_and(|g| bool::from(g.as_bytes().ct_eq(secret.as_bytes())))
}

/// The token of a `Bearer` header value (scheme case-insensitive).
pub fn bearer_token(value: &str) -> Option<&str> {
    fleet_daemon::http::credentials(value, "Bearer")
}

// --- Browser sessions -------------------------------------------------

/// Name of the session cookie the web page logs in with.
pub const SESSION_COOKIE: &str = "fleet_session";

/// A session is forgotten after this long without a request.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);

/// At most this many live sessions; the least recently used go first.
const MAX_SESSIONS: usize = 10_000;

/// At most this many live sessions per token: a token holder logging in
/// in a loop only evicts its own oldest sessions, never anyone else's.
pub const MAX_SESSIONS_PER_TOKEN: usize = 64;

/// What a login answers: who, and the CSRF token the page must echo in
/// `X-CSRF-Token` on every state-changing request.
#[derive(Clone, Debug)]
pub struct Login {
    /// Cookie value (random, 256 bits). Never logged.
    pub id: String,
    pub caller: Caller,
    pub csrf: String,
}

struct Session {
    caller: Caller,
    csrf: String,
    last_used: Instant,
}

/// Sessions several consoles share (the PostgreSQL store's table), by
/// key (the SHA-256 of the cookie value); the same limits as in memory,
/// times by the database's clock.
pub trait SharedSessions: Send + Sync {
    fn open(
        &self,
        key: &str,
        caller: &Caller,
        csrf: &str,
        idle: Duration,
        per_token: usize,
    ) -> Result<(), String>;
    /// The live session of `key`, touched; none if expired or unknown (or
    /// the store unreachable: logged, and the caller is asked to log in).
    fn get(&self, key: &str, idle: Duration) -> Option<(Caller, String)>;
    fn close(&self, key: &str) -> bool;
}

/// Browser sessions, in memory (a console restart logs everyone out), or
/// in the shared store when there is one. Keyed by the SHA-256 of the
/// cookie value, so neither holds a usable secret and a lookup does not
/// compare secrets byte by byte.
pub struct Sessions {
    rng: SystemRandom,
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    shared: Option<Arc<dyn SharedSessions>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_idle(SESSION_IDLE)
    }
}

fn key(id: &str) -> String {
    hex(digest::digest(&digest::SHA256, id.as_bytes()).as_ref())
}

impl Sessions {
    pub fn with_idle(idle: Duration) -> Self {
        Sessions {
            rng: SystemRandom::new(),
            map: Mutex::new(HashMap::new()),
            idle,
            shared: None,
        }
    }

    fn random(&self) -> Result<String, String> {
        let mut b = [0u8; 32];
        self.rng
            .fill(&mut b)
            .map_err(|_| "the system random generator failed".to_string())?;
        Ok(hex(&b))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open a session for an authenticated caller.
    pub fn open(&self, caller: Caller) -> Result<Login, String> {
        let id = self.random()?;
        let csrf = self.random()?;
        if let Some(shared) = &self.shared {
            shared.open(&key(&id), &caller, &csrf, self.idle, MAX_SESSIONS_PER_TOKEN)?;
            return Ok(Login { id, caller, csrf });
        }
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.last_used) < self.idle);
        loop {
            let mine = map.iter().filter(|(_, s)| s.caller.name == caller.name);
            if mine.clone().count() < MAX_SESSIONS_PER_TOKEN {
                break;
            }
            let oldest = mine
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(
            key(&id),
            Session {
                caller: caller.clone(),
                csrf: csrf.clone(),
                last_used: now,
            },
        );
        Ok(Login { id, caller, csrf })
    }

    /// The live session of cookie value `id` (touching it), or None.
    pub fn get(&self, id: &str) -> Option<Login> {
        if let Some(shared) = &self.shared {
            let (caller, csrf) = shared.get(&key(id), self.idle)?;
            let id = id.to_string();
            return Some(Login { id, caller, csrf });
        }
        let now = Instant::now();
        let mut map = self.lock();
        let k = key(id);
        let s = map.get_mut(&k)?;
        if now.duration_since(s.last_used) >= self.idle {
            map.remove(&k);
            return None;
        }
        s.last_used = now;
        Some(Login {
            id: id.to_string(),
            caller: s.caller.clone(),
            csrf: s.csrf.clone(),
        })
    }

    /// Forget a session (logout).
    pub fn close(&self, id: &str) -> bool {
        if let Some(shared) = &self.shared {
            return shared.close(&key(id));
        }
        self.lock().remove(&key(id)).is_some()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Constant-time comparison of the CSRF header with the session's token.
pub fn csrf_ok(given: Option<&str>, expected: &str) -> bool {
    given.is_some_and(|g| {
        !expected.is_empty() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Path=/, and
/// Secure when the console serves TLS. No Max-Age: a browser-session
/// cookie; the server forgets it after `SESSION_IDLE` without use.
pub fn session_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> Caller {
        Caller {
            name: "ops".into(),
            role: Role::Operator,
        }
    }

    #[test]
    fn session_round_trip_and_logout() {
        let s = Sessions::default();
        let l = s.open(op()).unwrap();
        assert_eq!(l.id.len(), 64);
        assert_ne!(l.id, l.csrf);
        let back = s.get(&l.id).unwrap();
        assert_eq!(back.caller.name, "ops");
        assert_eq!(back.csrf, l.csrf);
        assert!(s.get("nope").is_none());
        assert!(s.close(&l.id));
        assert!(s.get(&l.id).is_none());
    }

    #[test]
    fn one_token_logging_in_in_a_loop_evicts_only_its_own_sessions() {
        let s = Sessions::default();
        let other = s
            .open(Caller {
                name: "viewer".into(),
                role: Role::Viewer,
            })
            .unwrap();
        for _ in 0..1000 {
            s.open(op()).unwrap();
        }
        assert_eq!(s.len(), MAX_SESSIONS_PER_TOKEN + 1);
        assert!(s.get(&other.id).is_some());
    }

    #[test]
    fn idle_sessions_expire() {
        let s = Sessions::with_idle(Duration::ZERO);
        let l = s.open(op()).unwrap();
        assert!(s.get(&l.id).is_none());
    }

    #[test]
    fn sessions_are_random_and_not_stored_in_clear() {
        let s = Sessions::default();
        let a = s.open(op()).unwrap();
        let b = s.open(op()).unwrap();
        assert_ne!(a.id, b.id);
        assert!(!s.lock().contains_key(&a.id));
    }

    #[test]
    fn cookies_and_csrf() {
        assert_eq!(
            cookie("a=1; fleet_session=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("a=1", SESSION_COOKIE), None);
        assert_eq!(cookie("fleet_session=", SESSION_COOKIE), None);
        assert!(csrf_ok(Some("t"), "t"));
        assert!(!csrf_ok(Some("u"), "t"));
        assert!(!csrf_ok(None, "t"));
        assert!(!csrf_ok(Some(""), ""));
        let c = session_cookie("abc", true);
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!session_cookie("abc", false).contains("Secure"));
    }
}
