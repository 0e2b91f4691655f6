//! `hearth pushgateway`: the Pushgateway's command line (upstream's flag names and
//! defaults) and the wiring that starts it, alone or in the all-in-one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hearth_pushgateway::config::{format_go_duration, parse_go_duration, route_prefix};
use hearth_pushgateway::{BuildInfo, PushgatewayConfig};

use crate::build_info;
use crate::component_server::{self, ComponentError};

/// The Pushgateway's flags.
#[derive(Args, Debug)]
pub struct PushgatewayArgs {
    /// Addresses on which to expose metrics, the push API and the JSON API. Repeatable.
    /// Examples: `:9091` or `[::1]:9091`.
    #[arg(
        long = "web.listen-address",
        default_value = ":9091",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: Vec<String>,
    /// Path under which to expose metrics (pushed ones and the pushgateway's own).
    #[arg(
        long = "web.telemetry-path",
        default_value = "/metrics",
        value_name = "PATH"
    )]
    pub web_telemetry_path: String,
    /// The URL under which the Pushgateway is externally reachable.
    #[arg(long = "web.external-url", default_value = "", value_name = "URL")]
    pub web_external_url: String,
    /// Prefix for the internal routes of web endpoints. Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", default_value = "", value_name = "PREFIX")]
    pub web_route_prefix: String,
    /// Enable shutdown via HTTP request (PUT or POST /-/quit).
    #[arg(long = "web.enable-lifecycle")]
    pub web_enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions (PUT /api/v1/admin/wipe).
    #[arg(long = "web.enable-admin-api")]
    pub web_enable_admin_api: bool,
    /// File to persist metrics. If empty, metrics are only kept in memory. The format is
    /// upstream's, so files of Prometheus' Pushgateway load as they are.
    #[arg(long = "persistence.file", default_value = "", value_name = "FILE")]
    pub persistence_file: String,
    /// The minimum interval at which to write out the persistence file (Go duration:
    /// 30s, 5m, 1h30m). It is also written on shutdown.
    #[arg(
        long = "persistence.interval",
        default_value = "5m",
        value_name = "DURATION",
        value_parser = parse_go_duration
    )]
    pub persistence_interval: Duration,
    /// Do not check consistency of pushed metrics. DANGEROUS: one inconsistent push
    /// then fails every scrape until it is deleted.
    #[arg(long = "push.disable-consistency-check")]
    pub push_disable_consistency_check: bool,
}

fn build() -> BuildInfo {
    BuildInfo {
        version: build_info::VERSION.into(),
        revision: build_info::REVISION.into(),
        branch: build_info::BRANCH.into(),
        build_user: String::new(),
        build_date: build_info::BUILD_DATE.into(),
        toolchain: build_info::RUST_VERSION.into(),
    }
}

impl PushgatewayArgs {
    pub fn config(&self, log_level: &str, log_format: &str) -> PushgatewayConfig {
        let flags: BTreeMap<String, String> = [
            ("log.format", log_format.to_string()),
            ("log.level", log_level.to_string()),
            ("persistence.file", self.persistence_file.clone()),
            (
                "persistence.interval",
                format_go_duration(self.persistence_interval),
            ),
            (
                "push.disable-consistency-check",
                self.push_disable_consistency_check.to_string(),
            ),
            (
                "web.enable-admin-api",
                self.web_enable_admin_api.to_string(),
            ),
            (
                "web.enable-lifecycle",
                self.web_enable_lifecycle.to_string(),
            ),
            ("web.external-url", self.web_external_url.clone()),
            ("web.listen-address", self.web_listen_address.join(",")),
            ("web.route-prefix", self.web_route_prefix.clone()),
            ("web.telemetry-path", self.web_telemetry_path.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        PushgatewayConfig {
            telemetry_path: self.web_telemetry_path.clone(),
            route_prefix: route_prefix(&self.web_route_prefix, &self.web_external_url),
            enable_admin_api: self.web_enable_admin_api,
            enable_lifecycle: self.web_enable_lifecycle,
            persistence_file: (!self.persistence_file.is_empty())
                .then(|| PathBuf::from(&self.persistence_file)),
            persistence_interval: self.persistence_interval,
            check_consistency: !self.push_disable_consistency_check,
            flags,
            build: build(),
        }
    }
}

/// Binds every address and serves the pushgateway until `shutdown` resolves.
pub async fn serve(
    config: PushgatewayConfig,
    addrs: &[SocketAddr],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ComponentError> {
    let listeners = component_server::bind(addrs, "pushgateway").await?;
    hearth_pushgateway::serve(config, listeners, shutdown)
        .await
        .map_err(ComponentError::Serve)
}

/// The pushgateway with upstream's defaults, for the all-in-one mode.
pub fn default_config() -> PushgatewayConfig {
    PushgatewayConfig {
        build: build(),
        ..PushgatewayConfig::default()
    }
}

/// Runs `hearth pushgateway` until SIGINT, SIGTERM or `/-/quit`.
pub fn run(args: &PushgatewayArgs, log_level: &str, log_format: &str) -> ExitCode {
    tracing::info!(version = build_info::VERSION, "starting pushgateway");
    component_server::run(&args.web_listen_address, |addrs| async move {
        serve(
            args.config(log_level, log_format),
            &addrs,
            crate::all_in_one::shutdown_signal(),
        )
        .await
    })
}
