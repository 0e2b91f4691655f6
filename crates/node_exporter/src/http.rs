//! The node exporter's HTTP side: the telemetry path (text 0.0.4, or OpenMetrics when
//! the `Accept` header asks for it), upstream's `collect[]`/`exclude[]` parameters,
//! a landing page at `/`, and listen-address parsing (`:9100` forms).

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use hearth_exposition::encode::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use hearth_exposition::{MetricFamily, encode_openmetrics, encode_text};

use crate::exporter::NodeExporter;
use crate::process::ProcessSnapshot;
use crate::sink::MetricSink;

/// What `node_exporter_build_info` reports: hearth's version, not a Go toolchain's.
#[derive(Debug, Clone, Default)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
    pub branch: String,
    pub rust_version: String,
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.disable-exporter-metrics`: leave out `process_*` and build info.
    pub disable_exporter_metrics: bool,
    pub build: BuildInfo,
}

impl Default for HttpOptions {
    fn default() -> HttpOptions {
        HttpOptions {
            telemetry_path: "/metrics".into(),
            disable_exporter_metrics: false,
            build: BuildInfo::default(),
        }
    }
}

/// Parses `--web.listen-address`: `:9100` means every interface, as in Go; host names
/// resolve to their first address.
pub fn parse_listen_address(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    if let Ok(a) = full.parse() {
        return Ok(a);
    }
    full.to_socket_addrs()
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {s:?} resolves to nothing"))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `collect[]` and `exclude[]` values of a query string.
fn collector_params(query: Option<&str>) -> (Vec<String>, Vec<String>) {
    let (mut collect, mut exclude) = (Vec::new(), Vec::new());
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(k).as_str() {
            "collect[]" => collect.push(percent_decode(v)),
            "exclude[]" => exclude.push(percent_decode(v)),
            _ => {}
        }
    }
    (collect, exclude)
}

fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// The exporter's own metrics, added to every scrape.
fn exporter_families(build: &BuildInfo) -> Vec<MetricFamily> {
    let mut sink = MetricSink::new();
    ProcessSnapshot::read().write(&mut sink);
    sink.gauge(
        "node_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, rustversion from which node_exporter was built, and the goos and goarch for the build.",
        &[
            ("version", &build.version),
            ("revision", &build.revision),
            ("branch", &build.branch),
            ("rustversion", &build.rust_version),
            ("goos", std::env::consts::OS),
            ("goarch", goarch()),
        ],
        1.0,
    );
    sink.finish()
}

/// Go's name for the architecture, which dashboards filter on.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// One scrape rendered for `headers`, or a 400 naming an unknown collector.
pub fn render(
    exporter: &NodeExporter,
    opts: &HttpOptions,
    query: Option<&str>,
    openmetrics: bool,
) -> Result<String, String> {
    let (collect, exclude) = collector_params(query);
    let names = exporter.collector_names();
    if let Some(missing) = collect
        .iter()
        .chain(&exclude)
        .find(|c| !names.contains(&c.as_str()))
    {
        return Err(format!(
            "Couldn't create filtered metrics handler: missing collector: {missing}"
        ));
    }
    let select = |name: &str| {
        (collect.is_empty() || collect.iter().any(|c| c == name))
            && !exclude.iter().any(|c| c == name)
    };
    let mut families = exporter.scrape(&select);
    if !opts.disable_exporter_metrics {
        families.extend(exporter_families(&opts.build));
        families.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut out = String::with_capacity(64 * 1024);
    if openmetrics {
        encode_openmetrics(&families, &mut out);
    } else {
        encode_text(&families, &mut out);
    }
    Ok(out)
}

fn landing_page(telemetry_path: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>Node Exporter</title></head>\n<body>\n\
         <h1>Node Exporter</h1>\n<p>hearth's node exporter: host metrics with node_exporter's names.</p>\n\
         <ul><li><a href=\"{telemetry_path}\">Metrics</a></li></ul>\n</body>\n</html>\n"
    )
}

pub fn router(exporter: Arc<NodeExporter>, opts: HttpOptions) -> Router {
    let opts = Arc::new(opts);
    let page = landing_page(&opts.telemetry_path);
    let path = opts.telemetry_path.clone();
    let metrics = move |headers: HeaderMap, RawQuery(query): RawQuery| {
        let exporter = exporter.clone();
        let opts = opts.clone();
        async move {
            let openmetrics = wants_openmetrics(&headers);
            // Collectors do blocking file I/O: keep them off the async workers.
            let rendered = tokio::task::spawn_blocking(move || {
                render(&exporter, &opts, query.as_deref(), openmetrics)
            })
            .await;
            let content_type = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                TEXT_CONTENT_TYPE
            };
            match rendered {
                Ok(Ok(body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
                Ok(Err(msg)) => (StatusCode::BAD_REQUEST, msg).into_response(),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("scrape failed: {e}"),
                )
                    .into_response(),
            }
        }
    };
    let mut r = Router::new().route(&path, get(metrics));
    if path != "/" {
        r = r.route("/", get(move || async move { Html(page) }));
    }
    r
}

/// Serves `router` on every listener until `shutdown` resolves.
pub async fn serve(
    listeners: Vec<tokio::net::TcpListener>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = Vec::new();
    for l in listeners {
        let mut rx = tx.subscribe();
        let app = router.clone();
        tasks.push(tokio::spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.recv().await;
                })
                .await
        }));
    }
    shutdown.await;
    let _ = tx.send(());
    for t in tasks {
        match t.await {
            Ok(r) => r?,
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen_address(":9100").unwrap(),
            "0.0.0.0:9100".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("0.0.0.0:9100").unwrap(),
            "0.0.0.0:9100".parse().unwrap()
        );
        assert_eq!(
            parse_listen_address("[::1]:9100").unwrap(),
            "[::1]:9100".parse().unwrap()
        );
        assert_eq!(parse_listen_address("localhost:9100").unwrap().port(), 9100);
        assert!(parse_listen_address("nonsense").is_err());
    }

    #[test]
    fn query_parameters() {
        let (c, e) = collector_params(Some("collect[]=cpu&collect%5B%5D=meminfo&exclude[]=os&x=1"));
        assert_eq!(c, ["cpu", "meminfo"]);
        assert_eq!(e, ["os"]);
        assert_eq!(percent_decode("a%2Fb+c%zz"), "a/b c%zz");
    }

    #[test]
    fn accept_header() {
        let mut h = HeaderMap::new();
        assert!(!wants_openmetrics(&h));
        h.insert(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"
                .parse()
                .unwrap(),
        );
        assert!(wants_openmetrics(&h));
    }
}
