//! `/api/v1/status/{config,flags,runtimeinfo,buildinfo,tsdb,walreplay}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use serde::Serialize;

use crate::json::format_go_time;
use crate::params::{Form, go_quote};
use crate::query::blocking;
use crate::response::{ApiError, ApiResult, ApiSuccess};
use crate::server::Web;
use crate::sources::{TsdbStatus, WalReplayStatus};

#[derive(Serialize)]
struct PrometheusConfig {
    yaml: String,
}

pub async fn config(State(web): State<Arc<Web>>) -> ApiResult {
    let yaml = web.current_config().to_yaml();
    Ok(ApiSuccess::data(&PrometheusConfig { yaml }))
}

pub async fn flags(State(web): State<Arc<Web>>) -> ApiResult {
    Ok(ApiSuccess::data(&web.opts.flags))
}

pub async fn build_info(State(web): State<Arc<Web>>) -> ApiResult {
    Ok(ApiSuccess::data(&web.opts.build_info))
}

/// Upstream's `RuntimeInfo`, with the Go runtime's fields given their nearest meaning.
#[derive(Serialize)]
struct RuntimeInfo {
    #[serde(rename = "startTime")]
    start_time: String,
    #[serde(rename = "CWD")]
    cwd: String,
    hostname: String,
    #[serde(rename = "serverTime")]
    server_time: String,
    #[serde(rename = "reloadConfigSuccess")]
    reload_config_success: bool,
    #[serde(rename = "lastConfigTime")]
    last_config_time: String,
    #[serde(rename = "corruptionCount")]
    corruption_count: i64,
    /// Threads of the process (Go reports goroutines).
    #[serde(rename = "goroutineCount")]
    goroutine_count: u64,
    #[serde(rename = "GOMAXPROCS")]
    gomaxprocs: usize,
    #[serde(rename = "GOMEMLIMIT")]
    gomemlimit: i64,
    #[serde(rename = "GOGC")]
    gogc: String,
    #[serde(rename = "GODEBUG")]
    godebug: String,
    #[serde(rename = "storageRetention")]
    storage_retention: String,
}

fn thread_count() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub async fn runtime_info(State(web): State<Arc<Web>>) -> ApiResult {
    let info = RuntimeInfo {
        start_time: format_go_time(Some(web.start_time_ms)),
        cwd: std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("<error retrieving current working directory: {e}>")),
        hostname: hostname(),
        server_time: format_go_time(Some(hearth_model::sample::now_ms())),
        reload_config_success: web.reload_success.load(Ordering::Acquire),
        last_config_time: format_go_time(Some(web.last_config_time_ms.load(Ordering::Acquire))),
        corruption_count: 0,
        goroutine_count: thread_count(),
        gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        gomemlimit: i64::MAX,
        gogc: String::new(),
        godebug: String::new(),
        storage_retention: web.opts.storage_retention.clone(),
    };
    Ok(ApiSuccess::data(&info))
}

pub async fn tsdb(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let limit = match form.value("limit") {
        "" => 10,
        s => match s.parse::<i64>() {
            Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Ok(_) => return Err(ApiError::bad_data("limit must be a positive number")),
            Err(_) => {
                return Err(ApiError::bad_data(format!(
                    "strconv.Atoi: parsing {}: {}",
                    go_quote(s),
                    crate::params::atoi_problem(s)
                )));
            }
        },
    };
    let Some(db) = web.components.tsdb.clone() else {
        return Ok(ApiSuccess::data(&TsdbStatus::default()));
    };
    blocking(move || {
        db.stats(limit)
            .map(|s| ApiSuccess::data(&s))
            .map_err(ApiError::internal)
    })
    .await
}

pub async fn wal_replay(State(web): State<Arc<Web>>) -> ApiResult {
    let status = web
        .components
        .tsdb
        .as_ref()
        .map(|db| db.wal_replay_status())
        .unwrap_or(WalReplayStatus::default());
    Ok(ApiSuccess::data(&status))
}
