//! The `[group.NAME]` section, and the cross-file check of membership once
//! every program is known.

use std::collections::HashMap;

use toml::Spanned;

use super::error::{FileId, Loc};
use super::raw::{Key, Raw};
use super::validate::{key_loc, Ctx, Table};
use super::values;

/// A validated `[group.NAME]`: programs with the location of each entry.
#[derive(Debug)]
pub(crate) struct Group {
    pub name: String,
    pub file: FileId,
    pub key: Key,
    pub programs: Vec<(String, Loc)>,
}

/// The `[group.NAME]` table; whether programs exist is checked later, once
/// every file is loaded.
pub(crate) fn group(cx: &mut Ctx, name: &str, file: FileId, key: &Key, v: &Spanned<Raw>) -> Group {
    let mut out = Group {
        name: name.to_string(),
        file,
        key: key.clone(),
        programs: Vec::new(),
    };
    let label = format!("group.{name}");
    let Raw::Table(entries) = v.get_ref() else {
        let msg = format!(
            "{label}: expected a table, found {}",
            v.get_ref().describe()
        );
        cx.error(&Loc::new(file, v.span()), msg);
        return out;
    };
    let t = Table {
        file,
        label: &label,
        entries,
    };
    cx.check_keys(&t, &format!("[{label}]"), &["programs", "priority"]);
    cx.field(&t, "priority", 0, |v| {
        values::int_in(v, i32::MIN.into(), i32::MAX.into())
    });
    let expected = "expected a non-empty array of program names";
    match t.get("programs") {
        None => cx.error(
            &key_loc(file, key),
            format!("{label}: missing required key \"programs\" ({expected})"),
        ),
        Some(v) => match v.get_ref() {
            Raw::Array(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    let loc = Loc::new(file, item.span());
                    match item.get_ref() {
                        Raw::String(p) => out.programs.push((p.clone(), loc)),
                        other => cx.error(
                            &loc,
                            format!(
                                "{label}.programs[{i}]: expected a program name, found {}",
                                other.describe()
                            ),
                        ),
                    }
                }
            }
            other => cx.error(
                &t.loc(v),
                format!("{label}.programs: {expected}, found {}", other.describe()),
            ),
        },
    }
    out
}

/// Checks group membership; returns program name -> group name.
pub(crate) fn check_groups(
    cx: &mut Ctx,
    groups: &[Group],
    programs: &HashMap<String, Loc>,
) -> HashMap<String, String> {
    let mut group_of: HashMap<String, String> = HashMap::new();
    for g in groups {
        for (p, loc) in &g.programs {
            if !programs.contains_key(p) {
                let msg = format!(
                    "group.{}.programs: unknown program {p:?} (no [program.{p}] section)",
                    g.name
                );
                cx.error(loc, msg);
            } else if let Some(other) = group_of.get(p) {
                let msg = if *other == g.name {
                    format!("group.{}.programs: program {p:?} is listed twice", g.name)
                } else {
                    format!(
                        "group.{}.programs: program {p:?} is already in group {other:?} \
                         (a program belongs to at most one group)",
                        g.name
                    )
                };
                cx.error(loc, msg);
            } else {
                group_of.insert(p.clone(), g.name.clone());
            }
        }
    }
    for g in groups {
        if programs.contains_key(&g.name) && !group_of.contains_key(&g.name) {
            let msg = format!(
                "group {:?} has the same name as program {:?}, which is in no group and so is \
                 its own group; rename one, or list {:?} in the group",
                g.name, g.name, g.name
            );
            cx.error(&key_loc(g.file, &g.key), msg);
        }
    }
    group_of
}
