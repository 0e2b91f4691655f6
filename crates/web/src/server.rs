//! The web handler: shared state, the router with upstream's paths under the route
//! prefix, readiness gating, gzip, CORS, and the lifecycle endpoints.
//!
//! [`Web::new`] takes the query engine, the storage and the configuration channel;
//! [`Components`] plugs in what other crates provide (targets, rules, Alertmanagers,
//! exemplars, TSDB admin, own metrics, and extra routes such as remote write and read).
//! [`Web::router`] builds the `axum::Router`; [`WebHandle`] is how the binary drives it
//! (readiness, reload results, quit).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use hearth_config::Config;
use hearth_promql::Engine;
use hearth_tsdb::storage::Storage;
use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::sources::{
    AlertmanagersSource, ExemplarSource, NoAlertmanagers, NoRules, NoTargets, RulesSource,
    TargetsSource, TsdbAdmin,
};
use crate::{admin, assets, compress, federate, meta, query, status};

/// What `/api/v1/status/buildinfo` reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub build_user: String,
    pub build_date: String,
    /// Upstream reports its Go version here; hearth its Rust version.
    pub go_version: String,
}

/// Options of the web handler (the `--web.*` flags and what the status pages show).
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// `--web.external-url` (computed from the host name and port when not given).
    pub external_url: url::Url,
    /// `--web.route-prefix`: `/` or `/path` without a trailing slash.
    pub route_prefix: String,
    pub enable_lifecycle: bool,
    pub enable_admin_api: bool,
    /// The command line flags, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    pub build_info: BuildInfo,
    /// `storageRetention` of `/api/v1/status/runtimeinfo` (`15d`, `15d or 1GiB`).
    pub storage_retention: String,
    /// The data directory (snapshots go to `<dir>/snapshots`).
    pub data_dir: PathBuf,
    /// The lookback delta federation uses (ms).
    pub lookback_delta_ms: i64,
    /// `--web.cors.origin`, anchored.
    pub cors_origin: Option<hearth_model::FastRegex>,
    /// Name in `/-/healthy` and `/-/ready` answers.
    pub app_name: String,
    /// `--web.page-title`: the UI's document title.
    pub page_title: String,
    /// Serve the UI from this directory instead of the copy embedded at compile time
    /// (development: edit `ui/`, reload the browser). Defaults to `$HEARTH_UI_DIR`.
    pub ui_dir: Option<PathBuf>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            external_url: url::Url::parse("http://localhost:9090/")
                .unwrap_or_else(|_| unreachable_url()),
            route_prefix: "/".to_string(),
            enable_lifecycle: false,
            enable_admin_api: false,
            flags: BTreeMap::new(),
            build_info: BuildInfo::default(),
            storage_retention: String::new(),
            data_dir: PathBuf::from("data"),
            lookback_delta_ms: hearth_promql::engine::DEFAULT_LOOKBACK_DELTA_MS,
            cors_origin: None,
            app_name: "Prometheus Server".to_string(),
            page_title: "Prometheus Time Series Collection and Processing Server".to_string(),
            ui_dir: std::env::var_os("HEARTH_UI_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        }
    }
}

#[allow(clippy::unwrap_used)] // a constant that parses
fn unreachable_url() -> url::Url {
    url::Url::parse("http://localhost/").unwrap()
}

/// Encodes hearth's own metrics for `/metrics`: `(content type, body)`.
pub type MetricsFn = Arc<dyn Fn() -> (String, Vec<u8>) + Send + Sync>;

/// What other components plug into the API. Absent parts answer with upstream's empty
/// shapes.
#[derive(Clone)]
pub struct Components {
    pub targets: Arc<dyn TargetsSource>,
    pub rules: Arc<dyn RulesSource>,
    pub alertmanagers: Arc<dyn AlertmanagersSource>,
    pub exemplars: Option<Arc<dyn ExemplarSource>>,
    pub tsdb: Option<Arc<dyn TsdbAdmin>>,
    pub metrics: Option<MetricsFn>,
    /// Counts and times requests (`prometheus_http_*`), when given.
    pub http_metrics: Option<crate::http_metrics::HttpMetrics>,
    /// Routes merged under the route prefix with full paths (`/api/v1/write`,
    /// `/api/v1/read`, `/api/v1/otlp/v1/metrics`), gated by readiness.
    pub extra_routes: Option<Router>,
    /// Local data only, for `/federate` (upstream federates what it stores, never what
    /// `remote_read` brings in); queries' storage when absent.
    pub local_storage: Option<Arc<dyn Storage>>,
}

impl Default for Components {
    fn default() -> Self {
        Components {
            targets: Arc::new(NoTargets),
            rules: Arc::new(NoRules),
            alertmanagers: Arc::new(NoAlertmanagers),
            exemplars: None,
            tsdb: None,
            metrics: None,
            http_metrics: None,
            extra_routes: None,
            local_storage: None,
        }
    }
}

/// Whether the server answers queries yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Readiness {
    NotReady = 0,
    Ready = 1,
    Stopping = 2,
}

/// A reload request: the binary answers with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Shared state of every handler.
pub struct Web {
    pub(crate) engine: Arc<Engine>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) opts: WebOptions,
    pub(crate) config: watch::Receiver<Arc<Config>>,
    pub(crate) components: Components,
    ready: AtomicU8,
    pub(crate) start_time_ms: i64,
    pub(crate) reload_success: AtomicBool,
    pub(crate) last_config_time_ms: AtomicI64,
    reload_tx: mpsc::Sender<ReloadRequest>,
    quit_requested: AtomicBool,
    quit: Notify,
}

/// The binary's side of a [`Web`]: readiness, reload requests, quit.
pub struct WebHandle {
    web: Arc<Web>,
    /// Reload requests from `/-/reload`; answer each with the outcome.
    pub reloads: mpsc::Receiver<ReloadRequest>,
}

impl WebHandle {
    pub fn web(&self) -> &Arc<Web> {
        &self.web
    }

    pub fn set_ready(&self, r: Readiness) {
        self.web.ready.store(r as u8, Ordering::Release);
    }

    /// Records the outcome of a configuration (re)load for the runtime info page.
    pub fn config_loaded(&self, success: bool, at_ms: i64) {
        self.web.reload_success.store(success, Ordering::Release);
        if success {
            self.web.last_config_time_ms.store(at_ms, Ordering::Release);
        }
    }

    /// Resolves when `/-/quit` was called.
    pub async fn quit_requested(&self) {
        let notified = self.web.quit.notified();
        if self.web.quit_requested.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }
}

impl WebHandle {
    /// A web handler over `storage`, reading the current configuration from `config`.
    pub fn new(
        engine: Arc<Engine>,
        storage: Arc<dyn Storage>,
        config: watch::Receiver<Arc<Config>>,
        opts: WebOptions,
        components: Components,
    ) -> WebHandle {
        let (reload_tx, reloads) = mpsc::channel(4);
        let now = hearth_model::sample::now_ms();
        let web = Arc::new(Web {
            engine,
            storage,
            opts,
            config,
            components,
            ready: AtomicU8::new(Readiness::NotReady as u8),
            start_time_ms: now,
            reload_success: AtomicBool::new(true),
            last_config_time_ms: AtomicI64::new(now),
            reload_tx,
            quit_requested: AtomicBool::new(false),
            quit: Notify::new(),
        });
        WebHandle { web, reloads }
    }
}

impl Web {
    pub fn options(&self) -> &WebOptions {
        &self.opts
    }

    pub fn readiness(&self) -> Readiness {
        match self.ready.load(Ordering::Acquire) {
            1 => Readiness::Ready,
            2 => Readiness::Stopping,
            _ => Readiness::NotReady,
        }
    }

    pub(crate) fn current_config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    /// The router: every endpoint under the route prefix.
    pub fn router(self: &Arc<Self>) -> Router {
        let web = self.clone();
        let api = api_router()
            .layer(middleware::from_fn_with_state(web.clone(), cors))
            .layer(middleware::from_fn(compress::gzip))
            .layer(middleware::from_fn_with_state(web.clone(), gate_ready));
        let mut gated = Router::new()
            .route(
                "/federate",
                get(federate::federate).layer(middleware::from_fn(compress::gzip)),
            )
            .route("/-/ready", get(ready_text).head(ready_text));
        if self.components.extra_routes.is_none() {
            gated = gated
                .route(
                    "/api/v1/write",
                    post(|| async {
                        (
                            StatusCode::NOT_FOUND,
                            "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n",
                        )
                    }),
                )
                .route(
                    "/api/v1/otlp/v1/metrics",
                    post(|| async {
                        (
                            StatusCode::NOT_FOUND,
                            "otlp write receiver needs to be enabled with --web.enable-otlp-receiver\n",
                        )
                    }),
                );
        }
        let gated = gated.layer(middleware::from_fn_with_state(web.clone(), gate_ready));
        let lifecycle: MethodRouter<Arc<Web>> = post(lifecycle_reload).put(lifecycle_reload);
        let quit: MethodRouter<Arc<Web>> = post(lifecycle_quit).put(lifecycle_quit);
        let inner = Router::new()
            .nest("/api/v1", api)
            // Open before the server is ready, as upstream: the UI shows replay progress.
            .route("/api/v1/status/walreplay", get(status::wal_replay))
            .merge(gated)
            .route("/-/healthy", get(healthy).head(healthy))
            .route("/-/reload", lifecycle)
            .route("/-/quit", quit)
            .route(
                "/metrics",
                get(own_metrics).layer(middleware::from_fn(compress::gzip)),
            )
            .merge(assets::router())
            .with_state(web.clone());
        let inner = match self.components.extra_routes.clone() {
            Some(extra) => {
                inner.merge(extra.layer(middleware::from_fn_with_state(web, gate_ready)))
            }
            None => inner,
        };
        let prefix = self.opts.route_prefix.trim_end_matches('/');
        if prefix.is_empty() {
            inner
        } else {
            let target = format!("{prefix}/");
            Router::new()
                .nest(prefix, inner)
                .route("/", get(move || async move { Redirect::to(&target) }))
        }
    }
}

fn api_router() -> Router<Arc<Web>> {
    let q = |h| -> MethodRouter<Arc<Web>> { h };
    Router::new()
        .route("/query", q(get(query::query).post(query::query)))
        .route(
            "/query_range",
            q(get(query::query_range).post(query::query_range)),
        )
        .route(
            "/query_exemplars",
            q(get(query::query_exemplars).post(query::query_exemplars)),
        )
        .route(
            "/format_query",
            q(get(query::format_query).post(query::format_query)),
        )
        .route(
            "/parse_query",
            q(get(query::parse_query).post(query::parse_query)),
        )
        .route("/labels", q(get(meta::labels).post(meta::labels)))
        .route("/label/{name}/values", q(get(meta::label_values)))
        .route(
            "/series",
            q(get(meta::series)
                .post(meta::series)
                .delete(meta::drop_series)),
        )
        .route("/targets", get(meta::targets))
        .route("/targets/metadata", get(meta::targets_metadata))
        .route("/metadata", get(meta::metadata))
        .route("/rules", get(meta::rules))
        .route("/alerts", get(meta::alerts))
        .route("/alertmanagers", get(meta::alertmanagers))
        .route("/status/config", get(status::config))
        .route("/status/flags", get(status::flags))
        .route("/status/runtimeinfo", get(status::runtime_info))
        .route("/status/buildinfo", get(status::build_info))
        .route("/status/tsdb", get(status::tsdb))
        .route(
            "/admin/tsdb/delete_series",
            q(post(admin::delete_series).put(admin::delete_series)),
        )
        .route(
            "/admin/tsdb/clean_tombstones",
            q(post(admin::clean_tombstones).put(admin::clean_tombstones)),
        )
        .route(
            "/admin/tsdb/snapshot",
            q(post(admin::snapshot).put(admin::snapshot)),
        )
        .fallback(not_found)
}

/// Unknown API paths.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// Answers 503 until the server is ready, as upstream's `testReady`.
async fn gate_ready(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    match web.readiness() {
        Readiness::Ready => next.run(req).await,
        r => {
            let stopping = if r == Readiness::Stopping {
                "true"
            } else {
                "false"
            };
            let mut resp = (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
            resp.headers_mut()
                .insert("X-Prometheus-Stopping", HeaderValue::from_static(stopping));
            resp
        }
    }
}

/// Upstream's `SetCORS`: the allowed headers and methods, and the origin when it
/// matches `--web.cors.origin`.
async fn cors(State(web): State<Arc<Web>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        // Preflight on any API path: no content, as upstream's `api.options`.
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        "Access-Control-Allow-Headers",
        HeaderValue::from_static("Accept, Authorization, Content-Type, Origin"),
    );
    h.insert(
        "Access-Control-Allow-Methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "Access-Control-Expose-Headers",
        HeaderValue::from_static("Date"),
    );
    if let Some(origin) = origin {
        let allowed = match &web.opts.cors_origin {
            Some(re) => origin.to_str().is_ok_and(|o| re.is_match(o)),
            None => true,
        };
        if allowed {
            h.insert("Access-Control-Allow-Origin", origin);
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    resp
}

async fn healthy(State(web): State<Arc<Web>>) -> String {
    format!("{} is Healthy.\n", web.opts.app_name)
}

async fn ready_text(State(web): State<Arc<Web>>) -> String {
    format!("{} is Ready.\n", web.opts.app_name)
}

async fn lifecycle_reload(State(web): State<Arc<Web>>) -> Response {
    if !web.opts.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    let (tx, rx) = oneshot::channel();
    if web.reload_tx.send(tx).await.is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config: reloading is not available\n",
        )
            .into_response();
    }
    match rx.await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to reload config: no answer\n",
        )
            .into_response(),
    }
}

async fn lifecycle_quit(State(web): State<Arc<Web>>) -> Response {
    if !web.opts.enable_lifecycle {
        return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
    }
    if web.quit_requested.swap(true, Ordering::AcqRel) {
        return "Termination already in progress.".into_response();
    }
    web.quit.notify_waiters();
    "Requesting termination... Goodbye!".into_response()
}

async fn own_metrics(State(web): State<Arc<Web>>) -> Response {
    let Some(f) = web.components.metrics.clone() else {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    };
    let (content_type, body) = f();
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}
