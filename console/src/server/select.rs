//! Host selectors (`w-01`, `web-*`, `@workers`, `role=worker`, comma lists
//! = union). Process selectors are `fleet_api::Selector`'s.

use std::collections::{BTreeMap, BTreeSet};

/// What a selector is resolved against: each host's name and tags, and the
/// named host groups (globs over names).
pub struct HostFacts<'a> {
    pub name: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

/// Hosts (by name, sorted) that `sel` picks. An empty result is an error
/// naming the selector (and the part that matched nothing).
pub fn resolve(
    sel: &str,
    hosts: &[HostFacts<'_>],
    groups: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    let mut out = BTreeSet::new();
    let parts: Vec<&str> = sel.split(',').map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("bad host selector {sel:?}: empty element"));
    }
    for part in parts {
        if let Some(g) = part.strip_prefix('@') {
            let pats = groups
                .get(g)
                .ok_or_else(|| format!("host selector {sel:?}: no host group named {g:?}"))?;
            for pat in pats {
                let m = pattern(pat, sel)?;
                out.extend(
                    hosts
                        .iter()
                        .filter(|h| m.matches(h.name))
                        .map(|h| h.name.to_string()),
                );
            }
        } else if let Some((k, v)) = part.split_once('=') {
            out.extend(
                hosts
                    .iter()
                    .filter(|h| h.tags.get(k).is_some_and(|t| t == v))
                    .map(|h| h.name.to_string()),
            );
        } else if part == "all" || part == "*" {
            out.extend(hosts.iter().map(|h| h.name.to_string()));
        } else {
            let m = pattern(part, sel)?;
            out.extend(
                hosts
                    .iter()
                    .filter(|h| m.matches(h.name))
                    .map(|h| h.name.to_string()),
            );
        }
    }
    if out.is_empty() {
        return Err(format!("host selector {sel:?} matched no host"));
    }
    Ok(out.into_iter().collect())
}

fn pattern(p: &str, sel: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(p).map_err(|e| format!("bad host selector {sel:?}: {p:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        v: &[(&'static str, BTreeMap<String, String>)],
    ) -> Vec<(String, BTreeMap<String, String>)> {
        v.iter().map(|(n, t)| (n.to_string(), t.clone())).collect()
    }

    #[test]
    fn names_globs_groups_tags_and_unions() {
        let worker: BTreeMap<String, String> = [("role".to_string(), "worker".to_string())].into();
        let owned = facts(&[
            ("web-1", BTreeMap::new()),
            ("web-2", BTreeMap::new()),
            ("w-01", worker.clone()),
            ("db", BTreeMap::new()),
        ]);
        let hosts: Vec<HostFacts> = owned
            .iter()
            .map(|(n, t)| HostFacts { name: n, tags: t })
            .collect();
        let groups: BTreeMap<String, Vec<String>> =
            [("workers".to_string(), vec!["w-*".to_string()])].into();
        let r = |s: &str| resolve(s, &hosts, &groups);
        assert_eq!(r("web-*").unwrap(), ["web-1", "web-2"]);
        assert_eq!(r("@workers").unwrap(), ["w-01"]);
        assert_eq!(r("role=worker").unwrap(), ["w-01"]);
        assert_eq!(r("db, web-1").unwrap(), ["db", "web-1"]);
        assert_eq!(r("all").unwrap().len(), 4);
        assert!(r("nosuch-*")
            .unwrap_err()
            .contains("\"nosuch-*\" matched no host"));
        assert!(r("@nope")
            .unwrap_err()
            .contains("no host group named \"nope\""));
        assert!(r("a,,b").unwrap_err().contains("empty element"));
    }
}
