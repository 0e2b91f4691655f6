//! Folders: `GET/POST /api/folders`, `GET/PUT/DELETE /api/folders/:uid`,
//! `GET /api/folders/id/:id` (one level; deleting a folder deletes its dashboards).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::dashboards::folder_url;
use super::{
    ApiError, ApiResult, App, Caller, login_of, ok, page_of, parse_body, query_count, query_pairs,
    time_text,
};
use crate::auth::Action;
use crate::dashboard_json::validate_uid;
use crate::store::Folder;
use crate::uid::new_uid;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/folders", get(list).post(create))
        .route(
            "/api/folders/{uid}",
            get(get_one).put(update).delete(delete_one),
        )
        .route("/api/folders/id/{id}", get(get_by_id))
}

fn folder_json(app: &App, caller: &Caller, f: &Folder) -> Value {
    let can_edit = caller.require(Action::Edit).is_ok();
    json!({
        "id": f.id,
        "uid": f.uid,
        "orgId": 1,
        "title": f.title,
        "url": folder_url(f),
        "hasAcl": false,
        "canSave": can_edit,
        "canEdit": can_edit,
        "canAdmin": caller.require(Action::OrgAdmin).is_ok(),
        "canDelete": can_edit,
        "createdBy": login_of(app, f.created_by),
        "created": time_text(f.created),
        "updatedBy": login_of(app, f.updated_by),
        "updated": time_text(f.updated),
        "version": f.version,
    })
}

async fn list(State(app): State<Arc<App>>, _caller: Caller, uri: Uri) -> ApiResult {
    let q = query_pairs(&uri);
    let limit = query_count(&q, "limit", 1000);
    let page = query_count(&q, "page", 1);
    let list = app
        .store
        .list_folders()?
        .into_iter()
        .map(|f| json!({"id": f.id, "uid": f.uid, "title": f.title}));
    ok(Value::Array(page_of(list, page, limit)))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    title: String,
}

async fn create(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::Edit)?;
    let req: CreateBody = parse_body(&body)?;
    let title = req.title.trim();
    if title.is_empty() {
        return Err(ApiError::bad_request("folder title cannot be empty"));
    }
    let uid = match req.uid.filter(|u| !u.is_empty()) {
        Some(uid) => {
            validate_uid(&uid).map_err(|e| ApiError::bad_request(e.to_string()))?;
            uid
        }
        None => new_uid(),
    };
    let f = app.store.create_folder(&uid, title, caller.0.id)?;
    ok(folder_json(&app, &caller, &f))
}

async fn get_one(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    let f = app.store.folder_by_uid(&uid)?;
    ok(folder_json(&app, &caller, &f))
}

async fn get_by_id(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    let f = app.store.folder_by_id(id)?;
    ok(folder_json(&app, &caller, &f))
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    overwrite: bool,
}

async fn update(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::Edit)?;
    let req: UpdateBody = parse_body(&body)?;
    if let Some(u) = req.uid.as_deref() {
        validate_uid(u).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let title = req.title.as_deref().map(str::trim);
    if title == Some("") {
        return Err(ApiError::bad_request("folder title cannot be empty"));
    }
    let f = app
        .store
        .update_folder(
            &uid,
            req.uid.as_deref(),
            title,
            req.version,
            req.overwrite,
            caller.0.id,
        )
        .map_err(|e| match e {
            crate::store::StoreError::VersionMismatch => ApiError {
                status: axum::http::StatusCode::PRECONDITION_FAILED,
                body: json!({"message": "the folder has been changed by someone else", "status": "version-mismatch"}),
            },
            e => e.into(),
        })?;
    ok(folder_json(&app, &caller, &f))
}

async fn delete_one(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.require(Action::Edit)?;
    let f = app.store.delete_folder(&uid)?;
    ok(json!({"id": f.id, "title": f.title, "message": "Folder deleted"}))
}
