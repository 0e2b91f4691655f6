//! The running Alertmanager: configuration (load, reload on request), the alert store,
//! silences and notification log opened from `--storage.path`, the dispatcher and its
//! pipeline, periodic persistence and garbage collection, and the HTTP router.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hearth_config::ConfigError;
use hearth_template::{FuncMap, NotificationTemplates};
use parking_lot::RwLock;
use prometheus_client::registry::Registry;

use crate::config::Config;
use crate::dispatch::{Dispatcher, Route};
use crate::metrics::Metrics;
use crate::nflog::NotificationLog;
use crate::notify::{Pipeline, Shared};
use crate::silence::{SilenceState, Silences};
use crate::store::AlertStore;
use crate::time::{Time, now};

/// Build information shown by `/api/v2/status`.
#[derive(Clone, Debug, Default)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    pub go_version: String,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// alertmanager.yml.
    pub config_file: PathBuf,
    /// Used when `config_file` does not exist (the all-in-one default).
    pub default_config: Option<String>,
    /// Where alerts, silences and the notification log are kept.
    pub storage_path: PathBuf,
    /// How long silences and log entries are kept after they end.
    pub retention: Duration,
    /// How often resolved alerts are garbage-collected.
    pub gc_interval: Duration,
    /// How often expired silences and log entries are garbage-collected.
    pub maintenance_interval: Duration,
    /// How soon a change is written to disk.
    pub persist_interval: Duration,
    /// `--web.external-url` (the URL in notifications).
    pub external_url: String,
    /// `--web.route-prefix`, `""` or `/prefix`.
    pub route_prefix: String,
    pub build: BuildInfo,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_file: PathBuf::from("alertmanager.yml"),
            default_config: None,
            storage_path: PathBuf::from("data/"),
            retention: Duration::from_secs(120 * 3600),
            gc_interval: Duration::from_secs(30 * 60),
            maintenance_interval: Duration::from_secs(15 * 60),
            persist_interval: Duration::from_millis(500),
            external_url: String::new(),
            route_prefix: String::new(),
            build: BuildInfo::default(),
        }
    }
}

/// Why the Alertmanager did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(ConfigError),
    #[error("{0}")]
    Templates(String),
    #[error("{0}")]
    Receivers(String),
    #[error("cannot create the storage directory {path}: {source}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
}

/// What one configuration runs.
pub struct Running {
    pub config: Arc<Config>,
    pub dispatcher: Arc<Dispatcher>,
    pub pipeline: Arc<Pipeline>,
}

/// The Alertmanager.
pub struct Alertmanager {
    pub opts: Options,
    pub store: Arc<AlertStore>,
    pub silences: Arc<Silences>,
    pub nflog: Arc<NotificationLog>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    running: RwLock<Arc<Running>>,
    reload_lock: tokio::sync::Mutex<()>,
    pub started: Time,
}

/// Loads the templates a configuration names (globs, as upstream).
pub fn load_templates(cfg: &Config) -> Result<NotificationTemplates, String> {
    let mut files: Vec<(String, String)> = Vec::new();
    for pattern in &cfg.templates {
        let paths =
            glob::glob(pattern).map_err(|e| format!("invalid template glob {pattern:?}: {e}"))?;
        for p in paths.flatten() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("reading template {}: {e}", p.display()))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((name, text));
        }
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    NotificationTemplates::new(&refs, &FuncMap::new()).map_err(|e| e.to_string())
}

impl Alertmanager {
    /// Loads the configuration, opens the state under the storage path and starts the
    /// dispatcher. Must run inside a Tokio runtime.
    pub fn start(opts: Options, mut registry: Registry) -> Result<Arc<Alertmanager>, StartError> {
        let cfg = load_config(&opts).map_err(StartError::Config)?;
        std::fs::create_dir_all(&opts.storage_path).map_err(|source| StartError::Storage {
            path: opts.storage_path.display().to_string(),
            source,
        })?;
        let dir = &opts.storage_path;
        let (store, w1) = AlertStore::open(Some(dir.join("alerts.json")));
        let (silences, w2) = Silences::open(Some(dir.join("silences.json")), opts.retention);
        let (nflog, w3) = NotificationLog::open(Some(dir.join("nflog.json")), opts.retention);
        for w in [w1, w2, w3].into_iter().flatten() {
            tracing::warn!("{w}");
        }
        tracing::info!(
            alerts = store.len(),
            silences = silences.list().len(),
            nflog_entries = nflog.len(),
            path = %dir.display(),
            "state loaded"
        );
        let metrics = Arc::new(Metrics::new(&mut registry));
        let store = Arc::new(store);
        let silences = Arc::new(silences);
        let nflog = Arc::new(nflog);
        let running = build(&cfg, &opts, &store, &silences, &nflog, &metrics)?;
        running.dispatcher.start(&store);
        metrics.config_last_reload_successful.set(1);
        metrics.config_last_reload_success_timestamp.set(unix_now());
        metrics.config_hash.set(config_hash(&cfg));
        Ok(Arc::new(Alertmanager {
            opts,
            store,
            silences,
            nflog,
            metrics,
            registry: Arc::new(registry),
            running: RwLock::new(Arc::new(running)),
            reload_lock: tokio::sync::Mutex::new(()),
            started: now(),
        }))
    }

    /// The running configuration and its dispatcher.
    pub fn running(&self) -> Arc<Running> {
        self.running.read().clone()
    }

    /// Reloads the configuration file; on failure the running one stays.
    pub async fn reload(&self) -> Result<(), String> {
        let _g = self.reload_lock.lock().await;
        let result = (|| {
            let cfg = load_config(&self.opts).map_err(|e| e.to_string())?;
            let r = build(
                &cfg,
                &self.opts,
                &self.store,
                &self.silences,
                &self.nflog,
                &self.metrics,
            )
            .map_err(|e| e.to_string())?;
            Ok::<_, String>((cfg, r))
        })();
        match result {
            Ok((cfg, r)) => {
                let old = self.running();
                old.dispatcher.stop();
                r.dispatcher.start(&self.store);
                *self.running.write() = Arc::new(r);
                self.metrics.config_last_reload_successful.set(1);
                self.metrics
                    .config_last_reload_success_timestamp
                    .set(unix_now());
                self.metrics.config_hash.set(config_hash(&cfg));
                tracing::info!(file = %self.opts.config_file.display(), "Completed loading of configuration file");
                Ok(())
            }
            Err(e) => {
                self.metrics.config_last_reload_successful.set(0);
                tracing::error!(err = %e, "Loading configuration file failed");
                Err(e)
            }
        }
    }

    /// Writes every changed state file.
    pub fn persist(&self) {
        for (what, r) in [
            ("alerts", self.store.persist()),
            ("silences", self.silences.persist()),
            ("notification log", self.nflog.persist()),
        ] {
            if let Err(e) = r {
                tracing::error!(err = %e, "writing the {what} snapshot failed");
            }
        }
    }

    /// Alert garbage collection: resolved alerts no group still needs.
    pub fn gc(&self) {
        let t = now();
        let running = self.running();
        let n = self.store.gc(&t, |fp| running.dispatcher.holds(fp)).len();
        tracing::debug!(removed = n, "alert GC done");
    }

    /// Maintenance: silences and log entries past the retention.
    pub fn maintenance(&self) {
        let t = now();
        let s = self.silences.gc(&t);
        let l = self.nflog.gc(&t);
        tracing::debug!(silences = s, nflog_entries = l, "maintenance done");
    }

    /// Persists changes every `persist_interval`, collects resolved alerts every
    /// `gc_interval` and old silences and log entries every `maintenance_interval`,
    /// until `shutdown`; then stops the dispatcher and writes everything.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut persist = tokio::time::interval(self.opts.persist_interval);
        let mut gc = tokio::time::interval(self.opts.gc_interval);
        let mut maintenance = tokio::time::interval(self.opts.maintenance_interval);
        gc.tick().await;
        maintenance.tick().await;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = persist.tick() => self.persist(),
                _ = gc.tick() => self.gc(),
                _ = maintenance.tick() => self.maintenance(),
                () = &mut shutdown => break,
            }
        }
        self.running().dispatcher.stop();
        self.persist();
        tracing::info!("alertmanager stopped, state written");
    }

    /// Updates the gauges computed from state (before `/metrics` is encoded).
    pub fn refresh_metrics(&self) {
        let t = now();
        let running = self.running();
        let alerts = self.store.list();
        let view = running.pipeline.inhibitor().view(&alerts, &t);
        let (mut active, mut suppressed) = (0, 0);
        for a in alerts.iter().filter(|a| !a.resolved_at(&t)) {
            if view.mutes(&a.labels).is_some() || !self.silences.mutes(&a.labels, &t).is_empty() {
                suppressed += 1;
            } else {
                active += 1;
            }
        }
        self.metrics
            .set_state(&self.metrics.alerts, "active", active);
        self.metrics
            .set_state(&self.metrics.alerts, "suppressed", suppressed);
        self.metrics
            .set_state(&self.metrics.alerts, "unprocessed", 0);
        let (mut a, mut p, mut e) = (0, 0, 0);
        for s in self.silences.list() {
            match s.state(&t) {
                SilenceState::Active => a += 1,
                SilenceState::Pending => p += 1,
                SilenceState::Expired => e += 1,
            }
        }
        self.metrics.set_state(&self.metrics.silences, "active", a);
        self.metrics.set_state(&self.metrics.silences, "pending", p);
        self.metrics.set_state(&self.metrics.silences, "expired", e);
        self.metrics
            .aggregation_groups
            .set(i64::try_from(running.dispatcher.group_count()).unwrap_or(i64::MAX));
        self.metrics
            .nflog_entries
            .set(i64::try_from(self.nflog.len()).unwrap_or(i64::MAX));
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn config_hash(cfg: &Config) -> f64 {
    (xxhash_rust::xxh64::xxh64(cfg.original.as_bytes(), 0) >> 11) as f64
}

fn load_config(opts: &Options) -> Result<Config, ConfigError> {
    if let Some(default) = &opts.default_config
        && !Path::new(&opts.config_file).exists()
    {
        return Config::load_str(default, "<built-in default configuration>");
    }
    Config::load_file(&opts.config_file)
}

fn build(
    cfg: &Config,
    opts: &Options,
    store: &Arc<AlertStore>,
    silences: &Arc<Silences>,
    nflog: &Arc<NotificationLog>,
    metrics: &Arc<Metrics>,
) -> Result<Running, StartError> {
    let templates = load_templates(cfg).map_err(StartError::Templates)?;
    let shared = Shared {
        silences: silences.clone(),
        store: store.clone(),
        nflog: nflog.clone(),
        metrics: metrics.clone(),
        external_url: opts.external_url.clone(),
        user_agent: format!("Alertmanager/{}", opts.build.version),
    };
    let pipeline = Arc::new(
        Pipeline::new(cfg, templates, &shared).map_err(|e| StartError::Receivers(e.to_string()))?,
    );
    let route = Route::new(&cfg.route);
    let dispatcher = Dispatcher::new(route, pipeline.clone());
    Ok(Running {
        config: Arc::new(cfg.clone()),
        dispatcher,
        pipeline,
    })
}
