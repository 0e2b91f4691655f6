//! Recording and alerting rules: what `hearth server` evaluates from `rule_files`, and
//! what `hearth tool check rules` / `test rules` check.
//!
//! - [`rulefmt`]: rule files in upstream's format (groups with `interval`, `limit`,
//!   `query_offset`, `labels`; recording and alerting rules), parsed with positions and
//!   validated as `promtool check rules` does, with upstream's messages.
//! - [`rule`]: recording rules (results renamed and relabeled) and alerting rules (the
//!   inactive → pending → firing state machine with `for` and `keep_firing_for`,
//!   resolved alerts kept 15 minutes for notification, templated labels and annotations
//!   with `$labels`, `$value`, `$externalLabels`, `$externalURL` and `query`).
//! - [`group`]: evaluation of a group at one timestamp (results appended, staleness
//!   markers for series that disappear, `ALERTS` / `ALERTS_FOR_STATE`, alerts handed to
//!   the [`notifier::Notifier`]), aligned evaluation times, `for` state restore after a
//!   restart, state carried over a reload.
//! - [`manager`]: groups on their schedule (one thread each), reload.
//! - [`api`]: the data of `/api/v1/rules` and `/api/v1/alerts` with upstream's JSON names.
//! - [`notifier`]: the Alertmanager API v2 alert shape and the notifier boundary.
//! - [`sender`]: the notifier to Alertmanagers over HTTP ([`NotifierManager`]):
//!   discovery of Alertmanagers with relabeling, external labels and alert relabeling,
//!   a queue and send loop per Alertmanager, drain on shutdown.
//! - [`stats`]: the counters and summaries behind the `prometheus_rule_*` and
//!   `prometheus_notifications_*` metrics.
//! - [`unittest`]: upstream's rule unit-test files (`promtool test rules`).
//!
//! Invariants: evaluation time is always passed in (the clock is read only by the
//! manager's group loops), so everything is testable on synthetic time; a rule's
//! results reach storage in one transaction; nothing read from a file or a query is
//! unwrapped.
//!
//! Never knows about: the HTTP API, scraping, the command line. Rule evaluation sees the
//! sender only through the `Notifier` trait.

pub mod api;
pub mod group;
pub mod manager;
pub mod notifier;
pub mod rule;
pub mod rulefmt;
pub mod sender;
pub mod stats;
pub mod unittest;

pub use group::{Group, GroupOptions};
pub use manager::{GroupMetrics, LoadSettings, RuleManager};
pub use notifier::{ChannelNotifier, Notifier, PostableAlert};
pub use rule::{Alert, AlertState, EvalEnv, Health, Rule};
pub use rulefmt::{ParseOptions, RuleFileError, RuleGroups};
pub use sender::{NotifierManager, SenderOptions, SenderStats};
