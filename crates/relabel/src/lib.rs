//! Prometheus relabeling.
//!
//! This crate owns the `relabel_configs` entry ([`RelabelConfig`]: field names, defaults,
//! validation and error wording as upstream's `model/relabel`) and the engine that applies
//! a list of them to a label set ([`process`], [`process_builder`]) with upstream's exact
//! semantics for every [`Action`]. Target relabeling, metric relabeling, alert relabeling
//! and remote-write relabeling all run through it.
//!
//! It never knows where label sets come from (discovery, scrapes, alerts) or how the
//! configuration file is loaded; it depends on `hearth-model` only.

mod config;
mod expand;
mod process;

pub use config::{Action, RelabelConfig, RelabelError, RelabelRegex};
pub use expand::expand_go_template;
pub use process::{process, process_builder};
