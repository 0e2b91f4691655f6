//! The HTTP side: API v2 (`/api/v2/alerts`, `alerts/groups`, `silences`, `silence/{id}`,
//! `status`, `receivers`) with upstream's JSON shapes, lifecycle (`/-/healthy`,
//! `/-/ready`, `/-/reload`) and `/metrics`, under the route prefix.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alert::Alert;
use crate::dispatch::receivers_for;
use crate::labelset::{LabelSet, fingerprint_string};
use crate::matcher::{MatchType, Matcher, compile_anchored, parse_matchers};
use crate::server::Alertmanager;
use crate::silence::{MatcherJson, Silence, SilenceError, sort_silences};
use crate::time::{Time, add, is_zero, now, parse_rfc3339, rfc3339_millis, zero};

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 32 << 20;

type Am = Arc<Alertmanager>;

/// The router, with every path under the route prefix.
pub fn router(am: Am) -> Router {
    let api = Router::new()
        .route("/-/healthy", get(|| async { "OK" }).head(|| async { "OK" }))
        .route("/-/ready", get(|| async { "OK" }).head(|| async { "OK" }))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/", get(index))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(am.clone());
    let prefix = am.opts.route_prefix.trim_end_matches('/').to_string();
    if prefix.is_empty() {
        api
    } else {
        Router::new().nest(&prefix, api).route(
            "/",
            get(move || {
                let p = prefix.clone();
                async move { axum::response::Redirect::to(&format!("{p}/")) }
            }),
        )
    }
}

/// JSON as go-swagger answers: Go's escaping, a trailing newline.
fn json_response<T: Serialize>(code: StatusCode, v: &T) -> Response {
    match crate::gojson::to_vec(v) {
        Ok(mut b) => {
            b.push(b'\n');
            (code, [(header::CONTENT_TYPE, "application/json")], b).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// go-swagger's error payload: a JSON string.
fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    json_response(code, &msg.into())
}

/// go-swagger's own validation errors: `{"code": N, "message": …}`.
fn swagger_error(status: StatusCode, code: u16, msg: impl Into<String>) -> Response {
    let v = json!({"code": code, "message": msg.into()});
    match crate::gojson::to_vec(&v) {
        Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Whether `s` is a UUID in its textual form (the path parameter's format).
fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

async fn index(State(am): State<Am>) -> Response {
    let p = am.opts.route_prefix.trim_end_matches('/');
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><title>hearth alertmanager</title><h1>hearth alertmanager</h1>\
             <ul><li><a href=\"{p}/api/v2/alerts\">alerts</a></li>\
             <li><a href=\"{p}/api/v2/alerts/groups\">alert groups</a></li>\
             <li><a href=\"{p}/api/v2/silences\">silences</a></li>\
             <li><a href=\"{p}/api/v2/status\">status</a></li>\
             <li><a href=\"{p}/metrics\">metrics</a></li></ul>"
        ),
    )
        .into_response()
}

async fn reload(State(am): State<Am>) -> Response {
    match am.reload().await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}"),
        )
            .into_response(),
    }
}

async fn metrics(State(am): State<Am>) -> Response {
    am.refresh_metrics();
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &am.registry).is_err() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "encoding metrics failed").into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

async fn status(State(am): State<Am>) -> Response {
    let running = am.running();
    let b = &am.opts.build;
    json_response(
        StatusCode::OK,
        &json!({
            "cluster": {"peers": [], "status": "disabled"},
            "config": {"original": running.config.to_yaml()},
            "uptime": rfc3339_millis(&am.started),
            "versionInfo": {
                "branch": b.branch,
                "buildDate": b.build_date,
                "buildUser": b.build_user,
                "goVersion": b.go_version,
                "revision": b.revision,
                "version": b.version,
            },
        }),
    )
}

async fn receivers(State(am): State<Am>) -> Response {
    let running = am.running();
    let list: Vec<_> = running
        .config
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    json_response(StatusCode::OK, &list)
}

/// Query parameters as Go reads them: repeated `filter`, booleans defaulting to true.
struct Params {
    filter: Vec<Matcher>,
    receiver: Option<regex::Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    creator: Vec<String>,
}

fn parse_params(q: Option<&str>) -> Result<Params, String> {
    let mut p = Params {
        filter: Vec::new(),
        receiver: None,
        active: true,
        silenced: true,
        inhibited: true,
        unprocessed: true,
        creator: Vec::new(),
    };
    let bad = |m: String| m;
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        let boolean = |v: &str| -> Result<bool, String> {
            match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad(format!("{k} in query must be of type bool: {v:?}"))),
            }
        };
        match k.as_ref() {
            "filter" => p
                .filter
                .extend(parse_matchers(&v).map_err(|_| bad(format!("bad matcher format: {v}")))?),
            "receiver" => {
                p.receiver = Some(
                    compile_anchored(&v)
                        .map_err(|e| bad(format!("failed to parse receiver param: {e}")))?,
                );
            }
            "active" => p.active = boolean(&v)?,
            "silenced" => p.silenced = boolean(&v)?,
            "inhibited" => p.inhibited = boolean(&v)?,
            "unprocessed" => p.unprocessed = boolean(&v)?,
            "creator" => p.creator.push(v.into_owned()),
            _ => {}
        }
    }
    Ok(p)
}

/// Upstream's `matchFilterLabels`.
fn matches_filter(matchers: &[Matcher], ls: &LabelSet) -> bool {
    for m in matchers {
        let v = ls.get(&m.name);
        let present = v.is_some();
        let v = v.map_or("", String::as_str);
        match m.kind {
            MatchType::NotRegexp | MatchType::NotEqual => {
                if m.value.is_empty() && present {
                    continue;
                }
            }
            _ => {
                if m.value.is_empty() && !present {
                    continue;
                }
            }
        }
        if !m.matches(v) {
            return false;
        }
    }
    true
}

struct AlertStatus {
    silenced_by: Vec<String>,
    inhibited_by: Vec<String>,
}

impl AlertStatus {
    fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

fn gettable_alert(a: &Alert, st: &AlertStatus, receivers: &[String]) -> serde_json::Value {
    let mut v = json!({
        "annotations": a.annotations,
        "endsAt": rfc3339_millis(&a.ends_at),
        "fingerprint": fingerprint_string(a.fingerprint()),
        "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": rfc3339_millis(&a.starts_at),
        "status": {
            "inhibitedBy": st.inhibited_by,
            "silencedBy": st.silenced_by,
            "state": st.state(),
        },
        "updatedAt": rfc3339_millis(&a.updated_at),
        "generatorURL": a.generator_url,
        "labels": a.labels,
    });
    // go-swagger omits an empty generatorURL.
    if a.generator_url.is_empty()
        && let Some(o) = v.as_object_mut()
    {
        o.remove("generatorURL");
    }
    v
}

/// Whether the alert passes the state filters.
fn keep(p: &Params, st: &AlertStatus) -> bool {
    if !p.active && st.state() == "active" {
        return false;
    }
    if !p.silenced && !st.silenced_by.is_empty() {
        return false;
    }
    if !p.inhibited && !st.inhibited_by.is_empty() {
        return false;
    }
    true
}

async fn get_alerts(State(am): State<Am>, RawQuery(q): RawQuery) -> Response {
    let p = match parse_params(q.as_deref()) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let t = now();
    let running = am.running();
    let all = am.store.list();
    let view = running.pipeline.inhibitor().view(&all, &t);
    let mut out: Vec<(String, serde_json::Value)> = Vec::new();
    for a in &all {
        let receivers = receivers_for(running.dispatcher.route(), &a.labels);
        if let Some(re) = &p.receiver
            && !receivers.iter().any(|r| re.is_match(r))
        {
            continue;
        }
        if !matches_filter(&p.filter, &a.labels) || a.resolved_at(&t) {
            continue;
        }
        let st = AlertStatus {
            silenced_by: am.silences.mutes(&a.labels, &t),
            inhibited_by: view
                .mutes(&a.labels)
                .map(fingerprint_string)
                .into_iter()
                .collect(),
        };
        if !keep(&p, &st) {
            continue;
        }
        out.push((
            fingerprint_string(a.fingerprint()),
            gettable_alert(a, &st, &receivers),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    let list: Vec<serde_json::Value> = out.into_iter().map(|(_, v)| v).collect();
    json_response(StatusCode::OK, &list)
}

async fn get_groups(State(am): State<Am>, RawQuery(q): RawQuery) -> Response {
    let p = match parse_params(q.as_deref()) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let t = now();
    let running = am.running();
    let all = am.store.list();
    let view = running.pipeline.inhibitor().view(&all, &t);
    let mut out = Vec::new();
    for g in running.dispatcher.groups() {
        if let Some(re) = &p.receiver
            && !re.is_match(&g.route.opts.receiver)
        {
            continue;
        }
        let mut alerts = Vec::new();
        for a in g.alerts() {
            if a.resolved_at(&t) || !matches_filter(&p.filter, &a.labels) {
                continue;
            }
            let st = AlertStatus {
                silenced_by: am.silences.mutes(&a.labels, &t),
                inhibited_by: view
                    .mutes(&a.labels)
                    .map(fingerprint_string)
                    .into_iter()
                    .collect(),
            };
            if !keep(&p, &st) {
                continue;
            }
            let receivers = receivers_for(running.dispatcher.route(), &a.labels);
            alerts.push(gettable_alert(&a, &st, &receivers));
        }
        if alerts.is_empty() {
            continue;
        }
        out.push(json!({
            "alerts": alerts,
            "labels": g.labels,
            "receiver": {"name": g.route.opts.receiver},
        }));
    }
    json_response(StatusCode::OK, &out)
}

#[derive(Deserialize)]
struct PostableAlert {
    labels: Option<LabelSet>,
    #[serde(default)]
    annotations: Option<LabelSet>,
    #[serde(default, rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(default, rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

fn parse_time(s: Option<&str>) -> Result<Time, String> {
    match s {
        None | Some("") => Ok(zero()),
        Some(s) => parse_rfc3339(s),
    }
}

async fn post_alerts(State(am): State<Am>, body: Bytes) -> Response {
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return swagger_error(
                StatusCode::BAD_REQUEST,
                400,
                format!("parsing alerts body from \"\" failed, because {e}"),
            );
        }
    };
    let missing: Vec<String> = posted
        .iter()
        .enumerate()
        .filter(|(_, p)| p.labels.is_none())
        .map(|(i, _)| format!("{i}.labels in body is required"))
        .collect();
    if !missing.is_empty() {
        return swagger_error(StatusCode::UNPROCESSABLE_ENTITY, 602, missing.join("\n"));
    }
    let t = now();
    let resolve_timeout = am.running().config.global.resolve_timeout.to_std();
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for p in posted {
        let Some(labels) = p.labels else {
            errors.push("labels in body is required".to_string());
            continue;
        };
        let (starts_at, ends_at) = match (
            parse_time(p.starts_at.as_deref()),
            parse_time(p.ends_at.as_deref()),
        ) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(e), _) | (_, Err(e)) => {
                errors.push(e);
                continue;
            }
        };
        let mut a = Alert {
            labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
            annotations: p.annotations.unwrap_or_default(),
            starts_at,
            ends_at,
            updated_at: t,
            generator_url: p.generator_url.unwrap_or_default(),
            timeout: false,
        };
        if is_zero(&a.starts_at) {
            a.starts_at = if is_zero(&a.ends_at) { t } else { a.ends_at };
        }
        if is_zero(&a.ends_at) {
            a.timeout = true;
            a.ends_at = add(&t, resolve_timeout);
        }
        let status = if a.ends_at > now() {
            "firing"
        } else {
            "resolved"
        };
        am.metrics
            .alerts_received
            .get_or_create(&vec![("status".into(), status.into())])
            .inc();
        if let Err(e) = a.validate() {
            am.metrics.alerts_invalid.get_or_create(&vec![]).inc();
            errors.push(e);
            continue;
        }
        valid.push(a);
    }
    am.store.put(valid);
    if !errors.is_empty() {
        return error(StatusCode::BAD_REQUEST, errors.join("; "));
    }
    StatusCode::OK.into_response()
}

fn gettable_silence(s: &Silence, t: &Time) -> serde_json::Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(t).as_str()},
        "updatedAt": rfc3339_millis(&s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": rfc3339_millis(&s.ends_at),
        "matchers": s.matchers.iter().map(MatcherJson::from_matcher).collect::<Vec<_>>(),
        "startsAt": rfc3339_millis(&s.starts_at),
    })
}

async fn get_silences(State(am): State<Am>, RawQuery(q): RawQuery) -> Response {
    let p = match parse_params(q.as_deref()) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let t = now();
    let mut list: Vec<Silence> = am
        .silences
        .list()
        .into_iter()
        .filter(|s| silence_matches_filter(s, &p.filter))
        .filter(|s| p.creator.is_empty() || p.creator.contains(&s.created_by))
        .collect();
    sort_silences(&mut list, &t);
    let out: Vec<_> = list.iter().map(|s| gettable_silence(s, &t)).collect();
    json_response(StatusCode::OK, &out)
}

/// Upstream's `CheckSilenceMatchesFilterLabels`: every filter names a label one of the
/// silence's matchers is about, and matches that matcher's value.
fn silence_matches_filter(s: &Silence, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| {
        let mut found = false;
        for m in &s.matchers {
            if m.name == f.name {
                found = true;
                if !f.matches(&m.value) {
                    return false;
                }
            }
        }
        found
    })
}

async fn get_silence(State(am): State<Am>, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return swagger_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            601,
            format!("silenceID in path must be of type uuid: {id:?}"),
        );
    }
    match am.silences.get(&id) {
        Some(s) => json_response(StatusCode::OK, &gettable_silence(&s, &now())),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(State(am): State<Am>, Path(id): Path<String>) -> Response {
    if !is_uuid(&id) {
        return swagger_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            601,
            format!("silenceID in path must be of type uuid: {id:?}"),
        );
    }
    match am.silences.expire(&id, now()) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(SilenceError::NotFound) => error(StatusCode::NOT_FOUND, "silence not found"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Option<Vec<MatcherJson>>,
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(rename = "createdBy")]
    created_by: Option<String>,
    comment: Option<String>,
}

async fn post_silence(State(am): State<Am>, body: Bytes) -> Response {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("parsing silence body: {e}")),
    };
    let mut missing = Vec::new();
    for (name, present) in [
        ("matchers", p.matchers.is_some()),
        ("startsAt", p.starts_at.is_some()),
        ("endsAt", p.ends_at.is_some()),
        ("createdBy", p.created_by.is_some()),
        ("comment", p.comment.is_some()),
    ] {
        if !present {
            missing.push(format!("{name} in body is required"));
        }
    }
    if !missing.is_empty() {
        return swagger_error(StatusCode::UNPROCESSABLE_ENTITY, 602, missing.join("\n"));
    }
    if p.matchers.as_ref().is_some_and(Vec::is_empty) {
        return swagger_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            612,
            "matchers in body should have at least 1 items",
        );
    }
    let mut matchers = Vec::new();
    for m in p.matchers.unwrap_or_default() {
        match m.to_matcher() {
            Ok(m) => matchers.push(m),
            Err(e) => return bad(format!("silence invalid: invalid label matcher: {e}")),
        }
    }
    let (starts_at, ends_at) = match (
        parse_time(p.starts_at.as_deref()),
        parse_time(p.ends_at.as_deref()),
    ) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    if starts_at >= ends_at {
        return bad("Failed to create silence: start time must be before end time".into());
    }
    let t = now();
    if ends_at < t {
        return bad("Failed to create silence: end time can't be in the past".into());
    }
    let sil = Silence {
        id: p.id.unwrap_or_default(),
        matchers,
        starts_at,
        ends_at,
        updated_at: t,
        created_by: p.created_by.unwrap_or_default(),
        comment: p.comment.unwrap_or_default(),
    };
    match am.silences.set(sil, t) {
        Ok(id) => json_response(StatusCode::OK, &BTreeMap::from([("silenceID", id)])),
        Err(SilenceError::NotFound) => error(StatusCode::NOT_FOUND, "silence not found"),
        Err(SilenceError::Invalid(m)) => bad(format!("silence invalid: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_semantics_as_upstream() {
        let ls: LabelSet = [("a".to_string(), "1".to_string())].into();
        let f = |s: &str| parse_matchers(s).unwrap();
        assert!(matches_filter(&f("a=1"), &ls));
        assert!(!matches_filter(&f("a=2"), &ls));
        assert!(matches_filter(&f("b=\"\""), &ls));
        assert!(matches_filter(&f("a!=\"\""), &ls));
        assert!(matches_filter(&f("a=~\"1|2\""), &ls));
        assert!(!matches_filter(&f("a!~\"1|2\""), &ls));
    }
}
