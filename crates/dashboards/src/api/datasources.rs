//! Data sources: CRUD by id, uid and name (`secureJsonData` is write-only: responses carry
//! only `secureJsonFields`), the Prometheus health check
//! (`GET /api/datasources/uid/:uid/health`), and the server-side proxy
//! (`/api/datasources/proxy/uid/:uid/*` and `/api/datasources/proxy/:id/*`) that forwards
//! Prometheus API requests to the data source's URL with its credentials.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, App, Caller, ok, parse_body};
use crate::auth::Action;
use crate::store::{DataSource, DataSourceRef};

/// The largest proxied response body.
pub const MAX_PROXY_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/datasources", get(list).post(create))
        .route(
            "/api/datasources/{id}",
            get(get_by_id).put(update_by_id).delete(delete_by_id),
        )
        .route(
            "/api/datasources/uid/{uid}",
            get(get_by_uid).put(update_by_uid).delete(delete_by_uid),
        )
        .route(
            "/api/datasources/name/{name}",
            get(get_by_name).delete(delete_by_name),
        )
        .route("/api/datasources/id/{name}", get(id_by_name))
        .route("/api/datasources/uid/{uid}/health", get(health))
        .route("/api/datasources/proxy/uid/{uid}/{*path}", any(proxy_uid))
        .route("/api/datasources/proxy/{id}/{*path}", any(proxy_id))
}

/// The display name of a data source type.
pub fn type_name(t: &str) -> &str {
    match t {
        "prometheus" => "Prometheus",
        "alertmanager" => "Alertmanager",
        "loki" => "Loki",
        _ => t,
    }
}

fn logo(t: &str) -> String {
    format!("public/app/plugins/datasource/{t}/img/{t}_logo.svg")
}

/// The JSON Grafana answers for one data source (`full` adds the single-item fields).
pub fn ds_json(ds: &DataSource, full: bool) -> Value {
    let mut v = json!({
        "id": ds.id,
        "uid": ds.uid,
        "orgId": 1,
        "name": ds.name,
        "type": ds.type_,
        "typeName": type_name(&ds.type_),
        "typeLogoUrl": logo(&ds.type_),
        "access": ds.access,
        "url": ds.url,
        "user": ds.user,
        "database": ds.database,
        "basicAuth": ds.basic_auth,
        "isDefault": ds.is_default,
        "jsonData": ds.json_data,
        "readOnly": ds.read_only,
    });
    if full && let Some(o) = v.as_object_mut() {
        let fields: serde_json::Map<String, Value> = ds
            .secure_json_data
            .keys()
            .map(|k| (k.clone(), Value::Bool(true)))
            .collect();
        o.insert(
            "basicAuthUser".into(),
            Value::from(ds.basic_auth_user.clone()),
        );
        o.insert("withCredentials".into(), Value::from(ds.with_credentials));
        o.insert("secureJsonFields".into(), Value::Object(fields));
        o.insert("version".into(), Value::from(ds.version));
        o.insert("apiVersion".into(), Value::from(""));
        o.remove("typeName");
    }
    v
}

/// The body of create and update requests.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DataSourceBody {
    pub uid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Option<Value>,
    pub secure_json_data: Option<BTreeMap<String, String>>,
    pub version: Option<i64>,
}

impl DataSourceBody {
    fn validate(&self) -> Result<(), ApiError> {
        if self.name.trim().is_empty() {
            return Err(ApiError::bad_request("Required field name is missing"));
        }
        if self.type_.trim().is_empty() {
            return Err(ApiError::bad_request("Required field type is missing"));
        }
        if !self.uid.is_empty() {
            crate::dashboard_json::validate_uid(&self.uid)
                .map_err(|e| ApiError::bad_request(e.to_string()))?;
        }
        if !self.url.is_empty() && url::Url::parse(&self.url).is_err() {
            return Err(ApiError::bad_request(format!(
                "Validation error, invalid URL: {:?}",
                self.url
            )));
        }
        Ok(())
    }

    /// The data source this body describes; secure fields not given are kept from `old`.
    fn into_data_source(self, old: Option<&DataSource>) -> DataSource {
        let mut secure = old.map(|o| o.secure_json_data.clone()).unwrap_or_default();
        for (k, v) in self.secure_json_data.unwrap_or_default() {
            secure.insert(k, v);
        }
        DataSource {
            id: old.map_or(0, |o| o.id),
            uid: self.uid,
            name: self.name.trim().to_string(),
            type_: self.type_,
            access: if self.access.is_empty() {
                "proxy".into()
            } else {
                self.access
            },
            url: self.url,
            user: self.user,
            database: self.database,
            basic_auth: self.basic_auth,
            basic_auth_user: self.basic_auth_user,
            with_credentials: self.with_credentials,
            is_default: self.is_default,
            json_data: self.json_data.unwrap_or_else(|| json!({})),
            secure_json_data: secure,
            version: 0,
            read_only: false,
        }
    }
}

async fn list(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let list: Vec<Value> = app
        .store
        .list_data_sources()?
        .iter()
        .map(|d| ds_json(d, false))
        .collect();
    ok(Value::Array(list))
}

async fn create(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let req: DataSourceBody = parse_body(&body)?;
    req.validate()?;
    let ds = app.store.create_data_source(&req.into_data_source(None))?;
    ok(json!({
        "datasource": ds_json(&ds, true),
        "id": ds.id,
        "uid": ds.uid,
        "message": "Datasource added",
        "name": ds.name,
    }))
}

fn by_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("id is invalid"))
}

async fn get_by_id(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let ds = app.store.data_source(DataSourceRef::Id(by_id(&id)?))?;
    ok(ds_json(&ds, true))
}

async fn get_by_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let ds = app.store.data_source(DataSourceRef::Uid(&uid))?;
    ok(ds_json(&ds, true))
}

async fn get_by_name(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let ds = app.store.data_source(DataSourceRef::Name(&name))?;
    ok(ds_json(&ds, true))
}

async fn id_by_name(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let ds = app.store.data_source(DataSourceRef::Name(&name))?;
    ok(json!({"id": ds.id}))
}

fn update(app: &App, caller: &Caller, by: DataSourceRef<'_>, body: &[u8]) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let req: DataSourceBody = parse_body(body)?;
    req.validate()?;
    let old = app.store.data_source(by)?;
    if old.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Cannot update read-only data source",
        ));
    }
    if let Some(v) = req.version
        && v != 0
        && v != old.version
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Datasource has already been updated by someone else. Please reload and try again",
        ));
    }
    let ds = app
        .store
        .update_data_source(old.id, &req.into_data_source(Some(&old)))?;
    ok(json!({
        "datasource": ds_json(&ds, true),
        "id": ds.id,
        "message": "Datasource updated",
        "name": ds.name,
    }))
}

async fn update_by_id(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(&app, &caller, DataSourceRef::Id(by_id(&id)?), &body)
}

async fn update_by_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(&app, &caller, DataSourceRef::Uid(&uid), &body)
}

fn delete(app: &App, caller: &Caller, by: DataSourceRef<'_>, with_id: bool) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let ds = app.store.data_source(by)?;
    if ds.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Cannot delete read-only data source",
        ));
    }
    app.store.delete_data_source(ds.id)?;
    if with_id {
        ok(json!({"id": ds.id, "message": "Data source deleted"}))
    } else {
        ok(json!({"message": "Data source deleted"}))
    }
}

async fn delete_by_id(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    delete(&app, &caller, DataSourceRef::Id(by_id(&id)?), false)
}

async fn delete_by_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    delete(&app, &caller, DataSourceRef::Uid(&uid), true)
}

async fn delete_by_name(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    delete(&app, &caller, DataSourceRef::Name(&name), true)
}

/// The request to the data source for `path` (already known to be allowed), with the
/// data source's credentials and custom headers.
fn upstream_request(
    app: &App,
    ds: &DataSource,
    method: reqwest::Method,
    path: &str,
    query: Option<&str>,
) -> Result<reqwest::RequestBuilder, ApiError> {
    let base = ds.url.trim_end_matches('/');
    let mut target = format!("{base}/{}", path.trim_start_matches('/'));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(q);
    }
    let target = url::Url::parse(&target)
        .map_err(|e| ApiError::bad_request(format!("invalid data source URL {target:?}: {e}")))?;
    let mut req = app.http.request(method, target);
    if ds.basic_auth {
        req = req.basic_auth(
            &ds.basic_auth_user,
            ds.secure_json_data.get("basicAuthPassword"),
        );
    }
    // Grafana's custom headers: jsonData.httpHeaderNameN + secureJsonData.httpHeaderValueN.
    if let Some(obj) = ds.json_data.as_object() {
        for (k, v) in obj {
            if let (Some(n), Some(name)) = (k.strip_prefix("httpHeaderName"), v.as_str()) {
                let value = ds
                    .secure_json_data
                    .get(&format!("httpHeaderValue{n}"))
                    .cloned()
                    .unwrap_or_default();
                req = req.header(name, value);
            }
        }
    }
    Ok(req)
}

/// `GET /api/datasources/uid/:uid/health`: for Prometheus-compatible data sources, runs
/// `1+1` against `/api/v1/query` as Grafana's Prometheus plugin does.
async fn health(State(app): State<Arc<App>>, caller: Caller, Path(uid): Path<String>) -> ApiResult {
    caller.require(Action::Read)?;
    let ds = app.store.data_source(DataSourceRef::Uid(&uid))?;
    if ds.type_ != "prometheus" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "health check is not implemented for data sources of type {}",
                ds.type_
            ),
        ));
    }
    let error = |message: String| {
        Ok((
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": "ERROR", "message": message})),
        )
            .into_response())
    };
    let req = match upstream_request(
        &app,
        &ds,
        reqwest::Method::GET,
        "api/v1/query",
        Some("query=1%2B1"),
    ) {
        Ok(r) => r,
        Err(e) => return error(e.body["message"].as_str().unwrap_or("bad URL").to_string()),
    };
    let resp = match req.timeout(std::time::Duration::from_secs(30)).send().await {
        Ok(r) => r,
        Err(e) => {
            return error(format!(
                "There was an error returned querying the Prometheus API: {e}"
            ));
        }
    };
    let status = resp.status();
    let body: Value = resp
        .bytes()
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    if status.is_success() && body["status"] == "success" {
        ok(json!({"status": "OK", "message": "Successfully queried the Prometheus API."}))
    } else {
        error(format!(
            "There was an error returned querying the Prometheus API: {} {}",
            status.as_u16(),
            body["error"].as_str().unwrap_or("unexpected response")
        ))
    }
}

async fn proxy_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((uid, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ds = app.store.data_source(DataSourceRef::Uid(&uid))?;
    proxy(&app, &caller, &ds, &path, method, &uri, &headers, body).await
}

async fn proxy_id(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ds = app.store.data_source(DataSourceRef::Id(by_id(&id)?))?;
    proxy(&app, &caller, &ds, &path, method, &uri, &headers, body).await
}

/// Whether the proxy forwards `path` (Prometheus' read API; nothing administrative).
pub fn proxy_path_allowed(path: &str) -> bool {
    let p = path.trim_start_matches('/');
    if p.split('/').any(|seg| seg == ".." || seg == ".") {
        return false;
    }
    (p.starts_with("api/v1/") && !p.starts_with("api/v1/admin/")) || p == "federate"
}

#[allow(clippy::too_many_arguments)]
async fn proxy(
    app: &App,
    caller: &Caller,
    ds: &DataSource,
    path: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "the data source proxy forwards GET and POST only",
        ));
    }
    if !proxy_path_allowed(path) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the data source proxy does not forward {path:?}"),
        ));
    }
    let m = if method == Method::POST {
        reqwest::Method::POST
    } else {
        reqwest::Method::GET
    };
    let mut req = upstream_request(app, ds, m, path, uri.query())?;
    for name in [header::CONTENT_TYPE, header::ACCEPT] {
        if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            req = req.header(name.as_str(), v);
        }
    }
    let resp = req.body(body).send().await.map_err(|e| {
        tracing::warn!(datasource = %ds.name, error = %e, "data source proxy error");
        ApiError::new(StatusCode::BAD_GATEWAY, "Bad Gateway")
    })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    if resp
        .content_length()
        .is_some_and(|l| l > MAX_PROXY_RESPONSE_BYTES as u64)
    {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "data source response too large",
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|_| ApiError::new(StatusCode::BAD_GATEWAY, "Bad Gateway"))?;
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    if let Some(ct) = content_type.and_then(|c| c.to_str().ok().map(str::to_string))
        && let Ok(v) = header::HeaderValue::from_str(&ct)
    {
        out.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_forwards_only_the_query_api() {
        assert!(proxy_path_allowed("api/v1/query"));
        assert!(proxy_path_allowed("/api/v1/label/job/values"));
        assert!(proxy_path_allowed("federate"));
        assert!(!proxy_path_allowed("api/v1/admin/tsdb/delete_series"));
        assert!(!proxy_path_allowed("-/quit"));
        assert!(!proxy_path_allowed("api/v1/../../-/quit"));
        assert!(!proxy_path_allowed("metrics"));
    }
}
