//! The browser UI: `ui/` of the repository, embedded at compile time (`build.rs`), served
//! at upstream's page paths (`/query`, `/alerts`, `/rules`, `/targets`,
//! `/service-discovery`, `/tsdb-status`, `/status`, `/flags`, `/config`,
//! `/alertmanager-discovery`; `/` and `/graph` redirect to `/query`, the latter keeping
//! its query string so `g0.expr=` links carry over) and its files under `/assets/`.
//!
//! Every page is the same `index.html` (the client-side router picks the page by path)
//! with the page title, readiness and lookback delta filled in. Assets are served
//! precompressed when the client accepts gzip, with an `ETag` so reloads revalidate
//! with a 304. With [`WebOptions::ui_dir`](crate::WebOptions) set (the `HEARTH_UI_DIR`
//! environment variable), files are read from that directory on every request instead,
//! so a developer edits `ui/` and reloads the browser: there is no build step.
//!
//! `/assets/functions.json` is generated from the engine's PromQL function table (without
//! experimental functions unless they are enabled), for the editor's completion.
//!
//! Not gated by readiness, as upstream: the UI shows that the server is starting.

use std::path::{Component, Path};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::server::{Readiness, Web};

/// One embedded file of `ui/`.
pub struct Asset {
    /// Path relative to `ui/`, with `/` separators.
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// The gzip-compressed bytes, for text files worth compressing.
    pub gzip: Option<&'static [u8]>,
    /// A quoted hash of the bytes.
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// The embedded file at `path` (relative to `ui/`).
pub fn embedded(path: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .and_then(|i| ASSETS.get(i))
}

/// Upstream's client-side routes: each serves the UI's `index.html`.
pub const PAGES: &[&str] = &[
    "/query",
    "/alerts",
    "/rules",
    "/targets",
    "/service-discovery",
    "/tsdb-status",
    "/status",
    "/flags",
    "/config",
    "/alertmanager-discovery",
];

/// The UI's routes (relative to the route prefix).
pub fn router() -> Router<Arc<Web>> {
    let mut r = Router::new()
        .route("/", get(home))
        .route("/graph", get(graph))
        .route("/assets/functions.json", get(functions))
        .route("/assets/{*path}", get(asset))
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon));
    for p in PAGES {
        r = r.route(p, get(page));
    }
    r
}

/// Where redirects point: the external URL's path (upstream's `ExternalURL.Path`), or
/// the route prefix when the external URL has no path.
fn external_path(web: &Web, page: &str) -> String {
    let mut base = web.opts.external_url.path().trim_end_matches('/');
    if base.is_empty() {
        base = web.opts.route_prefix.trim_end_matches('/');
    }
    format!("{base}/{page}")
}

/// A 302 as upstream's `http.Redirect(…, http.StatusFound)`.
fn found(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => Redirect::to("query").into_response(),
    }
}

async fn home(State(web): State<Arc<Web>>) -> Response {
    found(&external_path(&web, "query"))
}

/// The old UI's `/graph` (with `g0.expr=…` parameters) is the new `/query`.
async fn graph(State(web): State<Arc<Web>>, RawQuery(q): RawQuery) -> Response {
    let mut to = external_path(&web, "query");
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        to.push('?');
        to.push_str(&q);
    }
    found(&to)
}

/// A UI file as served: its bytes, gzipped bytes and ETag (the last two only when
/// embedded).
struct Loaded {
    bytes: std::borrow::Cow<'static, [u8]>,
    gzip: Option<&'static [u8]>,
    etag: Option<&'static str>,
}

/// Reads a UI file: from `ui_dir` when set (development), else the embedded copy.
fn load(web: &Web, path: &str) -> Option<Loaded> {
    if let Some(dir) = &web.opts.ui_dir {
        let rel = Path::new(path);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        return std::fs::read(dir.join(rel)).ok().map(|b| Loaded {
            bytes: b.into(),
            gzip: None,
            etag: None,
        });
    }
    embedded(path).map(|a| Loaded {
        bytes: a.bytes.into(),
        gzip: a.gzip,
        etag: Some(a.etag),
    })
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "text/plain; charset=utf-8",
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|n| n.trim() == "gzip"))
}

fn serve_file(web: &Web, path: &str, headers: &HeaderMap) -> Response {
    let Some(Loaded { bytes, gzip, etag }) = load(web, path) else {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    };
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    let Some(etag) = etag else {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return (h, bytes).into_response();
    };
    // Revalidate every time: a new binary serves new files under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    match gzip {
        Some(gz) if accepts_gzip(headers) => {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (h, gz).into_response()
        }
        _ => (h, bytes).into_response(),
    }
}

async fn asset(
    State(web): State<Arc<Web>>,
    UrlPath(path): UrlPath<String>,
    req: Request,
) -> Response {
    serve_file(&web, &path, req.headers())
}

async fn favicon(State(web): State<Arc<Web>>, req: Request) -> Response {
    serve_file(&web, "favicon.svg", req.headers())
}

/// `index.html` with upstream's placeholders filled in.
async fn page(State(web): State<Arc<Web>>) -> Response {
    let Some(Loaded { bytes, .. }) = load(&web, "index.html") else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the UI's index.html is missing\n",
        )
            .into_response();
    };
    let html = String::from_utf8_lossy(&bytes)
        .replace("TITLE_PLACEHOLDER", &html_escape(&web.opts.page_title))
        .replace(
            "READY_PLACEHOLDER",
            if web.readiness() == Readiness::Ready {
                "true"
            } else {
                "false"
            },
        )
        .replace(
            "LOOKBACKDELTA_PLACEHOLDER",
            &hearth_model::duration::format_duration(web.opts.lookback_delta_ms),
        );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The PromQL functions the engine accepts, for completion:
/// `[{"name","args":["vector",…],"variadic","returnType"}]`.
async fn functions(State(web): State<Arc<Web>>) -> Response {
    let experimental = web.engine.options().features.experimental_functions;
    let list: Vec<serde_json::Value> = hearth_promql::functions::all_functions()
        .iter()
        .filter(|f| experimental || !f.experimental)
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "args": f.arg_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "variadic": f.variadic,
                "returnType": f.return_type.as_str(),
            })
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        serde_json::Value::Array(list).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_is_embedded_and_sorted() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
        for p in [
            "index.html",
            "app.js",
            "lib/chart.js",
            "vendor/uplot/uPlot.esm.js",
            "vendor/uplot/LICENSE",
        ] {
            assert!(embedded(p).is_some(), "{p} is not embedded");
        }
        let html = String::from_utf8_lossy(embedded("index.html").map_or(&[], |a| a.bytes));
        assert!(html.contains("TITLE_PLACEHOLDER") && html.contains("READY_PLACEHOLDER"));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a/b.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "text/plain; charset=utf-8");
    }
}
