//! The HTTP side: upstream's routes, status codes and texts.
//!
//! Routing works on the percent-decoded path, as Go's `r.URL.Path` does: a `%2F` in a
//! label value is a path separator (hence `@base64`), and a path that is not clean (`//`,
//! `/./`, `/../`) is answered with a 301 to its cleaned form, as Go's `ServeMux` does.
//! Routes, under `--web.route-prefix`:
//!
//! - `PUT`/`POST`/`DELETE /metrics/job[@base64]/<job>{/<label>[@base64]/<value>}`
//! - `GET <telemetry path>`: pushed and own metrics, text 0.0.4 or delimited protobuf by
//!   `Accept` (client_golang's negotiation; no OpenMetrics, as upstream)
//! - `GET /api/v1/metrics`, `GET /api/v1/status`, `OPTIONS /api/v1/*` (CORS),
//!   `PUT /api/v1/admin/wipe` with `--web.enable-admin-api`
//! - `GET /-/healthy`, `GET /-/ready`; `PUT`/`POST /-/quit` with `--web.enable-lifecycle`

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_exposition::encode::TEXT_CONTENT_TYPE;
use hearth_exposition::protobuf::{PROTOBUF_CONTENT_TYPE, encode_delimited};
use hearth_exposition::{encode_proto_text, parse_text_families, proto};
use prost::Message as _;
use tokio::sync::Notify;

use crate::api;
use crate::config::PushgatewayConfig;
use crate::grouping_key::GroupingKey;
use crate::own_metrics::OwnMetrics;
use crate::store::MetricStore;

/// The largest push body accepted. Upstream has no limit; this one only stops a runaway
/// client from exhausting memory.
pub const MAX_PUSH_BYTES: usize = 64 << 20;

/// Everything a request may touch.
pub struct Pushgateway {
    pub config: PushgatewayConfig,
    pub store: Arc<MetricStore>,
    pub own: OwnMetrics,
    pub start_time: SystemTime,
    /// Signalled by `/-/quit`.
    pub quit: Notify,
}

pub fn router(pg: Arc<Pushgateway>) -> Router {
    Router::new().fallback(move |req: Request| {
        let pg = pg.clone();
        async move { dispatch(pg, req).await }
    })
}

/// Go's `http.Error`: the message and a line feed, as plain text.
fn text(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{msg}\n"),
    )
        .into_response()
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found")
}

fn method_not_allowed() -> Response {
    text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

async fn dispatch(pg: Arc<Pushgateway>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let Some(path) = percent_decode_path(uri.path()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "400 Bad Request: invalid URL escape",
        );
    };
    if method != Method::CONNECT {
        let clean = clean_path(&path);
        if clean != path {
            let mut location = percent_encode_path(&clean);
            if let Some(q) = uri.query() {
                location.push('?');
                location.push_str(q);
            }
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    if path == "/-/quit" && method == Method::GET {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "Only POST or PUT requests allowed.",
        )
            .into_response();
    }
    let prefix = pg.config.route_prefix.as_str();
    let telemetry = join_path(prefix, &pg.config.telemetry_path);
    if path == telemetry {
        return if method == Method::GET || method == Method::HEAD {
            metrics(&pg, req.headers()).await
        } else {
            method_not_allowed()
        };
    }
    let Some(rel) = path.strip_prefix(prefix).filter(|r| r.starts_with('/')) else {
        return not_found();
    };
    let get = method == Method::GET || method == Method::HEAD;
    match rel {
        "/-/healthy" | "/-/ready" => {
            if !get {
                return method_not_allowed();
            }
            let handler = if rel == "/-/healthy" {
                "healthy"
            } else {
                "ready"
            };
            pg.own.count_request(handler, method.as_str(), 200);
            return (StatusCode::OK, "OK").into_response();
        }
        "/-/quit" => {
            if method != Method::PUT && method != Method::POST {
                return method_not_allowed();
            }
            if !pg.config.enable_lifecycle {
                return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.").into_response();
            }
            tracing::warn!("received termination request via web service, exiting gracefully");
            pg.quit.notify_one();
            return (StatusCode::OK, "Requesting termination... Goodbye!").into_response();
        }
        _ => {}
    }
    if let Some(api_rel) = rel.strip_prefix("/api/v1/") {
        return api_route(&pg, &method, api_rel);
    }
    for (route, job_base64) in [("/metrics/job/", false), ("/metrics/job@base64/", true)] {
        let Some(rest) = rel.strip_prefix(route) else {
            continue;
        };
        let (job, labels) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        if job.is_empty() {
            return not_found();
        }
        return match method {
            Method::PUT | Method::POST => {
                let replace = method == Method::PUT;
                let headers = req.headers().clone();
                let body = axum::body::to_bytes(req.into_body(), MAX_PUSH_BYTES).await;
                let req = PushRequest {
                    job,
                    job_base64,
                    labels,
                    replace,
                    headers,
                    body,
                };
                push(&pg, &method, req).await
            }
            Method::DELETE => delete(&pg, job, job_base64, labels),
            _ => method_not_allowed(),
        };
    }
    not_found()
}

fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    for (k, v) in [
        (
            "access-control-allow-headers",
            "Accept, Authorization, Content-Type, Origin",
        ),
        ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
        ("access-control-allow-origin", "*"),
        ("access-control-expose-headers", "Date"),
        ("cache-control", "no-cache, no-store, must-revalidate"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    r
}

fn json(v: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn api_route(pg: &Pushgateway, method: &Method, rel: &str) -> Response {
    if *method == Method::OPTIONS {
        pg.own.count_request("api/v1/options", method.as_str(), 200);
        return cors(StatusCode::OK.into_response());
    }
    match rel {
        "metrics" if *method == Method::GET => {
            pg.own.count_request("api/v1/metrics", method.as_str(), 200);
            cors(json(&api::metrics(&pg.store.groups())))
        }
        "status" if *method == Method::GET => {
            pg.own.count_request("api/v1/status", method.as_str(), 200);
            cors(json(&api::status(&pg.config, pg.start_time)))
        }
        "admin/wipe" if pg.config.enable_admin_api => {
            if *method != Method::PUT {
                return method_not_allowed();
            }
            pg.store.wipe();
            tracing::debug!("metric store wiped");
            pg.own.count_request("wipe", method.as_str(), 202);
            StatusCode::ACCEPTED.into_response()
        }
        "metrics" | "status" => method_not_allowed(),
        _ => not_found(),
    }
}

fn delete(pg: &Pushgateway, job: &str, job_base64: bool, labels: &str) -> Response {
    let key = match GroupingKey::from_path(job, job_base64, labels) {
        Ok(k) => k,
        Err(e) => {
            tracing::debug!(url = labels, err = %e, "failed to parse URL");
            pg.own.count_request("delete", "delete", 400);
            return text(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    pg.store.delete(&key);
    pg.own.count_request("delete", "delete", 202);
    StatusCode::ACCEPTED.into_response()
}

/// A PUT or POST as it arrived.
struct PushRequest<'a> {
    job: &'a str,
    job_base64: bool,
    labels: &'a str,
    replace: bool,
    headers: HeaderMap,
    body: Result<Bytes, axum::Error>,
}

/// Handles a push and counts it in the own metrics, whatever its outcome.
async fn push(pg: &Arc<Pushgateway>, method: &Method, req: PushRequest<'_>) -> Response {
    let started = Instant::now();
    let size = req.body.as_ref().map_or(0, Bytes::len);
    let response = push_response(pg, req).await;
    pg.own
        .count_request("push", method.as_str(), response.status().as_u16());
    pg.own
        .observe_push(method.as_str(), size, started.elapsed().as_secs_f64());
    response
}

async fn push_response(pg: &Arc<Pushgateway>, req: PushRequest<'_>) -> Response {
    let PushRequest {
        job,
        job_base64,
        labels,
        replace,
        headers,
        body,
    } = req;
    let key = match GroupingKey::from_path(job, job_base64, labels) {
        Ok(k) => k,
        Err(e) => {
            tracing::debug!(url = labels, err = %e, "failed to parse URL");
            return text(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("cannot read the request body (at most {MAX_PUSH_BYTES} bytes): {e}"),
            );
        }
    };
    if let Some(enc) = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|e| e == "gzip" || e == "snappy")
    {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Content-Encoding {enc} is not supported by hearth's pushgateway yet"),
        );
    }
    let families = if is_protobuf(&headers) {
        decode_delimited(&body)
    } else {
        parse_text_families(&body).map_err(|e| e.to_string())
    };
    let families = match families {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(err = %e, "failed to parse pushed metrics");
            return text(StatusCode::BAD_REQUEST, &e);
        }
    };
    let check = pg.config.check_consistency;
    let own = check.then(|| pg.own.families());
    let store = pg.store.clone();
    let k = key.clone();
    let result = tokio::task::spawn_blocking(move || {
        store.push(&k, families, replace, SystemTime::now(), own.as_deref())
    })
    .await;
    match result {
        Ok(Ok(())) if check => StatusCode::OK.into_response(),
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(e)) => {
            tracing::error!(group = %key, err = %e, "pushed metrics are invalid or inconsistent with existing metrics");
            if check {
                text(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "pushed metrics are invalid or inconsistent with existing metrics: {e}"
                    ),
                )
            } else {
                StatusCode::ACCEPTED.into_response()
            }
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("push failed: {e}"),
        ),
    }
}

/// Upstream's test: media type `application/vnd.google.protobuf` with
/// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`; anything else is
/// read as text.
fn is_protobuf(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (media, params) = media_type(ct);
    media == "application/vnd.google.protobuf"
        && param(&params, "encoding") == Some("delimited")
        && param(&params, "proto") == Some("io.prometheus.client.MetricFamily")
}

/// A media type, lowercased, and its parameters (names lowercased, quotes removed).
fn media_type(s: &str) -> (String, Vec<(String, String)>) {
    let mut parts = s.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (media, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Length-delimited `MetricFamily` messages; a later family of the same name replaces
/// an earlier one, as upstream's map does.
fn decode_delimited(mut b: &[u8]) -> Result<Vec<proto::MetricFamily>, String> {
    let mut out: Vec<proto::MetricFamily> = Vec::new();
    while !b.is_empty() {
        let f = proto::MetricFamily::decode_length_delimited(&mut b)
            .map_err(|e| format!("invalid protobuf MetricFamily: {e}"))?;
        match out.iter_mut().find(|x| x.name == f.name) {
            Some(x) => *x = f,
            None => out.push(f),
        }
    }
    Ok(out)
}

/// The exposition format `Accept` asks for: delimited protobuf or text (client_golang's
/// `expfmt.Negotiate`, entries by descending quality).
fn wants_protobuf(headers: &HeaderMap) -> bool {
    let mut entries: Vec<(f64, bool, bool)> = Vec::new();
    for v in headers.get_all(header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for entry in v.split(',') {
            let (media, params) = media_type(entry);
            let q = param(&params, "q")
                .and_then(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            let proto = media == "application/vnd.google.protobuf"
                && param(&params, "proto") == Some("io.prometheus.client.MetricFamily")
                && param(&params, "encoding") == Some("delimited");
            let text = media == "text/plain"
                && matches!(param(&params, "version"), None | Some("0.0.4" | "1.0.0"));
            entries.push((q, proto, text));
        }
    }
    entries.sort_by(|a, b| b.0.total_cmp(&a.0));
    entries
        .iter()
        .find(|(_, proto, text)| *proto || *text)
        .is_some_and(|(_, proto, _)| *proto)
}

async fn metrics(pg: &Arc<Pushgateway>, headers: &HeaderMap) -> Response {
    let own = pg.own.families();
    let store = pg.store.clone();
    let protobuf = wants_protobuf(headers);
    let gathered = tokio::task::spawn_blocking(move || store.gather(own)).await;
    let families = match gathered {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::error!(err = %e, "error gathering metrics");
            pg.own.count_scrape(500);
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("An error has occurred while serving metrics:\n\n{e}"),
            );
        }
        Err(e) => {
            pg.own.count_scrape(500);
            return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    };
    pg.own.count_scrape(200);
    if protobuf {
        (
            [(header::CONTENT_TYPE, PROTOBUF_CONTENT_TYPE)],
            Body::from(encode_delimited(&families)),
        )
            .into_response()
    } else {
        let mut out = String::with_capacity(64 * 1024);
        encode_proto_text(&families, &mut out);
        ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], out).into_response()
    }
}

/// Go's `path.Join(prefix, p)`: cleaned, no trailing slash.
fn join_path(prefix: &str, p: &str) -> String {
    let c = clean_path(&format!("{prefix}/{p}"));
    if c.len() > 1 {
        c.trim_end_matches('/').to_string()
    } else {
        c
    }
}

/// Go's `url.PathUnescape`-style decoding of a request path; `None` for a bad escape or
/// bytes that are not UTF-8.
pub fn percent_decode_path(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes what may not appear raw in a `Location` path.
fn percent_encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for &b in p.as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's `net/http` `cleanPath`: `path.Clean` with a trailing slash kept.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".into();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean_path("/metrics/job/a//b"), "/metrics/job/a/b");
        assert_eq!(clean_path("/metrics/job/a/"), "/metrics/job/a/");
        assert_eq!(clean_path("/a/./b/../c"), "/a/c");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path(""), "/");
        assert_eq!(
            percent_decode_path("/a%2Fb%20c+").as_deref(),
            Some("/a/b c+")
        );
        assert_eq!(percent_decode_path("/a%zz"), None);
        assert_eq!(percent_decode_path("/a%f"), None);
        assert_eq!(percent_decode_path("/%ff"), None);
        assert_eq!(join_path("", "/metrics"), "/metrics");
        assert_eq!(join_path("/gw", "metrics"), "/gw/metrics");
        assert_eq!(join_path("", "/"), "/");
        assert_eq!(percent_encode_path("/a b/ü"), "/a%20b/%C3%BC");
    }

    #[test]
    fn negotiation() {
        let mut h = HeaderMap::new();
        assert!(!wants_protobuf(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
            ),
        );
        assert!(wants_protobuf(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.3",
            ),
        );
        assert!(!wants_protobuf(&h));
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            ),
        );
        assert!(is_protobuf(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.google.protobuf; encoding=delimited"),
        );
        assert!(!is_protobuf(&h));
    }

    #[test]
    fn delimited_bodies() {
        let f = |name: &str, v: f64| proto::MetricFamily {
            name: name.into(),
            r#type: proto::MetricType::Gauge as i32,
            metric: vec![proto::Metric {
                gauge: Some(proto::Gauge { value: v }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = encode_delimited(&[f("a", 1.0), f("b", 2.0), f("a", 3.0)]);
        let got = decode_delimited(&bytes).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].metric[0].gauge.unwrap().value, 3.0);
        assert!(decode_delimited(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_delimited(&[0xff]).is_err());
    }
}
