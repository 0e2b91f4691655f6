//! Dashboards: save (`POST /api/dashboards/db`), get and delete by uid, versions and
//! restore, tags, search, and stars.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, App, Caller, login_of, ok, page_of, parse_body, query_count, query_pairs,
    query_value, time_text,
};
use crate::auth::Action;
use crate::dashboard_json::{self, MAX_DASHBOARD_BYTES};
use crate::store::{Dashboard, DashboardSummary, Folder, SaveDashboard, StoreError};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/dashboards/db", post(save))
        .route("/api/dashboards/db/", post(save))
        .route(
            "/api/dashboards/uid/{uid}",
            get(get_by_uid).delete(delete_by_uid),
        )
        .route("/api/dashboards/uid/{uid}/versions", get(versions))
        .route("/api/dashboards/uid/{uid}/versions/{version}", get(version))
        .route("/api/dashboards/uid/{uid}/restore", post(restore))
        .route("/api/dashboards/tags", get(tags))
        .route("/api/search", get(search))
        .route("/api/search/", get(search))
        .route(
            "/api/user/stars/dashboard/uid/{uid}",
            post(star_uid).delete(unstar_uid),
        )
        .route(
            "/api/user/stars/dashboard/{id}",
            post(star_id).delete(unstar_id),
        )
        .route("/api/user/stars", get(stars))
}

pub fn dashboard_url(uid: &str, slug: &str) -> String {
    format!("/d/{uid}/{slug}")
}

pub fn folder_url(f: &Folder) -> String {
    format!(
        "/dashboards/f/{}/{}",
        f.uid,
        dashboard_json::slugify(&f.title)
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SaveBody {
    dashboard: Value,
    #[serde(default)]
    folder_uid: Option<String>,
    #[serde(default)]
    folder_id: Option<i64>,
    #[serde(default)]
    overwrite: bool,
    #[serde(default)]
    message: Option<String>,
}

fn save_response(d: &Dashboard) -> ApiResult {
    ok(json!({
        "id": d.id,
        "uid": d.uid,
        "url": dashboard_url(&d.uid, &d.slug),
        "status": "success",
        "version": d.version,
        "slug": d.slug,
        "folderUid": d.folder.as_ref().map(|f| f.uid.clone()).unwrap_or_default(),
    }))
}

async fn save(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require(Action::Edit)?;
    if body.len() > MAX_DASHBOARD_BYTES {
        return Err(ApiError::bad_request(
            dashboard_json::DashboardJsonError::TooLarge(body.len()).to_string(),
        ));
    }
    let req: SaveBody = parse_body(&body)?;
    dashboard_json::validate(&req.dashboard).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // folderUid wins over the deprecated folderId (0 is the General folder).
    let folder_uid = match (req.folder_uid.filter(|u| !u.is_empty()), req.folder_id) {
        (Some(uid), _) => Some(uid),
        (None, Some(id)) if id > 0 => Some(
            app.store
                .folder_by_id(id)
                .map_err(|_| ApiError::from(StoreError::FolderNotFound))?
                .uid,
        ),
        _ => None,
    };
    let d = app.store.save_dashboard(SaveDashboard {
        data: req.dashboard,
        folder_uid,
        message: req.message.unwrap_or_default(),
        overwrite: req.overwrite,
        user_id: caller.0.id,
        provisioning: None,
        restored_from: 0,
    })?;
    save_response(&d)
}

fn meta(app: &App, caller: &Caller, d: &Dashboard) -> Value {
    let can_edit = caller.require(Action::Edit).is_ok();
    let can_save = can_edit && d.provisioning.as_ref().is_none_or(|p| p.allow_ui_updates);
    let starred = app
        .store
        .starred(caller.0.id)
        .map(|s| s.contains(&d.id))
        .unwrap_or(false);
    json!({
        "type": "db",
        "canSave": can_save,
        "canEdit": can_edit,
        "canAdmin": caller.require(Action::OrgAdmin).is_ok(),
        "canStar": true,
        "canDelete": can_edit,
        "slug": d.slug,
        "url": dashboard_url(&d.uid, &d.slug),
        "expires": "0001-01-01T00:00:00Z",
        "created": time_text(d.created),
        "updated": time_text(d.updated),
        "updatedBy": login_of(app, d.updated_by),
        "createdBy": login_of(app, d.created_by),
        "version": d.version,
        "hasAcl": false,
        "isFolder": false,
        "folderId": d.folder.as_ref().map_or(0, |f| f.id),
        "folderUid": d.folder.as_ref().map(|f| f.uid.clone()).unwrap_or_default(),
        "folderTitle": d.folder.as_ref().map(|f| f.title.clone()).unwrap_or_else(|| "General".into()),
        "folderUrl": d.folder.as_ref().map(folder_url).unwrap_or_default(),
        "provisioned": d.provisioning.is_some(),
        "provisionedExternalId": d.provisioning.as_ref().map(|p| p.external_id.clone()).unwrap_or_default(),
        "isStarred": starred,
    })
}

async fn get_by_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    let d = app.store.dashboard_by_uid(&uid)?;
    ok(json!({"dashboard": d.data, "meta": meta(&app, &caller, &d)}))
}

async fn delete_by_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    caller.require(Action::Edit)?;
    let d = app.store.dashboard_by_uid(&uid)?;
    if d.provisioning.as_ref().is_some_and(|p| !p.allow_ui_updates) {
        return Err(ApiError::bad_request(
            "provisioned dashboard cannot be deleted",
        ));
    }
    let d = app.store.delete_dashboard(&uid)?;
    ok(json!({
        "id": d.id,
        "title": d.title,
        "message": format!("Dashboard {} deleted", d.title),
    }))
}

fn version_json(
    app: &App,
    uid: &str,
    v: &crate::store::DashboardVersion,
    with_data: bool,
) -> Value {
    let mut out = json!({
        "id": v.id,
        "dashboardId": v.dashboard_id,
        "uid": uid,
        "parentVersion": v.parent_version,
        "restoredFrom": v.restored_from,
        "version": v.version,
        "created": time_text(v.created),
        "createdBy": login_of(app, v.created_by),
        "message": v.message,
    });
    if with_data && let Some(o) = out.as_object_mut() {
        o.insert("data".into(), v.data.clone());
    }
    out
}

async fn versions(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path(uid): Path<String>,
    uri: Uri,
) -> ApiResult {
    let q = query_pairs(&uri);
    let limit = query_count(&q, "limit", 1000);
    let start = query_value(&q, "start")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let d = app.store.dashboard_by_uid(&uid)?;
    let list = app.store.dashboard_versions(d.id, limit, start)?;
    let versions: Vec<Value> = list
        .iter()
        .map(|v| version_json(&app, &d.uid, v, false))
        .collect();
    ok(json!({"continueToken": "", "versions": versions}))
}

async fn version(
    State(app): State<Arc<App>>,
    _caller: Caller,
    Path((uid, version)): Path<(String, String)>,
) -> ApiResult {
    let version: i64 = version
        .parse()
        .map_err(|_| ApiError::bad_request("version is not a number"))?;
    let d = app.store.dashboard_by_uid(&uid)?;
    let v = app.store.dashboard_version(d.id, version)?;
    ok(version_json(&app, &d.uid, &v, true))
}

#[derive(Deserialize)]
struct RestoreBody {
    version: i64,
}

async fn restore(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require(Action::Edit)?;
    let req: RestoreBody = parse_body(&body)?;
    let d = app.store.dashboard_by_uid(&uid)?;
    let v = app.store.dashboard_version(d.id, req.version)?;
    let mut data = v.data.clone();
    if let Some(o) = data.as_object_mut() {
        o.insert("version".into(), Value::from(d.version));
        o.insert("uid".into(), Value::from(d.uid.clone()));
    }
    let saved = app.store.save_dashboard(SaveDashboard {
        data,
        folder_uid: d.folder.as_ref().map(|f| f.uid.clone()),
        message: format!("Restored from version {}", v.version),
        overwrite: false,
        user_id: caller.0.id,
        provisioning: None,
        restored_from: v.version,
    })?;
    save_response(&saved)
}

async fn tags(State(app): State<Arc<App>>, _caller: Caller) -> ApiResult {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for d in app.store.list_dashboards()? {
        for t in d.tags {
            *counts.entry(t).or_default() += 1;
        }
    }
    let list: Vec<Value> = counts
        .into_iter()
        .map(|(term, count)| json!({"term": term, "count": count}))
        .collect();
    ok(Value::Array(list))
}

/// `GET /api/search`: folders and dashboards filtered by `query` (title substring,
/// case-insensitive), `tag` (all given), `type` (`dash-db`, `dash-folder`),
/// `folderUIDs`/`folderIds` (`general` / 0 is the General folder), `dashboardUIDs`,
/// `dashboardIds`, `starred`; sorted by title with folders first; paged by `limit`
/// (default 1000) and `page` (from 1).
async fn search(State(app): State<Arc<App>>, caller: Caller, uri: Uri) -> ApiResult {
    let q = query_pairs(&uri);
    let all = |key: &str| -> Vec<&str> {
        q.iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .collect()
    };
    let query = query_value(&q, "query").unwrap_or("").to_lowercase();
    let tags = all("tag");
    let kind = query_value(&q, "type").unwrap_or("");
    let folder_uids = all("folderUIDs");
    let folder_ids: Vec<i64> = all("folderIds")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let dash_uids = all("dashboardUIDs");
    let dash_ids: Vec<i64> = all("dashboardIds")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    let starred_only = query_value(&q, "starred") == Some("true");
    let limit = query_count(&q, "limit", 1000).min(5000);
    let page = query_count(&q, "page", 1);
    let starred: HashSet<i64> = app.store.starred(caller.0.id)?.into_iter().collect();
    let filter_by_folder = !folder_uids.is_empty() || !folder_ids.is_empty();
    let in_folder = |f: &Option<Folder>| -> bool {
        match f {
            None => folder_uids.contains(&"general") || folder_ids.contains(&0),
            Some(f) => folder_uids.contains(&f.uid.as_str()) || folder_ids.contains(&f.id),
        }
    };

    let mut hits = Vec::new();
    let want_folders = (kind.is_empty() || kind == "dash-folder")
        && tags.is_empty()
        && !starred_only
        && dash_uids.is_empty()
        && dash_ids.is_empty()
        && !filter_by_folder;
    if want_folders {
        for f in app.store.list_folders()? {
            if !query.is_empty() && !f.title.to_lowercase().contains(&query) {
                continue;
            }
            hits.push(json!({
                "id": f.id,
                "uid": f.uid,
                "orgId": 1,
                "title": f.title,
                "uri": format!("db/{}", dashboard_json::slugify(&f.title)),
                "url": folder_url(&f),
                "slug": "",
                "type": "dash-folder",
                "tags": [],
                "isStarred": false,
                "sortMeta": 0,
            }));
        }
    }
    if kind.is_empty() || kind == "dash-db" {
        let matches = |d: &DashboardSummary| -> bool {
            (query.is_empty() || d.title.to_lowercase().contains(&query))
                && tags.iter().all(|t| d.tags.iter().any(|dt| dt == t))
                && (!starred_only || starred.contains(&d.id))
                && (dash_uids.is_empty() || dash_uids.contains(&d.uid.as_str()))
                && (dash_ids.is_empty() || dash_ids.contains(&d.id))
                && (!filter_by_folder || in_folder(&d.folder))
        };
        for d in app.store.list_dashboards()?.iter().filter(|d| matches(d)) {
            let mut hit = json!({
                "id": d.id,
                "uid": d.uid,
                "orgId": 1,
                "title": d.title,
                "uri": format!("db/{}", d.slug),
                "url": dashboard_url(&d.uid, &d.slug),
                "slug": "",
                "type": "dash-db",
                "tags": d.tags,
                "isStarred": starred.contains(&d.id),
                "sortMeta": 0,
            });
            if let (Some(f), Some(o)) = (&d.folder, hit.as_object_mut()) {
                o.insert("folderId".into(), Value::from(f.id));
                o.insert("folderUid".into(), Value::from(f.uid.clone()));
                o.insert("folderTitle".into(), Value::from(f.title.clone()));
                o.insert("folderUrl".into(), Value::from(folder_url(f)));
            }
            hits.push(hit);
        }
    }
    ok(Value::Array(page_of(hits, page, limit)))
}

async fn star_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    let d = app.store.dashboard_by_uid(&uid)?;
    app.store.star(caller.0.id, d.id)?;
    ok(json!({"message": "Dashboard starred!"}))
}

async fn unstar_uid(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(uid): Path<String>,
) -> ApiResult {
    let d = app.store.dashboard_by_uid(&uid)?;
    app.store.unstar(caller.0.id, d.id)?;
    ok(json!({"message": "Dashboard unstarred"}))
}

async fn star_id(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    let d = app.store.dashboard_by_id(id)?;
    app.store.star(caller.0.id, d.id)?;
    ok(json!({"message": "Dashboard starred!"}))
}

async fn unstar_id(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<i64>) -> ApiResult {
    let d = app.store.dashboard_by_id(id)?;
    app.store.unstar(caller.0.id, d.id)?;
    ok(json!({"message": "Dashboard unstarred"}))
}

async fn stars(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    let mut out = Vec::new();
    for id in app.store.starred(caller.0.id)? {
        if let Ok(d) = app.store.dashboard_by_id(id) {
            out.push(json!({"id": d.id, "uid": d.uid, "title": d.title}));
        }
    }
    ok(Value::Array(out))
}
