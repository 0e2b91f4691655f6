//! The server's own HTTP metrics under upstream's names, so Prometheus dashboards work:
//! `prometheus_http_requests_total{code,handler}` and
//! `prometheus_http_request_duration_seconds{handler}` (upstream's buckets). The
//! `handler` label is the route as upstream writes it (`/api/v1/label/:name/values`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type LabelPairs = Vec<(&'static str, String)>;

fn duration_histogram() -> Histogram {
    Histogram::new([0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0])
}

/// The metrics; cheap to clone (families share their state).
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<LabelPairs, Counter>,
    duration: Family<LabelPairs, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> HttpMetrics {
        let m = HttpMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        };
        registry.register(
            "prometheus_http_requests",
            "Counter of HTTP requests",
            m.requests.clone(),
        );
        registry.register(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests",
            m.duration.clone(),
        );
        m
    }

    /// The middleware: counts and times every routed request.
    pub async fn track(self, req: Request, next: Next) -> Response {
        let handler = req
            .extensions()
            .get::<MatchedPath>()
            .map(|p| upstream_route(p.as_str()))
            .unwrap_or_else(|| "other".to_string());
        let start = Instant::now();
        let resp = next.run(req).await;
        let code = resp.status().as_u16().to_string();
        self.requests
            .get_or_create(&vec![("code", code), ("handler", handler.clone())])
            .inc();
        self.duration
            .get_or_create(&vec![("handler", handler)])
            .observe(start.elapsed().as_secs_f64());
        resp
    }
}

/// axum's `{name}` path parameters as httprouter's `:name`.
fn upstream_route(path: &str) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{}", name.trim_start_matches('*')),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_as_upstream_names_them() {
        assert_eq!(
            upstream_route("/api/v1/label/{name}/values"),
            "/api/v1/label/:name/values"
        );
        assert_eq!(upstream_route("/federate"), "/federate");
    }
}
