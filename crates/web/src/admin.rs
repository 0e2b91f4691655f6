//! `/api/v1/admin/tsdb/{delete_series,clean_tombstones,snapshot}`: refused with
//! upstream's `unavailable` error unless `--web.enable-admin-api` is set.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;

use crate::meta::parse_go_bool;
use crate::params::{self, Form, MAX_TIME_MS, MIN_TIME_MS};
use crate::query::blocking;
use crate::response::{ApiError, ApiResult, ApiSuccess, ErrorType};
use crate::server::Web;
use crate::sources::TsdbAdmin;

fn admin(web: &Web) -> Result<Arc<dyn TsdbAdmin>, ApiError> {
    if !web.opts.enable_admin_api {
        return Err(ApiError::new(ErrorType::Unavailable, "admin APIs disabled"));
    }
    web.components
        .tsdb
        .clone()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "TSDB not ready"))
}

pub async fn delete_series(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let db = admin(&web)?;
    if let Some(e) = &form.error {
        return Err(ApiError::bad_data(format!(
            "error parsing form values: {e}"
        )));
    }
    let matches = form.values("match[]");
    if matches.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = params::time_param(&form, "start", MIN_TIME_MS)?;
    let end = params::time_param(&form, "end", MAX_TIME_MS)?;
    let mut sets = Vec::new();
    for m in matches {
        sets.push(
            hearth_promql::parse_metric_selector(m)
                .map_err(|e| ApiError::invalid_param("match[]", &e.to_string()))?,
        );
    }
    blocking(move || {
        for set in &sets {
            db.delete(start, end, set).map_err(ApiError::internal)?;
        }
        Ok(ApiSuccess::no_content())
    })
    .await
}

pub async fn clean_tombstones(State(web): State<Arc<Web>>) -> ApiResult {
    let db = admin(&web)?;
    blocking(move || {
        db.clean_tombstones().map_err(ApiError::internal)?;
        Ok(ApiSuccess::no_content())
    })
    .await
}

#[derive(Serialize)]
struct SnapshotName {
    name: String,
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() & (i64::MAX as u64)
}

pub async fn snapshot(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let db = admin(&web)?;
    let skip_head = match form.value("skip_head") {
        "" => false,
        s => parse_go_bool(s).ok_or_else(|| {
            ApiError::invalid_param(
                "skip_head",
                &format!(
                    "unable to parse boolean: strconv.ParseBool: parsing {}: invalid syntax",
                    params::go_quote(s)
                ),
            )
        })?,
    };
    let now =
        chrono::DateTime::from_timestamp_millis(hearth_model::sample::now_ms()).unwrap_or_default();
    let name = format!("{}-{:016x}", now.format("%Y%m%dT%H%M%SZ"), random_u64());
    let dir = web.opts.data_dir.join("snapshots").join(&name);
    blocking(move || {
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::internal(format!("create snapshot directory: {e}")))?;
        db.snapshot(&dir, !skip_head)
            .map_err(|e| ApiError::internal(format!("create snapshot: {e}")))?;
        Ok(ApiSuccess::data(&SnapshotName { name }))
    })
    .await
}
