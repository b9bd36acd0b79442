//! Which agents exist: the ones console.toml lists plus the ones that
//! registered themselves (persisted in the store). Hosts are never dropped
//! for going quiet; they are shown down.

use super::config::{
    check_agent_url, valid_host_name, AgentConfig, AgentKind, Secret, Trust, UrlKind,
};
use super::select::{self, HostFacts};
use super::store::RegisteredAgent;
use fleet_api::{HostSource, Registration};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

#[derive(Debug)]
pub struct HostEntry {
    pub name: String,
    pub url: String,
    pub token: Option<Secret>,
    pub tags: BTreeMap<String, String>,
    pub trust: Trust,
    pub source: HostSource,
    /// Registered hosts: the version they announced.
    pub version: Option<String>,
    /// The agent behind `url` answered the console's challenge (always
    /// true for console.toml hosts). Until then nothing but the challenge
    /// is sent there: no follow, no op, no log.
    pub proven: std::sync::atomic::AtomicBool,
    /// A fleet agent (always, when registered) or a supervisord host.
    pub kind: AgentKind,
}

impl HostEntry {
    pub fn is_proven(&self) -> bool {
        self.proven.load(std::sync::atomic::Ordering::Acquire)
    }
}

pub struct Inventory {
    hosts: RwLock<BTreeMap<String, Arc<HostEntry>>>,
    groups: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// New host, or its URL/token changed: (re)start following it.
    Changed,
    /// A heartbeat: nothing changed.
    Same,
}

impl Inventory {
    pub fn new(
        agents: &[AgentConfig],
        registered: &[RegisteredAgent],
        groups: BTreeMap<String, Vec<String>>,
    ) -> Inventory {
        let mut hosts = BTreeMap::new();
        for r in registered {
            hosts.insert(r.reg.name.clone(), Arc::new(from_registration(&r.reg)));
        }
        // The config wins over a stale registration of the same name.
        for a in agents {
            hosts.insert(
                a.name.clone(),
                Arc::new(HostEntry {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    token: a.token.clone(),
                    tags: a.tags.clone(),
                    trust: a.trust.clone(),
                    source: HostSource::Config,
                    version: None,
                    proven: true.into(),
                    kind: a.kind.clone(),
                }),
            );
        }
        Inventory {
            hosts: RwLock::new(hosts),
            groups,
        }
    }

    pub fn all(&self) -> Vec<Arc<HostEntry>> {
        self.read().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Option<Arc<HostEntry>> {
        self.read().get(name).cloned()
    }

    /// The registered host `name`, if it may be removed.
    pub fn removable(&self, name: &str) -> Result<Arc<HostEntry>, RemoveError> {
        match self.get(name) {
            None => Err(RemoveError::Unknown),
            Some(h) if h.source == HostSource::Config => Err(RemoveError::Configured),
            Some(h) => Ok(h),
        }
    }

    /// Forget a registered host (its name is free again).
    pub fn remove(&self, name: &str) {
        let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
        if hosts
            .get(name)
            .is_some_and(|h| h.source == HostSource::Registered)
        {
            hosts.remove(name);
        }
    }

    /// Hosts that registered themselves (the `max_agents` cap counts these).
    pub fn registered(&self) -> usize {
        self.read()
            .values()
            .filter(|h| h.source == HostSource::Registered)
            .count()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<HostEntry>>> {
        self.hosts.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Host names a selector picks (`None` = every host).
    pub fn resolve(&self, sel: Option<&str>) -> Result<Vec<String>, String> {
        let hosts = self.read();
        match sel.map(str::trim) {
            None | Some("") => {
                if hosts.is_empty() {
                    return Err("no hosts in the inventory".into());
                }
                Ok(hosts.keys().cloned().collect())
            }
            Some(sel) => {
                let facts: Vec<HostFacts> = hosts
                    .values()
                    .map(|h| HostFacts {
                        name: &h.name,
                        tags: &h.tags,
                    })
                    .collect();
                select::resolve(sel, &facts, &self.groups)
            }
        }
    }

    /// Host groups `name` belongs to.
    pub fn groups_of(&self, name: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|(_, pats)| {
                pats.iter()
                    .any(|p| glob::Pattern::new(p).is_ok_and(|p| p.matches(name)))
            })
            .map(|(g, _)| g.clone())
            .collect()
    }

    /// Add or refresh a self-registered agent. Refused: a name that
    /// console.toml owns, or an existing registration presenting another
    /// agent token (never merged) unless the caller `identified` itself
    /// with the credential issued to that name (then it may change it).
    pub fn register(
        &self,
        reg: &Registration,
        identified: bool,
    ) -> Result<Registered, RegisterError> {
        if !valid_host_name(&reg.name) {
            return Err(RegisterError::Bad(format!(
                "bad agent name {:?}: use letters, digits and _ - .",
                reg.name
            )));
        }
        match check_agent_url(&reg.url) {
            Err(e) => return Err(RegisterError::Bad(e)),
            Ok(UrlKind::Http { loopback: false }) => {
                return Err(RegisterError::Bad(format!(
                    "{}: plain http:// to a non-loopback address is refused for registered agents; use https://",
                    reg.url
                )))
            }
            Ok(_) => {}
        }
        let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = hosts.get(&reg.name) {
            if old.source == HostSource::Config {
                return Err(RegisterError::Conflict(format!(
                    "{:?} is defined in console.toml; refusing the registration",
                    reg.name
                )));
            }
            let same_token = match (&old.token, &reg.agent_token) {
                (Some(a), Some(b)) => {
                    subtle::ConstantTimeEq::ct_eq(a.expose().as_bytes(), b.as_bytes()).into()
                }
                (None, None) => true,
                _ => false,
            };
            if !same_token && !identified {
                return Err(RegisterError::Conflict(format!(
                    "{:?} is already registered with another agent token; refusing (not merged)",
                    reg.name
                )));
            }
            let same = same_token
                && old.url == reg.url.trim_end_matches('/')
                && old.tags == reg.tags
                && old.version.as_deref() == Some(reg.version.as_str());
            if same {
                return Ok(Registered::Same);
            }
        }
        hosts.insert(reg.name.clone(), Arc::new(from_registration(reg)));
        Ok(Registered::Changed)
    }
}

#[derive(Debug)]
pub enum RemoveError {
    Unknown,
    /// console.toml owns it.
    Configured,
}

#[derive(Debug)]
pub enum RegisterError {
    Bad(String),
    Conflict(String),
}

fn from_registration(r: &Registration) -> HostEntry {
    HostEntry {
        name: r.name.clone(),
        url: r.url.trim_end_matches('/').to_string(),
        token: r.agent_token.clone().map(Secret::new),
        tags: r.tags.clone(),
        trust: Trust::System,
        source: HostSource::Registered,
        version: Some(r.version.clone()),
        proven: false.into(),
        kind: AgentKind::Fleet,
    }
}
