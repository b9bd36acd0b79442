//! `[enrollment]`: the tokens agents register with (`token`, and more in
//! `[[enrollment.tokens]]`, valid at once so one can be rotated without a
//! gap), when each expires, and the registration budget.

use fleet_daemon::Secret;
use serde::Deserialize;
use std::path::PathBuf;

use super::validate::Ctx;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnrollment {
    name: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    expires: Option<toml::value::Datetime>,
    rate_per_sec: Option<u32>,
    max_agents: Option<usize>,
    /// More enrollment tokens, valid at the same time as `token`: a new
    /// one is added before the old one expires (rotation without a gap).
    #[serde(default)]
    tokens: Vec<RawEnrollmentToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnrollmentToken {
    name: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    expires: Option<toml::value::Datetime>,
}

/// One enrollment token: it only bootstraps (a registration with it gets
/// the agent its own credential), and stops enrolling at `expires`.
#[derive(Clone, Debug)]
pub struct EnrollmentToken {
    /// For messages and the audit log (never the value).
    pub name: String,
    pub secret: Secret,
    /// Unix ms from which it is refused, and the config's text for it.
    pub expires: Option<(u64, String)>,
}

impl EnrollmentToken {
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires.as_ref().is_some_and(|(at, _)| now_ms >= *at)
    }
}

/// `[enrollment]`, checked.
pub(super) struct Enrollment {
    pub tokens: Vec<EnrollmentToken>,
    pub rate: u32,
    pub max_registered: usize,
}

pub(super) fn enrollment(cx: &mut Ctx, raw: Option<RawEnrollment>) -> Enrollment {
    let (rate, max_registered) = raw
        .as_ref()
        .map(|e| (e.rate_per_sec.unwrap_or(50), e.max_agents.unwrap_or(10_000)))
        .unwrap_or((50, 10_000));
    if rate == 0 {
        cx.error("enrollment.rate_per_sec must be at least 1");
    }
    let mut tokens: Vec<EnrollmentToken> = Vec::new();
    let entries = raw.map(|e| entries(cx, e)).unwrap_or_default();
    for (what, name, t) in entries {
        let name = t.name.clone().unwrap_or(name);
        if let Some(t) = token(cx, &what, name, t) {
            if tokens.iter().any(|o| o.name == t.name) {
                let name = &t.name;
                cx.error(format!("{what}: duplicate enrollment token name {name:?}"));
            }
            if tokens.iter().any(|o| o.secret == t.secret) {
                cx.error(format!("{what}: the same token is listed twice"));
            }
            tokens.push(t);
        }
    }
    Enrollment {
        tokens,
        rate,
        max_registered,
    }
}

/// Each token of the section: where it is (for messages), its default
/// name, and the entry. `[enrollment] token` comes first, when it is set.
fn entries(cx: &mut Ctx, e: RawEnrollment) -> Vec<(String, String, RawEnrollmentToken)> {
    let main = RawEnrollmentToken {
        name: e.name,
        token: e.token,
        token_file: e.token_file,
        expires: e.expires,
    };
    let main_set = main.token.is_some() || main.token_file.is_some();
    let mut out = Vec::new();
    if main_set {
        out.push(("enrollment".to_string(), "enrollment".to_string(), main));
    } else if main.expires.is_some() || main.name.is_some() {
        cx.error("enrollment: expires/name without token or token_file");
    }
    for (i, t) in e.tokens.into_iter().enumerate() {
        let what = format!("enrollment.tokens[{i}]");
        out.push((what.clone(), what, t));
    }
    out
}

/// One token entry, checked.
fn token(cx: &mut Ctx, what: &str, name: String, t: RawEnrollmentToken) -> Option<EnrollmentToken> {
    let Some(secret) = cx.secret(what, t.token, t.token_file) else {
        if !cx.named(what) {
            cx.error(format!("{what}: set token or token_file"));
        }
        return None;
    };
    cx.strong_enough(what, &secret);
    let expires = match t.expires.as_ref().map(datetime_ms) {
        None => None,
        Some(Ok(ms)) => t.expires.as_ref().map(|d| (ms, d.to_string())),
        Some(Err(e)) => {
            cx.error(format!("{what}: expires = {e}"));
            None
        }
    };
    Some(EnrollmentToken {
        name,
        secret,
        expires,
    })
}

/// A TOML date (midnight UTC) or date-time with an offset, in unix ms.
fn datetime_ms(d: &toml::value::Datetime) -> Result<u64, String> {
    let Some(date) = d.date else {
        return Err(format!(
            "{d}: expected a date, e.g. 2027-01-31 or 2027-01-31T12:00:00Z"
        ));
    };
    let offset_min: i64 = match (d.time, d.offset) {
        (None, None) => 0,
        (Some(_), Some(toml::value::Offset::Z)) => 0,
        (Some(_), Some(toml::value::Offset::Custom { minutes })) => minutes as i64,
        _ => {
            return Err(format!(
                "{d}: a time needs a UTC offset, e.g. 2027-01-31T12:00:00Z"
            ))
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m, day) = (date.year as i64, date.month as i64, date.day as i64);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = d
        .time
        .map(|t| t.hour as i64 * 3600 + t.minute as i64 * 60 + t.second as i64)
        .unwrap_or(0);
    let ms = (days * 86_400 + secs - offset_min * 60) * 1000;
    u64::try_from(ms).map_err(|_| format!("{d}: before 1970"))
}
