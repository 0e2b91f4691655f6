//! Grafana's HTTP API subset, with Grafana's JSON shapes, messages and status codes:
//! health and frontend settings, login and sessions, search, dashboards and versions,
//! folders, data sources with their health check and server-side proxy, the current
//! user, users, the organization, stars and service-account tokens.
//!
//! Request bodies are read as bytes and parsed here, so malformed JSON is Grafana's 400
//! `bad request data` rather than axum's rejection codes.

mod dashboards;
mod datasources;
mod folders;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::{self, Action, PasswordCache};
use crate::store::{DashboardStore, StoreError, User};

/// Largest request body read at all; dashboard bodies are checked against the smaller
/// [`crate::dashboard_json::MAX_DASHBOARD_BYTES`] with a 400 naming the limit.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The version of Grafana whose HTTP API this answers as. Clients (grafana-client among
/// them) choose code paths by the version `/api/health` and `/api/frontend/settings`
/// report, so it is Grafana's, not hearth's; hearth's own version is reported beside it.
pub const GRAFANA_API_VERSION: &str = "12.0.0";

/// Build information reported by `/api/health` and `/api/frontend/settings`.
#[derive(Debug, Clone, Default)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
    pub build_date: String,
}

/// What the handlers share.
pub struct App {
    pub store: Arc<dyn DashboardStore>,
    pub passwords: PasswordCache,
    pub http: reqwest::Client,
    pub build: BuildInfo,
}

/// The API's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(placeholder))
        .route("/api/health", get(health))
        .route("/api/frontend/settings", get(frontend_settings))
        .route("/login", post(users::login))
        .route("/logout", get(users::logout))
        .merge(dashboards::routes())
        .merge(folders::routes())
        .merge(datasources::routes())
        .merge(users::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "Not found").into_response()
}

async fn placeholder() -> Html<&'static str> {
    Html(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>hearth dashboards</title></head>\
         <body><h1>hearth dashboards</h1><p>UI not built yet; API at <a href=\"/api/health\">/api</a> \
         (Grafana's HTTP API: /api/search, /api/dashboards, /api/folders, /api/datasources, …).</p>\
         </body></html>",
    )
}

async fn health(State(app): State<Arc<App>>) -> Response {
    // Grafana answers 503 with database "failing" when its database does not answer.
    let db_ok = app.store.org_name().is_ok();
    let body = json!({
        "commit": app.build.commit,
        "database": if db_ok { "ok" } else { "failing" },
        "version": GRAFANA_API_VERSION,
        "hearthVersion": app.build.version,
    });
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn frontend_settings(State(app): State<Arc<App>>, caller: OptionalCaller) -> Response {
    let mut datasources = serde_json::Map::new();
    let mut default = Value::Null;
    if caller.0.is_some() {
        let list = match app.store.list_data_sources() {
            Ok(l) => l,
            Err(e) => return ApiError::from(e).into_response(),
        };
        for ds in list {
            if ds.is_default {
                default = Value::from(ds.name.clone());
            }
            datasources.insert(
                ds.name.clone(),
                json!({
                    "id": ds.id,
                    "uid": ds.uid,
                    "type": ds.type_,
                    "name": ds.name,
                    "url": format!("/api/datasources/proxy/uid/{}", ds.uid),
                    "isDefault": ds.is_default,
                    "access": ds.access,
                    "jsonData": ds.json_data,
                    "readOnly": ds.read_only,
                    "meta": {"id": ds.type_, "type": "datasource", "name": datasources::type_name(&ds.type_)},
                }),
            );
        }
    }
    let commit_short: String = app.build.commit.chars().take(10).collect();
    axum::Json(json!({
        "appUrl": "/",
        "appSubUrl": "",
        "authProxyEnabled": false,
        "anonymousEnabled": false,
        "datasources": datasources,
        "defaultDatasource": default,
        "buildInfo": {
            "hideVersion": false,
            "version": GRAFANA_API_VERSION,
            "versionString": format!("hearth {} (Grafana API {})", app.build.version, GRAFANA_API_VERSION),
            "commit": app.build.commit,
            "commitShort": commit_short,
            "buildstamp": 0,
            "edition": "Open Source",
            "latestVersion": "",
            "hasUpdate": false,
            "env": "production",
            "hearthVersion": app.build.version,
            "buildDate": app.build.build_date,
        },
        "featureToggles": {},
        "minRefreshInterval": "5s",
    }))
    .into_response()
}

/// An API error: status and Grafana's JSON body (`message`, sometimes `status`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "message": message.into() }),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: json!({"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401}),
        }
    }

    fn forbidden(action: Action) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({
                "accessErrorId": "ACE0000000001",
                "message": format!(
                    "You'll need additional permissions to perform this action. Permissions needed: {}",
                    action.permission()
                ),
                "title": "Access denied",
            }),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let msg = e.to_string();
        match e {
            StoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
            StoreError::VersionMismatch => ApiError {
                status: StatusCode::PRECONDITION_FAILED,
                body: json!({"message": msg, "status": "version-mismatch"}),
            },
            StoreError::NameExists => ApiError {
                status: StatusCode::PRECONDITION_FAILED,
                body: json!({"message": msg, "status": "name-exists"}),
            },
            StoreError::FolderNotFound => ApiError {
                status: StatusCode::NOT_FOUND,
                body: json!({"message": msg, "status": "not-found"}),
            },
            StoreError::UidExists | StoreError::Provisioned | StoreError::Invalid(_) => {
                ApiError::bad_request(msg)
            }
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            StoreError::Database(m) => {
                tracing::error!(error = %m, "dashboards database error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// A JSON 200 response.
pub fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// Parses a JSON request body (400 `bad request data` on bad syntax).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("bad request data: {e}")))
}

/// The authenticated caller; rejects with 401 when there are no valid credentials.
pub struct Caller(pub User);

impl Caller {
    /// 403 unless the caller may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if auth::allowed(&self.0, action) {
            Ok(())
        } else {
            Err(ApiError::forbidden(action))
        }
    }
}

fn resolve(parts: &Parts, app: &App) -> Result<Option<User>, ApiError> {
    let authz = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let cookie = parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok());
    let creds = auth::credentials(authz, cookie);
    Ok(auth::authenticate(
        app.store.as_ref(),
        &app.passwords,
        &creds,
    )?)
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        resolve(parts, app)?
            .map(Caller)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The caller if there are valid credentials.
pub struct OptionalCaller(pub Option<User>);

impl FromRequestParts<Arc<App>> for OptionalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        Ok(OptionalCaller(resolve(parts, app)?))
    }
}

/// Grafana's timestamp format (RFC 3339, seconds, UTC).
pub fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The login of user `id` for `createdBy`/`updatedBy` ("Anonymous" when unknown, as
/// Grafana shows provisioned and deleted authors).
pub fn login_of(app: &App, id: i64) -> String {
    app.store
        .user_by_id(id)
        .map(|u| u.login)
        .unwrap_or_else(|_| "Anonymous".into())
}

/// The query string as ordered pairs (repeated keys kept, as Grafana's `tag=a&tag=b`).
pub fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `key`.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A positive number parameter `key`, else `default` (Grafana ignores bad values).
pub fn query_count(pairs: &[(String, String)], key: &str, default: usize) -> usize {
    query_value(pairs, key)
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The items of page `page` (from 1) of `per_page` items.
pub fn page_of<T>(items: impl IntoIterator<Item = T>, page: usize, per_page: usize) -> Vec<T> {
    items
        .into_iter()
        .skip(page.saturating_sub(1).saturating_mul(per_page))
        .take(per_page)
        .collect()
}

/// A cookie header value setting or clearing the session.
pub fn session_cookie(value: &str, max_age_secs: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax",
        auth::SESSION_COOKIE
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Headers a proxied or plain response must not copy.
pub fn is_hop_header(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "set-cookie"
    )
}

/// Copies `Content-Type` from upstream headers.
pub fn content_type_of(h: &HeaderMap) -> Option<HeaderValue> {
    h.get(header::CONTENT_TYPE).cloned()
}
