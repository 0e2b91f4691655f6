//! hearth's node exporter: the host collectors of Prometheus' node_exporter, read from
//! `/proc` and `/sys`.
//!
//! Owns the default Linux collectors (cpu, diskstats, filesystem, meminfo, netdev, …),
//! their metric names, label names, types and help texts — which are node_exporter's,
//! because dashboards and alerts are written against them — the flag-level
//! configuration ([`NodeExporterConfig`]), one scrape of every enabled collector in
//! parallel ([`NodeExporter::scrape`]), the exporter's own `process_*` metrics and the
//! HTTP endpoint ([`http`]).
//!
//! Invariants: a failing collector never fails the scrape (it reports
//! `node_scrape_collector_success 0` and the rest answers); nothing read from `/proc`,
//! `/sys` or a textfile is trusted — every error names the file and what is wrong.
//!
//! Must never know about storage, queries or scraping other targets: it turns the host's
//! kernel interfaces into metric families, nothing else.

pub mod collector;
pub mod collectors;
pub mod config;
pub mod device_filter;
pub mod exporter;
pub mod http;
pub mod paths;
pub mod process;
pub mod sink;
mod sys;

pub use collector::{CollectError, Collector};
pub use config::{COLLECTOR_FLAGS, CollectorFlag, ConfigError, NodeExporterConfig};
pub use exporter::NodeExporter;
pub use paths::HostPaths;
pub use sink::MetricSink;
