//! Users and sessions: `POST /login`, `GET /logout`, the current user (`/api/user`,
//! password change), users (`/api/users`, server admins), user administration
//! (`/api/admin/users`), the organization (`/api/org`, roles of its users) and service
//! accounts with their tokens (`/api/serviceaccounts`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, App, Caller, ok, page_of, parse_body, query_count, query_pairs,
    query_value, session_cookie, time_text,
};
use crate::auth::{self, Action, Credentials, SESSION_LIFETIME_MS};
use crate::dashboard_json::slugify;
use crate::sqlite::now_ms;
use crate::store::{NewUser, Role, StoreError, User};
use crate::uid::sha256_hex;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/user", get(current_user).put(update_current_user))
        .route("/api/user/password", put(change_password))
        .route("/api/user/orgs", get(current_user_orgs))
        .route("/api/users", get(list_users))
        .route("/api/users/search", get(search_users))
        .route("/api/users/lookup", get(lookup_user))
        .route("/api/users/{id}", get(get_user).put(update_user))
        .route("/api/admin/users", post(admin_create_user))
        .route(
            "/api/admin/users/{id}",
            axum::routing::delete(admin_delete_user),
        )
        .route("/api/admin/users/{id}/password", put(admin_set_password))
        .route(
            "/api/admin/users/{id}/permissions",
            put(admin_set_permissions),
        )
        .route("/api/admin/users/{id}/disable", post(admin_disable))
        .route("/api/admin/users/{id}/enable", post(admin_enable))
        .route("/api/org", get(org).put(update_org))
        .route("/api/org/users", get(org_users))
        .route("/api/org/users/{id}", axum::routing::patch(set_org_role))
        .route("/api/serviceaccounts", post(create_sa))
        .route("/api/serviceaccounts/", post(create_sa))
        .route("/api/serviceaccounts/search", get(search_sa))
        .route(
            "/api/serviceaccounts/{id}",
            get(get_sa).patch(update_sa).delete(delete_sa),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens",
            get(list_tokens).post(create_token),
        )
        .route(
            "/api/serviceaccounts/{id}/tokens/{token_id}",
            axum::routing::delete(delete_token),
        )
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
}

pub async fn login(State(app): State<Arc<App>>, body: Bytes) -> ApiResult {
    let req: LoginBody = parse_body(&body)?;
    let creds = Credentials::Basic {
        login: req.user,
        password: req.password,
    };
    let Some(user) = auth::authenticate(app.store.as_ref(), &app.passwords, &creds)? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid username or password",
        ));
    };
    let Some((secret, hash)) = auth::new_session_secret() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot create a session: no random source",
        ));
    };
    app.store
        .create_session(&hash, user.id, now_ms() + SESSION_LIFETIME_MS)?;
    let mut resp = axum::Json(json!({
        "message": "Logged in",
        "redirectUrl": if user.must_change_password { "/profile/password" } else { "/" },
        "passwordChangeRequired": user.must_change_password,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&secret, SESSION_LIFETIME_MS / 1000),
    );
    Ok(resp)
}

pub async fn logout(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> Response {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    if let Credentials::Session(s) = auth::credentials(None, cookie) {
        let _ = app.store.delete_session(&sha256_hex(&s));
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    resp
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "uid": format!("u{:013}", u.id),
        "email": u.email,
        "name": u.name,
        "login": u.login,
        "theme": "",
        "orgId": 1,
        "isGrafanaAdmin": u.is_admin,
        "isDisabled": u.is_disabled,
        "isExternal": false,
        "isServiceAccount": u.is_service_account,
        "authLabels": [],
        "updatedAt": time_text(u.updated),
        "createdAt": time_text(u.created),
        "avatarUrl": "",
        "passwordChangeRequired": u.must_change_password,
    })
}

fn user_list_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "name": u.name,
        "login": u.login,
        "email": u.email,
        "avatarUrl": "",
        "isAdmin": u.is_admin,
        "isDisabled": u.is_disabled,
        "lastSeenAt": time_text(u.updated),
        "lastSeenAtAge": "",
        "authLabels": [],
    })
}

async fn current_user(caller: Caller) -> ApiResult {
    ok(user_json(&caller.0))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserUpdateBody {
    login: Option<String>,
    email: Option<String>,
    name: Option<String>,
}

fn apply_user_update(app: &App, u: &User, body: &[u8]) -> Result<(), ApiError> {
    let req: UserUpdateBody = parse_body(body)?;
    let login = req
        .login
        .filter(|l| !l.is_empty())
        .unwrap_or(u.login.clone());
    let email = req.email.unwrap_or(u.email.clone());
    let name = req.name.unwrap_or(u.name.clone());
    app.store.update_user(u.id, &login, &email, &name)?;
    Ok(())
}

async fn update_current_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    apply_user_update(&app, &caller.0, &body)?;
    ok(json!({"message": "User updated"}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordBody {
    #[serde(default)]
    old_password: String,
    #[serde(default)]
    new_password: String,
}

/// Grafana's minimum password length.
const MIN_PASSWORD_LEN: usize = 4;

async fn change_password(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    let req: PasswordBody = parse_body(&body)?;
    if caller.0.is_service_account {
        return Err(ApiError::bad_request("service accounts have no password"));
    }
    if !app.passwords.verify(&caller.0, &req.old_password) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid old password",
        ));
    }
    if req.new_password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request("New password is too short"));
    }
    let hash = auth::hash_password(&req.new_password)?;
    app.store.set_password(caller.0.id, &hash, false)?;
    ok(json!({"message": "User password changed"}))
}

async fn current_user_orgs(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    let name = app.store.org_name()?;
    ok(json!([{"orgId": 1, "name": name, "role": caller.0.role.as_str()}]))
}

fn paged_users(app: &App, uri: &Uri) -> Result<(Vec<User>, usize, usize, usize), ApiError> {
    let q = query_pairs(uri);
    let query = query_value(&q, "query").unwrap_or("").to_lowercase();
    let perpage = query_count(&q, "perpage", 1000);
    let page = query_count(&q, "page", 1);
    let all: Vec<User> = app
        .store
        .list_users()?
        .into_iter()
        .filter(|u| {
            query.is_empty()
                || u.login.to_lowercase().contains(&query)
                || u.email.to_lowercase().contains(&query)
                || u.name.to_lowercase().contains(&query)
        })
        .collect();
    let total = all.len();
    Ok((page_of(all, page, perpage), total, page, perpage))
}

async fn list_users(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let (users, ..) = paged_users(&app, &uri)?;
    ok(Value::Array(users.iter().map(user_list_json).collect()))
}

async fn search_users(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let (users, total, page, perpage) = paged_users(&app, &uri)?;
    ok(json!({
        "totalCount": total,
        "users": users.iter().map(user_list_json).collect::<Vec<_>>(),
        "page": page,
        "perPage": perpage,
    }))
}

fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("id is invalid"))
}

async fn get_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let u = app.store.user_by_id(user_id(&id)?)?;
    ok(user_json(&u))
}

async fn lookup_user(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let q = query_pairs(&uri);
    let key = query_value(&q, "loginOrEmail").unwrap_or("");
    let u = app.store.user_by_login_or_email(key)?;
    ok(user_json(&u))
}

async fn update_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let u = app.store.user_by_id(user_id(&id)?)?;
    apply_user_update(&app, &u, &body)?;
    ok(json!({"message": "User updated"}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateUserBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: Option<String>,
}

async fn admin_create_user(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let req: CreateUserBody = parse_body(&body)?;
    let login = if req.login.is_empty() {
        req.email.clone()
    } else {
        req.login.clone()
    };
    if login.is_empty() {
        return Err(ApiError::bad_request("login or email is required"));
    }
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request("Password is missing or too short"));
    }
    // Grafana's default role for new users of the organization is Viewer.
    let role = match req.role.as_deref() {
        None | Some("") => Role::Viewer,
        Some(r) => {
            Role::parse(r).ok_or_else(|| ApiError::bad_request(format!("invalid role {r:?}")))?
        }
    };
    let id = app.store.create_user(&NewUser {
        login,
        email: req.email,
        name: req.name,
        password_hash: auth::hash_password(&req.password)?,
        role,
        is_admin: false,
        is_service_account: false,
        must_change_password: false,
    })?;
    ok(json!({"id": id, "uid": format!("u{id:013}"), "message": "User created"}))
}

async fn admin_delete_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let id = user_id(&id)?;
    if id == caller.0.id {
        return Err(ApiError::bad_request("cannot delete yourself"));
    }
    app.store.delete_user(id)?;
    ok(json!({"message": "User deleted"}))
}

#[derive(Deserialize)]
struct AdminPasswordBody {
    #[serde(default)]
    password: String,
}

async fn admin_set_password(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let req: AdminPasswordBody = parse_body(&body)?;
    if req.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request("New password too short"));
    }
    app.store
        .set_password(user_id(&id)?, &auth::hash_password(&req.password)?, false)?;
    ok(json!({"message": "User password updated"}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionsBody {
    #[serde(default)]
    is_grafana_admin: bool,
}

async fn admin_set_permissions(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    let req: PermissionsBody = parse_body(&body)?;
    app.store.set_admin(user_id(&id)?, req.is_grafana_admin)?;
    ok(json!({"message": "User permissions updated"}))
}

async fn admin_disable(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    app.store.set_disabled(user_id(&id)?, true)?;
    ok(json!({"message": "User disabled"}))
}

async fn admin_enable(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::ServerAdmin)?;
    app.store.set_disabled(user_id(&id)?, false)?;
    ok(json!({"message": "User enabled"}))
}

async fn org(State(app): State<Arc<App>>, _caller: Caller) -> ApiResult {
    let name = app.store.org_name()?;
    ok(json!({
        "id": 1,
        "name": name,
        "address": {"address1": "", "address2": "", "city": "", "zipCode": "", "state": "", "country": ""},
    }))
}

#[derive(Deserialize)]
struct OrgBody {
    #[serde(default)]
    name: String,
}

async fn update_org(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let req: OrgBody = parse_body(&body)?;
    if req.name.trim().is_empty() {
        return Err(ApiError::bad_request("organization name cannot be empty"));
    }
    app.store.set_org_name(req.name.trim())?;
    ok(json!({"message": "Organization updated"}))
}

async fn org_users(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let list: Vec<Value> = app
        .store
        .list_users()?
        .iter()
        .map(|u| {
            json!({
                "orgId": 1,
                "userId": u.id,
                "email": u.email,
                "name": u.name,
                "avatarUrl": "",
                "login": u.login,
                "role": u.role.as_str(),
                "lastSeenAt": time_text(u.updated),
                "lastSeenAtAge": "",
                "isDisabled": u.is_disabled,
            })
        })
        .collect();
    ok(Value::Array(list))
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

async fn set_org_role(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let req: RoleBody = parse_body(&body)?;
    let role = Role::parse(&req.role)
        .ok_or_else(|| ApiError::bad_request(format!("invalid role {:?}", req.role)))?;
    app.store.set_role(user_id(&id)?, role)?;
    ok(json!({"message": "Organization user updated"}))
}

fn sa_json(app: &App, u: &User) -> Value {
    let tokens = app.store.list_tokens(u.id).map(|t| t.len()).unwrap_or(0);
    json!({
        "id": u.id,
        "uid": format!("sa{:012}", u.id),
        "name": u.name,
        "login": u.login,
        "orgId": 1,
        "isDisabled": u.is_disabled,
        "role": u.role.as_str(),
        "tokens": tokens,
        "avatarUrl": "",
        "isExternal": false,
    })
}

fn service_account(app: &App, id: &str) -> Result<User, ApiError> {
    let u = app.store.user_by_id(user_id(id)?)?;
    if !u.is_service_account {
        return Err(StoreError::NotFound("service account not found").into());
    }
    Ok(u)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SaBody {
    name: Option<String>,
    role: Option<String>,
    is_disabled: Option<bool>,
}

async fn create_sa(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let req: SaBody = parse_body(&body)?;
    let name = req.name.unwrap_or_default();
    if name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "required value Name must not be empty",
        ));
    }
    let role = match req.role.as_deref() {
        None | Some("") => Role::Viewer,
        Some(r) => {
            Role::parse(r).ok_or_else(|| ApiError::bad_request(format!("invalid role {r:?}")))?
        }
    };
    let id = app.store.create_user(&NewUser {
        login: format!("sa-{}", slugify(&name)),
        email: String::new(),
        name: name.trim().to_string(),
        password_hash: String::new(),
        role,
        is_admin: false,
        is_service_account: true,
        must_change_password: false,
    })?;
    if req.is_disabled == Some(true) {
        app.store.set_disabled(id, true)?;
    }
    let u = app.store.user_by_id(id)?;
    Ok((StatusCode::CREATED, axum::Json(sa_json(&app, &u))).into_response())
}

async fn search_sa(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let q = query_pairs(&uri);
    let query = query_value(&q, "query").unwrap_or("").to_lowercase();
    let perpage = query_count(&q, "perpage", 1000);
    let page = query_count(&q, "page", 1);
    let all: Vec<User> = app
        .store
        .list_service_accounts()?
        .into_iter()
        .filter(|u| query.is_empty() || u.name.to_lowercase().contains(&query))
        .collect();
    let total = all.len();
    let list: Vec<Value> = page_of(all.iter().map(|u| sa_json(&app, u)), page, perpage);
    ok(json!({"totalCount": total, "serviceAccounts": list, "page": page, "perPage": perpage}))
}

async fn get_sa(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    ok(sa_json(&app, &u))
}

async fn update_sa(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    let req: SaBody = parse_body(&body)?;
    if let Some(name) = req.name.filter(|n| !n.trim().is_empty()) {
        app.store
            .update_user(u.id, &u.login, &u.email, name.trim())?;
    }
    if let Some(r) = req.role.as_deref().filter(|r| !r.is_empty()) {
        let role =
            Role::parse(r).ok_or_else(|| ApiError::bad_request(format!("invalid role {r:?}")))?;
        app.store.set_role(u.id, role)?;
    }
    if let Some(d) = req.is_disabled {
        app.store.set_disabled(u.id, d)?;
    }
    let u = app.store.user_by_id(u.id)?;
    let sa = sa_json(&app, &u);
    ok(json!({
        "id": u.id,
        "name": u.name,
        "login": u.login,
        "orgId": 1,
        "role": u.role.as_str(),
        "isDisabled": u.is_disabled,
        "message": "Service account updated",
        "serviceaccount": sa,
    }))
}

async fn delete_sa(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    app.store.delete_user(u.id)?;
    ok(json!({"message": "Service account deleted"}))
}

async fn list_tokens(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    let now = now_ms();
    let list: Vec<Value> = app
        .store
        .list_tokens(u.id)?
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "name": t.name,
                "created": time_text(t.created),
                "lastUsedAt": t.last_used.map(time_text),
                "expiration": t.expires.map(time_text),
                "secondsUntilExpiration": t.expires.map(|e| ((e - now) / 1000).max(0)),
                "hasExpired": t.expires.is_some_and(|e| e <= now),
                "isRevoked": false,
            })
        })
        .collect();
    ok(Value::Array(list))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TokenBody {
    name: String,
    seconds_to_live: Option<i64>,
}

async fn create_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    let req: TokenBody = parse_body(&body)?;
    if req.name.trim().is_empty() {
        return Err(ApiError::bad_request("token name is required"));
    }
    let Some((token, hash)) = auth::new_token() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot create a token: no random source",
        ));
    };
    let expires = req
        .seconds_to_live
        .filter(|&s| s > 0)
        .map(|s| now_ms().saturating_add(s.saturating_mul(1000)));
    let tid = app
        .store
        .create_token(u.id, req.name.trim(), &hash, expires)?;
    ok(json!({"id": tid, "name": req.name.trim(), "key": token}))
}

async fn delete_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult {
    caller.require(Action::OrgAdmin)?;
    let u = service_account(&app, &id)?;
    app.store.delete_token(u.id, user_id(&token_id)?)?;
    ok(json!({"message": "Service account token deleted"}))
}
