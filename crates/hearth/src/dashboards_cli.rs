//! `hearth dashboards`: the Grafana side (data sources, dashboards, folders, users,
//! provisioning, Grafana's HTTP API subset) on :3000, and its part of the all-in-one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hearth_dashboards::api::BuildInfo;
use hearth_dashboards::provisioning::DataSourceConfig;
use hearth_dashboards::{Dashboards, Options};

use crate::build_info;
use crate::component_server::{self, ComponentError};

#[derive(Args, Debug, Clone)]
pub struct DashboardsArgs {
    /// Address to listen on for the API (and, later, the UI). Repeatable.
    #[arg(
        long = "web.listen-address",
        default_value = ":3000",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: Vec<String>,
    /// Directory of the dashboards database (hearth-dashboards.db: users, data sources,
    /// dashboards and their versions).
    #[arg(
        long = "storage.path",
        default_value = "data/dashboards",
        value_name = "DIR"
    )]
    pub storage_path: PathBuf,
    /// Login of the admin user created at the first start (Grafana's
    /// GF_SECURITY_ADMIN_USER).
    #[arg(
        long = "admin-user",
        env = "GF_SECURITY_ADMIN_USER",
        default_value = "admin",
        value_name = "LOGIN"
    )]
    pub admin_user: String,
    /// Password of the admin user created at the first start (Grafana's
    /// GF_SECURITY_ADMIN_PASSWORD). Without it the admin's password is "admin" and must
    /// be changed at the first login; given later, it replaces that default password
    /// only while it was never changed.
    #[arg(
        long = "admin-password",
        env = "GF_SECURITY_ADMIN_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub admin_password: Option<String>,
    /// Grafana provisioning directory (conf/provisioning layout: datasources/*.yaml,
    /// dashboards/*.yaml). Dashboard files are re-read every updateIntervalSeconds.
    #[arg(long = "provisioning", value_name = "DIR")]
    pub provisioning: Option<PathBuf>,
    /// Path to a configuration file that can enable TLS or basic authentication in front
    /// of the API (Prometheus' web configuration format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
}

fn build() -> BuildInfo {
    BuildInfo {
        version: build_info::VERSION.into(),
        commit: build_info::REVISION.into(),
        build_date: build_info::BUILD_DATE.into(),
    }
}

impl DashboardsArgs {
    pub fn options(&self) -> Options {
        Options {
            storage_path: self.storage_path.clone(),
            admin_user: self.admin_user.clone(),
            admin_password: self.admin_password.clone().filter(|p| !p.is_empty()),
            provisioning_dir: self.provisioning.clone(),
            extra_data_sources: Vec::new(),
            build: build(),
        }
    }
}

/// The all-in-one's dashboards: data in `data/dashboards`, `conf/provisioning` from the
/// working directory when it exists, and a default data source "hearth" pointing at the
/// all-in-one's server.
pub fn default_options(server: SocketAddr) -> Options {
    let port = server.port();
    let provisioning = PathBuf::from("conf/provisioning");
    Options {
        storage_path: PathBuf::from("data/dashboards"),
        admin_user: std::env::var("GF_SECURITY_ADMIN_USER").unwrap_or_else(|_| "admin".into()),
        admin_password: std::env::var("GF_SECURITY_ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
        provisioning_dir: provisioning.is_dir().then_some(provisioning),
        extra_data_sources: vec![DataSourceConfig {
            name: "hearth".into(),
            type_: "prometheus".into(),
            uid: "hearth".into(),
            access: "proxy".into(),
            url: format!("http://localhost:{port}"),
            is_default: true,
            json_data: Some(
                serde_json::json!({"httpMethod": "POST", "prometheusType": "Prometheus"}),
            ),
            editable: false,
            ..DataSourceConfig::default()
        }],
        build: build(),
    }
}

/// Starts the dashboards component on `addrs` and serves it until `shutdown`.
pub async fn serve(
    opts: Options,
    web_config_file: Option<PathBuf>,
    addrs: &[SocketAddr],
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ComponentError> {
    let web_config = component_server::load_web_config(web_config_file.as_deref())?;
    let dashboards = tokio::task::spawn_blocking(move || Dashboards::start(opts))
        .await
        .map_err(|e| ComponentError::Config(e.to_string()))?
        .map_err(|e| ComponentError::Config(e.to_string()))?;
    let listeners = component_server::bind(addrs, "dashboards").await?;
    let serving = component_server::Serving::start(listeners, dashboards.router(), web_config);
    dashboards.run(shutdown).await;
    serving.stop().await
}

/// Runs `hearth dashboards` until SIGINT or SIGTERM.
pub fn run(args: &DashboardsArgs) -> ExitCode {
    tracing::info!(version = build_info::VERSION, "Starting dashboards");
    component_server::run(&args.web_listen_address, |addrs| async move {
        serve(
            args.options(),
            args.web_config_file.clone(),
            &addrs,
            crate::all_in_one::shutdown_signal(),
        )
        .await
    })
}
