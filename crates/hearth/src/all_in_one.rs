//! The default mode: every component that exists, in one process.
//!
//! Today that is the Prometheus server on :9090 (prometheus.yml from the working
//! directory, or a built-in configuration that scrapes hearth itself, its node exporter
//! and its pushgateway; data in ./data),
//! the Alertmanager on :9093 (alertmanager.yml from the working directory, or a
//! built-in configuration with one receiver without integrations; data in
//! ./data/alertmanager), the pushgateway on :9091, the node exporter on :9100, and the
//! dashboards (Grafana's API; data in ./data/dashboards, `conf/provisioning` when there
//! is one, a default data source "hearth" pointing at the server) on :3000.

use std::net::SocketAddr;

use crate::{
    alertmanager_cli, dashboards_cli, node_exporter_cli, own_metrics, pushgateway_cli, server_cli,
};

/// node_exporter's port, on every interface.
pub const NODE_EXPORTER_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9100);

/// The Pushgateway's port, on every interface.
pub const PUSHGATEWAY_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9091);

/// The Alertmanager's port, on every interface.
pub const ALERTMANAGER_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9093);

/// Grafana's port, on every interface.
pub const DASHBOARDS_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 3000);

/// What the default mode needs to start.
pub struct Options {
    pub listen: SocketAddr,
    pub node_exporter_listen: SocketAddr,
    pub pushgateway_listen: SocketAddr,
    pub alertmanager_listen: SocketAddr,
    pub dashboards_listen: SocketAddr,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Server(server_cli::ServerError),
}

impl StartError {
    /// Upstream's exit code for the failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Server(e) => e.exit_code(),
            StartError::Runtime(_) => 1,
        }
    }
}

/// Runs until SIGINT or SIGTERM.
pub fn run(opts: Options) -> Result<(), StartError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    rt.block_on(serve(opts))
}

async fn serve(opts: Options) -> Result<(), StartError> {
    let args = server_cli::ServerArgs {
        web_listen_address: opts.listen.to_string(),
        ..server_cli::ServerArgs::default()
    };
    let server = async {
        let mut server_opts = args.resolve("info", "logfmt").map_err(StartError::Server)?;
        // Without a prometheus.yml, scrape hearth itself, its node exporter and its
        // pushgateway (honoring the pushed job/instance labels, as upstream advises).
        server_opts.default_config = Some(server_cli::default_config(
            opts.listen,
            &[
                ("node", opts.node_exporter_listen, false),
                ("pushgateway", opts.pushgateway_listen, true),
            ],
        ));
        server_cli::serve(server_opts, own_metrics::new_registry(), shutdown_signal())
            .await
            .map_err(StartError::Server)
    };
    let (ne_config, ne_http) = node_exporter_cli::default_options();
    // A port already taken (a real node_exporter on :9100) must not keep the rest of
    // hearth from starting: report it and carry on without the node exporter.
    let node_exporter = async {
        let listen = [opts.node_exporter_listen];
        if let Err(e) =
            node_exporter_cli::serve(ne_config, ne_http, &listen, shutdown_signal()).await
        {
            tracing::error!("node exporter not started: {e}");
        }
        Ok::<(), StartError>(())
    };
    // Likewise a real Pushgateway on :9091.
    let pushgateway = async {
        let listen = [opts.pushgateway_listen];
        let config = pushgateway_cli::default_config();
        if let Err(e) = pushgateway_cli::serve(config, &listen, shutdown_signal()).await {
            tracing::error!("pushgateway not started: {e}");
        }
        Ok::<(), StartError>(())
    };
    // Likewise a real Alertmanager on :9093.
    let alertmanager = async {
        let listen = [opts.alertmanager_listen];
        let am_opts = alertmanager_cli::default_options(
            opts.alertmanager_listen,
            std::path::PathBuf::from("data/alertmanager"),
        );
        if let Err(e) = alertmanager_cli::serve(
            am_opts,
            None,
            &listen,
            prometheus_client::registry::Registry::default(),
            shutdown_signal(),
        )
        .await
        {
            tracing::error!("alertmanager not started: {e}");
        }
        Ok::<(), StartError>(())
    };
    // Likewise a real Grafana on :3000.
    let dashboards = async {
        let listen = [opts.dashboards_listen];
        let d_opts = dashboards_cli::default_options(opts.listen);
        if let Err(e) = dashboards_cli::serve(d_opts, None, &listen, shutdown_signal()).await {
            tracing::error!("dashboards not started: {e}");
        }
        Ok::<(), StartError>(())
    };
    tokio::try_join!(server, node_exporter, pushgateway, alertmanager, dashboards).map(|_| ())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("received shutdown signal, stopping");
}
