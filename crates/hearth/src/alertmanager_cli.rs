//! `hearth alertmanager`: Prometheus Alertmanager's command line (upstream's flag names
//! and defaults) and the wiring that serves it, alone or in the all-in-one; and
//! `hearth tool check-alertmanager-config` (upstream's `amtool check-config`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hearth_alertmanager::server::{BuildInfo, Options};
use hearth_pushgateway::config::{parse_go_duration, route_prefix};

use crate::build_info;
use crate::component_server::{self, ComponentError};

/// The Alertmanager's flags.
#[derive(Args, Debug, Clone)]
pub struct AlertmanagerArgs {
    /// Alertmanager configuration file name.
    #[arg(
        long = "config.file",
        default_value = "alertmanager.yml",
        value_name = "FILE"
    )]
    pub config_file: PathBuf,
    /// Base path for data storage (alerts, silences, notification log).
    #[arg(long = "storage.path", default_value = "data/", value_name = "PATH")]
    pub storage_path: PathBuf,
    /// How long to keep data for (expired silences, notification log entries).
    #[arg(long = "data.retention", default_value = "120h", value_parser = parse_go_duration, value_name = "DURATION")]
    pub data_retention: Duration,
    /// Interval between garbage collection of expired silences and notification log
    /// entries (hearth writes every change to disk within a second regardless).
    #[arg(long = "data.maintenance-interval", default_value = "15m", value_parser = parse_go_duration, value_name = "DURATION")]
    pub data_maintenance_interval: Duration,
    /// Interval between alert GC.
    #[arg(long = "alerts.gc-interval", default_value = "30m", value_parser = parse_go_duration, value_name = "DURATION")]
    pub alerts_gc_interval: Duration,
    /// Address to listen on for the web interface and API. Repeatable.
    #[arg(
        long = "web.listen-address",
        default_value = ":9093",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: Vec<String>,
    /// The URL under which Alertmanager is externally reachable (for example, if it is
    /// served via a reverse proxy). Used in notifications; its path is the default route
    /// prefix.
    #[arg(long = "web.external-url", default_value = "", value_name = "URL")]
    pub web_external_url: String,
    /// Prefix for the internal routes of web endpoints. Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", default_value = "", value_name = "PREFIX")]
    pub web_route_prefix: String,
    /// Path to a configuration file that can enable TLS or authentication (Prometheus'
    /// web configuration format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Use systemd socket activation listeners instead of port listeners (accepted;
    /// not supported yet).
    #[arg(long = "web.systemd-socket")]
    pub web_systemd_socket: bool,
    /// Maximum number of GET requests processed concurrently (accepted; hearth does not
    /// limit them).
    #[arg(long = "web.get-concurrency", default_value = "0", value_name = "N")]
    pub web_get_concurrency: u32,
    /// Timeout for HTTP requests (accepted; hearth does not enforce it).
    #[arg(long = "web.timeout", default_value = "0", value_name = "DURATION")]
    pub web_timeout: String,
    /// Experimental features to enable (accepted, none change hearth's behaviour).
    #[arg(long = "enable-feature", value_name = "FEATURE")]
    pub enable_feature: Vec<String>,
    /// Maximum number of silences, including expired ones (accepted; 0 is no limit).
    #[arg(long = "silences.max-silences", default_value = "0")]
    pub silences_max_silences: u64,
    /// Maximum size of a silence in bytes (accepted; 0 is no limit).
    #[arg(long = "silences.max-silence-size-bytes", default_value = "0")]
    pub silences_max_silence_size_bytes: u64,
    /// Listen address for cluster. Clustering is not implemented by hearth yet: the
    /// cluster flags are accepted so existing command lines work, and the instance runs
    /// alone.
    #[arg(
        long = "cluster.listen-address",
        default_value = "0.0.0.0:9094",
        value_name = "ADDRESS"
    )]
    pub cluster_listen_address: String,
    /// Explicit address to advertise in cluster (accepted; see --cluster.listen-address).
    #[arg(long = "cluster.advertise-address", default_value = "")]
    pub cluster_advertise_address: String,
    /// Initial peers (repeatable; accepted, see --cluster.listen-address).
    #[arg(long = "cluster.peer", value_name = "ADDRESS")]
    pub cluster_peer: Vec<String>,
    /// Time to wait between peers to send notifications (accepted).
    #[arg(long = "cluster.peer-timeout", default_value = "15s")]
    pub cluster_peer_timeout: String,
    /// Interval between sending gossip messages (accepted).
    #[arg(long = "cluster.gossip-interval", default_value = "200ms")]
    pub cluster_gossip_interval: String,
    /// Interval for gossip state syncs (accepted).
    #[arg(long = "cluster.pushpull-interval", default_value = "1m0s")]
    pub cluster_pushpull_interval: String,
    /// Timeout for establishing a stream connection with a remote node (accepted).
    #[arg(long = "cluster.tcp-timeout", default_value = "10s")]
    pub cluster_tcp_timeout: String,
    /// Timeout to wait for an ack from a probed node (accepted).
    #[arg(long = "cluster.probe-timeout", default_value = "500ms")]
    pub cluster_probe_timeout: String,
    /// Interval between random node probes (accepted).
    #[arg(long = "cluster.probe-interval", default_value = "1s")]
    pub cluster_probe_interval: String,
    /// Maximum time to wait for cluster connections to settle (accepted).
    #[arg(long = "cluster.settle-timeout", default_value = "1m0s")]
    pub cluster_settle_timeout: String,
    /// Interval between attempting to reconnect to lost peers (accepted).
    #[arg(long = "cluster.reconnect-interval", default_value = "10s")]
    pub cluster_reconnect_interval: String,
    /// Length of time to attempt to reconnect to a lost peer (accepted).
    #[arg(long = "cluster.reconnect-timeout", default_value = "6h0m0s")]
    pub cluster_reconnect_timeout: String,
    /// Path to a TLS config file for the cluster (accepted).
    #[arg(long = "cluster.tls-config", default_value = "")]
    pub cluster_tls_config: String,
    /// Allow advertising a public address found automatically (accepted).
    #[arg(long = "cluster.allow-insecure-public-advertise-address-discovery")]
    pub cluster_allow_insecure_public_advertise_address_discovery: bool,
    /// The cluster label (accepted).
    #[arg(long = "cluster.label", default_value = "")]
    pub cluster_label: String,
}

impl Default for AlertmanagerArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            a: AlertmanagerArgs,
        }
        P::try_parse_from(["alertmanager"])
            .map(|p| p.a)
            .unwrap_or_else(|_| unreachable!())
    }
}

pub fn build() -> BuildInfo {
    BuildInfo {
        version: build_info::VERSION.into(),
        revision: build_info::REVISION.into(),
        branch: build_info::BRANCH.into(),
        build_user: String::new(),
        build_date: build_info::BUILD_DATE.into(),
        go_version: build_info::RUST_VERSION.into(),
    }
}

impl AlertmanagerArgs {
    /// The options for `listen` (the first listen address names the default external URL).
    pub fn options(&self, listen: Option<SocketAddr>) -> Options {
        let external = if self.web_external_url.is_empty() {
            let host = hostname();
            let port = listen.map_or(9093, |a| a.port());
            format!("http://{host}:{port}")
        } else {
            self.web_external_url.trim_end_matches('/').to_string()
        };
        Options {
            config_file: self.config_file.clone(),
            default_config: None,
            storage_path: self.storage_path.clone(),
            retention: self.data_retention,
            gc_interval: self.alerts_gc_interval,
            maintenance_interval: self.data_maintenance_interval,
            persist_interval: Duration::from_millis(500),
            external_url: external,
            route_prefix: route_prefix(&self.web_route_prefix, &self.web_external_url),
            build: build(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Starts the Alertmanager on the given addresses and serves it until `shutdown`.
pub async fn serve(
    opts: Options,
    web_config_file: Option<PathBuf>,
    addrs: &[SocketAddr],
    registry: prometheus_client::registry::Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ComponentError> {
    let web_config = component_server::load_web_config(web_config_file.as_deref())?;
    let am = hearth_alertmanager::Alertmanager::start(opts, registry)
        .map_err(|e| ComponentError::Config(e.to_string()))?;
    let listeners = component_server::bind(addrs, "alertmanager").await?;
    let serving = component_server::Serving::start(
        listeners,
        hearth_alertmanager::api::router(am.clone()),
        web_config,
    );
    // SIGHUP reloads, as upstream.
    #[cfg(unix)]
    {
        let am = am.clone();
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                let _ = am.reload().await;
            }
        });
    }
    am.clone().run(shutdown).await;
    serving.stop().await
}

/// Runs `hearth alertmanager` until SIGINT or SIGTERM.
pub fn run(args: &AlertmanagerArgs) -> ExitCode {
    tracing::info!(version = build_info::VERSION, "Starting Alertmanager");
    if !args.cluster_peer.is_empty() {
        tracing::warn!(
            peers = ?args.cluster_peer,
            "clustering is not implemented by hearth yet: --cluster.* flags are accepted and this instance runs alone"
        );
    }
    component_server::run(&args.web_listen_address, |addrs| async move {
        let opts = args.options(addrs.first().copied());
        serve(
            opts,
            args.web_config_file.clone(),
            &addrs,
            crate::own_metrics::new_registry(),
            crate::all_in_one::shutdown_signal(),
        )
        .await
    })
}

/// The all-in-one's Alertmanager: alertmanager.yml from the working directory if there
/// is one, else the built-in default; data in `data_dir`.
pub fn default_options(listen: SocketAddr, data_dir: PathBuf) -> Options {
    let mut opts = AlertmanagerArgs::default().options(Some(listen));
    opts.default_config = Some(hearth_alertmanager::config::DEFAULT_CONFIG.to_string());
    opts.storage_path = data_dir;
    opts
}

/// `hearth tool check-alertmanager-config FILE…`: as `amtool check-config`, loads each
/// file and its templates and prints a summary. Exit code 0 valid, 1 invalid.
pub fn check_config(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let mut failed = false;
    for f in files {
        let _ = writeln!(out, "Checking '{}'", f.display());
        match hearth_alertmanager::Config::load_file(f) {
            Ok(cfg) => {
                if let Err(e) = hearth_alertmanager::server::load_templates(&cfg) {
                    let _ = writeln!(err, "  FAILED: {e}");
                    failed = true;
                    continue;
                }
                let _ = writeln!(out, "  SUCCESS");
                let _ = writeln!(out, "Found:");
                let intervals = cfg.time_intervals.len() + cfg.mute_time_intervals.len();
                let _ = writeln!(out, " - global config");
                let _ = writeln!(out, " - route");
                let _ = writeln!(out, " - {} inhibit rules", cfg.inhibit_rules.len());
                let _ = writeln!(out, " - {} receivers", cfg.receivers.len());
                let _ = writeln!(out, " - {} templates", cfg.templates.len());
                if intervals > 0 {
                    let _ = writeln!(out, " - {intervals} time intervals");
                }
            }
            Err(e) => {
                let _ = writeln!(err, "  FAILED: {e}");
                failed = true;
            }
        }
        let _ = writeln!(out);
    }
    u8::from(failed)
}
