//! The converted config as data: TOML tables with their comments, built by
//! `convert` and written by `emit`.

use super::Warning;

/// A TOML value to write.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    /// An inline table of strings (environment), sorted.
    Table(Vec<(String, String)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub key: String,
    pub val: Val,
}

/// One TOML table (`[program.x]`, `[group.x]`, `[agent]`) or, with no
/// header, a block of comments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// e.g. `program.celery`; empty for a comment-only block.
    pub header: String,
    /// A sub-table of `header` (`health` for `[program.web.health]`), kept
    /// apart so a program named `web.health` is not taken for one.
    pub sub: Option<String>,
    /// Comment lines written above the header.
    pub comments: Vec<String>,
    pub items: Vec<Item>,
    /// Comment lines written after the items (e.g. commented-out keys).
    pub trailer: Vec<String>,
}

impl Block {
    pub fn set(&mut self, key: &str, val: Val) {
        self.items.push(Item {
            key: key.to_string(),
            val,
        });
    }
}

/// The converted config.
#[derive(Clone, Debug, Default)]
pub struct Output {
    pub files: Vec<std::path::PathBuf>,
    pub blocks: Vec<Block>,
    pub warnings: Vec<Warning>,
}
