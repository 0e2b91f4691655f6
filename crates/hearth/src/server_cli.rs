//! `hearth server`: Prometheus' server command line (upstream's flag names and defaults)
//! and the wiring that starts it — configuration, storage, query engine, HTTP API —
//! alone or in the all-in-one.
//!
//! The HTTP listener comes up first (so `/-/healthy` answers while the WAL replays);
//! the API answers 503 until the data directory is open. SIGHUP and `POST /-/reload`
//! reload prometheus.yml; a bad file keeps the running configuration and is reported
//! with file, line and column. SIGINT, SIGTERM and `/-/quit` stop the server and flush
//! the head.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use hearth_config::{Config, ConfigError};
use hearth_promql::{Engine, EngineOptions, Features};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::build_info;
use crate::own_metrics::SampleCollector;
use crate::server_remote::ServerRemoteWrite;
use crate::server_rules::{RulesOptions, ServerRules};
use crate::server_scrape::{LateTargets, ServerScrape};
use crate::server_storage::{self, LateStorage, StorageOptions};
use hearth_scrape::GlobalUrlOptions;

/// `host:port` to scrape a component listening on `listen` (a wildcard address is
/// scraped on localhost).
fn scrape_target(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("localhost:{}", listen.port())
    } else {
        listen.to_string()
    }
}

/// The configuration `hearth` uses when prometheus.yml does not exist: scrape hearth
/// itself at `listen`, and each of `satellites` (job name, address, honor_labels): the
/// all-in-one default's node exporter and pushgateway.
pub fn default_config(listen: SocketAddr, satellites: &[(&str, SocketAddr, bool)]) -> String {
    let mut c = format!(
        "global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs:\n  - job_name: hearth\n    static_configs:\n      - targets: ['{}']\n",
        scrape_target(listen)
    );
    for (job, addr, honor_labels) in satellites {
        c.push_str(&format!(
            "  - job_name: {job}\n    honor_labels: {honor_labels}\n    static_configs:\n      - targets: ['{}']\n",
            scrape_target(*addr)
        ));
    }
    c
}

/// Prometheus' server flags.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Prometheus configuration file path.
    #[arg(
        long = "config.file",
        default_value = "prometheus.yml",
        value_name = "FILE"
    )]
    pub config_file: PathBuf,
    /// Base path for metrics storage.
    #[arg(
        long = "storage.tsdb.path",
        default_value = "data/",
        value_name = "DIR"
    )]
    pub storage_tsdb_path: PathBuf,
    /// How long to retain samples in storage (15d when neither this nor the size is
    /// set). Units: y, w, d, h, m, s, ms.
    #[arg(long = "storage.tsdb.retention.time", value_name = "DURATION")]
    pub storage_tsdb_retention_time: Option<String>,
    /// Maximum number of bytes that can be stored for blocks. Units: B, KB, MB, GB, TB,
    /// PB, EB (powers of 1024).
    #[arg(long = "storage.tsdb.retention.size", value_name = "SIZE")]
    pub storage_tsdb_retention_size: Option<String>,
    /// Address to listen on for UI, API, and telemetry. Example: `:9090`.
    #[arg(
        long = "web.listen-address",
        default_value = "0.0.0.0:9090",
        value_name = "ADDRESS"
    )]
    pub web_listen_address: String,
    /// Enable shutdown and reload via HTTP request (POST or PUT /-/quit, /-/reload).
    #[arg(long = "web.enable-lifecycle", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub web_enable_lifecycle: bool,
    /// Enable API endpoints for admin control actions (/api/v1/admin/tsdb/...).
    #[arg(long = "web.enable-admin-api", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub web_enable_admin_api: bool,
    /// Enable API endpoint accepting remote write requests (/api/v1/write).
    #[arg(long = "web.enable-remote-write-receiver", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false)]
    pub web_enable_remote_write_receiver: bool,
    /// The URL under which Prometheus is externally reachable (for example, if it is
    /// served via a reverse proxy). Used for generating relative and absolute links back
    /// to itself. If the URL has a path portion, it is used to prefix all HTTP endpoints.
    /// Defaults to http://<hostname>:<port>/.
    #[arg(long = "web.external-url", value_name = "URL")]
    pub web_external_url: Option<String>,
    /// Prefix for the internal routes of web endpoints. Defaults to the path of
    /// --web.external-url.
    #[arg(long = "web.route-prefix", value_name = "PATH")]
    pub web_route_prefix: Option<String>,
    /// Path to a configuration file that can enable TLS or authentication (Prometheus'
    /// web configuration format).
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Regex for CORS origin. It is fully anchored. Example: 'https?://(domain1|domain2)\.com'.
    #[arg(long = "web.cors.origin", default_value = ".*", value_name = "REGEX")]
    pub web_cors_origin: String,
    /// Maximum number of samples a single query can load into memory.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub query_max_samples: usize,
    /// How long to wait flushing samples on shutdown or config reload.
    #[arg(
        long = "storage.remote.flush-deadline",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub storage_remote_flush_deadline: String,
    /// Maximum time a query may take before being aborted.
    #[arg(long = "query.timeout", default_value = "2m", value_name = "DURATION")]
    pub query_timeout: String,
    /// Maximum number of queries executed concurrently.
    #[arg(long = "query.max-concurrency", default_value_t = 20, value_name = "N")]
    pub query_max_concurrency: usize,
    /// The maximum lookback duration for retrieving metrics during expression
    /// evaluations and federation.
    #[arg(
        long = "query.lookback-delta",
        default_value = "5m",
        value_name = "DURATION"
    )]
    pub query_lookback_delta: String,
    /// Comma separated feature names to enable (promql-experimental-functions,
    /// promql-per-step-stats, promql-delayed-name-removal, …). Repeatable.
    #[arg(long = "enable-feature", value_delimiter = ',', value_name = "FEATURE")]
    pub enable_feature: Vec<String>,
    /// Max time to tolerate prometheus outage for restoring "for" state of alert.
    #[arg(
        long = "rules.alert.for-outage-tolerance",
        default_value = "1h",
        value_name = "DURATION"
    )]
    pub rules_alert_for_outage_tolerance: String,
    /// Minimum duration between alert and restored "for" state. This is maintained only
    /// for alerts with configured "for" time greater than grace period.
    #[arg(
        long = "rules.alert.for-grace-period",
        default_value = "10m",
        value_name = "DURATION"
    )]
    pub rules_alert_for_grace_period: String,
    /// Minimum amount of time to wait before resending an alert to Alertmanager.
    #[arg(
        long = "rules.alert.resend-delay",
        default_value = "1m",
        value_name = "DURATION"
    )]
    pub rules_alert_resend_delay: String,
    /// Global concurrency limit for independent rules that can run concurrently
    /// (accepted; hearth evaluates the rules of a group one after the other).
    #[arg(
        long = "rules.max-concurrent-evals",
        default_value_t = 4,
        value_name = "N"
    )]
    pub rules_max_concurrent_evals: i64,
    /// The capacity of the queue for pending Alertmanager notifications (per
    /// Alertmanager).
    #[arg(
        long = "alertmanager.notification-queue-capacity",
        default_value_t = 10_000,
        value_name = "N"
    )]
    pub alertmanager_notification_queue_capacity: usize,
    /// The maximum number of notifications per batch to send to the Alertmanager.
    #[arg(
        long = "alertmanager.notification-batch-size",
        default_value_t = 256,
        value_name = "N"
    )]
    pub alertmanager_notification_batch_size: usize,
    /// Send any outstanding Alertmanager notifications when shutting down. If false, any
    /// outstanding Alertmanager notifications will be dropped when shutting down.
    #[arg(long = "alertmanager.drain-notification-queue-on-shutdown", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = true, action = clap::ArgAction::Set)]
    pub alertmanager_drain_notification_queue_on_shutdown: bool,
}

impl Default for ServerArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: ServerArgs,
        }
        Wrapper::try_parse_from(["hearth"])
            .map(|w| w.args)
            .unwrap_or_else(|_| unreachable!("the defaults parse"))
    }
}

/// The flags, resolved.
pub struct ServerOptions {
    pub config_file: PathBuf,
    /// Used when `config_file` does not exist (the all-in-one default).
    pub default_config: Option<String>,
    pub storage: StorageOptions,
    pub listen: SocketAddr,
    pub web: hearth_web::WebOptions,
    pub engine: EngineOptions,
    pub web_config_file: Option<PathBuf>,
    pub remote_write_receiver: bool,
    /// `--storage.remote.flush-deadline`.
    pub remote_flush_deadline: Duration,
    pub rules: RulesOptions,
}

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Flags(String),
    #[error("Error loading config (--config.file={file}): {err}")]
    Config { file: String, err: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Storage(#[from] server_storage::OpenError),
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    WebConfig(String),
    /// A rule file that does not load at startup (upstream exits with 1).
    #[error(
        "error loading config from {file:?}: one or more errors occurred while applying the new configuration (--config.file={file:?}): {err}"
    )]
    Rules { file: String, err: String },
}

impl ServerError {
    /// Upstream exits with 2 for a bad configuration file and 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::Config { .. } | ServerError::Flags(_) => 2,
            ServerError::Rules { .. } => 1,
            _ => 1,
        }
    }
}

fn duration_ms(flag: &str, s: &str) -> Result<i64, ServerError> {
    hearth_model::parse_duration(s)
        .map_err(|e| ServerError::Flags(format!("invalid value {s:?} for --{flag}: {e}")))
}

/// `http://<hostname>:<port>/` unless given; the path without its trailing slash.
fn external_url(given: Option<&str>, listen: &str) -> Result<url::Url, ServerError> {
    let u = match given.filter(|s| !s.is_empty()) {
        Some(u) => u.to_string(),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "localhost".to_string());
            let port = listen.rsplit_once(':').map_or("9090", |(_, p)| p);
            format!("http://{host}:{port}/")
        }
    };
    if u.starts_with(['"', '\'']) || u.ends_with(['"', '\'']) {
        return Err(ServerError::Flags(
            "parse external URL \"\": URL must not begin or end with quotes".to_string(),
        ));
    }
    let mut url = url::Url::parse(&u)
        .map_err(|e| ServerError::Flags(format!("parse external URL {u:?}: {e}")))?;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&path);
    Ok(url)
}

impl ServerArgs {
    /// The flags as `/api/v1/status/flags` shows them.
    fn flag_map(&self, log_level: &str, log_format: &str) -> BTreeMap<String, String> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        [
            (
                "alertmanager.drain-notification-queue-on-shutdown",
                self.alertmanager_drain_notification_queue_on_shutdown
                    .to_string(),
            ),
            (
                "alertmanager.notification-batch-size",
                self.alertmanager_notification_batch_size.to_string(),
            ),
            (
                "alertmanager.notification-queue-capacity",
                self.alertmanager_notification_queue_capacity.to_string(),
            ),
            ("config.file", self.config_file.display().to_string()),
            ("enable-feature", self.enable_feature.join(",")),
            ("log.format", log_format.to_string()),
            ("log.level", log_level.to_string()),
            ("query.lookback-delta", self.query_lookback_delta.clone()),
            (
                "query.max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            ("query.max-samples", self.query_max_samples.to_string()),
            ("query.timeout", self.query_timeout.clone()),
            (
                "storage.remote.flush-deadline",
                self.storage_remote_flush_deadline.clone(),
            ),
            (
                "rules.alert.for-grace-period",
                self.rules_alert_for_grace_period.clone(),
            ),
            (
                "rules.alert.for-outage-tolerance",
                self.rules_alert_for_outage_tolerance.clone(),
            ),
            (
                "rules.alert.resend-delay",
                self.rules_alert_resend_delay.clone(),
            ),
            (
                "rules.max-concurrent-evals",
                self.rules_max_concurrent_evals.to_string(),
            ),
            (
                "storage.tsdb.path",
                self.storage_tsdb_path.display().to_string(),
            ),
            (
                "storage.tsdb.retention.size",
                opt(&self.storage_tsdb_retention_size),
            ),
            (
                "storage.tsdb.retention.time",
                opt(&self.storage_tsdb_retention_time),
            ),
            (
                "web.config.file",
                self.web_config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("web.cors.origin", self.web_cors_origin.clone()),
            (
                "web.enable-admin-api",
                self.web_enable_admin_api.to_string(),
            ),
            (
                "web.enable-lifecycle",
                self.web_enable_lifecycle.to_string(),
            ),
            (
                "web.enable-remote-write-receiver",
                self.web_enable_remote_write_receiver.to_string(),
            ),
            ("web.external-url", opt(&self.web_external_url)),
            ("web.listen-address", self.web_listen_address.clone()),
            ("web.route-prefix", opt(&self.web_route_prefix)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Checks and resolves the flags.
    pub fn resolve(&self, log_level: &str, log_format: &str) -> Result<ServerOptions, ServerError> {
        let listen = hearth_node_exporter::http::parse_listen_address(&self.web_listen_address)
            .map_err(ServerError::Flags)?;
        let mut retention_ms = match &self.storage_tsdb_retention_time {
            Some(s) => duration_ms("storage.tsdb.retention.time", s)?,
            None => 0,
        };
        let retention_bytes = match &self.storage_tsdb_retention_size {
            Some(s) => {
                hearth_config::ByteSize::parse(s)
                    .map_err(|e| {
                        ServerError::Flags(format!(
                            "invalid value {s:?} for --storage.tsdb.retention.size: {e}"
                        ))
                    })?
                    .0
            }
            None => 0,
        };
        if retention_ms == 0 && retention_bytes == 0 {
            retention_ms = hearth_tsdb::db::DEFAULT_RETENTION;
        }
        let mut retention = String::new();
        if retention_ms != 0 {
            retention = hearth_model::format_duration(retention_ms);
        }
        if retention_bytes != 0 {
            if !retention.is_empty() {
                retention.push_str(" or ");
            }
            retention.push_str(&hearth_config::ByteSize(retention_bytes).to_string());
        }

        let mut features = Features::default();
        let mut per_step_stats = false;
        let mut exemplar_storage = false;
        for f in self
            .enable_feature
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
        {
            if features.enable(f) {
                continue;
            }
            match f {
                "promql-per-step-stats" => per_step_stats = true,
                // Default-on or storage features hearth always has.
                "exemplar-storage" => exemplar_storage = true,
                "native-histograms"
                | "memory-snapshot-on-shutdown"
                | "extra-scrape-metrics"
                | "created-timestamp-zero-ingestion"
                | "concurrent-rule-eval"
                | "auto-gomaxprocs"
                | "auto-gomemlimit"
                | "otlp-deltatocumulative"
                | "delayed-compaction"
                | "metadata-wal-records" => {
                    tracing::info!(feature = f, "feature flag accepted")
                }
                _ => tracing::warn!(option = f, "Unknown option for --enable-feature"),
            }
        }
        let engine = EngineOptions {
            lookback_delta_ms: duration_ms("query.lookback-delta", &self.query_lookback_delta)?,
            max_samples: self.query_max_samples,
            timeout: Duration::from_millis(
                u64::try_from(duration_ms("query.timeout", &self.query_timeout)?).unwrap_or(0),
            ),
            max_concurrent_queries: self.query_max_concurrency,
            enable_per_step_stats: per_step_stats,
            features,
            ..EngineOptions::default()
        };
        let external_url =
            external_url(self.web_external_url.as_deref(), &self.web_listen_address)?;
        let route_prefix = hearth_pushgateway::config::route_prefix(
            self.web_route_prefix.as_deref().unwrap_or(""),
            external_url.as_str(),
        );
        let cors_origin = hearth_model::FastRegex::new(&self.web_cors_origin).map_err(|e| {
            ServerError::Flags(format!(
                "could not compile CORS regex string {:?}: {e}",
                self.web_cors_origin
            ))
        })?;
        let web = hearth_web::WebOptions {
            external_url,
            route_prefix,
            enable_lifecycle: self.web_enable_lifecycle,
            enable_admin_api: self.web_enable_admin_api,
            flags: self.flag_map(log_level, log_format),
            build_info: hearth_web::BuildInfo {
                version: build_info::VERSION.into(),
                revision: build_info::REVISION.into(),
                branch: build_info::BRANCH.into(),
                build_user: String::new(),
                build_date: build_info::BUILD_DATE.into(),
                go_version: build_info::RUST_VERSION.into(),
            },
            storage_retention: retention,
            data_dir: self.storage_tsdb_path.clone(),
            lookback_delta_ms: engine.lookback_delta_ms,
            cors_origin: Some(cors_origin),
            ..hearth_web::WebOptions::default()
        };
        Ok(ServerOptions {
            config_file: self.config_file.clone(),
            default_config: None,
            storage: StorageOptions {
                path: self.storage_tsdb_path.clone(),
                retention_ms,
                retention_bytes,
                out_of_order_time_window_ms: 0,
                // Set from prometheus.yml's `storage.exemplars` when the feature is on.
                max_exemplars: usize::from(exemplar_storage),
            },
            listen,
            web,
            engine,
            web_config_file: self.web_config_file.clone(),
            remote_write_receiver: self.web_enable_remote_write_receiver,
            remote_flush_deadline: Duration::from_millis(
                u64::try_from(duration_ms(
                    "storage.remote.flush-deadline",
                    &self.storage_remote_flush_deadline,
                )?)
                .unwrap_or(0),
            ),
            rules: RulesOptions {
                outage_tolerance_ms: duration_ms(
                    "rules.alert.for-outage-tolerance",
                    &self.rules_alert_for_outage_tolerance,
                )?,
                for_grace_period_ms: duration_ms(
                    "rules.alert.for-grace-period",
                    &self.rules_alert_for_grace_period,
                )?,
                resend_delay_ms: duration_ms(
                    "rules.alert.resend-delay",
                    &self.rules_alert_resend_delay,
                )?,
                max_concurrent_evals: self.rules_max_concurrent_evals,
                sender: hearth_rules::SenderOptions {
                    queue_capacity: self.alertmanager_notification_queue_capacity,
                    max_batch_size: if self.alertmanager_notification_batch_size == 0 {
                        hearth_rules::sender::DEFAULT_MAX_BATCH_SIZE
                    } else {
                        self.alertmanager_notification_batch_size
                    },
                    drain_on_shutdown: self.alertmanager_drain_notification_queue_on_shutdown,
                    user_agent: hearth_scrape::ScrapeOptions::default().user_agent,
                },
            },
        })
    }
}

/// Loads prometheus.yml (or the built-in default when allowed and the file is absent).
pub fn load_config(path: &Path, default: Option<&str>) -> Result<Config, ServerError> {
    let err = |e: ConfigError| ServerError::Config {
        file: path.display().to_string(),
        err: e.to_string(),
    };
    match default {
        Some(text) if !path.exists() => {
            Config::load_str(text, &path.display().to_string()).map_err(err)
        }
        _ => Config::load_file(path).map_err(err),
    }
}

/// Something that applies a new configuration (the scrape manager, rules, notifier,
/// remote write register here as they land); an error fails the reload.
pub type Reloader = Box<dyn Fn(&Config) -> Result<(), String> + Send + Sync>;

/// Gauges of config reloads, under upstream's names.
struct ReloadMetrics {
    success: Gauge,
    success_time: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl ReloadMetrics {
    fn register(registry: &mut Registry) -> ReloadMetrics {
        let m = ReloadMetrics {
            success: Gauge::default(),
            success_time: Gauge::default(),
        };
        registry.register(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.success.clone(),
        );
        registry.register(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.success_time.clone(),
        );
        m
    }
}

/// Runs the server until `shutdown` resolves (or `/-/quit`).
pub async fn serve(
    opts: ServerOptions,
    mut registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let mut opts = opts;
    let config = load_config(&opts.config_file, opts.default_config.as_deref())?;
    if let Some(t) = &config.storage.tsdb {
        opts.storage.out_of_order_time_window_ms =
            t.out_of_order_time_window.to_std().as_millis() as i64;
    }
    if opts.storage.max_exemplars > 0 {
        let max = config
            .storage
            .exemplars
            .clone()
            .unwrap_or_default()
            .max_exemplars;
        opts.storage.max_exemplars = usize::try_from(max).unwrap_or(0);
    }
    let reload_metrics = ReloadMetrics::register(&mut registry);
    let now_s = || hearth_model::sample::now_ms() as f64 / 1000.0;
    reload_metrics.success.set(1);
    reload_metrics.success_time.set(now_s());
    // Components that apply a configuration synchronously register here; they also see
    // every configuration through `config_rx`.
    let remote_write = Arc::new(ServerRemoteWrite::new(opts.remote_flush_deadline));
    let mut reloaders: Vec<Reloader> = Vec::new();
    let rw = remote_write.clone();
    reloaders.push(Box::new(move |c: &Config| rw.apply_config(c)));
    let remote_read = Arc::new(hearth_remote::RemoteReadStorage::new(
        tokio::runtime::Handle::current(),
    ));
    let rr = remote_read.clone();
    reloaders.push(Box::new(move |c: &Config| {
        rr.apply_config(&c.remote_read, &c.global.external_labels.0)
            .map_err(|e| e.to_string())
    }));
    for r in &reloaders {
        r(&config).map_err(|e| ServerError::Config {
            file: opts.config_file.display().to_string(),
            err: e,
        })?;
    }
    let storage = Arc::new(LateStorage::default());
    // Scrapes, rules and remote write requests append here; the `remote_write` queues
    // read what they commit back from the WAL.
    let appendable: Arc<dyn hearth_tsdb::storage::Appendable> = storage.clone();
    // Queries (the API's and the rules') read local data merged with `remote_read`.
    let local_start = Arc::downgrade(&storage);
    let queryable: Arc<dyn hearth_tsdb::storage::Storage> =
        Arc::new(hearth_remote::FanoutStorage::new(
            storage.clone(),
            remote_read,
            Arc::new(move || local_start.upgrade().and_then(|s| s.start_time())),
        ));
    let engine = Arc::new(Engine::new(opts.engine.clone()));
    // Rule files are loaded (and a bad one stops the server) before anything is opened;
    // evaluation starts once the storage is ready.
    let mut rules = ServerRules::new(
        &opts.rules,
        engine.clone(),
        queryable.clone(),
        appendable.clone(),
        crate::server_rules::external_url_string(&opts.web.external_url),
    );
    if let Err(err) = rules.apply_config(&config) {
        return Err(ServerError::Rules {
            file: opts.config_file.display().to_string(),
            err,
        });
    }
    let (config_tx, config_rx) = watch::channel(Arc::new(config));

    let targets = Arc::new(LateTargets::new(GlobalUrlOptions {
        listen_address: opts.listen.to_string(),
        host: opts
            .web
            .external_url
            .host_str()
            .map_or_else(String::new, |h| {
                match opts.web.external_url.port_or_known_default() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                }
            }),
        scheme: opts.web.external_url.scheme().to_string(),
    }));
    let head_metrics = storage.clone();
    registry.register_collector(Box::new(SampleCollector::new(move || {
        head_metrics
            .head_metric_samples()
            .into_iter()
            .map(Into::into)
            .collect()
    })));
    let rw = remote_write.clone();
    registry.register_collector(Box::new(SampleCollector::new(move || rw.metric_samples())));
    let http_metrics = hearth_web::http_metrics::HttpMetrics::register(&mut registry);
    let registry = Arc::new(registry);
    let metrics_registry = registry.clone();
    let (metrics_rules, metrics_notifier) = (rules.manager(), rules.notifier());
    let scrape_metrics = targets.clone();
    let components = hearth_web::Components {
        exemplars: Some(storage.clone()),
        tsdb: Some(storage.clone()),
        local_storage: Some(storage.clone()),
        metrics: Some(Arc::new(move || {
            let mut families = scrape_metrics.metric_families();
            families.extend(crate::server_rules::rule_families(&metrics_rules));
            families.extend(crate::server_rules::notification_families(
                &metrics_notifier,
            ));
            (
                hearth_exposition::encode::OPENMETRICS_CONTENT_TYPE.to_string(),
                crate::own_metrics::encode_with(&metrics_registry, &families).into_bytes(),
            )
        })),
        rules: rules.manager(),
        alertmanagers: rules.notifier(),
        http_metrics: Some(http_metrics),
        targets: targets.clone(),
        extra_routes: Some(hearth_remote::http::router(
            hearth_remote::http::RemoteEndpoints {
                write: opts.remote_write_receiver.then(|| {
                    (
                        Arc::new(hearth_remote::WriteReceiver::new(Default::default())),
                        appendable.clone(),
                    )
                }),
                read: Some((
                    Arc::new(hearth_remote::ReadHandler::new(Default::default())),
                    storage.clone() as Arc<dyn hearth_tsdb::storage::Queryable>,
                )),
            },
        )),
    };
    let mut handle = hearth_web::WebHandle::new(
        engine,
        queryable.clone(),
        config_rx,
        opts.web.clone(),
        components,
    );
    let router = handle.web().router();
    let web_config = match &opts.web_config_file {
        Some(p) => {
            let c = hearth_web::web_config::WebConfig::load(p).map_err(ServerError::WebConfig)?;
            // Certificates are checked before anything listens.
            c.tls().map_err(ServerError::WebConfig)?;
            Some(c)
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: opts.listen,
            source,
        })?;
    tracing::info!(address = %opts.listen, "Listening on");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop_for_server = stop_rx.clone();
    let server_shutdown = async move {
        let _ = stop_for_server.wait_for(|s| *s).await;
    };
    let server = tokio::spawn(hearth_web::web_config::serve(
        listener,
        router,
        web_config,
        server_shutdown,
    ));

    // Open the data directory while the listener answers /-/healthy.
    let storage_opts = opts.storage.clone();
    let replay = storage.replay.clone();
    let opened = tokio::task::spawn_blocking(move || server_storage::open(&storage_opts, replay))
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(e)))?;
    let opened = match opened {
        Ok(s) => Arc::new(s),
        Err(e) => {
            let _ = stop_tx.send(true);
            let _ = server.await;
            return Err(e.into());
        }
    };
    storage.set(opened);
    remote_write.set_data_dir(&opts.storage.path);
    let initial = config_tx.borrow().clone();
    let mut scrape = ServerScrape::start(appendable.clone(), &initial).await;
    targets.set(scrape.manager(), scrape.discovery_metrics());
    rules.start();
    handle.set_ready(hearth_web::Readiness::Ready);
    tracing::info!("Server is ready to receive web requests.");

    tokio::pin!(shutdown);
    let mut hup = hangup_signal();
    let mut reloads = std::mem::replace(&mut handle.reloads, tokio::sync::mpsc::channel(1).1);
    loop {
        let reply = tokio::select! {
            () = &mut shutdown => break,
            () = handle.quit_requested() => {
                tracing::info!("Received termination request via web service, exiting gracefully...");
                break;
            }
            Some(tx) = reloads.recv() => Some(tx),
            Some(()) = hup.recv() => None,
        };
        let mut result = reload(&opts, &config_tx, &reloaders, &mut rules);
        if result.is_ok() {
            let cfg = config_tx.borrow().clone();
            result = scrape.apply_config(&cfg).await;
        }
        let ok = result.is_ok();
        handle.config_loaded(ok, hearth_model::sample::now_ms());
        reload_metrics.success.set(i64::from(ok));
        if ok {
            reload_metrics.success_time.set(now_s());
        }
        if let Some(tx) = reply {
            let _ = tx.send(result);
        }
    }
    handle.set_ready(hearth_web::Readiness::Stopping);
    // Rules first (no alert is evaluated on a half-stopped scrape), then what the
    // notifier still has queued is sent.
    rules.stop().await;
    scrape.stop().await;
    remote_write.stop().await;
    let _ = stop_tx.send(true);
    let served = server.await;
    // The handler's state and the metrics registry hold the storage too; release them so
    // the head can be closed.
    drop(handle);
    drop(registry);
    drop(targets);
    drop(appendable);
    drop(queryable);
    match Arc::into_inner(storage)
        .and_then(LateStorage::into_inner)
        .and_then(Arc::into_inner)
    {
        Some(s) => {
            tokio::task::spawn_blocking(move || s.close()).await.ok();
        }
        None => tracing::warn!("storage still in use at shutdown; the head was not flushed"),
    }
    tracing::info!("See you next time!");
    match served {
        Ok(r) => r.map_err(ServerError::Serve),
        Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
    }
}

/// Loads the file again and hands it to every component; the running configuration
/// stays when anything fails (rules and notifier are applied last, all or nothing).
fn reload(
    opts: &ServerOptions,
    tx: &watch::Sender<Arc<Config>>,
    reloaders: &[Reloader],
    rules: &mut ServerRules,
) -> Result<(), String> {
    tracing::info!(filename = %opts.config_file.display(), "Loading configuration file");
    let result = load_config(&opts.config_file, opts.default_config.as_deref())
        .map_err(|e| match e {
            ServerError::Config { err, .. } => err,
            e => e.to_string(),
        })
        .and_then(|c| {
            for r in reloaders {
                r(&c)?;
            }
            rules.apply_config(&c).map_err(|e| {
                format!(
                    "one or more errors occurred while applying the new configuration (--config.file={:?}): {e}",
                    opts.config_file.display().to_string()
                )
            })?;
            Ok(c)
        });
    match result {
        Ok(c) => {
            tx.send_replace(Arc::new(c));
            tracing::info!(filename = %opts.config_file.display(), "Completed loading of configuration file");
            Ok(())
        }
        Err(e) => {
            tracing::error!(filename = %opts.config_file.display(), err = %e, "Error reloading config");
            Err(format!(
                "error loading config from {:?}: {e}",
                opts.config_file.display().to_string()
            ))
        }
    }
}

/// SIGHUP as a stream of `()`; never yields where signals do not exist.
fn hangup_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut s) => {
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for SIGHUP: {e}"),
        }
    }
    #[cfg(not(unix))]
    std::mem::forget(tx);
    rx
}

/// `hearth server`: runs until a signal or `/-/quit`; the exit code is upstream's.
pub fn run(args: &ServerArgs, log_level: &str, log_format: &str) -> std::process::ExitCode {
    let result = (|| {
        let opts = args.resolve(log_level, log_format)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        rt.block_on(serve(
            opts,
            crate::own_metrics::new_registry(),
            crate::all_in_one::shutdown_signal(),
        ))
    })();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn parse(args: &[&str]) -> ServerArgs {
        let mut all = vec!["hearth"];
        all.extend_from_slice(args);
        Wrapper::try_parse_from(all).unwrap().args
    }

    #[test]
    fn defaults_are_upstreams() {
        let a = ServerArgs::default();
        assert_eq!(a.config_file, PathBuf::from("prometheus.yml"));
        assert_eq!(a.storage_tsdb_path, PathBuf::from("data/"));
        let o = a.resolve("info", "logfmt").unwrap();
        assert_eq!(o.listen.port(), 9090);
        assert_eq!(o.web.storage_retention, "15d");
        assert_eq!(o.storage.retention_ms, 15 * 24 * 3_600_000);
        assert_eq!(o.engine.timeout, Duration::from_secs(120));
        assert_eq!(o.engine.lookback_delta_ms, 300_000);
        assert_eq!(o.web.route_prefix, "");
        assert!(!o.web.enable_lifecycle && !o.web.enable_admin_api);
        assert_eq!(o.web.flags["query.timeout"], "2m");
        assert_eq!(o.rules.outage_tolerance_ms, 3_600_000);
        assert_eq!(o.rules.for_grace_period_ms, 600_000);
        assert_eq!(o.rules.resend_delay_ms, 60_000);
        assert_eq!(o.rules.max_concurrent_evals, 4);
        assert_eq!(o.rules.sender.queue_capacity, 10_000);
        assert_eq!(o.rules.sender.max_batch_size, 256);
        assert!(o.rules.sender.drain_on_shutdown);
        assert_eq!(o.web.flags["rules.alert.resend-delay"], "1m");
    }

    #[test]
    fn rule_and_alertmanager_flags() {
        let o = parse(&[
            "--rules.alert.resend-delay=5s",
            "--alertmanager.drain-notification-queue-on-shutdown=false",
            "--alertmanager.notification-batch-size=10",
        ])
        .resolve("info", "logfmt")
        .unwrap();
        assert_eq!(o.rules.resend_delay_ms, 5_000);
        assert!(!o.rules.sender.drain_on_shutdown);
        assert_eq!(o.rules.sender.max_batch_size, 10);
        let e = parse(&["--rules.alert.for-grace-period=soon"]).resolve("info", "logfmt");
        assert!(matches!(e, Err(ServerError::Flags(_))));
    }

    #[test]
    fn flags_parse_like_kingpin() {
        let a = parse(&[
            "--web.enable-lifecycle",
            "--web.enable-admin-api=false",
            "--enable-feature=promql-experimental-functions,promql-per-step-stats",
            "--enable-feature",
            "promql-delayed-name-removal",
            "--storage.tsdb.retention.size=1GB",
            "--web.external-url=http://example.com/prom/",
            "--web.listen-address=:9191",
            "--query.lookback-delta=1m",
        ]);
        assert!(a.web_enable_lifecycle && !a.web_enable_admin_api);
        let o = a.resolve("info", "logfmt").unwrap();
        assert!(o.engine.features.experimental_functions);
        assert!(o.engine.features.delayed_name_removal);
        assert!(o.engine.enable_per_step_stats);
        // Size retention alone switches time retention off.
        assert_eq!(o.storage.retention_ms, 0);
        assert_eq!(o.storage.retention_bytes, 1 << 30);
        assert_eq!(o.web.storage_retention, "1GiB");
        assert_eq!(o.web.route_prefix, "/prom");
        assert_eq!(o.web.external_url.as_str(), "http://example.com/prom");
        assert_eq!(o.listen.port(), 9191);
        assert_eq!(o.web.lookback_delta_ms, 60_000);
        let e = parse(&["--query.timeout=soon"]).resolve("info", "logfmt");
        assert!(matches!(e, Err(ServerError::Flags(_))));
    }

    #[test]
    fn default_config_scrapes_itself() {
        let c = default_config(
            "0.0.0.0:9090".parse().unwrap(),
            &[
                ("node", "0.0.0.0:9100".parse().unwrap(), false),
                ("pushgateway", "127.0.0.1:9091".parse().unwrap(), true),
            ],
        );
        let cfg = Config::load_str(&c, "default").unwrap();
        let jobs: Vec<_> = cfg
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(jobs, ["hearth", "node", "pushgateway"]);
        assert!(!cfg.scrape_configs[1].honor_labels);
        assert!(cfg.scrape_configs[2].honor_labels);
        assert!(c.contains("'localhost:9090'"), "{c}");
        assert!(c.contains("'localhost:9100'"), "{c}");
        assert!(c.contains("'127.0.0.1:9091'"), "{c}");
        assert!(default_config("[::1]:9095".parse().unwrap(), &[]).contains("'[::1]:9095'"));
    }
}
