//! Configuration: TOML in, a validated [`Config`] out.
//!
//! Two stages: `raw` (serde structs that reject unknown keys, with spans)
//! then `validate` (collects every problem with `file:line:col`, expands
//! `${VAR}` and `{num}`-style templates, resolves users). See `model` for the
//! output.

mod model;

pub use model::*;
