//! Prometheus' Alertmanager for hearth (`hearth alertmanager`, :9093).
//!
//! Owns alertmanager.yml ([`config`]), label matchers ([`matcher`]), the alert store
//! ([`store`]), the routing tree and aggregation groups ([`dispatch`]), inhibition
//! ([`inhibit`]), silences ([`silence`]), the notification log ([`nflog`]), the
//! notification pipeline and receivers ([`notify`]), the HTTP API v2 ([`api`]) and the
//! wiring of them all ([`server`]).
//!
//! Invariants: every state that decides what is sent (alerts, silences, notification
//! log) is written to `--storage.path` atomically (temporary file, fsync, rename) after
//! each change and on shutdown, so a restart neither re-sends nor loses a notification
//! (a resolved notification in particular); nothing from a request or a file is
//! unwrapped; a rejected request changes nothing.
//!
//! Never knows about: PromQL, storage of samples, scraping, the binary's CLI.

pub mod config;
pub mod labelset;
pub mod matcher;
pub mod time;

#[cfg(test)]
mod test_util {}
