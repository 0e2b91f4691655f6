//! The Grafana side of hearth (`hearth dashboards`, :3000).
//!
//! Owns data sources, dashboards in Grafana's JSON model (stored as given, with `id`,
//! `uid`, `title` and `version` maintained), their versions, folders, tags and stars;
//! users with Grafana's roles, sessions and service-account tokens; provisioning from
//! Grafana's YAML files; and the part of Grafana's HTTP API that its clients use
//! (`grafana-client` among them), with Grafana's JSON shapes and status codes.
//!
//! - [`store`]: the [`store::DashboardStore`] trait and its types; [`sqlite`] implements
//!   it on SQLite (`hearth-dashboards.db`, versioned migrations).
//! - [`auth`]: credentials (basic, bearer token, session cookie) and role checks.
//! - [`dashboard_json`]: the boundary checks of dashboard JSON (size, object, title, uid).
//! - [`api`]: the HTTP API (axum), including the data source proxy and health check.
//! - [`provisioning`]: data sources and dashboard providers from YAML, env expansion.
//! - [`server`]: startup (admin user, provisioning) and the file re-reading loop.
//!
//! Never knows about: sample storage, PromQL, scraping, the binary's CLI. Data sources
//! are reached over HTTP through their URL, even hearth's own server.

pub mod api;
pub mod auth;
pub mod dashboard_json;
pub mod provisioning;
pub mod server;
pub mod sqlite;
pub mod store;
pub mod uid;

pub use server::{Dashboards, Options, StartError};
