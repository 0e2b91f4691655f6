//! hearth's HTTP server for the Prometheus server: upstream's HTTP API (`/api/v1/…`),
//! `/federate`, the lifecycle and health endpoints and hearth's own `/metrics`, on axum.
//!
//! Owns: the API's JSON shapes and error shapes byte for byte as upstream's
//! `web/api/v1` writes them (`json`, `response`), request parameters as Go's
//! `net/http` reads them (`params`: POST form bodies before URL query values), the
//! endpoints (`query`, `meta`, `status`, `admin`, `federate`), the router with route
//! prefix, readiness gating, gzip and CORS (`server`, `compress`), and the
//! `--web.config.file` format with TLS and bcrypt basic auth (`web_config`, `tls`), and
//! the browser UI of `ui/`, embedded at compile time and served at upstream's page paths
//! (`assets`).
//!
//! Components plug in through traits in `sources` (targets and metadata, rules and
//! alerts, Alertmanagers, exemplars, TSDB admin; the rule manager and the notifier of
//! `hearth-rules` implement theirs here, and their JSON shapes are `hearth_rules::api`'s)
//! and through [`Components::extra_routes`] (remote write/read, OTLP). Absent ones
//! answer with upstream's empty shapes.
//!
//! Invariants: nothing from a request is unwrapped; every error answer is upstream's
//! `{"status":"error","errorType":…,"error":…}` with upstream's status code; queries
//! run on the blocking pool and stop when their client goes away or their `timeout`
//! passes. Never knows about: scraping, rule evaluation, the command line.

pub mod admin;
pub mod assets;
pub mod ast_json;
pub mod compress;
pub mod federate;
pub mod http_metrics;
pub mod json;
pub mod meta;
pub mod params;
pub mod query;
pub mod response;
pub mod server;
pub mod sources;
pub mod status;
pub mod web_config;

pub use response::{ApiError, ApiResult, ApiSuccess, ErrorType};
pub use server::{
    BuildInfo, Components, MetricsFn, Readiness, ReloadRequest, Web, WebHandle, WebOptions,
};
pub use sources::{
    ActiveTarget, AlertmanagersSource, DroppedTarget, ExemplarSource, HeadStats, MetricMetadata,
    RulesSource, SeriesExemplars, TargetHealth, TargetsSource, TsdbAdmin, TsdbStat, TsdbStatus,
    WalReplayStatus,
};
