//! Bearer tokens with roles, compared in constant time. Every configured
//! token is compared (no early exit), so timing does not tell which one
//! nearly matched.

use super::config::TokenConfig;
use fleet_api::Role;
use subtle::ConstantTimeEq;

/// Who is asking: the token's name (never its value) and role.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

pub struct Auth {
    tokens: Vec<TokenConfig>,
}

pub enum Denied {
    Missing,
    Wrong,
}

impl Auth {
    pub fn new(tokens: Vec<TokenConfig>) -> Auth {
        Auth { tokens }
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
        let given = header
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(Denied::Missing)?;
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .is_some_and(|g| bool::from(g.as_bytes().ct_eq(secret.as_bytes())))
}
