//! The option mapping: supervisord sections and keys to fleet's, with a
//! [`Warning`](super::Warning) for everything fleet has no equivalent for.
//!
//! This is the driver: `[supervisord]` first (its environment and umask
//! apply to every program), then groups, programs (`program.rs`) and every
//! other section (`sections.rs`), into the [`Output`] model that `emit`
//! writes. Values are parsed with supervisord's own rules (`datatypes.rs`),
//! so a value supervisord rejects is an [`Error`] here too.

use std::collections::HashMap;

use super::context::{check_name, raw_name, Cx};
use super::output::{Block, Output};
use super::{addons, program, sections, Doc, Error, Sec};

/// Converts the merged document.
pub fn convert(doc: &Doc, env: &HashMap<String, String>, host: &str) -> Result<Output, Error> {
    let mut cx = Cx {
        doc,
        env,
        host,
        warnings: doc.warnings.clone(),
        global_env: Vec::new(),
        global_umask: None,
    };
    let mut out = Output {
        files: doc.files.clone(),
        ..Output::default()
    };
    let mut agent = Block {
        header: "agent".into(),
        ..Block::default()
    };
    let mut skipped = Block::default();

    // Settings that apply to every program come first.
    if let Some(sec) = doc.sections.iter().find(|s| s.name == "supervisord") {
        sections::supervisord(&mut cx, sec, &mut agent)?;
    }

    // Group membership, as supervisord resolves it.
    let programs: Vec<&Sec> = doc
        .sections
        .iter()
        .filter(|s| s.name.starts_with("program:"))
        .collect();
    let fcgi: Vec<&Sec> = doc
        .sections
        .iter()
        .filter(|s| s.name.starts_with("fcgi-program:"))
        .collect();
    let (group_of, groups) = sections::groups(&mut cx, &programs, &fcgi)?;

    let mut blocks = Vec::new();
    let mut converted = Vec::new();
    for sec in &programs {
        let name = raw_name(sec);
        check_name(&cx, sec, &name)?;
        let group = group_of.get(&name).cloned();
        if let Some(b) = program::program(&mut cx, sec, &name, group)? {
            converted.push((*sec, blocks.len()));
            blocks.push(b);
        }
    }
    // The dependent-startup plugin's keys, once every program is known.
    addons::dependent_startup(&mut cx, &converted, &group_of, &mut blocks);

    for sec in &doc.sections {
        if sec.name.starts_with("eventlistener:") {
            // Listeners fleet replaces natively (httpok, dependent-startup);
            // every other runs unchanged.
            if !addons::listener(&mut cx, sec, &group_of, &mut blocks) {
                let name = raw_name(sec);
                check_name(&cx, sec, &name)?;
                blocks.extend(program::listener(&mut cx, sec, &name)?);
            }
            continue;
        }
        sections::other_section(&mut cx, sec, &mut agent, &mut skipped)?;
    }

    if !agent.items.is_empty() || !agent.trailer.is_empty() {
        out.blocks.push(agent);
    }
    out.blocks.extend(blocks);
    out.blocks.extend(groups);
    if !skipped.trailer.is_empty() {
        out.blocks.push(skipped);
    }
    out.warnings = cx.warnings;
    Ok(out)
}
