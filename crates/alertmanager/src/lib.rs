//! Prometheus' Alertmanager for hearth (`hearth alertmanager`, :9093).
//!
//! Owns alertmanager.yml ([`config`]), label matchers ([`matcher`]), alerts
//! ([`alert`]) and their store ([`store`]), the routing tree and aggregation groups
//! ([`dispatch`]), inhibition ([`inhibit`]), silences ([`silence`]), the notification
//! log ([`nflog`]), the notification pipeline and receivers ([`notify`]), the HTTP API
//! v2 ([`api`]) and the wiring of them all with reloads and persistence ([`server`]).
//!
//! Invariants: every state that decides what is sent (alerts, silences, notification
//! log) is written under `--storage.path` atomically (temporary file, fsync, rename)
//! shortly after each change and on shutdown, so a restart neither re-sends a
//! notification nor loses one (a resolved notification in particular); nothing from a
//! request or a file is unwrapped; a rejected request changes nothing.
//!
//! Never knows about: PromQL, sample storage, scraping, the binary's CLI.

pub mod alert;
pub mod api;
pub mod config;
pub mod dispatch;
pub mod gojson;
pub mod inhibit;
pub mod labelset;
pub mod matcher;
pub mod metrics;
pub mod nflog;
pub mod notify;
mod persist;
pub mod server;
pub mod silence;
pub mod store;
pub mod time;

pub use config::Config;
pub use server::{Alertmanager, Options};
